//! certsentry watches Certificate Transparency for lookalikes of protected
//! domains and raises incidents in SOAR platforms (Cortex XSOAR first).
//!
//! Phishers register `paypa1.com` or `pаypal.com` (Cyrillic а) and get a TLS
//! certificate for it; every certificate is published in CT logs, usually
//! hours before the site is used. certsentry reads that stream, matches every
//! name against a homograph list, and delivers an incident with the full
//! certificate to the SOC's SOAR, durably.
//!
//! # Layout (the pipeline, in order; data flows one way)
//! - [`source`]: certstream websocket client and JSONL replay → a
//!   [`source::FrameCert`] (names now, the whole [`cert::CertEvent`] after a
//!   match); [`ct`]: CT logs read directly → [`cert::CertEvent`]
//! - [`domain`]: name normalisation (IDNA, public suffix) and confusable folding
//! - [`watchlist`]: the XSOAR-format list, its loaders and the reload loop
//! - [`matcher`]: exact variants, homographs, typos, target embedding,
//!   combosquats, rules → [`matcher::Verdict`]
//! - [`pipeline`]: cert dedup → match → [`incident::Incident`] → [`store`]
//! - [`store`]: SQLite incidents, dedup window and delivery outbox
//! - [`sink`]: outbox worker and SOAR request formats (webhook, XSOAR
//!   webhook and REST, TheHive, Splunk SOAR)
//! - [`api`]: health, metrics, status, list, generate, match, incidents,
//!   deliveries; [`export`]: incidents as JSON Lines or CSV
//! - [`generate`]: the homograph list generator (permutation engine)
//! - [`app`]: wires the stages together; [`config`]: layered settings
//! - [`backtest`] and [`demo`]: the `replay` and `demo` commands
#![forbid(unsafe_code)]

pub mod api;
pub mod app;
pub mod backtest;
pub mod cert;
pub mod config;
pub mod ct;
pub mod demo;
pub mod domain;
pub mod export;
pub mod generate;
pub mod incident;
mod json;
pub mod matcher;
pub mod metrics;
pub mod pipeline;
pub mod retry;
pub mod server;
pub mod sink;
pub mod source;
pub mod store;
pub mod watchlist;
