//! certsentry watches Certificate Transparency for lookalikes of protected
//! domains and raises incidents in SOAR platforms (Cortex XSOAR first).
//!
//! Phishers register `paypa1.com` or `pаypal.com` (Cyrillic а) and get a TLS
//! certificate for it; every certificate is published in CT logs, usually
//! hours before the site is used. certsentry reads that stream, matches every
//! name against a homograph list, and delivers an incident with the full
//! certificate to the SOC's SOAR, durably.
//!
//! # Layout (the pipeline, in order; imports only point up this list)
//! - `config`, `http`, `retry`, `json`, `metrics`: what every stage uses
//!   (config errors and secrets; the User-Agent and URL redaction; backoff;
//!   the zero-copy JSON scanner; counters)
//! - `model`: the leaf types every stage shares: [`CertEvent`], [`Verdict`],
//!   [`Incident`] (typed ids and timestamps)
//! - `source`: certstream websocket client, JSONL replay, CT logs read
//!   directly → `SourceItem`s, behind a registry
//! - `domain`: name normalisation (IDNA, public suffix), confusable folding,
//!   keyboard tables
//! - `watchlist`: the XSOAR-format list and its loaders; `snapshot`: the
//!   reload loop that compiles it into a [`Matcher`]
//! - `matcher`: one file per signal (exact, homograph, typo, embedding,
//!   combosquat, rules) → [`Verdict`]s
//! - `pipeline`: cert dedup → match → [`Incident`] → a [`Recorder`]
//! - `store`: SQLite behind an async facade: incidents, outbox, CT checkpoints
//! - `sink`: the delivery worker and one file per SOAR format, behind a registry
//! - `relay`: the certstream-compatible server; `api`: the HTTP API;
//!   `export`: incidents as JSON Lines or CSV
//! - `generate`: the homograph list generator (a fuzzer registry)
//! - `app`: [`Settings`] composed of every section, and [`Application`],
//!   which wires the stages together
#![forbid(unsafe_code)]

mod api;
mod app;
mod bus;
mod config;
mod domain;
mod enrich;
mod export;
mod generate;
mod http;
mod json;
mod matcher;
mod metrics;
mod model;
mod parallel;
mod pipeline;
mod relay;
mod retry;
mod sink;
mod snapshot;
mod source;
mod store;
mod tenants;
mod watchlist;

pub use api::{ApiSettings, AppState, ROUTES, Role, TokenSettings};
pub use app::{Application, Config, Settings, StartError, http_client};
pub use bus::{BusSettings, Role as BusRole};
pub use config::{ConfigError, Secret};
pub use domain::{Fqdn, NameError, fold_skeleton, normalise_label};
pub use enrich::{
    AsnSettings, DnsSettings, EnrichmentSettings, HttpProbeSettings, RdapSettings,
    ScreenshotSettings,
};
pub use export::{ExportFormat, chunks as export_chunks, parse_filter};
pub use matcher::{Matcher, MatcherConfig, MatcherSettings, RuleSettings, verdict_json};
pub use metrics::Metrics;
pub use model::{
    CertEvent, Certificate, CtSource, DedupKey, DistinguishedName, EnrichmentUpdate, Incident,
    IncidentId, MatchDetail, MatchKind, Severity, Suppression, Suppressions, Timestamp, Triage,
    TriageChange, TriageState, UpdateType, Verdict,
};
pub use pipeline::{Cert, DedupPolicy, IncidentSettings, Pipeline, Recorded, Recorder, match_cert};
pub use relay::StreamServerSettings;
pub use sink::{
    DeliverySettings, DeliveryWorker, FileFormat, FileSettings, HttpSettings, Sink, SinkConfig,
    SinkContext, SinkFormat, SinkSettings, SplunkSoarSettings, TheHiveSettings, WebhookSettings,
    XsoarRestSettings, XsoarWebhookSettings,
};
pub use source::{
    Frame, FrameCert, FrameError, SourceKind, SourceSettings, SourceState, parse_frame, scan_frame,
};
pub use store::{
    AuditEntry, History, IncidentFilter, NewAuditEntry, NewSuppression, Pruned, RetentionSettings,
    Store, StoreLock, StoreSettings, StoreSummary, StoreUsage, StoredRule,
};
pub use tenants::{SinkRoutes, TenantListSettings, TenantListStatus, TenantSettings};
/// Online backup and restore of a store file.
pub mod backup {
    pub use crate::store::{backup, restore};
}
pub use watchlist::{DEFAULT_TENANT, ListLoader, Watchlist, WatchlistSettings, XsoarListSettings};

/// A parsed list's parts: brands and their packed variants.
pub mod list {
    pub use crate::watchlist::{BrandEntry, Variant, Variants};
}

/// The list generator (`certsentry generate`, `POST /v1/lists/generate`).
pub mod generator {
    pub use crate::generate::{
        Format, Fuzzer, GenerateError, GenerateOptions, Variant, build_list, generate,
        parse_domain, parse_fuzzers,
    };
}

/// CT log reading: the entry parser, tree heads and the Merkle tree, for
/// golden tests and benchmarks.
pub mod ct {
    pub use crate::source::ct::{
        CtSettings, CtStart, IssuerCache, LogMeta, event, event_from_get_entries, leaf, merkle,
        sth, x509,
    };
}

/// The certstream message renderer of the certstream-compatible server.
pub mod stream {
    pub use crate::relay::render::{StreamFormat, render};
}
