//! `Settings`: built-in defaults, then a TOML file (`--config`), then
//! `CERTSENTRY__SECTION__KEY` environment variables, composed of each
//! module's own section. Each section validates itself; [`Settings::validate`]
//! runs them all and keeps what they parsed in a [`Config`], which is what
//! the application is built from. Every default works offline.

use crate::api::ApiSettings;
use crate::config::ConfigError;
use crate::enrich::EnrichmentSettings;
use crate::matcher::{MatcherConfig, MatcherSettings};
use crate::pipeline::IncidentSettings;
use crate::relay::StreamServerSettings;
use crate::sink::{DeliverySettings, SinkConfig, SinkSettings};
use crate::source::SourceSettings;
use crate::source::ct::CtSettings;
use crate::store::StoreSettings;
use crate::watchlist::WatchlistSettings;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub service: ServiceSettings,
    pub api: ApiSettings,
    pub source: SourceSettings,
    pub watchlist: WatchlistSettings,
    pub matcher: MatcherSettings,
    pub incidents: IncidentSettings,
    pub store: StoreSettings,
    pub delivery: DeliverySettings,
    pub sinks: Vec<SinkSettings>,
    pub tenants: Vec<crate::tenants::TenantSettings>,
    pub ct: CtSettings,
    pub certstream_server: StreamServerSettings,
    pub enrichment: EnrichmentSettings,
    pub bus: crate::bus::BusSettings,
}

/// `[service]`: the process as a whole.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServiceSettings {
    /// After SIGTERM or Ctrl-C: how long intake may take to stop, in-flight
    /// certificates to be recorded and delivery attempts to finish before
    /// the process exits anyway (what is left is in the store).
    #[serde(with = "crate::config::duration")]
    pub shutdown_timeout: Duration,
}

impl Default for ServiceSettings {
    fn default() -> Self {
        ServiceSettings {
            shutdown_timeout: Duration::from_secs(30),
        }
    }
}

impl ServiceSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        crate::config::require_positive(&[("service.shutdown_timeout", self.shutdown_timeout)])
    }
}

/// Valid settings and what validating them parsed.
#[derive(Debug, Clone)]
pub struct Config {
    /// The effective settings (unnamed sinks named).
    pub settings: Settings,
    pub matcher: MatcherConfig,
    pub sinks: Vec<SinkConfig>,
}

impl TryFrom<Settings> for Config {
    type Error = ConfigError;
    fn try_from(settings: Settings) -> Result<Config, ConfigError> {
        settings.validate()
    }
}

