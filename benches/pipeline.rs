//! Pipeline: raw `/full-stream` frames → verdicts, against the serde_json
//! parse-only rate of the same frames (design.md §6: ≥ 70%).

#[path = "support/data.rs"]
mod data;

use certsentry::config::MatcherSettings;
use certsentry::matcher::Matcher;
use certsentry::pipeline::{Cert, match_cert};
use certsentry::source::{Frame, scan_frame};
use certsentry::watchlist::Watchlist;
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::hint::black_box;

fn bench(c: &mut Criterion) {
    let brands = data::brands(7);
    let list = Watchlist::parse(&data::list_json(&brands, 5), usize::MAX).unwrap();
    let matcher = Matcher::compile(&list, &MatcherSettings::default());
    let names = data::names(20_000, &brands);
    let frames: Vec<bytes::Bytes> = data::full_frames(2_000, &names)
        .into_iter()
        .map(bytes::Bytes::from)
        .collect();
    let mut group = c.benchmark_group("pipeline");
    group.throughput(Throughput::Elements(frames.len() as u64));
    group.bench_function("serde_json_parse_only", |b| {
        b.iter(|| {
            for f in &frames {
                let v: serde::de::IgnoredAny = serde_json::from_slice(f).unwrap();
                black_box(v);
            }
        })
    });
    // for context: a parse into serde_json's DOM, what "parsing" usually means
    group.bench_function("serde_json_value", |b| {
        b.iter(|| {
            for f in &frames {
                let v: serde_json::Value = serde_json::from_slice(f).unwrap();
                black_box(v);
            }
        })
    });
    let source: std::sync::Arc<str> = "bench".into();
    // what the service runs per frame: scan (the source), then match and, on a
    // match, build the whole event (the pipeline), SQLite aside
    group.bench_function("frames_to_verdicts", |b| {
        b.iter(|| {
            let mut verdicts = 0usize;
            for f in &frames {
                if let Ok(Frame::Certificate(cert)) = scan_frame(f.clone(), &source) {
                    verdicts += match_cert(&matcher, Cert::Frame(&cert)).verdicts.len();
                }
            }
            black_box(verdicts)
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(10).measurement_time(std::time::Duration::from_secs(5));
    targets = bench
}
criterion_main!(benches);
