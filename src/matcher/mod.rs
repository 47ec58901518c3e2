//! The matching engine: decides whether a certificate name imitates a
//! protected brand, how strongly, and why.
//!
//! A [`Matcher`] is compiled once per list snapshot (off the hot path) and is
//! immutable afterwards, so matching never waits on a reload. One file per
//! signal, each compiled from the list and checked with the same signature
//! (`check(&self, brands, name, scratch, found)`), in order of strength:
//! `exact` (listed label or domain), `homograph` (same folded skeleton as the
//! brand or a variant), `embedding` (the brand's domain or label inside
//! another name), `typo` (OSA distance on the registrable label, with
//! browser-style false-positive filters), `combosquat` (the brand label
//! joined with other words) and configured `rules`. `score` holds the base
//! scores. The brand's own domains (list keys, allowlist) never alert, nor
//! does a brand's lookalike in a certificate that also names the brand's
//! own domain (its requester proved control of that domain: a sister site
//! of the brand, not phishing). It must not know about sources, storage or
//! sinks.

mod combosquat;
mod distinct;
mod embedding;
mod exact;
mod explain;
mod homograph;
mod rules;
mod score;
mod settings;
mod suffix;
mod typo;
mod typo_index;
mod words;

pub use explain::verdict_json;
pub use settings::{MatcherConfig, MatcherSettings, RuleSettings};

use crate::domain::Fqdn;
use crate::model::{DistinguishedName, Verdict};
use crate::watchlist::Watchlist;
use rustc_hash::{FxHashMap as HashMap, FxHashSet as HashSet};
use score::Found;
use smallvec::SmallVec;
use std::sync::Arc;

/// Brand ids; almost always one, kept inline.
type BrandIds = SmallVec<[u32; 2]>;

#[derive(Debug)]
struct Brand {
    /// The protected domain, Unicode form, as in the list key.
    domain: String,
    label: String,
    /// The labels of its public suffix: `["co", "uk"]`.
    suffix_labels: Vec<String>,
    /// Which signals run for it.
    distinct: distinct::Distinctiveness,
    /// Why it is not distinctive, for the list status.
    narrowed: Option<String>,
}

/// A brand whose label is not distinctive, and why (`/v1/status`).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Narrowed {
    pub brand: String,
    pub distinctiveness: &'static str,
    pub reason: String,
}

/// The brands, and the brand labels the embedding and combosquat signals
/// look for inside other names.
#[derive(Debug)]
struct Brands {
    list: Vec<Brand>,
    /// Brand labels of 3+ characters → brands.
    labels: HashMap<String, BrandIds>,
    /// Prefilter for `labels`.
    shapes: words::Shapes,
    /// Finds any key of `labels` inside a name.
    finder: Option<aho_corasick::AhoCorasick>,
    /// Some brand label has a hyphen (`deutsche-bank`): hyphen tokens are
    /// looked up in runs too.
    hyphenated: bool,
    /// The listed brands' public suffixes (`com`, `co.uk`).
    suffixes: HashSet<String>,
    /// The list compiled: the tables point into its variants.
    source: Arc<Watchlist>,
}

impl Brands {
    fn get(&self, b: u32) -> &Brand {
        &self.list[b as usize]
    }

    /// Variant `v` of brand `b`: its registrable label.
    fn variant_label(&self, b: u32, v: u32) -> Option<&str> {
        self.source
            .brands
            .get(b as usize)?
            .variants
            .get(v as usize)?
            .label()
    }

