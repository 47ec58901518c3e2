//! The independent evaluation (see README.md beside this file): reading its
//! data, building the lists a user would have (brands only, or what
//! `certsentry generate` makes), delivering every name in a certificate as
//! CT would, and counting what alerts. Shared by `tests/api/quality.rs`
//! (thresholds) and `benches/quality.rs` (the full report).

use certsentry::generator::{GenerateOptions, build_list};
use certsentry::{Fqdn, Matcher, MatcherConfig, MatcherSettings, Watchlist};
use std::collections::{BTreeMap, BTreeSet};

/// One labelled lookalike.
#[derive(Debug, Clone)]
pub struct Lookalike {
    pub name: String,
    pub brand: String,
    /// `dnstwist`, `ail-typo-squatting` or `hand`.
    pub source: String,
    pub fuzzer: String,
    pub class: String,
}

fn data_lines(text: &str) -> impl Iterator<Item = Vec<&str>> {
    text.lines()
        .filter(|l| !l.trim().is_empty() && !l.starts_with('#'))
        .map(|l| l.split('\t').collect())
}

pub fn brands() -> Vec<String> {
    data_lines(include_str!("brands.txt"))
        .map(|f| f[0].to_owned())
        .collect()
}

/// The third-party lookalikes and the hand-written ones.
pub fn lookalikes() -> Vec<Lookalike> {
    let mut out: Vec<Lookalike> = data_lines(include_str!("lookalikes.tsv"))
        .map(|f| Lookalike {
            name: f[0].to_owned(),
            brand: f[1].to_owned(),
            source: f[2].to_owned(),
            fuzzer: f[3].to_owned(),
            class: short_class(f[4], f[2], f[3]).to_owned(),
        })
        .collect();
    out.extend(
        data_lines(include_str!("handwritten.tsv")).map(|f| Lookalike {
            name: f[0].to_owned(),
            brand: f[1].to_owned(),
            source: "hand".to_owned(),
            fuzzer: f[2].to_owned(),
            class: hand_class(f[2]).to_owned(),
        }),
    );
    out
}

/// Short brands (3–4 characters) get only the signals that stay safe for
/// them (issue #15: lookalike and keyboard substitutions, bit flips, an
/// inserted character, brand plus a word). One-edit typos of other kinds
/// (swapping or dropping a letter, swapping vowels, substituting any
/// letter, plurals) are scored apart as `short-other`, reported without a
/// floor: for a 3-letter brand they are mostly other real names (`usps` →
/// `ups`, `ubs` → `usb`).
fn short_class<'a>(class: &'a str, source: &str, fuzzer: &str) -> &'a str {
    const OTHER: &[&str] = &[
        "transposition",
        "changeOrder",
        "omission",
        "vowel-swap",
        "vowelSwap",
        "singularPluralize",
        "doubleReplacement",
        "homophones",
    ];
    // ail-typo-squatting's replacement substitutes any character
    // (dnstwist's substitutes keyboard neighbours)
    let ail_any_letter = source == "ail-typo-squatting" && fuzzer == "replacement";
    if class == "short" && (OTHER.contains(&fuzzer) || ail_any_letter) {
        "short-other"
    } else {
        class
    }
}

/// The evaluation class a hand-written shape is scored in.
fn hand_class(shape: &str) -> &'static str {
    match shape {
        "confusable" | "glyph" => "homoglyph",
        "typo1" | "plural" => "typo1",
        "typo2" => "typo2",
        "short" => "short",
        "combosquat" => "combosquat",
        "suffix" => "suffix",
        _ => "embedding",
    }
}

/// The hand-written benign names: (name, kind).
pub fn benign() -> Vec<(String, String)> {
    data_lines(include_str!("benign.tsv"))
        .map(|f| (f[0].to_owned(), f[1].to_owned()))
        .collect()
}

/// The popular-domains corpus, most popular first.
pub fn popular() -> Vec<String> {
    include_str!("popular-domains-50k.txt")
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .map(str::to_owned)
        .collect()
}

