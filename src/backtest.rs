//! `certsentry replay`: a back-test. certstream JSONL through the same
//! normalise → match → incident path as the service (in-memory store, no
//! delivery); new incidents are written as JSONL.

use crate::config::Settings;
use crate::matcher::Matcher;
use crate::metrics::Metrics;
use crate::pipeline::{Cert, Pipeline};
use crate::source::{Frame, scan_frame};
use crate::store::{Store, StoreError};
use serde::Serialize;
use std::io::{BufRead, Write};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

#[derive(Debug, thiserror::Error)]
pub enum BacktestError {
    #[error("cannot read the replay input: {0}")]
    Read(std::io::Error),
    #[error("cannot write incidents: {0}")]
    Write(std::io::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What a replay saw, printed at the end.
#[derive(Debug, Default, Clone, Serialize)]
pub struct BacktestSummary {
    pub lines: u64,
    pub certificates: u64,
    pub dns_entries: u64,
    pub heartbeats: u64,
    pub other_messages: u64,
    pub bad_lines: u64,
    pub duplicate_certs: u64,
    pub names_checked: u64,
    pub names_invalid: u64,
    pub incidents: u64,
    pub repeat_sightings: u64,
    pub seconds: f64,
    pub messages_per_second: f64,
}

/// Replay `input` (one certstream message per line) and write new incidents to `out`.
/// `progress` is called with the bytes read so far.
pub fn run(
    input: impl BufRead,
    out: &mut impl Write,
    matcher: &Matcher,
    settings: &Settings,
    mut progress: impl FnMut(u64),
) -> Result<BacktestSummary, BacktestError> {
    let metrics = Arc::new(Metrics::default());
    let store = Store::open(std::path::Path::new(":memory:"))?;
    let mut pipeline = Pipeline::new(
        store,
        Vec::new(),
        crate::store::DedupPolicy::from_settings(&settings.incidents),
        settings.source.cert_dedup_window,
        metrics.clone(),
    );
    let mut s = BacktestSummary::default();
    let started = Instant::now();
    let mut bytes_read = 0u64;
    let source: Arc<str> = Arc::from("replay");
    for line in input.split(b'\n') {
        let line = line.map_err(BacktestError::Read)?;
        bytes_read += line.len() as u64 + 1;
        if line.trim_ascii().is_empty() {
            continue;
        }
        s.lines += 1;
        if s.lines % 1024 == 0 {
            progress(bytes_read);
        }
        let frame = match scan_frame(line.into(), &source) {
            Ok(frame) => frame,
            Err(e) => {
                s.bad_lines += 1;
                tracing::debug!(line = s.lines, error = %e, "bad replay line");
                continue;
            }
        };
        let cert = match &frame {
            Frame::Certificate(f) => {
                s.certificates += 1;
                Cert::Frame(f)
            }
            Frame::Domains(e) => {
                s.dns_entries += 1;
                Cert::Event(e)
            }
            Frame::Heartbeat => {
                s.heartbeats += 1;
                continue;
            }
            Frame::Other(_) => {
                s.other_messages += 1;
                continue;
            }
        };
        // the dedup window runs on the certificate's own time when it has one
        let seen = cert.seen();
        let now = if seen > 0.0 {
            UNIX_EPOCH + Duration::from_secs_f64(seen)
        } else {
            SystemTime::now()
        };
        for incident in pipeline.process(matcher, cert, now)? {
            serde_json::to_writer(&mut *out, &incident)
                .map_err(|e| BacktestError::Write(e.into()))?;
            out.write_all(b"\n").map_err(BacktestError::Write)?;
        }
    }
    out.flush().map_err(BacktestError::Write)?;
    progress(bytes_read);
    let get = |c: &std::sync::atomic::AtomicU64| c.load(Ordering::Relaxed);
    s.duplicate_certs = get(&metrics.duplicate_certs);
    s.names_checked = get(&metrics.names_checked);
    s.names_invalid = get(&metrics.names_invalid);
    s.incidents = get(&metrics.incidents_new);
    s.repeat_sightings = get(&metrics.incidents_repeated);
    s.seconds = started.elapsed().as_secs_f64();
    s.messages_per_second = if s.seconds > 0.0 {
        s.lines as f64 / s.seconds
    } else {
        0.0
    };
    Ok(s)
}
