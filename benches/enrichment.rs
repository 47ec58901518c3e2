//! Enrichment throughput (issue #16): 64 checks at a time against local
//! servers (a hickory DNS server with the lookalikes' zone, a web server
//! serving each lookalike a login page), through the whole service
//! (`Application`, as `serve` runs it: durable jobs in SQLite, DNS, HTTP
//! with the guard, the brand baseline, the update written and queued).
//! One iteration stores 256 new incidents and waits until all 256 have had
//! their first check: jobs/s. Then matcher throughput (1,000 brands) on the
//! bench thread, idle, then with the pool busy, then idle again (the pool
//! at its default `enrichment.nice`, 19, and `enrichment.max_cpu`, 0.1;
//! `ENRICH_MAX_CPU=1` for no budget), against the same runs with nothing in
//! the middle: `ENRICH_PAIRS` runs per case (9).
// A benchmark: unwrap on set-up failure is the right answer.
#![allow(clippy::unwrap_used, unreachable_pub, dead_code)]

#[path = "support/data.rs"]
mod data;
#[path = "../tests/api/helpers/dns.rs"]
mod dns;
#[path = "../tests/api/helpers/web.rs"]
mod web;

use certsentry::{
    Application, DedupPolicy, Fqdn, Incident, MatchDetail, MatchKind, Matcher, MatcherConfig,
    Recorder, Settings, Severity, SourceKind, Store, Verdict, Watchlist,
};
use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use std::net::Ipv4Addr;
use std::time::{Duration, Instant, SystemTime};

const BATCH: usize = 256;
const CONCURRENCY: usize = 64;

fn page(i: usize) -> String {
    let rows: String = (0..30)
        .map(|r| format!("<div class=row>Sign in to manage your account {r} of {i}</div>\n"))
        .collect();
    format!(
        "<html><head><title>Log in {i}</title></head><body>{rows}<form><input type=password></form></body></html>"
    )
}

fn lookalike(i: usize) -> String {
    format!("paypal-secure-{i}.com")
}

/// Store one new incident per lookalike name, for brand `round`.
fn store_batch(store: &Store, round: usize) {
    let policy = DedupPolicy {
        window: Duration::from_secs(86400),
        send_updates: false,
    };
    for i in 0..BATCH {
        let d = lookalike(i);
        let v = Verdict {
            brand: format!("brand{round}.com"),
            domain: d.clone(),
            domain_unicode: d.clone(),
            registrable_domain: d.clone(),
            registrable_domain_ascii: d,
            detail: MatchDetail {
                kind: MatchKind::Combosquat,
                ..MatchDetail::default()
            },
            score: 62,
            severity: Severity::Medium,
        };
        let now = SystemTime::now();
        let incident = Incident::new(v, &Default::default(), ulid::Ulid::generate(), now);
        // the service writes the same file: wait out its transactions
        let mut tries = 0;
        while let Err(e) = store.record(&incident, &[], policy, now) {
            tries += 1;
            assert!(tries < 200, "{e}");
            std::thread::sleep(Duration::from_millis(5));
        }
    }
}

/// Wait until `done()`; a minute without it is a stuck pool, not a slow one.
fn wait_for(what: &str, mut done: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(60);
    while !done() {
        assert!(Instant::now() < deadline, "stuck waiting for {what}");
        std::thread::sleep(Duration::from_millis(5));
    }
}

fn checks(metrics_text: &str) -> u64 {
    metrics_text
        .lines()
        .find_map(|l| l.strip_prefix("certsentry_enrichment_checks_total "))
        .map_or(0, |v| v.trim().parse().unwrap())
}

