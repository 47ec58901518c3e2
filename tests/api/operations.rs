//! Operations with the real binary (issue #20): SIGTERM mid-replay and a
//! second signal, a delivery stuck past the shutdown timeout, a store of the
//! first released schema, a backup taken while the service writes restored
//! into a fresh instance, and a restore refused while a service runs.

use crate::faults::{Service, expected_keys, report, wait_all_delivered, write_stream};
use crate::helpers::*;
use serde_json::Value;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

fn send(child: &Child, signal: &str) {
    let ok = Command::new("kill")
        .arg(format!("-{signal}"))
        .arg(child.id().to_string())
        .status()
        .unwrap()
        .success();
    assert!(ok, "kill -{signal} failed");
}

/// The child's exit status, polled, at most `limit` from now.
async fn exit_within(child: &mut Child, limit: Duration) -> ExitStatus {
    let until = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().unwrap() {
            return status;
        }
        if Instant::now() > until {
            child.kill().unwrap();
            panic!("did not exit within {limit:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// Wait until the service's status satisfies `ok`.
async fn status_until(service: &Service, what: &str, ok: impl Fn(&Value) -> bool) -> Value {
    let mut last = Value::Null;
    for _ in 0..600 {
        if let Some(s) = service.status().await {
            if ok(&s) {
                return s;
            }
            last = s;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    panic!("status never showed {what}: {last}");
}

/// A service replaying a stream of `n` messages at `rate` into a receiver,
/// and the incidents the back-test says it must deliver.
struct Replaying {
    dir: tempfile::TempDir,
    stream: std::path::PathBuf,
    receiver: Receiver,
    service: Service,
    expected: std::collections::BTreeSet<String>,
}

impl Replaying {
    async fn new(n: usize, rate: u32) -> Replaying {
        let dir = tempfile::tempdir().unwrap();
        let stream = dir.path().join("stream.jsonl");
        write_stream(&stream, n);
        let receiver = Receiver::start().await;
        let service = Service::new(
            dir.path(),
            &stream,
            &format!("{}/hook", receiver.base),
            rate,
        );
        let expected = expected_keys(dir.path(), &stream);
        Replaying {
            dir,
            stream,
            receiver,
            service,
            expected,
        }
    }
}

/// SIGTERM, and the graceful exit (status 0) it must bring.
async fn stop(child: &mut Child) {
    send(child, "TERM");
    let status = exit_within(child, Duration::from_secs(35)).await;
    assert!(status.success(), "after SIGTERM: {status:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_mid_replay_exits_zero_and_the_next_start_loses_nothing() {
    // the folder lives as long as `_dir`
    let Replaying {
        dir: _dir,
        stream: _,
        receiver,
        service,
        expected,
    } = Replaying::new(10_000, 4000).await;

    let mut child = service.start();
    let before = status_until(&service, "incidents stored", |s| {
        s["incidents"].as_u64().unwrap_or(0) >= 10
    })
    .await;
    assert_ne!(before["source"]["state"], "finished", "stop it mid-replay");
    let sent = Instant::now();
    send(&child, "TERM");
    let status = exit_within(&mut child, Duration::from_secs(35)).await;
    assert!(status.success(), "SIGTERM: {status:?}");
    println!(
        "SIGTERM after {} incidents: exit 0 in {:?}",
        before["incidents"],
        sent.elapsed()
    );

    // restarted: the replay runs to its end and every incident arrives
    let mut child = service.start();
    service.wait_replayed(expected.len()).await;
    wait_all_delivered(&receiver, &expected).await;
    stop(&mut child).await;
    report("SIGTERM then restart", &expected, &receiver);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stuck_delivery_bounds_the_shutdown_and_a_second_signal_exits_at_once() {
    let dir = tempfile::tempdir().unwrap();
    let stream = dir.path().join("stream.jsonl");
    write_stream(&stream, 2_000);
    // accepts connections (the backlog does) and never answers
    let black_hole = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let sinks = format!(
        "request_timeout = \"60s\"\n[service]\nshutdown_timeout = \"2s\"\n\
         [[sinks]]\nname = \"hook\"\nurl = \"http://{}/hook\"\n",
        black_hole.local_addr().unwrap()
    );
    let service = Service::with_sinks(dir.path(), &stream, &sinks, 0);
    let incidents = expected_keys(dir.path(), &stream).len() as u64;

    let mut child = service.start();
    service.wait_replayed(incidents as usize).await;
    let sent = Instant::now();
    send(&child, "TERM");
    let status = exit_within(&mut child, Duration::from_secs(20)).await;
    let took = sent.elapsed();
    assert!(status.success(), "{status:?}");
    assert!(
        took >= Duration::from_millis(1500),
        "the delivery in progress was given the shutdown timeout: {took:?}"
    );
    println!("stuck delivery: exit 0 after {took:?} (shutdown_timeout 2s, request timeout 60s)");

    let mut child = service.start();
    let s = status_until(&service, "the stored incidents", |s| {
        s["incidents"].as_u64() == Some(incidents)
    })
    .await;
    // nothing was delivered, nothing dropped: every incident still queued
    assert_eq!(s["sinks"][0]["pending"].as_u64(), Some(incidents), "{s}");
    send(&child, "TERM");
    tokio::time::sleep(Duration::from_millis(300)).await;
    let second = Instant::now();
    send(&child, "TERM");
    let status = exit_within(&mut child, Duration::from_secs(5)).await;
    assert_eq!(status.code(), Some(130), "second signal: {status:?}");
    println!("second signal: exit 130 in {:?}", second.elapsed());
    drop(black_hole);
}

/// A store file built from the first released schema (the fixture).
fn old_store(path: &Path) {
    let conn = rusqlite::Connection::open(path).unwrap();
    conn.execute_batch(include_str!("../fixtures/store-v1.sql"))
        .unwrap();
}

fn user_version(path: &Path) -> u32 {
    rusqlite::Connection::open(path)
        .unwrap()
        .pragma_query_value(None, "user_version", |r| r.get(0))
        .unwrap()
}

fn certsentry(args: &[&str], dir: &Path) -> std::process::Output {
    Command::new(env!("CARGO_BIN_EXE_certsentry"))
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "warn")
        .stdin(Stdio::null())
        .output()
        .unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_store_of_the_first_schema_opens_keeps_its_data_and_delivers_what_was_pending() {
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("certsentry.db");
    old_store(&db);
    assert_eq!(user_version(&db), 0);

    let out = certsentry(
        &["incidents", "export", "--db", db.to_str().unwrap()],
        dir.path(),
    );
    assert!(out.status.success(), "{out:?}");
    let exported: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let ids: Vec<&str> = exported.iter().map(|i| i["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids.len(),
        2,
        "both incidents of the old store are there: {ids:?}"
    );
    assert!(ids.contains(&"01HF7YAT00YA1DTFNS3P837J4B"));
    assert!(ids.contains(&"01HF7YAT00YA1DTFNS3P837J4D"));
    let latest = user_version(&db);
    assert!(latest >= 5, "migrated to the current version: {latest}");

    // the service on it delivers the delivery that was pending, and only it
    let receiver = Receiver::start().await;
    let stream = dir.path().join("empty.jsonl");
    std::fs::write(&stream, "").unwrap();
    let service = Service::new(dir.path(), &stream, &format!("{}/hook", receiver.base), 0);
    let mut child = service.start();
    let r = receiver.clone();
    eventually(Duration::from_secs(20), "the pending delivery", || {
        let r = r.clone();
        async move { !r.delivered("/hook").is_empty() }
    })
    .await;
    let s = status_until(&service, "an empty outbox", |s| {
        s["sinks"][0]["pending"] == 0
    })
    .await;
    // the fixture's incidents are from 2023: store.retention (365 days) at
    // start prunes the delivered one, and the one still to deliver too when
    // its delivery wins the race with that pass (never before it is
    // delivered: the retention unit test holds that)
    let pruned = s["counters"]["incidents_pruned"].as_u64().unwrap_or(0);
    assert!((1..=2).contains(&pruned), "{s}");
    assert_eq!(s["incidents"].as_u64(), Some(2 - pruned), "{s}");
    assert_eq!(s["store"]["schema_version"], latest);
    stop(&mut child).await;
    let delivered = receiver.delivered("/hook");
    assert_eq!(delivered.len(), 1);
    assert_eq!(delivered[0].body["id"], "01HF7YAT00YA1DTFNS3P837J4B");
    assert_eq!(delivered[0].body["domain"], "paypa1.com");

    // a store from a newer certsentry is refused, and left as it was
    rusqlite::Connection::open(&db)
        .unwrap()
        .pragma_update(None, "user_version", latest + 1)
        .unwrap();
    let out = certsentry(
        &["incidents", "export", "--db", db.to_str().unwrap()],
        dir.path(),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("newer certsentry"), "{err}");
    assert_eq!(user_version(&db), latest + 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_taken_while_writing_restores_into_a_fresh_instance_that_loses_nothing() {
    let Replaying {
        dir,
        stream,
        receiver,
        service,
        expected,
    } = Replaying::new(10_000, 4000).await;
    let db = dir.path().join("certsentry.db");
    let backup = dir.path().join("backup.db");

    let mut child = service.start();
    status_until(&service, "incidents stored", |s| {
        s["incidents"].as_u64().unwrap_or(0) >= 20
    })
    .await;
    let out = certsentry(
        &[
            "backup",
            "--db",
            db.to_str().unwrap(),
            "--output",
            backup.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(out.status.success(), "{out:?}");
    let summary: Value = serde_json::from_slice(&out.stdout).unwrap();
    let in_backup = summary["incidents"].as_u64().unwrap();
    assert!(in_backup >= 20, "{summary}");
    println!("backup while writing: {summary}");

    // restore is refused while the service runs on the store
    let out = certsentry(
        &[
            "restore",
            "--db",
            db.to_str().unwrap(),
            "--input",
            backup.to_str().unwrap(),
        ],
        dir.path(),
    );
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("is running on the store"), "{err}");
    // then the machine is lost mid-replay
    child.kill().unwrap();
    child.wait().unwrap();
    let before = crate::faults::tally(&receiver).len();
    assert!(before < expected.len(), "the first instance did not finish");

    // a fresh instance from the backup
    let fresh = tempfile::tempdir().unwrap();
    let fresh_db = fresh.path().join("certsentry.db");
    let out = certsentry(
        &[
            "restore",
            "--db",
            fresh_db.to_str().unwrap(),
            "--input",
            backup.to_str().unwrap(),
        ],
        fresh.path(),
    );
    assert!(out.status.success(), "{out:?}");
    let restored: Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(restored["incidents"].as_u64(), Some(in_backup));
    // the same SOAR: the rest arrives, what the backup had delivered is not
    // sent again
    let again = Service::new(fresh.path(), &stream, &format!("{}/hook", receiver.base), 0);
    let mut child = again.start();
    let s = again.wait_replayed(expected.len()).await;
    println!("fresh instance: {s}");
    wait_all_delivered(&receiver, &expected).await;
    stop(&mut child).await;
    println!("delivered before the loss: {before} of {}", expected.len());
    report(
        "restored from a backup taken mid-replay",
        &expected,
        &receiver,
    );
}

/// A tmpfs of `size` mounted at `at`, unmounted when dropped; `None` where
/// this machine cannot mount (not root, no CAP_SYS_ADMIN).
pub(crate) struct SmallDisk {
    pub(crate) at: std::path::PathBuf,
}

impl SmallDisk {
    pub(crate) fn mount(at: &Path, size: &str) -> Option<SmallDisk> {
        std::fs::create_dir_all(at).unwrap();
        let ok = Command::new("mount")
            .args(["-t", "tmpfs", "-o", &format!("size={size}"), "tmpfs"])
            .arg(at)
            .stderr(Stdio::null())
            .status()
            .map(|s| s.success())
            .unwrap_or(false);
        ok.then(|| SmallDisk { at: at.to_owned() })
    }

    /// Fill what is left with a file; returns its path.
    pub(crate) fn fill(&self) -> std::path::PathBuf {
        use std::io::Write;
        let path = self.at.join("filler");
        let mut f = std::fs::File::create(&path).unwrap();
        let block = vec![0u8; 64 * 1024];
        while f.write_all(&block).is_ok() {}
        let small = [0u8; 512];
        while f.write_all(&small).is_ok() {}
        let _ = f.sync_all();
        path
    }
}

impl Drop for SmallDisk {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.at).status();
    }
}

async fn metric(service: &Service, name: &str) -> Option<f64> {
    let text = reqwest::get(format!("http://{}/metrics", service.api))
        .await
        .ok()?
        .text()
        .await
        .ok()?;
    text.lines()
        .find(|l| l.starts_with(name) && l[name.len()..].starts_with(' '))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_holds_intake_reports_it_and_recovers_with_nothing_lost() {
    let dir = tempfile::tempdir().unwrap();
    let Some(disk) = SmallDisk::mount(&dir.path().join("disk"), "48m") else {
        eprintln!(
            "SKIPPED: cannot mount a tmpfs here (needs root); the full-disk test did not run"
        );
        return;
    };
    let stream = dir.path().join("stream.jsonl");
    write_stream(&stream, 10_000);
    let receiver = Receiver::start().await;
    let service = Service::new(
        dir.path(),
        &stream,
        &format!("{}/hook", receiver.base),
        2000,
    );
    // the store on the small disk
    let config = std::fs::read_to_string(&service.config).unwrap().replace(
        &format!("path = \"{}\"", dir.path().join("certsentry.db").display()),
        &format!("path = \"{}\"", disk.at.join("certsentry.db").display()),
    );
    std::fs::write(&service.config, config).unwrap();
    let expected = expected_keys(dir.path(), &stream);

    let mut child = service.start();
    status_until(&service, "incidents stored", |s| {
        s["incidents"].as_u64().unwrap_or(0) >= 10
    })
    .await;
    let filler = disk.fill();
    // SQLite may still write for a while into space its files already hold
    // (the WAL is reused after a checkpoint): wait until the store refuses
    // and intake stays held over a second
    let me = &service;
    eventually(
        Duration::from_secs(60),
        "the store refusing writes and intake held",
        || async move {
            let (Some(a), ready) = (me.status().await, me.readyz().await) else {
                return false;
            };
            tokio::time::sleep(Duration::from_secs(1)).await;
            let Some(b) = me.status().await else {
                return false;
            };
            ready == (503, false)
                && a["counters"]["store_errors"].as_u64().unwrap_or(0) > 0
                && a["incidents"] == b["incidents"]
                && a["counters"]["frames"] == b["counters"]["frames"]
        },
    )
    .await;
    assert_eq!(
        metric(&service, "certsentry_store_unavailable").await,
        Some(1.0)
    );
    // intake is held: no incident is stored, the replay does not run on
    let held = service.status().await.unwrap();
    assert_ne!(held["source"]["state"], "finished");
    let frames = held["counters"]["frames"].as_u64().unwrap();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let later = service.status().await.unwrap();
    assert_eq!(
        later["counters"]["frames"].as_u64().unwrap(),
        frames,
        "the source waits for the pipeline"
    );
    assert_eq!(later["incidents"], held["incidents"], "{later}");
    println!(
        "disk full after {} incidents: held at {frames} frames, store errors {}",
        held["incidents"], later["counters"]["store_errors"]
    );

    // space comes back: it resumes by itself
    std::fs::remove_file(&filler).unwrap();
    service.wait_replayed(expected.len()).await;
    let ready = reqwest::get(format!("http://{}/readyz", service.api))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    assert_eq!(
        metric(&service, "certsentry_store_unavailable").await,
        Some(0.0)
    );
    wait_all_delivered(&receiver, &expected).await;
    stop(&mut child).await;
    report("disk full, then space freed", &expected, &receiver);
    drop(disk);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retention_prunes_a_year_of_old_rows_while_the_replay_runs_and_loses_nothing() {
    let Replaying {
        dir,
        stream: _,
        receiver,
        service,
        expected,
    } = Replaying::new(10_000, 4000).await;
    // a store holding 20,000 delivered incidents from over a year ago and
    // 300 deliveries failed 100 days ago, next to the fixture's two
    let db = dir.path().join("certsentry.db");
    old_store(&db);
    {
        let mut conn = rusqlite::Connection::open(&db).unwrap();
        let tx = conn.transaction().unwrap();
        let day = 24 * 3600 * 1000i64;
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_millis() as i64;
        for i in 0..20_300 {
            let id = format!("old{i:06}");
            tx.execute(
                "INSERT INTO incidents (id, dedup_key, first_seen_ms, last_seen_ms, sightings, body)
                 VALUES (?1, ?1, ?2, ?2, 1, '{}')",
                rusqlite::params![id, now - 400 * day],
            )
            .unwrap();
            if i >= 20_000 {
                tx.execute(
                    "INSERT INTO outbox (incident_id, sink, state, next_attempt_ms, created_ms)
                     VALUES (?1, 'hook', 'failed', 0, ?2)",
                    rusqlite::params![id, now - 100 * day],
                )
                .unwrap();
            }
        }
        tx.commit().unwrap();
    }
    let mut child = service.start();
    let mut want = expected.clone();
    let fixture_key = "681c122a205f1dad0bec73f87d453c6543b1468235e7382751b85b29774238cb";
    want.insert(fixture_key.to_owned());
    wait_all_delivered(&receiver, &want).await;
    // every old row goes but the fixture's pending incident, which goes
    // too if it was delivered before the pass reached it; nothing of the
    // replay's
    let s = status_until(&service, "the replay recorded", |s| {
        s["source"]["state"] == "finished" && s["counters"]["deliveries_pruned"] == 300
    })
    .await;
    let pruned = s["counters"]["incidents_pruned"].as_u64().unwrap();
    let kept = s["incidents"].as_u64().unwrap();
    assert!((20_301..=20_302).contains(&pruned), "{s}");
    assert_eq!(pruned + kept, 20_302 + expected.len() as u64, "{s}");
    stop(&mut child).await;
    report("retention under load", &want, &receiver);
}
