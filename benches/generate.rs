//! Generator: one brand with default options (design.md §6: ≤ 5 ms), and a
//! 1,000-brand list (≤ 10 s): the ~150 commonly phished brands of
//! benches/support/brands.txt padded with synthetic brand-like domains.
// A benchmark: unwrap on set-up failure is the right answer.
#![allow(clippy::unwrap_used, unreachable_pub)]

#[path = "support/data.rs"]
mod data;

use certsentry::generator::{GenerateOptions, build_list, generate};
use criterion::{Criterion, criterion_group, criterion_main};
use std::hint::black_box;

fn brands_1000() -> Vec<String> {
    let mut brands: Vec<String> = include_str!("support/brands.txt")
        .lines()
        .map(str::to_owned)
        .collect();
    brands.extend(data::brands(1000 - brands.len()));
    brands.truncate(1000);
    brands
}

fn bench(c: &mut Criterion) {
    let opts = GenerateOptions::default();
    // warm the confusables table (built once per process)
    let n = generate("paypal.com", &opts).unwrap().len();
    eprintln!("paypal.com: {n} variants with default options");
    let mut g = c.benchmark_group("generate");
    for domain in ["paypal.com", "bankofamerica.com"] {
        g.bench_function(domain, |b| {
            b.iter(|| black_box(generate(domain, &opts).unwrap().len()))
        });
    }
    g.finish();
    let brands = brands_1000();
    let mut g = c.benchmark_group("generate_list");
    g.sample_size(10);
    g.bench_function("1000_brands", |b| {
        b.iter(|| black_box(build_list(&brands, &opts, false, |_| {}).unwrap()))
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(std::time::Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
