//! Sources: where certificates come from. Each turns its input into
//! [`SourceItem`]s on a bounded channel (back-pressure, never an unbounded
//! queue) and counts what it skipped.
//!
//! - [`certstream`]: websocket client for `/full-stream`, `/` and
//!   `/domains-only`, and the frame reader the replay shares;
//! - [`replay`]: certstream JSONL, for offline runs;
//! - [`ct`]: CT logs read directly (RFC 6962 and static-ct-api);
//! - `none`: nothing (the API and delivery only).
//!
//! The [`sources!`] table below is the registry: a new source is one file
//! with `validate`, `target` and `run`, plus one line there.

pub(crate) mod certstream;
pub(crate) mod ct;
mod none;
mod replay;
mod settings;
mod state;

pub use certstream::{Frame, FrameCert, FrameError, parse_frame, scan_frame};
pub use settings::SourceSettings;
pub use state::SourceState;

use crate::config::ConfigError;
use crate::metrics::Metrics;
use crate::model::CertEvent;
use futures_util::future::BoxFuture;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// What a source hands the pipeline, in order.
#[derive(Debug)]
pub(crate) enum SourceItem {
    Event(Box<CertEvent>),
    /// A certstream certificate update, checked but kept as its text.
    Frame(Box<FrameCert>),
    /// A CT log's entries up to `next_index`, as one unit: the pipeline
    /// records every event, then moves the log's stored position to
    /// `next_index`. A stop between batches never skips or repeats an entry.
    Batch {
        events: Vec<CertEvent>,
        log: String,
        next_index: u64,
        tree_size: u64,
    },
    /// An event taken from the bus: `recorded` is told once the pipeline
    /// has recorded it, with the incidents (and updates) it made, and only
    /// then is the message acknowledged.
    #[cfg_attr(not(feature = "nats"), allow(dead_code))]
    Acked {
        event: Box<CertEvent>,
        recorded: tokio::sync::oneshot::Sender<Vec<crate::model::Incident>>,
    },
}

impl From<CertEvent> for SourceItem {
    fn from(e: CertEvent) -> Self {
        SourceItem::Event(Box::new(e))
    }
}

/// Everything a running source may use.
pub(crate) struct SourceContext {
    pub settings: SourceSettings,
    pub ct: ct::CtSettings,
    /// The service's shared HTTP client (the CT log list is fetched with it).
    pub client: reqwest::Client,
    /// Where CT positions and checked roots are kept.
    pub checkpoints: Arc<dyn ct::Checkpoints>,
    pub tx: mpsc::Sender<SourceItem>,
    pub metrics: Arc<Metrics>,
    pub state: SourceState,
}

/// The registry: one line per source, `Variant => "config name", module;`.
macro_rules! sources {
    ($($variant:ident => $name:literal, $module:ident;)*) => {
        /// `source.kind`.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
        pub enum SourceKind {
            $(#[serde(rename = $name)] $variant,)*
        }

        impl SourceKind {
            pub fn as_str(self) -> &'static str {
                match self { $(SourceKind::$variant => $name,)* }
            }

            fn validate(self, s: &SourceSettings, ct: &ct::CtSettings) -> Result<(), ConfigError> {
                match self { $(SourceKind::$variant => $module::validate(s, ct),)* }
            }

            /// Where it reads from, credentials stripped.
            fn target(self, s: &SourceSettings) -> String {
                match self { $(SourceKind::$variant => $module::target(s),)* }
            }

            fn run(self, ctx: SourceContext, shutdown: CancellationToken) -> BoxFuture<'static, ()> {
                match self { $(SourceKind::$variant => Box::pin($module::run(ctx, shutdown)),)* }
            }
        }
    };
}

sources! {
    Certstream => "certstream", certstream;
    Replay => "replay", replay;
    Ct => "ct", ct;
    None => "none", none;
}

/// The status a configured source starts with.
pub(crate) fn initial_state(settings: &SourceSettings) -> SourceState {
    SourceState::new(settings.kind.as_str(), &settings.kind.target(settings))
}

/// Check `source` (and `ct`, which the CT source reads).
pub(crate) fn validate(settings: &SourceSettings, ct: &ct::CtSettings) -> Result<(), ConfigError> {
    settings.validate()?;
    ct.validate()?;
    settings.kind.validate(settings, ct)
}

/// The configured source's task: runs until its input ends, the pipeline
/// goes away, or `shutdown`.
pub(crate) fn run(ctx: SourceContext, shutdown: CancellationToken) -> BoxFuture<'static, ()> {
    let kind = ctx.settings.kind;
    kind.run(ctx, shutdown)
}
