//! `thehive`: TheHive 5 alerts, `POST <url>/api/v1/alert` with a bearer key
//! and an optional `X-Organisation`.
//!
//! `type` + `source` + `sourceRef` is unique in TheHive, so `sourceRef` is the
//! idempotency key and a duplicate answer ("already exists") means the alert
//! was delivered before. Observables: the lookalike's registrable domain, the
//! certificate's names under it, and the certificate's SHA-256, each once;
//! once enriched, also its addresses, mail exchangers, live URL and the
//! registrar's abuse e-mail, with the verdicts as tags.
//!
//! An update goes to the alert the first delivery made (its `_id`, kept
//! per sink): `PATCH /api/v1/alert/<id>` (title, description, severity,
//! tags), then `POST /api/v1/alert/<id>/observable` for each observable
//! enrichment found. An incident delivered without an `_id` in the answer
//! (an "already exists") gets its updates as alerts of their own.

use super::UnknownKeys;
use super::evidence::{Enriched, lookalike_names, markdown, plain_hex};
use super::http::{Call, HttpFormat, HttpSettings, record_id};
use super::outcome::Outcome;
use crate::config::{ConfigError, invalid};
use crate::model::Incident;
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashSet;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct TheHiveSettings {
    #[serde(flatten)]
    pub http: HttpSettings,
    /// `X-Organisation` header.
    pub organisation: String,
    /// Alert type; `source` is always `certsentry`.
    pub alert_type: String,
    /// Traffic light protocol 0 white … 3 red.
    pub tlp: u8,
    /// Permissible actions protocol 0 … 3.
    pub pap: u8,
    /// Tags added to every alert.
    pub tags: Vec<String>,
    #[serde(flatten, skip_serializing)]
    pub unknown: UnknownKeys,
}

impl Default for TheHiveSettings {
    fn default() -> Self {
        TheHiveSettings {
            http: HttpSettings::default(),
            organisation: String::new(),
            alert_type: "lookalike-domain".into(),
            tlp: 2,
            pap: 2,
            tags: Vec::new(),
            unknown: UnknownKeys::default(),
        }
    }
}

impl HttpFormat for TheHiveSettings {
    fn url(&self) -> String {
        format!("{}/api/v1/alert", self.http.url.trim_end_matches('/'))
    }

    fn body(&self, incident: &Incident) -> serde_json::Value {
        let mut alert = json!({
            "type": self.alert_type,
            "source": "certsentry",
            "sourceRef": incident.idempotency_key(),
            "title": incident.title(),
            "description": markdown(incident),
            "date": incident.first_seen.unix_ms(),
            "severity": incident.severity.xsoar(),
            "tlp": self.tlp,
            "pap": self.pap,
            "tags": self.tags_of(incident),
            "observables": observables(incident, false),
        });
        if !incident.ct.cert_link.is_empty() {
            alert["externalLink"] = json!(incident.ct.cert_link);
        }
        alert
    }

    /// In place: the alert's severity, description and tags, then each
    /// observable enrichment found (one it has already is a duplicate,
    /// which counts as delivered).
    fn update(&self, incident: &Incident, record: &str) -> Vec<Call> {
        let alert = format!("{}/{record}", self.url());
        let mut calls = vec![Call {
            method: reqwest::Method::PATCH,
            url: alert.clone(),
            body: json!({
                "title": incident.title(),
                "description": markdown(incident),
                "severity": incident.severity.xsoar(),
                "tags": self.tags_of(incident),
            }),
        }];
        for observable in observables(incident, true) {
            calls.push(Call {
                method: reqwest::Method::POST,
                url: format!("{alert}/observable"),
                body: observable,
            });
        }
        calls
    }

    fn reads_success_body(&self) -> bool {
        true
    }

    /// The created alert's `_id`.
    fn record_id(&self, body: &str) -> Option<String> {
        let v: serde_json::Value = serde_json::from_str(body).ok()?;
        record_id(v.get("_id")?)
    }

    fn auth(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let req = req.bearer_auth(self.http.token.expose());
        if self.organisation.is_empty() {
            req
        } else {
            req.header("X-Organisation", &self.organisation)
        }
    }

    fn http(&self) -> &HttpSettings {
        &self.http
    }

    fn unknown(&self) -> &UnknownKeys {
        &self.unknown
    }