    fn compile(source: Arc<Watchlist>) -> Brands {
        let list = &*source;
        let mut brands = Vec::with_capacity(list.brands.len());
        let mut labels: HashMap<String, BrandIds> = HashMap::default();
        let mut suffixes = HashSet::default();
        for (i, entry) in list.brands.iter().enumerate() {
            suffixes.insert(entry.domain.suffix().to_owned());
            let label = entry.domain.registrable_label().to_owned();
            if label.chars().count() >= 3 {
                // short labels count only in strong shapes: a whole embedded
                // domain (`dhl.com.x.top`), or a hyphen token next to a
                // phishing word (`ups-tracking`)
                push_unique(labels.entry(label.clone()).or_default(), i as u32);
            }
            let (distinct, narrowed) = distinct::Distinctiveness::of(&label);
            brands.push(Brand {
                domain: entry.domain.unicode().to_owned(),
                distinct,
                narrowed,
                label,
                suffix_labels: entry
                    .domain
                    .suffix()
                    .split('.')
                    .map(str::to_owned)
                    .collect(),
            });
        }
        let shapes = words::Shapes::new(labels.keys().map(String::as_str));
        // a DFA: one table step a byte (the default picks an NFA for this many)
        let finder = match aho_corasick::AhoCorasick::builder()
            .kind(Some(aho_corasick::AhoCorasickKind::DFA))
            .build(labels.keys())
            .or_else(|_| aho_corasick::AhoCorasick::new(labels.keys()))
        {
            Ok(finder) => Some(finder),
            Err(e) => {
                // cannot happen for a few thousand short labels; matching
                // stays complete without the shortcut
                tracing::warn!(error = %e, "brand-label prefilter not built");
                None
            }
        };
        Brands {
            hyphenated: labels.keys().any(|l| l.contains('-')),
            suffixes,
            list: brands,
            labels,
            shapes,
            finder,
            source,
        }
    }
}

/// Buffers reused from name to name (the hot path allocates little).
#[derive(Default)]
struct Scratch {
    skeleton: String,
    candidates: Vec<u32>,
    joined: String,
}

thread_local! {
    static SCRATCH: std::cell::RefCell<Scratch> = std::cell::RefCell::default();
}

impl Scratch {
    /// Run `f` with this thread's buffers: each name matched after the
    /// first finds them grown already.
    fn with<T>(f: impl FnOnce(&mut Scratch) -> T) -> T {
        SCRATCH.with(|cell| match cell.try_borrow_mut() {
            Ok(mut scratch) => f(&mut scratch),
            // a match inside a match (none today) gets buffers of its own
            Err(_) => f(&mut Scratch::default()),
        })
    }
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
    brands: Brands,
    /// The brands' own domains (list keys and allowlist), Unicode form.
    own: HashSet<String>,
    /// Allowlist entries that are no brand's list key: own, but nobody's
    /// in particular.
    allowed_only: HashSet<String>,
    exact: exact::Exact,
    homograph: homograph::Homographs,
    typo: typo::Typos,
    embedding: embedding::Embedding,
    combosquat: combosquat::Combosquats,
    suffix: suffix::SuffixSwaps,
    rules: rules::Rules,
    free_dv_bonus: u8,
    min_score: u8,
    variant_count: usize,
    tenancy: Tenancy,
    /// The whole list, when only a brand shard of it is matched
    /// (`bus.shards`); `None`: the list matched is the whole list.
    whole: Option<Arc<Watchlist>>,
}

/// Whose incidents a verdict makes, with tenants: the tenants listing its
/// brand, less those whose own allowlist holds the name.
#[derive(Debug, Default)]
struct Tenancy {
    /// Brand domain (Unicode, as verdicts name it) → its index in the list.
    brand_index: HashMap<String, usize>,
    /// Tenant id → its allowlisted domains (ASCII form).
    allow: HashMap<String, HashSet<String>>,
}

impl Tenancy {
    fn compile(list: &Watchlist, config: &MatcherConfig) -> Tenancy {
        if list.tenants.is_empty() {
            return Tenancy::default();
        }
        Tenancy {
            brand_index: list
                .brands
                .iter()
                .enumerate()
                .map(|(i, b)| (b.domain.unicode().to_owned(), i))
                .collect(),
            allow: config
                .tenant_allowlists
                .iter()
                .map(|(id, domains)| {
                    (
                        id.clone(),
                        domains.iter().map(|d| d.ascii().to_owned()).collect(),
                    )
                })
                .collect(),
        }
    }
}

impl Matcher {
    /// Compile a list. Never fails: the list and the settings were
    /// validated when parsed.
    /// Compile a copy of `list`; [`Matcher::compile_shared`] avoids the copy.
    pub fn compile(list: &Watchlist, config: &MatcherConfig) -> Matcher {
        Matcher::compile_shared(Arc::new(list.clone()), config)
    }

