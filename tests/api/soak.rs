//! The soak (issue #20): `certsentry serve` for a given time at firehose
//! rate, while the list is reloaded every minute, the receiver flaps
//! between 200, 503 and 429, and the certstream upstream drops the
//! connection every few minutes. Beside it a second `certsentry serve`
//! follows two CT logs on 127.0.0.1 (RFC 6962 and static-ct-api, signed
//! tree heads): the tiled log grows by 3 entries/s and every 2 minutes both
//! answer 503 and 429 for a while. Every 10 s it samples RSS, open file
//! descriptors, the SQLite size and the outbox depth (and the CT reader's
//! RSS, fds and entries read) into a CSV; at the end it drains, stops both
//! with SIGTERM and checks that every stored incident was delivered and
//! every CT entry read exactly once. The logs go to soak.log and
//! soak-ct.log.
//!
//! Off by default: `scripts/soak.sh 1h` (or `SOAK_SECONDS=3600 cargo test
//! --release --test api soak -- --ignored --nocapture`); `SOAK_RATE`
//! (certificates/s, default 1000), `SOAK_DROP_SECONDS` (between upstream
//! drops, default 180) and `SOAK_OUT` (folder of soak.csv and summary.json,
//! default target/soak).

use crate::faults::free_addr;
use crate::helpers::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::io::Write;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

const BRANDS: &[&str] = &["paypal", "microsoft", "google", "apple", "amazon"];

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `(VmRSS in KiB, open fds)` of a process.
fn process_sample(pid: u32) -> (u64, u64) {
    let rss = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("VmRSS:"))
                .and_then(|l| l.split_whitespace().nth(1))
                .and_then(|v| v.parse().ok())
        })
        .unwrap_or(0);
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count() as u64)
        .unwrap_or(0);
    (rss, fds)
}

fn file_size(p: &Path) -> u64 {
    std::fs::metadata(p).map(|m| m.len()).unwrap_or(0)
}

/// The least-squares slope of `ys` over `xs`.
fn slope(xs: &[f64], ys: &[f64]) -> f64 {
    let n = xs.len() as f64;
    if n < 2.0 {
        return 0.0;
    }
    let (mx, my) = (xs.iter().sum::<f64>() / n, ys.iter().sum::<f64>() / n);
    let num: f64 = xs.iter().zip(ys).map(|(x, y)| (x - mx) * (y - my)).sum();
    let den: f64 = xs.iter().map(|x| (x - mx) * (x - mx)).sum();
    if den == 0.0 { 0.0 } else { num / den }
}

async fn status(api: &str) -> Option<Value> {
    reqwest::get(format!("http://{api}/v1/status"))
        .await
        .ok()?
        .json()
        .await
        .ok()
}

/// A `certsentry serve` with `config`, its stderr in `log`.
fn spawn_serve(config: &Path, dir: &Path, log: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_certsentry"))
        .args(["serve", "--config"])
        .arg(config)
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(std::fs::File::create(log).unwrap())
        .spawn()
        .unwrap()
}

