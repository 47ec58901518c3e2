//! The matching engine: decides whether a certificate name imitates a
//! protected brand, how strongly, and why.
//!
//! A [`Matcher`] is compiled once per list snapshot (off the hot path) and is
//! immutable afterwards, so matching never waits on a reload. Signals, in
//! order of strength: `exact_variant` (listed label or domain), `homograph`
//! (same folded skeleton as the brand or a variant), `subdomain` (the brand's
//! domain or label embedded in another name), `typo` (OSA distance on the
//! registrable label, with browser-style false-positive filters),
//! `combosquat` (the brand label joined with other words, `signals`) and
//! configured regex/keyword `rules`. The brand's own domains (list keys,
//! allowlist) never alert. It must not know about sources, storage or sinks.

mod rules;
mod signals;
mod typo_index;
mod verdict;

pub use signals::PHISHING_WORDS;
pub use verdict::{MatchDetail, MatchKind, Severity, Verdict};

use typo_index::TypoIndex;

use crate::cert::{CertEvent, DistinguishedName};
use crate::config::MatcherSettings;
use crate::domain::{Fqdn, fold_skeleton, fold_skeleton_into, scripts_of};
use crate::watchlist::{Variant, Watchlist};
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use smallvec::SmallVec;

/// Brand ids; almost always one, kept inline.
type Brands = SmallVec<[u32; 2]>;

/// (brand, the label that folded to a skeleton); one per brand.
type SkeletonHits = SmallVec<[(u32, Box<str>); 1]>;

#[derive(Debug)]
struct Brand {
    /// The protected domain, Unicode form, as in the list key.
    domain: String,
    label: String,
    /// The labels of its public suffix: `["co", "uk"]`.
    suffix_labels: Vec<String>,
}

/// Issuers that give DV certificates for free, automatically: what most
/// phishing sites use.
const FREE_DV_ISSUERS: &[&str] = &[
    "Let's Encrypt",
    "ZeroSSL",
    "Google Trust Services",
    "Buypass",
];

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
    /// Full-domain variants, Unicode form → brands listing it. With a million
    /// variants these maps are most of the memory: one key string per entry,
    /// brands inline.
    exact_domains: HashMap<Box<str>, Brands>,
    /// Label variants, Unicode form → brands listing it.
    exact_labels: HashMap<Box<str>, Brands>,
    /// Folded skeleton → (brand, the label that produced it).
    skeletons: HashMap<Box<str>, SkeletonHits>,
    /// Brand labels (and, with `typo_against_variants`, variant labels) for edit distance.
    typo: TypoIndex,
    /// Brand labels long enough to look for inside other names → brands.
    brand_labels: HashMap<String, Brands>,
    /// Brand label and suffix run together (`paypalcom`) → brands.
    run_together: HashMap<String, Brands>,
    /// Prefilter for `brand_labels`.
    brand_shapes: signals::Shapes,
    /// Finds any key of `brand_labels` inside a name.
    brand_label_finder: Option<aho_corasick::AhoCorasick>,
    rules: Vec<rules::Rule>,
    settings: MatcherSettings,
    variant_count: usize,
}

