//! Delivery throughput (issue #5: ≥ 500 incidents/s): a burst of queued
//! incidents drained by one sink's worker into a local HTTP receiver that
//! answers each request after 1 ms, through the real SQLite outbox.
// A benchmark: unwrap on set-up failure is the right answer.
#![allow(clippy::unwrap_used, unreachable_pub)]

use certsentry::{
    DedupPolicy, DeliveryWorker, HttpSettings, Incident, MatchDetail, Metrics, Recorder, Settings,
    Severity, Sink, SinkContext, SinkFormat, SinkSettings, Store, Verdict, WebhookSettings,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime};

const BURST: usize = 2_000;

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let received = Arc::new(AtomicU64::new(0));
    let addr = rt.block_on(async {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let count = received.clone();
        let app = axum::Router::new().fallback(move || {
            let count = count.clone();
            async move {
                tokio::time::sleep(Duration::from_millis(1)).await;
                count.fetch_add(1, Ordering::Relaxed);
                "{}"
            }
        });
        tokio::spawn(async move { axum::serve(listener, app).await });
        addr
    });
    let dir = tempfile::tempdir().unwrap();
    let store = Store::open(&dir.path().join("bench.db")).unwrap();
    let settings = Settings {
        sinks: vec![SinkSettings::new(
            "bench",
            SinkFormat::Webhook(WebhookSettings {
                http: HttpSettings {
                    url: format!("http://{addr}/hook"),
                    ..HttpSettings::default()
                },
                ..WebhookSettings::default()
            }),
        )],
        ..Settings::default()
    };
    let config = settings.validate().unwrap();
    let delivery = config.settings.delivery.clone();
    let ctx = SinkContext {
        client: reqwest::Client::new(),
        delivery: delivery.clone(),
    };
    let sink = Arc::new(Sink::build(&config.sinks[0], &ctx).unwrap());
    let worker = DeliveryWorker {
        sink,
        store: store.clone(),
        metrics: Arc::new(Metrics::default()),
        settings: delivery,
        wake: Arc::new(tokio::sync::Notify::new()),
    };
    let template = Verdict {
        brand: "paypal.com".into(),
        domain: "paypa1.com".into(),
        domain_unicode: "paypa1.com".into(),
        registrable_domain: "paypa1.com".into(),
        registrable_domain_ascii: "paypa1.com".into(),
        detail: MatchDetail::default(),
        score: 95,
        severity: Severity::Critical,
    };
    let policy = DedupPolicy {
        window: Duration::from_secs(86400),
        send_updates: false,
    };
    let sinks = vec!["bench".to_string()];
    let mut serial = 0u64;

    let mut group = c.benchmark_group("delivery");
    group.sample_size(10);
    group.throughput(Throughput::Elements(BURST as u64));
    group.bench_function("drain_burst_1ms_receiver", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                // queue a burst (not timed), as after an outage
                for _ in 0..BURST {
                    serial += 1;
                    let mut v = template.clone();
                    v.registrable_domain_ascii = format!("paypa1-{serial}.com");
                    let incident = Incident::new(
                        v,
                        &Default::default(),
                        ulid::Ulid::generate(),
                        SystemTime::now(),
                    );
                    store
                        .record(&incident, &sinks, policy, SystemTime::now())
                        .unwrap();
                }
                let before = received.load(Ordering::Relaxed);
                let start = Instant::now();
                rt.block_on(async { while worker.run_once().await.unwrap() > 0 {} });
                total += start.elapsed();
                assert_eq!(received.load(Ordering::Relaxed) - before, BURST as u64);
            }
            total
        })
    });
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
