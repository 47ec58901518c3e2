//! `xsoar-rest`: Cortex XSOAR's REST API, `POST <url>/incident` (XSOAR 6) or
//! `POST <url>/xsoar/public/v1/incident` (XSOAR 8 with `x-xdr-auth-id`).
//!
//! The incident arrives with its severity on XSOAR's scale and `CustomFields`
//! named like the CertStream pack's fields, so layouts built for that pack
//! show certsentry's incidents unchanged. `rawJSON` is the incident as a JSON
//! string. `id`/`version` are never sent: that would update an incident.
//! The `certsentry*` fields are defined in `xsoar/incidentfields-certsentry.json`.

use crate::config::SinkSettings;
use crate::incident::Incident;
use serde_json::json;

pub fn url(s: &SinkSettings) -> String {
    let base = s.url.trim_end_matches('/');
    match s.xsoar_version {
        8 => format!("{base}/xsoar/public/v1/incident"),
        _ => format!("{base}/incident"),
    }
}

pub fn body(incident: &Incident, s: &SinkSettings) -> serde_json::Value {
    let raw = serde_json::to_string(incident).unwrap_or_default();
    let c = &incident.certificate;
    let mut labels = vec![
        json!({"type": "Brand", "value": incident.brand}),
        json!({"type": "Domain", "value": incident.domain}),
        json!({"type": "MatchKind", "value": incident.detail.kind.as_str()}),
        json!({"type": "Score", "value": incident.score.to_string()}),
        json!({"type": "CertificateSHA256", "value": c.sha256}),
        json!({"type": "IdempotencyKey", "value": incident.idempotency_key()}),
    ];
    if let Some(issuer) = c.issuer.O.as_ref().or(c.issuer.CN.as_ref()) {
        labels.push(json!({"type": "Issuer", "value": issuer}));
    }
    if let Some(parent) = &incident.update_of {
        labels.push(json!({"type": "UpdateOf", "value": parent}));
    }
    json!({
        "name": incident.title(),
        "type": s.incident_type,
        "severity": incident.severity.xsoar(),
        "occurred": incident.first_seen,
        "details": incident.detail.explanation,
        "labels": labels,
        "CustomFields": {
            "certstreamfingerprint": c.sha1,
            "certstreamlevenshteindistance": incident.similarity(),
            "certstreamuserasset": incident.brand,
            "certstreamcertificatesource": incident.ct.log_name,
            "certstreamcertificateindex": incident.ct.cert_index,
            "domain": incident.domain,
            "externallink": incident.ct.cert_link,
            "certsentryscore": incident.score,
            "certsentrymatchkind": incident.detail.kind.as_str(),
            "certsentryexplanation": incident.detail.explanation,
            "certsentrycertificatesha256": c.sha256,
            "certsentrycertificatenames": c.all_domains.join(", "),
            "certsentrycertificateissuer": c.issuer.aggregated,
            "certsentrydedupkey": incident.dedup_key,
        },
        "rawJSON": raw,
        "createInvestigation": s.create_investigation,
    })
}

pub fn auth(req: reqwest::RequestBuilder, s: &SinkSettings) -> reqwest::RequestBuilder {
    let req = req.header(reqwest::header::AUTHORIZATION, s.token.expose());
    if s.xsoar_version == 8 {
        req.header("x-xdr-auth-id", &s.api_key_id)
    } else {
        req
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_by_version() {
        let mut s = SinkSettings {
            url: "https://xsoar.example.com/".into(),
            ..SinkSettings::default()
        };
        assert_eq!(url(&s), "https://xsoar.example.com/incident");
        s.xsoar_version = 8;
        s.url = "https://api-tenant.xdr.eu.paloaltonetworks.com".into();
        assert_eq!(
            url(&s),
            "https://api-tenant.xdr.eu.paloaltonetworks.com/xsoar/public/v1/incident"
        );
    }
}
