//! Reading Certificate Transparency logs directly: which logs to follow
//! ([`loglist`], kept current by `LogSet`), one follower per log (the loop
//! in `follower`, requests in `client`, one file per read API: `rfc6962`
//! and `static_ct`; tree heads and entries checked in `verify` with [`sth`]
//! and [`merkle`]), and entry parsing ([`leaf`], [`x509`], `event`) into
//! the same [`crate::model::CertEvent`] the certstream source produces.
//!
//! Positions and checked roots are kept by whoever implements
//! [`Checkpoints`] (the SQLite store, or the bus's KV): this module does
//! not know where.

mod client;
mod event;
mod follower;
pub mod leaf;
pub(crate) mod loglist;
pub mod merkle;
mod rfc6962;
mod settings;
mod static_ct;
pub mod sth;
mod verify;
pub mod x509;

pub use event::{IssuerCache, LogMeta, event, event_from_get_entries};
pub use settings::{CtSettings, CtStart};

use super::{SourceContext, SourceItem, SourceSettings, SourceState};
use crate::config::ConfigError;
use crate::metrics::Metrics;
use futures_util::future::BoxFuture;
use std::collections::HashMap;
use std::sync::Arc;
use std::time::SystemTime;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

/// A checkpoint store that could not answer.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub(crate) struct CheckpointError(pub String);

/// A log's stored position: (next index to read, tree size then).
pub(crate) type Position = (u64, u64);

/// A checked root: (tree size, root hash).
pub(crate) type CheckedRoot = (u64, [u8; 32]);

/// Where CT positions and checked roots live. The pipeline moves a log's
/// position once a batch is recorded (see `SourceItem::Batch`); the follower
/// reads it at start and keeps the last root its entries made.
pub(crate) trait Checkpoints: Send + Sync {
    /// A log's stored position.
    fn position<'a>(
        &'a self,
        log: &'a str,
    ) -> BoxFuture<'a, Result<Option<Position>, CheckpointError>>;

    /// The last root the entries read made.
    fn root<'a>(
        &'a self,
        log: &'a str,
    ) -> BoxFuture<'a, Result<Option<CheckedRoot>, CheckpointError>>;

    /// Keep a checked root.
    fn set_root<'a>(
        &'a self,
        log: &'a str,
        tree_size: u64,
        root: [u8; 32],
    ) -> BoxFuture<'a, Result<(), CheckpointError>>;

    /// Move `log`'s position to `next_index` once what lies below it has been
    /// handed on (to the bus: the ct-reader's side). A position never moves
    /// backwards. An implementation that finds the log taken over by another
    /// reader leaves the position alone and ends that reader's [`Lease`].
    #[cfg_attr(not(feature = "nats"), allow(dead_code))]
    fn commit<'a>(
        &'a self,
        log: &'a str,
        next_index: u64,
        tree_size: u64,
    ) -> BoxFuture<'a, Result<(), CheckpointError>>;

    /// Wait until this process may read `log`; `None` at shutdown. In one
    /// process every log is its own at once; over the bus one reader holds
    /// each log (a lease), and its [`Lease::term`] is cancelled when the
    /// lease is lost, which stops the follower.
    fn lease<'a>(
        &'a self,
        _log: &'a str,
        shutdown: &'a CancellationToken,
    ) -> BoxFuture<'a, Option<Lease>> {
        Box::pin(async move {
            (!shutdown.is_cancelled()).then(|| Lease::new(shutdown.child_token(), None))
        })
    }
}

/// The right to read one log, for as long as [`Lease::term`] is not
/// cancelled. Dropping it gives the log up (the holder's renewals stop).
pub(crate) struct Lease {
    /// Cancelled at shutdown, or when another reader took the log.
    pub(crate) term: CancellationToken,
    _release: Option<tokio_util::sync::DropGuard>,
}

impl Lease {
    /// A lease ending with `term`; `release` is cancelled when it is dropped.
    pub(crate) fn new(term: CancellationToken, release: Option<CancellationToken>) -> Lease {
        Lease {
            term,
            _release: release.map(CancellationToken::drop_guard),
        }
    }
}

