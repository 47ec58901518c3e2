//! Where incidents are recorded, as the pipeline sees it: a [`Recorder`]
//! (the SQLite store, or the bus) keeps each new incident with one outbox
//! row per sink, folds repeat sightings into the incident within the dedup
//! window, and moves CT positions once a batch is recorded. `[incidents]`
//! ([`IncidentSettings`]) sets the window.

use crate::config::ConfigError;
use crate::model::{Incident, IncidentId};
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime};

/// A recorder that could not record.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct RecordError(pub String);

/// What recording a verdict did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// A new incident, queued for every sink.
    New,
    /// Seen within the dedup window: the existing incident was updated.
    Repeated { id: IncidentId, sightings: u64 },
    /// A new certificate for a known lookalike with `send_updates` on: the
    /// incident passed in was stored as an update of `of` and queued.
    Update { of: IncidentId, sightings: u64 },
}

/// How a repeat sighting is treated.
#[derive(Debug, Clone, Copy)]
pub struct DedupPolicy {
    pub window: Duration,
    /// Queue an update when the repeat carries a certificate not seen before.
    pub send_updates: bool,
}

impl DedupPolicy {
    pub fn from_settings(s: &IncidentSettings) -> DedupPolicy {
        DedupPolicy {
            window: s.dedup_window,
            send_updates: s.send_updates,
        }
    }
}

/// Records what the pipeline decides. Calls are synchronous and short (a
/// local transaction): the pipeline runs them in line.
pub trait Recorder: Send + Sync {
    /// Record an incident, or a new sighting of one within the policy's
    /// window. A new incident (or an update) gets one outbox row per sink
    /// in the same transaction.
    fn record(
        &self,
        incident: &Incident,
        sinks: &[String],
        policy: DedupPolicy,
        now: SystemTime,
    ) -> Result<Recorded, RecordError>;

    /// Move a CT log's position (never backwards): every entry before
    /// `next_index` is recorded.
    fn commit_position(
        &self,
        log: &str,
        next_index: u64,
        tree_size: u64,
        now: SystemTime,
    ) -> Result<(), RecordError>;
}

/// `[incidents]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IncidentSettings {
    /// Later sightings of the same (brand, registrable domain) within this
    /// window update the incident and are not sent again.
    #[serde(with = "crate::config::duration")]
    pub dedup_window: Duration,
    /// Send an update (a new incident carrying `update_of`) when a known
    /// lookalike gets a new certificate within the window, instead of
    /// staying silent.
    pub send_updates: bool,
}

impl Default for IncidentSettings {
    fn default() -> Self {
        IncidentSettings {
            dedup_window: Duration::from_secs(24 * 3600),
            send_updates: false,
        }
    }
}

impl IncidentSettings {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}
