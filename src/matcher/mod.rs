//! The matching engine: decides whether a certificate name imitates a
//! protected brand, how strongly, and why.
//!
//! A [`Matcher`] is compiled once per list snapshot (off the hot path) and is
//! immutable afterwards, so matching never waits on a reload. Signals, in
//! order of strength: `exact_variant` (listed label or domain), `homograph`
//! (same folded skeleton as the brand or a variant), `typo` (OSA distance on
//! the registrable label). The brand's own domains (list keys, allowlist)
//! never alert. It must not know about sources, storage or sinks.

mod typo_index;
mod verdict;

pub use verdict::{MatchDetail, MatchKind, Severity, Verdict};

use typo_index::TypoIndex;

use crate::cert::CertEvent;
use crate::config::MatcherSettings;
use crate::domain::{Fqdn, fold_skeleton, scripts_of};
use crate::watchlist::{Variant, Watchlist};
use std::collections::{HashMap, HashSet};

#[derive(Debug)]
struct Brand {
    /// The protected domain, Unicode form, as in the list key.
    domain: String,
    label: String,
}

/// Counters from matching one certificate.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct NameStats {
    pub checked: u64,
    pub invalid: u64,
}

/// A compiled list snapshot.
#[derive(Debug)]
pub struct Matcher {
    brands: Vec<Brand>,
    /// The brands' own domains (list keys and allowlist), Unicode form.
    own: HashSet<String>,
    /// Full-domain variants, Unicode form → (brand, variant as listed).
    exact_domains: HashMap<String, Vec<(u32, String)>>,
    /// Label variants, Unicode form → brands listing it.
    exact_labels: HashMap<String, Vec<u32>>,
    /// Folded skeleton → (brand, the label that produced it).
    skeletons: HashMap<String, Vec<(u32, String)>>,
    /// Brand labels (and, with `typo_against_variants`, variant labels) for edit distance.
    typo: TypoIndex,
    settings: MatcherSettings,
    variant_count: usize,
}

impl Matcher {
    /// Compile a list. Never fails: the list was validated when parsed.
    pub fn compile(list: &Watchlist, settings: &MatcherSettings) -> Matcher {
        let mut m = Matcher {
            brands: Vec::with_capacity(list.brands.len()),
            own: HashSet::new(),
            exact_domains: HashMap::new(),
            exact_labels: HashMap::new(),
            skeletons: HashMap::new(),
            typo: TypoIndex::default(),
            settings: settings.clone(),
            variant_count: list.variant_count(),
        };
        for allowed in &settings.allowlist {
            if let Ok(f) = Fqdn::parse(allowed) {
                m.own.insert(f.unicode().to_owned());
            }
        }
        let mut typo_seen: HashSet<(u32, String)> = HashSet::new();
        for (i, entry) in list.brands.iter().enumerate() {
            let b = i as u32;
            let label = entry.domain.registrable_label().to_owned();
            m.own.insert(entry.domain.unicode().to_owned());
            m.add_skeleton(b, &label);
            if typo_seen.insert((b, label.clone())) {
                m.add_typo_target(b, &label);
            }
            for variant in &entry.variants {
                let variant_label = match variant {
                    Variant::Label(l) => {
                        push_unique(m.exact_labels.entry(l.clone()).or_default(), b);
                        l.clone()
                    }
                    Variant::Domain(d) => {
                        m.exact_domains
                            .entry(d.unicode().to_owned())
                            .or_default()
                            .push((b, d.unicode().to_owned()));
                        d.registrable_label().to_owned()
                    }
                };
                if variant_label != label {
                    m.add_skeleton(b, &variant_label);
                    if settings.typo_against_variants
                        && typo_seen.insert((b, variant_label.clone()))
                    {
                        m.add_typo_target(b, &variant_label);
                    }
                }
            }
            m.brands.push(Brand {
                domain: entry.domain.unicode().to_owned(),
                label,
            });
        }
        m
    }

    fn add_typo_target(&mut self, brand: u32, label: &str) {
        let len = label.chars().count();
        let allowed = if self.settings.similarity > 0.0 {
            // the similarity check decides; index deep enough for the longest name it allows
            ((1.0 - self.settings.similarity) * (len + 2) as f64).floor() as usize
        } else {
            self.allowed_distance(len)
        };
        self.typo.add(brand, label, allowed);
    }

    fn add_skeleton(&mut self, brand: u32, label: &str) {
        let entry = self.skeletons.entry(fold_skeleton(label)).or_default();
        if !entry.iter().any(|(b, _)| *b == brand) {
            entry.push((brand, label.to_owned()));
        }
    }

    pub fn brand_count(&self) -> usize {
        self.brands.len()
    }

    pub fn variant_count(&self) -> usize {
        self.variant_count
    }

    /// True when `name` is a protected domain, an allowlisted one, or under one.
    pub fn is_own(&self, name: &Fqdn) -> bool {
        name.self_and_parents().any(|d| self.own.contains(d))
    }

