//! `thehive`: TheHive 5 alerts, `POST <url>/api/v1/alert` with a bearer key
//! and an optional `X-Organisation`.
//!
//! `type` + `source` + `sourceRef` is unique in TheHive, so `sourceRef` is the
//! idempotency key and a duplicate answer ("already exists") means the alert
//! was delivered before. Observables: the lookalike's registrable domain, the
//! certificate's names under it, and the certificate's SHA-256, each once.

use crate::config::SinkSettings;
use crate::incident::Incident;
use reqwest::StatusCode;
use serde_json::json;
use std::collections::HashSet;

pub fn url(s: &SinkSettings) -> String {
    format!("{}/api/v1/alert", s.url.trim_end_matches('/'))
}

pub fn body(incident: &Incident, s: &SinkSettings) -> serde_json::Value {
    let c = &incident.certificate;
    let mut tags = vec![
        "certsentry".to_owned(),
        format!("brand:{}", incident.brand),
        format!("match:{}", incident.detail.kind.as_str()),
    ];
    tags.extend(s.tags.iter().cloned());
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
    push(
        "domain",
        incident.registrable_domain.clone(),
        "registrable domain of the lookalike",
        true,
    );
    for name in super::lookalike_names(incident) {
        push("fqdn", name, "certificate name under the lookalike", true);
    }
    push(
        "hash",
        super::plain_hex(&c.sha256),
        "certificate SHA-256",
        false,
    );
    let mut alert = json!({
        "type": s.alert_type,
        "source": "certsentry",
        "sourceRef": incident.idempotency_key(),
        "title": incident.title(),
        "description": super::markdown(incident),
        "date": super::epoch_ms(&incident.first_seen),
        "severity": incident.severity.xsoar(),
        "tlp": s.tlp,
        "pap": s.pap,
        "tags": tags,
        "observables": observables,
    });
    if !incident.ct.cert_link.is_empty() {
        alert["externalLink"] = json!(incident.ct.cert_link);
    }
    alert
}

pub fn auth(req: reqwest::RequestBuilder, s: &SinkSettings) -> reqwest::RequestBuilder {
    let req = req.bearer_auth(s.token.expose());
    if s.organisation.is_empty() {
        req
    } else {
        req.header("X-Organisation", &s.organisation)
    }
}

/// TheHive refuses a second alert with the same `sourceRef` with 400 (or 409)
/// "already exists": the first one was delivered.
pub fn duplicate(status: StatusCode, body: &str) -> bool {
    status == StatusCode::CONFLICT
        || (status == StatusCode::BAD_REQUEST
            && body.to_ascii_lowercase().contains("already exists"))
}
