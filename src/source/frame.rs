//! The certstream wire format: one JSON message to one [`Frame`].
//!
//! Recognises `certificate_update` (full and lite streams), `dns_entries`
//! (`/domains-only`) and `heartbeat`, and tolerates the schema drift seen on
//! real servers: missing issuer / sha1 / sha256 / is_ca, null subject keys,
//! `emailAddress` for `email_address`, a source URL without a scheme, unknown
//! fields, a field of an unexpected type (read as absent).
//!
//! Reading happens at two depths. [`scan_frame`], on every message, checks
//! the JSON and takes only what matching needs (names, fingerprint, time)
//! as a [`FrameCert`] that keeps the text. [`FrameCert::event`] builds the
//! whole [`CertEvent`] from that text when a name matched (about 1% of
//! certificates) or the certstream server re-serves it. [`parse_frame`]
//! does both at once. Shared by the websocket client and the replay source.

use crate::cert::{CertEvent, Certificate, CtSource, DistinguishedName, UpdateType};
use crate::json::Str;
use bytes::Bytes;
use serde::de::{DeserializeOwned, IgnoredAny, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::marker::PhantomData;
use std::sync::Arc;

/// One parsed certstream message. `C` is how a certificate update is held:
/// a whole [`CertEvent`] ([`parse_frame`]) or a [`FrameCert`] read only as far
/// as matching needs ([`scan_frame`]).
#[derive(Debug, Clone, PartialEq)]
pub enum Frame<C = Box<CertEvent>> {
    /// A `certificate_update`.
    Certificate(C),
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

/// A `certificate_update` whose JSON is checked and whose names and
/// fingerprint are read; the rest stays text until [`FrameCert::event`].
#[derive(Debug, Clone, PartialEq)]
pub struct FrameCert {
    frame: Bytes,
    source: Arc<str>,
    names: Vec<String>,
    fingerprint: Option<String>,
    seen: f64,
}

impl FrameCert {
    /// `all_domains`, as in the frame.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    /// The configured source it came from.
    pub fn source(&self) -> &str {
        &self.source
    }

    /// As [`CertEvent::dedup_fingerprint`].
    pub fn fingerprint(&self) -> Option<&str> {
        self.fingerprint.as_deref()
    }

    /// Unix seconds when the source saw the entry (0 when absent).
    pub fn seen(&self) -> f64 {
        self.seen
    }

    /// An event with only the names and time (the fingerprint's kind is
    /// not known here, so it is left out rather than mislabelled).
    pub fn names_only(&self) -> CertEvent {
        CertEvent {
            certificate: Certificate {
                all_domains: self.names.clone(),
                ..Certificate::default()
            },
            ct: CtSource {
                seen: self.seen,
                ..CtSource::default()
            },
            source: self.source.to_string(),
            ..CertEvent::default()
        }
    }

    /// The whole certificate, without its issuers (an incident does not
    /// carry them). Every field but the names is read leniently (a value of
    /// the wrong type counts as absent), so a frame that passed
    /// [`scan_frame`] always gives its event.
    pub fn event(&self) -> Result<CertEvent, FrameError> {
        self.read_event(false)
    }

    /// [`FrameCert::event`] with the issuers (`chain`), as the certstream
    /// server relays it.
    pub fn relayed_event(&self) -> Result<CertEvent, FrameError> {
        self.read_event(true)
    }

    fn read_event(&self, with_chain: bool) -> Result<CertEvent, FrameError> {
        match read::<FullUpdate>(&self.frame)? {
            Raw::Update(update) => Ok(update.into_event(&self.source, with_chain)),
            _ => Err(FrameError::MissingData("certificate_update")),
        }
    }
}

/// The rest of a visitor that takes any JSON value: booleans, null, objects
/// and arrays are consumed and give `$none`.
macro_rules! skip_other_values {
    ($none:expr) => {
        fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_unit<E>(self) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok($none)
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok($none)
        }
    };
}

/// A string, or `None` for any other value (skipped, not rejected).
struct MaybeStr<'a>(Option<Str<'a>>);

impl<'de: 'a, 'a> Deserialize<'de> for MaybeStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MaybeStr<'de>;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any value")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(MaybeStr(Some(Str(Cow::Borrowed(v)))))
            }
            fn visit_str<E>(self, v: &str) -> Result<Self::Value, E> {
                Ok(MaybeStr(Some(Str(Cow::Owned(v.to_owned())))))
            }
            fn visit_string<E>(self, v: String) -> Result<Self::Value, E> {
                Ok(MaybeStr(Some(Str(Cow::Owned(v)))))
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(MaybeStr(None))
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(MaybeStr(None))
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(MaybeStr(None))
            }
            skip_other_values!(MaybeStr(None));
        }
        d.deserialize_any(V)
    }
}

