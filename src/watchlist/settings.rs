//! `[watchlist]`: where the list comes from, how often it is read again,
//! and how large it may be.

use crate::config::{ConfigError, Secret, invalid, require_http_url, require_positive};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct XsoarListSettings {
    /// XSOAR server URL; for XSOAR 8 the API URL (`https://api-<fqdn>`).
    pub base_url: String,
    pub api_key: Secret,
    /// XSOAR 8 only: the API key's id (`x-xdr-auth-id`).
    pub api_key_id: String,
    pub list_name: String,
    /// 6 or 8: selects the API path prefix.
    pub version: u8,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct WatchlistSettings {
    /// JSON list file; empty (and no url/xsoar) means the bundled example list.
    pub path: PathBuf,
    /// HTTP(S) URL of the list.
    pub url: String,
    /// Header sent with `url`, e.g. `Authorization`.
    pub auth_header: String,
    pub auth_value: Secret,
    pub xsoar: XsoarListSettings,
    #[serde(with = "crate::config::duration")]
    pub reload_interval: Duration,
    /// Largest list accepted, in bytes.
    pub max_bytes: usize,
}

impl Default for WatchlistSettings {
    fn default() -> Self {
        WatchlistSettings {
            path: PathBuf::new(),
            url: String::new(),
            auth_header: String::new(),
            auth_value: Secret::default(),
            xsoar: XsoarListSettings {
                list_name: "DomainsList".into(),
                version: 6,
                ..XsoarListSettings::default()
            },
            reload_interval: Duration::from_secs(30 * 60),
            // the generator's list for 1,000 real brands is ~250 MB
            max_bytes: 512 * 1024 * 1024,
        }
    }
}

impl WatchlistSettings {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        require_positive(&[("watchlist.reload_interval", self.reload_interval)])?;
        require_http_url("watchlist.url", &self.url, true)?;
        if !self.xsoar.base_url.is_empty() {
            if self.xsoar.list_name.is_empty() {
                return Err(invalid("watchlist.xsoar.list_name", "must not be empty"));
            }
            if ![6, 8].contains(&self.xsoar.version) {
                return Err(invalid("watchlist.xsoar.version", "must be 6 or 8"));
            }
        }
        let chosen = [
            !self.path.as_os_str().is_empty(),
            !self.url.is_empty(),
            !self.xsoar.base_url.is_empty(),
        ];
        if chosen.iter().filter(|b| **b).count() > 1 {
            return Err(invalid(
                "watchlist",
                "set only one of path, url and xsoar.base_url",
            ));
        }
        Ok(())
    }
}
