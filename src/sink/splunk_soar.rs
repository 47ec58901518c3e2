//! `splunk-soar`: Splunk SOAR (Phantom) containers, `POST <url>/rest/container`
//! with `ph-auth-token`.
//!
//! The container's `source_data_identifier` is the idempotency key; Splunk
//! SOAR answers a duplicate with `existing_container_id`, which counts as
//! delivered. Two inline artifacts carry the evidence in CEF fields: the
//! lookalike domain and the certificate (and a third, once enriched).
//!
//! An update goes to the container the first delivery made (its `id` or
//! `existing_container_id`, kept per sink): `POST /rest/container/<id>`
//! with the severity and description, then `POST /rest/artifact` into it
//! with the enrichment (or the new certificate of a repeat sighting).

use super::UnknownKeys;
use super::evidence::{Enriched, lookalike_names, plain_hex};
use super::http::{Call, HttpFormat, HttpSettings, record_id};
use super::outcome::{Outcome, snippet};
use crate::config::{ConfigError, invalid};
use crate::model::{Incident, Severity};
use reqwest::StatusCode;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct SplunkSoarSettings {
    #[serde(flatten)]
    pub http: HttpSettings,
    /// Container and artifact label (must exist in Splunk SOAR).
    pub label: String,
    /// Traffic light protocol 0 white … 3 red: the container's sensitivity.
    pub tlp: u8,
    /// Tags added to every container.
    pub tags: Vec<String>,
    #[serde(flatten, skip_serializing)]
    pub unknown: UnknownKeys,
}

impl Default for SplunkSoarSettings {
    fn default() -> Self {
        SplunkSoarSettings {
            http: HttpSettings::default(),
            label: "events".into(),
            tlp: 2,
            tags: Vec::new(),
            unknown: UnknownKeys::default(),
        }
    }
}

/// Splunk SOAR's default severities are low, medium and high.
fn severity(s: Severity) -> &'static str {
    match s {
        Severity::Low => "low",
        Severity::Medium => "medium",
        Severity::High | Severity::Critical => "high",
    }
}

fn sensitivity(tlp: u8) -> &'static str {
    ["white", "green", "amber", "red"][usize::from(tlp.min(3))]
}

impl HttpFormat for SplunkSoarSettings {
    fn url(&self) -> String {
        format!("{}/rest/container", self.http.url.trim_end_matches('/'))
    }

    fn body(&self, incident: &Incident) -> serde_json::Value {
        let key = incident.idempotency_key();
        // the certificate's artifact stays the last, the one that runs automation
        let mut artifacts = vec![self.domain_artifact(incident, &key)];
        artifacts.extend(self.enrichment_artifact(incident, &key));
        artifacts.push(self.certificate_artifact(incident, &key));
        let mut tags = self.tags.clone();
        if incident.tenant != crate::watchlist::DEFAULT_TENANT {
            tags.push(format!("tenant:{}", incident.tenant));
        }
        json!({
            "name": incident.title(),
            "label": self.label,
            "severity": severity(incident.severity),
            "sensitivity": sensitivity(self.tlp),
            "status": "new",
            "source_data_identifier": key,
            "description": incident.detail.explanation,
            "tags": tags,
            "data": incident,
            "artifacts": artifacts,
        })
    }

    /// In place: the container's severity and description, then one
    /// artifact with what changed: the enrichment, or the new certificate
    /// of a repeat sighting. Its `source_data_identifier` is the update's
    /// key, so a second attempt names the artifact that exists.
    fn update(&self, incident: &Incident, record: &str) -> Vec<Call> {
        let base = self.http.url.trim_end_matches('/');
        let key = incident.idempotency_key();
        let mut artifact = match self.enrichment_artifact(incident, &key) {
            Some(enrichment) if incident.enrichment_update.is_some() => enrichment,
            _ => self.certificate_artifact(incident, &key),
        };
        // Splunk SOAR's ids are numbers
        artifact["container_id"] = match record.parse::<u64>() {
            Ok(n) => json!(n),
            Err(_) => json!(record),
        };
        vec![
            Call {
                method: reqwest::Method::POST,
                url: format!("{base}/rest/container/{record}"),
                body: json!({
                    "severity": severity(incident.severity),
                    "description": incident.detail.explanation,
                }),
            },
            Call {
                method: reqwest::Method::POST,
                url: format!("{base}/rest/artifact"),
                body: artifact,
            },
        ]
    }

    fn auth(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        req.header("ph-auth-token", self.http.token.expose())
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
        self.http.require_token(key, "splunk-soar")?;
        if self.label.is_empty() {
            return Err(invalid(key("label"), "must not be empty"));
        }
        Ok(())
    }

    fn reads_success_body(&self) -> bool {
        true
    }

    /// The container's `id`, or the one that had this key already.
    fn record_id(&self, body: &str) -> Option<String> {
        let v: serde_json::Value = serde_json::from_str(body).ok()?;
        ["id", "existing_container_id"]
            .iter()
            .find_map(|k| v.get(*k).and_then(record_id))
    }

    fn judge(&self, status: StatusCode, body: &str) -> Option<Outcome> {
        if duplicate(body) && !status.is_server_error() {
            return Some(Outcome::Delivered);
        }
        if !status.is_success() {
            return None;
        }
        Some(match refused(body) {
            Some(message) => Outcome::Failed(format!("HTTP {status}: {}", snippet(&message))),
            None => Outcome::Delivered,
        })
    }
}

