//! `xsoar-webhook`: Cortex XSOAR's Generic Webhook integration
//! (`/instance/execute/<instance>`).
//!
//! Body `{"name", "type", "occurred", "raw_json"/"rawJson"}`: versions disagree
//! on the raw JSON key, so both are sent unless `raw_json_key` picks one. Auth
//! is HTTP Basic with the instance's credentials, or, for a username
//! `_header:<Name>`, the password sent as header `<Name>`.

use crate::config::SinkSettings;
use crate::incident::Incident;
use serde_json::json;

pub fn body(incident: &Incident, s: &SinkSettings) -> serde_json::Value {
    let raw = serde_json::to_value(incident).unwrap_or(serde_json::Value::Null);
    let mut body = json!({
        "name": format!("Suspicious Domain Discovered - {}", incident.domain),
        "type": s.incident_type,
        "occurred": incident.first_seen,
    });
    if s.raw_json_key != "rawJson" {
        body["raw_json"] = raw.clone();
    }
    if s.raw_json_key != "raw_json" {
        body["rawJson"] = raw;
    }
    body
}

pub fn auth(req: reqwest::RequestBuilder, s: &SinkSettings) -> reqwest::RequestBuilder {
    if let Some(header) = s.username.strip_prefix("_header:") {
        req.header(header, s.password.expose())
    } else if !s.username.is_empty() {
        req.basic_auth(&s.username, Some(s.password.expose()))
    } else {
        req
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_json_key_choice() {
        let incident: Incident = serde_json::from_value(json!({
            "id": "01J", "dedup_key": "k", "first_seen": "2026-01-01T00:00:00.000Z",
            "last_seen": "2026-01-01T00:00:00.000Z", "sightings": 1, "brand": "paypal.com",
            "domain": "paypa1.com", "domain_unicode": "paypa1.com", "registrable_domain": "paypa1.com",
            "match": {"kind": "exact_variant", "variant": "paypa1", "distance": null, "similarity": null,
                      "skeleton": null, "mixed_scripts": false, "explanation": "x"},
            "score": 95, "severity": "critical", "certificate": {
                "subject": {}, "issuer": {}, "all_domains": ["paypa1.com"], "serial_number": "01",
                "sha1": "", "sha256": "", "not_before": null, "not_after": null,
                "signature_algorithm": "", "is_ca": null, "update_type": "X509LogEntry", "extensions": {}},
            "ct": {"log_name": "", "log_url": "", "cert_index": null, "cert_link": "", "seen": 0.0}
        }))
        .unwrap();
        let mut s = SinkSettings::default();
        let both = body(&incident, &s);
        assert_eq!(both["name"], "Suspicious Domain Discovered - paypa1.com");
        assert_eq!(both["type"], "CertStream Suspicious Domain");
        assert_eq!(both["occurred"], "2026-01-01T00:00:00.000Z");
        assert_eq!(both["raw_json"]["brand"], "paypal.com");
        assert_eq!(both["rawJson"]["brand"], "paypal.com");
        s.raw_json_key = "rawJson".into();
        let one = body(&incident, &s);
        assert!(one.get("raw_json").is_none() && one.get("rawJson").is_some());
    }
}
