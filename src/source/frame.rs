//! The certstream wire format: one JSON message to one [`Frame`].
//!
//! Recognises `certificate_update` (full and lite streams), `dns_entries`
//! (`/domains-only`) and `heartbeat`, and tolerates the schema drift seen on
//! real servers: missing issuer / sha1 / sha256 / is_ca, null subject keys,
//! `emailAddress` for `email_address`, a source URL without a scheme, unknown
//! fields. Pure and allocation-light: shared by the websocket client and the
//! replay source.

use crate::cert::{CertEvent, Certificate, CtSource, DistinguishedName, UpdateType};
use serde::Deserialize;
use std::collections::BTreeMap;

/// One parsed certstream message.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    /// A `certificate_update`.
    Certificate(Box<CertEvent>),
    /// A `dns_entries` message: names without a certificate.
    Domains(Box<CertEvent>),
    Heartbeat,
    /// A message type certsentry does not use; skipped.
    Other(String),
}

#[derive(Debug, thiserror::Error)]
pub enum FrameError {
    #[error("not a certstream message: {0}")]
    Json(#[from] serde_json::Error),
    #[error("message has no message_type")]
    MissingType,
    #[error("{0} message has no data of the right shape")]
    MissingData(&'static str),
}

/// A frame read in one pass, whatever the key order: `data` is an object
/// (a certificate update) or an array (a `dns_entries` batch), decided by
/// its shape, so nothing is scanned twice.
#[derive(Deserialize)]
struct RawFrame<'a> {
    #[serde(default, borrow)]
    message_type: Option<std::borrow::Cow<'a, str>>,
    #[serde(default)]
    data: Option<RawData>,
}

enum RawData {
    Update(Box<RawUpdate>),
    Names(Vec<String>),
    Other,
}

impl<'de> Deserialize<'de> for RawData {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DataVisitor)
    }
}

struct DataVisitor;

impl<'de> serde::de::Visitor<'de> for DataVisitor {
    type Value = RawData;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object or an array")
    }

    fn visit_map<A: serde::de::MapAccess<'de>>(self, map: A) -> Result<RawData, A::Error> {
        RawUpdate::deserialize(serde::de::value::MapAccessDeserializer::new(map))
            .map(|u| RawData::Update(Box::new(u)))
    }

    fn visit_seq<A: serde::de::SeqAccess<'de>>(self, seq: A) -> Result<RawData, A::Error> {
        Vec::<String>::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
            .map(RawData::Names)
    }

    fn visit_unit<E>(self) -> Result<RawData, E> {
        Ok(RawData::Other)
    }
    fn visit_bool<E>(self, _: bool) -> Result<RawData, E> {
        Ok(RawData::Other)
    }
    fn visit_i64<E>(self, _: i64) -> Result<RawData, E> {
        Ok(RawData::Other)
    }
    fn visit_u64<E>(self, _: u64) -> Result<RawData, E> {
        Ok(RawData::Other)
    }
    fn visit_f64<E>(self, _: f64) -> Result<RawData, E> {
        Ok(RawData::Other)
    }
    fn visit_str<E>(self, _: &str) -> Result<RawData, E> {
        Ok(RawData::Other)
    }
}

#[derive(Deserialize)]
struct RawUpdate {
    #[serde(default)]
    update_type: Option<String>,
    #[serde(default)]
    leaf_cert: Option<RawLeaf>,
    #[serde(default)]
    cert_index: Option<u64>,
    #[serde(default)]
    cert_link: Option<String>,
    #[serde(default)]
    seen: Option<f64>,
    #[serde(default)]
    source: Option<RawSource>,
}

#[derive(Deserialize, Default)]
struct RawLeaf {
    #[serde(default)]
    subject: Option<DistinguishedName>,
    #[serde(default)]
    issuer: Option<DistinguishedName>,
    #[serde(default)]
    extensions: Option<BTreeMap<String, serde_json::Value>>,
    #[serde(default)]
    not_before: Option<f64>,
    #[serde(default)]
    not_after: Option<f64>,
    #[serde(default)]
    serial_number: Option<String>,
    #[serde(default)]
    fingerprint: Option<String>,
    #[serde(default)]
    sha1: Option<String>,
    #[serde(default)]
    sha256: Option<String>,
    #[serde(default)]
    signature_algorithm: Option<String>,
    #[serde(default)]
    is_ca: Option<bool>,
    #[serde(default)]
    all_domains: Option<Vec<String>>,
}