    /// Compile `list`, keeping it: the exact and skeleton tables point into
    /// its variants instead of copying them, and [`Matcher::list`] serves it.
    pub fn compile_shared(list: Arc<Watchlist>, config: &MatcherConfig) -> Matcher {
        let settings = &config.settings;
        let mut own: HashSet<String> = config
            .allowlist
            .iter()
            .map(|f| f.unicode().to_owned())
            .collect();
        // every brand's domains are the brands' own, whichever shard
        // matches the brand
        let keys: HashSet<String> = list
            .brands
            .iter()
            .map(|b| b.domain.unicode().to_owned())
            .collect();
        let allowed_only: HashSet<String> = own.difference(&keys).cloned().collect();
        own.extend(keys);
        let (list, whole) = match config.shard {
            Some((shard, shards)) => (Arc::new(list.shard(shard, shards)), Some(list)),
            None => (list, None),
        };
        let brands = Brands::compile(Arc::clone(&list));
        let list = &*list;
        // the two tables over every variant, side by side: a generated list
        // for 1,000 brands has millions
        let (exact, homograph) = std::thread::scope(|scope| {
            let exact = scope.spawn(|| exact::Exact::compile(list));
            let homograph = homograph::Homographs::compile(list);
            let exact = exact
                .join()
                .unwrap_or_else(|panic| std::panic::resume_unwind(panic));
            (exact, homograph)
        });
        Matcher {
            exact,
            homograph,
            typo: typo::Typos::compile(list, &brands, settings),
            embedding: embedding::Embedding::compile(&brands, settings),
            combosquat: combosquat::Combosquats::compile(settings),
            suffix: suffix::SuffixSwaps,
            // rules name no listed brand: the first shard runs them
            rules: rules::Rules::new(match config.shard {
                Some((shard, _)) if shard > 0 => Arc::from(Vec::new()),
                _ => config.rules.clone(),
            }),
            own,
            allowed_only,
            brands,
            free_dv_bonus: settings.free_dv_bonus,
            min_score: settings.min_score,
            variant_count: list.variant_count(),
            tenancy: Tenancy::compile(list, config),
            whole,
        }
    }

    /// Verdicts scoring below this are not incidents (`matcher.min_score`).
    pub fn min_score(&self) -> u8 {
        self.min_score
    }

    /// The most the issuer can add to a verdict's score.
    pub fn issuer_bonus(&self) -> u8 {
        self.free_dv_bonus
    }

    /// The brands whose label is not distinctive, and why.
    pub fn narrowed(&self) -> Vec<Narrowed> {
        self.brands
            .list
            .iter()
            .filter_map(|b| {
                Some(Narrowed {
                    brand: b.domain.clone(),
                    distinctiveness: match b.distinct {
                        distinct::Distinctiveness::Common => "common",
                        distinct::Distinctiveness::Word => "word",
                        distinct::Distinctiveness::Distinctive => "distinctive",
                    },
                    reason: b.narrowed.clone()?,
                })
            })
            .collect()
    }

    /// The list this matcher was compiled from.
    pub fn list(&self) -> &Arc<Watchlist> {
        self.whole.as_ref().unwrap_or(&self.brands.source)
    }

    pub fn brand_count(&self) -> usize {
        self.brands.list.len()
    }

    pub fn variant_count(&self) -> usize {
        self.variant_count
    }

    /// The tenants `verdict` is an incident for: without tenants, the
    /// default one; with them, each tenant listing its brand unless the
    /// tenant's allowlist holds the name. A verdict of a brand no list
    /// names (a rule's `rule:<name>`) is the default tenant's.
    pub fn tenants_for(&self, verdict: &Verdict) -> SmallVec<[&str; 2]> {
        let list = &self.brands.source;
        let Some(&i) = self.tenancy.brand_index.get(&verdict.brand) else {
            return smallvec::smallvec![crate::watchlist::DEFAULT_TENANT];
        };
        let name = verdict.domain.as_str();
        let allowed = |tenant: &str| {
            self.tenancy.allow.get(tenant).is_some_and(|own| {
                // the name and every parent of it
                std::iter::successors(Some(name), |n| n.split_once('.').map(|(_, rest)| rest))
                    .any(|d| own.contains(d))
            })
        };
        list.brands
            .get(i)
            .map(|b| list.tenants_of(b).filter(|t| !allowed(t)).collect())
            .unwrap_or_default()
    }