/// SIGTERM, then the exit status (within 40 s).
async fn terminate(child: &mut Child) -> std::process::ExitStatus {
    let stopped = Instant::now();
    assert!(
        Command::new("kill")
            .args(["-TERM", &child.id().to_string()])
            .status()
            .unwrap()
            .success()
    );
    loop {
        if let Some(e) = child.try_wait().unwrap() {
            return e;
        }
        assert!(stopped.elapsed() < Duration::from_secs(40), "no exit");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Entries the tiled log shows `elapsed` seconds in: 256, then 3 a second.
fn tiled_size(elapsed: u64, capacity: usize) -> usize {
    (256 + 3 * elapsed as usize).min(capacity)
}

fn list_json(extra: bool) -> String {
    let mut m = serde_json::Map::new();
    for b in BRANDS {
        m.insert(format!("{b}.com"), json!([]));
    }
    if extra {
        m.insert("example-brand.org".into(), json!(["examp1e-brand"]));
    }
    Value::Object(m).to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "long: run by scripts/soak.sh"]
async fn soak() {
    let seconds = env_u64("SOAK_SECONDS", 120);
    let rate = env_u64("SOAK_RATE", 1000).max(10);
    let drop_every = Duration::from_secs(env_u64("SOAK_DROP_SECONDS", 180));
    let out = std::env::var("SOAK_OUT").unwrap_or_else(|_| "target/soak".into());
    let out = Path::new(&out).to_owned();
    std::fs::create_dir_all(&out).unwrap();
    let dir = tempfile::tempdir().unwrap();

    let upstream = Arc::new(FakeCertstream::start().await);
    let receiver = Receiver::start().await;
    let list = dir.path().join("list.json");
    std::fs::write(&list, list_json(false)).unwrap();
    let api = free_addr().to_string();
    let db = dir.path().join("certsentry.db");
    let config = dir.path().join("certsentry.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[api]
listen = "{api}"
[source]
kind = "certstream"
url = "{url}"
[watchlist]
path = "{list}"
reload_interval = "60s"
[store]
path = "{db}"
[delivery]
initial_backoff = "200ms"
max_backoff = "5s"
max_age = "30d"
[[sinks]]
name = "hook"
url = "{hook}/hook"
"#,
            url = upstream.url,
            list = list.display(),
            db = db.display(),
            hook = receiver.base,
        ),
    )
    .unwrap();
    let mut child = spawn_serve(&config, dir.path(), &out.join("soak.log"));
    let pid = child.id();
    upstream.wait_for_connections(1).await;

    // the CT reader: its own process and store, following the fake logs
    let capacity = tiled_size(seconds + 60, usize::MAX);
    let logs = FakeLogs::start(capacity).await;
    {
        let mut st = logs.state.lock().unwrap();
        st.signer = Some(p256_key());
        st.max_batch = 64;
    }
    logs.grow(40, tiled_size(0, capacity));
    let ct_api = free_addr().to_string();
    let ct_db = dir.path().join("ct.db");
    let ct_config = dir.path().join("ct.toml");
    std::fs::write(
        &ct_config,
        format!(
            r#"
[api]
listen = "{ct_api}"
[source]
kind = "ct"
[ct]
log_list_url = "{base}/loglist.json"
start = "beginning"
poll_interval = "2s"
batch_size = 64
backoff_initial = "200ms"
backoff_max = "10s"
[watchlist]
path = "{list}"
reload_interval = "60s"
[store]
path = "{db}"
"#,
            base = logs.base,
            list = list.display(),
            db = ct_db.display(),
        ),
    )
    .unwrap();
    let mut ct_child = spawn_serve(&ct_config, dir.path(), &out.join("soak-ct.log"));
    let ct_pid = ct_child.id();

    let stop = Arc::new(AtomicBool::new(false));
    let sent = Arc::new(AtomicU64::new(0));
    let lookalikes_sent = Arc::new(AtomicU64::new(0));
    let drops = Arc::new(AtomicU64::new(0));
    let started = Instant::now();
    let until = started + Duration::from_secs(seconds);

    // the firehose, with a quiet drop of the connection every 3 minutes:
    // nothing is sent while certsentry reconnects (certstream has no replay)
    let feeder = {
        let (upstream, stop, sent, lookalikes_sent, drops) = (
            upstream.clone(),
            stop.clone(),
            sent.clone(),
            lookalikes_sent.clone(),
            drops.clone(),
        );
        tokio::spawn(async move {
            let template = real_messages()[1].clone();
            let per_tick = (rate / 100).max(1);
            let mut tick = tokio::time::interval(Duration::from_millis(10));
            let mut next_drop = Instant::now() + drop_every;
            let mut i: u64 = 0;
            while !stop.load(Ordering::Relaxed) {
                tick.tick().await;
                if Instant::now() >= next_drop {
                    let before = upstream.connections.load(Ordering::SeqCst);
                    tokio::time::sleep(Duration::from_millis(200)).await;
                    upstream.send(ServerCmd::Drop);
                    upstream.wait_for_connections(before + 1).await;
                    tokio::time::sleep(Duration::from_millis(500)).await;
                    drops.fetch_add(1, Ordering::Relaxed);
                    next_drop = Instant::now() + drop_every;
                    // no burst of the ticks missed while the client was away:
                    // certstream sends nothing to a client that is not there
                    tick.reset();
                }
                for _ in 0..per_tick {
                    i += 1;
                    let name = if i.is_multiple_of(100) {
                        lookalikes_sent.fetch_add(1, Ordering::Relaxed);
                        let b = BRANDS[(i / 100) as usize % BRANDS.len()];
                        format!("{b}-login-{i}.top")
                    } else {
                        format!("host{}.site{}.example-{}.net", i % 7, i, i % 13)
                    };
                    let mut m = template.clone();
                    let leaf = &mut m["data"]["leaf_cert"];
                    leaf["all_domains"] = json!([name, format!("www.{name}")]);
                    leaf["sha256"] = json!(format!("{i:064X}"));
                    leaf["sha1"] = json!(format!("{i:040X}"));
                    leaf["fingerprint"] = leaf["sha1"].clone();
                    m["data"]["cert_index"] = json!(i);
                    upstream.send_json(&m);
                    sent.fetch_add(1, Ordering::Relaxed);
                }
            }
        })
    };

    // the receiver flaps: 40 s answering 200, 10 s 503, 10 s 429
    let flapper = {
        let (receiver, stop) = (receiver.clone(), stop.clone());
        tokio::spawn(async move {
            let mut phase = 0u64;
            while !stop.load(Ordering::Relaxed) {
                let (status, secs) = match phase % 3 {
                    0 => (200, 40),
                    1 => (503, 10),
                    _ => (429, 10),
                };
                receiver.set_default(status);
                tokio::time::sleep(Duration::from_secs(secs)).await;
                phase += 1;
            }
            receiver.set_default(200);
        })
    };

    // the CT logs grow, and every 2 minutes answer 503 (5 times) and 429
    let ct_scripted = Arc::new(AtomicU64::new(0));
    let grower = {
        let (logs, stop, ct_scripted) = (logs.clone(), stop.clone(), ct_scripted.clone());
        tokio::spawn(async move {
            let mut ticks = 0u64;
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_secs(10)).await;
                ticks += 1;
                logs.grow(40, tiled_size(started.elapsed().as_secs(), capacity));
                let mut st = logs.state.lock().unwrap();
                // keep only the recent requests: the log of a long soak
                let keep = st.requests.len().saturating_sub(10_000);
                st.requests.drain(..keep);
                if ticks.is_multiple_of(12) {
                    st.script.extend([(503, None); 5]);
                    st.script.push_back((429, Some("1")));
                    ct_scripted.fetch_add(6, Ordering::Relaxed);
                }
            }
        })
    };

    // the list changes every minute (a brand in, then out)
    let reloader = {
        let (list, stop) = (list.clone(), stop.clone());
        tokio::spawn(async move {
            let mut extra = false;
            while !stop.load(Ordering::Relaxed) {
                tokio::time::sleep(Duration::from_secs(60)).await;
                extra = !extra;
                std::fs::write(&list, list_json(extra)).unwrap();
            }
        })
    };

    let csv_path = out.join("soak.csv");
    let mut csv = std::fs::File::create(&csv_path).unwrap();
    writeln!(
        csv,
        "seconds,rss_kib,fds,store_bytes,outbox_pending,incidents,frames,reconnects,list_reloads,ct_rss_kib,ct_fds,ct_entries"
    )
    .unwrap();
    let mut samples: Vec<(f64, f64, f64)> = Vec::new(); // (s, rss MiB, fds)
    let mut ct_samples: Vec<(f64, f64, f64)> = Vec::new();
    let mut max_outbox = 0u64;
    let sample = |csv: &mut std::fs::File, s: &Value, ct: &Value, at: f64| {
        let (rss, fds) = process_sample(pid);
        let (ct_rss, ct_fds) = process_sample(ct_pid);
        let store_bytes = file_size(&db) + file_size(&dir.path().join("certsentry.db-wal"));
        let pending = s["sinks"][0]["pending"].as_u64().unwrap_or(0);
        writeln!(
            csv,
            "{at:.0},{rss},{fds},{store_bytes},{pending},{},{},{},{},{ct_rss},{ct_fds},{}",
            s["incidents"],
            s["counters"]["frames"],
            s["counters"]["reconnects"],
            s["list"]["reloads_ok"],
            ct["counters"]["ct_entries"],
        )
        .unwrap();
        csv.flush().unwrap();
        (rss, fds, pending, ct_rss, ct_fds)
    };
    while Instant::now() < until {
        tokio::time::sleep(Duration::from_secs(10)).await;
        assert!(
            child.try_wait().unwrap().is_none(),
            "certsentry exited during the soak"
        );
        assert!(
            ct_child.try_wait().unwrap().is_none(),
            "the CT reader exited during the soak"
        );
        let Some(s) = status(&api).await else {
            continue;
        };
        let ct = status(&ct_api).await.unwrap_or(Value::Null);
        let at = started.elapsed().as_secs_f64();
        let (rss, fds, pending, ct_rss, ct_fds) = sample(&mut csv, &s, &ct, at);
        max_outbox = max_outbox.max(pending);
        samples.push((at, rss as f64 / 1024.0, fds as f64));
        ct_samples.push((at, ct_rss as f64 / 1024.0, ct_fds as f64));
    }
    stop.store(true, Ordering::Relaxed);
    feeder.await.unwrap();
    flapper.await.unwrap();
    grower.await.unwrap();
    reloader.abort();
    let (ct_expected, ct_faults) = {
        let st = logs.state.lock().unwrap();
        let unserved = st.script.len() as u64;
        (
            (st.rfc_visible + st.tiled_visible) as u64,
            ct_scripted.load(Ordering::Relaxed).saturating_sub(unserved),
        )
    };
    let total_sent = sent.load(Ordering::Relaxed);

    // drain: every certificate taken in, every delivery made
    let mut last = Value::Null;
    let drained = Instant::now();
    while drained.elapsed() < Duration::from_secs(300) {
        if let Some(s) = status(&api).await {
            let frames = s["counters"]["frames"].as_u64().unwrap_or(0);
            if frames >= total_sent && s["sinks"][0]["pending"] == 0 {
                last = s;
                break;
            }
            last = s;
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    // the CT reader catches up with both logs
    let mut ct_last = Value::Null;
    while drained.elapsed() < Duration::from_secs(420) {
        if let Some(s) = status(&ct_api).await {
            let done = s["counters"]["ct_entries"].as_u64().unwrap_or(0) >= ct_expected;
            ct_last = s;
            if done {
                break;
            }
        }
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    let at = started.elapsed().as_secs_f64();
    sample(&mut csv, &last, &ct_last, at);
    let exit = terminate(&mut child).await;
    let ct_exit = terminate(&mut ct_child).await;

    // every stored incident delivered, each under one idempotency key
    let export = Command::new(env!("CARGO_BIN_EXE_certsentry"))
        .args(["incidents", "export", "--db"])
        .arg(&db)
        .output()
        .unwrap();
    let stored: BTreeSet<String> = String::from_utf8(export.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter_map(|v| v["dedup_key"].as_str().map(str::to_owned))
        .collect();
    let delivered: BTreeSet<String> = receiver
        .delivered("/hook")
        .iter()
        .filter_map(|r| r.body["dedup_key"].as_str().map(str::to_owned))
        .collect();
    let lost = stored.difference(&delivered).count();
    let (xs, rss): (Vec<f64>, Vec<f64>) = samples.iter().map(|(x, r, _)| (*x, *r)).unzip();
    let half = xs.len() / 2;
    let (ct_xs, ct_rss): (Vec<f64>, Vec<f64>) = ct_samples.iter().map(|(x, r, _)| (*x, *r)).unzip();
    let ct_half = ct_xs.len() / 2;
    let ct = &ct_last["counters"];
    let summary = json!({
        "seconds": seconds,
        "rate": rate,
        "certificates_sent": total_sent,
        "frames_received": last["counters"]["frames"],
        "lookalikes_sent": lookalikes_sent.load(Ordering::Relaxed),
        "incidents_stored": stored.len(),
        "incidents_delivered": delivered.len(),
        "incidents_lost": lost,
        "delivery_requests": receiver.requests().len(),
        "upstream_drops": drops.load(Ordering::Relaxed),
        "upstream_cut_slow_reader": upstream.lagged.load(Ordering::SeqCst),
        "reconnects": last["counters"]["reconnects"],
        "list_reloads": last["list"]["reloads_ok"],
        "rss_mib_start": samples.first().map(|s| s.1),
        "rss_mib_end": samples.last().map(|s| s.1),
        "rss_mib_per_hour_all": slope(&xs, &rss) * 3600.0,
        "rss_mib_per_hour_second_half": slope(&xs[half..], &rss[half..]) * 3600.0,
        "fds_start": samples.first().map(|s| s.2),
        "fds_end": samples.last().map(|s| s.2),
        "fds_max": samples.iter().map(|s| s.2).fold(0.0, f64::max),
        "outbox_pending_max": max_outbox,
        "store_bytes_end": file_size(&db) + file_size(&dir.path().join("certsentry.db-wal")),
        "exit": exit.code(),
        "ct_entries_expected": ct_expected,
        "ct_entries_read": ct["ct_entries"],
        "ct_faults_served": ct_faults,
        "ct_request_errors": ct["ct_request_errors"],
        "ct_tree_checks": ct["ct_tree_checks"],
        "ct_tree_mismatches": ct["ct_tree_mismatches"],
        "ct_rss_mib_start": ct_samples.first().map(|s| s.1),
        "ct_rss_mib_end": ct_samples.last().map(|s| s.1),
        "ct_rss_mib_per_hour_second_half": slope(&ct_xs[ct_half..], &ct_rss[ct_half..]) * 3600.0,
        "ct_fds_max": ct_samples.iter().map(|s| s.2).fold(0.0, f64::max),
        "ct_exit": ct_exit.code(),
    });
    std::fs::write(
        out.join("summary.json"),
        serde_json::to_string_pretty(&summary).unwrap(),
    )
    .unwrap();
    println!("soak summary: {summary:#}");
    assert!(exit.success(), "exit after SIGTERM: {exit:?}");
    assert!(
        ct_exit.success(),
        "CT reader exit after SIGTERM: {ct_exit:?}"
    );
    assert_eq!(
        ct["ct_entries"].as_u64(),
        Some(ct_expected),
        "every CT entry read exactly once"
    );
    assert_eq!(ct["ct_tree_mismatches"], 0, "CT tree mismatches");
    assert!(
        ct_faults > 0,
        "the CT logs answered 503/429 during the soak"
    );
    assert_eq!(lost, 0, "stored incidents never delivered");
    assert_eq!(
        upstream.lagged.load(Ordering::SeqCst),
        0,
        "certsentry read so slowly that the upstream cut it off"
    );
    assert_eq!(
        last["counters"]["frames"].as_u64(),
        Some(total_sent),
        "every certificate sent was taken in"
    );
    assert!(
        stored.len() as u64 >= lookalikes_sent.load(Ordering::Relaxed) * 9 / 10,
        "the lookalikes raised incidents"
    );
}
