//! Matcher throughput: names/s against lists of growing size (design.md §6).
//! The current engine compares a name with every typo target; issue #4 adds
//! the candidate index these figures are the baseline for.

#[path = "support/data.rs"]
mod data;

use certsentry::config::MatcherSettings;
use certsentry::domain::Fqdn;
use certsentry::matcher::Matcher;
use certsentry::watchlist::Watchlist;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let mut group = c.benchmark_group("matcher");
    for (n_brands, per_brand) in [(7usize, 5usize), (100, 100)] {
        let brands = data::brands(n_brands);
        let list = Watchlist::parse(&data::list_json(&brands, per_brand), usize::MAX).unwrap();
        let matcher = Matcher::compile(&list, &MatcherSettings::default());
        let names = data::names(10_000, &brands);
        group.throughput(Throughput::Elements(names.len() as u64));
        group.bench_function(format!("parse_and_match/{n_brands}x{per_brand}"), |b| {
            b.iter(|| {
                let mut hits = 0usize;
                for n in &names {
                    if let Ok(f) = Fqdn::parse(n) {
                        hits += matcher.match_name(&f).len();
                    }
                }
                black_box(hits)
            })
        });
    }
    let names = data::names(10_000, &[]);
    group.throughput(Throughput::Elements(names.len() as u64));
    group.bench_function("normalise_only", |b| {
        b.iter(|| names.iter().filter(|n| Fqdn::parse(n).is_ok()).count())
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(std::time::Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
