//! `[bus]` over a real nats-server (issue #19), started here on a random
//! port of 127.0.0.1 (`.ci/run` installs Debian's `nats-server`): a
//! ct-reader process replaying a stream into the bus, two matcher
//! processes sharing its consumer and delivering into a local receiver.
//! A matcher, the reader and the broker are each SIGKILLed mid-stream and
//! started again; every incident still arrives, and the shared consumer
//! ends with nothing pending. Two ct-readers on the same CT logs: one
//! holds each log's lease, the other takes over when it is SIGKILLed, and
//! every index reaches the stream once, with the positions at the end.

use crate::faults::{expected_keys, free_addr, report, tally, wait_all_delivered, write_stream};
use crate::helpers::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// One certsentry process with `roles`, its own store and API.
struct Node {
    dir: PathBuf,
    config: PathBuf,
    child: Option<Child>,
    api: std::net::SocketAddr,
}

impl Node {
    fn new(dir: &Path, url: &str, roles: &str, source: &str, sinks: &str) -> Node {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("list.json"), TEST_LIST).unwrap();
        let config = dir.join("certsentry.toml");
        let api = free_addr();
        std::fs::write(
            &config,
            format!(
                r#"
[api]
listen = "{api}"
{source}
[watchlist]
path = "{list}"
reload_interval = "300ms"
[store]
path = "{db}"
[delivery]
initial_backoff = "50ms"
max_backoff = "400ms"
poll_interval = "50ms"
request_timeout = "1s"
[bus]
url = "{url}"
roles = {roles}
ack_wait = "2s"
lease_ttl = "2s"
{sinks}
"#,
                list = dir.join("list.json").display(),
                db = dir.join("certsentry.db").display(),
            ),
        )
        .unwrap();
        Node {
            dir: dir.to_owned(),
            config,
            child: None,
            api,
        }
    }

    /// `/v1/status`'s `list.brands`: how many brands its list has.
    async fn brands(&self) -> Option<u64> {
        let r = reqwest::get(format!("http://{}/v1/status", self.api))
            .await
            .ok()?;
        let status: serde_json::Value = r.json().await.ok()?;
        status["list"]["brands"].as_u64()
    }

    /// `/v1/status`'s `bus`: the cluster as this process sees it.
    async fn cluster(&self) -> serde_json::Value {
        let mut status: serde_json::Value = reqwest::get(format!("http://{}/v1/status", self.api))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        status["bus"].take()
    }

    fn start(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_certsentry"))
            .args(["serve", "--config"])
            .arg(&self.config)
            .current_dir(&self.dir)
            .env(
                "RUST_LOG",
                std::env::var("BUS_TEST_RUST_LOG").unwrap_or_else(|_| "warn".into()),
            )
            .stdout(Stdio::null())
            .stderr(bus_test_log(
                self.dir
                    .file_name()
                    .and_then(|n| n.to_str())
                    .unwrap_or("node"),
            ))
            .spawn()
            .unwrap();
        self.child = Some(child);
    }

    fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    fn sigkill(&mut self) {
        if let Some(mut c) = self.child.take() {
            c.kill().unwrap();
            c.wait().unwrap();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.sigkill();
    }
}

/// Wait until `consumer` of `stream` has nothing pending or unacknowledged.
async fn drained(url: &str, stream: &str, consumer: &str, limit: Duration) {
    let done = wait_for(limit, || async move {
        backlog(url, stream, consumer).await == Some((0, 0))
    })
    .await;
    assert!(
        done,
        "{stream}/{consumer} still has (pending, unacknowledged) {:?} after {limit:?}",
        backlog(url, stream, consumer).await
    );
}

