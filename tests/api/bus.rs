//! `[bus]` over a real nats-server (issue #19), started here on a random
//! port of 127.0.0.1 (`.ci/run` installs Debian's `nats-server`): a
//! ct-reader process replaying a stream into the bus, two matcher
//! processes sharing its consumer and delivering into a local receiver.
//! A matcher, the reader and the broker are each SIGKILLed mid-stream and
//! started again; every incident still arrives, and the shared consumer
//! ends with nothing pending.

use crate::faults::{expected_keys, free_addr, report, tally, wait_all_delivered, write_stream};
use crate::helpers::*;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// A nats-server with JetStream, its store in `dir`, on `port` (0: any).
struct Broker {
    dir: PathBuf,
    child: Child,
    port: u16,
}

impl Broker {
    fn start(dir: &Path, port: u16) -> Broker {
        let ports = dir.join("ports");
        std::fs::create_dir_all(&ports).unwrap();
        for old in std::fs::read_dir(&ports).unwrap() {
            std::fs::remove_file(old.unwrap().path()).unwrap();
        }
        let port_arg = if port == 0 {
            "-1".to_owned()
        } else {
            port.to_string()
        };
        let child = Command::new("nats-server")
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &port_arg,
                "--ports_file_dir",
            ])
            .arg(&ports)
            .arg("-sd")
            .arg(dir.join("store"))
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("nats-server is not installed (apt-get install nats-server)");
        // the server writes its ports to <dir>/nats-server_<pid>.ports
        let deadline = std::time::Instant::now() + Duration::from_secs(20);
        let port = loop {
            let found = std::fs::read_dir(&ports)
                .unwrap()
                .filter_map(|e| std::fs::read_to_string(e.ok()?.path()).ok())
                .find_map(|text| {
                    let v: serde_json::Value = serde_json::from_str(&text).ok()?;
                    let url = v["nats"][0].as_str()?.to_owned();
                    url.rsplit(':').next()?.parse::<u16>().ok()
                });
            if let Some(p) = found {
                break p;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "nats-server wrote no ports file"
            );
            std::thread::sleep(Duration::from_millis(20));
        };
        Broker {
            dir: dir.to_owned(),
            child,
            port,
        }
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }

    fn sigkill_and_restart(&mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
        *self = Broker::start(&self.dir.clone(), self.port);
    }
}

impl Drop for Broker {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One certsentry process with `roles`, its own store and API.
struct Node {
    dir: PathBuf,
    config: PathBuf,
    child: Option<Child>,
}

impl Node {
    fn new(dir: &Path, url: &str, roles: &str, source: &str, sinks: &str) -> Node {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join("list.json"), TEST_LIST).unwrap();
        let config = dir.join("certsentry.toml");
        std::fs::write(
            &config,
            format!(
                r#"
[api]
listen = "{api}"
{source}
[watchlist]
path = "{list}"
[store]
path = "{db}"
[delivery]
initial_backoff = "50ms"
max_backoff = "400ms"
poll_interval = "50ms"
[bus]
url = "{url}"
roles = {roles}
ack_wait = "2s"
{sinks}
"#,
                api = free_addr(),
                list = dir.join("list.json").display(),
                db = dir.join("certsentry.db").display(),
            ),
        )
        .unwrap();
        Node {
            dir: dir.to_owned(),
            config,
            child: None,
        }
    }

    fn start(&mut self) {
        let child = Command::new(env!("CARGO_BIN_EXE_certsentry"))
            .args(["serve", "--config"])
            .arg(&self.config)
            .current_dir(&self.dir)
            .env("RUST_LOG", "warn")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
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

/// The shared consumer's `num_pending` and `num_ack_pending`.
async fn consumer_backlog(url: &str) -> Option<(u64, usize)> {
    let client = async_nats::connect(url).await.ok()?;
    let js = async_nats::jetstream::new(client);
    let stream = js.get_stream("CERTS").await.ok()?;
    let mut consumer: async_nats::jetstream::consumer::PullConsumer =
        stream.get_consumer("matchers").await.ok()?;
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

    eventually(
        Duration::from_secs(30),
        "the shared consumer has nothing pending",
        || {
            let url = url.clone();
            async move { consumer_backlog(&url).await == Some((0, 0)) }
        },
    )
    .await;
    for node in [&mut reader, &mut b, &mut c] {
        node.sigkill();
    }
}