    /// True when `name` is a protected domain, an allowlisted one, or under one.
    pub fn is_own(&self, name: &Fqdn) -> bool {
        name.self_and_parents().any(|d| self.own.contains(d))
    }

    /// Every brand `name` imitates, best signal per brand, best first.
    pub fn match_name(&self, name: &Fqdn) -> Vec<Verdict> {
        if self.is_own(name) {
            return Vec::new();
        }
        Scratch::with(|scratch| self.match_name_with(name, scratch))
    }

    /// [`Self::match_name`] of a name known not to be own.
    fn match_name_with(&self, name: &Fqdn, scratch: &mut Scratch) -> Vec<Verdict> {
        let mut found = Found::default();
        let b = &self.brands;
        self.exact.check(b, name, scratch, &mut found);
        // folds the label into `scratch.skeleton`, which typo then reads
        self.homograph.check(b, name, scratch, &mut found);
        self.typo.check(b, name, scratch, &mut found);
        self.suffix.check(b, name, scratch, &mut found);
        self.embedding.check_split(b, name, scratch, &mut found);
        // every embedding and combosquat signal needs a brand label inside
        // the name: one automaton pass rules out almost every name
        let inside = (self.embedding.enabled() || self.combosquat.enabled())
            && b.finder.as_ref().is_none_or(|f| f.is_match(name.unicode()));
        if inside {
            self.embedding.check(b, name, scratch, &mut found);
            self.combosquat.check(b, name, scratch, &mut found);
        }
        self.rules.check(b, name, scratch, &mut found);
        // a tenant of a platform brand (`x.github.io`) is not its lookalike
        found.retain(|v| v.brand != name.suffix());
        found.into_sorted()
    }

    /// Match a certificate's names; one verdict per (brand, registrable
    /// domain), the best one, best first.
    pub fn match_names(&self, names: &[String]) -> (Vec<Verdict>, NameStats) {
        let mut stats = NameStats::default();
        let mut best: Vec<Verdict> = Vec::new();
        // brands whose own domain the certificate names
        let mut owners: SmallVec<[String; 2]> = SmallVec::new();
        for raw in names {
            let name = match Fqdn::parse(raw) {
                Ok(n) => n,
                Err(_) => {
                    stats.invalid += 1;
                    continue;
                }
            };
            stats.checked += 1;
            if self.is_own(&name) {
                // a brand's own name: its verdicts in this certificate go
                if let Some(brand) = self.owner_of(&name)
                    && !owners.iter().any(|o| o == brand)
                {
                    owners.push(brand.to_owned());
                }
                continue;
            }
            for mut v in Scratch::with(|scratch| self.match_name_with(&name, scratch)) {
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
        if !owners.is_empty() {
            // the requester controls the brand's domain: its other names
            // are the brand's sister sites (`verizon.com` with `verizon.net`)
            best.retain(|v| !owners.contains(&v.brand));
        }
        (best, stats)
    }

    /// The brand whose list key `name` is or is under (not an allowlist
    /// entry alone: that is nobody's in particular).
    fn owner_of<'a>(&self, name: &'a Fqdn) -> Option<&'a str> {
        name.self_and_parents()
            .find(|d| self.own.contains(*d) && !self.allowed_only.contains(*d))
    }

    /// Raise verdicts about a certificate from a free DV issuer.
    pub fn adjust_for_issuer(&self, verdicts: &mut [Verdict], issuer: &DistinguishedName) {
        let free_dv = [&issuer.O, &issuer.CN, &issuer.aggregated]
            .iter()
            .filter_map(|f| f.as_deref())
            .any(|s| FREE_DV_ISSUERS.iter().any(|i| s.contains(i)));
        if free_dv {
            for v in verdicts.iter_mut() {
                v.adjust(self.free_dv_bonus, "free DV issuer");
            }
        }
    }
}

