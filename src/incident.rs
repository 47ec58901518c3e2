//! `Incident`: what certsentry raises in a SOAR. One per (brand, registrable
//! domain) within the dedup window; every sink is a mapping of it.

use crate::cert::{CertEvent, Certificate, CtSource};
use crate::matcher::{MatchDetail, Severity, Verdict};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::time::SystemTime;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    /// ULID: sortable by creation, used as the pagination cursor.
    pub id: String,
    /// sha256(brand | registrable domain): the SOAR-side dedup and idempotency key.
    pub dedup_key: String,
    /// RFC 3339 UTC.
    pub first_seen: String,
    pub last_seen: String,
    pub sightings: u64,
    /// The protected domain imitated.
    pub brand: String,
    /// The certificate name that matched (ASCII form, as CT carries it).
    pub domain: String,
    pub domain_unicode: String,
    /// Registrable domain of `domain` (ASCII form).
    pub registrable_domain: String,
    #[serde(rename = "match")]
    pub detail: MatchDetail,
    pub score: u8,
    pub severity: Severity,
    pub certificate: Certificate,
    pub ct: CtSource,
    #[serde(default)]
    pub enrichment: serde_json::Map<String, serde_json::Value>,
    /// Set on an update: the id of the incident this new certificate adds to
    /// (`incidents.send_updates`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub update_of: Option<String>,
}

/// The dedup key of a (brand, registrable domain) pair.
pub fn dedup_key(brand: &str, registrable_domain_ascii: &str) -> String {
    let mut h = Sha256::new();
    h.update(brand.as_bytes());
    h.update(b"|");
    h.update(registrable_domain_ascii.as_bytes());
    hex::encode(h.finalize())
}

pub fn rfc3339(t: SystemTime) -> String {
    humantime::format_rfc3339_millis(t).to_string()
}

impl Incident {
    /// The key every sink sends for idempotency (`Idempotency-Key`,
    /// TheHive `sourceRef`, Splunk `source_data_identifier`): the dedup key,
    /// with the sighting number appended for an update.
    pub fn idempotency_key(&self) -> String {
        match self.update_of {
            None => self.dedup_key.clone(),
            Some(_) => format!("{}-{}", self.dedup_key, self.sightings),
        }
    }

    /// How close the lookalike's label is to the brand's, 0 to 1 (the
    /// CertStream pack's "levenshtein distance" field): the typo similarity
    /// when the match measured one, otherwise computed on the folded label.
    pub fn similarity(&self) -> f64 {
        if let Some(s) = self.detail.similarity {
            return s;
        }
        let brand = self.brand.split('.').next().unwrap_or_default();
        let label = match &self.detail.skeleton {
            Some(skeleton) => skeleton.split('.').next().unwrap_or_default().to_owned(),
            None => crate::domain::Fqdn::parse(&self.registrable_domain)
                .map(|f| f.registrable_label().to_owned())
                .unwrap_or_default(),
        };
        let longest = brand.chars().count().max(label.chars().count());
        if longest == 0 {
            return 0.0;
        }
        let d = strsim::osa_distance(brand, &label);
        ((1.0 - d as f64 / longest as f64) * 1000.0).round() / 1000.0
    }

    /// A one-line summary for ticket titles and descriptions.
    pub fn title(&self) -> String {
        format!("Suspicious Domain Discovered - {}", self.domain)
    }

    pub fn new(verdict: Verdict, event: &CertEvent, id: ulid::Ulid, now: SystemTime) -> Incident {
        let seen = rfc3339(now);
        Incident {
            id: id.to_string(),
            dedup_key: dedup_key(&verdict.brand, &verdict.registrable_domain_ascii),
            first_seen: seen.clone(),
            last_seen: seen,
            sightings: 1,
            brand: verdict.brand,
            domain: verdict.domain,
            domain_unicode: verdict.domain_unicode,
            registrable_domain: verdict.registrable_domain_ascii,
            detail: verdict.detail,
            score: verdict.score,
            severity: verdict.severity,
            certificate: event.certificate.clone(),
            ct: event.ct.clone(),
            enrichment: serde_json::Map::new(),
            update_of: None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup_key_is_stable() {
        assert_eq!(
            dedup_key("paypal.com", "paypa1.com"),
            dedup_key("paypal.com", "paypa1.com")
        );
        assert_ne!(
            dedup_key("paypal.com", "paypa1.com"),
            dedup_key("paypal.com", "paypa1.net")
        );
        assert_eq!(dedup_key("a", "b").len(), 64);
    }
}
