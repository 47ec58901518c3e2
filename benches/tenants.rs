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
//! `cargo bench --bench tenants -- 10000` adds 10,000.
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

fn rss_kb() -> u64 {
    std::fs::read_to_string("/proc/self/status")
        .unwrap()
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
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

fn run(popular: &[String], names: &[String], tenants: usize) {
    let text = bundle(popular, tenants);
    let before = rss_kb();
    let started = Instant::now();
    let list = Watchlist::parse(&text, usize::MAX).unwrap();
    let parsed = started.elapsed();
    let distinct = list.brands.len();
    let started = Instant::now();
    let m = Matcher::compile_shared(std::sync::Arc::new(list), &MatcherConfig::default());
    let compiled = started.elapsed();
    let after = rss_kb();
    let started = Instant::now();
    let (mut verdicts, mut incidents) = (0usize, 0usize);
    for name in names {
        let (found, _) = m.match_names(std::slice::from_ref(name));
        for v in found.iter().filter(|v| v.score >= m.min_score()) {
            verdicts += 1;
            incidents += m.tenants_for(v).len();
        }
    }
    let matching = started.elapsed();
    println!(
        "{tenants} tenants x 1,000 brands: bundle {} MB; {distinct} distinct brands; parse {parsed:.2?}, \
         compile {compiled:.2?}; +{} MB RSS (list and matcher); {:.0} names/s; \
         {verdicts} verdicts at min_score -> {incidents} incidents ({:.1} tenants each)",
        text.len() >> 20,
        after.saturating_sub(before) >> 10,
        names.len() as f64 / matching.as_secs_f64(),
        incidents as f64 / verdicts.max(1) as f64,
    );
}

fn main() {
    let popular = harness::popular();
    // the names matched: every popular domain and its www. name (most are
    // some tenant's brand or near one: a worst case for fan-out)
    let names: Vec<String> = popular
        .iter()
        .flat_map(|d| [d.clone(), format!("www.{d}")])
        .collect();
    let mut counts = vec![100, 1000];
    if std::env::args().any(|a| a == "10000") {
        counts.push(10_000);
    }
    for t in counts {
        run(&popular, &names, t);
    }
}
