//! Matcher throughput at scale (design.md §6: 1,000 brands × ~1,000 variants,
//! realistic names with ~1% lookalikes, ≥ 300,000 names/s on one core), the
//! 10,000-brand figure beside it, the naive algorithm (every label against
//! every variant) for comparison, and list reload (parse + compile) time.
// A benchmark: unwrap on set-up failure is the right answer.
#![allow(clippy::unwrap_used, unreachable_pub)]

#[path = "support/data.rs"]
mod data;

use certsentry::Fqdn;
use certsentry::Matcher;
use certsentry::MatcherConfig;
use certsentry::Watchlist;
use certsentry::generator::{GenerateOptions, generate};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

/// `brands` with up to `per_brand` generated variants each (Unicode and punycode forms).
fn generated_list(brands: &[String], per_brand: usize) -> String {
    let opts = GenerateOptions {
        limit: Some(per_brand),
        include_punycode: false,
        ..GenerateOptions::default()
    };
    let mut map = serde_json::Map::new();
    for b in brands {
        let vs: Vec<serde_json::Value> = generate(b, &opts)
            .map(|v| {
                v.into_iter()
                    .map(|v| serde_json::Value::String(v.ascii))
                    .collect()
            })
            .unwrap_or_default();
        map.insert(b.clone(), serde_json::Value::Array(vs));
    }
    serde_json::Value::Object(map).to_string()
}

fn match_all(matcher: &Matcher, names: &[String]) -> usize {
    let mut hits = 0usize;
    for n in names {
        if let Ok(f) = Fqdn::parse(n) {
            hits += matcher.match_name(&f).len();
        }
    }
    hits
}

fn bench(c: &mut Criterion) {
    let settings = MatcherConfig::default();
    let brands = data::brands(1000);
    let json = generated_list(&brands, 1000);
    let list = Watchlist::parse(&json, usize::MAX).unwrap();
    eprintln!(
        "1000 brands: {} variants, {} MB of JSON",
        list.variant_count(),
        json.len() / 1_000_000
    );
    let matcher = Matcher::compile(&list, &settings);
    let names = data::names(100_000, &brands);

    let mut g = c.benchmark_group("matcher");
    g.sample_size(10);
    g.throughput(Throughput::Elements(names.len() as u64));
    g.bench_function("1000_brands_x_1000_variants", |b| {
        b.iter(|| black_box(match_all(&matcher, &names)))
    });

    let brands10k = data::brands(10_000);
    let list10k = Watchlist::parse(&data::list_json(&brands10k, 100), usize::MAX).unwrap();
    eprintln!("10000 brands: {} variants", list10k.variant_count());
    let matcher10k = Matcher::compile(&list10k, &settings);
    let names10k = data::names(100_000, &brands10k);
    g.bench_function("10000_brands_x_100_variants", |b| {
        b.iter(|| black_box(match_all(&matcher10k, &names10k)))
    });

    g.throughput(Throughput::Elements(names.len() as u64));
    g.bench_function("normalise_only", |b| {
        b.iter(|| names.iter().filter(|n| Fqdn::parse(n).is_ok()).count())
    });

    // the naive algorithm: every label of the name against every variant label
    let variant_labels: Vec<String> = list
        .brands
        .iter()
        .flat_map(|b| {
            b.variants
                .iter()
                .map(|v| v.display().split('.').next().unwrap_or("").to_owned())
        })
        .collect();
    let few = &names[..20];
    g.throughput(Throughput::Elements(few.len() as u64));
    g.bench_function("naive_1000_brands_x_1000_variants", |b| {
        b.iter(|| {
            let mut hits = 0usize;
            for n in few {
                for label in n.split('.') {
                    for v in &variant_labels {
                        let d = strsim::levenshtein(label, v);
                        if d <= 1 {
                            hits += 1;
                        }
                    }
                }
            }
            black_box(hits)
        })
    });

    g.throughput(Throughput::Elements(list.variant_count() as u64));
    g.bench_function("reload_parse_and_compile_1m_variants", |b| {
        b.iter(|| {
            let l = Watchlist::parse(&json, usize::MAX).unwrap();
            black_box(Matcher::compile_shared(std::sync::Arc::new(l), &settings).variant_count())
        })
    });
    g.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().measurement_time(std::time::Duration::from_secs(8));
    targets = bench
}
criterion_main!(benches);