fn push_unique<A: smallvec::Array<Item = u32>>(v: &mut SmallVec<A>, b: u32) {
    if !v.contains(&b) {
        v.push(b);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CertEvent, Certificate, MatchKind, Severity};

    fn matcher(list: &str) -> Matcher {
        let w = Watchlist::parse(list, 1 << 20).unwrap();
        Matcher::compile(&w, &MatcherConfig::default())
    }

    /// A certificate's verdicts, adjusted for its issuer (what the pipeline does).
    fn match_event(m: &Matcher, event: &CertEvent) -> (Vec<Verdict>, NameStats) {
        let (mut verdicts, stats) = m.match_names(&event.certificate.all_domains);
        m.adjust_for_issuer(&mut verdicts, &event.certificate.issuer);
        (verdicts, stats)
    }

    /// The kind of the best verdict that is an incident (`min_score` up).
    fn kind_of(m: &Matcher, name: &str) -> Option<MatchKind> {
        m.match_name(&Fqdn::parse(name).unwrap())
            .first()
            .filter(|v| v.score >= m.min_score())
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
            kind("apple.evil-host.top"),
            None,
            "an everyday-word label alone needs phishing words"
        );
        let v = &m.match_name(&Fqdn::parse("paypal.evil-host.top").unwrap())[0];
        assert_eq!(
            (v.detail.kind, v.score),
            (MatchKind::Subdomain, 55),
            "a distinctive label alone, lower"
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
            kind("kaypal.com"),
            None,
            "a far first character is not an incident"
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
                RuleSettings {
                    name: "login-words".into(),
                    keywords: vec!["login".into(), "secure".into(), "verify".into()],
                    threshold: 2,
                    severity: Severity::High,
                    ..Default::default()
                },
                RuleSettings {
                    name: "bank-regex".into(),
                    regex: r"^(online|web)banking-".into(),
                    ..Default::default()
                },
            ],
            ..MatcherSettings::default()
        };
        let m = Matcher::compile(&w, &settings.validate().unwrap());
        let kind = |n: &str| kind_of(&m, n);
        assert_eq!(kind("site35.com"), None, "only the trailing number differs");
        assert_eq!(kind("sote45.com"), Some(MatchKind::Typo));
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
            certificate: Certificate {
                all_domains: vec!["sote45.com".into()],
                issuer: DistinguishedName {
                    O: Some(issuer.into()),
                    ..Default::default()
                },
                ..Default::default()
            },
            ..Default::default()
        };
        let (le, _) = match_event(&m, &event("Let's Encrypt"));
        let (other, _) = match_event(&m, &event("DigiCert Inc"));
        assert_eq!(le[0].score, other[0].score + 3);
        assert!(le[0].detail.explanation.contains("free DV issuer"));
    }

    #[test]
    fn common_words_country_sites_and_plurals() {
        let m = matcher(
            r#"{"office.com": [], "uber.com": [], "netflix.com": [], "dropbox.com": [],
                "nytimes.com": [], "olx.in": [], "olx.pl": [], "facebook.com": []}"#,
        );
        let kind = |n: &str| kind_of(&m, n);
        // a common word keeps the typos that read as no word, and abused TLDs
        assert_eq!(kind("offixe.com"), Some(MatchKind::Typo));
        assert_eq!(kind("off-ice.com"), Some(MatchKind::Typo));
        assert_eq!(kind("uber.tk"), Some(MatchKind::SuffixSwap));
        assert_eq!(kind("uber.de"), None);
        // a long frequent word is not one of the commonest
        assert_eq!(kind("faceboook.com"), Some(MatchKind::Typo));
        // a small market's country code alerts, a large one's does not, nor
        // one of a brand the list names under several country codes
        assert_eq!(kind("nytimes.sy"), Some(MatchKind::SuffixSwap));
        assert_eq!(kind("nytimes.de"), None);
        assert_eq!(kind("olx.com.ve"), None);
        // plurals no dictionary has, not dictionary ones
        assert_eq!(kind("netflixes.com"), Some(MatchKind::Combosquat));
        assert_eq!(kind("dropboxes.com"), None);
        // a digit for the first letter
        assert_eq!(kind("3etflix.com"), Some(MatchKind::Typo));
    }

    #[test]
    fn two_edit_shapes_numbers_hyphenated_brands_and_lures() {
        let m = matcher(
            r#"{"alibaba.com": [], "shaadi.com": [], "intuit.com": [], "tabelog.com": [],
                "movie4k.to": [], "deutsche-bank.de": [], "dhl.com": [], "badoo.com": [],
                "android.com": [], "booking.com": []}"#,
        );
        let kind = |n: &str| kind_of(&m, n);
        // two edits count when they are one operation: a character written
        // doubled, vowels swapped; not a stray letter added or dropped, nor
        // two changes at two unrelated places
        assert_eq!(kind("alibabcc.com"), Some(MatchKind::Typo));
        assert_eq!(kind("beeking.com"), Some(MatchKind::Typo));
        assert_eq!(kind("boeing.com"), None);
        assert_eq!(kind("incruit.com"), None);
        assert_eq!(kind("gaadi.com"), None);
        assert_eq!(kind("tblog.com"), None);
        // one digit for another reads as another number; a digit for a letter does not
        assert_eq!(kind("movie2k.to"), None);
        assert_eq!(kind("rnovie4k.to"), Some(MatchKind::Homograph));
        // an ASCII lookalike under another suffix is two changes at once
        assert_eq!(kind("ardroid.com"), Some(MatchKind::Homograph));
        assert_eq!(kind("baboo.com.br"), None);
        // a hyphenated brand label is found as its tokens
        assert_eq!(kind("access-deutsche-bank.de"), Some(MatchKind::Combosquat));
        assert_eq!(kind("deutsche-bank-de.abc"), Some(MatchKind::Subdomain));
        // delivery-scam words
        assert_eq!(
            kind("dhl-parcel-redelivery.com"),
            Some(MatchKind::Combosquat)
        );
    }

    #[test]
    fn own_and_unrelated_names_do_not_match() {
        let m = matcher(LIST);
        for name in [
            "paypal.com",
            "www.paypal.com",
            "login.apple.com",
            "example.org",
            "portal.dragonjar.org",
        ] {
            assert_eq!(kind_of(&m, name), None, "{name}");
        }
    }

    #[test]
    fn suffix_swaps_score_by_where_phishers_register() {
        // the best verdict's score when it is a suffix swap
        let swap_score = |m: &Matcher, n: &str| {
            m.match_name(&Fqdn::parse(n).unwrap())
                .first()
                .filter(|v| v.detail.kind == MatchKind::SuffixSwap)
                .map(|v| v.score)
        };
        let m = matcher(r#"{"paypal.com": [], "apple.com": [], "bbc.co.uk": [], "mail.ru": []}"#);
        let score = |n: &str| swap_score(&m, n);
        assert_eq!(score("paypal.github.io"), Some(70));
        assert_eq!(score("paypal.com.co"), Some(65));
        assert_eq!(score("bbc.uk"), Some(60));
        assert_eq!(score("bbc.me.uk"), Some(55));
        assert_eq!(score("paypal.xyz"), Some(60));
        assert_eq!(score("paypal.net"), Some(55));
        assert_eq!(
            score("paypal.de"),
            Some(45),
            "a country site: below min_score"
        );
        assert_eq!(score("paypal.com.br"), Some(45));
        assert_eq!(
            score("apple.de"),
            Some(45),
            "an everyday word: below min_score"
        );
        assert_eq!(score("mail.com"), None, "the commonest words: none");
        // a label the list names under several suffixes: the brand's own
        // sites, except where phishers register
        let m = matcher(r#"{"ebay.com": [], "ebay.de": [], "paypal.com": []}"#);
        let score = |n: &str| swap_score(&m, n);
        assert_eq!(score("ebay.net"), Some(45));
        assert_eq!(score("ebay.xyz"), Some(60));
        assert_eq!(score("ebay.com.co"), Some(65));
        assert_eq!(score("paypal.net"), Some(55));
    }

    #[test]
    fn a_brand_split_by_dots_run_together_or_numbered() {
        let m = matcher(
            r#"{"visa.com": [], "poste.it": [], "t-mobile.com": [], "office.com": [],
                "spotify.com": [], "line.me": []}"#,
        );
        let kind = |n: &str| kind_of(&m, n);
        // the cut falls inside the public suffix (`sa.com`, `te.it`)
        for n in [
            "vi.sa.com",
            "pos.te.it",
            "t-mob.ile.com",
            "spotif.y.com",
            "www.spo.tify.com",
        ] {
            assert_eq!(kind(n), Some(MatchKind::Subdomain), "{n}");
        }
        assert_eq!(kind("spotif.y.net"), Some(MatchKind::Subdomain));
        assert_eq!(
            kind("vi.sa.net"),
            None,
            "a short label under another suffix"
        );
        assert_eq!(kind("t-mob.ile.net"), None);
        // a label that is a common word brand's whole domain run together
        for n in ["officecom.com", "wwwofficecom.net", "lineme.com"] {
            assert_eq!(kind(n), Some(MatchKind::Subdomain), "{n}");
        }
        assert_eq!(kind("office-com.com"), Some(MatchKind::Subdomain));
        assert_eq!(kind("officecommunity.com"), None);
        assert_eq!(kind("officecom-deals.com"), None, "a token, not the label");
        // the brand label with a number on, beside phishing words
        assert_eq!(kind("office365-login.com"), Some(MatchKind::Combosquat));
        assert_eq!(
            kind("office365-signin.web.app"),
            Some(MatchKind::Combosquat)
        );
        assert_eq!(
            kind("office365-team.com"),
            None,
            "a common word needs a lure"
        );
    }

    #[test]
    fn a_certificate_that_names_the_brand_s_own_domain_is_the_brand_s() {
        let w = Watchlist::parse(r#"{"verizon.com": [], "paypal.com": []}"#, 1 << 20).unwrap();
        let m = Matcher::compile(&w, &MatcherConfig::default());
        let brands = |names: &[&str]| -> Vec<String> {
            let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
            m.match_names(&names)
                .0
                .into_iter()
                .map(|v| v.brand)
                .collect()
        };
        assert_eq!(brands(&["verizon.net"]), ["verizon.com"]);
        // with the brand's own domain (or a name under it) in the same
        // certificate: its sister site
        assert!(brands(&["verizon.net", "www.verizon.com"]).is_empty());
        assert!(brands(&["verizon.com", "verizon-business.net"]).is_empty());
        // another brand's lookalike in it still alerts
        assert_eq!(brands(&["www.verizon.com", "paypa1.com"]), ["paypal.com"]);
        // a name that only contains the brand's domain proves nothing: both
        // lookalikes alert (evil.com and verizon.net)
        assert_eq!(
            brands(&["verizon.com.evil.com", "verizon.net"]),
            ["verizon.com", "verizon.com"]
        );
    }

    #[test]
    fn allowlist_and_similarity() {
        let w = Watchlist::parse(LIST, 1 << 20).unwrap();
        let settings = MatcherSettings {
            allowlist: vec!["paypall.com".into()],
            similarity: 0.85,
            ..MatcherSettings::default()
        };
        let m = Matcher::compile(&w, &settings.validate().unwrap());
        assert_eq!(kind_of(&m, "paypall.com"), None);
        // 1 - 1/6 = 0.833 < 0.85: XSOAR parity
        assert_eq!(kind_of(&m, "paypel.com"), None);
        assert_eq!(kind_of(&m, "microsofft.com"), Some(MatchKind::Typo));
    }

    #[test]
    fn one_verdict_per_brand_and_registrable_domain() {
        let m = matcher(LIST);
        let event = CertEvent {
            certificate: Certificate {
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
        let (verdicts, stats) = match_event(&m, &event);
        assert_eq!(verdicts.len(), 2);
        assert_eq!(stats.checked, 4);
        assert_eq!(stats.invalid, 1);
    }
}
