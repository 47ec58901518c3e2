//! The console's queue at 100k stored incidents (issue #17: the first page,
//! filtered and unfiltered, p99 server time ≤ 50 ms). The whole service
//! (`Application`, as `serve` runs it) over a store holding 100,000
//! incidents of 200 brands; each iteration is one `GET /v1/incidents` of
//! the console's first page (newest first, 50 rows) over loopback HTTP,
//! timed from request to the last byte. Criterion reports the mean; the
//! percentiles of every request are printed per query at the end.
// A benchmark: unwrap on set-up failure is the right answer.
#![allow(clippy::unwrap_used, unreachable_pub)]

use certsentry::{
    Application, DedupPolicy, Incident, MatchDetail, MatchKind, Recorder, Settings, Severity,
    SourceKind, Store, Verdict,
};
use criterion::{Criterion, criterion_group, criterion_main};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::time::{Duration, Instant, SystemTime};

const INCIDENTS: usize = 100_000;
const BRANDS: usize = 200;

/// 100k incidents spread over the last 30 days, brands, kinds and severities.
fn fill(store: &Store) {
    let kinds = [
        MatchKind::Typo,
        MatchKind::Combosquat,
        MatchKind::Homograph,
        MatchKind::ExactVariant,
        MatchKind::SuffixSwap,
    ];
    let policy = DedupPolicy {
        window: Duration::from_secs(86400),
        send_updates: false,
    };
    let now = SystemTime::now();
    for i in 0..INCIDENTS {
        let brand = format!("brand{}.com", i % BRANDS);
        let domain = format!("brand{}-login-{i}.com", i % BRANDS);
        let score = [55u8, 65, 80, 95][i % 4];
        let v = Verdict {
            brand,
            domain: domain.clone(),
            domain_unicode: domain.clone(),
            registrable_domain: domain.clone(),
            registrable_domain_ascii: domain,
            detail: MatchDetail {
                kind: kinds[i % kinds.len()],
                ..MatchDetail::default()
            },
            score,
            severity: Severity::from_score(score),
        };
        // oldest first, a few seconds apart, so ids and times both grow
        let at = now - Duration::from_secs(((INCIDENTS - i) * 25) as u64);
        let incident = Incident::new(v, &Default::default(), ulid::Ulid::from_datetime(at), at);
        store.record(&incident, &[], policy, at).unwrap();
    }
}

fn percentile(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 * p).ceil() as usize).clamp(1, sorted.len()) - 1;
    sorted[i].as_secs_f64() * 1000.0
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("certsentry.db");
    let started = Instant::now();
    fill(&Store::open(&path).unwrap());
    eprintln!("stored {INCIDENTS} incidents in {:.1?}", started.elapsed());
    let list = dir.path().join("list.json");
    std::fs::write(&list, r#"{"brand0.com": []}"#).unwrap();

    let api = rt.block_on(async {
        let mut s = Settings::default();
        s.api.listen = "127.0.0.1:0".parse().unwrap();
        s.source.kind = SourceKind::None;
        s.watchlist.path = list;
        s.store.path = path;
        s.sinks = Vec::new();
        let app = Application::build(s.validate().unwrap()).await.unwrap();
        let api = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped(std::future::pending::<()>()));
        api
    });
    let client = reqwest::Client::new();
    let week_ago =
        humantime::format_rfc3339_seconds(SystemTime::now() - Duration::from_secs(7 * 86400));
    let since = format!("order=desc&limit=50&brand=brand42.com&since={week_ago}");
    let queries = [
        ("unfiltered", "order=desc&limit=50"),
        ("brand", "order=desc&limit=50&brand=brand7.com"),
        ("severity", "order=desc&limit=50&severity=critical"),
        (
            "kind+triage",
            "order=desc&limit=50&kind=homograph&triage=new",
        ),
        ("text", "order=desc&limit=50&q=login-9999"),
        ("since-7d+brand", since.as_str()),
    ];
    let times: Mutex<BTreeMap<&str, Vec<Duration>>> = Mutex::default();
    let mut group = c.benchmark_group("queue_100k");
    group.sample_size(50);
    for (name, q) in queries {
        let url = format!("{api}/v1/incidents?{q}");
        // one request first: the page is full and well-formed
        let body: serde_json::Value =
            rt.block_on(async { client.get(&url).send().await.unwrap().json().await.unwrap() });
        let rows = body["incidents"].as_array().unwrap().len();
        eprintln!("{name}: {rows} rows on the first page");
        group.bench_function(name, |b| {
            b.iter_custom(|iters| {
                let mut total = Duration::ZERO;
                for _ in 0..iters {
                    let start = Instant::now();
                    rt.block_on(async {
                        let r = client.get(&url).send().await.unwrap();
                        assert!(r.status().is_success());
                        r.bytes().await.unwrap();
                    });
                    let took = start.elapsed();
                    total += took;
                    times.lock().unwrap().entry(name).or_default().push(took);
                }
                total
            })
        });
    }
    group.finish();
    for (name, mut t) in times.into_inner().unwrap() {
        t.sort();
        eprintln!(
            "queue first page at {INCIDENTS} incidents, {name}: {} requests, p50 {:.2} ms, p99 {:.2} ms, max {:.2} ms",
            t.len(),
            percentile(&t, 0.50),
            percentile(&t, 0.99),
            percentile(&t, 1.0)
        );
    }
}

criterion_group!(benches, bench);
criterion_main!(benches);
