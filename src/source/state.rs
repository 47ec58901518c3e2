//! What `/v1/status` shows about the source, shared between the source's
//! task (which writes it) and the API (which reads it).

use crate::model::unix_now;
use serde::Serialize;
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Default, Serialize)]
pub struct SourceStatus {
    pub kind: String,
    /// Where it reads from (credentials stripped).
    pub target: String,
    /// `starting`, `connected`, `reconnecting`, `finished` or `stopped`
    /// (the CT source: `following N logs`).
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
        self.lock().last_frame_at = Some(unix_now());
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, SourceStatus> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }
}