pub(super) fn validate(_: &SourceSettings, _: &CtSettings) -> Result<(), ConfigError> {
    Ok(())
}

pub(super) fn target(_: &SourceSettings) -> String {
    "CT logs".to_owned()
}

pub(super) async fn run(ctx: SourceContext, shutdown: CancellationToken) {
    let agent = crate::http::user_agent_with_contact(&ctx.ct.contact);
    let ct_client = match crate::http::builder(&agent, ctx.ct.request_timeout).build() {
        Ok(c) => c,
        Err(e) => {
            tracing::error!(error = %e, "cannot build the CT HTTP client");
            ctx.state.set_state("stopped", Some(e.to_string()));
            return;
        }
    };
    let logs = LogSet {
        settings: ctx.ct,
        list_client: ctx.client,
        ct_client,
        checkpoints: ctx.checkpoints,
        tx: ctx.tx,
        metrics: ctx.metrics,
        state: ctx.state,
    };
    logs.run(shutdown).await
}

/// The logs to follow: the configured list (file, else the bundled
/// snapshot), replaced by `log_list_url`'s when reachable, then selected
/// for now.
///
/// At start (`first`) a list that cannot be read or fetched falls back (the
/// file, then the snapshot), so the service always follows something. On a
/// refresh it gives `None` instead: the logs already followed stay as they
/// are, and an outage of the list's URL does not switch to the snapshot.
async fn load_logs(
    settings: &CtSettings,
    client: &reqwest::Client,
    first: bool,
) -> Option<Vec<loglist::LogInfo>> {
    // what a failure leads to: at start the snapshot, on a refresh nothing
    let fall_back = |why: String| {
        if first {
            tracing::error!(%why, "CT log list: using the bundled one");
            loglist::parse(loglist::BUNDLED).ok()
        } else {
            tracing::error!(%why, "CT log list: keeping the logs followed");
            None
        }
    };
    let fetched = if settings.log_list_url.is_empty() {
        None
    } else {
        let fetched = async {
            client
                .get(&settings.log_list_url)
                .send()
                .await?
                .error_for_status()?
                .text()
                .await
        }
        .await;
        Some(match fetched {
            Ok(t) => loglist::parse(&t).map_err(|e| format!("the fetched list: {e}")),
            Err(e) => Err(format!("cannot fetch it: {}", crate::http::without_url(&e))),
        })
    };
    let logs = match fetched {
        Some(Ok(logs)) => logs,
        Some(Err(why)) if !first => fall_back(why)?,
        // no URL, or at start a URL that failed: the local list
        other => {
            if let Some(Err(why)) = other {
                tracing::warn!(%why, "CT log list: keeping the local one");
            }
            let local = if settings.log_list_path.as_os_str().is_empty() {
                Ok(loglist::BUNDLED.to_owned())
            } else {
                std::fs::read_to_string(&settings.log_list_path)
                    .map_err(|e| format!("cannot read {}: {e}", settings.log_list_path.display()))
            };
            match local.and_then(|t| loglist::parse(&t).map_err(|e| e.to_string())) {
                Ok(logs) => logs,
                Err(why) => fall_back(why)?,
            }
        }
    };
    let chosen = loglist::select(
        &logs,
        SystemTime::now(),
        settings.max_validity(),
        &settings.include,
        &settings.exclude,
    );
    if chosen.is_empty() {
        tracing::warn!("no CT log selected: check ct.include / ct.exclude");
    }
    Some(chosen)
}

/// Every log worth following, each with its follower. The list is read at
/// start and again every `ct.log_list_refresh`: a new shard, or a list
/// update, gets a follower then. A log that leaves the selection (its
/// interval closed, or it left the list) is retired: its follower reads up
/// to the log's current tree size, so nothing it holds is lost, then stops.
/// A log selected again before that is simply kept; one selected again
/// later gets a new follower, which resumes at the stored position.
struct LogSet {
    settings: CtSettings,
    /// For the log list (the service's general client).
    list_client: reqwest::Client,
    /// For the logs (User-Agent with `ct.contact`, `ct.request_timeout`).
    ct_client: reqwest::Client,
    checkpoints: Arc<dyn Checkpoints>,
    tx: mpsc::Sender<SourceItem>,
    metrics: Arc<Metrics>,
    state: SourceState,
}

