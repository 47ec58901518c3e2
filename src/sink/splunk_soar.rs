//! `splunk-soar`: Splunk SOAR (Phantom) containers, `POST <url>/rest/container`
//! with `ph-auth-token`.
//!
//! The container's `source_data_identifier` is the idempotency key; Splunk
//! SOAR answers a duplicate with `existing_container_id`, which counts as
//! delivered. Two inline artifacts carry the evidence in CEF fields: the
//! lookalike domain and the certificate.

use crate::config::SinkSettings;
use crate::incident::Incident;
use crate::matcher::Severity;
use reqwest::StatusCode;
use serde_json::json;

pub fn url(s: &SinkSettings) -> String {
    format!("{}/rest/container", s.url.trim_end_matches('/'))
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

pub fn body(incident: &Incident, s: &SinkSettings) -> serde_json::Value {
    let c = &incident.certificate;
    let key = incident.idempotency_key();
    let sev = severity(incident.severity);
    let names = super::lookalike_names(incident);
    json!({
        "name": incident.title(),
        "label": s.label,
        "severity": sev,
        "sensitivity": sensitivity(s.tlp),
        "status": "new",
        "source_data_identifier": key,
        "description": incident.detail.explanation,
        "tags": s.tags,
        "data": incident,
        "artifacts": [
            {
                "name": "Lookalike domain",
                "label": s.label,
                "severity": sev,
                "source_data_identifier": format!("{key}-domain"),
                "cef": {
                    "destinationDnsDomain": incident.registrable_domain,
                    "destinationHostName": incident.domain,
                    "lookalikeNames": names,
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
            },
            {
                "name": "Certificate",
                "label": s.label,
                "severity": sev,
                "source_data_identifier": format!("{key}-certificate"),
                "cef": {
                    "fileHashSha256": super::plain_hex(&c.sha256),
                    "fileHashSha1": super::plain_hex(&c.sha1),
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
            }
        ],
    })
}

pub fn auth(req: reqwest::RequestBuilder, s: &SinkSettings) -> reqwest::RequestBuilder {
    req.header("ph-auth-token", s.token.expose())
}

/// Splunk SOAR names the container that already has this
/// `source_data_identifier`: delivered before.
pub fn duplicate(_status: StatusCode, body: &str) -> bool {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v.get("existing_container_id").cloned())
        .is_some_and(|id| !id.is_null())
}

/// A 2xx that says `"failed": true` without naming a container.
pub fn refused(body: &str) -> Option<String> {
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
