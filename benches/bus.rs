//! The stages over NATS JetStream against one process, on this machine
//! (issue #19). Processes of the release binary and a real nats-server on
//! 127.0.0.1; prints a table, measures no criterion statistics.
//!
//! Throughput: the same 60,000 real-shaped `/full-stream` frames (two
//! names each, ~1% lookalikes, 1,000 brands × 100 variants) replayed as
//! fast as they are taken, through
//! - one process (`serve`, replay source, no bus),
//! - a ct-reader and one matcher process over the bus,
//! - a ct-reader and two matcher processes sharing the consumer.
//!
//! The rate is the matchers' own count (`certsentry_certs_processed_total`)
//! from the first certificate processed to the last, so start-up is left
//! out alike.
//!
//! Latency: a local certstream server sends 1,000 frames a second to a
//! ct-reader; a matcher publishes incidents to the incidents' stream and a
//! delivery process sends them to a local webhook. One lookalike every
//! 20 ms; its time from the frame's send to the webhook's arrival.
//!
//! Brand shards (`-- shards`, not in the default run): 20,000 brands
//! (brands only, where one matcher slows down), the same frames, through
//! one process, a ct-reader and one matcher, and a ct-reader and two
//! matchers each holding one of two brand shards (`bus.shards = 2`; every
//! certificate goes to both, so the rate is the slower shard's).
//!
//! `cargo bench --bench bus` (needs `nats-server`); `-- throughput`,
//! `-- latency` or `-- shards` for one part.

// A benchmark: unwrap on set-up failure is the right answer.
#![allow(clippy::unwrap_used, unreachable_pub)]

#[path = "support/data.rs"]
mod data;
#[path = "support/live.rs"]
mod live;
#[path = "../tests/api/helpers/nats.rs"]
#[allow(dead_code)]
mod nats;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

const FRAMES: usize = 60_000;
const NAMES_PER_FRAME: usize = 2;
/// Latency: background frames a second, and the gap between lookalikes.
const RATE: u64 = 1_000;
const GAP: Duration = Duration::from_millis(20);
const LOOKALIKES: u64 = 500;

fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// One certsentry process, killed on drop.
struct Proc {
    child: Child,
    api: SocketAddr,
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `serve` in `dir` with `source` (a TOML `[source]` section) and, when
/// given, `[bus]` at `url` with `roles`; `extra` is appended.
fn start(dir: &Path, list: &Path, source: &str, bus: Option<(&str, &str)>, extra: &str) -> Proc {
    std::fs::create_dir_all(dir).unwrap();
    let api = free_addr();
    let bus = bus.map_or(String::new(), |(url, roles)| {
        format!("[bus]\nurl = \"{url}\"\nroles = {roles}\n")
    });
    let config = dir.join("certsentry.toml");
    std::fs::write(
        &config,
        format!(
            "[api]\nlisten = \"{api}\"\n{source}\n[watchlist]\npath = \"{}\"\n[store]\npath = \"{}\"\n{bus}{extra}",
            list.display(),
            dir.join("certsentry.db").display()
        ),
    )
    .unwrap();
    let child = Command::new(env!("CARGO_BIN_EXE_certsentry"))
        .args(["serve", "--config"])
        .arg(&config)
        .current_dir(dir)
        .env("RUST_LOG", "error")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    Proc { child, api }
}

/// A counter of `/metrics` (0 while the process is not up).
async fn metric(api: SocketAddr, name: &str) -> f64 {
    let Ok(r) = reqwest::get(format!("http://{api}/metrics")).await else {
        return 0.0;
    };
    let text = r.text().await.unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0.0)
}

