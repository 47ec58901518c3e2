//! `Incident`: what certsentry raises in a SOAR. One per (brand, registrable
//! domain) within the dedup window; every sink is a mapping of it.

use super::cert::{CertEvent, Certificate, CtSource};
use super::time::Timestamp;
use super::verdict::{MatchDetail, Severity, Verdict};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use sha2::{Digest, Sha256};
use std::time::SystemTime;

/// An incident's id: a ULID, so ids sort by creation (the pagination cursor).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct IncidentId(ulid::Ulid);

impl IncidentId {
    pub fn new(ulid: ulid::Ulid) -> IncidentId {
        IncidentId(ulid)
    }
}

impl std::str::FromStr for IncidentId {
    type Err = ulid::DecodeError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        s.parse().map(IncidentId)
    }
}

impl std::fmt::Display for IncidentId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        self.0.fmt(f)
    }
}

impl Serialize for IncidentId {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for IncidentId {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        s.parse()
            .map_err(|_| serde::de::Error::custom(format!("not an incident id: {s:?}")))
    }
}

/// sha256(brand | registrable domain), hex: the SOAR-side dedup key; a
/// tenant's other than the default one puts its id first
/// (sha256(tenant | brand | registrable domain)), so two customers listing
/// one brand each get their incident.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct DedupKey(String);

impl DedupKey {
    /// The key of a (brand, registrable domain) pair.
    pub fn new(brand: &str, registrable_domain_ascii: &str) -> DedupKey {
        let mut h = Sha256::new();
        h.update(brand.as_bytes());
        h.update(b"|");
        h.update(registrable_domain_ascii.as_bytes());
        DedupKey(hex::encode(h.finalize()))
    }

    /// The key of a (brand, registrable domain) pair for `tenant`: the
    /// default tenant's is [`DedupKey::new`]'s, as before tenants.
    pub fn for_tenant(tenant: &str, brand: &str, registrable_domain_ascii: &str) -> DedupKey {
        if tenant == DEFAULT_TENANT {
            return DedupKey::new(brand, registrable_domain_ascii);
        }
        let mut h = Sha256::new();
        h.update(tenant.as_bytes());
        h.update(b"|");
        h.update(brand.as_bytes());
        h.update(b"|");
        h.update(registrable_domain_ascii.as_bytes());
        DedupKey(hex::encode(h.finalize()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Display for DedupKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What an enrichment update says changed (`incident.enrichment_update`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EnrichmentUpdate {
    /// `incident.enrichment.version` this update carries (1 = first check).
    pub version: u64,
    /// One line per change: `went live`, `MX appeared`, `login form appeared`.
    pub changes: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Incident {
    pub id: IncidentId,
    /// The SOAR-side dedup and idempotency key.
    pub dedup_key: DedupKey,
    pub first_seen: Timestamp,
    pub last_seen: Timestamp,
    pub sightings: u64,
    /// Whose brand it is (`[[tenants]]`); `default` without tenants.
    #[serde(default = "default_tenant")]
    pub tenant: String,
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
    pub update_of: Option<IncidentId>,
    /// Set on an enrichment update: which version of the enrichment this
    /// carries and what changed since the last one sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub enrichment_update: Option<EnrichmentUpdate>,
    /// The analysts' triage, once someone has triaged it (absent = new).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub triage: Option<super::Triage>,
}

/// The tenant of every incident made without `[[tenants]]` (and of the
/// top-level `[watchlist]`'s brands beside them).
pub const DEFAULT_TENANT: &str = "default";

fn default_tenant() -> String {
    DEFAULT_TENANT.to_owned()
}

impl Incident {
    /// The key every sink sends for idempotency (`Idempotency-Key`,
    /// TheHive `sourceRef`, Splunk `source_data_identifier`): the dedup key,
    /// with the sighting number appended for an update.
    /// An enrichment update's key is `<dedup_key>-enr-<version>`.
    pub fn idempotency_key(&self) -> String {
        match (&self.update_of, &self.enrichment_update) {
            (None, _) => self.dedup_key.to_string(),
            (Some(_), Some(e)) => format!("{}-enr-{}", self.dedup_key, e.version),
            (Some(_), None) => format!("{}-{}", self.dedup_key, self.sightings),
        }
    }

    /// A one-line summary for ticket titles and descriptions.
    pub fn title(&self) -> String {
        format!("Suspicious Domain Discovered - {}", self.domain)
    }

    pub fn new(verdict: Verdict, event: &CertEvent, id: ulid::Ulid, now: SystemTime) -> Incident {
        let seen = Timestamp::from_system(now);
        Incident {
            id: IncidentId(id),
            dedup_key: DedupKey::new(&verdict.brand, &verdict.registrable_domain_ascii),
            first_seen: seen,
            last_seen: seen,
            sightings: 1,
            tenant: default_tenant(),
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
            enrichment_update: None,
            triage: None,
        }
    }

    /// This incident as `tenant`'s (its dedup key is the tenant's).
    pub fn for_tenant(mut self, tenant: &str) -> Incident {
        self.dedup_key = DedupKey::for_tenant(tenant, &self.brand, &self.registrable_domain);
        self.tenant = tenant.to_owned();
        self
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dedup_key_is_stable() {
        assert_eq!(
            DedupKey::new("paypal.com", "paypa1.com"),
            DedupKey::new("paypal.com", "paypa1.com")
        );
        assert_ne!(
            DedupKey::new("paypal.com", "paypa1.com"),
            DedupKey::new("paypal.com", "paypa1.net")
        );
        assert_eq!(DedupKey::new("a", "b").as_str().len(), 64);
        // the default tenant keeps the key it had before tenants
        assert_eq!(
            DedupKey::for_tenant("default", "paypal.com", "paypa1.com"),
            DedupKey::new("paypal.com", "paypa1.com")
        );
        assert_ne!(
            DedupKey::for_tenant("acme", "paypal.com", "paypa1.com"),
            DedupKey::for_tenant("globex", "paypal.com", "paypa1.com")
        );
    }

    #[test]
    fn ids_read_and_write_as_ulid_text() {
        let id = IncidentId::new(ulid::Ulid::from_parts(1, 2));
        let text = serde_json::to_string(&id).unwrap();
        assert_eq!(serde_json::from_str::<IncidentId>(&text).unwrap(), id);
        assert!(serde_json::from_str::<IncidentId>("\"01J\"").is_err());
    }
}