/// The registrable domains of the `sister` names of `benign.tsv`: what a
/// team allowlists for its brands.
pub fn sister_allowlist() -> Vec<String> {
    benign()
        .into_iter()
        .filter(|(_, kind)| kind == "sister")
        .filter_map(|(name, _)| Fqdn::parse(&name).ok())
        .map(|f| f.registrable_domain_ascii().to_owned())
        .collect()
}

/// A list of `brands` with no variants: what most users start with.
pub fn brands_only_list(brands: &[String]) -> String {
    let map: serde_json::Map<String, serde_json::Value> = brands
        .iter()
        .map(|b| (b.clone(), serde_json::Value::Array(Vec::new())))
        .collect();
    serde_json::Value::Object(map).to_string()
}

/// The list `certsentry generate` makes for `brands` (default options).
pub fn generated_list(brands: &[String]) -> String {
    build_list(brands, &GenerateOptions::default(), false, |_| {})
        .expect("brands are domains")
        .to_string()
}

pub fn config() -> MatcherConfig {
    MatcherSettings {
        allowlist: sister_allowlist(),
        ..MatcherSettings::default()
    }
    .validate()
    .expect("valid matcher settings")
}

pub fn compile(list: &str, config: &MatcherConfig) -> Matcher {
    let w = Watchlist::parse(list, usize::MAX).expect("the list loads");
    Matcher::compile(&w, config)
}

/// The names of the certificate a lookalike arrives in: a wildcard with
/// the bare name, the name with `www.`, or the name alone, by turn.
pub fn certificate_names(name: &str, i: usize) -> Vec<String> {
    let bare = name.trim_start_matches("*.");
    match i % 3 {
        0 if !name.starts_with("*.") => vec![format!("*.{bare}"), bare.to_owned()],
        1 => vec![name.to_owned(), format!("www.{bare}")],
        _ => vec![name.to_owned()],
    }
}

/// The brands a certificate with `names` raises incidents for.
pub fn alerts(m: &Matcher, names: &[String]) -> Vec<(String, u8, String)> {
    verdicts(m, names)
        .into_iter()
        .filter(|(_, score, _)| *score >= m.min_score())
        .collect()
}

/// Every verdict about a certificate with `names`, whatever its score:
/// (brand, score, kind).
pub fn verdicts(m: &Matcher, names: &[String]) -> Vec<(String, u8, String)> {
    let (verdicts, _) = m.match_names(names);
    verdicts
        .into_iter()
        .map(|v| (v.brand, v.score, v.detail.kind.as_str().to_owned()))
        .collect()
}

/// The best score a lookalike gets for its own brand, per lookalike (0 for
/// none), and the best score of any verdict per counted popular domain:
/// what a sweep of `min_score` reads.
pub fn score_profile(
    m: &Matcher,
    lookalikes: &[Lookalike],
    popular: &[String],
) -> (Vec<u8>, Vec<u8>) {
    let own = lookalikes
        .iter()
        .enumerate()
        .map(|(i, l)| {
            verdicts(m, &certificate_names(&l.name, i))
                .iter()
                .filter(|(b, _, _)| *b == l.brand)
                .map(|(_, s, _)| *s)
                .max()
                .unwrap_or(0)
        })
        .collect();
    let benign = popular
        .iter()
        .enumerate()
        .filter_map(|(i, name)| {
            let f = Fqdn::parse(name).ok()?;
            if m.is_own(&f) {
                return None;
            }
            Some(
                verdicts(m, &certificate_names(name, i))
                    .iter()
                    .map(|(_, s, _)| *s)
                    .max()
                    .unwrap_or(0),
            )
        })
        .collect();
    (own, benign)
}

/// Detected / total, per key.
#[derive(Debug, Default, Clone)]
pub struct Tally(pub BTreeMap<String, (usize, usize)>);

impl Tally {
    fn add(&mut self, key: &str, hit: bool) {
        let e = self.0.entry(key.to_owned()).or_default();
        e.1 += 1;
        if hit {
            e.0 += 1;
        }
    }