/// A number, or `None` for any other value.
struct MaybeNumber(Option<f64>);

impl<'de> Deserialize<'de> for MaybeNumber {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MaybeNumber;
            fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str("any value")
            }
            fn visit_f64<E>(self, v: f64) -> Result<Self::Value, E> {
                Ok(MaybeNumber(Some(v)))
            }
            fn visit_u64<E>(self, v: u64) -> Result<Self::Value, E> {
                Ok(MaybeNumber(Some(v as f64)))
            }
            fn visit_i64<E>(self, v: i64) -> Result<Self::Value, E> {
                Ok(MaybeNumber(Some(v as f64)))
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(MaybeNumber(None))
            }
            skip_other_values!(MaybeNumber(None));
        }
        d.deserialize_any(V)
    }
}

/// Any value: `T` when it has `T`'s shape, else `None`. For the fields only
/// the whole event needs, read after a match.
struct Lenient<T>(Option<T>);

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

/// A frame read in one pass, whatever the key order: `data` is an object
/// (a certificate update, read as `U`) or an array (a `dns_entries` batch),
/// decided by its shape, so nothing is scanned twice.
#[derive(Deserialize)]
#[serde(bound(deserialize = "U: Deserialize<'de>, 'de: 'a"))]
struct RawFrame<'a, U> {
    #[serde(default, borrow)]
    message_type: Option<Str<'a>>,
    #[serde(default)]
    data: Option<RawData<'a, U>>,
}

enum RawData<'a, U> {
    Update(U),
    Names(Vec<Str<'a>>),
    Other,
}

impl<'de: 'a, 'a, U: Deserialize<'de>> Deserialize<'de> for RawData<'a, U> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(DataVisitor(PhantomData))
    }
}

struct DataVisitor<U>(PhantomData<U>);

impl<'de, U: Deserialize<'de>> Visitor<'de> for DataVisitor<U> {
    type Value = RawData<'de, U>;

    fn expecting(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("an object or an array")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
        U::deserialize(serde::de::value::MapAccessDeserializer::new(map)).map(RawData::Update)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, seq: A) -> Result<Self::Value, A::Error> {
        Vec::<Str<'de>>::deserialize(serde::de::value::SeqAccessDeserializer::new(seq))
            .map(RawData::Names)
    }

    fn visit_unit<E>(self) -> Result<Self::Value, E> {
        Ok(RawData::Other)
    }
    fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
        Ok(RawData::Other)
    }
    fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
        Ok(RawData::Other)
    }
    fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
        Ok(RawData::Other)
    }
    fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
        Ok(RawData::Other)
    }
    fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
        Ok(RawData::Other)
    }
}

/// What [`scan_frame`] reads of a certificate update; every other field is
/// skipped unparsed.
#[derive(Deserialize)]
struct ScanUpdate<'a> {
    #[serde(default, borrow)]
    leaf_cert: Option<ScanLeaf<'a>>,
    #[serde(default)]
    seen: Option<MaybeNumber>,
}

#[derive(Deserialize, Default)]
struct ScanLeaf<'a> {
    /// The one field read strictly: without names there is nothing to match.
    #[serde(default, borrow)]
    all_domains: Option<Vec<Str<'a>>>,
    #[serde(default, borrow)]
    sha256: Option<MaybeStr<'a>>,
    #[serde(default, borrow)]
    sha1: Option<MaybeStr<'a>>,
    #[serde(default, borrow)]
    fingerprint: Option<MaybeStr<'a>>,
}

/// A whole certificate update, owned, every field lenient but the names.
#[derive(Deserialize)]
struct FullUpdate {
    #[serde(default)]
    update_type: Lenient<String>,
    #[serde(default)]
    leaf_cert: Option<FullLeaf>,
    #[serde(default)]
    cert_index: Lenient<u64>,
    #[serde(default)]
    cert_link: Lenient<String>,
    #[serde(default)]
    seen: Lenient<f64>,
    #[serde(default)]
    source: Lenient<FullSource>,
    /// The issuers (`/full-stream`), as text: read (leniently) only when
    /// the certstream server relays the certificate.
    #[serde(default)]
    chain: Option<Box<RawValue>>,
    #[serde(default)]
    submission_timestamp: Lenient<f64>,
}

