//! The certstream-compatible server: the three endpoints and their
//! `example.json`, a slow client dropped without holding anyone up, and the
//! real `certstream` Python client (PyPI) reading certsentry's `/full-stream`.

use crate::helpers::*;
use futures_util::StreamExt;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

async fn replay_app(
    stream: &std::path::Path,
    rate: u32,
    buffer: usize,
    ping: Duration,
) -> (TestApp, Receiver) {
    let receiver = Receiver::start().await;
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut s = test_settings(dir.path(), "ws://127.0.0.1:9/unused", &receiver);
    s.source.kind = certsentry::SourceKind::Replay;
    s.source.path = stream.to_owned();
    s.source.replay_rate = rate;
    s.certstream_server.enabled = true;
    s.certstream_server.listen = "127.0.0.1:0".parse().unwrap();
    s.certstream_server.ping_interval = ping;
    s.certstream_server.client_buffer = buffer;
    (spawn_app_with(s, dir).await, receiver)
}

/// Collects text messages and counts pings.
struct Client {
    texts: Arc<Mutex<Vec<Value>>>,
    pings: Arc<Mutex<usize>>,
}

async fn connect(port: u16, path: &str) -> Client {
    let (ws, _) = tokio_tungstenite::connect_async(format!("ws://127.0.0.1:{port}{path}"))
        .await
        .unwrap();
    let texts = Arc::new(Mutex::new(Vec::new()));
    let pings = Arc::new(Mutex::new(0));
    let (t, p) = (texts.clone(), pings.clone());
    tokio::spawn(async move {
        let (_write, mut read) = ws.split();
        while let Some(Ok(msg)) = read.next().await {
            match msg {
                tokio_tungstenite::tungstenite::Message::Text(s) => {
                    t.lock().unwrap().push(serde_json::from_str(&s).unwrap())
                }
                tokio_tungstenite::tungstenite::Message::Ping(_) => *p.lock().unwrap() += 1,
                _ => {}
            }
        }
    });
    Client { texts, pings }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_three_endpoints_serve_certstream_messages() {
    let dir = tempfile::tempdir().unwrap();
    let stream = dir.path().join("s.jsonl");
    // the demo stream: real certificates, a dns_entries batch, heartbeats, a bad line
    std::fs::copy(
        concat!(env!("CARGO_MANIFEST_DIR"), "/demo/stream.jsonl"),
        &stream,
    )
    .unwrap();
    let (app, _r) = replay_app(&stream, 20, 1000, Duration::from_millis(200)).await;
    let port = app.stream_port.unwrap();
    let full = connect(port, "/full-stream").await;
    let lite = connect(port, "/").await;
    let names = connect(port, "/domains-only").await;
    let source: Vec<Value> = std::fs::read_to_string(&stream)
        .unwrap()
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l).ok())
        .filter(|v| v["message_type"] == "certificate_update")
        .collect();
    let f = full.texts.clone();
    eventually(
        Duration::from_secs(20),
        "the replay on /full-stream",
        || {
            let f = f.clone();
            async move { f.lock().unwrap().len() >= 20 }
        },
    )
    .await;
    let got = full.texts.lock().unwrap().clone();
    for m in &got {
        assert_eq!(m["message_type"], "certificate_update", "{m}");
        let leaf = &m["data"]["leaf_cert"];
        let original = source
            .iter()
            .find(|s| s["data"]["leaf_cert"]["sha256"] == leaf["sha256"])
            .expect("a certificate of the replay");
        let o = &original["data"]["leaf_cert"];
        for key in [
            "subject",
            "issuer",
            "serial_number",
            "not_before",
            "not_after",
            "fingerprint",
            "sha1",
            "sha256",
            "all_domains",
            "extensions",
            "signature_algorithm",
        ] {
            assert_eq!(leaf[key], o[key], "{key}");
        }
        // relayed as they came: the DER and the issuers too
        assert_eq!(leaf.get("as_der"), o.get("as_der"));
        assert_eq!(m["data"]["chain"], original["data"]["chain"]);
        assert_eq!(m["data"]["cert_index"], original["data"]["cert_index"]);
        assert_eq!(
            m["data"]["source"]["name"],
            original["data"]["source"]["name"]
        );
    }
    let lite_got = lite.texts.lock().unwrap().clone();
    assert!(!lite_got.is_empty());
    assert!(lite_got.iter().all(
        |m| m["data"]["leaf_cert"].get("as_der").is_none() && m["data"].get("chain").is_none()
    ));
    // every certificate the lite client got reaches /domains-only too (the
    // three clients read at their own pace)
    let n = names.texts.clone();
    let want = lite_got.len();
    eventually(Duration::from_secs(10), "/domains-only catching up", || {
        let n = n.clone();
        async move { n.lock().unwrap().len() >= want }
    })
    .await;
    let names_got = names.texts.lock().unwrap().clone();
    assert!(names_got.iter().all(|m| m["message_type"] == "dns_entries"));

    // <path>/example.json: the latest message in that format
    for (path, kind) in [
        ("/example.json", "certificate_update"),
        ("/full-stream/example.json", "certificate_update"),
        ("/domains-only/example.json", "dns_entries"),
    ] {
        let v: Value = reqwest::get(format!("http://127.0.0.1:{port}{path}"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        assert_eq!(v["message_type"], kind, "{path}");
    }
    let plain = reqwest::get(format!("http://127.0.0.1:{port}/full-stream"))
        .await
        .unwrap();
    assert_eq!(plain.status(), 426, "a plain GET is told to upgrade");
    assert!(
        *full.pings.lock().unwrap() >= 1,
        "pings every ping_interval"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_client_is_dropped_and_others_get_everything() {
    let dir = tempfile::tempdir().unwrap();
    let stream = dir.path().join("big.jsonl");
    crate::faults::write_stream(&stream, 10_000);
    // a buffer the reading client never exhausts, even on a loaded machine;
    // the stalled one is dropped when its socket stays full for a ping interval
    let (app, _r) = replay_app(&stream, 2000, 20_000, Duration::from_secs(1)).await;
    let port = app.stream_port.unwrap();
    // a client that never reads, with a tiny receive window
    let sock = tokio::net::TcpSocket::new_v4().unwrap();
    sock.set_recv_buffer_size(4096).unwrap();
    let tcp = sock
        .connect(format!("127.0.0.1:{port}").parse().unwrap())
        .await
        .unwrap();
    let (_stalled, _) =
        tokio_tungstenite::client_async(format!("ws://127.0.0.1:{port}/full-stream"), tcp)
            .await
            .unwrap();
    let good = connect(port, "/").await;
    let t = good.texts.clone();
    eventually(Duration::from_secs(60), "the end of the replay", || {
        let t = t.clone();
        async move {
            t.lock()
                .unwrap()
                .last()
                .is_some_and(|m| m["data"]["cert_index"] == 9_999)
        }
    })
    .await;
    // everything from when it connected (the replay starts with the service)
    let indexes: Vec<u64> = good
        .texts
        .lock()
        .unwrap()
        .iter()
        .map(|m| m["data"]["cert_index"].as_u64().unwrap())
        .collect();
    let first = indexes[0];
    assert_eq!(
        indexes,
        (first..10_000).collect::<Vec<_>>(),
        "no gap, no repeat"
    );
    assert!(indexes.len() >= 9_000, "{}", indexes.len());
    assert_eq!(
        app.metric("certsentry_stream_clients_dropped_total").await,
        1
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_certstream_client_reads_certsentry() {
    let probe = std::process::Command::new("python3")
        .args(["-c", "import certstream"])
        .output();
    if !matches!(&probe, Ok(o) if o.status.success()) {
        assert!(
            std::env::var_os("CI").is_none(),
            "CI installs the certstream Python client (pip install certstream)"
        );
        eprintln!(
            "SKIPPED: the certstream Python client is not installed (pip install certstream)"
        );
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let stream = dir.path().join("s.jsonl");
    crate::faults::write_stream(&stream, 3_000);
    let (app, _r) = replay_app(&stream, 100, 1000, Duration::from_secs(1)).await;
    let port = app.stream_port.unwrap();
    let script = r#"
import json, os, sys, threading
import certstream
url, want = sys.argv[1], int(sys.argv[2])
got = []
def on_message(message, context):
    if message["message_type"] == "certificate_update":
        d = message["data"]
        got.append({"index": d["cert_index"], "domains": d["leaf_cert"]["all_domains"],
                    "sha256": d["leaf_cert"]["sha256"], "source": d["source"]["url"]})
        if len(got) >= want:
            print(json.dumps(got), flush=True)
            os._exit(0)
threading.Timer(60, lambda: os._exit(3)).start()
certstream.listen_for_events(on_message, url=url, setup_logger=False)
"#;
    let out = tokio::process::Command::new("python3")
        .arg("-c")
        .arg(script)
        .arg(format!("ws://127.0.0.1:{port}/full-stream"))
        .arg("25")
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "python: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let got: Vec<Value> = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(got.len(), 25);
    let lines: Vec<Value> = std::fs::read_to_string(&stream)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut last = None;
    for g in &got {
        let i = g["index"].as_u64().unwrap();
        let original = &lines[i as usize]["data"];
        assert_eq!(g["domains"], original["leaf_cert"]["all_domains"]);
        assert_eq!(g["sha256"], original["leaf_cert"]["sha256"]);
        if let Some(prev) = last {
            assert_eq!(i, prev + 1, "in order, none missing");
        }
        last = Some(i);
    }
    app.stop().await;
}
