//! Pipeline: raw `/full-stream` frames → verdicts, against the serde_json
//! parse-only rate of the same frames (design.md §6: ≥ 70%).
// A benchmark: unwrap on set-up failure is the right answer.
#![allow(clippy::unwrap_used, unreachable_pub)]

#[path = "support/data.rs"]
mod data;

use certsentry::Matcher;
use certsentry::MatcherConfig;
use certsentry::Watchlist;
use certsentry::{Cert, match_cert};
use certsentry::{Frame, scan_frame};
use criterion::{Criterion, Throughput, criterion_group};
use std::hint::black_box;
use std::time::Instant;

/// Seven brands with five variants each, and 2,000 real frames carrying
/// two names each (~1% lookalikes).
fn setup() -> (Matcher, Vec<bytes::Bytes>) {
    let brands = data::brands(7);
    let list = Watchlist::parse(&data::list_json(&brands, 5), usize::MAX).unwrap();
    let matcher = Matcher::compile(&list, &MatcherConfig::default());
    let names = data::names(20_000, &brands);
    let frames: Vec<bytes::Bytes> = data::full_frames(2_000, &names)
        .into_iter()
        .map(bytes::Bytes::from)
        .collect();
    (matcher, frames)
}

fn bench(c: &mut Criterion) {
    let (matcher, frames) = setup();
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

/// The ratio the target is about, measured so that the machine's drift
/// cannot skew it: parse-only and frames → verdicts alternate pass by pass
/// over the same frames, and the ratio is taken per pair (median of 31).
fn interleaved_ratio() {
    let (matcher, frames) = setup();
    let source: std::sync::Arc<str> = "bench".into();
    let parse = || {
        for f in &frames {
            let v: serde::de::IgnoredAny = serde_json::from_slice(f).unwrap();
            black_box(v);
        }
    };
    let pipeline = || {
        let mut verdicts = 0usize;
        for f in &frames {
            if let Ok(Frame::Certificate(cert)) = scan_frame(f.clone(), &source) {
                verdicts += match_cert(&matcher, Cert::Frame(&cert)).verdicts.len();
            }
        }
        black_box(verdicts);
    };
    let time = |f: &dyn Fn()| {
        let t = Instant::now();
        f();
        t.elapsed().as_secs_f64() * 1e3
    };
    for _ in 0..5 {
        parse();
        pipeline();
    }
    let (mut p, mut q, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for round in 0..31 {
        let (a, b) = if round % 2 == 0 {
            let a = time(&parse);
            (a, time(&pipeline))
        } else {
            let b = time(&pipeline);
            (time(&parse), b)
        };
        p.push(a);
        q.push(b);
        ratios.push(a / b);
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    println!(
        "pipeline/interleaved: parse-only {:.2} ms, frames_to_verdicts {:.2} ms per {} frames (medians); \
         frames -> verdicts at {:.1}% of the parse-only rate (median of 31 pairs; target >= 70%)",
        median(&mut p),
        median(&mut q),
        frames.len(),
        median(&mut ratios) * 100.0
    );
}

fn main() {
    benches();
    interleaved_ratio();
    Criterion::default().configure_from_args().final_summary();
}
