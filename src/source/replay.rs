//! Replay source: certstream JSONL (one message per line) from a file, for
//! offline runs, the demo and back-tests. Lines go through the same frame
//! parser as the websocket; bad lines are counted and skipped.

use super::certstream::forward;
use super::{SourceContext, SourceItem, SourceSettings, SourceState, ct::CtSettings};
use crate::config::{ConfigError, invalid};
use crate::metrics::Metrics;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::AsyncBufReadExt;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub(super) fn validate(s: &SourceSettings, _: &CtSettings) -> Result<(), ConfigError> {
    if s.path.as_os_str().is_empty() {
        return Err(invalid(
            "source.path",
            "is required when source.kind = \"replay\"",
        ));
    }
    Ok(())
}

pub(super) fn target(s: &SourceSettings) -> String {
    s.path.display().to_string()
}

pub(super) async fn run(ctx: SourceContext, shutdown: CancellationToken) {
    let source = ReplaySource {
        path: ctx.settings.path,
        rate: ctx.settings.replay_rate,
        metrics: ctx.metrics,
        tx: ctx.tx,
        state: ctx.state,
    };
    source.run(shutdown).await
}

struct ReplaySource {
    path: PathBuf,
    /// Messages per second; 0 = as fast as the pipeline takes them.
    rate: u32,
    metrics: Arc<Metrics>,
    tx: mpsc::Sender<SourceItem>,
    state: SourceState,
}

impl ReplaySource {
    async fn run(self, shutdown: CancellationToken) {
        let file = match tokio::fs::File::open(&self.path).await {
            Ok(f) => f,
            Err(e) => {
                let reason = format!("cannot open {}: {e}", self.path.display());
                tracing::error!(%reason, "replay source failed");
                self.state.set_state("stopped", Some(reason));
                return;
            }
        };
        self.state.set_state("connected", None);
        let name: Arc<str> = format!("replay:{}", self.path.display()).into();
        let mut lines = tokio::io::BufReader::new(file).split(b'\n');
        let mut pace = (self.rate > 0).then(|| {
            let mut i = tokio::time::interval(Duration::from_secs_f64(1.0 / f64::from(self.rate)));
            i.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
            i
        });
        loop {
            if let Some(p) = pace.as_mut() {
                tokio::select! {
                    _ = shutdown.cancelled() => break,
                    _ = p.tick() => {}
                }
            }
            let line = tokio::select! {
                _ = shutdown.cancelled() => break,
                l = lines.next_segment() => l,
            };
            match line {
                Ok(Some(line)) if line.trim_ascii().is_empty() => continue,
                Ok(Some(line)) => {
                    self.state.touch();
                    if forward(line.into(), &name, &self.tx, &self.metrics)
                        .await
                        .is_err()
                    {
                        break;
                    }
                }
                Ok(None) => {
                    tracing::info!(path = %self.path.display(), "replay finished");
                    self.state.set_state("finished", None);
                    return;
                }
                Err(e) => {
                    tracing::error!(error = %e, "replay file unreadable");
                    self.state.set_state("stopped", Some(e.to_string()));
                    return;
                }
            }
        }
        self.state.set_state("stopped", None);
    }
}
