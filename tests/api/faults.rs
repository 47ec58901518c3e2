//! Fault tests with the real binary: `certsentry serve` replaying a stream
//! into a receiver on 127.0.0.1, while the receiver is down, refuses, or the
//! service is killed with SIGKILL at random moments and restarted.
//!
//! The expected incidents are what `certsentry replay` (the offline back-test
//! of the same pipeline) raises for the same stream; the receiver must get
//! every one of them. A duplicate is allowed only as the same idempotency key
//! sent twice (killed between the SOAR's answer and the outbox commit).

use crate::helpers::*;
use serde_json::{Value, json};
use std::collections::{BTreeMap, BTreeSet};
use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

const TLDS: &[&str] = &[
    "com", "net", "org", "info", "biz", "io", "co", "me", "xyz", "top", "online", "site", "shop",
    "store", "app", "dev", "cloud", "tech", "live", "pro", "club", "page", "link", "click", "help",
    "support", "today", "world", "space", "website", "fun", "icu", "vip", "work", "us", "eu", "de",
    "fr", "nl", "co.uk",
];
const LOOKALIKES: &[&str] = &["paypa1", "app1e", "paypal-secure", "rnicrosoft"];

pub(crate) fn free_addr() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// `n` certstream messages: every lookalike × TLD three times (bare, www.,
/// login.: one incident and two repeat sightings), the rest benign names.
pub(crate) fn write_stream(path: &Path, n: usize) {
    let template = real_messages()[1].clone();
    let mut lookalike_names = Vec::new();
    for label in LOOKALIKES {
        for tld in TLDS {
            for sub in ["", "www.", "login."] {
                lookalike_names.push(format!("{sub}{label}.{tld}"));
            }
        }
    }
    let mut out = std::io::BufWriter::new(std::fs::File::create(path).unwrap());
    let every = n / lookalike_names.len();
    let mut next_lookalike = 0;
    for i in 0..n {
        let name = if i % every == every / 2 && next_lookalike < lookalike_names.len() {
            next_lookalike += 1;
            lookalike_names[next_lookalike - 1].clone()
        } else {
            format!("host{i}.benign{}.{}", i % 97, TLDS[i % TLDS.len()])
        };
        let mut m = template.clone();
        let leaf = &mut m["data"]["leaf_cert"];
        leaf["all_domains"] = json!([name]);
        leaf["sha256"] = json!(format!("{i:064X}"));
        leaf["sha1"] = json!(format!("{i:040X}"));
        leaf["fingerprint"] = leaf["sha1"].clone();
        m["data"]["cert_index"] = json!(i);
        writeln!(out, "{m}").unwrap();
    }
    assert_eq!(next_lookalike, lookalike_names.len());
}

/// The dedup keys the offline back-test raises for `stream`.
pub(crate) fn expected_keys(dir: &Path, stream: &Path) -> BTreeSet<String> {
    replay_incidents(stream, Some(&dir.join("list.json")))
        .iter()
        .map(|v| v["dedup_key"].as_str().unwrap().to_owned())
        .collect()
}

pub(crate) struct Service {
    pub(crate) dir: PathBuf,
    pub(crate) api: SocketAddr,
    pub(crate) config: PathBuf,
}

impl Service {
    /// A service replaying `stream` at `rate` into a webhook at `sink_url`.
    pub(crate) fn new(dir: &Path, stream: &Path, sink_url: &str, rate: u32) -> Service {
        let sinks = format!("[[sinks]]\nname = \"hook\"\nurl = \"{sink_url}\"\n");
        Service::with_sinks(dir, stream, &sinks, rate)
    }

    /// A service replaying `stream` at `rate` into the `[[sinks]]` of `sinks`.
    pub(crate) fn with_sinks(dir: &Path, stream: &Path, sinks: &str, rate: u32) -> Service {
        std::fs::write(dir.join("list.json"), TEST_LIST).unwrap();
        let api = free_addr();
        let config = dir.join("certsentry.toml");
        std::fs::write(
            &config,
            format!(
                r#"
[api]
listen = "{api}"
[source]
kind = "replay"
path = "{stream}"
replay_rate = {rate}
[watchlist]
path = "{list}"
[store]
path = "{db}"
[delivery]
initial_backoff = "50ms"
max_backoff = "400ms"
poll_interval = "50ms"
{sinks}
"#,
                stream = stream.display(),
                list = dir.join("list.json").display(),
                db = dir.join("certsentry.db").display(),
            ),
        )
        .unwrap();
        Service {
            dir: dir.to_owned(),
            api,
            config,
        }
    }

