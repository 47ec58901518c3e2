//! Generation and list load for 1,000 real brands (issue #15): the 1,000
//! most popular domains of the evaluation corpus plus the evaluation's 40
//! brands, with default options; then parsing and compiling the list the
//! generator made (what a reload does, off the hot path). Prints a one-shot
//! breakdown first, then criterion figures. Peak RSS is measured outside,
//! with `/usr/bin/time -v certsentry replay` on the list `LISTS_OUT=path`
//! keeps (see README).
// A benchmark: unwrap on set-up failure is the right answer.
#![allow(clippy::unwrap_used, unreachable_pub)]

#[path = "../tests/eval/harness.rs"]
#[allow(dead_code)]
mod harness;

use certsentry::generator::{GenerateOptions, build_list};
use certsentry::{Matcher, MatcherConfig, Watchlist};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;
use std::time::Instant;

fn brands() -> Vec<String> {
    let popular = harness::popular();
    harness::thousand(&popular, &harness::forty(&harness::brands()))
}

fn bench(c: &mut Criterion) {
    let brands = brands();
    let opts = GenerateOptions::default();
    let config = MatcherConfig::default();
    let started = Instant::now();
    let list = build_list(&brands, &opts, false, |_| {})
        .unwrap()
        .to_string();
    let generated = started.elapsed();
    // LISTS_OUT=path keeps the list, for the RSS measurement with
    // `/usr/bin/time -v certsentry replay --list path ...`
    if let Ok(path) = std::env::var("LISTS_OUT") {
        std::fs::write(path, &list).unwrap();
    }
    let started = Instant::now();
    let parsed = Watchlist::parse(&list, usize::MAX).unwrap();
    let parse = started.elapsed();
    let started = Instant::now();
    let m = Matcher::compile_shared(std::sync::Arc::new(parsed), &config);
    let compile = started.elapsed();
    eprintln!(
        "{} brands: generated {} variants ({} MB) in {generated:.2?}; parsed in {parse:.2?}, compiled in {compile:.2?}",
        brands.len(),
        m.variant_count(),
        list.len() >> 20,
    );
    drop(m);
    let mut g = c.benchmark_group("lists_1000_real_brands");
    g.sample_size(10);
    g.bench_function("generate", |b| {
        b.iter(|| black_box(build_list(&brands, &opts, false, |_| {}).unwrap()))
    });
    g.bench_function("parse_and_compile", |b| {
        b.iter(|| {
            let w = Watchlist::parse(&list, usize::MAX).unwrap();
            black_box(Matcher::compile_shared(std::sync::Arc::new(w), &config).variant_count())
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(std::time::Duration::from_secs(20));
    targets = bench
}
criterion_main!(benches);