    pub fn rate(&self, keys: &[&str]) -> (usize, usize, f64) {
        let (hit, total) = keys
            .iter()
            .filter_map(|k| self.0.get(*k))
            .fold((0, 0), |(h, t), (a, b)| (h + a, t + b));
        (hit, total, 100.0 * hit as f64 / total.max(1) as f64)
    }
}

/// Recall of `lookalikes` against `m`: by class, by family
/// (`class/generator/fuzzer`), and the misses.
pub fn recall(m: &Matcher, lookalikes: &[Lookalike]) -> (Tally, Tally, Vec<Lookalike>) {
    let (mut by_class, mut by_family, mut misses) =
        (Tally::default(), Tally::default(), Vec::new());
    for (i, l) in lookalikes.iter().enumerate() {
        let names = certificate_names(&l.name, i);
        let hit = alerts(m, &names).iter().any(|(b, _, _)| *b == l.brand);
        by_class.add(&l.class, hit);
        by_family.add(&format!("{}/{}/{}", l.class, l.source, l.fuzzer), hit);
        if !hit {
            misses.push(l.clone());
        }
    }
    (by_class, by_family, misses)
}

/// Popular domains that alert, of those not protected by the list (a
/// protected domain or a name under one is the brand's own).
pub fn false_positives(m: &Matcher, names: &[String]) -> (usize, usize, Vec<String>) {
    let mut flagged = Vec::new();
    let mut counted = 0;
    for (i, name) in names.iter().enumerate() {
        let Ok(f) = Fqdn::parse(name) else {
            continue;
        };
        if m.is_own(&f) {
            continue;
        }
        counted += 1;
        let (verdicts, _) = m.match_names(&certificate_names(name, i));
        if let Some(v) = verdicts.iter().find(|v| v.score >= m.min_score()) {
            flagged.push(format!(
                "{name} ({} of {}, {}): {}",
                v.detail.kind.as_str(),
                v.brand,
                v.score,
                v.detail.explanation
            ));
        }
    }
    (flagged.len(), counted, flagged)
}

/// A recall threshold: the goal, and the floor `cargo test` holds
/// (the goal where it is met, else a guard just under what is achieved,
/// so that a regression fails while the gap stays visible).
pub struct Class {
    pub name: &'static str,
    pub classes: &'static [&'static str],
    pub goal: f64,
    pub floor: f64,
}

/// The threshold classes of issue #15, brands-only list, all brands.
pub const CLASSES: &[Class] = &[
    Class {
        name: "homoglyph/IDN",
        classes: &["homoglyph"],
        goal: 97.0,
        floor: 97.0,
    },
    Class {
        name: "typos, labels of 5+ (1 and 2 edits)",
        classes: &["typo1", "typo2"],
        goal: 97.0,
        floor: 97.0,
    },
    Class {
        name: "typos, labels of 3-4 (1 edit)",
        classes: &["short"],
        goal: 90.0,
        floor: 90.0,
    },
    Class {
        name: "embedding, combosquat, suffix swaps",
        classes: &["embedding", "combosquat", "suffix"],
        goal: 95.0,
        floor: 95.0,
    },
];

/// False-positive ceilings (% of the popular domains not in the list):
/// (brands, goal, ceiling `cargo test` holds).
pub const FP_40: (f64, f64) = (0.05, 0.05);
pub const FP_1000: (f64, f64) = (0.3, 0.75);

/// The 40 brands of the small-list measurements: every fifth brand.
pub fn forty(brands: &[String]) -> Vec<String> {
    brands.iter().step_by(5).take(40).cloned().collect()
}

/// The 1,000 most popular domains plus the 40: the large-list brands.
pub fn thousand(popular: &[String], forty: &[String]) -> Vec<String> {
    let mut set: BTreeSet<String> = popular.iter().take(1000).cloned().collect();
    set.extend(forty.iter().cloned());
    set.into_iter().collect()
}