impl Matcher {
    /// Compile a list. Never fails: the list was validated when parsed.
    pub fn compile(list: &Watchlist, settings: &MatcherSettings) -> Matcher {
        let mut m = Matcher {
            brands: Vec::with_capacity(list.brands.len()),
            own: HashSet::default(),
            exact_domains: HashMap::default(),
            exact_labels: HashMap::default(),
            skeletons: HashMap::default(),
            typo: TypoIndex::default(),
            brand_labels: HashMap::default(),
            run_together: HashMap::default(),
            brand_shapes: signals::Shapes::new([]),
            brand_label_finder: None,
            rules: settings
                .rules
                .iter()
                .filter_map(|r| rules::Rule::compile(r).ok())
                .collect(),
            settings: settings.clone(),
            variant_count: list.variant_count(),
        };
        for allowed in &settings.allowlist {
            if let Ok(f) = Fqdn::parse(allowed) {
                m.own.insert(f.unicode().to_owned());
            }
        }
        // sized once: growing million-entry tables rehashes them several times
        let domains = list
            .brands
            .iter()
            .flat_map(|b| &b.variants)
            .filter(|v| matches!(v, Variant::Domain(_)))
            .count();
        m.exact_domains.reserve(domains);
        m.exact_labels.reserve(m.variant_count - domains);
        let mut typo_seen: HashSet<(u32, String)> = HashSet::default();
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
                        push_unique(m.exact_labels.entry(l.as_str().into()).or_default(), b);
                        l.as_str()
                    }
                    Variant::Domain(d) => {
                        push_unique(m.exact_domains.entry(d.unicode().into()).or_default(), b);
                        d.registrable_label()
                    }
                };
                if variant_label != label {
                    m.add_skeleton(b, variant_label);
                    if settings.typo_against_variants
                        && typo_seen.insert((b, variant_label.to_owned()))
                    {
                        m.add_typo_target(b, variant_label);
                    }
                }
            }
            let suffix_labels: Vec<String> = entry
                .domain
                .suffix()
                .split('.')
                .map(str::to_owned)
                .collect();
            let label_len = label.chars().count();
            if label_len >= 3 {
                // short labels count only in strong shapes: a whole embedded
                // domain (`dhl.com.x.top`), or a hyphen token next to a
                // phishing word (`ups-tracking`)
                push_unique(m.brand_labels.entry(label.clone()).or_default(), b);
                push_unique(
                    m.run_together
                        .entry(format!("{label}{}", suffix_labels.concat()))
                        .or_default(),
                    b,
                );
            }
            m.brands.push(Brand {
                domain: entry.domain.unicode().to_owned(),
                label,
                suffix_labels,
            });
        }
        m.typo.seal();
        m.brand_shapes = signals::Shapes::new(m.brand_labels.keys().map(String::as_str));
        m.brand_label_finder = match aho_corasick::AhoCorasick::new(m.brand_labels.keys()) {
            Ok(finder) => Some(finder),
            Err(e) => {
                // cannot happen for a few thousand short labels; matching
                // stays complete without the shortcut
                tracing::warn!(error = %e, "brand-label prefilter not built");
                None
            }
        };
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
        let entry = self
            .skeletons
            .entry(fold_skeleton(label).into_boxed_str())
            .or_default();
        if !entry.iter().any(|(b, _)| *b == brand) {
            entry.push((brand, label.into()));
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
        self.match_name_with(name, &mut String::new())
    }

    /// [`Matcher::match_name`] with a reused buffer for the skeleton.
    fn match_name_with(&self, name: &Fqdn, skeleton: &mut String) -> Vec<Verdict> {
        let mut found: Vec<Verdict> = Vec::new();
        if self.is_own(name) {
            return found;
        }
        // exact full-domain variants: the name or one of its parents
        for candidate in name.self_and_parents() {
            if let Some(hits) = self.exact_domains.get(candidate) {
                let variant = candidate;
                for b in hits {
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
                            variant: Some(variant.to_owned()),
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
        fold_skeleton_into(label, skeleton);
        if let Some(hits) = self.skeletons.get(skeleton.as_str()) {
            let scripts = scripts_of(label);
            for (b, target) in hits {
                let brand = &self.brands[*b as usize];
                if label == brand.label || label == &**target {
                    // identical label under another suffix: a registry-only
                    // difference, not a lookalike (list it as a variant to alert)
                    continue;
                }
                let whole_script = !scripts.is_mixed()
                    && (scripts.cyrillic || scripts.greek)
                    && name.suffix().is_ascii();
                let script_note = if scripts.is_mixed() {
                    format!("{}, mixed scripts", scripts.describe())
                } else if whole_script {
                    format!("{}, whole-script on .{}", scripts.describe(), name.suffix())
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
                        variant: Some(target.to_string()),
                        skeleton: Some(skeleton.to_string()),
                        mixed_scripts: scripts.is_mixed(),
                        whole_script,
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
                if self.settings.typo_ignore_first_char && only_first_char_differs(label, &t.label)
                {
                    continue;
                }
                if self.settings.typo_ignore_trailing_number
                    && only_trailing_number_differs(label, &t.label)
                {
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
        // every embedding and combosquat signal needs a brand label inside
        // the name: one automaton pass rules out almost every name
        if (self.settings.target_embedding || self.settings.combosquat)
            && self
                .brand_label_finder
                .as_ref()
                .is_none_or(|f| f.is_match(name.unicode()))
        {
            self.embedded(name, &mut found);
        }
        for rule in &self.rules {
            if let Some(explanation) = rule.check(name) {
                let detail = MatchDetail {
                    kind: MatchKind::Rule,
                    variant: Some(rule.name.clone()),
                    explanation,
                    ..MatchDetail::default()
                };
                let v = Verdict::new(&rule.brand, name, detail)
                    .with_score(verdict::rule_score(rule.severity));
                offer_verdict(&mut found, v);
            }
        }
        found.sort_by(|a, b| b.score.cmp(&a.score).then(a.brand.cmp(&b.brand)));
        found
    }

    /// Target embedding and combosquats: brand labels inside other names.
    fn embedded(&self, name: &Fqdn, found: &mut Vec<Verdict>) {
        // the variant shown is the brand's domain for an embedding, its
        // label for a combosquat
        let offer =
            |found: &mut Vec<Verdict>, b: u32, kind: MatchKind, score: u8, explanation: String| {
                let brand = &self.brands[b as usize];
                let variant = match kind {
                    MatchKind::Subdomain => brand.domain.clone(),
                    _ => brand.label.clone(),
                };
                let detail = MatchDetail {
                    kind,
                    variant: Some(variant),
                    explanation,
                    ..MatchDetail::default()
                };
                offer_verdict(
                    found,
                    Verdict::new(&brand.domain, name, detail).with_score(score),
                );
            };
        let label = name.registrable_label();
        let tokens: SmallVec<[&str; 8]> = label.split('-').filter(|t| !t.is_empty()).collect();
        if self.settings.target_embedding {
            // the brand label as a label left of the attacker's registrable domain
            let subs: SmallVec<[&str; 8]> = name.subdomain_labels().collect();
            // `outlook.contoso.com` is a company's mail server; `outlook.secure-login.top` is not
            // (checked only when a brand label is among the subdomain labels)
            let phishy = std::cell::OnceCell::new();
            let is_phishy = || {
                *phishy.get_or_init(|| {
                    subs.iter()
                        .flat_map(|l| l.split('-'))
                        .chain(tokens.iter().copied())
                        .any(signals::is_phishing_word)
                })
            };
            for (i, l) in subs.iter().enumerate() {
                let Some(hits) = self.brand_labels.get(*l) else {
                    continue;
                };
                for b in hits {
                    let brand = &self.brands[*b as usize];
                    let whole = starts_with_suffix(&subs[i + 1..], &brand.suffix_labels);
                    let (score, what) = if whole {
                        (85, format!("the domain {:?}", brand.domain))
                    } else if brand.label.chars().count() >= self.settings.embed_min_len
                        && is_phishy()
                    {
                        (
                            70,
                            format!("the label {:?} next to phishing words", brand.label),
                        )
                    } else {
                        continue;
                    };
                    offer(
                        found,
                        *b,
                        MatchKind::Subdomain,
                        score,
                        format!(
                            "target embedding of {}: {what} inside {:?}, registered under {:?}",
                            brand.domain,
                            name.unicode(),
                            name.registrable_domain()
                        ),
                    );
                }
            }
        }
        for (i, token) in tokens.iter().enumerate() {
            if self.settings.target_embedding
                && let Some(hits) = self.run_together.get(*token)
            {
                for b in hits {
                    let brand = &self.brands[*b as usize];
                    offer(
                        found,
                        *b,
                        MatchKind::Subdomain,
                        80,
                        format!(
                            "target embedding of {}: {token:?} runs the domain together in {:?}",
                            brand.domain,
                            name.unicode()
                        ),
                    );
                }
            }
            if tokens.len() > 1
                && let Some(hits) = self.brand_labels.get(*token)
            {
                for b in hits {
                    let brand = &self.brands[*b as usize];
                    let whole = starts_with_suffix(&tokens[i + 1..], &brand.suffix_labels);
                    if whole && self.settings.target_embedding {
                        offer(
                            found,
                            *b,
                            MatchKind::Subdomain,
                            80,
                            format!(
                                "target embedding of {}: {:?} spells the domain with hyphens",
                                brand.domain, label
                            ),
                        );
                    } else if self.settings.combosquat {
                        let words: Vec<&str> = tokens
                            .iter()
                            .filter(|t| signals::is_phishing_word(t))
                            .copied()
                            .collect();
                        // without a phishing word only a distinctive (long) brand
                        // label counts: `facebook-group` yes, `apple-pie` and
                        // `booking-engine` no
                        let (score, with) = if !words.is_empty() {
                            (62, format!(" with {}", words.join(", ")))
                        } else if brand.label.chars().count() >= 8 {
                            (55, String::new())
                        } else {
                            continue;
                        };
                        offer(
                            found,
                            *b,
                            MatchKind::Combosquat,
                            score,
                            format!(
                                "combosquat of {}: {:?} is a hyphenated token of {label:?}{with}",
                                brand.domain, brand.label
                            ),
                        );
                    }
                }
            }
            if self.settings.combosquat {
                // the brand label glued to a phishing word: split where a word starts or ends
                for (at, _) in token.char_indices().skip(1) {
                    let (head, tail) = token.split_at(at);
                    for (brand_part, word) in [(head, tail), (tail, head)] {
                        if !self.brand_shapes.may_contain(brand_part)
                            || !signals::is_phishing_word(word)
                        {
                            continue;
                        }
                        let Some(hits) = self.brand_labels.get(brand_part) else {
                            continue;
                        };
                        for b in hits {
                            let brand = &self.brands[*b as usize];
                            if brand.label.chars().count() < self.settings.embed_min_len {
                                continue;
                            }
                            offer(
                                found,
                                *b,
                                MatchKind::Combosquat,
                                60,
                                format!(
                                    "combosquat of {}: {:?} joined to {word:?} in {label:?}",
                                    brand.domain, brand.label
                                ),
                            );
                        }
                    }
                }
            }
        }
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
        offer_verdict(found, Verdict::new(brand_domain, name, detail));
    }

    /// Match every name of a certificate; one verdict per (brand, registrable
    /// domain), the best one, adjusted for the issuer.
    pub fn match_event(&self, event: &CertEvent) -> (Vec<Verdict>, NameStats) {
        let (mut verdicts, stats) = self.match_names(&event.certificate.all_domains);
        self.adjust_for_issuer(&mut verdicts, &event.certificate.issuer);
        (verdicts, stats)
    }

    /// Match a certificate's names; one verdict per (brand, registrable
    /// domain), the best one, best first.
    pub fn match_names(&self, names: &[String]) -> (Vec<Verdict>, NameStats) {
        let mut stats = NameStats::default();
        let mut best: Vec<Verdict> = Vec::new();
        let mut skeleton = String::new();
        for raw in names {
            let name = match Fqdn::parse(raw) {
                Ok(n) => n,
                Err(_) => {
                    stats.invalid += 1;
                    continue;
                }
            };
            stats.checked += 1;
            for mut v in self.match_name_with(&name, &mut skeleton) {
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

    /// Raise verdicts about a certificate from a free DV issuer.
    pub fn adjust_for_issuer(&self, verdicts: &mut [Verdict], issuer: &DistinguishedName) {
        let free_dv = [&issuer.O, &issuer.CN, &issuer.aggregated]
            .iter()
            .filter_map(|f| f.as_deref())
            .any(|s| FREE_DV_ISSUERS.iter().any(|i| s.contains(i)));
        if free_dv {
            for v in verdicts.iter_mut() {
                v.adjust(self.settings.free_dv_bonus, "free DV issuer");
            }
        }
    }
}

/// `parts` begin with the brand's public-suffix labels (`["com", ...]`).
fn starts_with_suffix(parts: &[&str], suffix: &[String]) -> bool {
    parts.len() >= suffix.len() && parts.iter().zip(suffix).all(|(a, s)| a == s)
}

/// Keep `verdict` if it beats what `found` holds for its brand.
fn offer_verdict(found: &mut Vec<Verdict>, verdict: Verdict) {
    match found.iter_mut().find(|v| v.brand == verdict.brand) {
        Some(existing) if existing.score >= verdict.score => {}
        Some(existing) => *existing = verdict,
        None => found.push(verdict),
    }
}

/// `hank` for `tank`: one substitution at the first character, and the new
/// character is neither a keyboard neighbour nor a lookalike of the old one.
fn only_first_char_differs(label: &str, target: &str) -> bool {
    let mut a = label.chars();
    let mut b = target.chars();
    let (Some(x), Some(y)) = (a.next(), b.next()) else {
        return false;
    };
    if x == y || a.as_str() != b.as_str() {
        return false;
    }
    const LOOKALIKE: &[(char, char)] = &[
        ('0', 'o'),
        ('1', 'l'),
        ('1', 'i'),
        ('l', 'i'),
        ('3', 'e'),
        ('4', 'a'),
        ('5', 's'),
        ('8', 'b'),
        ('9', 'g'),
        ('q', 'g'),
        ('c', 'e'),
        ('n', 'm'),
        ('u', 'v'),
        ('v', 'w'),
        ('a', 'o'),
        ('e', 'o'),
        ('c', 'o'),
        ('i', 'j'),
    ];
    let lookalike = LOOKALIKE
        .iter()
        .any(|(p, q)| (*p == x && *q == y) || (*p == y && *q == x));
    let neighbour = crate::generate::keyboard::neighbours(y).contains(&x);
    !(lookalike || neighbour)
}

/// `site35` for `site45`: the same stem, different trailing numbers.
fn only_trailing_number_differs(label: &str, target: &str) -> bool {
    let stem = |s: &str| s.trim_end_matches(|c: char| c.is_ascii_digit()).len();
    let (ls, ts) = (stem(label), stem(target));
    ls < label.len() && ts < target.len() && label[..ls] == target[..ts]
}

fn push_unique<A: smallvec::Array<Item = u32>>(v: &mut SmallVec<A>, b: u32) {
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
    fn embedding_combosquats_and_their_guards() {
        let m = matcher(LIST);
        let kind = |n: &str| kind_of(&m, n);
        assert_eq!(
            kind("paypal.com.secure-verify.top"),
            Some(MatchKind::Subdomain)
        );
        assert_eq!(kind("www-paypal-com.xyz"), Some(MatchKind::Subdomain));
        assert_eq!(kind("paypalcom-login.net"), Some(MatchKind::Subdomain));
        assert_eq!(kind("paypal.secure-host.top"), Some(MatchKind::Subdomain));
        assert_eq!(
            kind("paypal.evil-host.top"),
            None,
            "a label alone needs phishing words"
        );
        assert_eq!(
            kind("secure-paypal-account.net"),
            Some(MatchKind::Combosquat)
        );
        assert_eq!(kind("securepaypal.net"), Some(MatchKind::Combosquat));
        assert_eq!(kind("appleid-verify.com"), Some(MatchKind::Combosquat));
        assert_eq!(
            kind("microsoftonline-login.com"),
            Some(MatchKind::Combosquat)
        );
        for benign in [
            "apple-pie.com",
            "apple.contoso.com",
            "pineapple.com",
            "paypalmafia.org",
            "snapple.com",
            "applebees.com",
        ] {
            assert_eq!(kind(benign), None, "{benign}");
        }
        let best = |n: &str| m.match_name(&Fqdn::parse(n).unwrap()).remove(0);
        let v = best("paypal.com.secure-verify.top");
        assert_eq!(v.score, 85);
        assert!(
            v.detail
                .explanation
                .contains("target embedding of paypal.com"),
            "{}",
            v.detail.explanation
        );
        let v = best("secure-paypal-account.net");
        assert_eq!((v.score, v.severity), (62, Severity::Medium));
        assert!(
            v.detail.explanation.contains("secure, account"),
            "{}",
            v.detail.explanation
        );
        // the typo filters
        assert_eq!(
            kind("xaypal.com"),
            None,
            "a far first character is not a typo"
        );
        assert_eq!(kind("oaypal.com"), Some(MatchKind::Typo), "o is next to p");
        assert_eq!(kind("0aypal.com"), Some(MatchKind::Typo), "0 is next to p");
    }

    #[test]
    fn trailing_numbers_whole_script_rules_and_issuer() {
        let list = r#"{"site45.com": [], "apple.com": []}"#;
        let w = Watchlist::parse(list, 1 << 20).unwrap();
        let settings = MatcherSettings {
            rules: vec![
                crate::config::RuleSettings {
                    name: "login-words".into(),
                    keywords: vec!["login".into(), "secure".into(), "verify".into()],
                    threshold: 2,
                    severity: Severity::High,
                    ..Default::default()
                },
                crate::config::RuleSettings {
                    name: "bank-regex".into(),
                    regex: r"^(online|web)banking-".into(),
                    ..Default::default()
                },
            ],
            ..MatcherSettings::default()
        };
        let m = Matcher::compile(&w, &settings);
        let kind = |n: &str| kind_of(&m, n);
        assert_eq!(kind("site35.com"), None, "only the trailing number differs");
        assert_eq!(kind("sjte45.com"), Some(MatchKind::Typo));
        let v = &m.match_name(&Fqdn::parse("xn--80ak6aa92e.com").unwrap())[0];
        assert!(v.detail.whole_script && v.score == 95, "{v:?}");
        let r = &m.match_name(&Fqdn::parse("secure-login.example.org").unwrap())[0];
        assert_eq!(
            (r.detail.kind, r.severity),
            (MatchKind::Rule, Severity::High)
        );
        assert_eq!(r.brand, "rule:login-words");
        assert!(
            r.detail.explanation.contains("2 of 3 keywords"),
            "{}",
            r.detail.explanation
        );
        assert_eq!(kind("secure.example.org"), None, "below the threshold");
        assert_eq!(kind("onlinebanking-x.com"), Some(MatchKind::Rule));

        // free DV issuer adds points
        let event = |issuer: &str| CertEvent {
            certificate: crate::cert::Certificate {
                all_domains: vec!["sjte45.com".into()],
                issuer: crate::cert::DistinguishedName {
                    O: Some(issuer.into()),
                    ..Default::default()
                },
                ..Default::default()
            },
            ..Default::default()
        };
        let (le, _) = m.match_event(&event("Let's Encrypt"));
        let (other, _) = m.match_event(&event("DigiCert Inc"));
        assert_eq!(le[0].score, other[0].score + 3);
        assert!(le[0].detail.explanation.contains("free DV issuer"));
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