/// Certificates a second the `matchers` processed, from their first to
/// the last of `FRAMES`.
async fn rate(matchers: &[&Proc]) -> f64 {
    let processed = || async {
        let mut sum = 0.0;
        for m in matchers {
            sum += metric(m.api, "certsentry_certs_processed_total").await;
        }
        sum
    };
    let deadline = Instant::now() + Duration::from_secs(600);
    let (first_at, first) = loop {
        let n = processed().await;
        if n > 0.0 {
            break (Instant::now(), n);
        }
        assert!(Instant::now() < deadline, "nothing processed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    loop {
        let n = processed().await;
        if n >= FRAMES as f64 {
            return (n - first) / first_at.elapsed().as_secs_f64();
        }
        assert!(Instant::now() < deadline, "only {n} of {FRAMES} processed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// Certificates a second through brand shards: every one of `shards` must
/// process all `FRAMES`, from the first certificate any processed.
async fn rate_each(shards: &[&Proc]) -> f64 {
    let counts = || async {
        let mut out = Vec::new();
        for m in shards {
            out.push(metric(m.api, "certsentry_certs_processed_total").await);
        }
        out
    };
    let deadline = Instant::now() + Duration::from_secs(900);
    let first_at = loop {
        if counts().await.iter().any(|n| *n > 0.0) {
            break Instant::now();
        }
        assert!(Instant::now() < deadline, "nothing processed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    };
    loop {
        let n = counts().await;
        if n.iter().all(|n| *n >= FRAMES as f64) {
            return FRAMES as f64 / first_at.elapsed().as_secs_f64();
        }
        assert!(
            Instant::now() < deadline,
            "only {n:?} of {FRAMES} processed"
        );
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

async fn shards(dir: &Path, list: &Path, stream: &Path) {
    let replay = format!(
        "[source]\nkind = \"replay\"\npath = \"{}\"\nreplay_rate = 0",
        stream.display()
    );
    let none = "[source]\nkind = \"none\"";
    let matcher = r#"["matcher", "delivery", "api"]"#;
    let mut rows = Vec::new();
    let one = start(&dir.join("single-sharded"), list, &replay, None, "");
    rows.push(("one process, no bus", rate(&[&one]).await));
    drop(one);
    for shards in [1u16, 2] {
        let run = dir.join(format!("shards-{shards}"));
        let broker = nats::Broker::start(&run.join("nats"), 0);
        let url = broker.url();
        let ms: Vec<Proc> = (0..shards)
            .map(|i| {
                start(
                    &run.join(format!("m{i}")),
                    list,
                    none,
                    Some((&url, matcher)),
                    &format!("shards = {shards}\nshard = {i}\n"),
                )
            })
            .collect();
        let reader = start(
            &run.join("reader"),
            list,
            &replay,
            Some((&url, r#"["ct-reader"]"#)),
            &format!("shards = {shards}\n"),
        );
        let refs: Vec<&Proc> = ms.iter().collect();
        let what = if shards == 1 {
            "bus: ct-reader + 1 matcher (all brands)"
        } else {
            "bus: ct-reader + 2 matchers, one brand shard each"
        };
        rows.push((what, rate_each(&refs).await));
        drop(reader);
        drop(ms);
        drop(broker);
    }
    table("20,000 brands (brands only)", &rows);
}

async fn throughput(dir: &Path, list: &Path, stream: &Path) {
    let replay = format!(
        "[source]\nkind = \"replay\"\npath = \"{}\"\nreplay_rate = 0",
        stream.display()
    );
    let none = "[source]\nkind = \"none\"";
    let matcher = r#"["matcher", "delivery", "api"]"#;
    let mut rows = Vec::new();

    let one = start(&dir.join("single"), list, &replay, None, "");
    rows.push(("one process, no bus", rate(&[&one]).await));
    drop(one);

    for matchers in [1, 2] {
        let run = dir.join(format!("bus-{matchers}"));
        let broker = nats::Broker::start(&run.join("nats"), 0);
        let url = broker.url();
        let ms: Vec<Proc> = (0..matchers)
            .map(|i| {
                start(
                    &run.join(format!("m{i}")),
                    list,
                    none,
                    Some((&url, matcher)),
                    "",
                )
            })
            .collect();
        let reader = start(
            &run.join("reader"),
            list,
            &replay,
            Some((&url, r#"["ct-reader"]"#)),
            "",
        );
        let refs: Vec<&Proc> = ms.iter().collect();
        let what = if matchers == 1 {
            "bus: ct-reader + 1 matcher"
        } else {
            "bus: ct-reader + 2 matchers"
        };
        rows.push((what, rate(&refs).await));
        drop(reader);
        drop(ms);
        drop(broker);
    }
    table("1,000 brands x 100 variants", &rows);
}

/// The rates of `rows` as a table, against the first row's.
fn table(list: &str, rows: &[(&str, f64)]) {
    println!(
        "\n{FRAMES} frames, {NAMES_PER_FRAME} names each, {list}, on {} cores",
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    println!("| setup | certificates/s | names/s | vs one process |");
    println!("|---|---|---|---|");
    let base = rows[0].1;
    for (what, certs) in rows {
        println!(
            "| {what} | {certs:.0} | {:.0} | {:.0}% |",
            certs * NAMES_PER_FRAME as f64,
            100.0 * certs / base
        );
    }
}

async fn latency(dir: &Path) {
    let arrivals = Arc::new(live::Arrivals::default());
    let hook = live::start_receiver(arrivals.clone()).await;
    let (frames_tx, frames_rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    let certstream = live::start_certstream(frames_rx).await;
    let list = dir.join("paypal.json");
    std::fs::write(&list, r#"{"paypal.com": ["paypa1", "paypal-secure"]}"#).unwrap();
    let run = dir.join("latency");
    let broker = nats::Broker::start(&run.join("nats"), 0);
    let url = broker.url();
    let none = "[source]\nkind = \"none\"";
    let fast = "[delivery]\npoll_interval = \"20ms\"\n";
    let sink = format!("{fast}[[sinks]]\nname = \"hook\"\nurl = \"{hook}/webhook\"\n");
    let _matcher = start(
        &run.join("m"),
        &list,
        none,
        Some((&url, r#"["matcher", "api"]"#)),
        fast,
    );
    let _delivery = start(
        &run.join("d"),
        &list,
        none,
        Some((&url, r#"["delivery"]"#)),
        &sink,
    );
    let _reader = start(
        &run.join("r"),
        &list,
        &format!("[source]\nkind = \"certstream\"\nurl = \"{certstream}\""),
        Some((&url, r#"["ct-reader"]"#)),
        "",
    );
    let (templates, benign) = live::background();
    live::send_background(frames_tx.clone(), templates.clone(), benign, RATE);
    // the stages are up once a first lookalike has gone all the way
    let mut all = Vec::new();
    for n in 0..=LOOKALIKES {
        let names = [
            format!("paypal-login-{n}.com"),
            format!("www.paypal-login-{n}.com"),
        ];
        let f = live::frame(
            &templates[n as usize % templates.len()],
            &names,
            u64::MAX - n,
        );
        tokio::time::sleep(GAP).await;
        let sent = Instant::now();
        frames_tx.send(f).unwrap();
        let limit = if n == 0 { 60 } else { 10 };
        let at = loop {
            let notified = arrivals.notify.notified();
            if let Some(at) = arrivals.at.lock().unwrap().get(&n) {
                break *at;
            }
            if tokio::time::timeout(Duration::from_secs(limit), notified)
                .await
                .is_err()
            {
                panic!("lookalike {n} was not delivered within {limit} s");
            }
        };
        if n > 0 {
            all.push(at.duration_since(sent));
        }
    }
    all.sort();
    let pct = |p: f64| all[((all.len() as f64 * p).ceil() as usize).clamp(1, all.len()) - 1];
    println!(
        "\nlatency through the bus (ct-reader, matcher, INCIDENTS, delivery) over {} lookalikes at {RATE} frames/s: p50 {:.1} ms, p90 {:.1} ms, p99 {:.1} ms, max {:.1} ms",
        all.len(),
        pct(0.50).as_secs_f64() * 1e3,
        pct(0.90).as_secs_f64() * 1e3,
        pct(0.99).as_secs_f64() * 1e3,
        all[all.len() - 1].as_secs_f64() * 1e3,
    );
    drop(broker);
}

fn write_stream(dir: &Path) -> (PathBuf, PathBuf) {
    write_stream_for(dir, 1000, 100)
}

/// The list of `brands` brands with `variants` each, and the frames.
fn write_stream_for(dir: &Path, brands: usize, variants: usize) -> (PathBuf, PathBuf) {
    let dir = dir.join(format!("data-{brands}-{variants}"));
    std::fs::create_dir_all(&dir).unwrap();
    let brands = data::brands(brands);
    let list = dir.join("list.json");
    std::fs::write(&list, data::list_json(&brands, variants)).unwrap();
    let names = data::names(FRAMES * NAMES_PER_FRAME, &brands);
    let stream = dir.join("stream.jsonl");
    let mut text = data::full_frames(FRAMES, &names).join("\n");
    text.push('\n');
    std::fs::write(&stream, text).unwrap();
    (list, stream)
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    let named = |what: &str| args.iter().any(|a| a == what);
    let only =
        |what: &str| !(named("throughput") || named("latency") || named("shards")) || named(what);
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .unwrap();
    let dir = tempfile::tempdir().unwrap();
    if only("throughput") {
        let (list, stream) = write_stream(dir.path());
        rt.block_on(throughput(dir.path(), &list, &stream));
    }
    if only("latency") {
        rt.block_on(latency(dir.path()));
    }
    if named("shards") {
        let (list, stream) = write_stream_for(dir.path(), 20_000, 0);
        rt.block_on(shards(dir.path(), &list, &stream));
    }
}