#[derive(Deserialize, Default)]
struct RawSource {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

/// Parse one certstream message. `source_name` names the configured source.
pub fn parse_frame(bytes: &[u8], source_name: &str) -> Result<Frame, FrameError> {
    let raw: RawFrame<'_> = serde_json::from_slice(bytes)?;
    let message_type = raw.message_type.ok_or(FrameError::MissingType)?;
    match message_type.as_ref() {
        "certificate_update" => match raw.data {
            Some(RawData::Update(update)) => {
                Ok(Frame::Certificate(Box::new(update.into_event(source_name))))
            }
            _ => Err(FrameError::MissingData("certificate_update")),
        },
        "dns_entries" => match raw.data {
            Some(RawData::Names(names)) => Ok(Frame::Domains(Box::new(CertEvent {
                certificate: Certificate {
                    all_domains: names,
                    update_type: UpdateType::DomainsOnly,
                    ..Certificate::default()
                },
                ct: CtSource::default(),
                source: source_name.to_owned(),
                ..CertEvent::default()
            }))),
            _ => Err(FrameError::MissingData("dns_entries")),
        },
        "heartbeat" => Ok(Frame::Heartbeat),
        other => Ok(Frame::Other(other.to_owned())),
    }
}

impl RawUpdate {
    fn into_event(self, source_name: &str) -> CertEvent {
        let leaf = self.leaf_cert.unwrap_or_default();
        let source = self.source.unwrap_or_default();
        let log_url = source.url.map(with_scheme).unwrap_or_default();
        let tiled = source.kind.as_deref() == Some("tiled");
        let cert_link = match self.cert_link.filter(|l| !l.is_empty()) {
            Some(link) => with_scheme(link),
            None => match (self.cert_index, tiled, log_url.is_empty()) {
                (Some(i), false, false) => format!(
                    "{}/ct/v1/get-entries?start={i}&end={i}",
                    log_url.trim_end_matches('/')
                ),
                _ => String::new(),
            },
        };
        let sha1 = leaf
            .sha1
            .filter(|s| !s.is_empty())
            .or_else(|| leaf.fingerprint.clone())
            .unwrap_or_default();
        let update_type = match self.update_type.as_deref() {
            Some("PrecertLogEntry") => UpdateType::PrecertLogEntry,
            _ => UpdateType::X509LogEntry,
        };
        CertEvent {
            certificate: Certificate {
                subject: leaf.subject.unwrap_or_default(),
                issuer: leaf.issuer.unwrap_or_default(),
                all_domains: leaf.all_domains.unwrap_or_default(),
                serial_number: leaf.serial_number.unwrap_or_default(),
                sha1,
                sha256: leaf.sha256.unwrap_or_default(),
                not_before: leaf.not_before.map(|t| t as i64),
                not_after: leaf.not_after.map(|t| t as i64),
                signature_algorithm: leaf.signature_algorithm.unwrap_or_default(),
                is_ca: leaf.is_ca,
                update_type,
                extensions: leaf.extensions.unwrap_or_default(),
            },
            ct: CtSource {
                log_name: source.name.unwrap_or_default(),
                log_url,
                cert_index: self.cert_index,
                cert_link,
                seen: self.seen.unwrap_or(0.0),
            },
            source: source_name.to_owned(),
            ..CertEvent::default()
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn heartbeat_and_unknown() {
        assert_eq!(
            parse_frame(br#"{"message_type":"heartbeat","timestamp":1.5}"#, "t").unwrap(),
            Frame::Heartbeat
        );
        assert_eq!(
            parse_frame(br#"{"message_type":"news"}"#, "t").unwrap(),
            Frame::Other("news".into())
        );
        assert!(parse_frame(b"{}", "t").is_err());
        assert!(parse_frame(b"not json", "t").is_err());
        assert!(parse_frame(br#"{"message_type":"certificate_update"}"#, "t").is_err());
    }

    #[test]
    fn domains_only() {
        let f = parse_frame(
            br#"{"message_type":"dns_entries","data":["a.example.com","*.b.example.org"]}"#,
            "t",
        )
        .unwrap();
        let Frame::Domains(ev) = f else {
            panic!("expected domains")
        };
        assert_eq!(ev.certificate.all_domains.len(), 2);
        assert_eq!(ev.certificate.update_type, UpdateType::DomainsOnly);
    }

    #[test]
    fn schema_drift_is_tolerated() {
        let msg = br#"{"message_type":"certificate_update","data":{
            "update_type":"PrecertLogEntry",
            "leaf_cert":{"subject":{"CN":null,"O":"x","emailAddress":"a@b.c","aggregated":"/O=x"},
                         "all_domains":["paypa1.com"],"fingerprint":"AA:BB","not_before":1.0e9,
                         "not_after":1700000000,"serial_number":"0A","extra":{"z":1}},
            "cert_index":7,"seen":1.5,
            "source":{"name":"Old log","url":"ct.example.net/log/"}}}"#;
        let Frame::Certificate(ev) = parse_frame(msg, "t").unwrap() else {
            panic!("expected certificate")
        };
        let c = &ev.certificate;
        assert_eq!(c.update_type, UpdateType::PrecertLogEntry);
        assert_eq!(c.subject.CN, None);
        assert_eq!(c.subject.email_address.as_deref(), Some("a@b.c"));
        assert_eq!(c.issuer, DistinguishedName::default());
        assert_eq!(c.sha1, "AA:BB");
        assert_eq!(c.sha256, "");
        assert_eq!(c.not_before, Some(1_000_000_000));
        assert_eq!(ev.ct.log_url, "https://ct.example.net/log/");
        assert_eq!(
            ev.ct.cert_link,
            "https://ct.example.net/log/ct/v1/get-entries?start=7&end=7"
        );
    }
}