#[derive(Deserialize, Default)]
struct FullLeaf {
    #[serde(default)]
    subject: Lenient<DistinguishedName>,
    #[serde(default)]
    issuer: Lenient<DistinguishedName>,
    #[serde(default)]
    extensions: Lenient<BTreeMap<String, serde_json::Value>>,
    #[serde(default)]
    not_before: Lenient<f64>,
    #[serde(default)]
    not_after: Lenient<f64>,
    #[serde(default)]
    serial_number: Lenient<String>,
    #[serde(default)]
    fingerprint: Lenient<String>,
    #[serde(default)]
    sha1: Lenient<String>,
    #[serde(default)]
    sha256: Lenient<String>,
    #[serde(default)]
    signature_algorithm: Lenient<String>,
    #[serde(default)]
    is_ca: Lenient<bool>,
    #[serde(default)]
    all_domains: Option<Vec<String>>,
    /// base64 DER (`/full-stream`).
    #[serde(default)]
    as_der: Lenient<String>,
}

#[derive(Deserialize, Default)]
struct FullSource {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default, rename = "type")]
    kind: Option<String>,
}

/// A frame's content, borrowing from its text.
enum Raw<'a, U> {
    Update(U),
    Names(Vec<Str<'a>>),
    Heartbeat,
    Other(String),
}

