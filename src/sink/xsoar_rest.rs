//! `xsoar-rest`: Cortex XSOAR's REST API, `POST <url>/incident` (XSOAR 6) or
//! `POST <url>/xsoar/public/v1/incident` (XSOAR 8 with `x-xdr-auth-id`).
//!
//! The incident arrives with its severity on XSOAR's scale and `CustomFields`
//! named like the CertStream pack's fields, so layouts built for that pack
//! show certsentry's incidents unchanged. `rawJSON` is the incident as a JSON
//! string. `id`/`version` are never sent: that would update an incident.
//! The `certsentry*` fields and the incident type are the XSOAR pack's
//! (`xsoar/Packs/CertSentry`); the `certstream*` ones need the CertStream pack.
//! What enrichment found fills the pack's enrichment fields. An update is
//! sent as an incident of its own (label `UpdateOf`): XSOAR's create call
//! cannot safely update one, so the pack's incoming mirroring is what keeps
//! a fetched incident in step.

use super::UnknownKeys;
use super::evidence::{Enriched, similarity};
use super::http::{HttpFormat, HttpSettings};
use crate::config::{ConfigError, invalid};
use crate::model::Incident;
use serde::{Deserialize, Serialize};
use serde_json::json;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct XsoarRestSettings {
    #[serde(flatten)]
    pub http: HttpSettings,
    /// XSOAR incident type.
    pub incident_type: String,
    /// 6 (`<url>/incident`) or 8 (`<url>/xsoar/public/v1/incident`).
    pub xsoar_version: u8,
    /// XSOAR 8: the API key's id (`x-xdr-auth-id`).
    pub api_key_id: String,
    /// Open a war room for each incident.
    pub create_investigation: bool,
    #[serde(flatten, skip_serializing)]
    pub unknown: UnknownKeys,
}

impl Default for XsoarRestSettings {
    fn default() -> Self {
        XsoarRestSettings {
            http: HttpSettings::default(),
            incident_type: "CertSentry Lookalike Domain".into(),
            xsoar_version: 6,
            api_key_id: String::new(),
            create_investigation: true,
            unknown: UnknownKeys::default(),
        }
    }
}

impl HttpFormat for XsoarRestSettings {
    fn url(&self) -> String {
        let base = self.http.url.trim_end_matches('/');
        match self.xsoar_version {
            8 => format!("{base}/xsoar/public/v1/incident"),
            _ => format!("{base}/incident"),
        }
    }

    fn body(&self, incident: &Incident) -> serde_json::Value {
        let s = self;
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
        if incident.tenant != crate::watchlist::DEFAULT_TENANT {
            labels.push(json!({"type": "Tenant", "value": incident.tenant}));
        }
        let found = Enriched::of(incident);
        let verdicts = found.verdicts.join(", ");
        let ips = found.ips.join(", ");
        let mx = found.mx.join(", ");
        let asns = found.asns.join(", ");
        let evidence = found.raised_by.join("; ");
        json!({
            "name": incident.title(),
            "type": s.incident_type,
            "severity": incident.severity.xsoar(),
            "occurred": incident.first_seen,
            "details": incident.detail.explanation,
            "labels": labels,
            "CustomFields": {
                "certstreamfingerprint": c.sha1,
                "certstreamlevenshteindistance": similarity(incident),
                "certstreamuserasset": incident.brand,
                "certstreamcertificatesource": incident.ct.log_name,
                "certstreamcertificateindex": incident.ct.cert_index,
                "domain": incident.registrable_domain,
                "externallink": incident.ct.cert_link,
                "certsentryincidentid": incident.id,
                "certsentrybrand": incident.brand,
                "certsentrylookalike": incident.domain_unicode,
                "certsentryregistrabledomain": incident.registrable_domain,
                "certsentrysightings": incident.sightings,
                "certsentryctlog": incident.ct.log_name,
                "certsentryctindex": incident.ct.cert_index,
                "certsentryscore": incident.score,
                "certsentrymatchkind": incident.detail.kind.as_str(),
                "certsentryexplanation": incident.detail.explanation,
                "certsentrycertificatesha256": c.sha256,
                "certsentrycertificatenames": c.all_domains.join(", "),
                "certsentrycertificateissuer": c.issuer.aggregated,
                "certsentrydedupkey": incident.dedup_key,
                "certsentrytenant": incident.tenant,
                "certsentryenrichmentversion": found.version,
                "certsentryverdicts": verdicts,
                "certsentryresolvedips": ips,
                "certsentrymailexchangers": mx,
                "certsentryliveurl": found.live_url,
                "certsentrypagetitle": found.page_title,
                "certsentrybrandpagedistance": found.brand_distance,
                "certsentryregistrar": found.registrar,
                "certsentryregistrationdate": found.registered,
                "certsentryabuseemail": found.abuse_email,
                "certsentryasn": asns,
                "certsentryevidence": evidence,
            },
            "rawJSON": raw,
            "createInvestigation": s.create_investigation,
        })
    }

    fn auth(&self, req: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
        let req = req.header(reqwest::header::AUTHORIZATION, self.http.token.expose());
        if self.xsoar_version == 8 {
            req.header("x-xdr-auth-id", &self.api_key_id)
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
        if ![6, 8].contains(&self.xsoar_version) {
            return Err(invalid(key("xsoar_version"), "must be 6 or 8"));
        }
        self.http.require_token(key, "xsoar-rest")?;
        if self.xsoar_version == 8 && self.api_key_id.is_empty() {
            return Err(invalid(
                key("api_key_id"),
                "is required for XSOAR 8 (x-xdr-auth-id)",
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn url_by_version() {
        let mut s = XsoarRestSettings::default();
        s.http.url = "https://xsoar.example.com/".into();
        assert_eq!(s.url(), "https://xsoar.example.com/incident");
        s.xsoar_version = 8;
        s.http.url = "https://api-tenant.xdr.eu.paloaltonetworks.com".into();
        assert_eq!(
            s.url(),
            "https://api-tenant.xdr.eu.paloaltonetworks.com/xsoar/public/v1/incident"
        );
    }

    #[test]
    fn another_tenant_s_incident_carries_a_tenant_label() {
        let s = XsoarRestSettings::default();
        let incident = crate::sink::evidence::tests::enriched_incident();
        let label = |body: &serde_json::Value| {
            body["labels"]
                .as_array()
                .unwrap()
                .iter()
                .find(|l| l["type"] == "Tenant")
                .map(|l| l["value"].clone())
        };
        assert_eq!(label(&s.body(&incident)), None);
        assert_eq!(
            label(&s.body(&incident.for_tenant("acme"))),
            Some(serde_json::json!("acme"))
        );
    }
}