/// A consumer's `num_pending` and `num_ack_pending`.
async fn backlog(url: &str, stream: &str, consumer: &str) -> Option<(u64, usize)> {
    let client = async_nats::connect(url).await.ok()?;
    let js = async_nats::jetstream::new(client);
    let stream = js.get_stream(stream).await.ok()?;
    let mut consumer: async_nats::jetstream::consumer::PullConsumer =
        stream.get_consumer(consumer).await.ok()?;
    let info = consumer.info().await.ok()?;
    Some((info.num_pending, info.num_ack_pending))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reader_and_two_matchers_over_nats_lose_nothing_when_any_of_them_dies() {
    let dir = tempfile::tempdir().unwrap();
    let stream = dir.path().join("stream.jsonl");
    write_stream(&stream, 6_000);
    std::fs::write(dir.path().join("list.json"), TEST_LIST).unwrap();
    let expected = expected_keys(dir.path(), &stream);
    assert!(expected.len() > 100, "{}", expected.len());
    let receiver = Receiver::start().await;
    let mut broker = Broker::start(&dir.path().join("nats"), 0);
    let url = broker.url();

    let replay = format!(
        "[source]\nkind = \"replay\"\npath = \"{}\"\nreplay_rate = 1500",
        stream.display()
    );
    let sinks = format!(
        "[[sinks]]\nname = \"hook\"\nurl = \"{}/hook\"\n",
        receiver.base
    );
    let matcher_roles = r#"["matcher", "delivery", "api"]"#;
    let none = "[source]\nkind = \"none\"";
    let mut reader = Node::new(
        &dir.path().join("reader"),
        &url,
        r#"["ct-reader"]"#,
        &replay,
        "",
    );
    let mut a = Node::new(&dir.path().join("a"), &url, matcher_roles, none, &sinks);
    let mut b = Node::new(&dir.path().join("b"), &url, matcher_roles, none, &sinks);
    a.start();
    b.start();
    reader.start();

    // a matcher dies mid-stream; another takes its place
    tokio::time::sleep(Duration::from_millis(1200)).await;
    a.sigkill();
    let mut c = Node::new(&dir.path().join("c"), &url, matcher_roles, none, &sinks);
    c.start();
    // the reader dies and comes back (it replays from the start: the
    // stream drops what it already has by message id)
    tokio::time::sleep(Duration::from_millis(800)).await;
    reader.sigkill();
    reader.start();
    // the broker dies and comes back on its port, with its store
    tokio::time::sleep(Duration::from_millis(800)).await;
    broker.sigkill_and_restart();
    // the killed matcher never comes back: what it raised went to the
    // incidents' stream before its certificate's ack, and the others'
    // delivery takes it from there

    wait_all_delivered(&receiver, &expected).await;
    let duplicates = report("bus", &expected, &receiver);
    // every delivery carries its incident's idempotency key (checked by
    // tally); a certificate redelivered to another matcher may be sent again
    // under the same key, and nothing else is sent twice
    let keys = tally(&receiver);
    assert!(
        keys.keys().all(|k| expected.contains(k)),
        "unexpected incidents"
    );
    println!("duplicates under the same idempotency key: {duplicates}");

    drained(&url, "CERTS", "matchers", Duration::from_secs(30)).await;
    for node in [&mut reader, &mut b, &mut c] {
        node.sigkill();
    }
}

/// Every message the stream holds for the consumer `name`: (message id,
/// count), acknowledging them.
async fn drain(url: &str, name: &str, expect: usize) -> std::collections::BTreeMap<String, usize> {
    use futures_util::StreamExt;
    let client = async_nats::connect(url).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let stream = js.get_stream("CERTS").await.unwrap();
    let consumer: async_nats::jetstream::consumer::PullConsumer =
        stream.get_consumer(name).await.unwrap();
    let mut ids = std::collections::BTreeMap::new();
    let mut seen = 0;
    while seen < expect {
        let mut batch = consumer
            .fetch()
            .max_messages(500)
            .expires(Duration::from_secs(2))
            .messages()
            .await
            .unwrap();
        let before = seen;
        while let Some(m) = batch.next().await {
            let m = m.unwrap();
            let id = m
                .headers
                .as_ref()
                .and_then(|h| h.get("Nats-Msg-Id"))
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default();
            *ids.entry(id).or_insert(0) += 1;
            m.ack().await.unwrap();
            seen += 1;
        }
        if seen == before {
            break;
        }
    }
    ids
}

/// A durable consumer `audit` of CERTS, made once the stream exists: the
/// stream keeps every message until the test has taken it.
async fn audit_consumer(url: &str) {
    eventually(
        Duration::from_secs(20),
        "the audit consumer exists",
        || async {
            let Ok(client) = async_nats::connect(url).await else {
                return false;
            };
            let js = async_nats::jetstream::new(client);
            let Ok(stream) = js.get_stream("CERTS").await else {
                return false;
            };
            stream
                .get_or_create_consumer(
                    "audit",
                    async_nats::jetstream::consumer::pull::Config {
                        durable_name: Some("audit".into()),
                        ack_policy: async_nats::jetstream::consumer::AckPolicy::Explicit,
                        ..Default::default()
                    },
                )
                .await
                .is_ok()
        },
    )
    .await;
}

/// A ct-reader's source: the local logs from the beginning, slowly enough
/// to be killed in the middle.
fn ct_source(logs: &FakeLogs) -> String {
    format!(
        "[source]\nkind = \"ct\"\n[ct]\nlog_list_url = \"{}/loglist.json\"\nstart = \"beginning\"\n\
         poll_interval = \"100ms\"\nrequest_interval = \"40ms\"\nbackoff_initial = \"50ms\"\n\
         backoff_max = \"1s\"\nbatch_size = 10\n",
        logs.base
    )
}

/// The CT logs' lease holders in `ct_leases` (not the list loader's).
async fn log_leases(url: &str) -> Vec<(String, String)> {
    let mut all = kv_values(url, "ct_leases").await;
    all.retain(|(k, _)| !k.starts_with("list_loader"));
    all
}

/// The `ct_leases` holders and the `ct_positions` values, by key.
async fn kv_values(url: &str, bucket: &str) -> Vec<(String, String)> {
    // a listing that does not end in time reads as empty: the callers ask again
    tokio::time::timeout(Duration::from_secs(5), kv_values_now(url, bucket))
        .await
        .unwrap_or_default()
}

async fn kv_values_now(url: &str, bucket: &str) -> Vec<(String, String)> {
    use futures_util::StreamExt;
    let client = async_nats::connect(url).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let Ok(kv) = js.get_key_value(bucket).await else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let Ok(mut keys) = kv.keys().await else {
        return out;
    };
    while let Some(Ok(k)) = keys.next().await {
        if let Ok(Some(v)) = kv.get(&k).await {
            out.push((k, String::from_utf8_lossy(&v).into_owned()));
        }
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_ct_readers_share_the_logs_by_lease_and_the_survivor_reads_on_without_a_gap() {
    let dir = tempfile::tempdir().unwrap();
    let logs = FakeLogs::start(600).await;
    logs.grow(40, 300);
    let (rfc_url, tiled_url) = (
        format!("{}/rfc/", logs.base),
        format!("{}/tiled/", logs.base),
    );
    let receiver = Receiver::start().await;
    let broker = Broker::start(&dir.path().join("nats"), 0);
    let url = broker.url();
    let sinks = format!(
        "[[sinks]]\nname = \"hook\"\nurl = \"{}/hook\"\n",
        receiver.base
    );
    let none = "[source]\nkind = \"none\"";
    let mut matcher = Node::new(
        &dir.path().join("m"),
        &url,
        r#"["matcher", "delivery", "api"]"#,
        none,
        &sinks,
    );
    matcher.start();
    // a consumer of the test's own, made before anything is published:
    // the stream keeps every message until it has taken it
    audit_consumer(&url).await;

    let ct = ct_source(&logs);
    let mut r1 = Node::new(&dir.path().join("r1"), &url, r#"["ct-reader"]"#, &ct, "");
    let mut r2 = Node::new(&dir.path().join("r2"), &url, r#"["ct-reader"]"#, &ct, "");
    r1.start();
    r2.start();

    // both logs are held, each by one reader, and reading has begun
    eventually(Duration::from_secs(20), "both logs leased", || {
        let url = url.clone();
        async move { log_leases(&url).await.len() == 2 }
    })
    .await;
    let holders = log_leases(&url).await;
    let pid_of = |holder: &str| {
        holder
            .split('-')
            .rev()
            .nth(1)
            .and_then(|p| p.parse::<u32>().ok())
    };
    let tiled_key_part = tiled_url
        .trim_start_matches("http://")
        .replace(|c: char| !c.is_ascii_alphanumeric(), "_");
    let tiled_holder = holders
        .iter()
        .find(|(k, _)| k.starts_with(tiled_key_part.trim_matches('_')))
        .map(|(_, v)| v.clone())
        .expect("the tiled log's lease");
    let (victim, survivor) = if pid_of(&tiled_holder) == r1.pid() {
        (&mut r1, &mut r2)
    } else {
        (&mut r2, &mut r1)
    };
    assert_eq!(pid_of(&tiled_holder), victim.pid(), "{holders:?}");

    // the holder of the tiled log dies mid-log; the log grows meanwhile
    logs.wait_for_requests("the tiled log is being read", |served| {
        served
            .iter()
            .any(|(p, s)| p.contains("/tiled/tile/data/") && *s == 200)
    })
    .await;
    victim.sigkill();
    logs.grow(40, 600);

    // the survivor takes the lease over and reads both logs to their end
    let survivor_pid = survivor.pid();
    eventually(
        Duration::from_secs(60),
        "every position at its log's end",
        || {
            let url = url.clone();
            async move {
                let positions = kv_values(&url, "ct_positions").await;
                let ends: Vec<u64> = positions
                    .iter()
                    .filter(|(k, _)| k.starts_with("pos."))
                    .filter_map(|(_, v)| serde_json::from_str::<serde_json::Value>(v).ok())
                    .filter_map(|v| v["next_index"].as_u64())
                    .collect();
                let mut ends = ends;
                ends.sort_unstable();
                ends == [40, 600]
            }
        },
    )
    .await;
    let holders = log_leases(&url).await;
    assert!(
        holders.iter().all(|(_, h)| pid_of(h) == survivor_pid),
        "the survivor holds every log: {holders:?}"
    );
    // /v1/status shows each log's position and holder
    let cluster = survivor.cluster().await;
    let logs = cluster["ct_logs"]
        .as_array()
        .expect("ct_logs in /v1/status");
    let mut shown: Vec<u64> = logs
        .iter()
        .filter_map(|l| l["next_index"].as_u64())
        .collect();
    shown.sort_unstable();
    assert_eq!(shown, [40, 600], "{cluster}");
    assert!(
        logs.iter()
            .all(|l| l["lease_holder"].as_str().and_then(pid_of) == survivor_pid),
        "{cluster}"
    );

    // every index of both logs is in the stream exactly once
    let ids = drain(&url, "audit", 640).await;
    let expected: std::collections::BTreeSet<String> = (0..40)
        .map(|i| format!("{rfc_url}:{i}"))
        .chain((0..600).map(|i| format!("{tiled_url}:{i}")))
        .collect();
    let got: std::collections::BTreeSet<String> = ids.keys().cloned().collect();
    let missing: Vec<&String> = expected.difference(&got).take(5).collect();
    let extra: Vec<&String> = got.difference(&expected).take(5).collect();
    assert!(
        missing.is_empty() && extra.is_empty(),
        "missing {missing:?}, extra {extra:?}"
    );
    let twice: Vec<(&String, &usize)> = ids.iter().filter(|(_, n)| **n > 1).take(5).collect();
    assert!(twice.is_empty(), "published twice: {twice:?}");

    drained(&url, "CERTS", "matchers", Duration::from_secs(30)).await;
    survivor.sigkill();
    matcher.sigkill();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn matchers_publish_incidents_and_a_delivery_process_delivers_them_through_kills() {
    let dir = tempfile::tempdir().unwrap();
    let stream = dir.path().join("stream.jsonl");
    write_stream(&stream, 6_000);
    std::fs::write(dir.path().join("list.json"), TEST_LIST).unwrap();
    let expected = expected_keys(dir.path(), &stream);
    assert!(expected.len() > 100, "{}", expected.len());
    let receiver = Receiver::start().await;
    let refusing = Receiver::start().await;
    refusing.set_default(400);
    let mut broker = Broker::start(&dir.path().join("nats"), 0);
    let url = broker.url();

    let replay = format!(
        "[source]\nkind = \"replay\"\npath = \"{}\"\nreplay_rate = 1500",
        stream.display()
    );
    let sinks = format!(
        "[[sinks]]\nname = \"hook\"\nurl = \"{}/hook\"\n\n[[sinks]]\nname = \"refusing\"\nurl = \"{}/hook\"\n",
        receiver.base, refusing.base
    );
    let none = "[source]\nkind = \"none\"";
    let matcher_roles = r#"["matcher", "api"]"#;
    let mut reader = Node::new(
        &dir.path().join("reader"),
        &url,
        r#"["ct-reader"]"#,
        &replay,
        "",
    );
    let mut a = Node::new(&dir.path().join("a"), &url, matcher_roles, none, "");
    let mut b = Node::new(&dir.path().join("b"), &url, matcher_roles, none, "");
    let mut d = Node::new(&dir.path().join("d"), &url, r#"["delivery"]"#, none, &sinks);
    // an api process of its own, keeping a read model of the incidents
    let mut view = Node::new(&dir.path().join("view"), &url, r#"["api"]"#, none, "");
    d.start();
    a.start();
    b.start();
    view.start();
    reader.start();

    // the delivery process dies mid-stream and comes back
    tokio::time::sleep(Duration::from_millis(1200)).await;
    d.sigkill();
    tokio::time::sleep(Duration::from_millis(500)).await;
    d.start();
    // a matcher dies; the other takes its certificates (and the incidents
    // its outbox had not published yet are the survivor's to raise)
    tokio::time::sleep(Duration::from_millis(600)).await;
    a.sigkill();
    // the broker dies and comes back on its port, with its store
    tokio::time::sleep(Duration::from_millis(600)).await;
    broker.sigkill_and_restart();

    // the chain has three stages to recover after the broker's restart
    // (a timeout falls through to the report, which says what is missing)
    let delivered = wait_for(Duration::from_secs(120), || {
        let (r, want) = (receiver.clone(), expected.clone());
        async move { want.iter().all(|k| tally(&r).contains_key(k)) }
    })
    .await;
    if !delivered {
        println!("cluster when delivery timed out: {}", d.cluster().await);
    }
    let duplicates = report("bus delivery", &expected, &receiver);
    println!("duplicates under the same idempotency key: {duplicates}");

    // each sink's consumer ends with nothing pending, the refused ones in
    // the failed stream, one per incident
    for consumer in ["deliver-hook", "deliver-refusing"] {
        drained(&url, "INCIDENTS", consumer, Duration::from_secs(60)).await;
    }
    let failed = drain_stream(&url, "DELIVERY_FAILED").await;
    let failed_keys: std::collections::BTreeSet<String> = failed
        .iter()
        .map(|(sink, body)| {
            assert_eq!(sink, "refusing");
            body["dedup_key"].as_str().unwrap().to_owned()
        })
        .collect();
    assert_eq!(
        failed_keys, expected,
        "every refused incident is in the failed stream"
    );
    assert!(
        refusing.requests().len() >= expected.len(),
        "the refusing sink was asked"
    );
    // /v1/status shows the cluster: the roles' instances, each consumer's
    // lag, and what the failed stream holds
    let cluster = d.cluster().await;
    for role in ["ct-reader", "matcher", "delivery"] {
        let ids = cluster["roles"][role].as_array().unwrap();
        assert!(!ids.is_empty(), "{role}: {cluster}");
    }
    let streams = cluster["streams"].as_array().unwrap();
    let stream = |name: &str| {
        streams
            .iter()
            .find(|s| s["name"] == name)
            .unwrap_or_else(|| panic!("{name}: {cluster}"))
    };
    for consumer in stream("INCIDENTS")["consumers"].as_array().unwrap() {
        assert_eq!(
            (&consumer["num_pending"], &consumer["num_ack_pending"]),
            (&serde_json::json!(0), &serde_json::json!(0)),
            "{consumer}"
        );
    }
    assert!(stream("DELIVERY_FAILED")["messages"].as_u64().unwrap() >= expected.len() as u64);

    // the api process holds every incident the matchers raised, once
    eventually(
        Duration::from_secs(30),
        "the read model has every incident",
        || {
            let api = view.api;
            let want = expected.len();
            async move {
                let Ok(r) = reqwest::get(format!("http://{api}/v1/status")).await else {
                    return false;
                };
                let s: serde_json::Value = r.json().await.unwrap_or_default();
                s["incidents"].as_u64() == Some(want as u64)
            }
        },
    )
    .await;
    let listed: serde_json::Value =
        reqwest::get(format!("http://{}/v1/incidents?limit=1000", view.api))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    let keys: std::collections::BTreeSet<String> = listed["incidents"]
        .as_array()
        .unwrap_or_else(|| panic!("{listed}"))
        .iter()
        .map(|i| i["dedup_key"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(keys, expected);
    view.sigkill();
    drained(&url, "CERTS", "matchers", Duration::from_secs(60)).await;
    for node in [&mut reader, &mut b, &mut d] {
        node.sigkill();
    }
}

/// Every message of `stream` (an ephemeral consumer): (the sink header, body).
async fn drain_stream(url: &str, stream: &str) -> Vec<(String, serde_json::Value)> {
    use futures_util::StreamExt;
    let client = async_nats::connect(url).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let stream = js.get_stream(stream).await.unwrap();
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            ack_policy: async_nats::jetstream::consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut out = Vec::new();
    loop {
        let mut batch = consumer
            .fetch()
            .max_messages(500)
            .expires(Duration::from_secs(1))
            .messages()
            .await
            .unwrap();
        let before = out.len();
        while let Some(m) = batch.next().await {
            let m = m.unwrap();
            let sink = m
                .headers
                .as_ref()
                .and_then(|h| h.get("Certsentry-Sink"))
                .map(|v| v.as_str().to_owned())
                .unwrap_or_default();
            out.push((sink, serde_json::from_slice(&m.payload).unwrap()));
        }
        if out.len() == before {
            return out;
        }
    }
}

/// The registrable domains of every name the CT fixtures carry: what a
/// rule matching every name raises one incident for each.
fn fixture_domains() -> std::collections::BTreeSet<String> {
    let fixtures: Vec<serde_json::Value> =
        serde_json::from_str(include_str!("../fixtures/live_ct.json")).unwrap();
    fixtures
        .iter()
        .flat_map(|f| {
            let full: serde_json::Value =
                serde_json::from_str(f["expected_full"].as_str().unwrap()).unwrap();
            full["data"]["leaf_cert"]["all_domains"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|n| certsentry::Fqdn::parse(n.as_str()?).ok())
                .map(|f| f.registrable_domain_ascii().to_owned())
                .collect::<Vec<_>>()
        })
        .collect()
}

/// The whole chain of issue #19 over a real nats-server: a ct-reader on
/// local CT logs, two matchers, a delivery process into a local receiver.
/// A matcher and the ct-reader are SIGKILLed mid-stream; every
/// CT index reaches the stream once, every incident is delivered (again
/// only under its idempotency key), the positions end at the logs' size
/// and every consumer ends with nothing pending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ct_logs_to_the_soar_over_the_bus_through_kills_of_a_matcher_the_reader_and_the_broker() {
    let dir = tempfile::tempdir().unwrap();
    let logs = FakeLogs::start(600).await;
    logs.grow(40, 300);
    let (rfc_url, tiled_url) = (
        format!("{}/rfc/", logs.base),
        format!("{}/tiled/", logs.base),
    );
    let receiver = Receiver::start().await;
    let mut broker = Broker::start(&dir.path().join("nats"), 0);
    let url = broker.url();
    // a rule that every name matches: one incident per registrable domain
    let everything = "[[matcher.rules]]\nname = \"all\"\nregex = \".\"\nseverity = \"high\"\n";
    let none = format!("[source]\nkind = \"none\"\n{everything}");
    let matcher_roles = r#"["matcher", "api"]"#;
    let mut m1 = Node::new(&dir.path().join("m1"), &url, matcher_roles, &none, "");
    let mut m2 = Node::new(&dir.path().join("m2"), &url, matcher_roles, &none, "");
    let sinks = format!(
        "[[sinks]]\nname = \"hook\"\nurl = \"{}/hook\"\n",
        receiver.base
    );
    let mut d = Node::new(
        &dir.path().join("d"),
        &url,
        r#"["delivery"]"#,
        &none,
        &sinks,
    );
    m1.start();
    m2.start();
    d.start();
    audit_consumer(&url).await;
    let ct = ct_source(&logs);
    let mut reader = Node::new(&dir.path().join("r"), &url, r#"["ct-reader"]"#, &ct, "");
    reader.start();

    // a matcher dies once the tiled log is being read; another comes
    logs.wait_for_requests("the tiled log is being read", |served| {
        served
            .iter()
            .any(|(p, s)| p.contains("/tiled/tile/data/") && *s == 200)
    })
    .await;
    m1.sigkill();
    let mut m3 = Node::new(&dir.path().join("m3"), &url, matcher_roles, &none, "");
    m3.start();
    // the reader dies and comes back (after its lease has gone); the log grows
    reader.sigkill();
    logs.grow(40, 600);
    reader.start();
    // the broker dies and comes back on its port, with its store
    tokio::time::sleep(Duration::from_millis(500)).await;
    broker.sigkill_and_restart();

    // every incident reaches the receiver, each under its idempotency key
    let domains = fixture_domains();
    let r = receiver.clone();
    eventually(Duration::from_secs(90), "every incident delivered", || {
        let (r, want) = (r.clone(), domains.clone());
        async move {
            let got: std::collections::BTreeSet<String> = r
                .delivered("/hook")
                .iter()
                .filter_map(|x| x.body["registrable_domain"].as_str().map(str::to_owned))
                .collect();
            want.is_subset(&got)
        }
    })
    .await;
    let keys = tally(&receiver);
    assert_eq!(
        keys.len(),
        domains.len(),
        "one incident per registrable domain"
    );
    let again: usize = keys.values().map(|n| n - 1).sum();
    println!(
        "incidents {}, deliveries sent again under the same key {again}",
        keys.len()
    );

    // every CT index is in the stream exactly once, and the positions end
    // at the logs' size
    eventually(Duration::from_secs(60), "both positions at the end", || {
        let url = url.clone();
        async move {
            let mut ends: Vec<u64> = kv_values(&url, "ct_positions")
                .await
                .iter()
                .filter(|(k, _)| k.starts_with("pos."))
                .filter_map(|(_, v)| serde_json::from_str::<serde_json::Value>(v).ok())
                .filter_map(|v| v["next_index"].as_u64())
                .collect();
            ends.sort_unstable();
            ends == [40, 600]
        }
    })
    .await;
    let ids = drain(&url, "audit", 640).await;
    let expected: std::collections::BTreeSet<String> = (0..40)
        .map(|i| format!("{rfc_url}:{i}"))
        .chain((0..600).map(|i| format!("{tiled_url}:{i}")))
        .collect();
    let got: std::collections::BTreeSet<String> = ids.keys().cloned().collect();
    assert_eq!(got, expected, "every CT index, nothing else");
    assert!(
        ids.values().all(|n| *n == 1),
        "an index in the stream twice"
    );

    for (stream, consumer) in [("CERTS", "matchers"), ("INCIDENTS", "deliver-hook")] {
        drained(&url, stream, consumer, Duration::from_secs(60)).await;
    }
    for node in [&mut reader, &mut m2, &mut m3, &mut d] {
        node.sigkill();
    }
}

/// One process polls the list's source for the cluster; every matcher uses
/// what it publishes, a broken list replaces nothing anywhere, and the
/// matchers that do not hold the loader's lease never read their own file.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_process_loads_the_list_and_every_matcher_uses_it() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::start(&dir.path().join("nats"), 0);
    let url = broker.url();
    let none = "[source]\nkind = \"none\"";
    let roles = r#"["matcher", "api"]"#;
    let mut a = Node::new(&dir.path().join("a"), &url, roles, none, "");
    let mut b = Node::new(&dir.path().join("b"), &url, roles, none, "");
    a.start();
    b.start();
    for node in [&a, &b] {
        eventually(Duration::from_secs(20), "the list in use", || async {
            node.brands().await == Some(3)
        })
        .await;
    }
    // who loads it
    let loader_pid = || {
        let url = url.clone();
        async move {
            kv_values(&url, "ct_leases")
                .await
                .into_iter()
                .find(|(k, _)| k.starts_with("list_loader"))
                .and_then(|(_, h)| h.split('-').rev().nth(1)?.parse::<u32>().ok())
        }
    };
    eventually(Duration::from_secs(20), "the loader's lease", || async {
        loader_pid().await.is_some()
    })
    .await;
    let loader_pid = loader_pid().await;
    let (loader, other) = if loader_pid == a.pid() {
        (&a, &b)
    } else {
        (&b, &a)
    };
    assert_eq!(loader_pid, loader.pid());

    // the broker dies and comes back: the loader and the watches go on
    broker.sigkill_and_restart();
    // the other's own file changes: it does not read it
    std::fs::write(other.dir.join("list.json"), r#"{"example.org": []}"#).unwrap();
    // the loader's file gains a brand: both matchers take it
    std::fs::write(
        loader.dir.join("list.json"),
        r#"{"paypal.com": [], "microsoft.com": [], "apple.com": [], "examplebank.com": []}"#,
    )
    .unwrap();
    for node in [loader, other] {
        eventually(
            Duration::from_secs(20),
            "the new list everywhere",
            || async { node.brands().await == Some(4) },
        )
        .await;
    }
    // a lookalike of the new brand is matched by the one that never read it
    let matched: serde_json::Value = reqwest::Client::new()
        .post(format!("http://{}/v1/match", other.api))
        .json(&serde_json::json!({"names": ["examplebank-login.com"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(matched.to_string().contains("examplebank.com"), "{matched}");

    // a broken list replaces nothing, here or there
    std::fs::write(loader.dir.join("list.json"), "{not json").unwrap();
    tokio::time::sleep(Duration::from_secs(2)).await;
    for node in [loader, other] {
        assert_eq!(node.brands().await, Some(4));
    }
    a.sigkill();
    b.sigkill();
}

/// An update (here a new certificate for a lookalike already raised) goes
/// to the record the SOAR made of its incident, though the matcher that
/// raised both and the delivery process that sent them are two processes:
/// TheHive's alert is patched, not made twice, and a webhook gets both.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_update_over_the_bus_goes_to_the_record_the_soar_made() {
    let dir = tempfile::tempdir().unwrap();
    let stream = dir.path().join("stream.jsonl");
    let lines: Vec<String> = [
        cert_for(&["paypa1.com"], "bus-update-1"),
        cert_for(&["www.paypa1.com"], "bus-update-2"),
    ]
    .iter()
    .map(|m| m.to_string())
    .collect();
    std::fs::write(&stream, lines.join("\n") + "\n").unwrap();
    let hive = Receiver::start().await;
    hive.set_default_answer(Answer::new(201, r#"{"_id":"~41","_type":"Alert"}"#));
    let hook = Receiver::start().await;
    let broker = Broker::start(&dir.path().join("nats"), 0);
    let url = broker.url();
    // the update follows its incident closely: it may be on the stream
    // while its incident is still on its way to TheHive
    let source = format!(
        "[source]\nkind = \"replay\"\npath = \"{}\"\nreplay_rate = 3\n[incidents]\nsend_updates = true",
        stream.display()
    );
    let sinks = format!(
        "[[sinks]]\nname = \"hive\"\nkind = \"thehive\"\nurl = \"{}\"\ntoken = \"hive-key\"\n\n\
         [[sinks]]\nname = \"hook\"\nurl = \"{}/hook\"\n",
        hive.base, hook.base
    );
    let none = "[source]\nkind = \"none\"";
    let mut m = Node::new(
        &dir.path().join("m"),
        &url,
        r#"["ct-reader", "matcher", "api"]"#,
        &source,
        "",
    );
    let mut d = Node::new(&dir.path().join("d"), &url, r#"["delivery"]"#, none, &sinks);
    d.start();
    m.start();

    // delivery over the bus is at least once: a redelivered original may
    // come twice, so the two are told apart by what they are, not by place
    eventually(
        Duration::from_secs(20),
        "the incident and its update",
        || {
            let hook = hook.clone();
            async move {
                let hooked = hook.delivered("/hook");
                let new = |r: &&Received| r.body["update_of"].is_null();
                hooked.iter().any(|r| new(&r)) && hooked.iter().any(|r| !new(&r))
            }
        },
    )
    .await;
    let hooked = hook.delivered("/hook");
    let (news, updates): (Vec<_>, Vec<_>) =
        hooked.iter().partition(|r| r.body["update_of"].is_null());
    let (orig, update) = (&news[0].body, &updates[0].body);
    assert!(
        news.iter().all(|r| r.body["id"] == orig["id"]),
        "the update went out as a new incident too: {hooked:?}"
    );
    assert_eq!(update["update_of"], orig["id"], "{update}");
    eventually(Duration::from_secs(30), "the alert's PATCH", || {
        let hive = hive.clone();
        async move { hive.requests().iter().any(|r| r.method == "PATCH") }
    })
    .await;
    let requests = hive.requests();
    let alerts: Vec<_> = requests
        .iter()
        .filter(|r| r.method == "POST" && r.path == "/api/v1/alert")
        .collect();
    assert_eq!(alerts.len(), 1, "one alert, not a second for the update");
    assert_eq!(alerts[0].body["sourceRef"], orig["dedup_key"]);
    let patch: Vec<_> = requests.iter().filter(|r| r.method == "PATCH").collect();
    assert_eq!(patch.len(), 1, "{patch:?}");
    assert_eq!(patch[0].path, "/api/v1/alert/~41");
    assert_eq!(
        patch[0].headers["idempotency-key"].to_str().unwrap(),
        format!("{}-2", orig["dedup_key"].as_str().unwrap())
    );
    assert!(patch[0].at > alerts[0].at);
    // both sinks' consumers end with nothing pending
    for consumer in ["deliver-hive", "deliver-hook"] {
        drained(&url, "INCIDENTS", consumer, Duration::from_secs(30)).await;
    }
    for node in [&mut m, &mut d] {
        node.sigkill();
    }
}

/// The verdict of `/v1/match` for `name` on `node`: which suppression holds
/// for it there, if one does.
async fn suppressed_by(node: &Node, name: &str) -> Option<i64> {
    let r = reqwest::Client::new()
        .post(format!("http://{}/v1/match", node.api))
        .json(&serde_json::json!({"names": [name]}))
        .send()
        .await
        .ok()?;
    let v: serde_json::Value = r.json().await.ok()?;
    v["results"][0]["suppressed_by"].as_i64()
}

/// Triage reaches the matchers: a suppression made in an api process of
/// its own (a read model) holds in both matchers, a certificate for it then
/// raises nothing, and its removal lifts it everywhere.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_suppression_made_in_any_api_process_holds_in_every_matcher() {
    let dir = tempfile::tempdir().unwrap();
    let mut broker = Broker::start(&dir.path().join("nats"), 0);
    let url = broker.url();
    let none = "[source]\nkind = \"none\"";
    let roles = r#"["matcher", "api"]"#;
    let mut a = Node::new(&dir.path().join("a"), &url, roles, none, "");
    let mut b = Node::new(&dir.path().join("b"), &url, roles, none, "");
    let mut view = Node::new(&dir.path().join("view"), &url, r#"["api"]"#, none, "");
    for node in [&mut a, &mut b, &mut view] {
        node.start();
    }
    for node in [&a, &b, &view] {
        eventually(Duration::from_secs(20), "the list in use", || async {
            node.brands().await == Some(3)
        })
        .await;
    }
    assert_eq!(suppressed_by(&a, "paypa1.com").await, None);

    let made: serde_json::Value = reqwest::Client::new()
        .post(format!("http://{}/v1/suppressions", view.api))
        .json(&serde_json::json!({
            "domain": "login.paypa1.com",
            "brand": "paypal.com",
            "reason": "our own test domain",
            "actor": "ana"
        }))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let id = made["suppression"]["id"].as_i64().unwrap();
    for node in [&a, &b] {
        eventually(Duration::from_secs(20), "the suppression there", || async {
            suppressed_by(node, "www.paypa1.com").await == Some(id)
        })
        .await;
    }
    // for its brand only
    assert_eq!(suppressed_by(&a, "app1e.com").await, None);

    // certificates through the cluster: the suppressed lookalike raises no
    // incident in either matcher, the other one does
    let stream = dir.path().join("stream.jsonl");
    let lines: Vec<String> = [
        cert_for(&["paypa1.com"], "suppressed-1"),
        cert_for(&["www.paypa1.com"], "suppressed-2"),
        cert_for(&["app1e.com"], "not-suppressed"),
    ]
    .iter()
    .map(|m| m.to_string())
    .collect();
    std::fs::write(&stream, lines.join("\n") + "\n").unwrap();
    let replay = format!(
        "[source]\nkind = \"replay\"\npath = \"{}\"",
        stream.display()
    );
    // the read model's `/v1/events` pushes what it keeps, live
    let mut events = reqwest::get(format!("http://{}/v1/events", view.api))
        .await
        .unwrap();
    assert_eq!(events.status(), 200);
    let mut reader = Node::new(&dir.path().join("r"), &url, r#"["ct-reader"]"#, &replay, "");
    reader.start();
    eventually(
        Duration::from_secs(20),
        "the incident in the read model",
        || async {
            let Ok(r) = reqwest::get(format!("http://{}/v1/incidents", view.api)).await else {
                return false;
            };
            let v: serde_json::Value = r.json().await.unwrap_or_default();
            v["incidents"].as_array().is_some_and(|a| !a.is_empty())
        },
    )
    .await;
    // (published after the other two: those are recorded too once nothing
    // is pending)
    drained(&url, "CERTS", "matchers", Duration::from_secs(30)).await;
    let mut text = String::new();
    let pushed = tokio::time::timeout(Duration::from_secs(10), async {
        while !(text.contains("event: incident") && text.contains("\n\n")) {
            let Ok(Some(chunk)) = events.chunk().await else {
                break;
            };
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    assert!(pushed.is_ok(), "no event from the read model: {text}");
    let data = text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
    let pushed: serde_json::Value = serde_json::from_str(data).unwrap();
    assert_eq!(pushed["domain"], "app1e.com");
    let mut domains = Vec::new();
    for node in [&a, &b, &view] {
        let v: serde_json::Value = reqwest::get(format!("http://{}/v1/incidents", node.api))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        for i in v["incidents"].as_array().unwrap() {
            domains.push((node.api, i["domain"].as_str().unwrap().to_owned()));
        }
    }
    assert!(domains.iter().all(|(_, d)| d == "app1e.com"), "{domains:?}");

    // lifted where it was made: lifted everywhere, though the broker died
    // and came back in between (the watches are made again)
    broker.sigkill_and_restart();
    let removed = reqwest::Client::new()
        .delete(format!(
            "http://{}/v1/suppressions/{id}?actor=ana",
            view.api
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(removed.status(), 200);
    for node in [&a, &b] {
        eventually(
            Duration::from_secs(20),
            "the suppression lifted",
            || async { suppressed_by(node, "paypa1.com").await.is_none() },
        )
        .await;
    }
    for node in [&mut a, &mut b, &mut view, &mut reader] {
        node.sigkill();
    }
}

/// Tenants over the bus: a matcher publishes one incident per tenant
/// listing the brand, under `incidents.<tenant>.<brand>`, and the delivery
/// process gives each sink only the tenants routed to it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tenant_s_incidents_reach_its_sinks_through_the_bus() {
    use futures_util::StreamExt;
    let dir = tempfile::tempdir().unwrap();
    let stream = dir.path().join("stream.jsonl");
    let lines: Vec<String> = [
        cert_for(&["paypa1.com"], "bus-tenant-1"),
        cert_for(&["acmebank-login.com"], "bus-tenant-2"),
    ]
    .iter()
    .map(|m| m.to_string())
    .collect();
    std::fs::write(&stream, lines.join("\n") + "\n").unwrap();
    let acme_list = dir.path().join("acme.json");
    std::fs::write(&acme_list, r#"{"paypal.com": [], "acmebank.com": []}"#).unwrap();
    let hook = Receiver::start().await;
    let broker = Broker::start(&dir.path().join("nats"), 0);
    let url = broker.url();
    let source = format!(
        "[source]\nkind = \"replay\"\npath = \"{}\"\nreplay_rate = 5",
        stream.display()
    );
    // one configuration for the cluster: every process knows the tenants
    let shared = format!(
        "[[sinks]]\nname = \"hook\"\nurl = \"{base}/hook\"\n\n\
         [[sinks]]\nname = \"acme-hook\"\nurl = \"{base}/acme\"\n\n\
         [[tenants]]\nid = \"acme\"\nsinks = [\"acme-hook\"]\nlist.path = \"{list}\"\n",
        base = hook.base,
        list = acme_list.display()
    );
    let none = "[source]\nkind = \"none\"";
    let mut m = Node::new(
        &dir.path().join("m"),
        &url,
        r#"["ct-reader", "matcher", "api"]"#,
        &source,
        &shared,
    );
    let mut d = Node::new(
        &dir.path().join("d"),
        &url,
        r#"["delivery"]"#,
        none,
        &shared,
    );
    d.start();
    m.start();

    let acme = hook.wait_delivered("/acme", 2).await;
    let default = hook.wait_delivered("/hook", 1).await;
    for consumer in ["deliver-hook", "deliver-acme-hook"] {
        drained(&url, "INCIDENTS", consumer, Duration::from_secs(30)).await;
    }
    let seen = |path: &str| -> Vec<String> {
        hook.delivered(path)
            .iter()
            .map(|r| format!("{} {}", r.body["tenant"], r.body["domain"]))
            .collect()
    };
    assert_eq!(hook.delivered("/acme").len(), 2, "{:?}", seen("/acme"));
    assert_eq!(hook.delivered("/hook").len(), 1, "{:?}", seen("/hook"));
    assert!(acme.iter().all(|r| r.body["tenant"] == "acme"));
    let mut domains: Vec<&str> = acme
        .iter()
        .map(|r| r.body["domain"].as_str().unwrap())
        .collect();
    domains.sort();
    assert_eq!(domains, ["acmebank-login.com", "paypa1.com"]);
    assert_eq!(default[0].body["tenant"], "default");
    assert_eq!(default[0].body["domain"], "paypa1.com");

    // the subjects say whose incident each is
    let client = async_nats::connect(url.as_str()).await.unwrap();
    let js = async_nats::jetstream::new(client);
    let consumer = js
        .get_stream("INCIDENTS")
        .await
        .unwrap()
        .create_consumer(async_nats::jetstream::consumer::pull::Config {
            ack_policy: async_nats::jetstream::consumer::AckPolicy::None,
            ..Default::default()
        })
        .await
        .unwrap();
    let mut batch = consumer
        .fetch()
        .max_messages(50)
        .expires(Duration::from_secs(1))
        .messages()
        .await
        .unwrap();
    let mut subjects = Vec::new();
    while let Some(msg) = batch.next().await {
        subjects.push(msg.unwrap().subject.to_string());
    }
    subjects.sort();
    assert_eq!(
        subjects,
        [
            "incidents.acme.acmebank_com",
            "incidents.acme.paypal_com",
            "incidents.default.paypal_com"
        ]
    );
    for node in [&mut m, &mut d] {
        node.sigkill();
    }
}

/// The brands of the incidents `node` recorded.
async fn brands_recorded(node: &Node) -> std::collections::BTreeSet<String> {
    let listed: serde_json::Value =
        reqwest::get(format!("http://{}/v1/incidents?limit=1000", node.api))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    listed["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["brand"].as_str().unwrap().to_owned())
        .collect()
}

/// Two brand shards (`bus.shards = 2`) on a broker of their own: a replay
/// of `certs` certificates (at `rate` a second) for a reader, matchers
/// made on demand for either shard, both delivering to one receiver.
struct Shards {
    expected: std::collections::BTreeSet<String>,
    receiver: Receiver,
    broker: Broker,
    url: String,
    reader: Node,
    // last: fields drop in order, and the broker's store is in it
    dir: tempfile::TempDir,
}

impl Shards {
    async fn start(certs: usize, rate: u32) -> Shards {
        let dir = tempfile::tempdir().unwrap();
        let stream = dir.path().join("stream.jsonl");
        write_stream(&stream, certs);
        std::fs::write(dir.path().join("list.json"), TEST_LIST).unwrap();
        let expected = expected_keys(dir.path(), &stream);
        let receiver = Receiver::start().await;
        let broker = Broker::start(&dir.path().join("nats"), 0);
        let url = broker.url();
        let replay = format!(
            "[source]\nkind = \"replay\"\npath = \"{}\"\nreplay_rate = {rate}",
            stream.display()
        );
        let reader = Node::new(
            &dir.path().join("reader"),
            &url,
            r#"["ct-reader"]"#,
            &replay,
            "shards = 2\n",
        );
        Shards {
            expected,
            receiver,
            broker,
            url,
            reader,
            dir,
        }
    }

    /// A matcher (with delivery and api) of shard `i`, in `name`'s folder.
    fn matcher(&self, name: &str, i: u16) -> Node {
        // [bus] keys first (the node's [bus] table is open), then the sink
        let sinks = format!(
            "shards = 2\nshard = {i}\n[[sinks]]\nname = \"hook\"\nurl = \"{}/hook\"\n",
            self.receiver.base
        );
        Node::new(
            &self.dir.path().join(name),
            &self.url,
            r#"["matcher", "delivery", "api"]"#,
            "[source]\nkind = \"none\"",
            &sinks,
        )
    }
}

/// Brand shards (`bus.shards = 2`): every certificate reaches a matcher of
/// each shard, each matches only its shard's brands (paypal.com is shard
/// 1, microsoft.com and apple.com shard 0), and every incident is
/// delivered, though shard 0's matcher is SIGKILLed mid-stream and
/// another takes its place; both shards' consumers end with nothing
/// pending.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brand_shards_each_match_their_brands_and_together_miss_nothing() {
    let mut c = Shards::start(3_000, 1_500).await;
    assert!(c.expected.len() > 50, "{}", c.expected.len());
    let mut zero = c.matcher("zero", 0);
    let mut one = c.matcher("one", 1);
    zero.start();
    one.start();
    c.reader.start();
    tokio::time::sleep(Duration::from_millis(1000)).await;
    zero.sigkill();
    let mut zero_again = c.matcher("zero2", 0);
    zero_again.start();

    wait_all_delivered(&c.receiver, &c.expected).await;
    report("brand shards", &c.expected, &c.receiver);
    assert!(
        tally(&c.receiver).keys().all(|k| c.expected.contains(k)),
        "unexpected incidents"
    );
    let b1 = brands_recorded(&one).await;
    let b0 = brands_recorded(&zero_again).await;
    assert_eq!(b1.iter().collect::<Vec<_>>(), ["paypal.com"], "{b1:?}");
    assert!(!b0.is_empty() && !b0.contains("paypal.com"), "{b0:?}");
    // shard 0 knows paypal.com as a brand's own domain, and matches
    // nothing of it
    let verdict: serde_json::Value = reqwest::Client::new()
        .post(format!("http://{}/v1/match", zero_again.api))
        .json(&serde_json::json!({"names": ["www.paypal.com", "paypa1.com"]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(verdict["results"][0]["own_domain"], true, "{verdict}");
    assert_eq!(verdict["results"][1]["incident"], false, "{verdict}");
    for consumer in ["matchers-0-of-2", "matchers-1-of-2"] {
        drained(&c.url, "CERTS", consumer, Duration::from_secs(60)).await;
    }
    for node in [&mut c.reader, &mut one, &mut zero_again] {
        node.sigkill();
    }
}

/// A broker that crashes loses nothing a shard has still to read: shard 1
/// reads every certificate while shard 0's matcher is away, the broker is
/// SIGKILLed and restarted, and shard 0's matcher then finds all of them
/// and raises its incidents. nats-server 2.9.10 fails this: on recovery
/// it drops, from an interest-retention stream, what one consumer had
/// acknowledged though another had not read it (README, "Brand shards").
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_broker_crash_loses_nothing_a_shard_has_still_to_read() {
    let mut c = Shards::start(600, 3_000).await;
    assert!(c.expected.len() > 10, "{}", c.expected.len());
    let mut one = c.matcher("one", 1);
    one.start();
    c.reader.start();
    // shard 1 has read and acknowledged everything; shard 0 nothing
    let url = c.url.clone();
    eventually(Duration::from_secs(60), "the replay in the stream", || {
        let url = url.clone();
        async move {
            matches!(backlog(&url, "CERTS", "matchers-0-of-2").await, Some((n, _)) if n >= 600)
        }
    })
    .await;
    drained(&url, "CERTS", "matchers-1-of-2", Duration::from_secs(60)).await;
    // long enough for the broker to have written shard 1's acknowledgements
    tokio::time::sleep(Duration::from_secs(3)).await;
    c.broker.sigkill_and_restart();

    let mut zero = c.matcher("zero", 0);
    zero.start();
    wait_all_delivered(&c.receiver, &c.expected).await;
    report("broker crash, shard 0 away", &c.expected, &c.receiver);
    drained(&url, "CERTS", "matchers-0-of-2", Duration::from_secs(60)).await;
    for node in [&mut c.reader, &mut one, &mut zero] {
        node.sigkill();
    }
}

/// `certsentry_enricher_runs_total{enricher="dns",status="ok"}` of `node`.
async fn dns_runs(node: &Node) -> u64 {
    let Ok(r) = reqwest::get(format!("http://{}/metrics", node.api)).await else {
        return 0;
    };
    let text = r.text().await.unwrap_or_default();
    text.lines()
        .find(|l| l.starts_with(r#"certsentry_enricher_runs_total{enricher="dns",status="ok"}"#))
        .and_then(|l| l.rsplit(' ').next()?.parse().ok())
        .unwrap_or(0)
}

/// The enricher pool as processes of its own: a matcher without the
/// `enricher` role keeps its checks' schedule and sends each check to the
/// enricher processes. With none up, the check waits (nothing is
/// enriched, nothing lost); once one starts, it answers, and the matcher
/// saves the result and sends the update. The DNS lookups ran in the
/// enricher process, not in the matcher.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_matcher_s_checks_run_in_an_enricher_process_of_its_own() {
    let dir = tempfile::tempdir().unwrap();
    let stream = dir.path().join("stream.jsonl");
    std::fs::write(
        &stream,
        cert_for(&["paypa1.com"], "remote-enrich").to_string() + "\n",
    )
    .unwrap();
    let dns = FakeDns::start(vec![Rr::A(
        "paypa1.com",
        std::net::Ipv4Addr::new(203, 0, 113, 7),
    )])
    .await;
    let hook = Receiver::start().await;
    let broker = Broker::start(&dir.path().join("nats"), 0);
    let url = broker.url();
    let enrichment = format!(
        "[enrichment]\nenabled = true\npoll_interval = \"50ms\"\n\
         [enrichment.dns]\nservers = [\"{}\"]\n[enrichment.http]\nenabled = false\n\
         [enrichment.rdap]\nenabled = false\n",
        dns.addr
    );
    let source = format!(
        "[source]\nkind = \"replay\"\npath = \"{}\"",
        stream.display()
    );
    let sinks = format!(
        "[[sinks]]\nname = \"hook\"\nurl = \"{}/hook\"\n\n{enrichment}",
        hook.base
    );
    let mut m = Node::new(
        &dir.path().join("m"),
        &url,
        r#"["ct-reader", "matcher", "api", "delivery"]"#,
        &source,
        &sinks,
    );
    m.start();
    let first = hook.wait_delivered("/hook", 1).await;
    let id = first[0].body["id"].as_str().unwrap().to_owned();
    let enrichment_of = || {
        let (api, id) = (m.api, id.clone());
        async move {
            let one: serde_json::Value = reqwest::get(format!("http://{api}/v1/incidents/{id}"))
                .await
                .ok()?
                .json()
                .await
                .ok()?;
            Some(one["enrichment"].clone())
        }
    };
    // no enricher process: the check waits
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let before = enrichment_of().await.unwrap();
    assert!(before.get("dns").is_none(), "{before}");

    let none = "[source]\nkind = \"none\"";
    let mut w = Node::new(
        &dir.path().join("w"),
        &url,
        r#"["enricher"]"#,
        none,
        &enrichment,
    );
    w.start();
    eventually(
        Duration::from_secs(30),
        "the check answered and saved",
        || async {
            enrichment_of().await.is_some_and(|e| {
                e["dns"]["status"] == "ok" && e["dns"].to_string().contains("203.0.113.7")
            })
        },
    )
    .await;
    let update = hook.wait_delivered("/hook", 2).await;
    assert!(
        !update[1].body["enrichment_update"].is_null(),
        "{}",
        update[1].body
    );
    assert_eq!(update[1].body["update_of"], first[0].body["id"]);
    assert!(
        dns_runs(&w).await >= 1,
        "the lookups ran in the enricher process"
    );
    assert_eq!(dns_runs(&m).await, 0, "and not in the matcher");
    for node in [&mut m, &mut w] {
        node.sigkill();
    }
}
