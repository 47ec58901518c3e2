//! Suppressions: what analysts decided is not a lookalike worth an alert
//! (triage "false positive" or "brand-owned"). One suppresses a registrable
//! domain for one brand, or for every brand (an allowlisted domain). They
//! are kept in the store with who made them and why, removed rather than
//! deleted (so the audit stays), and [`Suppressions`] is the set the
//! pipeline consults before a verdict becomes an incident, so a change
//! applies to the next certificate without a restart.

use super::{IncidentId, Timestamp};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::RwLock;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Suppression {
    pub id: i64,
    /// The registrable domain, ASCII (`paypa1.com`).
    pub domain: String,
    /// The brand (list key) it no longer alerts for; `None`: every brand.
    #[serde(default)]
    pub brand: Option<String>,
    pub reason: String,
    pub created_by: String,
    pub created_at: Timestamp,
    /// The incident whose triage made it, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub incident_id: Option<IncidentId>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed_at: Option<Timestamp>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub removed_by: Option<String>,
}

impl Suppression {
    pub fn is_active(&self) -> bool {
        self.removed_at.is_none()
    }

    /// Whether it holds for `brand`.
    pub fn covers(&self, brand: &str) -> bool {
        self.brand.as_deref().is_none_or(|b| b == brand)
    }
}

/// Per registrable domain: (suppression id, brand or every brand).
type ByDomain = HashMap<String, Vec<(i64, Option<String>)>>;

/// The active suppressions by registrable domain, shared by the pipeline
/// (which reads it per verdict) and the API (which replaces it after each
/// change). Reads are a hash lookup; verdicts are rare next to names.
///
/// On a bus, the cluster's suppressions (made in other processes) are kept
/// beside this process's own, by their bucket key.
#[derive(Debug, Default)]
pub struct Suppressions {
    by_domain: RwLock<ByDomain>,
    shared: RwLock<HashMap<String, Suppression>>,
}

impl Suppressions {
    /// Replace the set with the active ones of `all`.
    pub fn replace(&self, all: &[Suppression]) {
        let mut map = ByDomain::new();
        for s in all.iter().filter(|s| s.is_active()) {
            map.entry(s.domain.clone())
                .or_default()
                .push((s.id, s.brand.clone()));
        }
        *self.by_domain.write().unwrap_or_else(|e| e.into_inner()) = map;
    }

    /// Keep (an active one) or drop the cluster's suppression under `key`.
    pub fn set_shared(&self, key: &str, value: Option<&Suppression>) {
        let mut shared = self.shared.write().unwrap_or_else(|e| e.into_inner());
        match value {
            Some(s) if s.is_active() => {
                shared.insert(key.to_owned(), s.clone());
            }
            _ => {
                shared.remove(key);
            }
        }
    }

    /// The suppression that holds for `brand` and `registrable_domain`
    /// (ASCII), if one does: this process's own first, then the cluster's
    /// (with the id its process gave it).
    pub fn find(&self, brand: &str, registrable_domain: &str) -> Option<i64> {
        let own = {
            let map = self.by_domain.read().unwrap_or_else(|e| e.into_inner());
            map.get(registrable_domain).and_then(|v| {
                v.iter()
                    .find(|(_, b)| b.as_deref().is_none_or(|b| b == brand))
                    .map(|(id, _)| *id)
            })
        };
        own.or_else(|| {
            let shared = self.shared.read().unwrap_or_else(|e| e.into_inner());
            if shared.is_empty() {
                return None;
            }
            shared
                .values()
                .find(|s| s.domain == registrable_domain && s.covers(brand))
                .map(|s| s.id)
        })
    }

    /// How many of the cluster's suppressions hold here.
    pub fn shared_len(&self) -> usize {
        self.shared.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn len(&self) -> usize {
        self.by_domain
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .values()
            .map(Vec::len)
            .sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn s(id: i64, domain: &str, brand: Option<&str>, removed: bool) -> Suppression {
        Suppression {
            id,
            domain: domain.into(),
            brand: brand.map(str::to_owned),
            reason: "r".into(),
            created_by: "ana".into(),
            created_at: Timestamp::from_unix_ms(0),
            incident_id: None,
            removed_at: removed.then(|| Timestamp::from_unix_ms(1)),
            removed_by: None,
        }
    }

    #[test]
    fn a_brand_suppression_holds_for_its_brand_and_a_global_one_for_all() {
        let set = Suppressions::default();
        set.replace(&[
            s(1, "paypa1.com", Some("paypal.com"), false),
            s(2, "partner.com", None, false),
            s(3, "gone.com", None, true),
        ]);
        assert_eq!(set.find("paypal.com", "paypa1.com"), Some(1));
        assert_eq!(set.find("apple.com", "paypa1.com"), None);
        assert_eq!(set.find("apple.com", "partner.com"), Some(2));
        assert_eq!(set.find("apple.com", "gone.com"), None, "removed");
        assert_eq!(set.len(), 2);
    }

    #[test]
    fn the_clusters_suppressions_hold_beside_the_own_until_lifted() {
        let set = Suppressions::default();
        set.replace(&[s(1, "paypa1.com", Some("paypal.com"), false)]);
        set.set_shared("k1", Some(&s(7, "app1e.com", Some("apple.com"), false)));
        set.set_shared("k2", Some(&s(8, "partner.com", None, false)));
        assert_eq!(set.find("apple.com", "app1e.com"), Some(7));
        assert_eq!(set.find("paypal.com", "app1e.com"), None);
        assert_eq!(set.find("paypal.com", "partner.com"), Some(8));
        assert_eq!(set.find("paypal.com", "paypa1.com"), Some(1));
        // a removal made elsewhere lifts it; a replace of the own set
        // leaves the cluster's alone
        set.set_shared("k1", Some(&s(7, "app1e.com", Some("apple.com"), true)));
        set.replace(&[]);
        assert_eq!(set.find("apple.com", "app1e.com"), None);
        assert_eq!(set.find("paypal.com", "paypa1.com"), None);
        assert_eq!(set.find("apple.com", "partner.com"), Some(8));
        assert_eq!(set.shared_len(), 1);
    }
}
