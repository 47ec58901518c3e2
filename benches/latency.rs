//! End-to-end latency (design.md §6: p99 frame → webhook request ≤ 50 ms at
//! 1,000 frames/s): the whole service (`Application`, as `serve` runs it)
//! reads a local certstream server sending real-shaped `/full-stream`
//! frames at 1,000 a second, and delivers to a local webhook receiver.
//!
//! One iteration sends one lookalike certificate into that stream and
//! waits until the receiver has its incident: websocket, scan, match,
//! incident and outbox rows committed to SQLite (WAL), the sink's worker,
//! the HTTP request. Criterion reports the mean; the percentiles of every
//! iteration are printed at the end.
// A benchmark: unwrap on set-up failure is the right answer.
#![allow(clippy::unwrap_used, unreachable_pub)]

#[path = "support/data.rs"]
mod data;
#[path = "support/live.rs"]
mod live;

use certsentry::{
    Application, HttpSettings, Settings, SinkFormat, SinkSettings, SourceKind, WebhookSettings,
};
use criterion::{Criterion, SamplingMode, criterion_group, criterion_main};
use live::{Arrivals, frame, start_certstream, start_receiver};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tokio::sync::mpsc;

/// Frames a second of background (benign) traffic.
const RATE: u64 = 1_000;
/// Between two lookalikes: one per 20 frames, five times the ~1% of the
/// real stream, so the SQLite and delivery side is loaded more than in
/// production and the percentiles rest on enough samples.
const GAP: Duration = Duration::from_millis(20);

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let arrivals = Arc::new(Arrivals::default());
    let (frames_tx, frames_rx) = mpsc::unbounded_channel::<String>();
    let (templates, benign) = live::background();

    let (_stop, api) = rt.block_on(async {
        let hook = start_receiver(arrivals.clone()).await;
        let certstream = start_certstream(frames_rx).await;
        let list = dir.path().join("list.json");
        std::fs::write(&list, r#"{"paypal.com": ["paypa1", "paypal-secure"]}"#).unwrap();
        let mut s = Settings::default();
        s.api.listen = "127.0.0.1:0".parse().unwrap();
        s.source.kind = SourceKind::Certstream;
        s.source.url = certstream;
        s.watchlist.path = list;
        s.store.path = dir.path().join("certsentry.db");
        s.sinks = vec![SinkSettings::new(
            "hook",
            SinkFormat::Webhook(WebhookSettings {
                http: HttpSettings {
                    url: format!("{hook}/webhook"),
                    ..HttpSettings::default()
                },
                ..WebhookSettings::default()
            }),
        )];
        let app = Application::build(s.validate().unwrap()).await.unwrap();
        let api = format!("http://127.0.0.1:{}", app.port());
        let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
        tokio::spawn(app.run_until_stopped(async move {
            let _ = stop_rx.await;
        }));
        // background traffic: RATE benign frames a second, two names each
        live::send_background(frames_tx.clone(), templates.clone(), benign, RATE);
        (stop, api)
    });
    // the rate the service really read at, from its own counters
    let frames_read = || {
        rt.block_on(async {
            let text = reqwest::get(format!("{api}/metrics"))
                .await
                .unwrap()
                .text()
                .await
                .unwrap();
            let count = |name: &str| -> f64 {
                text.lines()
                    .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
                    .and_then(|l| l.rsplit(' ').next()?.parse().ok())
                    .unwrap_or(0.0)
            };
            (
                count("certsentry_frames_total"),
                count("certsentry_bad_frames_total"),
                Instant::now(),
            )
        })
    };
    let before = frames_read();

    let latencies = Arc::new(Mutex::new(Vec::<Duration>::new()));
    let mut next = 0u64;
    let mut group = c.benchmark_group("latency");
    group.sampling_mode(SamplingMode::Flat);
    group.bench_function("lookalike_frame_to_webhook_at_1000_frames_per_s", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                next += 1;
                let n = next;
                let names = [
                    format!("paypal-login-{n}.com"),
                    format!("www.paypal-login-{n}.com"),
                ];
                // a fresh hash: not the background's (which counts from 0)
                let f = frame(
                    &templates[n as usize % templates.len()],
                    &names,
                    u64::MAX - n,
                );
                let latency = rt.block_on(async {
                    tokio::time::sleep(GAP).await;
                    let sent = Instant::now();
                    frames_tx.send(f).unwrap();
                    loop {
                        let notified = arrivals.notify.notified();
                        if let Some(at) = arrivals.at.lock().unwrap().get(&n) {
                            return at.duration_since(sent);
                        }
                        if tokio::time::timeout(Duration::from_secs(10), notified)
                            .await
                            .is_err()
                        {
                            panic!("lookalike {n} was not delivered within 10 s");
                        }
                    }
                });
                latencies.lock().unwrap().push(latency);
                total += latency;
            }
            total
        })
    });
    group.finish();

    let after = frames_read();
    println!(
        "the service read {:.0} frames/s over the run ({} bad)",
        (after.0 - before.0) / after.2.duration_since(before.2).as_secs_f64(),
        after.1
    );
    let mut all = latencies.lock().unwrap().clone();
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1];
    println!(
        "latency over {} lookalikes at {RATE} frames/s: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        all.len(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.90).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        all[all.len() - 1].as_secs_f64() * 1e3,
    );
}

criterion_group! {
    name = benches;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(2))
        .measurement_time(Duration::from_secs(15));
    targets = bench
}
criterion_main!(benches);
