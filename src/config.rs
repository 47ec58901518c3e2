//! `Settings`: built-in defaults, then a TOML file (`--config`), then
//! `CERTSENTRY__SECTION__KEY` environment variables.
//!
//! Every default works offline. Validation happens once, here: the rest of the
//! program receives settings that are valid by construction. Secrets live in
//! [`Secret`], which never prints its value.

use serde::{Deserialize, Serialize, Serializer};
use std::collections::{BTreeMap, HashMap};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// A bad configuration: one readable line naming the key and the problem.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {0}")]
    Load(String),
    #[error("configuration: `{key}`: {problem}")]
    Invalid { key: String, problem: String },
}

fn invalid(key: impl Into<String>, problem: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key: key.into(),
        problem: problem.into(),
    }
}

/// A credential. Prints as `[REDACTED]`; `env:NAME` reads the variable NAME.
#[derive(Clone, Default, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: impl Into<String>) -> Self {
        Secret(value.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.0.is_empty() {
            f.write_str("\"\"")
        } else {
            f.write_str("[REDACTED]")
        }
    }
}

impl Serialize for Secret {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(if self.0.is_empty() { "" } else { "[REDACTED]" })
    }
}

impl<'de> Deserialize<'de> for Secret {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(d)?;
        match raw.strip_prefix("env:") {
            Some(var) => std::env::var(var).map(Secret).map_err(|_| {
                serde::de::Error::custom(format!("environment variable {var} is not set"))
            }),
            None => Ok(Secret(raw)),
        }
    }
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    pub api: ApiSettings,
    pub source: SourceSettings,
    pub watchlist: WatchlistSettings,
    pub matcher: MatcherSettings,
    pub incidents: IncidentSettings,
    pub store: StoreSettings,
    pub delivery: DeliverySettings,
    pub sinks: Vec<SinkSettings>,
    pub ct: CtSettings,
    pub certstream_server: StreamServerSettings,
}

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
    #[serde(with = "humantime_serde")]
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
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    /// Least time between two requests to one log (politeness; 0 = back to back).
    #[serde(with = "humantime_serde")]
    pub request_interval: Duration,
    #[serde(with = "humantime_serde")]
    pub backoff_initial: Duration,
    #[serde(with = "humantime_serde")]
    pub backoff_max: Duration,
    #[serde(with = "humantime_serde")]
    pub request_timeout: Duration,
    /// Put in the User-Agent so log operators can reach you (URL or e-mail).
    pub contact: String,
}