impl SplunkSoarSettings {
    fn domain_artifact(&self, incident: &Incident, key: &str) -> serde_json::Value {
        json!({
            "name": "Lookalike domain",
            "label": self.label,
            "severity": severity(incident.severity),
            "source_data_identifier": format!("{key}-domain"),
            "cef": {
                "destinationDnsDomain": incident.registrable_domain,
                "destinationHostName": incident.domain,
                "lookalikeNames": lookalike_names(incident),
                "brand": incident.brand,
                "matchKind": incident.detail.kind.as_str(),
                "score": incident.score,
                "explanation": incident.detail.explanation,
            },
            "cef_types": {
                "destinationDnsDomain": ["domain"],
                "destinationHostName": ["host name", "domain"],
                "brand": ["domain"],
            },
            "run_automation": false,
        })
    }

    fn certificate_artifact(&self, incident: &Incident, key: &str) -> serde_json::Value {
        let c = &incident.certificate;
        json!({
            "name": "Certificate",
            "label": self.label,
            "severity": severity(incident.severity),
            "source_data_identifier": format!("{key}-certificate"),
            "cef": {
                "fileHashSha256": plain_hex(&c.sha256),
                "fileHashSha1": plain_hex(&c.sha1),
                "certificateSerialNumber": c.serial_number,
                "certificateSubject": c.subject.aggregated,
                "certificateIssuer": c.issuer.aggregated,
                "certificateNotBefore": c.not_before,
                "certificateNotAfter": c.not_after,
                "certificateNames": c.all_domains,
                "ctLog": incident.ct.log_name,
                "ctIndex": incident.ct.cert_index,
                "ctLink": incident.ct.cert_link,
            },
            "cef_types": {
                "fileHashSha256": ["sha256", "hash"],
                "fileHashSha1": ["sha1", "hash"],
                "ctLink": ["url"],
            },
            "run_automation": true,
        })
    }

    /// What enrichment found, once it has found anything.
    fn enrichment_artifact(&self, incident: &Incident, key: &str) -> Option<serde_json::Value> {
        let found = Enriched::of(incident);
        if found.is_empty() {
            return None;
        }
        Some(json!({
            "name": "Enrichment",
            "label": self.label,
            "severity": severity(incident.severity),
            "source_data_identifier": format!("{key}-enrichment"),
            "cef": {
                "destinationAddress": found.ips.first(),
                "addresses": found.ips,
                "mailExchangers": found.mx,
                "requestURL": found.live_url,
                "verdicts": found.verdicts,
                "registrar": found.registrar,
                "registered": found.registered,
                "abuseEmail": found.abuse_email,
            },
            "cef_types": {
                "destinationAddress": ["ip"],
                "requestURL": ["url"],
                "mailExchangers": ["host name"],
                "abuseEmail": ["email"],
            },
            "run_automation": false,
        }))
    }
}

/// Splunk SOAR names the container (or artifact) that already has this
/// `source_data_identifier`: delivered before.
fn duplicate(body: &str) -> bool {
    let Ok(v) = serde_json::from_str::<serde_json::Value>(body) else {
        return false;
    };
    ["existing_container_id", "existing_artifact_id"]
        .iter()
        .any(|k| v.get(*k).is_some_and(|id| !id.is_null()))
}

/// A 2xx that says `"failed": true` without naming a container.
fn refused(body: &str) -> Option<String> {
    let v: serde_json::Value = serde_json::from_str(body).ok()?;
    if v.get("failed").and_then(|f| f.as_bool()) == Some(true) {
        Some(
            v.get("message")
                .and_then(|m| m.as_str())
                .unwrap_or("failed")
                .to_owned(),
        )
    } else {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sink::evidence::tests::enriched_incident;

    #[test]
    fn an_enriched_container_gets_an_enrichment_artifact_before_the_certificate() {
        let body = SplunkSoarSettings::default().body(&enriched_incident());
        let artifacts = body["artifacts"].as_array().unwrap();
        assert_eq!(artifacts.len(), 3, "{body}");
        let e = &artifacts[1];
        assert_eq!(e["name"], "Enrichment");
        assert_eq!(e["cef"]["destinationAddress"], "203.0.113.7");
        assert_eq!(e["cef"]["requestURL"], "https://paypa1.com/login");
        assert_eq!(e["cef"]["mailExchangers"][0], "mx.paypa1.com");
        assert_eq!(artifacts[2]["name"], "Certificate");
        assert_eq!(artifacts[2]["run_automation"], true);
        let mut bare = enriched_incident();
        bare.enrichment.clear();
        let body = SplunkSoarSettings::default().body(&bare);
        assert_eq!(body["artifacts"].as_array().unwrap().len(), 2);
    }

    #[test]
    fn another_tenant_s_container_is_tagged_with_it() {
        let s = SplunkSoarSettings {
            tags: vec!["ct".into()],
            ..SplunkSoarSettings::default()
        };
        assert_eq!(
            s.body(&enriched_incident())["tags"],
            serde_json::json!(["ct"])
        );
        let body = s.body(&enriched_incident().for_tenant("acme"));
        assert_eq!(body["tags"], serde_json::json!(["ct", "tenant:acme"]));
    }
}