    /// Every brand `name` imitates, best signal per brand, best first.
    pub fn match_name(&self, name: &Fqdn) -> Vec<Verdict> {
        let mut found: Vec<Verdict> = Vec::new();
        if self.is_own(name) {
            return found;
        }
        // exact full-domain variants: the name or one of its parents
        for candidate in name.self_and_parents() {
            if let Some(hits) = self.exact_domains.get(candidate) {
                for (b, variant) in hits {
                    let explanation = format!(
                        "listed variant of {}: {:?}",
                        self.brands[*b as usize].domain, variant
                    );
                    self.offer(
                        &mut found,
                        name,
                        *b,
                        MatchDetail {
                            kind: MatchKind::ExactVariant,
                            variant: Some(variant.clone()),
                            explanation,
                            ..MatchDetail::default()
                        },
                    );
                }
            }
        }
        // exact label variants: any label outside the public suffix
        for label in name.non_suffix_labels() {
            if let Some(brands) = self.exact_labels.get(label) {
                for b in brands {
                    let explanation = format!(
                        "listed variant of {}: label {label:?} in {:?}",
                        self.brands[*b as usize].domain,
                        name.unicode()
                    );
                    self.offer(
                        &mut found,
                        name,
                        *b,
                        MatchDetail {
                            kind: MatchKind::ExactVariant,
                            variant: Some(label.to_owned()),
                            explanation,
                            ..MatchDetail::default()
                        },
                    );
                }
            }
        }
        let label = name.registrable_label();
        // homographs: same folded skeleton as a brand label or a variant label
        let skeleton = fold_skeleton(label);
        if let Some(hits) = self.skeletons.get(&skeleton) {
            let scripts = scripts_of(label);
            for (b, target) in hits {
                let brand = &self.brands[*b as usize];
                if label == brand.label || label == target {
                    // identical label under another suffix: a registry-only
                    // difference, not a lookalike (list it as a variant to alert)
                    continue;
                }
                let script_note = if scripts.is_mixed() {
                    format!("{}, mixed scripts", scripts.describe())
                } else if scripts.cyrillic || scripts.greek {
                    format!("{}, whole-script", scripts.describe())
                } else {
                    scripts.describe()
                };
                let explanation = format!(
                    "homograph of {}: {label:?} folds to {target:?} ({script_note})",
                    brand.domain
                );
                self.offer(
                    &mut found,
                    name,
                    *b,
                    MatchDetail {
                        kind: MatchKind::Homograph,
                        variant: Some(target.clone()),
                        skeleton: Some(skeleton.clone()),
                        mixed_scripts: scripts.is_mixed(),
                        explanation,
                        ..MatchDetail::default()
                    },
                );
            }
        }
        // typos: OSA distance on the registrable label, against the few candidates the index gives
        let len = label.chars().count();
        if len >= self.settings.min_label_len {
            let mut candidates = Vec::new();
            self.typo.candidates(label, &mut candidates);
            for id in candidates {
                let t = &self.typo.targets[id as usize];
                let brand = &self.brands[t.brand as usize];
                if label == brand.label || t.char_len.abs_diff(len) > t.allowed {
                    continue;
                }
                let d = strsim::osa_distance(label, &t.label);
                if d == 0 || d > t.allowed {
                    continue;
                }
                let similarity = 1.0 - d as f64 / t.char_len.max(len) as f64;
                if self.settings.similarity > 0.0 && similarity < self.settings.similarity {
                    continue;
                }
                let explanation = format!(
                    "typo of {}: {label:?} is {d} edit{} from {:?} (similarity {similarity:.2})",
                    brand.domain,
                    if d == 1 { "" } else { "s" },
                    t.label
                );
                self.offer(
                    &mut found,
                    name,
                    t.brand,
                    MatchDetail {
                        kind: MatchKind::Typo,
                        variant: Some(t.label.clone()),
                        distance: Some(d as u32),
                        similarity: Some((similarity * 1000.0).round() / 1000.0),
                        explanation,
                        ..MatchDetail::default()
                    },
                );
            }
        }
        found.sort_by(|a, b| b.score.cmp(&a.score).then(a.brand.cmp(&b.brand)));
        found
    }

    /// The largest OSA distance that counts as a typo of a `len`-character label.
    fn allowed_distance(&self, len: usize) -> usize {
        match self.settings.max_distance {
            0 if len >= 9 => 2,
            0 => 1,
            d => d as usize,
        }
    }

    /// Keep `detail` for `brand` if it beats what is already there.
    fn offer(&self, found: &mut Vec<Verdict>, name: &Fqdn, brand: u32, detail: MatchDetail) {
        let brand_domain = &self.brands[brand as usize].domain;
        let verdict = Verdict::new(brand_domain, name, detail);
        match found.iter_mut().find(|v| v.brand == *brand_domain) {
            Some(existing) if existing.score >= verdict.score => {}
            Some(existing) => *existing = verdict,
            None => found.push(verdict),
        }
    }

