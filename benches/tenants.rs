//! Tenants at scale (issue #19): T tenants with 1,000 brands each
//! (brands-only lists, what most users start with), 300 of them drawn from
//! the 1,000 most popular domains (the brands many customers share) and
//! 700 from the other 49,000 of the popular-domains file, as the bundle
//! the tenants' lists travel in. Measures the bundle's size, parsing and
//! compiling it (what a reload does), the resident memory the compiled
//! matcher adds, the distinct brands, and matching speed with the
//! incidents per matching verdict (one per tenant listing the brand).
//!
//! `cargo bench --bench tenants` runs 100 and 1,000 tenants;
//! `cargo bench --bench tenants -- 10000` runs 10,000 (one count per run
//! gives clean memory figures).
// A benchmark: unwrap on set-up failure is the right answer.
#![allow(clippy::unwrap_used, unreachable_pub)]

#[path = "../tests/eval/harness.rs"]
#[allow(dead_code)]
mod harness;

use certsentry::{Matcher, MatcherConfig, Watchlist};
use std::time::Instant;

/// xorshift64*: reproducible picks without a dependency.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: usize) -> usize {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        (self.0.wrapping_mul(0x2545_F491_4F6C_DD1D) % n as u64) as usize
    }
}

fn status_kb(key: &str) -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with(key))
        .and_then(|l| l.split_whitespace().nth(1)?.parse().ok())
        .unwrap_or(0)
}

/// The bundle of `tenants` lists of 1,000 brands each.
fn bundle(popular: &[String], tenants: usize) -> String {
    let (top, rest) = popular.split_at(1000);
    let mut out = String::from(r#"{"tenants":{"#);
    for t in 0..tenants {
        let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ (t as u64 + 1));
        let mut picked = std::collections::BTreeSet::new();
        while picked.len() < 300 {
            picked.insert(top[rng.below(top.len())].as_str());
        }
        while picked.len() < 1000 {
            picked.insert(rest[rng.below(rest.len())].as_str());
        }
        if t > 0 {
            out.push(',');
        }
        out.push_str(&format!("\"t{t}\":{{"));
        let list: Vec<String> = picked.iter().map(|b| format!("\"{b}\":[]")).collect();
        out.push_str(&list.join(","));
        out.push('}');
    }
    out.push_str("}}");
    out
}

/// Real CT names: every name of the CT fixtures and the demo stream.
fn ct_names() -> Vec<String> {
    let mut out = Vec::new();
    let fixtures: Vec<serde_json::Value> =
        serde_json::from_str(include_str!("../tests/fixtures/live_ct.json")).unwrap();
    for f in &fixtures {
        let full: serde_json::Value =
            serde_json::from_str(f["expected_full"].as_str().unwrap()).unwrap();
        out.extend(names_of(&full));
    }
    // the demo stream has malformed frames on purpose
    for line in include_str!("../demo/stream.jsonl").lines() {
        if let Ok(message) = serde_json::from_str(line) {
            out.extend(names_of(&message));
        }
    }
    out.sort();
    out.dedup();
    out
}

fn names_of(message: &serde_json::Value) -> Vec<String> {
    message["data"]["leaf_cert"]["all_domains"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|n| Some(n.as_str()?.to_owned()))
                .collect()
        })
        .unwrap_or_default()
}

/// Names matched a second, and (verdicts at `min_score`, incidents).
fn speed(m: &Matcher, names: &[String], rounds: usize) -> (f64, usize, usize) {
    let started = Instant::now();
    let (mut verdicts, mut incidents) = (0usize, 0usize);
    for _ in 0..rounds {
        for name in names {
            let (found, _) = m.match_names(std::slice::from_ref(name));
            for v in found.iter().filter(|v| v.score >= m.min_score()) {
                verdicts += 1;
                incidents += m.tenants_for(v).len();
            }
        }
    }
    let rate = (names.len() * rounds) as f64 / started.elapsed().as_secs_f64();
    (rate, verdicts / rounds, incidents / rounds)
}

fn run(popular: &[String], ct: &[String], lookalikes: &[String], tenants: usize) {
    let text = bundle(popular, tenants);
    let before = status_kb("VmRSS:");
    let started = Instant::now();
    let list = Watchlist::parse(&text, usize::MAX).unwrap();
    let parsed = started.elapsed();
    let distinct = list.brands.len();
    let started = Instant::now();
    let m = Matcher::compile_shared(std::sync::Arc::new(list), &MatcherConfig::default());
    let compiled = started.elapsed();
    let after = status_kb("VmRSS:");
    let (ct_rate, _, _) = speed(&m, ct, (100_000 / ct.len().max(1)).max(1));
    let (attack_rate, verdicts, incidents) = speed(&m, lookalikes, 1);
    println!(
        "{tenants} tenants x 1,000 brands: bundle {} MB; {distinct} distinct brands; parse {parsed:.2?}, \
         compile {compiled:.2?}; +{} MB RSS (list and matcher), peak {} MB; real CT names {ct_rate:.0}/s; \
         third-party lookalikes {attack_rate:.0}/s, {verdicts} verdicts at min_score -> {incidents} \
         incidents ({:.1} tenants each)",
        text.len() >> 20,
        after.saturating_sub(before) >> 10,
        status_kb("VmHWM:") >> 10,
        incidents as f64 / verdicts.max(1) as f64,
    );
}

fn main() {
    // what a list key can be (the file has a few IP addresses)
    let popular: Vec<String> = harness::popular()
        .into_iter()
        .filter(|d| certsentry::Fqdn::parse_domain(d).is_ok())
        .collect();
    // the names matched: real CT names (mostly nobody's lookalike), and
    // the evaluation's third-party lookalikes (of 227 brands, many of them
    // popular, so of many tenants' brands: the fan-out's worst case)
    let ct = ct_names();
    let lookalikes: Vec<String> = harness::lookalikes().into_iter().map(|l| l.name).collect();
    println!(
        "{} real CT names, {} lookalikes",
        ct.len(),
        lookalikes.len()
    );
    // tenant counts given as arguments (one per process gives clean
    // memory figures), else 100 and 1,000
    let mut counts: Vec<usize> = std::env::args()
        .skip(1)
        .filter_map(|a| a.parse().ok())
        .collect();
    if counts.is_empty() {
        counts = vec![100, 1000];
    }
    for t in counts {
        run(&popular, &ct, &lookalikes, t);
    }
}
