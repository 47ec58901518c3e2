//! A CT entry to a [`CertEvent`]: the same event a certstream
//! `/full-stream` message gives, with its issuers parsed once per log.

use super::leaf::{self, Chain, EntryKind, LeafError, LogEntry};
use super::x509;
use crate::model::{CertEvent, Certificate, CtSource, UpdateType};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use std::collections::HashMap;
use std::hash::{Hash, Hasher};

/// What one read from a log gave.
pub(super) struct Read {
    /// Each entry read, by index: its event, or why it could not be parsed.
    pub(super) entries: Vec<(u64, Result<CertEvent, LeafError>)>,
    /// The entries' Merkle leaf hashes when they were asked for; `None`
    /// then means one could not be hashed (the tree check is lost).
    pub(super) leaves: Option<Vec<super::merkle::Hash>>,
    /// The index after the last entry read.
    pub(super) next: u64,
}

/// What a follower knows about the log an entry came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogMeta {
    /// The log list's description, e.g. `Google 'Argon2026h2'`.
    pub name: String,
    /// RFC 6962: the log URL; static-ct-api: the monitoring prefix.
    pub url: String,
    pub tiled: bool,
}

/// Parsed issuer certificates by their DER: a log's entries share a handful
/// of intermediates, so each is parsed once, not once per entry.
#[derive(Default)]
pub struct IssuerCache {
    parsed: HashMap<u64, Vec<(Vec<u8>, Certificate)>>,
    len: usize,
}

impl IssuerCache {
    /// Most issuers kept; the cache starts over when full.
    const MAX: usize = 4096;

    fn get(&mut self, der: &[u8]) -> Option<Certificate> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        der.hash(&mut h);
        let key = h.finish();
        if let Some(bucket) = self.parsed.get(&key)
            && let Some((_, c)) = bucket.iter().find(|(d, _)| d.as_slice() == der)
        {
            return Some(c.clone());
        }
        // a broken issuer does not lose the leaf: it is left out of the chain
        let c = x509::certificate(der, UpdateType::X509LogEntry).ok()?;
        if self.len >= Self::MAX {
            self.parsed.clear();
            self.len = 0;
        }
        self.parsed
            .entry(key)
            .or_default()
            .push((der.to_vec(), c.clone()));
        self.len += 1;
        Some(c)
    }
}

/// Turn a parsed entry into an event. `issuers` are the chain's DER
/// certificates (RFC 6962 carries them; tiled logs' are fetched by fingerprint).
pub fn event(
    entry: &LogEntry<'_>,
    issuers: &[&[u8]],
    log: &LogMeta,
    index: u64,
    seen: f64,
    cache: &mut IssuerCache,
) -> Result<CertEvent, LeafError> {
    let update_type = match entry.kind {
        EntryKind::X509 => UpdateType::X509LogEntry,
        EntryKind::Precert => UpdateType::PrecertLogEntry,
    };
    let certificate = x509::certificate(entry.der, update_type)?;
    let chain: Vec<Certificate> = issuers.iter().filter_map(|der| cache.get(der)).collect();
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
    cache: &mut IssuerCache,
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
    event(&entry, &issuers, log, index, seen, cache)
}
