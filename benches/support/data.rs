//! Deterministic benchmark data shared by the benches: brand lists, realistic
//! certificate names (mostly benign, ~1% lookalikes) and certstream frames
//! built from the real CT entries in tests/fixtures.
#![allow(dead_code)]

use serde_json::Value;

const WORDS: &[&str] = &[
    "cloud", "shop", "mail", "portal", "app", "dev", "blog", "media", "data", "home", "green",
    "river", "north", "smart", "tech", "pixel", "studio", "travel", "market", "health", "energy",
    "school", "design", "photo", "garden", "coffee", "bank", "group", "labs", "digital", "systems",
    "network", "service", "online", "global", "city", "house", "auto", "sport", "music", "food",
    "pet", "solar", "farm", "legal", "dental", "clinic",
];
const TLDS: &[&str] = &[
    "com", "net", "org", "io", "de", "co.uk", "fr", "nl", "xyz", "top", "shop", "app", "dev",
    "com.br", "jp",
];
const SUBS: &[&str] = &[
    "www",
    "mail",
    "api",
    "cdn",
    "autodiscover",
    "cpanel",
    "webmail",
    "dev",
    "staging",
    "m",
];

/// `n` brand domains like `acmepay7.com` (distinct, 6-14 chars).
pub fn brands(n: usize) -> Vec<String> {
    let mut rng = fastrand::Rng::with_seed(7);
    let mut out = std::collections::BTreeSet::new();
    while out.len() < n {
        let a = WORDS[rng.usize(..WORDS.len())];
        let b = WORDS[rng.usize(..WORDS.len())];
        let label = format!("{a}{b}{}", rng.u32(..100));
        out.insert(format!("{label}.{}", TLDS[rng.usize(..3)]));
    }
    out.into_iter().collect()
}

/// Simple typo variants of a label (omission, repetition, replacement, transposition).
pub fn variants_of(label: &str, n: usize) -> Vec<String> {
    let chars: Vec<char> = label.chars().collect();
    let mut out = Vec::new();
    for i in 0..chars.len() {
        let mut v = chars.clone();
        v.remove(i);
        out.push(v.iter().collect::<String>());
        let mut v = chars.clone();
        v.insert(i, chars[i]);
        out.push(v.iter().collect());
        if i + 1 < chars.len() {
            let mut v = chars.clone();
            v.swap(i, i + 1);
            out.push(v.iter().collect());
        }
        for c in 'a'..='z' {
            if c != chars[i] {
                let mut v = chars.clone();
                v[i] = c;
                out.push(v.iter().collect());
            }
        }
    }
    out.sort();
    out.dedup();
    out.retain(|v| v != label);
    out.truncate(n);
    out
}

/// The list JSON for `brands` with `per_brand` variants each.
pub fn list_json(brands: &[String], per_brand: usize) -> String {
    let mut map = serde_json::Map::new();
    for b in brands {
        let label = b.split('.').next().unwrap_or(b);
        let vs: Vec<Value> = variants_of(label, per_brand)
            .into_iter()
            .map(Value::String)
            .collect();
        map.insert(b.clone(), Value::Array(vs));
    }
    Value::Object(map).to_string()
}

/// `n` certificate names: ~99% benign, ~1% lookalikes of `brands`.
pub fn names(n: usize, brands: &[String]) -> Vec<String> {
    let mut rng = fastrand::Rng::with_seed(11);
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        if rng.u32(..100) == 0 && !brands.is_empty() {
            let b = &brands[rng.usize(..brands.len())];
            let label = b.split('.').next().unwrap_or(b);
            let vs = variants_of(label, 40);
            let v = &vs[rng.usize(..vs.len())];
            out.push(format!("{v}.{}", TLDS[rng.usize(..TLDS.len())]));
        } else {
            let a = WORDS[rng.usize(..WORDS.len())];
            let b = WORDS[rng.usize(..WORDS.len())];
            let mut name = format!(
                "{a}-{b}{}.{}",
                rng.u32(..1000),
                TLDS[rng.usize(..TLDS.len())]
            );
            if rng.bool() {
                name = format!("{}.{name}", SUBS[rng.usize(..SUBS.len())]);
            }
            out.push(name);
        }
    }
    out
}

/// Real `/full-stream` frames (tests/fixtures/live_ct.json), with their names
/// replaced by `names` (two or three per certificate, as in CT).
pub fn full_frames(n: usize, names: &[String]) -> Vec<String> {
    let entries: Vec<Value> =
        serde_json::from_str(include_str!("../../tests/fixtures/live_ct.json")).unwrap();
    let templates: Vec<Value> = entries
        .iter()
        .map(|e| serde_json::from_str(e["expected_full"].as_str().unwrap()).unwrap())
        .collect();
    (0..n)
        .map(|i| {
            let mut m = templates[i % templates.len()].clone();
            let k = i * 2;
            let ns: Vec<&String> = (0..2).map(|j| &names[(k + j) % names.len()]).collect();
            m["data"]["leaf_cert"]["all_domains"] = serde_json::json!(ns);
            m["data"]["leaf_cert"]["sha256"] = Value::String(format!("{i:064X}"));
            m.to_string()
        })
        .collect()
}
