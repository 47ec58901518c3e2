//! certstream: the websocket client (`client`) and the wire format
//! (`frame`: the one-pass reader in `scan`, the full serde model in
//! `message`), which the replay source reads too.

mod client;
mod frame;
mod message;
mod scan;

pub use frame::{Frame, FrameCert, FrameError, parse_frame, scan_frame};

use super::{SourceContext, SourceItem, SourceSettings, ct::CtSettings};
use crate::config::{ConfigError, invalid};
use crate::metrics::Metrics;
use bytes::Bytes;
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

pub(super) fn validate(s: &SourceSettings, _: &CtSettings) -> Result<(), ConfigError> {
    if s.url.starts_with("ws://") || s.url.starts_with("wss://") {
        Ok(())
    } else {
        Err(invalid("source.url", "must be a ws:// or wss:// URL"))
    }
}

pub(super) fn target(s: &SourceSettings) -> String {
    crate::http::strip_userinfo(&s.url)
}

pub(super) async fn run(ctx: SourceContext, shutdown: CancellationToken) {
    let source = client::CertstreamSource {
        settings: ctx.settings,
        metrics: ctx.metrics,
        tx: ctx.tx,
        state: ctx.state,
    };
    source.run(shutdown).await
}

/// The pipeline went away: the source should stop.
#[derive(Debug)]
pub(super) struct PipelineClosed;

/// Count and forward one raw message. Malformed messages are counted and
/// skipped, never fatal.
pub(super) async fn forward(
    bytes: Bytes,
    source_name: &Arc<str>,
    tx: &mpsc::Sender<SourceItem>,
    metrics: &Metrics,
) -> Result<(), PipelineClosed> {
    metrics.add(&metrics.frames, 1);
    // kept for the log line should the message be malformed (a clone of
    // `bytes` would cost an allocation per message)
    let mut head = [0u8; 120];
    let head_len = bytes.len().min(head.len());
    head[..head_len].copy_from_slice(&bytes[..head_len]);
    match scan_frame(bytes, source_name) {
        Ok(Frame::Certificate(cert)) => tx
            .send(SourceItem::Frame(cert))
            .await
            .map_err(|_| PipelineClosed),
        Ok(Frame::Domains(event)) => {
            metrics.add(&metrics.dns_entries, 1);
            tx.send(SourceItem::Event(event))
                .await
                .map_err(|_| PipelineClosed)
        }
        Ok(Frame::Heartbeat) => {
            metrics.add(&metrics.heartbeats, 1);
            Ok(())
        }
        Ok(Frame::Other(kind)) => {
            tracing::debug!(%kind, "skipping message type");
            Ok(())
        }
        Err(e) => {
            metrics.add(&metrics.bad_frames, 1);
            let preview: String = String::from_utf8_lossy(&head[..head_len]).into_owned();
            tracing::debug!(error = %e, %preview, "malformed message skipped");
            Ok(())
        }
    }
}