impl CtSettings {
    pub fn max_validity(&self) -> Duration {
        Duration::from_secs(u64::from(self.max_validity_days) * 24 * 3600)
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

/// The certstream-compatible websocket server.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamServerSettings {
    pub enabled: bool,
    pub listen: SocketAddr,
    /// Websocket ping period.
    #[serde(with = "humantime_serde")]
    pub ping_interval: Duration,
    /// Messages a client may fall behind before it is dropped.
    pub client_buffer: usize,
}

impl Default for StreamServerSettings {
    fn default() -> Self {
        StreamServerSettings {
            enabled: false,
            listen: SocketAddr::from(([127, 0, 0, 1], 4000)),
            ping_interval: Duration::from_secs(30),
            client_buffer: 1000,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ApiSettings {
    pub listen: SocketAddr,
    /// Bearer token required on `/v1` routes when not empty.
    pub token: Secret,
    /// Largest request body accepted, in bytes.
    pub max_body_bytes: usize,
}

impl Default for ApiSettings {
    fn default() -> Self {
        ApiSettings {
            listen: SocketAddr::from(([127, 0, 0, 1], 8080)),
            token: Secret::default(),
            max_body_bytes: 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SourceKind {
    Certstream,
    Replay,
    /// CT logs read directly (see `[ct]`).
    Ct,
    /// No source: the API and delivery only.
    None,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SourceSettings {
    pub kind: SourceKind,
    /// certstream websocket URL (`/full-stream`, `/` or `/domains-only`).
    pub url: String,
    /// JSONL file for `kind = "replay"`.
    pub path: PathBuf,
    #[serde(with = "humantime_serde")]
    pub ping_interval: Duration,
    /// No frame for this long means the connection is dead.
    #[serde(with = "humantime_serde")]
    pub idle_timeout: Duration,
    #[serde(with = "humantime_serde")]
    pub reconnect_initial: Duration,
    #[serde(with = "humantime_serde")]
    pub reconnect_max: Duration,
    /// A connection healthy for this long resets the backoff.
    #[serde(with = "humantime_serde")]
    pub healthy_after: Duration,
    /// Replay pace in messages per second; 0 means as fast as possible.
    pub replay_rate: u32,
    /// Capacity of the channel from the source to the matcher.
    pub channel_capacity: usize,
    /// Window for dropping the same certificate (by sha256) seen again.
    #[serde(with = "humantime_serde")]
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
    #[serde(with = "humantime_serde")]
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
            max_bytes: 64 * 1024 * 1024,
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MatcherSettings {
    /// XSOAR-style similarity `1 - d/max_len`; when set (> 0) it replaces
    /// `max_distance` as the typo criterion.
    pub similarity: f64,
    /// Absolute OSA distance; 0 means by label length (5-8: 1, 9+: 2).
    pub max_distance: u32,
    /// Registrable labels shorter than this are never typos.
    pub min_label_len: usize,
    /// Domains that are the brand's own in addition to the list's keys.
    pub allowlist: Vec<String>,
    /// Also count typos of variant labels (XSOAR pack parity); by default typos
    /// are measured against the brand labels only.
    pub typo_against_variants: bool,
    /// Browser-style filter: a different first character alone (`hank` for
    /// `tank`) is not a typo, unless it is a keyboard neighbour or lookalike.
    pub typo_ignore_first_char: bool,
    /// Browser-style filter: a different trailing number alone (`site35` for
    /// `site45`) is not a typo.
    pub typo_ignore_trailing_number: bool,
    /// Look for target embedding (`paypal.com.secure.top`, `www-paypal-com.xyz`).
    pub target_embedding: bool,
    /// Look for combosquats (`paypal-login.com`, `securepaypal.net`).
    pub combosquat: bool,
    /// Brand labels shorter than this are not looked for inside other names.
    pub embed_min_len: usize,
    /// Score added when the issuer is a free DV CA (Let's Encrypt, ZeroSSL,
    /// Google Trust Services, Buypass).
    pub free_dv_bonus: u8,
    /// Regex and keyword rules.
    pub rules: Vec<RuleSettings>,
}

/// One regex or keyword rule (`[[matcher.rules]]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuleSettings {
    pub name: String,
    /// The incident's brand; empty = `rule:<name>`.
    pub brand: String,
    pub severity: crate::matcher::Severity,
    /// A regular expression over the name (Unicode, then ASCII form).
    pub regex: String,
    /// Keywords looked for in the name ...
    pub keywords: Vec<String>,
    /// ... at least this many of them.
    pub threshold: usize,
}

impl Default for RuleSettings {
    fn default() -> Self {
        RuleSettings {
            name: String::new(),
            brand: String::new(),
            severity: crate::matcher::Severity::Medium,
            regex: String::new(),
            keywords: Vec::new(),
            threshold: 1,
        }
    }
}

impl Default for MatcherSettings {
    fn default() -> Self {
        MatcherSettings {
            similarity: 0.0,
            max_distance: 0,
            min_label_len: 5,
            allowlist: Vec::new(),
            typo_against_variants: false,
            typo_ignore_first_char: true,
            typo_ignore_trailing_number: true,
            target_embedding: true,
            combosquat: true,
            embed_min_len: 4,
            free_dv_bonus: 3,
            rules: Vec::new(),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct IncidentSettings {
    /// Later sightings of the same (brand, registrable domain) within this
    /// window update the incident and are not sent again.
    #[serde(with = "humantime_serde")]
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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    pub path: PathBuf,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            path: PathBuf::from("data/certsentry.db"),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DeliverySettings {
    #[serde(with = "humantime_serde")]
    pub initial_backoff: Duration,
    #[serde(with = "humantime_serde")]
    pub max_backoff: Duration,
    /// A delivery still failing this long after the incident is marked failed.
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    /// Requests in flight per sink.
    pub concurrency: usize,
    /// How often the outbox is polled when nothing wakes the worker.
    #[serde(with = "humantime_serde")]
    pub poll_interval: Duration,
    #[serde(with = "humantime_serde")]
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

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum SinkKind {
    /// The incident JSON as is, with an `Idempotency-Key` header.
    Webhook,
    /// Cortex XSOAR Generic Webhook integration.
    XsoarWebhook,
    /// Cortex XSOAR REST API (`POST /incident`, XSOAR 6 or 8).
    XsoarRest,
    /// TheHive 5 alerts (`POST /api/v1/alert`).
    Thehive,
    /// Splunk SOAR containers (`POST /rest/container`).
    SplunkSoar,
}

impl SinkKind {
    pub fn as_str(self) -> &'static str {
        match self {
            SinkKind::Webhook => "webhook",
            SinkKind::XsoarWebhook => "xsoar-webhook",
            SinkKind::XsoarRest => "xsoar-rest",
            SinkKind::Thehive => "thehive",
            SinkKind::SplunkSoar => "splunk-soar",
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct SinkSettings {
    /// Unique name; keys the sink's outbox rows. Defaults to the kind.
    pub name: String,
    pub kind: SinkKind,
    pub url: String,
    /// HTTP Basic user; for XSOAR `_header:<Name>` sends the password as header `<Name>`.
    pub username: String,
    pub password: Secret,
    /// The API credential: `Authorization: Bearer` for `webhook` and
    /// `thehive`, the `Authorization` API key for `xsoar-rest`, the
    /// `ph-auth-token` for `splunk-soar`.
    pub token: Secret,
    /// Standard Webhooks signing secret (`whsec_<base64>` or raw): adds
    /// `webhook-id`, `webhook-timestamp` and `webhook-signature` (any kind).
    pub secret: Secret,
    /// Extra headers; values are treated as secrets.
    pub headers: BTreeMap<String, Secret>,
    /// XSOAR incident type.
    pub incident_type: String,
    /// XSOAR raw JSON key: `both`, `raw_json` or `rawJson`.
    pub raw_json_key: String,
    /// `xsoar-rest`: 6 (`<url>/incident`) or 8 (`<url>/xsoar/public/v1/incident`).
    pub xsoar_version: u8,
    /// `xsoar-rest` on XSOAR 8: the API key's id (`x-xdr-auth-id`).
    pub api_key_id: String,
    /// `xsoar-rest`: open a war room for each incident.
    pub create_investigation: bool,
    /// `thehive`: `X-Organisation` header.
    pub organisation: String,
    /// `thehive`: alert type; `source` is always `certsentry`.
    pub alert_type: String,
    /// `thehive` and `splunk-soar`: traffic light protocol 0 white … 3 red.
    pub tlp: u8,
    /// `thehive`: permissible actions protocol 0 … 3.
    pub pap: u8,
    /// `thehive`: tags added to every alert.
    pub tags: Vec<String>,
    /// `splunk-soar`: container label (must exist in Splunk SOAR).
    pub label: String,
    /// PEM file of extra CA certificates trusted for this sink.
    pub ca_file: PathBuf,
    /// Turn TLS certificate verification off for this sink (logged as a warning).
    pub tls_insecure_skip_verify: bool,
}

impl Default for SinkSettings {
    fn default() -> Self {
        SinkSettings {
            name: String::new(),
            kind: SinkKind::Webhook,
            url: String::new(),
            username: String::new(),
            password: Secret::default(),
            token: Secret::default(),
            secret: Secret::default(),
            headers: BTreeMap::new(),
            incident_type: "CertStream Suspicious Domain".into(),
            raw_json_key: "both".into(),
            xsoar_version: 6,
            api_key_id: String::new(),
            create_investigation: true,
            organisation: String::new(),
            alert_type: "lookalike-domain".into(),
            tlp: 2,
            pap: 2,
            tags: Vec::new(),
            label: "events".into(),
            ca_file: PathBuf::new(),
            tls_insecure_skip_verify: false,
        }
    }
}

impl Settings {
    /// Load defaults, then `file`, then the `CERTSENTRY__*` variables in `env`
    /// (pass `std::env::vars()` in production, a map in tests), and validate.
    pub fn load(
        file: Option<&Path>,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<Settings, ConfigError> {
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
        settings.validated()
    }

    fn validated(mut self) -> Result<Settings, ConfigError> {
        let m = &self.matcher;
        if !(0.0..1.0).contains(&m.similarity) {
            return Err(invalid(
                "matcher.similarity",
                "must be at least 0 and below 1 (0 disables it)",
            ));
        }
        if m.max_distance > 4 {
            return Err(invalid("matcher.max_distance", "must be 0 to 4"));
        }
        if m.free_dv_bonus > 10 {
            return Err(invalid("matcher.free_dv_bonus", "must be 0 to 10"));
        }
        if m.embed_min_len < 3 {
            return Err(invalid("matcher.embed_min_len", "must be at least 3"));
        }
        let mut rule_names = std::collections::HashSet::new();
        for (i, r) in m.rules.iter().enumerate() {
            let key = |k: &str| format!("matcher.rules[{i}].{k}");
            if r.name.trim().is_empty() {
                return Err(invalid(key("name"), "is required"));
            }
            if !rule_names.insert(r.name.clone()) {
                return Err(invalid(
                    key("name"),
                    format!("duplicate rule name {:?}", r.name),
                ));
            }
            match (r.regex.is_empty(), r.keywords.is_empty()) {
                (false, false) | (true, true) => {
                    return Err(invalid(
                        format!("matcher.rules[{i}]"),
                        "set exactly one of regex and keywords",
                    ));
                }
                (false, true) => {
                    regex::Regex::new(&r.regex)
                        .map_err(|e| invalid(key("regex"), e.to_string()))?;
                }
                (true, false) => {
                    if r.threshold == 0 || r.threshold > r.keywords.len() {
                        return Err(invalid(
                            key("threshold"),
                            format!("must be 1 to {} (the number of keywords)", r.keywords.len()),
                        ));
                    }
                    if r.keywords.iter().any(|k| k.trim().is_empty()) {
                        return Err(invalid(key("keywords"), "must not hold empty keywords"));
                    }
                }
            }
        }
        for (i, a) in m.allowlist.iter().enumerate() {
            crate::domain::Fqdn::parse(a)
                .map_err(|e| invalid(format!("matcher.allowlist[{i}]"), e.to_string()))?;
        }
        let positive = [
            ("source.ping_interval", self.source.ping_interval),
            ("source.idle_timeout", self.source.idle_timeout),
            ("source.reconnect_initial", self.source.reconnect_initial),
            ("source.reconnect_max", self.source.reconnect_max),
            ("watchlist.reload_interval", self.watchlist.reload_interval),
            ("delivery.initial_backoff", self.delivery.initial_backoff),
            ("delivery.max_backoff", self.delivery.max_backoff),
            ("delivery.poll_interval", self.delivery.poll_interval),
            ("delivery.request_timeout", self.delivery.request_timeout),
            ("ct.poll_interval", self.ct.poll_interval),
            ("ct.backoff_initial", self.ct.backoff_initial),
            ("ct.backoff_max", self.ct.backoff_max),
            ("ct.request_timeout", self.ct.request_timeout),
            (
                "certstream_server.ping_interval",
                self.certstream_server.ping_interval,
            ),
        ];
        for (key, value) in positive {
            if value.is_zero() {
                return Err(invalid(key, "must be longer than 0s"));
            }
        }
        if !(1..=10_000).contains(&self.ct.batch_size) {
            return Err(invalid("ct.batch_size", "must be 1 to 10000"));
        }
        let list_url = &self.ct.log_list_url;
        if !list_url.is_empty()
            && !list_url.starts_with("http://")
            && !list_url.starts_with("https://")
        {
            return Err(invalid(
                "ct.log_list_url",
                "must be an http:// or https:// URL",
            ));
        }
        if self.certstream_server.client_buffer == 0 {
            return Err(invalid(
                "certstream_server.client_buffer",
                "must be at least 1",
            ));
        }
        if self.source.channel_capacity == 0 {
            return Err(invalid("source.channel_capacity", "must be at least 1"));
        }
        if self.delivery.concurrency == 0 || self.delivery.concurrency > 256 {
            return Err(invalid("delivery.concurrency", "must be 1 to 256"));
        }
        match self.source.kind {
            SourceKind::Certstream => {
                let ok =
                    self.source.url.starts_with("ws://") || self.source.url.starts_with("wss://");
                if !ok {
                    return Err(invalid("source.url", "must be a ws:// or wss:// URL"));
                }
            }
            SourceKind::Replay if self.source.path.as_os_str().is_empty() => {
                return Err(invalid(
                    "source.path",
                    "is required when source.kind = \"replay\"",
                ));
            }
            _ => {}
        }
        let w = &self.watchlist;
        let url_ok =
            w.url.is_empty() || w.url.starts_with("http://") || w.url.starts_with("https://");
        if !url_ok {
            return Err(invalid(
                "watchlist.url",
                "must be an http:// or https:// URL",
            ));
        }
        if !w.xsoar.base_url.is_empty() {
            if w.xsoar.list_name.is_empty() {
                return Err(invalid("watchlist.xsoar.list_name", "must not be empty"));
            }
            if ![6, 8].contains(&w.xsoar.version) {
                return Err(invalid("watchlist.xsoar.version", "must be 6 or 8"));
            }
        }
        let chosen = [
            !w.path.as_os_str().is_empty(),
            !w.url.is_empty(),
            !w.xsoar.base_url.is_empty(),
        ];
        if chosen.iter().filter(|b| **b).count() > 1 {
            return Err(invalid(
                "watchlist",
                "set only one of path, url and xsoar.base_url",
            ));
        }
        let mut names = std::collections::HashSet::new();
        for (i, sink) in self.sinks.iter_mut().enumerate() {
            let key = |k: &str| format!("sinks[{i}].{k}");
            if sink.url.is_empty() {
                return Err(invalid(key("url"), "is required"));
            }
            reqwest::Url::parse(&sink.url)
                .map_err(|e| invalid(key("url"), e.to_string()))
                .and_then(|u| match u.scheme() {
                    "http" | "https" => Ok(()),
                    _ => Err(invalid(key("url"), "must be http:// or https://")),
                })?;
            if !["both", "raw_json", "rawJson"].contains(&sink.raw_json_key.as_str()) {
                return Err(invalid(
                    key("raw_json_key"),
                    "must be both, raw_json or rawJson",
                ));
            }
            if ![6, 8].contains(&sink.xsoar_version) {
                return Err(invalid(key("xsoar_version"), "must be 6 or 8"));
            }
            if sink.tlp > 3 {
                return Err(invalid(key("tlp"), "must be 0 to 3"));
            }
            if sink.pap > 3 {
                return Err(invalid(key("pap"), "must be 0 to 3"));
            }
            let needs_token = matches!(
                sink.kind,
                SinkKind::XsoarRest | SinkKind::Thehive | SinkKind::SplunkSoar
            );
            if needs_token && sink.token.is_empty() {
                return Err(invalid(
                    key("token"),
                    format!("is required for kind = \"{}\"", sink.kind.as_str()),
                ));
            }
            if sink.kind == SinkKind::XsoarRest
                && sink.xsoar_version == 8
                && sink.api_key_id.is_empty()
            {
                return Err(invalid(
                    key("api_key_id"),
                    "is required for XSOAR 8 (x-xdr-auth-id)",
                ));
            }
            if !sink.secret.is_empty() {
                crate::sink::webhook_signing_key(sink.secret.expose())
                    .map_err(|e| invalid(key("secret"), e))?;
            }
            if sink.kind == SinkKind::SplunkSoar && sink.label.is_empty() {
                return Err(invalid(key("label"), "must not be empty"));
            }
            if !sink.ca_file.as_os_str().is_empty() && !sink.ca_file.is_file() {
                return Err(invalid(
                    key("ca_file"),
                    format!("{} is not a readable file", sink.ca_file.display()),
                ));
            }
            if sink.name.is_empty() {
                sink.name = sink.kind.as_str().to_owned();
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
        }
        Ok(self)
    }

    /// The effective configuration as TOML, secrets redacted.
    pub fn to_redacted_toml(&self) -> String {
        toml::to_string_pretty(self).unwrap_or_else(|e| format!("# cannot render: {e}\n"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn defaults_are_valid() {
        let s = Settings::load(None, env(&[])).unwrap();
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
        .unwrap();
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
        .unwrap();
        assert_eq!(ok.matcher.rules.len(), 2);
        assert_eq!(ok.matcher.rules[0].severity, crate::matcher::Severity::High);
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
        .unwrap();
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