/// The running followers by log URL, each with its retire switch (a
/// follower drops its receiver when it ends).
type Followed = HashMap<String, tokio::sync::watch::Sender<bool>>;

impl LogSet {
    async fn run(self, shutdown: CancellationToken) {
        let mut followed = Followed::new();
        let mut followers = tokio::task::JoinSet::new();
        let mut first = true;
        'refresh: loop {
            if let Some(logs) = load_logs(&self.settings, &self.list_client, first).await {
                self.apply(&logs, &mut followed, &mut followers, &shutdown);
            }
            first = false;
            self.report(&followed);
            if self.settings.log_list_refresh.is_zero() {
                break;
            }
            let next = tokio::time::sleep(self.settings.log_list_refresh);
            tokio::pin!(next);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break 'refresh,
                    _ = &mut next => break,
                    Some(ended) = followers.join_next() => {
                        // a retired log read to its end (or the pipeline went away)
                        if let Ok(url) = ended
                            && followed.get(&url).is_some_and(|retire| retire.is_closed())
                        {
                            followed.remove(&url);
                        }
                        self.report(&followed);
                    }
                }
            }
        }
        // followers end at shutdown (or when the pipeline goes away)
        while followers.join_next().await.is_some() {}
    }

    /// Make the followers match the selection `logs`: retire the logs that
    /// left it, keep (or un-retire) the others, start the new ones.
    fn apply(
        &self,
        logs: &[loglist::LogInfo],
        followed: &mut Followed,
        followers: &mut tokio::task::JoinSet<String>,
        shutdown: &CancellationToken,
    ) {
        for (url, retire) in followed.iter() {
            let leaving = !logs.iter().any(|l| &l.url == url);
            let changed = retire.send_if_modified(|r| std::mem::replace(r, leaving) != leaving);
            if changed && leaving {
                tracing::info!(%url, "CT log left the selection: reading it to its current tree size");
            } else if changed {
                tracing::info!(%url, "CT log selected again: followed as before");
            }
        }
        for log in logs {
            // a follower that already ended (retired) is started again
            if followed
                .get(&log.url)
                .is_some_and(|retire| !retire.is_closed())
            {
                continue;
            }
            tracing::info!(log = %log.description, url = %log.url, "following CT log");
            let (retire, retired) = tokio::sync::watch::channel(false);
            followed.insert(log.url.clone(), retire);
            let (log, shutdown) = (log.clone(), shutdown.clone());
            let (client, settings) = (self.ct_client.clone(), self.settings.clone());
            let (checkpoints, tx, metrics) = (
                self.checkpoints.clone(),
                self.tx.clone(),
                self.metrics.clone(),
            );
            followers.spawn(async move {
                // one follower per lease term: a new term starts from the
                // position the last holder stored
                while let Some(lease) = checkpoints.lease(&log.url, &shutdown).await {
                    let follower = follower::Follower::new(
                        log.clone(),
                        client.clone(),
                        settings.clone(),
                        checkpoints.clone(),
                        tx.clone(),
                        metrics.clone(),
                    );
                    follower.run(lease.term.clone(), retired.clone()).await;
                    if shutdown.is_cancelled() || !lease.term.is_cancelled() {
                        break; // read to its end (retired), or the pipeline went away
                    }
                    tracing::warn!(log = %log.description, "another reader took this CT log; waiting to get it back");
                }
                log.url
            });
        }
    }

    /// The source state: how many logs are followed, and how many are
    /// being read to their end before they stop.
    fn report(&self, followed: &Followed) {
        let running = followed.values().filter(|r| !r.is_closed());
        let (leaving, staying): (Vec<_>, Vec<_>) = running.partition(|r| *r.borrow());
        let n = staying.len();
        let mut state = format!("following {n} log{}", if n == 1 { "" } else { "s" });
        if !leaving.is_empty() {
            state.push_str(&format!(
                ", {} left the selection and being read to their end",
                leaving.len()
            ));
        }
        self.state.set_state(&state, None);
    }
}
