//! `[source]`: which source, and how the certstream client and the replay
//! behave. The CT source has its own section (`[ct]`, [`super::ct::CtSettings`]).

use super::SourceKind;
use crate::config::{ConfigError, invalid, require_positive};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourceSettings {
    pub kind: SourceKind,
    /// certstream websocket URL (`/full-stream`, `/` or `/domains-only`).
    pub url: String,
    /// JSONL file for `kind = "replay"`.
    pub path: PathBuf,
    #[serde(with = "crate::config::duration")]
    pub ping_interval: Duration,
    /// No frame for this long means the connection is dead.
    #[serde(with = "crate::config::duration")]
    pub idle_timeout: Duration,
    #[serde(with = "crate::config::duration")]
    pub reconnect_initial: Duration,
    #[serde(with = "crate::config::duration")]
    pub reconnect_max: Duration,
    /// A connection healthy for this long resets the backoff.
    #[serde(with = "crate::config::duration")]
    pub healthy_after: Duration,
    /// Replay pace in messages per second; 0 means as fast as possible.
    pub replay_rate: u32,
    /// Capacity of the channel from the source to the matcher.
    pub channel_capacity: usize,
    /// Window for dropping the same certificate (by sha256) seen again.
    #[serde(with = "crate::config::duration")]
    pub cert_dedup_window: Duration,
}

impl Default for SourceSettings {
    fn default() -> Self {
        SourceSettings {
            kind: SourceKind::Certstream,
            url: "wss://certstream.calidog.io/full-stream".into(),
            path: PathBuf::new(),
            ping_interval: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(60),
            reconnect_initial: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(60),
            healthy_after: Duration::from_secs(60),
            replay_rate: 0,
            channel_capacity: 1024,
            cert_dedup_window: Duration::from_secs(600),
        }
    }
}

impl SourceSettings {
    /// What every kind needs; each kind checks its own keys (`validate` in its file).
    pub(super) fn validate(&self) -> Result<(), ConfigError> {
        require_positive(&[
            ("source.ping_interval", self.ping_interval),
            ("source.idle_timeout", self.idle_timeout),
            ("source.reconnect_initial", self.reconnect_initial),
            ("source.reconnect_max", self.reconnect_max),
        ])?;
        if self.channel_capacity == 0 {
            return Err(invalid("source.channel_capacity", "must be at least 1"));
        }
        Ok(())
    }
}
