//! Delivery: the outbox worker (`worker`), retry classification
//! (`outcome`), and one file per destination format, each owning its config
//! section. HTTP formats share `http` (endpoint, credentials, TLS, signing,
//! headers) and `evidence` (what several of them show).
//!
//! The `sinks!` table below is the registry: a new sink is one file with a
//! settings type that implements `SinkKind` (an HTTP format implements
//! `http::HttpFormat` and gets it), plus one line there.

#[cfg(feature = "nats")]
mod bus;
mod evidence;
mod file;
mod http;
mod outcome;
mod splunk_soar;
mod thehive;
mod webhook;
mod worker;
mod xsoar_rest;
mod xsoar_webhook;

#[cfg(feature = "nats")]
pub(crate) use bus::deliver_from_bus;
pub use file::{FileFormat, FileSettings};
pub use http::HttpSettings;
pub(crate) use outcome::Outcome;
pub use splunk_soar::SplunkSoarSettings;
pub use thehive::TheHiveSettings;
pub use webhook::WebhookSettings;
pub use worker::DeliveryWorker;
pub use xsoar_rest::XsoarRestSettings;
pub use xsoar_webhook::XsoarWebhookSettings;

use crate::config::{ConfigError, invalid, require_positive};
use crate::model::Incident;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, HashSet};
use std::time::Duration;

/// A sink that cannot be built from its settings.
#[derive(Debug, thiserror::Error)]
pub enum SinkError {
    #[error("sink {sink}: {problem}")]
    Build { sink: String, problem: String },
}

/// Sends one incident to one destination.
pub(crate) trait Deliver: Send + Sync {
    /// `record`: for an update, the sink's own id of the record the
    /// updated incident became there, when it named one.
    fn deliver<'a>(
        &'a self,
        incident: &'a Incident,
        record: Option<&'a str>,
    ) -> BoxFuture<'a, Outcome>;
}

/// What building a sink may use.
pub struct SinkContext {
    /// The service's HTTP client (User-Agent and timeouts set).
    pub client: reqwest::Client,
    pub delivery: DeliverySettings,
}

/// What a kind's settings do: check themselves and build their sink. HTTP
/// kinds get it from [`http::HttpFormat`].
pub(crate) trait SinkKind {
    /// Check the kind's keys (`key` makes a key's full name); returns the
    /// signing key, when one is set.
    fn validate(
        &self,
        kind: &str,
        key: &dyn Fn(&str) -> String,
    ) -> Result<Option<Vec<u8>>, ConfigError>;

    fn build(
        &self,
        name: &str,
        signing_key: Option<Vec<u8>>,
        ctx: &SinkContext,
    ) -> Result<Box<dyn Deliver>, SinkError>;
}

/// The registry: one line per sink, `Variant(settings type) => "kind";`.
macro_rules! sinks {
    ($($variant:ident($settings:ty) => $name:literal;)*) => {
        /// A sink's kind and its kind's own settings (`sinks[].kind`).
        #[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
        #[serde(tag = "kind")]
        pub enum SinkFormat {
            $(#[serde(rename = $name)] $variant($settings),)*
        }

        impl SinkFormat {
            /// Every kind, in registry order.
            pub const KINDS: &[&str] = &[$($name),*];

            pub fn kind(&self) -> &'static str {
                match self { $(SinkFormat::$variant(_) => $name,)* }
            }

            /// Check the kind's keys; returns the signing key, when set.
            fn validate(&self, key: &dyn Fn(&str) -> String) -> Result<Option<Vec<u8>>, ConfigError> {
                match self { $(SinkFormat::$variant(s) => s.validate($name, key),)* }
            }

            fn build(
                &self,
                name: &str,
                signing_key: Option<Vec<u8>>,
                ctx: &SinkContext,
            ) -> Result<Box<dyn Deliver>, SinkError> {
                match self { $(SinkFormat::$variant(s) => s.build(name, signing_key, ctx),)* }
            }
        }
    };
}

