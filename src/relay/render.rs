//! certstream's three message shapes, rendered from a [`CertEvent`]:
//! `/full-stream` (everything, with `as_der` and `chain`), `/` ("lite":
//! without them) and `/domains-only` (`dns_entries`). Byte-for-byte the keys
//! reference/certstream.md lists, so existing certstream clients parse them.

use crate::model::{CertEvent, Certificate, UpdateType};
use serde_json::{Map, Value, json};

/// The three endpoints' formats.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum StreamFormat {
    Full,
    Lite,
    DomainsOnly,
}

impl StreamFormat {
    pub const ALL: [StreamFormat; 3] = [
        StreamFormat::Full,
        StreamFormat::Lite,
        StreamFormat::DomainsOnly,
    ];

    /// The websocket path serving this format.
    pub fn path(self) -> &'static str {
        match self {
            StreamFormat::Full => "/full-stream",
            StreamFormat::Lite => "/",
            StreamFormat::DomainsOnly => "/domains-only",
        }
    }
}

fn cert_fields(c: &Certificate) -> Map<String, Value> {
    let mut m = Map::new();
    m.insert("subject".into(), json!(c.subject));
    m.insert("issuer".into(), json!(c.issuer));
    m.insert("serial_number".into(), json!(c.serial_number));
    m.insert("not_before".into(), json!(c.not_before));
    m.insert("not_after".into(), json!(c.not_after));
    m.insert("fingerprint".into(), json!(c.sha1));
    m.insert("sha1".into(), json!(c.sha1));
    m.insert("sha256".into(), json!(c.sha256));
    m.insert("signature_algorithm".into(), json!(c.signature_algorithm));
    m.insert("is_ca".into(), json!(c.is_ca.unwrap_or(false)));
    m.insert("extensions".into(), json!(c.extensions));
    m
}

/// One message in `format`.
pub fn render(event: &CertEvent, format: StreamFormat) -> Value {
    let c = &event.certificate;
    if format == StreamFormat::DomainsOnly || c.update_type == UpdateType::DomainsOnly {
        return json!({"message_type": "dns_entries", "data": c.all_domains});
    }
    let mut leaf = cert_fields(c);
    leaf.insert("all_domains".into(), json!(c.all_domains));
    let full = format == StreamFormat::Full;
    if full && let Some(der) = &event.as_der {
        leaf.insert("as_der".into(), json!(der));
    }
    let update_type = match c.update_type {
        UpdateType::PrecertLogEntry => "PrecertLogEntry",
        _ => "X509LogEntry",
    };
    let mut data = Map::new();
    data.insert("update_type".into(), json!(update_type));
    data.insert("leaf_cert".into(), Value::Object(leaf));
    if full && !event.chain.is_empty() {
        let chain: Vec<Value> = event
            .chain
            .iter()
            .map(|c| Value::Object(cert_fields(c)))
            .collect();
        data.insert("chain".into(), Value::Array(chain));
    }
    data.insert("cert_index".into(), json!(event.ct.cert_index));
    data.insert("cert_link".into(), json!(event.ct.cert_link));
    data.insert("seen".into(), json!(event.ct.seen));
    if let Some(ts) = event.submission_timestamp {
        data.insert("submission_timestamp".into(), json!(ts));
    }
    data.insert(
        "source".into(),
        json!({"name": event.ct.log_name, "url": event.ct.log_url}),
    );
    json!({"message_type": "certificate_update", "data": data})
}