    fn check(&self, key: &dyn Fn(&str) -> String) -> Result<(), ConfigError> {
        if self.tlp > 3 {
            return Err(invalid(key("tlp"), "must be 0 to 3"));
        }
        if self.pap > 3 {
            return Err(invalid(key("pap"), "must be 0 to 3"));
        }
        self.http.require_token(key, "thehive")
    }

    fn judge(&self, status: StatusCode, body: &str) -> Option<Outcome> {
        duplicate(status, body).then_some(Outcome::Delivered)
    }
}

impl TheHiveSettings {
    fn tags_of(&self, incident: &Incident) -> Vec<String> {
        let mut tags: Vec<String> = vec![
            "certsentry".to_owned(),
            format!("brand:{}", incident.brand),
            format!("match:{}", incident.detail.kind.as_str()),
        ];
        if incident.tenant != crate::watchlist::DEFAULT_TENANT {
            tags.push(format!("tenant:{}", incident.tenant));
        }
        tags.extend(self.tags.iter().cloned());
        let found = Enriched::of(incident);
        tags.extend(found.verdicts.iter().map(|v| format!("verdict:{v}")));
        tags
    }
}

/// The alert's observables, each once: the lookalike's registrable domain,
/// its names in the certificate and the certificate's hash, then what
/// enrichment found (`enriched_only`: just those).
fn observables(incident: &Incident, enriched_only: bool) -> Vec<serde_json::Value> {
    let mut seen = HashSet::new();
    let mut observables = Vec::new();
    let mut push = |data_type: &str, data: String, message: &str, ioc: bool| {
        if !data.is_empty() && seen.insert(data.clone()) {
            observables.push(json!({
                "dataType": data_type,
                "data": data,
                "ioc": ioc,
                "tags": ["certsentry", format!("brand:{}", incident.brand)],
                "message": message,
            }));
        }
    };
    if !enriched_only {
        push(
            "domain",
            incident.registrable_domain.clone(),
            "registrable domain of the lookalike",
            true,
        );
        for name in lookalike_names(incident) {
            push("fqdn", name, "certificate name under the lookalike", true);
        }
        let sha256 = plain_hex(&incident.certificate.sha256);
        push("hash", sha256, "certificate SHA-256", false);
    }
    let found = Enriched::of(incident);
    for ip in &found.ips {
        push("ip", ip.clone(), "address the lookalike resolves to", true);
    }
    for mx in &found.mx {
        push("fqdn", mx.clone(), "mail exchanger of the lookalike", true);
    }
    if let Some(url) = &found.live_url {
        push("url", url.clone(), "the lookalike's live page", true);
    }
    if let Some(mail) = &found.abuse_email {
        push("mail", mail.clone(), "the registrar's abuse contact", false);
    }
    observables
}

/// TheHive refuses a second alert with the same `sourceRef` with 400 (or 409)
/// "already exists": the first one was delivered.
fn duplicate(status: StatusCode, body: &str) -> bool {
    status == StatusCode::CONFLICT
        || (status == StatusCode::BAD_REQUEST
            && body.to_ascii_lowercase().contains("already exists"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::evidence::tests::enriched_incident;

    #[test]
    fn an_enriched_alert_carries_addresses_mail_exchangers_and_the_live_url() {
        let body = TheHiveSettings::default().body(&enriched_incident());
        let has = |t: &str, d: &str| {
            body["observables"]
                .as_array()
                .unwrap()
                .iter()
                .any(|o| o["dataType"] == t && o["data"] == d)
        };
        assert!(
            has("ip", "203.0.113.7") && has("ip", "2001:db8::7"),
            "{body}"
        );
        assert!(has("fqdn", "mx.paypa1.com"));
        assert!(has("url", "https://paypa1.com/login"));
        assert!(has("mail", "abuse@namecheap.com"));
        assert!(has("domain", "paypa1.com"));
        let tags = body["tags"].as_array().unwrap();
        assert!(tags.iter().any(|t| t == "verdict:login_form"), "{body}");
        assert!(
            !tags
                .iter()
                .any(|t| t.as_str().unwrap().starts_with("tenant:"))
        );
    }

    #[test]
    fn another_tenant_s_alert_is_tagged_with_it() {
        let incident = enriched_incident().for_tenant("acme");
        let body = TheHiveSettings::default().body(&incident);
        let tags = body["tags"].as_array().unwrap();
        assert!(tags.iter().any(|t| t == "tenant:acme"), "{body}");
        assert_eq!(body["sourceRef"], incident.dedup_key.as_str());
    }
}
