//! The whole certificate update as serde reads it after a match (or for
//! relaying): every field lenient but the names, so a frame that passed the
//! scan always gives its event.

use crate::model::{CertEvent, Certificate, CtSource, DistinguishedName, UpdateType};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use std::collections::BTreeMap;

/// Any value: `T` when it has `T`'s shape, else `None`. For the fields only
/// the whole event needs, read after a match.
pub(super) struct Lenient<T>(pub(super) Option<T>);

impl<T> Default for Lenient<T> {
    fn default() -> Self {
        Lenient(None)
    }
}

impl<'de, T: DeserializeOwned> Deserialize<'de> for Lenient<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let raw = <&'de RawValue>::deserialize(d)?;
        Ok(Lenient(serde_json::from_str(raw.get()).ok()))
    }
}

/// A certificate update message as [`FrameCert::event`] reads it (the scan
/// has checked its type and the shape of `data`).
#[derive(Deserialize)]
pub(super) struct UpdateMessage {
    #[serde(default)]
    pub(super) data: Option<FullUpdate>,
}

/// A whole certificate update, owned, every field lenient but the names.
#[derive(Deserialize)]
pub(super) struct FullUpdate {
    #[serde(default)]
    pub(super) update_type: Lenient<String>,
    #[serde(default)]
    pub(super) leaf_cert: Option<FullLeaf>,
    #[serde(default)]
    pub(super) cert_index: Lenient<u64>,
    #[serde(default)]
    pub(super) cert_link: Lenient<String>,
    #[serde(default)]
    pub(super) seen: Lenient<f64>,
    #[serde(default)]
    pub(super) source: Lenient<FullSource>,
    /// The issuers (`/full-stream`), as text: read (leniently) only when
    /// the certstream server relays the certificate.
    #[serde(default)]
    pub(super) chain: Option<Box<RawValue>>,
    #[serde(default)]
    pub(super) submission_timestamp: Lenient<f64>,
}

#[derive(Deserialize, Default)]
pub(super) struct FullLeaf {
    #[serde(default)]
    pub(super) subject: Lenient<DistinguishedName>,
    #[serde(default)]
    pub(super) issuer: Lenient<DistinguishedName>,
    #[serde(default)]
    pub(super) extensions: Lenient<BTreeMap<String, serde_json::Value>>,
    #[serde(default)]
    pub(super) not_before: Lenient<f64>,
    #[serde(default)]
    pub(super) not_after: Lenient<f64>,
    #[serde(default)]
    pub(super) serial_number: Lenient<String>,
    #[serde(default)]
    pub(super) fingerprint: Lenient<String>,
    #[serde(default)]
    sha1: Lenient<String>,
    #[serde(default)]
    sha256: Lenient<String>,
    #[serde(default)]
    pub(super) signature_algorithm: Lenient<String>,
    #[serde(default)]
    pub(super) is_ca: Lenient<bool>,
    #[serde(default)]
    pub(super) all_domains: Option<Vec<String>>,
    /// base64 DER (`/full-stream`).
    #[serde(default)]
    pub(super) as_der: Lenient<String>,
}

#[derive(Deserialize, Default)]
pub(super) struct FullSource {
    #[serde(default)]
    pub(super) name: Option<String>,
    #[serde(default)]
    pub(super) url: Option<String>,
    #[serde(default, rename = "type")]
    pub(super) kind: Option<String>,
}

impl FullLeaf {
    pub(super) fn into_certificate(self, update_type: UpdateType) -> Certificate {
        let sha1 = self
            .sha1
            .0
            .filter(|s| !s.is_empty())
            .or(self.fingerprint.0)
            .unwrap_or_default();
        Certificate {
            subject: self.subject.0.unwrap_or_default(),
            issuer: self.issuer.0.unwrap_or_default(),
            all_domains: self.all_domains.unwrap_or_default(),
            serial_number: self.serial_number.0.unwrap_or_default(),
            sha1,
            sha256: self.sha256.0.unwrap_or_default(),
            not_before: self.not_before.0.map(|t| t as i64),
            not_after: self.not_after.0.map(|t| t as i64),
            signature_algorithm: self.signature_algorithm.0.unwrap_or_default(),
            is_ca: self.is_ca.0,
            update_type,
            extensions: self.extensions.0.unwrap_or_default(),
        }
    }
}

impl FullUpdate {
    pub(super) fn into_event(self, source_name: &str, with_chain: bool) -> CertEvent {
        let mut leaf = self.leaf_cert.unwrap_or_default();
        let source = self.source.0.unwrap_or_default();
        let log_url = source.url.map(with_scheme).unwrap_or_default();
        let tiled = source.kind.as_deref() == Some("tiled");
        let cert_index = self.cert_index.0;
        let cert_link = match self.cert_link.0.filter(|l| !l.is_empty()) {
            Some(link) => with_scheme(link),
            None => match (cert_index, tiled, log_url.is_empty()) {
                (Some(i), false, false) => format!(
                    "{}/ct/v1/get-entries?start={i}&end={i}",
                    log_url.trim_end_matches('/')
                ),
                _ => String::new(),
            },
        };
        let update_type = match self.update_type.0.as_deref() {
            Some("PrecertLogEntry") => UpdateType::PrecertLogEntry,
            _ => UpdateType::X509LogEntry,
        };
        let as_der = leaf.as_der.0.take().filter(|d| !d.is_empty());
        let chain = self
            .chain
            .filter(|_| with_chain)
            .and_then(|raw| serde_json::from_str::<Vec<FullLeaf>>(raw.get()).ok())
            .unwrap_or_default()
            .into_iter()
            .map(|c| c.into_certificate(UpdateType::X509LogEntry))
            .collect();
        CertEvent {
            certificate: leaf.into_certificate(update_type),
            as_der,
            chain,
            submission_timestamp: self.submission_timestamp.0,
            ct: CtSource {
                log_name: source.name.unwrap_or_default(),
                log_url,
                cert_index,
                cert_link,
                seen: self.seen.0.unwrap_or(0.0),
            },
            source: source_name.to_owned(),
        }
    }
}

fn with_scheme(url: String) -> String {
    if url.is_empty() || url.contains("://") {
        url
    } else {
        format!("https://{url}")
    }
}
