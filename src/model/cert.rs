//! `CertEvent`: one certificate as every source delivers it to the pipeline.
//!
//! A plain serde struct so a later deployment can carry it over a message bus.
//! Field names follow the certstream full format so that an incident carries
//! the certificate exactly as analysts know it from certstream.

use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// A distinguished name in certstream's shape. Every key may be absent or null.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[allow(non_snake_case)]
pub struct DistinguishedName {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub C: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub CN: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub L: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub O: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub OU: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ST: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub aggregated: Option<String>,
    #[serde(
        default,
        alias = "emailAddress",
        skip_serializing_if = "Option::is_none"
    )]
    pub email_address: Option<String>,
}

/// Whether the log entry is a final certificate or a precertificate.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub enum UpdateType {
    #[default]
    X509LogEntry,
    PrecertLogEntry,
    /// A `/domains-only` frame: names without a certificate.
    DomainsOnly,
}

/// Where in Certificate Transparency the certificate was seen.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CtSource {
    /// The log's description, e.g. `Google 'Argon2026h2'`.
    pub log_name: String,
    pub log_url: String,
    pub cert_index: Option<u64>,
    /// A `get-entries` link to the entry (empty for tiled logs).
    pub cert_link: String,
    /// Unix seconds when the source saw the entry.
    pub seen: f64,
}

/// The certificate fields an incident carries.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Certificate {
    pub subject: DistinguishedName,
    pub issuer: DistinguishedName,
    /// SAN DNS names plus the subject CN, as certstream's `all_domains`.
    pub all_domains: Vec<String>,
    pub serial_number: String,
    /// SHA-1 of the DER, colon-separated upper-case hex (certstream's `fingerprint`).
    pub sha1: String,
    /// SHA-256 of the DER, colon-separated upper-case hex; empty when the source omits it.
    pub sha256: String,
    pub not_before: Option<i64>,
    pub not_after: Option<i64>,
    pub signature_algorithm: String,
    pub is_ca: Option<bool>,
    pub update_type: UpdateType,
    /// Extensions as certstream renders them (`subjectAltName`, `keyUsage`, ...).
    pub extensions: BTreeMap<String, serde_json::Value>,
}

/// One certificate (or one `/domains-only` batch of names) from a source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct CertEvent {
    pub certificate: Certificate,
    pub ct: CtSource,
    /// Name of the configured source that produced the event.
    pub source: String,
    /// The DER of the logged certificate (the pre-certificate for a precert),
    /// base64, when the source had it (CT logs; certstream's `as_der`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub as_der: Option<String>,
    /// The issuers, leaf's issuer first, when the source had them.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub chain: Vec<Certificate>,
    /// The log's timestamp of the entry, Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub submission_timestamp: Option<f64>,
}

impl CertEvent {
    /// A key for dropping the same certificate seen twice (several logs,
    /// reconnect overlaps). `None` when the source gave no fingerprint.
    pub fn dedup_fingerprint(&self) -> Option<&str> {
        let c = &self.certificate;
        if !c.sha256.is_empty() {
            Some(&c.sha256)
        } else if !c.sha1.is_empty() {
            Some(&c.sha1)
        } else {
            None
        }
    }
}
