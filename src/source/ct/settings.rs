//! `[ct]`: which CT logs to follow and how politely.

use crate::config::{ConfigError, invalid, require_http_url, require_positive};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// Where a newly followed CT log starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum CtStart {
    /// At the tree size when first seen: only new certificates.
    End,
    /// At index 0: the whole log (catch-up; large).
    Beginning,
}

/// Reading CT logs directly (`source.kind = "ct"`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct CtSettings {
    /// Chrome log list v3 file; empty = the bundled snapshot.
    pub log_list_path: PathBuf,
    /// Refresh the log list from here when reachable (e.g.
    /// `https://www.gstatic.com/ct/log_list/v3/log_list.json`).
    pub log_list_url: String,
    /// How often the log list is read again and the logs re-selected (new
    /// shards start being followed); 0 = only at start.
    #[serde(with = "crate::config::duration")]
    pub log_list_refresh: Duration,
    /// Longest validity, in days, of a certificate being issued now. A log
    /// shard takes certificates by expiry date, so the shards followed are
    /// those whose interval meets [now, now + this].
    pub max_validity_days: u32,
    /// Follow only logs whose description, operator or URL is listed (case-insensitive).
    pub include: Vec<String>,
    /// Never follow these (same matching).
    pub exclude: Vec<String>,
    /// Where a log with no stored position starts.
    pub start: CtStart,
    /// RFC 6962 `get-entries` batch size asked for (servers may return fewer).
    pub batch_size: u64,
    /// How often a caught-up log is polled for a new tree size.
    #[serde(with = "crate::config::duration")]
    pub poll_interval: Duration,
    /// Least time between two requests to one log (politeness; 0 = back to back).
    #[serde(with = "crate::config::duration")]
    pub request_interval: Duration,
    #[serde(with = "crate::config::duration")]
    pub backoff_initial: Duration,
    #[serde(with = "crate::config::duration")]
    pub backoff_max: Duration,
    #[serde(with = "crate::config::duration")]
    pub request_timeout: Duration,
    /// Put in the User-Agent so log operators can reach you (URL or e-mail).
    pub contact: String,
}

impl CtSettings {
    pub fn max_validity(&self) -> Duration {
        Duration::from_secs(u64::from(self.max_validity_days) * 24 * 3600)
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        require_positive(&[
            ("ct.poll_interval", self.poll_interval),
            ("ct.backoff_initial", self.backoff_initial),
            ("ct.backoff_max", self.backoff_max),
            ("ct.request_timeout", self.request_timeout),
        ])?;
        if !(1..=10_000).contains(&self.batch_size) {
            return Err(invalid("ct.batch_size", "must be 1 to 10000"));
        }
        require_http_url("ct.log_list_url", &self.log_list_url, true)
    }
}

impl Default for CtSettings {
    fn default() -> Self {
        CtSettings {
            log_list_path: PathBuf::new(),
            log_list_url: String::new(),
            log_list_refresh: Duration::from_secs(24 * 3600),
            max_validity_days: 398,
            include: Vec::new(),
            exclude: Vec::new(),
            start: CtStart::End,
            batch_size: 256,
            poll_interval: Duration::from_secs(10),
            request_interval: Duration::ZERO,
            backoff_initial: Duration::from_secs(1),
            backoff_max: Duration::from_secs(300),
            request_timeout: Duration::from_secs(30),
            contact: String::new(),
        }
    }
}