sinks! {
    Webhook(WebhookSettings) => "webhook";
    XsoarWebhook(XsoarWebhookSettings) => "xsoar-webhook";
    XsoarRest(XsoarRestSettings) => "xsoar-rest";
    Thehive(TheHiveSettings) => "thehive";
    SplunkSoar(SplunkSoarSettings) => "splunk-soar";
    File(FileSettings) => "file";
}

/// Keys a sink's section does not know, caught so validation names them.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(transparent)]
pub struct UnknownKeys(BTreeMap<String, serde_json::Value>);

impl UnknownKeys {
    pub(crate) fn check(
        &self,
        key: &dyn Fn(&str) -> String,
        kind: &str,
    ) -> Result<(), ConfigError> {
        match self.0.keys().next() {
            Some(k) => Err(invalid(
                key(k),
                format!("is not a setting of kind = \"{kind}\""),
            )),
            None => Ok(()),
        }
    }
}

/// One `[[sinks]]` entry: a unique name and the kind's settings. `kind`
/// defaults to `webhook`.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct SinkSettings {
    /// Unique name; keys the sink's outbox rows. Defaults to the kind.
    pub name: String,
    #[serde(flatten)]
    pub format: SinkFormat,
}

impl<'de> Deserialize<'de> for SinkSettings {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        use serde::de::Error;
        let mut table = serde_json::Map::deserialize(d)?;
        let name = match table.remove("name") {
            None => String::new(),
            Some(serde_json::Value::String(s)) => s,
            Some(_) => return Err(D::Error::custom("name must be a string")),
        };
        table
            .entry("kind")
            .or_insert_with(|| serde_json::Value::String("webhook".into()));
        let format = SinkFormat::deserialize(serde_json::Value::Object(table))
            .map_err(|e| D::Error::custom(e.to_string()))?;
        Ok(SinkSettings { name, format })
    }
}

impl SinkSettings {
    pub fn new(name: &str, format: SinkFormat) -> SinkSettings {
        SinkSettings {
            name: name.to_owned(),
            format,
        }
    }
}

/// A validated sink: its settings and what validation parsed.
#[derive(Debug, Clone)]
pub struct SinkConfig {
    pub settings: SinkSettings,
    signing_key: Option<Vec<u8>>,
}

/// Check every sink, give unnamed ones their kind as name (`kind-<i>`
/// when taken), and refuse duplicate names.
pub(crate) fn validate(sinks: &mut [SinkSettings]) -> Result<Vec<SinkConfig>, ConfigError> {
    let mut names = HashSet::new();
    let mut out = Vec::with_capacity(sinks.len());
    for (i, sink) in sinks.iter_mut().enumerate() {
        let key = |k: &str| format!("sinks[{i}].{k}");
        let signing_key = sink.format.validate(&key)?;
        if sink.name.is_empty() {
            sink.name = sink.format.kind().to_owned();
            if names.contains(&sink.name) {
                sink.name = format!("{}-{i}", sink.name);
            }
        }
        if !names.insert(sink.name.clone()) {
            return Err(invalid(
                key("name"),
                format!("duplicate sink name {:?}", sink.name),
            ));
        }
        out.push(SinkConfig {
            settings: sink.clone(),
            signing_key,
        });
    }
    Ok(out)
}

/// A configured destination.
pub struct Sink {
    pub name: String,
    deliver: Box<dyn Deliver>,
}

impl Sink {
    pub fn build(config: &SinkConfig, ctx: &SinkContext) -> Result<Sink, SinkError> {
        let s = &config.settings;
        Ok(Sink {
            name: s.name.clone(),
            deliver: s.format.build(&s.name, config.signing_key.clone(), ctx)?,
        })
    }