/// Strings the parse keeps are checked as UTF-8; skipped values (`as_der`,
/// `chain`) are only scanned, as serde_json does for any ignored value.
fn read<'a, U: Deserialize<'a>>(bytes: &'a [u8]) -> Result<Raw<'a, U>, FrameError> {
    let raw: RawFrame<'a, U> = serde_json::from_slice(bytes)?;
    let message_type = raw.message_type.ok_or(FrameError::MissingType)?;
    match message_type.0.as_ref() {
        "certificate_update" => match raw.data {
            Some(RawData::Update(update)) => Ok(Raw::Update(update)),
            _ => Err(FrameError::MissingData("certificate_update")),
        },
        "dns_entries" => match raw.data {
            Some(RawData::Names(names)) => Ok(Raw::Names(names)),
            _ => Err(FrameError::MissingData("dns_entries")),
        },
        "heartbeat" => Ok(Raw::Heartbeat),
        other => Ok(Raw::Other(other.to_owned())),
    }
}

fn domains_event(names: Vec<Str<'_>>, source_name: &str) -> Box<CertEvent> {
    Box::new(CertEvent {
        certificate: Certificate {
            all_domains: names.into_iter().map(Str::owned).collect(),
            update_type: UpdateType::DomainsOnly,
            ..Certificate::default()
        },
        ct: CtSource::default(),
        source: source_name.to_owned(),
        ..CertEvent::default()
    })
}

/// Parse one certstream message into whole events. `source_name` names the
/// configured source. Accepts and rejects exactly what [`scan_frame`] does.
pub fn parse_frame(bytes: &[u8], source_name: &str) -> Result<Frame, FrameError> {
    let source: Arc<str> = Arc::from(source_name);
    Ok(match scan_frame(Bytes::copy_from_slice(bytes), &source)? {
        Frame::Certificate(cert) => Frame::Certificate(Box::new(cert.relayed_event()?)),
        Frame::Domains(event) => Frame::Domains(event),
        Frame::Heartbeat => Frame::Heartbeat,
        Frame::Other(kind) => Frame::Other(kind),
    })
}

/// Check one certstream message and read a certificate update as far as
/// matching needs ([`FrameCert`]): what the pipeline runs on.
pub fn scan_frame(frame: Bytes, source: &Arc<str>) -> Result<Frame<Box<FrameCert>>, FrameError> {
    let (names, fingerprint, seen) = match read::<ScanUpdate>(&frame)? {
        Raw::Update(update) => {
            let seen = update.seen.and_then(|s| s.0).unwrap_or(0.0);
            let leaf = update.leaf_cert.unwrap_or_default();
            let names: Vec<String> = leaf
                .all_domains
                .unwrap_or_default()
                .into_iter()
                .map(Str::owned)
                .collect();
            // as CertEvent::dedup_fingerprint: sha256, else sha1, else fingerprint
            let fingerprint = [leaf.sha256, leaf.sha1, leaf.fingerprint]
                .into_iter()
                .filter_map(|s| s.and_then(|s| s.0))
                .find(|s| !s.0.is_empty())
                .map(Str::owned);
            (names, fingerprint, seen)
        }
        Raw::Names(names) => return Ok(Frame::Domains(domains_event(names, source))),
        Raw::Heartbeat => return Ok(Frame::Heartbeat),
        Raw::Other(kind) => return Ok(Frame::Other(kind)),
    };
    Ok(Frame::Certificate(Box::new(FrameCert {
        frame,
        source: source.clone(),
        names,
        fingerprint,
        seen,
    })))
}

impl FullLeaf {
    fn into_certificate(self, update_type: UpdateType) -> Certificate {
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
    fn into_event(self, source_name: &str, with_chain: bool) -> CertEvent {
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

    #[test]
    fn scan_reads_names_fingerprint_and_time_and_keeps_the_rest_for_later() {
        let msg = br#"{"message_type":"certificate_update","data":{
            "leaf_cert":{"all_domains":["paypa1.com","www.p\u0061ypa1.com"],
                         "sha256":"", "sha1":"AA:01", "fingerprint":"AA:02",
                         "issuer":{"O":"Let's Encrypt"}, "extensions":{"keyUsage":"x"}},
            "seen":1700000000.5, "as_der":"MIIB",
            "chain":[{"subject":{"CN":"R12"},"sha1":"BB:01"}]}}"#;
        let source: Arc<str> = "t".into();
        let Frame::Certificate(cert) = scan_frame(Bytes::from_static(msg), &source).unwrap() else {
            panic!("expected a certificate")
        };
        assert_eq!(cert.names(), ["paypa1.com", "www.paypa1.com"]);
        assert_eq!(cert.fingerprint(), Some("AA:01"));
        assert_eq!(cert.seen(), 1_700_000_000.5);
        let event = cert.event().unwrap();
        assert_eq!(event.certificate.issuer.O.as_deref(), Some("Let's Encrypt"));
        assert_eq!(event.certificate.extensions["keyUsage"], "x");
        assert_eq!(event.dedup_fingerprint(), cert.fingerprint());
        // the issuers are read only for relaying
        assert!(event.chain.is_empty());
        let relayed = cert.relayed_event().unwrap();
        assert_eq!(relayed.chain.len(), 1);
        assert_eq!(relayed.chain[0].subject.CN.as_deref(), Some("R12"));
        assert_eq!(relayed.chain[0].sha1, "BB:01");
        assert_eq!(
            CertEvent {
                chain: Vec::new(),
                ..relayed.clone()
            },
            event
        );
        let Frame::Certificate(full) = parse_frame(msg, "t").unwrap() else {
            panic!("expected a certificate")
        };
        assert_eq!(*full, relayed);
    }

    #[test]
    fn fields_of_the_wrong_type_are_read_as_absent_not_fatal() {
        let msg = br#"{"message_type":"certificate_update","data":{
            "update_type":7, "cert_index":"x", "seen":"soon", "source":[1],
            "leaf_cert":{"all_domains":["paypa1.com"], "subject":5, "issuer":{"CN":3},
                         "extensions":"none", "not_before":"x", "not_after":{"a":1},
                         "serial_number":12, "sha256":false, "sha1":[1,2], "fingerprint":"AB",
                         "is_ca":"no", "signature_algorithm":null}}}"#;
        let source: Arc<str> = "t".into();
        let Frame::Certificate(cert) = scan_frame(Bytes::from_static(msg), &source).unwrap() else {
            panic!("expected a certificate")
        };
        assert_eq!(cert.names(), ["paypa1.com"]);
        assert_eq!(cert.fingerprint(), Some("AB"));
        assert_eq!(cert.seen(), 0.0);
        let e = cert.event().unwrap();
        assert_eq!(e.certificate.all_domains, ["paypa1.com"]);
        assert_eq!(e.certificate.subject, DistinguishedName::default());
        assert_eq!(e.certificate.issuer, DistinguishedName::default());
        assert!(e.certificate.extensions.is_empty());
        assert_eq!(
            (e.certificate.not_before, e.certificate.not_after),
            (None, None)
        );
        assert_eq!(e.certificate.sha1, "AB");
        assert_eq!(e.certificate.is_ca, None);
        assert_eq!(e.ct.cert_index, None);
        // names are what matching needs: a wrong shape there rejects the frame
        let bad =
            br#"{"message_type":"certificate_update","data":{"leaf_cert":{"all_domains":[1]}}}"#;
        assert!(scan_frame(Bytes::from_static(bad), &source).is_err());
    }
}
