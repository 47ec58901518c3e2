//! The certstream wire format: one JSON message to one [`Frame`].
//!
//! Recognises `certificate_update` (full and lite streams), `dns_entries`
//! (`/domains-only`) and `heartbeat`, and tolerates the schema drift seen on
//! real servers: missing issuer / sha1 / sha256 / is_ca, null subject keys,
//! `emailAddress` for `email_address`, a source URL without a scheme, unknown
//! fields, a field of an unexpected type (read as absent).
//!
//! Reading happens at two depths. [`scan_frame`], on every message, takes
//! only what matching needs (names, fingerprint, time) as a [`FrameCert`]
//! that keeps the text; it checks those members strictly and the rest (the
//! chain, the DER, the extensions: most of the bytes) for structure only,
//! with a vectorised skip. [`FrameCert::event`] builds the
//! whole [`CertEvent`] from that text when a name matched (about 1% of
//! certificates) or the certstream server re-serves it. [`parse_frame`]
//! does both at once. Shared by the websocket client and the replay source.

use super::message::{FullLeaf, FullUpdate, Lenient, UpdateMessage};
use super::scan::{Data, scan};
use crate::json::Str;
use crate::json::scan::SyntaxError;
use crate::model::{CertEvent, Certificate, CtSource, UpdateType};
use bytes::Bytes;
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
    Syntax(#[from] SyntaxError),
    #[error("not a certstream message: {0}")]
    Json(#[from] serde_json::Error),
    #[error("message has a member twice")]
    Duplicate,
    #[error("message has {0} of the wrong type")]
    Field(&'static str),
    #[error("message has no message_type")]
    MissingType,
    #[error("{0} message has no data of the right shape")]
    MissingData(&'static str),
}

/// A `certificate_update` whose names and fingerprint are read (and whose
/// other members are checked for structure, [`scan_frame`]); the rest stays
/// text until [`FrameCert::event`].
#[derive(Debug, Clone, PartialEq)]
pub struct FrameCert {
    frame: Bytes,
    source: Arc<str>,
    names: Vec<String>,
    fingerprint: Option<String>,
    seen: f64,
    /// Byte range of the `leaf_cert` object in `frame`.
    leaf: Option<(u32, u32)>,
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
        let whole = match serde_json::from_slice::<UpdateMessage>(&self.frame) {
            Ok(UpdateMessage { data: Some(update) }) => {
                return Ok(update.into_event(&self.source, with_chain));
            }
            Ok(_) => FrameError::MissingData("certificate_update"),
            Err(e) => e.into(),
        };
        // A member the scan only skipped is malformed. The leaf alone still
        // gives the certificate (a broken `chain` is the likely case).
        let leaf = self
            .leaf
            .and_then(|(start, end)| self.frame.get(start as usize..end as usize))
            .ok_or(whole)?;
        let leaf: FullLeaf = serde_json::from_slice(leaf)?;
        tracing::debug!(
            "certificate read from its leaf_cert alone: the message is malformed elsewhere"
        );
        let update = FullUpdate {
            update_type: Lenient::default(),
            leaf_cert: Some(leaf),
            cert_index: Lenient::default(),
            cert_link: Lenient::default(),
            seen: Lenient(Some(self.seen)),
            source: Lenient::default(),
            chain: None,
            submission_timestamp: Lenient::default(),
        };
        Ok(update.into_event(&self.source, with_chain))
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
///
/// The members it reads (`message_type`, `data`, `data.seen`,
/// `data.leaf_cert` and in it `all_domains`, `sha256`, `sha1`,
/// `fingerprint`) and the separators around them are checked as strictly as
/// serde_json checks them. Every other member, most of the message (`chain`,
/// `as_der`, the extensions, the names), is checked only for its structure
/// (strings end, brackets balance) by a vectorised skip, at a fraction of a
/// token-by-token parse; it is parsed in full by [`FrameCert::event`] if a
/// name matches, and a certificate whose unread members turn out malformed
/// then keeps what its `leaf_cert` gives.
pub fn scan_frame(frame: Bytes, source: &Arc<str>) -> Result<Frame<Box<FrameCert>>, FrameError> {
    let (message_type, data) = scan(&frame)?;
    let message_type = message_type.ok_or(FrameError::MissingType)?;
    let update = match (message_type.0.as_ref(), data) {
        ("certificate_update", Some(Data::Update(update))) => update,
        ("certificate_update", _) => return Err(FrameError::MissingData("certificate_update")),
        ("dns_entries", Some(Data::Names(names))) => {
            return Ok(Frame::Domains(domains_event(names, source)));
        }
        ("dns_entries", _) => return Err(FrameError::MissingData("dns_entries")),
        ("heartbeat", _) => return Ok(Frame::Heartbeat),
        (other, _) => return Ok(Frame::Other(other.to_owned())),
    };
    let names = update
        .names
        .unwrap_or_default()
        .into_iter()
        .map(Str::owned)
        .collect();
    // as CertEvent::dedup_fingerprint: sha256, else sha1, else fingerprint
    let fingerprint = match update
        .fingerprints
        .into_iter()
        .flatten()
        .find(|s| !s.is_empty())
    {
        Some(raw) => Some(raw.text()?.owned()),
        None => None,
    };
    let seen = update.seen.unwrap_or(0.0);
    let leaf = update.leaf;
    Ok(Frame::Certificate(Box::new(FrameCert {
        frame,
        source: source.clone(),
        names,
        fingerprint,
        seen,
        leaf,
    })))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::DistinguishedName;

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

    /// Real `/full-stream` messages with random bytes deleted, inserted or
    /// replaced: whatever serde_json accepts, the scan accepts with the same
    /// names and fingerprint; whatever the scan rejects as JSON, serde_json
    /// rejects.
    /// The scan may accept a message malformed only inside a member it
    /// skips; such a certificate still gives its event from its leaf, or
    /// an error, never a panic.
    #[test]
    fn scan_agrees_with_serde_json_on_mutated_real_frames() {
        let source: Arc<str> = "t".into();
        let (mut both, mut neither, mut only_scan) = (0, 0, 0);
        for (round, doc) in crate::json::frames::mutated_real_frames(6_000)
            .into_iter()
            .enumerate()
        {
            let serde: Option<serde_json::Value> = serde_json::from_slice(&doc).ok();
            let ours = scan_frame(Bytes::from(doc.clone()), &source);
            let text = String::from_utf8_lossy(&doc);
            match (&serde, &ours) {
                (Some(v), Ok(Frame::Certificate(cert))) => {
                    both += 1;
                    let leaf = &v["data"]["leaf_cert"];
                    let names: Vec<&str> = leaf["all_domains"]
                        .as_array()
                        .map(|a| a.iter().filter_map(|n| n.as_str()).collect())
                        .unwrap_or_default();
                    assert_eq!(cert.names(), names, "round {round}: {text}");
                    let fingerprint = ["sha256", "sha1", "fingerprint"]
                        .iter()
                        .filter_map(|k| leaf[*k].as_str())
                        .find(|f| !f.is_empty());
                    assert_eq!(cert.fingerprint(), fingerprint, "round {round}: {text}");
                    assert!(cert.event().is_ok(), "round {round}: {text}");
                }
                (Some(_), Ok(_)) => both += 1,
                // valid JSON that is not a certstream message (a key hit)
                (Some(_), Err(e)) => {
                    assert!(
                        !matches!(e, FrameError::Syntax(_) | FrameError::Json(_)),
                        "round {round}: scan rejects ({e}) what serde_json accepts: {text}"
                    );
                    neither += 1;
                }
                (None, Err(_)) => neither += 1,
                (None, Ok(Frame::Certificate(cert))) => {
                    only_scan += 1;
                    if let Ok(event) = cert.event() {
                        assert_eq!(event.certificate.all_domains, cert.names());
                    }
                }
                (None, Ok(_)) => only_scan += 1,
            }
        }
        // every outcome was exercised; a skipped member holds most bytes,
        // so most damage there goes unseen until a match reads it
        assert!(
            both > 300 && neither > 300 && only_scan > 300,
            "{both} / {neither} / {only_scan}"
        );
    }

    #[test]
    fn a_match_in_a_message_with_a_broken_chain_keeps_its_leaf() {
        let msg = br#"{"message_type":"certificate_update","data":{
            "leaf_cert":{"all_domains":["paypa1.com"],"sha1":"AA:01",
                         "issuer":{"O":"Let's Encrypt"},"serial_number":"0A"},
            "seen":1700000000.5, "cert_index": 12,
            "chain":[{"subject":{"CN":"R12"}, "sha1": 0x1F, "is_ca": tru}]}}"#;
        assert!(serde_json::from_slice::<serde_json::Value>(msg).is_err());
        let source: Arc<str> = "t".into();
        let Frame::Certificate(cert) = scan_frame(Bytes::from_static(msg), &source).unwrap() else {
            panic!("expected a certificate")
        };
        let event = cert.event().unwrap();
        assert_eq!(event.certificate.all_domains, ["paypa1.com"]);
        assert_eq!(event.certificate.issuer.O.as_deref(), Some("Let's Encrypt"));
        assert_eq!(event.certificate.serial_number, "0A");
        assert_eq!(event.ct.seen, 1_700_000_000.5);
        // what lay outside the leaf is not read from a broken message
        assert_eq!(event.ct.cert_index, None);
        assert!(cert.relayed_event().unwrap().chain.is_empty());
        // a broken leaf gives no event; the pipeline then keeps the names
        let msg = br#"{"message_type":"certificate_update","data":{
            "leaf_cert":{"all_domains":["paypa1.com"],"issuer":{"O":x}}}}"#;
        let Frame::Certificate(cert) = scan_frame(Bytes::from_static(msg), &source).unwrap() else {
            panic!("expected a certificate")
        };
        assert!(cert.event().is_err());
        // the structure is checked everywhere
        for broken in [
            &br#"{"message_type":"certificate_update","data":{"leaf_cert":{"all_domains":["a.com"]},"chain":[{"a":"}]}}"#[..],
            br#"{"message_type":"certificate_update","data":{"leaf_cert":{"all_domains":["a.com"],"as_der":"MII}}}"#,
            br#"{"message_type":"certificate_update","data":{"leaf_cert":{"all_domains":["a.com"]},"chain":[[]}}"#,
        ] {
            assert!(scan_frame(Bytes::from_static(broken), &source).is_err());
        }
    }
}