    /// The incidents' stream, as the only sink of a matcher without the
    /// `delivery` role (`[bus]`).
    #[cfg(feature = "nats")]
    pub(crate) fn bus(settings: crate::bus::BusSettings, dedup_window: Duration) -> Sink {
        Sink {
            name: bus::NAME.to_owned(),
            deliver: Box::new(bus::BusSink::new(settings, dedup_window)),
        }
    }

    pub async fn deliver(&self, incident: &Incident, record: Option<&str>) -> Outcome {
        self.deliver.deliver(incident, record).await
    }
}

/// `[delivery]`: retries and concurrency, for every sink.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliverySettings {
    #[serde(with = "crate::config::duration")]
    pub initial_backoff: Duration,
    #[serde(with = "crate::config::duration")]
    pub max_backoff: Duration,
    /// A delivery still failing this long after the incident is marked failed.
    #[serde(with = "crate::config::duration")]
    pub max_age: Duration,
    /// Requests in flight per sink.
    pub concurrency: usize,
    /// How often the outbox is polled when nothing wakes the worker.
    #[serde(with = "crate::config::duration")]
    pub poll_interval: Duration,
    #[serde(with = "crate::config::duration")]
    pub request_timeout: Duration,
}

impl Default for DeliverySettings {
    fn default() -> Self {
        DeliverySettings {
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(3600),
            max_age: Duration::from_secs(24 * 3600),
            concurrency: 16,
            poll_interval: Duration::from_secs(1),
            request_timeout: Duration::from_secs(10),
        }
    }
}

impl DeliverySettings {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        require_positive(&[
            ("delivery.initial_backoff", self.initial_backoff),
            ("delivery.max_backoff", self.max_backoff),
            ("delivery.poll_interval", self.poll_interval),
            ("delivery.request_timeout", self.request_timeout),
        ])?;
        if self.concurrency == 0 || self.concurrency > 256 {
            return Err(invalid("delivery.concurrency", "must be 1 to 256"));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_settings_build_their_own_client_or_fail_clearly() {
        let dir = tempfile::tempdir().unwrap();
        let garbage = dir.path().join("ca.pem");
        std::fs::write(&garbage, "not a certificate").unwrap();
        let ctx = SinkContext {
            client: reqwest::Client::new(),
            delivery: DeliverySettings::default(),
        };
        let mut http = HttpSettings {
            url: "https://xsoar.internal".into(),
            ca_file: garbage,
            ..HttpSettings::default()
        };
        let sink = |http: &HttpSettings| {
            let mut s = [SinkSettings::new(
                "internal",
                SinkFormat::Webhook(WebhookSettings {
                    http: http.clone(),
                    ..WebhookSettings::default()
                }),
            )];
            validate(&mut s).map(|mut v| v.remove(0))
        };
        let e = Sink::build(&sink(&http).unwrap(), &ctx)
            .err()
            .unwrap()
            .to_string();
        assert!(e.contains("internal") && e.contains("ca.pem"), "{e}");
        http.ca_file = std::path::PathBuf::new();
        http.tls_insecure_skip_verify = true;
        assert!(Sink::build(&sink(&http).unwrap(), &ctx).is_ok());
        http.secret = crate::config::Secret::new("whsec_***");
        assert!(sink(&http).is_err());
    }

    #[test]
    fn kind_defaults_to_webhook_and_unknown_keys_are_named() {
        let s: SinkSettings =
            serde_json::from_value(serde_json::json!({"url": "https://h.example"})).unwrap();
        assert_eq!(s.format.kind(), "webhook");
        let mut bad: [SinkSettings; 1] =
            [
                serde_json::from_value(serde_json::json!({"url": "https://h.example", "tlp": 4}))
                    .unwrap(),
            ];
        let e = validate(&mut bad).unwrap_err().to_string();
        assert!(e.contains("sinks[0].tlp"), "{e}");
        let shown = serde_json::to_value(&s).unwrap();
        assert_eq!(shown["kind"], "webhook");
    }
}
