//! `xsoar-webhook`: Cortex XSOAR's Generic Webhook integration
//! (`/instance/execute/<instance>`).
//!
//! Body `{"name", "type", "occurred", "raw_json"/"rawJson"}`: versions disagree
//! on the raw JSON key, so both are sent unless `raw_json_key` picks one. Auth
//! is HTTP Basic with the instance's credentials, or, for a username
//! `_header:<Name>`, the password sent as header `<Name>`.

use super::UnknownKeys;
use super::http::{HttpFormat, HttpSettings};
use crate::config::{ConfigError, invalid};
use crate::model::Incident;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct XsoarWebhookSettings {
    #[serde(flatten)]
    pub http: HttpSettings,
    /// XSOAR incident type.
    pub incident_type: String,
    /// XSOAR raw JSON key: `both`, `raw_json` or `rawJson`.
    pub raw_json_key: String,
    #[serde(flatten, skip_serializing)]
    pub unknown: UnknownKeys,
}

impl Default for XsoarWebhookSettings {
    fn default() -> Self {
        XsoarWebhookSettings {
            http: HttpSettings::default(),
            incident_type: "CertSentry Lookalike Domain".into(),
            raw_json_key: "both".into(),
            unknown: UnknownKeys::default(),
        }
    }
}

impl HttpFormat for XsoarWebhookSettings {
    fn body(&self, incident: &Incident) -> serde_json::Value {
        let raw = serde_json::to_value(incident).unwrap_or(serde_json::Value::Null);
        let mut body = json!({
            "name": incident.title(),
            "type": self.incident_type,
            "occurred": incident.first_seen,
        });
        if self.raw_json_key != "rawJson" {
            body["raw_json"] = raw.clone();
        }
        if self.raw_json_key != "raw_json" {
            body["rawJson"] = raw;
        }
        body
    }

    fn auth(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let s = &self.http;
        if let Some(header) = s.username.strip_prefix("_header:") {
            req.header(header, s.password.expose())
        } else if !s.username.is_empty() {
            req.basic_auth(&s.username, Some(s.password.expose()))
        } else {
            req
        }
    }

    fn http(&self) -> &HttpSettings {
        &self.http
    }

    fn unknown(&self) -> &UnknownKeys {
        &self.unknown
    }

    fn check(&self, key: &dyn Fn(&str) -> String) -> Result<(), ConfigError> {
        if !["both", "raw_json", "rawJson"].contains(&self.raw_json_key.as_str()) {
            return Err(invalid(
                key("raw_json_key"),
                "must be both, raw_json or rawJson",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_json_key_choice() {
        let incident: Incident = serde_json::from_value(json!({
            "id": "01JAAAAAAAAAAAAAAAAAAAAAAA", "dedup_key": "k", "first_seen": "2026-01-01T00:00:00.000Z",
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
        let mut s = XsoarWebhookSettings::default();
        let both = s.body(&incident);
        assert_eq!(both["name"], "Suspicious Domain Discovered - paypa1.com");
        assert_eq!(both["type"], "CertSentry Lookalike Domain");
        assert_eq!(both["occurred"], "2026-01-01T00:00:00.000Z");
        assert_eq!(both["raw_json"]["brand"], "paypal.com");
        assert_eq!(both["rawJson"]["brand"], "paypal.com");
        s.raw_json_key = "rawJson".into();
        let one = s.body(&incident);
        assert!(one.get("raw_json").is_none() && one.get("rawJson").is_some());
    }
}