    /// Match every name of a certificate; one verdict per (brand, registrable
    /// domain), the best one.
    pub fn match_event(&self, event: &CertEvent) -> (Vec<Verdict>, NameStats) {
        let mut stats = NameStats::default();
        let mut best: Vec<Verdict> = Vec::new();
        for raw in &event.certificate.all_domains {
            let name = match Fqdn::parse(raw) {
                Ok(n) => n,
                Err(_) => {
                    stats.invalid += 1;
                    continue;
                }
            };
            stats.checked += 1;
            for mut v in self.match_name(&name) {
                if name.is_wildcard() {
                    v.apply_wildcard();
                }
                match best.iter_mut().find(|b| {
                    b.brand == v.brand && b.registrable_domain_ascii == v.registrable_domain_ascii
                }) {
                    Some(existing) if existing.score >= v.score => {}
                    Some(existing) => *existing = v,
                    None => best.push(v),
                }
            }
        }
        (best, stats)
    }
}

fn push_unique(v: &mut Vec<u32>, b: u32) {
    if !v.contains(&b) {
        v.push(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn matcher(list: &str) -> Matcher {
        let w = Watchlist::parse(list, 1 << 20).unwrap();
        Matcher::compile(&w, &MatcherSettings::default())
    }

    fn kind_of(m: &Matcher, name: &str) -> Option<MatchKind> {
        m.match_name(&Fqdn::parse(name).unwrap())
            .first()
            .map(|v| v.detail.kind)
    }

    const LIST: &str = r#"{"paypal.com": ["paypa1", "xn--pypal-4ve.com", "paypal-login.top"],
                           "apple.com": [], "microsoft.com": []}"#;

    #[test]
    fn exact_variants() {
        let m = matcher(LIST);
        assert_eq!(kind_of(&m, "paypa1.com"), Some(MatchKind::ExactVariant));
        assert_eq!(kind_of(&m, "www.paypa1.net"), Some(MatchKind::ExactVariant));
        assert_eq!(kind_of(&m, "pаypal.com"), Some(MatchKind::ExactVariant));
        assert_eq!(
            kind_of(&m, "secure.paypal-login.top"),
            Some(MatchKind::ExactVariant)
        );
    }

    #[test]
    fn homographs_and_typos() {
        let m = matcher(LIST);
        assert_eq!(
            kind_of(&m, "xn--80ak6aa92e.com"),
            Some(MatchKind::Homograph)
        ); // аррӏе
        assert_eq!(kind_of(&m, "pаypаl.net"), Some(MatchKind::Homograph));
        assert_eq!(kind_of(&m, "rnicrosoft.com"), Some(MatchKind::Homograph));
        assert_eq!(kind_of(&m, "paypall.com"), Some(MatchKind::Typo));
        assert_eq!(kind_of(&m, "pyapal.com"), Some(MatchKind::Typo));
        assert_eq!(kind_of(&m, "micorsoft.com"), Some(MatchKind::Typo));
        let v = &m.match_name(&Fqdn::parse("xn--80ak6aa92e.com").unwrap())[0];
        assert_eq!(v.severity, Severity::Critical);
        assert!(
            v.detail.explanation.contains("Cyrillic, whole-script"),
            "{}",
            v.detail.explanation
        );
    }

    #[test]
    fn own_and_unrelated_names_do_not_match() {
        let m = matcher(LIST);
        for name in [
            "paypal.com",
            "www.paypal.com",
            "login.apple.com",
            "paypal.de", // registry-only difference
            "example.org",
            "portal.dragonjar.org",
            "appl.com", // below min label length for typos
        ] {
            assert_eq!(kind_of(&m, name), None, "{name}");
        }
    }

    #[test]
    fn allowlist_and_similarity() {
        let w = Watchlist::parse(LIST, 1 << 20).unwrap();
        let settings = MatcherSettings {
            allowlist: vec!["paypall.com".into()],
            similarity: 0.85,
            ..MatcherSettings::default()
        };
        let m = Matcher::compile(&w, &settings);
        assert_eq!(kind_of(&m, "paypall.com"), None);
        // 1 - 1/6 = 0.833 < 0.85: XSOAR parity
        assert_eq!(kind_of(&m, "paypel.com"), None);
        assert_eq!(kind_of(&m, "microsofft.com"), Some(MatchKind::Typo));
    }

    #[test]
    fn one_verdict_per_brand_and_registrable_domain() {
        let m = matcher(LIST);
        let event = CertEvent {
            certificate: crate::cert::Certificate {
                all_domains: vec![
                    "paypa1.com".into(),
                    "*.paypa1.com".into(),
                    "www.paypa1.com".into(),
                    "paypall.com".into(),
                    "10.0.0.1".into(),
                ],
                ..Default::default()
            },
            ..Default::default()
        };
        let (verdicts, stats) = m.match_event(&event);
        assert_eq!(verdicts.len(), 2);
        assert_eq!(stats.checked, 4);
        assert_eq!(stats.invalid, 1);
    }
}