fn bench(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("certsentry.db");
    let list = dir.path().join("list.json");
    std::fs::write(&list, r#"{"paypal.com": []}"#).unwrap();
    // The DNS and web servers stand in for hosts on the internet, which
    // cost this machine nothing: they run on threads of their own at the
    // lowest priority, so what is measured is the service's own cost.
    let servers_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .on_thread_start(|| {
            let tid = rustix::thread::gettid();
            rustix::process::setpriority_process(Some(tid), 19).unwrap();
        })
        .enable_all()
        .build()
        .unwrap();
    let (fake_dns, web) = servers_rt.block_on(async {
        let records: Vec<dns::Rr> = (0..BATCH)
            .map(|i| {
                let name: &'static str = Box::leak(lookalike(i).into_boxed_str());
                dns::Rr::A(name, Ipv4Addr::LOCALHOST)
            })
            .collect();
        let dns = dns::FakeDns::start(records).await;
        let web = web::WebServer::start().await;
        (dns, web)
    });
    for i in 0..BATCH {
        web.set(&lookalike(i), web::WebPage::Html(page(i)));
    }
    let api = rt.block_on(async {
        let closed = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let https_port = closed.local_addr().unwrap().port();
        drop(closed);
        let mut s = Settings::default();
        s.api.listen = "127.0.0.1:0".parse().unwrap();
        s.source.kind = SourceKind::None;
        s.watchlist.path = list.clone();
        s.store.path = db.clone();
        s.sinks = Vec::new();
        let e = &mut s.enrichment;
        e.enabled = true;
        e.concurrency = CONCURRENCY;
        e.poll_interval = Duration::from_millis(20);
        e.allow_cidrs = vec!["127.0.0.1/32".parse().unwrap()];
        // `ENRICH_MAX_CPU=1` measures the pool without a budget (one thread)
        if let Some(cores) = std::env::var("ENRICH_MAX_CPU")
            .ok()
            .and_then(|v| v.parse().ok())
        {
            e.max_cpu = cores;
        }
        eprintln!("enrichment.max_cpu = {}", e.max_cpu);
        e.dns.servers = vec![fake_dns.addr];
        e.http.http_port = web.port;
        e.http.https_port = https_port;
        // every page here is on 127.0.0.1: pacing would measure the pacer
        e.http.per_address_per_second = 100_000.0;
        e.dns.per_zone_per_second = 100_000.0;
        e.rdap.enabled = false;
        let app = Application::build(s.validate().unwrap()).await.unwrap();
        let api = format!("http://127.0.0.1:{}", app.port());
        tokio::spawn(app.run_until_stopped(std::future::pending::<()>()));
        api
    });
    let store = Store::open(&db).unwrap();
    let client = reqwest::Client::new();
    let metrics = || {
        rt.block_on(async {
            client
                .get(format!("{api}/metrics"))
                .send()
                .await
                .unwrap()
                .text()
                .await
                .unwrap()
        })
    };
    let mut round = 0usize;
    let mut rates = Vec::new();
    let mut group = c.benchmark_group("enrichment");
    group.sample_size(10);
    group.throughput(Throughput::Elements(BATCH as u64));
    group.bench_function("first_checks_256_jobs_64_at_a_time", |b| {
        b.iter_custom(|iters| {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                round += 1;
                let before = checks(&metrics());
                let start = Instant::now();
                store_batch(&store, round);
                wait_for("a round's checks", || {
                    checks(&metrics()) >= before + BATCH as u64
                });
                let took = start.elapsed();
                rates.push(BATCH as f64 / took.as_secs_f64());
                total += took;
            }
            total
        })
    });
    group.finish();
    rates.sort_by(f64::total_cmp);
    eprintln!(
        "enrichment: {} rounds of {BATCH} jobs, {CONCURRENCY} at a time: median {:.0} jobs/s (min {:.0}, max {:.0})",
        rates.len(),
        rates[rates.len() / 2],
        rates[0],
        rates[rates.len() - 1]
    );

    // matching on this thread, with the pool idle, then busy
    let brands = data::brands(1000);
    let list = Watchlist::parse(&data::list_json(&brands, 1000), usize::MAX).unwrap();
    let matcher = Matcher::compile(&list, &MatcherConfig::default());
    let names: Vec<Fqdn> = data::names(100_000, &brands)
        .iter()
        .filter_map(|n| Fqdn::parse(n).ok())
        .collect();
    // names per second of wall time, and per second of this thread's CPU
    // time (what the kernel counts it as running: no steal, no waiting
    // for a core), which shows what the pool costs in caches and memory
    // apart from this VM's drift
    let rate = |matcher: &Matcher| {
        let cpu = || {
            let text = std::fs::read_to_string("/proc/thread-self/schedstat").unwrap();
            text.split_whitespace()
                .next()
                .unwrap()
                .parse::<f64>()
                .unwrap()
                / 1e9
        };
        let (start, cpu_start) = (Instant::now(), cpu());
        let mut hits = 0;
        for n in &names {
            hits += matcher.match_name(n).len();
        }
        std::hint::black_box(hits);
        let n = names.len() as f64;
        (n / start.elapsed().as_secs_f64(), n / (cpu() - cpu_start))
    };
    let median = |mut v: Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    let median2 = |v: Vec<(f64, f64)>| {
        (
            median(v.iter().map(|r| r.0).collect()),
            median(v.iter().map(|r| r.1).collect()),
        )
    };
    let idle = || median2((0..3).map(|_| rate(&matcher)).collect());
    let jobs_per_second = rates[rates.len() / 2];
    // This machine's speed drifts by a third within a minute, so every
    // measurement is A-B-A: the matcher idle, then with the pool busy, then
    // idle again once the backlog has drained, and the busy rate is taken
    // against the mean of the two idle ones (which cancels a steady drift).
    // The same A-B-A with nothing in the middle is the control: its spread
    // is what this machine does on its own.
    let pairs: usize = std::env::var("ENRICH_PAIRS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(9);
    // first touches of the matcher's tables are not its speed
    for _ in 0..3 {
        rate(&matcher);
    }
    // Middle: what runs between the idle measurements. `Some((pause,
    // batches))` queues `batches` x 256 checks (the pages answering after
    // `pause`) and measures while the pool works through them; `None`
    // measures with nothing else, 200 ms after the first idle run and 200
    // ms before the second.
    let mut report = Vec::new();
    // A backlog of two seconds' checks at the rate measured above keeps the
    // pool busy through the matcher's runs (under a second) with or without
    // a budget; a page taking 80 ms or a second keeps 64 checks in flight.
    let instant = (jobs_per_second * 2.0 / BATCH as f64).ceil().max(1.0) as usize;
    for (what, middle) in [
        ("servers answering at once", Some((None, instant))),
        ("no pool: nothing in the middle", None),
        ("pages answering in 80 ms", Some((Some(80), 4))),
        ("pages answering in 1 s", Some((Some(1000), 1))),
    ] {
        if let Some((pause, _)) = middle {
            for i in 0..BATCH {
                let p = match pause {
                    Some(ms) => web::WebPage::Slow(Duration::from_millis(ms), page(i)),
                    None => web::WebPage::Html(page(i)),
                };
                web.set(&lookalike(i), p);
            }
        }
        let mut ratios = Vec::new();
        let mut idles = Vec::new();
        let mut during = 0;
        let mut busy_throughout = 0;
        for _ in 0..pairs {
            let before = idle();
            let (busy, after) = match middle {
                Some((_, batches)) => {
                    let start = checks(&metrics());
                    for _ in 0..batches {
                        round += 1;
                        store_batch(&store, round);
                    }
                    std::thread::sleep(Duration::from_millis(200));
                    let started = checks(&metrics());
                    let busy = idle();
                    let ended = checks(&metrics());
                    let total = start + (batches * BATCH) as u64;
                    during += ended - started;
                    busy_throughout += usize::from(ended < total);
                    wait_for("the backlog's checks", || checks(&metrics()) >= total);
                    (busy, idle())
                }
                None => {
                    std::thread::sleep(Duration::from_millis(200));
                    let busy = idle();
                    std::thread::sleep(Duration::from_millis(200));
                    (busy, idle())
                }
            };
            idles.push(before.0);
            let against = |b: f64, x: f64, a: f64| b / ((x * a).sqrt());
            ratios.push((
                against(busy.0, before.0, after.0),
                against(busy.1, before.1, after.1),
            ));
        }
        let pool = middle.map(|(_, batches)| (batches * BATCH, during, busy_throughout));
        report.push((what, idles, ratios, pool));
    }
    // For scale: no pool, just a thread at nice 19 copying 64 MiB buffers
    // on the other core. What it costs the matcher is what this machine's
    // shared cache and memory cost, which no priority can take away.
    let mut ratios = Vec::new();
    let mut idles = Vec::new();
    for _ in 0..pairs {
        let before = idle();
        let stop = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let copier = {
            let stop = stop.clone();
            std::thread::spawn(move || {
                let tid = rustix::thread::gettid();
                rustix::process::setpriority_process(Some(tid), 19).unwrap();
                let from = vec![1u8; 64 << 20];
                let mut to = vec![0u8; 64 << 20];
                while !stop.load(std::sync::atomic::Ordering::Relaxed) {
                    to.copy_from_slice(&from);
                    std::hint::black_box(&mut to);
                }
            })
        };
        std::thread::sleep(Duration::from_millis(200));
        let copying = idle();
        stop.store(true, std::sync::atomic::Ordering::Relaxed);
        copier.join().unwrap();
        std::thread::sleep(Duration::from_millis(200));
        let after = idle();
        idles.push(before.0);
        ratios.push((
            copying.0 / (before.0 * after.0).sqrt(),
            copying.1 / (before.1 * after.1).sqrt(),
        ));
    }
    report.push(("no pool, a memory copy at nice 19", idles, ratios, None));
    // what the process (the service, its pool, the local servers) burns
    // with nothing to do: CPU seconds per second over two seconds
    let cpu = || {
        let stat = std::fs::read_to_string("/proc/self/stat").unwrap_or_default();
        let fields: Vec<f64> = stat
            .rsplit(')')
            .next()
            .unwrap_or("")
            .split_whitespace()
            .map(|v| v.parse().unwrap_or(0.0))
            .collect();
        // utime and stime: fields 14 and 15, 11 and 12 after the name
        (fields.get(11).unwrap_or(&0.0) + fields.get(12).unwrap_or(&0.0)) / 100.0
    };
    let before = cpu();
    std::thread::sleep(Duration::from_secs(2));
    eprintln!(
        "idle process after the runs: {:.2} CPU s/s ({} checks done in all)",
        (cpu() - before) / 2.0,
        checks(&metrics())
    );
    eprintln!(
        "matcher, 1000 brands, 100k names on the bench thread; {pairs} A-B-A runs per case, each A and B a median of 3 passes; B against the geometric mean of its two A:"
    );
    for (what, idles, ratios, pool) in report {
        let wall: Vec<f64> = ratios.iter().map(|r| r.0).collect();
        let cpu: Vec<f64> = ratios.iter().map(|r| r.1).collect();
        let pool = pool.map_or(String::new(), |(queued, during, busy)| {
            format!(
                "; {queued} checks queued each run, {during} done in all while the matcher ran, pool still busy at the end of {busy}/{pairs} runs"
            )
        });
        eprintln!(
            "  {what}: wall clock {}; per CPU second of the matcher {}; idle median {:.0} names/s{pool}",
            summary(wall),
            summary(cpu),
            median(idles),
        );
    }
}

/// Median, range and the mean of the log ratios with a 95% interval
/// (Student's t for the number of runs), as percentages.
fn summary(mut ratios: Vec<f64>) -> String {
    ratios.sort_by(f64::total_cmp);
    let pct = |r: f64| 100.0 * (r - 1.0);
    let logs: Vec<f64> = ratios.iter().map(|r| r.ln()).collect();
    let n = logs.len() as f64;
    let mean = logs.iter().sum::<f64>() / n;
    let var = logs.iter().map(|l| (l - mean).powi(2)).sum::<f64>() / (n - 1.0).max(1.0);
    // two-sided 97.5% quantiles of t for 1..=30 degrees of freedom
    const T: [f64; 30] = [
        12.71, 4.30, 3.18, 2.78, 2.57, 2.45, 2.36, 2.31, 2.26, 2.23, 2.20, 2.18, 2.16, 2.14, 2.13,
        2.12, 2.11, 2.10, 2.09, 2.09, 2.08, 2.07, 2.07, 2.06, 2.06, 2.06, 2.05, 2.05, 2.05, 2.04,
    ];
    let t = T.get(logs.len().saturating_sub(2)).copied().unwrap_or(1.96);
    let half = t * (var / n).sqrt();
    format!(
        "median {:+.1}% ({:+.1}% to {:+.1}%), mean {:+.1}% [95% CI {:+.1}% to {:+.1}%]",
        pct(ratios[ratios.len() / 2]),
        pct(ratios[0]),
        pct(ratios[ratios.len() - 1]),
        pct(mean.exp()),
        pct((mean - half).exp()),
        pct((mean + half).exp()),
    )
}

criterion_group!(benches, bench);
criterion_main!(benches);