impl Settings {
    /// Load defaults, then `file`, then the `CERTSENTRY__*` variables in `env`
    /// (pass `std::env::vars()` in production, a map in tests), and validate.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Config, ConfigError> {
        let mut builder = config::Config::builder();
        if let Some(path) = file {
            if !path.exists() {
                return Err(ConfigError::Load(format!(
                    "file {} does not exist",
                    path.display()
                )));
            }
            builder = builder.add_source(
                config::File::from(path)
                    .format(config::FileFormat::Toml)
                    .required(true),
            );
        }
        let env: HashMap<String, String> = env
            .into_iter()
            .filter(|(k, _)| k.starts_with("CERTSENTRY__"))
            .collect();
        builder = builder.add_source(
            config::Environment::with_prefix("CERTSENTRY")
                .prefix_separator("__")
                .separator("__")
                .try_parsing(true)
                .list_separator(",")
                .with_list_parse_key("matcher.allowlist")
                .with_list_parse_key("ct.include")
                .with_list_parse_key("ct.exclude")
                .source(Some(env)),
        );
        let built = builder
            .build()
            .map_err(|e| ConfigError::Load(e.to_string()))?;
        let settings: Settings = built
            .try_deserialize()
            .map_err(|e| ConfigError::Load(e.to_string()))?;
        settings.validate()
    }

    /// Every section's checks, in the order a reader meets them.
    pub fn validate(mut self) -> Result<Config, ConfigError> {
        self.service.validate()?;
        let matcher = self.matcher.validate()?;
        crate::source::validate(&self.source, &self.ct)?;
        self.watchlist.validate()?;
        self.api.validate()?;
        self.incidents.validate()?;
        self.store.validate()?;
        self.delivery.validate()?;
        self.certstream_server.validate()?;
        self.enrichment.validate()?;
        self.bus.validate()?;
        let sinks = crate::sink::validate(&mut self.sinks)?;
        let names: Vec<String> = sinks.iter().map(|s| s.settings.name.clone()).collect();
        let allowlists = crate::tenants::validate(&self.tenants, &self.watchlist, &names)?;
        let matcher = matcher
            .with_tenant_allowlists(allowlists)
            .with_shard(self.bus.brand_shard());
        Ok(Config {
            settings: self,
            matcher,
            sinks,
        })
    }

    /// The effective configuration as TOML, secrets redacted.
    pub fn to_redacted_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::source::SourceKind;
    use crate::source::ct::CtStart;
    use std::time::Duration;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_valid() {
        let s = Settings::load(None, env(&[])).unwrap().settings;
        assert_eq!(s.api.listen.port(), 8080);
        assert_eq!(s.watchlist.reload_interval, Duration::from_secs(1800));
        assert!(s.sinks.is_empty());
    }

    #[test]
    fn file_then_env() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.toml");
        std::fs::write(
            &path,
            "[matcher]\nmax_distance = 2\n[watchlist]\nreload_interval = \"5m\"\n\
             [[sinks]]\nkind = \"xsoar-webhook\"\nurl = \"http://127.0.0.1:9/x\"\npassword = \"hunter2\"\n",
        )
        .unwrap();
        let s = Settings::load(
            Some(&path),
            env(&[
                ("CERTSENTRY__MATCHER__MAX_DISTANCE", "1"),
                ("CERTSENTRY__API__TOKEN", "s3cret"),
                ("CERTSENTRY__MATCHER__ALLOWLIST", "a.com,b.org"),
                ("OTHER", "x"),
            ]),
        )
        .unwrap()
        .settings;
        assert_eq!(s.matcher.max_distance, 1);
        assert_eq!(s.watchlist.reload_interval, Duration::from_secs(300));
        assert_eq!(s.api.token.expose(), "s3cret");
        assert_eq!(s.matcher.allowlist, vec!["a.com", "b.org"]);
        assert_eq!(s.sinks[0].name, "xsoar-webhook");
        let shown = s.to_redacted_toml();
        assert!(
            !shown.contains("hunter2") && !shown.contains("s3cret"),
            "{shown}"
        );
        assert!(shown.contains("[REDACTED]"));
        assert!(!format!("{s:?}").contains("hunter2"));
    }

    #[test]
    fn rules_are_validated() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("r.toml");
        let load = |toml: &str| {
            std::fs::write(&path, toml).unwrap();
            Settings::load(Some(&path), env(&[]))
        };
        let ok = load(
            "[[matcher.rules]]\nname = \"login-lures\"\nkeywords = [\"login\", \"secure\"]\nthreshold = 2\nseverity = \"high\"\n\
             [[matcher.rules]]\nname = \"bank\"\nregex = '^(online|web)banking-'\nbrand = \"examplebank.com\"\n",
        )
        .unwrap()
        .settings;
        assert_eq!(ok.matcher.rules.len(), 2);
        assert_eq!(ok.matcher.rules[0].severity, crate::model::Severity::High);
        for (toml, key) in [
            (
                "[[matcher.rules]]\nname = \"x\"\nregex = \"(\"\n",
                "matcher.rules[0].regex",
            ),
            (
                "[[matcher.rules]]\nname = \"x\"\nkeywords = [\"a\"]\nthreshold = 2\n",
                "matcher.rules[0].threshold",
            ),
            ("[[matcher.rules]]\nname = \"x\"\n", "matcher.rules[0]"),
            (
                "[[matcher.rules]]\nregex = \"a\"\n",
                "matcher.rules[0].name",
            ),
        ] {
            let e = load(toml).unwrap_err().to_string();
            assert!(e.contains(key), "{key}: {e}");
        }
    }

    #[test]
    fn ct_and_server_settings() {
        let s = Settings::load(
            None,
            env(&[
                ("CERTSENTRY__SOURCE__KIND", "ct"),
                ("CERTSENTRY__CT__INCLUDE", "Google,Let's Encrypt"),
                ("CERTSENTRY__CT__START", "beginning"),
                ("CERTSENTRY__CERTSTREAM_SERVER__ENABLED", "true"),
            ]),
        )
        .unwrap()
        .settings;
        assert_eq!(s.source.kind, SourceKind::Ct);
        assert_eq!(s.ct.include, vec!["Google", "Let's Encrypt"]);
        assert_eq!(s.ct.start, CtStart::Beginning);
        assert!(s.certstream_server.enabled);
        for (k, v, key) in [
            ("CERTSENTRY__CT__BATCH_SIZE", "0", "ct.batch_size"),
            ("CERTSENTRY__CT__LOG_LIST_URL", "ftp://x", "ct.log_list_url"),
            ("CERTSENTRY__CT__POLL_INTERVAL", "0s", "ct.poll_interval"),
            (
                "CERTSENTRY__CERTSTREAM_SERVER__CLIENT_BUFFER",
                "0",
                "certstream_server.client_buffer",
            ),
        ] {
            let e = Settings::load(None, env(&[(k, v)]))
                .unwrap_err()
                .to_string();
            assert!(e.contains(key), "{e}");
        }
    }

    #[test]
    fn bad_values_name_the_key() {
        let e = Settings::load(None, env(&[("CERTSENTRY__MATCHER__SIMILARITY", "1.5")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("matcher.similarity"), "{e}");
        let e = Settings::load(None, env(&[("CERTSENTRY__MATCHER__MAX_DISTANCE", "abc")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("max_distance"), "{e}");
        let e = Settings::load(None, env(&[("CERTSENTRY__SOURCE__URL", "http://x")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("source.url"), "{e}");
        let e = Settings::load(None, env(&[("CERTSENTRY__API__LISTEN", "nope")]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("listen"), "{e}");
        let e = Settings::load(Some(Path::new("/nonexistent/c.toml")), env(&[]))
            .unwrap_err()
            .to_string();
        assert!(e.contains("does not exist"), "{e}");
    }
}
