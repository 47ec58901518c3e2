//! Reading Certificate Transparency logs directly: entry parsing ([`leaf`],
//! [`x509`]) into the same [`CertEvent`] the certstream source produces.

pub mod leaf;
pub mod x509;

use crate::cert::{CertEvent, CtSource, UpdateType};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use leaf::{Chain, EntryKind, LeafError, LogEntry};

/// What a follower knows about the log an entry came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogMeta {
    /// The log list's description, e.g. `Google 'Argon2026h2'`.
    pub name: String,
    /// RFC 6962: the log URL; static-ct-api: the monitoring prefix.
    pub url: String,
    pub tiled: bool,
}

/// Turn a parsed entry into an event. `issuers` are the chain's DER
/// certificates (RFC 6962 carries them; tiled logs' are fetched by fingerprint).
pub fn event(
    entry: &LogEntry<'_>,
    issuers: &[&[u8]],
    log: &LogMeta,
    index: u64,
    seen: f64,
) -> Result<CertEvent, LeafError> {
    let update_type = match entry.kind {
        EntryKind::X509 => UpdateType::X509LogEntry,
        EntryKind::Precert => UpdateType::PrecertLogEntry,
    };
    let certificate = x509::certificate(entry.der, update_type)?;
    let mut chain = Vec::with_capacity(issuers.len());
    for der in issuers {
        // a broken issuer does not lose the leaf
        if let Ok(c) = x509::certificate(der, UpdateType::X509LogEntry) {
            chain.push(c);
        }
    }
    let cert_link = if log.tiled {
        String::new()
    } else {
        format!(
            "{}/ct/v1/get-entries?start={index}&end={index}",
            log.url.trim_end_matches('/')
        )
    };
    Ok(CertEvent {
        certificate,
        ct: CtSource {
            log_name: log.name.clone(),
            log_url: log.url.clone(),
            cert_index: Some(index),
            cert_link,
            seen,
        },
        source: format!("ct:{}", log.name),
        as_der: Some(STANDARD.encode(entry.der)),
        chain,
        submission_timestamp: Some(entry.timestamp_ms as f64 / 1000.0),
    })
}

/// A `get-entries` entry with base64 fields, straight to an event.
pub fn event_from_get_entries(
    leaf_input_b64: &str,
    extra_data_b64: &str,
    log: &LogMeta,
    index: u64,
    seen: f64,
) -> Result<CertEvent, LeafError> {
    let leaf = STANDARD
        .decode(leaf_input_b64)
        .map_err(|e| LeafError::Base64(e.to_string()))?;
    let extra = STANDARD
        .decode(extra_data_b64)
        .map_err(|e| LeafError::Base64(e.to_string()))?;
    let entry = leaf::parse_rfc6962(&leaf, &extra)?;
    let issuers: Vec<&[u8]> = match &entry.chain {
        Chain::Der(c) => c.clone(),
        Chain::Fingerprints(_) => Vec::new(),
    };
    event(&entry, &issuers, log, index, seen)
}
