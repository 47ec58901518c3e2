//! Sources: where certificates come from. One file per source; each turns its
//! input into [`CertEvent`]s on a bounded channel (back-pressure, never an
//! unbounded queue) and counts what it skipped.
//!
//! - [`certstream`]: websocket client for `/full-stream`, `/` and `/domains-only`.
//! - [`replay`]: certstream JSONL, for offline runs and back-tests.
//! - [`crate::ct`]: CT logs read directly (RFC 6962 and static-ct-api).
//!
//! Items travel as [`SourceItem`]s: single events, or for CT logs batches that
//! move the log's stored position once every event in them is recorded.

pub mod certstream;
pub mod frame;
pub mod replay;

pub use frame::{Frame, FrameCert, FrameError, parse_frame, scan_frame};

use crate::cert::CertEvent;
use crate::metrics::Metrics;
use bytes::Bytes;
use serde::Serialize;
use std::sync::{Arc, Mutex};
use tokio::sync::mpsc;

/// What a source hands the pipeline, in order.
#[derive(Debug, Clone)]
pub enum SourceItem {
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
}

impl From<CertEvent> for SourceItem {
    fn from(e: CertEvent) -> Self {
        SourceItem::Event(Box::new(e))
    }
}

/// What `/v1/status` shows about the source.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SourceStatus {
    pub kind: String,
    /// Where it reads from (credentials stripped).
    pub target: String,
    /// `starting`, `connected`, `reconnecting`, `finished` or `stopped`.
    pub state: String,
    pub last_error: Option<String>,
    /// Unix seconds of the last frame received.
    pub last_frame_at: Option<u64>,
}

/// Shared, cheaply cloned source status.
#[derive(Clone, Default)]
pub struct SourceState(Arc<Mutex<SourceStatus>>);

impl SourceState {
    pub fn new(kind: &str, target: &str) -> SourceState {
        SourceState(Arc::new(Mutex::new(SourceStatus {
            kind: kind.into(),
            target: target.into(),
            state: "starting".into(),
            ..SourceStatus::default()
        })))
    }

    pub fn get(&self) -> SourceStatus {
        self.lock().clone()
    }

    pub fn set_state(&self, state: &str, error: Option<String>) {
        let mut s = self.lock();
        s.state = state.into();
        if error.is_some() {
            s.last_error = error;
        }
    }

    pub(crate) fn touch(&self) {
        self.lock().last_frame_at = Some(crate::watchlist::unix_now());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SourceStatus> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The pipeline went away: the source should stop.
#[derive(Debug)]
pub struct PipelineClosed;

/// Count and forward one raw message. Malformed messages are counted and
/// skipped, never fatal.
pub(crate) async fn forward(
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