    pub(crate) fn start(&self) -> Child {
        Command::new(env!("CARGO_BIN_EXE_certsentry"))
            .args(["serve", "--config"])
            .arg(&self.config)
            .current_dir(&self.dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap()
    }

    pub(crate) async fn status(&self) -> Option<Value> {
        let r = reqwest::get(format!("http://{}/v1/status", self.api))
            .await
            .ok()?;
        r.json().await.ok()
    }

    /// `/readyz`'s status code and `store_writable`.
    pub(crate) async fn readyz(&self) -> (u16, bool) {
        let Ok(r) = reqwest::get(format!("http://{}/readyz", self.api)).await else {
            return (0, true);
        };
        let code = r.status().as_u16();
        let body: Value = r.json().await.unwrap_or(Value::Null);
        (code, body["store_writable"].as_bool().unwrap_or(true))
    }

    /// Wait until the replay is finished and `incidents` are stored.
    pub(crate) async fn wait_replayed(&self, incidents: usize) -> Value {
        let mut last = Value::Null;
        for _ in 0..600 {
            if let Some(s) = self.status().await {
                if s["source"]["state"] == "finished" && s["incidents"] == incidents {
                    return s;
                }
                last = s;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("replay did not finish with {incidents} incidents: {last}");
    }
}

/// Delivered dedup keys, how often each arrived, checking each request's
/// idempotency key is its body's dedup key.
pub(crate) fn tally(receiver: &Receiver) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    for r in receiver.delivered("/hook") {
        let key = r.body["dedup_key"].as_str().unwrap().to_owned();
        assert_eq!(r.headers["idempotency-key"].to_str().unwrap(), key);
        *seen.entry(key).or_insert(0) += 1;
    }
    seen
}

pub(crate) async fn wait_all_delivered(receiver: &Receiver, expected: &BTreeSet<String>) {
    let r = receiver.clone();
    let want = expected.clone();
    eventually(Duration::from_secs(60), "every incident delivered", || {
        let (r, want) = (r.clone(), want.clone());
        async move {
            let got: BTreeSet<String> = tally(&r).into_keys().collect();
            want.is_subset(&got)
        }
    })
    .await;
}

pub(crate) fn report(what: &str, expected: &BTreeSet<String>, receiver: &Receiver) -> usize {
    let seen = tally(receiver);
    let delivered: BTreeSet<String> = seen.keys().cloned().collect();
    let lost = expected.difference(&delivered).count();
    let unexpected = delivered.difference(expected).count();
    let requests: usize = seen.values().sum();
    let duplicates = requests - seen.len();
    println!(
        "{what}: incidents expected {}, delivered {}, deliveries {requests}, duplicated {duplicates}, lost {lost}, unexpected {unexpected}",
        expected.len(),
        delivered.len()
    );
    let missing: Vec<&String> = expected.difference(&delivered).take(10).collect();
    assert_eq!(lost, 0, "{what}: incidents lost, such as {missing:?}");
    assert_eq!(unexpected, 0, "{what}: incidents nobody expected");
    duplicates
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_at_random_moments_loses_no_incident() {
    let dir = tempfile::tempdir().unwrap();
    let stream = dir.path().join("stream.jsonl");
    write_stream(&stream, 10_000);
    let receiver = Receiver::start().await;
    let service = Service::new(
        dir.path(),
        &stream,
        &format!("{}/hook", receiver.base),
        4000,
    );
    let expected = expected_keys(dir.path(), &stream);
    assert_eq!(expected.len(), LOOKALIKES.len() * TLDS.len());

    let seed = fastrand::u64(..);
    println!("kill schedule seed {seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut kills = 0;
    for _ in 0..8 {
        let mut child = service.start();
        tokio::time::sleep(Duration::from_millis(rng.u64(150..2500))).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        kills += 1;
    }
    let mut child = service.start();
    let status = service.wait_replayed(expected.len()).await;
    wait_all_delivered(&receiver, &expected).await;
    child.kill().unwrap();
    child.wait().unwrap();
    println!("after {kills} SIGKILLs: {status}");
    report("SIGKILL", &expected, &receiver);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_down_then_refusing_then_back_gets_everything() {
    let dir = tempfile::tempdir().unwrap();
    let stream = dir.path().join("stream.jsonl");
    write_stream(&stream, 2_000);
    let receiver_addr = free_addr(); // nothing listens there yet
    let service = Service::new(
        dir.path(),
        &stream,
        &format!("http://{receiver_addr}/hook"),
        0,
    );
    let expected = expected_keys(dir.path(), &stream);
    let mut child = service.start();
    let mut status = service.wait_replayed(expected.len()).await;
    // /v1/status counts the outbox and the incidents in two reads: a batch
    // committed between them shows once the next read sees it
    for _ in 0..100 {
        if status["sinks"][0]["pending"] == expected.len() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        status = service.status().await.unwrap_or(status);
    }
    assert_eq!(status["sinks"][0]["pending"], expected.len(), "{status}");
    tokio::time::sleep(Duration::from_secs(1)).await; // down for a while

    // back, but overloaded at first
    let receiver = Receiver::start_on(receiver_addr).await;
    receiver.answer_next_with(&[
        Answer::new(500, "boom"),
        Answer::new(503, "maintenance"),
        Answer::new(429, "slow down").header("Retry-After", "1"),
    ]);
    wait_all_delivered(&receiver, &expected).await;
    let refused = receiver
        .requests()
        .iter()
        .filter(|r| r.status >= 400)
        .count();
    assert_eq!(refused, 3);
    let status = service.status().await.unwrap();
    assert_eq!(status["sinks"][0]["failed"], 0);
    child.kill().unwrap();
    child.wait().unwrap();
    let duplicates = report("receiver down", &expected, &receiver);
    assert_eq!(duplicates, 0, "no crash, so no duplicate");
}

/// Every incident in a `file` sink's output, by idempotency key: how often
/// each is there. Every file must hold whole incidents only, and no
/// temporary file may be left.
fn file_sink_tally(root: &Path) -> BTreeMap<String, usize> {
    let mut seen = BTreeMap::new();
    let mut dirs = vec![root.to_owned()];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            assert!(!name.contains(".tmp-"), "a temporary file was left: {name}");
            if path.is_dir() {
                dirs.push(path);
                continue;
            }
            let text = std::fs::read_to_string(&path).unwrap();
            assert!(text.ends_with('\n'), "{name} is cut short");
            for line in text.lines() {
                let incident: Value = serde_json::from_str(line)
                    .unwrap_or_else(|e| panic!("{name} holds a partial incident ({e}): {line}"));
                let key = incident["dedup_key"].as_str().unwrap().to_owned();
                if name.ends_with(".json") {
                    assert_eq!(name, format!("{key}.json"));
                }
                *seen.entry(key).or_insert(0) += 1;
            }
        }
    }
    seen
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigkill_while_writing_files_leaves_whole_incidents_once_each() {
    let dir = tempfile::tempdir().unwrap();
    let stream = dir.path().join("stream.jsonl");
    write_stream(&stream, 6_000);
    let (json_root, lines_root) = (dir.path().join("alerts"), dir.path().join("lines"));
    let sinks = format!(
        "[[sinks]]\nkind = \"file\"\nname = \"dir\"\npath = \"{}/%Y/%m/%d/%H\"\n\
         [[sinks]]\nkind = \"file\"\nname = \"lines\"\nformat = \"jsonl\"\npath = \"{}/%Y%m%d%H.jsonl\"\n",
        json_root.display(),
        lines_root.display()
    );
    let service = Service::with_sinks(dir.path(), &stream, &sinks, 3000);
    let expected = expected_keys(dir.path(), &stream);
    let seed = fastrand::u64(..);
    println!("kill schedule seed {seed}");
    let mut rng = fastrand::Rng::with_seed(seed);
    for _ in 0..6 {
        let mut child = service.start();
        tokio::time::sleep(Duration::from_millis(rng.u64(150..2000))).await;
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
    }
    let mut child = service.start();
    service.wait_replayed(expected.len()).await;
    eventually(Duration::from_secs(60), "both file sinks drained", || {
        let service = &service;
        async move {
            service.status().await.is_some_and(|s| {
                s["sinks"]
                    .as_array()
                    .is_some_and(|sinks| sinks.iter().all(|k| k["pending"] == 0))
            })
        }
    })
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    for (what, root) in [("directory", &json_root), ("JSON Lines", &lines_root)] {
        let seen = file_sink_tally(root);
        let got: BTreeSet<String> = seen.keys().cloned().collect();
        println!(
            "file sink ({what}): incidents expected {}, written {}, more than once {}",
            expected.len(),
            got.len(),
            seen.values().filter(|n| **n > 1).count()
        );
        assert_eq!(got, expected, "{what}: every incident, nothing else");
        assert!(
            seen.values().all(|n| *n == 1),
            "{what}: an incident written twice"
        );
    }
}
