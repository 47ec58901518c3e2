//! Direct CT reading against logs served from 127.0.0.1, built from the 40
//! real entries of `live_ct.json`: an RFC 6962 log (short `get-entries`
//! answers) and a static-ct-api log (checkpoint, data tiles, a partial tile
//! growing into a full one, issuers by fingerprint). What certsentry reads is
//! observed through its certstream-compatible server.

use crate::helpers::*;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use certsentry::config::{CtStart, SourceKind};
use certsentry::ct::leaf::{self, Chain, EntryKind};
use futures_util::StreamExt;
use serde_json::{Value, json};
use sha2::Digest;
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
struct LogsState {
    base: String,
    rfc: Vec<(String, String)>,
    rfc_visible: usize,
    tiled: Vec<Vec<u8>>,
    tiled_visible: usize,
    issuers: HashMap<String, Vec<u8>>,
    /// Answers (status, Retry-After) given to entry/tile requests first.
    script: VecDeque<(u16, Option<&'static str>)>,
    requests: Vec<(Instant, String, u16)>,
    max_batch: usize,
    /// Entry and tile requests answer 503 while closed (so a test can attach
    /// its client before anything is read).
    closed: bool,
    /// The log list leaves the tiled log out (it is added later).
    unlisted_tiled: bool,
    /// Log list requests served.
    list_requests: usize,
    /// The log list answers 503 (an outage of the list's URL).
    list_down: bool,
    /// The logs' key: when set, the list carries it and tree heads are
    /// signed with it.
    signer: Option<Arc<ring::signature::EcdsaKeyPair>>,
    /// Tree heads are signed with another key (a forged head).
    forger: Option<Arc<ring::signature::EcdsaKeyPair>>,
    /// RFC 6962 leaf hashes of the tiled log's entries, from the bytes of
    /// their `TimestampedEntry` (the tile leaf without the pre-certificate
    /// and the chain).
    tiled_leaves: Vec<[u8; 32]>,
    /// Data tiles serve this entry with the next one's bytes (a tampered
    /// tile); the tree and its signed root stay the log's.
    tampered: Option<usize>,
    /// RFC 6962 leaf hashes of the RFC 6962 log's entries.
    rfc_leaves: Vec<[u8; 32]>,
    /// `get-entries` answers this entry with the next one.
    rfc_tampered: Option<usize>,
    /// `get-proof-by-hash` answers 404.
    no_proofs: bool,
}

/// RFC 6962 §2.1.1 PATH(m, D[n]) by its definition, leaf level first.
fn audit_path(m: usize, leaves: &[[u8; 32]]) -> Vec<[u8; 32]> {
    let n = leaves.len();
    if n <= 1 {
        return Vec::new();
    }
    let k = 1 << (usize::BITS - 1 - (n - 1).leading_zeros());
    let (mut p, sibling) = if m < k {
        (audit_path(m, &leaves[..k]), mth(&leaves[k..]))
    } else {
        (audit_path(m - k, &leaves[k..]), mth(&leaves[..k]))
    };
    p.push(sibling);
    p
}

/// RFC 6962 §2.1 by its definition.
fn mth(leaves: &[[u8; 32]]) -> [u8; 32] {
    match leaves.len() {
        0 => sha2::Sha256::digest([]).into(),
        1 => leaves[0],
        n => {
            let k = 1 << (usize::BITS - 1 - (n - 1).leading_zeros());
            let mut h = sha2::Sha256::new();
            h.update([1u8]);
            h.update(mth(&leaves[..k]));
            h.update(mth(&leaves[k..]));
            h.finalize().into()
        }
    }
}

fn p256_key() -> Arc<ring::signature::EcdsaKeyPair> {
    use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
    Arc::new(
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).unwrap(),
    )
}

/// The DER SubjectPublicKeyInfo of a P-256 key.
fn spki(key: &ring::signature::EcdsaKeyPair) -> Vec<u8> {
    use ring::signature::KeyPair;
    let mut der = hex::decode("3059301306072a8648ce3d020106082a8648ce3d030107034200").unwrap();
    der.extend_from_slice(key.public_key().as_ref());
    der
}

/// A tree head of `size` signed by `key`: the TLS DigitallySigned bytes
/// and the timestamp.
fn sign_head(key: &ring::signature::EcdsaKeyPair, size: usize, root: [u8; 32]) -> (Vec<u8>, u64) {
    let head = certsentry::ct::sth::TreeHead {
        tree_size: size as u64,
        timestamp: 1_790_000_000_000 + size as u64,
        root_hash: root,
    };
    let sig = key
        .sign(&ring::rand::SystemRandom::new(), &head.signed_data())
        .unwrap();
    let mut ds = vec![4, 3];
    ds.extend_from_slice(&(sig.as_ref().len() as u16).to_be_bytes());
    ds.extend_from_slice(sig.as_ref());
    (ds, head.timestamp)
}

#[derive(Clone)]
struct FakeLogs {
    base: String,
    state: Arc<Mutex<LogsState>>,
}

/// RFC 6962 entries and their tiled encodings, from the real fixtures; the
/// tiled log repeats them to reach `tiled_len` entries.
fn build_state(tiled_len: usize) -> LogsState {
    let fixtures: Vec<Value> =
        serde_json::from_str(include_str!("../fixtures/live_ct.json")).unwrap();
    let mut s = LogsState {
        max_batch: 7,
        ..LogsState::default()
    };
    let mut decoded = Vec::new();
    for f in &fixtures {
        let li = f["leaf_input"].as_str().unwrap().to_owned();
        let ed = f["extra_data"].as_str().unwrap().to_owned();
        decoded.push((STANDARD.decode(&li).unwrap(), STANDARD.decode(&ed).unwrap()));
        let mut h = sha2::Sha256::new();
        h.update([0u8]);
        h.update(&decoded.last().unwrap().0);
        s.rfc_leaves.push(h.finalize().into());
        s.rfc.push((li, ed));
    }
    for i in 0..tiled_len {
        let (li, ed) = &decoded[i % decoded.len()];
        let e = leaf::parse_rfc6962(li, ed).unwrap();
        let Chain::Der(chain) = &e.chain else {
            unreachable!()
        };
        let mut fps = Vec::new();
        for der in chain {
            let fp: [u8; 32] = sha2::Sha256::digest(der).into();
            s.issuers.insert(hex::encode(fp), der.to_vec());
            fps.push(fp);
        }
        let tbs: &[u8] = if e.kind == EntryKind::Precert {
            b"tbs"
        } else {
            b""
        };
        let tile_leaf =
            leaf::encode_tile_leaf(e.timestamp_ms, e.kind, e.der, [7; 32], tbs, i as u64, &fps);
        let tail = 2
            + 32 * fps.len()
            + if e.kind == EntryKind::Precert {
                3 + e.der.len()
            } else {
                0
            };
        let mut h = sha2::Sha256::new();
        h.update([0u8, 0, 0]);
        h.update(&tile_leaf[..tile_leaf.len() - tail]);
        s.tiled_leaves.push(h.finalize().into());
        s.tiled.push(tile_leaf);
    }
    s
}

fn tile_number(groups: &str) -> Option<usize> {
    groups.replace(['x', '/'], "").parse().ok()
}

async fn serve_log(
    axum::extract::State(st): axum::extract::State<Arc<Mutex<LogsState>>>,
    uri: axum::http::Uri,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    let path = uri.path().to_owned();
    let query = uri.query().unwrap_or("").to_owned();
    let mut s = st.lock().unwrap();
    let entry_request = path.contains("get-entries") || path.contains("/tile/");
    if entry_request && s.closed {
        s.requests.push((Instant::now(), path.clone(), 503));
        return (axum::http::StatusCode::SERVICE_UNAVAILABLE, "closed").into_response();
    }
    if entry_request && let Some((status, after)) = s.script.pop_front() {
        s.requests.push((Instant::now(), path.clone(), status));
        let mut resp = (axum::http::StatusCode::from_u16(status).unwrap(), "busy").into_response();
        if let Some(a) = after {
            resp.headers_mut().insert("retry-after", a.parse().unwrap());
        }
        return resp;
    }
    let base = s.base.clone();
    let (status, body): (u16, Vec<u8>) = if path == "/loglist.json" && s.list_down {
        s.list_requests += 1;
        (503, b"down".to_vec())
    } else if path == "/loglist.json" {
        s.list_requests += 1;
        let (key, log_id) = match &s.signer {
            Some(k) => {
                let der = spki(k);
                (
                    STANDARD.encode(&der),
                    STANDARD.encode(sha2::Sha256::digest(&der)),
                )
            }
            None => (String::new(), String::new()),
        };
        let mut tiled = vec![
            json!({"description": "Test 'Retired'", "log_id": "cmV0", "key": "",
                      "monitoring_url": format!("{base}/retired/"),
                      "mmd": 86400, "state": {"retired": {"timestamp": "2025-01-01T00:00:00Z"}}}),
        ];
        if !s.unlisted_tiled {
            tiled.push(json!({"description": "Test 'Tiled'", "log_id": log_id, "key": key,
                      "submission_url": format!("{base}/tiled/"), "monitoring_url": format!("{base}/tiled/"),
                      "mmd": 86400, "state": {"usable": {"timestamp": "2025-01-01T00:00:00Z"}}}));
        }
        let list = json!({"operators": [{"name": "Test Operator", "email": [],
            "logs": [{"description": "Test 'Rfc'", "log_id": log_id, "key": key, "url": format!("{base}/rfc/"),
                      "mmd": 86400, "state": {"usable": {"timestamp": "2025-01-01T00:00:00Z"}}}],
            "tiled_logs": tiled}]});
        (200, list.to_string().into_bytes())
    } else if path == "/rfc/ct/v1/get-sth" {
        let root = mth(&s.rfc_leaves[..s.rfc_visible]);
        let (signature, timestamp) = match s.forger.as_ref().or(s.signer.as_ref()) {
            Some(k) => sign_head(k, s.rfc_visible, root),
            None => (Vec::new(), 0),
        };
        let sth = json!({"tree_size": s.rfc_visible, "timestamp": timestamp,
            "sha256_root_hash": STANDARD.encode(root), "tree_head_signature": STANDARD.encode(signature)});
        (200, sth.to_string().into_bytes())
    } else if path == "/rfc/ct/v1/get-entries" {
        let params: HashMap<String, usize> = query
            .split('&')
            .filter_map(|kv| kv.split_once('='))
            .filter_map(|(k, v)| Some((k.to_owned(), v.parse().ok()?)))
            .collect();
        let (start, end) = (params["start"], params["end"]);
        if start >= s.rfc_visible || end < start {
            (400, b"bad range".to_vec())
        } else {
            let last = end.min(s.rfc_visible - 1).min(start + s.max_batch - 1);
            let entries: Vec<Value> = (start..=last)
                .map(|i| {
                    let (l, e) = &s.rfc[if s.rfc_tampered == Some(i) { i + 1 } else { i }];
                    json!({"leaf_input": l, "extra_data": e})
                })
                .collect();
            (200, json!({"entries": entries}).to_string().into_bytes())
        }
    } else if path == "/rfc/ct/v1/get-proof-by-hash" && s.no_proofs {
        (404, b"not found".to_vec())
    } else if path == "/rfc/ct/v1/get-proof-by-hash" {
        let param = |name: &str| {
            query
                .split('&')
                .find_map(|kv| kv.strip_prefix(name)?.strip_prefix('='))
                .map(|v| {
                    v.replace("%2B", "+")
                        .replace("%2F", "/")
                        .replace("%3D", "=")
                })
        };
        let hash = param("hash").and_then(|h| STANDARD.decode(h).ok());
        let size = param("tree_size").and_then(|n| n.parse::<usize>().ok());
        match (hash, size) {
            (Some(hash), Some(size)) if size <= s.rfc_visible => {
                match s.rfc_leaves[..size].iter().position(|l| l[..] == hash[..]) {
                    Some(i) => {
                        let path: Vec<String> = audit_path(i, &s.rfc_leaves[..size])
                            .iter()
                            .map(|h| STANDARD.encode(h))
                            .collect();
                        let proof = json!({"leaf_index": i, "audit_path": path});
                        (200, proof.to_string().into_bytes())
                    }
                    None => (404, b"no such leaf".to_vec()),
                }
            }
            _ => (400, b"bad request".to_vec()),
        }
    } else if path == "/tiled/checkpoint" {
        let root = mth(&s.tiled_leaves[..s.tiled_visible]);
        let origin = "example.test/tiled";
        let line = match s.forger.as_ref().or(s.signer.as_ref()) {
            Some(k) => {
                let (ds, timestamp) = sign_head(k, s.tiled_visible, root);
                let der = spki(k);
                let id = certsentry::ct::sth::LogKey::from_spki(&der)
                    .unwrap()
                    .note_key_id(origin);
                let body = [&id[..], &timestamp.to_be_bytes(), &ds].concat();
                format!("— {origin} {}\n", STANDARD.encode(body))
            }
            None => "— example.test sig\n".to_owned(),
        };
        let cp = format!(
            "{origin}\n{}\n{}\n\n{line}",
            s.tiled_visible,
            STANDARD.encode(root)
        );
        (200, cp.into_bytes())
    } else if let Some((level, rest)) = path
        .strip_prefix("/tiled/tile/")
        .and_then(|p| p.split_once('/'))
        .and_then(|(l, rest)| Some((l.parse::<u32>().ok()?, rest)))
    {
        // hash tile: entry i of tile n at level l is the MTH of leaves
        // [(n·256 + i)·256^l, (n·256 + i + 1)·256^l)
        let (groups, width) = match rest.split_once(".p/") {
            Some((g, w)) => (g, w.parse::<usize>().ok()),
            None => (rest, Some(256)),
        };
        let span = 256usize.pow(level);
        match (tile_number(groups), width) {
            (Some(n), Some(w))
                if (1..=256).contains(&w) && (n * 256 + w) * span <= s.tiled_visible =>
            {
                let body: Vec<u8> = (n * 256..n * 256 + w)
                    .flat_map(|i| mth(&s.tiled_leaves[i * span..(i + 1) * span]))
                    .collect();
                (200, body)
            }
            _ => (404, b"no such tile".to_vec()),
        }
    } else if let Some(rest) = path.strip_prefix("/tiled/tile/data/") {
        let (groups, width) = match rest.split_once(".p/") {
            Some((g, w)) => (g, w.parse::<usize>().ok()),
            None => (rest, None),
        };
        match tile_number(groups) {
            Some(n) => {
                let start = n * 256;
                let width_ok = match width {
                    None => start + 256 <= s.tiled_visible,
                    Some(w) => (1..256).contains(&w) && start + w <= s.tiled_visible,
                };
                if width_ok {
                    let w = width.unwrap_or(256);
                    let mut tile = s.tiled[start..start + w].to_vec();
                    if let Some(t) = s.tampered.filter(|t| (start..start + w - 1).contains(t)) {
                        tile[t - start] = s.tiled[t + 1].clone();
                    }
                    (200, tile.concat())
                } else {
                    (404, b"no such tile".to_vec())
                }
            }
            None => (404, b"bad tile path".to_vec()),
        }
    } else if let Some(fp) = path.strip_prefix("/tiled/issuer/") {
        match s.issuers.get(fp) {
            Some(der) => (200, der.clone()),
            None => (404, b"no such issuer".to_vec()),
        }
    } else {
        (404, b"not found".to_vec())
    };
    s.requests
        .push((Instant::now(), format!("{path}?{query}"), status));
    (axum::http::StatusCode::from_u16(status).unwrap(), body).into_response()
}

impl FakeLogs {
    async fn start(tiled_len: usize) -> FakeLogs {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let state = Arc::new(Mutex::new(LogsState {
            base: base.clone(),
            ..build_state(tiled_len)
        }));
        let app = axum::Router::new()
            .fallback(serve_log)
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        FakeLogs { base, state }
    }

    fn grow(&self, rfc: usize, tiled: usize) {
        let mut s = self.state.lock().unwrap();
        s.rfc_visible = rfc;
        s.tiled_visible = tiled;
    }

    /// Both logs rewrite their history: entries 5 and 6 change places.
    fn fork(&self) {
        let mut s = self.state.lock().unwrap();
        s.rfc.swap(5, 6);
        s.rfc_leaves.swap(5, 6);
        s.tiled.swap(5, 6);
        s.tiled_leaves.swap(5, 6);
    }

    fn requests(&self) -> Vec<(Instant, String, u16)> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Wait until the requests served (path?query, status) satisfy `check`.
    async fn wait_for_requests(&self, what: &str, check: impl Fn(&[(String, u16)]) -> bool) {
        eventually(Duration::from_secs(10), what, || {
            let served: Vec<(String, u16)> =
                self.requests().into_iter().map(|r| (r.1, r.2)).collect();
            let done = check(&served);
            async move { done }
        })
        .await;
    }
}

/// A websocket client of certsentry's `/full-stream`, collecting messages.
struct StreamClient {
    got: Arc<Mutex<Vec<Value>>>,
}

impl StreamClient {
    async fn connect(port: u16, path: &str) -> StreamClient {
        let url = format!("ws://127.0.0.1:{port}{path}");
        let (ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        let got = Arc::new(Mutex::new(Vec::new()));
        let g = got.clone();
        tokio::spawn(async move {
            let (_, mut read) = ws.split();
            while let Some(Ok(msg)) = read.next().await {
                if let tokio_tungstenite::tungstenite::Message::Text(t) = msg {
                    g.lock().unwrap().push(serde_json::from_str(&t).unwrap());
                }
            }
        });
        StreamClient { got }
    }

    /// (log url, index) of every certificate message so far.
    fn seen(&self) -> Vec<(String, u64)> {
        self.got
            .lock()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["data"]["source"]["url"].as_str().unwrap().to_owned(),
                    m["data"]["cert_index"].as_u64().unwrap(),
                )
            })
            .collect()
    }

    async fn wait_for(&self, n: usize) -> Vec<(String, u64)> {
        let got = self.got.clone();
        eventually(
            Duration::from_secs(30),
            &format!("{n} stream messages"),
            || {
                let got = got.clone();
                async move { got.lock().unwrap().len() >= n }
            },
        )
        .await;
        self.seen()
    }
}

fn ct_settings(
    dir: &std::path::Path,
    logs: &FakeLogs,
    receiver: &Receiver,
) -> certsentry::config::Settings {
    let mut s = test_settings(dir, "ws://127.0.0.1:9/unused", receiver);
    s.source.kind = SourceKind::Ct;
    s.ct.log_list_url = format!("{}/loglist.json", logs.base);
    s.ct.start = CtStart::Beginning;
    s.ct.poll_interval = Duration::from_millis(100);
    s.ct.backoff_initial = Duration::from_millis(50);
    s.ct.backoff_max = Duration::from_secs(3);
    s.ct.batch_size = 10;
    s.certstream_server.enabled = true;
    s.certstream_server.listen = "127.0.0.1:0".parse().unwrap();
    s
}

/// certsentry reading `logs` into a fresh data directory (`tune` adjusts
/// the settings), and a client of its `/full-stream`.
async fn follow_logs(
    logs: &FakeLogs,
    receiver: &Receiver,
    tune: impl FnOnce(&mut certsentry::config::Settings),
) -> (TestApp, StreamClient) {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut settings = ct_settings(dir.path(), logs, receiver);
    tune(&mut settings);
    let app = spawn_app_with(settings, dir).await;
    let client = StreamClient::connect(app.stream_port.unwrap(), "/full-stream").await;
    (app, client)
}

fn expect(
    logs: &FakeLogs,
    rfc: std::ops::Range<u64>,
    tiled: std::ops::Range<u64>,
) -> BTreeSet<(String, u64)> {
    rfc.map(|i| (format!("{}/rfc/", logs.base), i))
        .chain(tiled.map(|i| (format!("{}/tiled/", logs.base), i)))
        .collect()
}

fn as_set(seen: &[(String, u64)]) -> BTreeSet<(String, u64)> {
    let set: BTreeSet<_> = seen.iter().cloned().collect();
    assert_eq!(set.len(), seen.len(), "an entry was emitted twice");
    set
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc6962_and_tiled_logs_are_read_once_and_resumed_without_gaps() {
    let logs = FakeLogs::start(300).await;
    let receiver = Receiver::start().await;
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut settings = ct_settings(dir.path(), &logs, &receiver);
    // slow enough to be stopped in the middle of the RFC 6962 log
    settings.ct.request_interval = Duration::from_millis(200);
    let app = spawn_app_with(settings.clone(), dir.clone()).await;
    let client = StreamClient::connect(app.stream_port.unwrap(), "/full-stream").await;
    logs.grow(0, 100); // tiled: one partial tile 000.p/100
    client.wait_for(100).await;
    logs.grow(40, 100);

    // part of the RFC 6962 log (two of its short batches), then stop
    loop {
        let rfc = client
            .seen()
            .iter()
            .filter(|(u, _)| u.ends_with("/rfc/"))
            .count();
        if rfc >= 14 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    app.stop().await;
    let first_set = as_set(&client.seen());
    let rfc_done = first_set
        .iter()
        .filter(|(u, _)| u.ends_with("/rfc/"))
        .count() as u64;
    let tiled_done = first_set.len() as u64 - rfc_done;
    assert!(rfc_done < 40, "stopped mid-log ({rfc_done} of 40)");
    assert_eq!(tiled_done, 100);
    assert_eq!(
        first_set,
        expect(&logs, 0..rfc_done, 0..tiled_done),
        "in order, from the start, nothing skipped"
    );

    // the logs grow while certsentry is down; the partial tile becomes full
    logs.grow(40, 300);
    logs.state.lock().unwrap().closed = true;
    settings.ct.request_interval = Duration::ZERO;
    let app = spawn_app_with(settings, dir.clone()).await;
    let client = StreamClient::connect(app.stream_port.unwrap(), "/full-stream").await;
    logs.state.lock().unwrap().closed = false;
    let want = expect(&logs, rfc_done..40, tiled_done..300);
    client.wait_for(want.len()).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let second = as_set(&client.seen()).into_iter().collect::<Vec<_>>();
    assert_eq!(
        second.iter().cloned().collect::<BTreeSet<_>>(),
        want,
        "exactly the missed entries, each once ({} messages)",
        second.len()
    );

    // tiles: the partial tile first, then the full tile and the new right edge
    let paths: Vec<String> = logs.requests().into_iter().map(|r| r.1).collect();
    let tile = |p: &str| {
        paths
            .iter()
            .position(|x| x.starts_with(&format!("/tiled/tile/data/{p}?")))
    };
    let full = tile("000").expect("full tile read");
    let edge = tile("001.p/44").expect("new partial tile read");
    let partial = tile("000.p/100").expect("partial tile read");
    assert!(partial < full && full < edge, "{paths:?}");
    assert!(
        !paths.iter().any(|p| p.contains("/retired/")),
        "retired logs are not followed"
    );
    let issuer_fetches: Vec<&String> = paths.iter().filter(|p| p.contains("/issuer/")).collect();
    let unique: BTreeSet<&String> = issuer_fetches.iter().copied().collect();
    assert!(
        issuer_fetches.len() <= unique.len() * 2,
        "issuers are cached (once per run)"
    );

    // the messages carry the real certificates
    let msgs = client.got.lock().unwrap().clone();
    let fixtures: Vec<Value> =
        serde_json::from_str(include_str!("../fixtures/live_ct.json")).unwrap();
    for m in &msgs {
        let i = m["data"]["cert_index"].as_u64().unwrap() as usize;
        let expected: Value =
            serde_json::from_str(fixtures[i % 40]["expected_full"].as_str().unwrap()).unwrap();
        assert_eq!(
            m["data"]["leaf_cert"], expected["data"]["leaf_cert"],
            "index {i}"
        );
        assert_eq!(m["data"]["chain"], expected["data"]["chain"]);
        if m["data"]["source"]["url"]
            .as_str()
            .unwrap()
            .ends_with("/tiled/")
        {
            assert_eq!(m["data"]["cert_link"], "");
        } else {
            assert!(
                m["data"]["cert_link"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("start={i}&end={i}"))
            );
        }
    }
    assert_eq!(app.metric("certsentry_ct_bad_entries_total").await, 0);
    let status = app.get_json("/v1/status").await;
    let positions = status["ct_logs"].as_array().unwrap();
    assert_eq!(positions.len(), 2, "{status}");
    for p in positions {
        assert_eq!(p["behind"], 0, "{p}");
    }
    assert_eq!(status["source"]["state"], "following 2 logs");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_answering_429_and_503_is_backed_off_and_caught_up() {
    let logs = FakeLogs::start(0).await;
    let receiver = Receiver::start().await;
    let (app, client) = follow_logs(&logs, &receiver, |_| {}).await;
    logs.state
        .lock()
        .unwrap()
        .script
        .extend([(429, Some("1")), (503, None), (503, None)]);
    logs.grow(40, 0);
    let seen = client.wait_for(40).await;
    assert_eq!(as_set(&seen), expect(&logs, 0..40, 0..0));
    let reqs = logs.requests();
    let refused: Vec<&(Instant, String, u16)> =
        reqs.iter().filter(|r| r.2 == 429 || r.2 == 503).collect();
    assert_eq!(refused.len(), 3);
    let after_429 = reqs
        .iter()
        .find(|r| r.0 > refused[0].0 && r.1.contains("get-entries"))
        .unwrap();
    assert!(
        after_429.0 - refused[0].0 >= Duration::from_millis(950),
        "Retry-After: 1 was honoured"
    );
    assert!(app.metric("certsentry_ct_request_errors_total").await >= 3);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_added_to_the_list_is_followed_after_the_next_refresh() {
    let logs = FakeLogs::start(30).await;
    logs.state.lock().unwrap().unlisted_tiled = true;
    let receiver = Receiver::start().await;
    let (app, client) = follow_logs(&logs, &receiver, |s| {
        s.ct.log_list_refresh = Duration::from_millis(300);
    })
    .await;
    logs.grow(40, 20);
    let first = client.wait_for(40).await;
    assert_eq!(as_set(&first), expect(&logs, 0..40, 0..0));
    // the list is read again while the tiled log is still unlisted: nothing
    // changes, and nothing is read twice
    let reads = logs.state.lock().unwrap().list_requests;
    eventually(Duration::from_secs(10), "a list refresh", || {
        let state = logs.state.clone();
        async move { state.lock().unwrap().list_requests > reads }
    })
    .await;
    assert_eq!(as_set(&client.seen()), expect(&logs, 0..40, 0..0));
    // listed now: followed from the next refresh, from its beginning (ct.start)
    logs.state.lock().unwrap().unlisted_tiled = false;
    let all = client.wait_for(60).await;
    assert_eq!(as_set(&all), expect(&logs, 0..40, 0..20));
    let status = app.get_json("/v1/status").await;
    assert_eq!(status["source"]["state"], "following 2 logs", "{status}");
    // the list's URL goes down: two refreshes later the same two logs are
    // followed (not the bundled snapshot's), and reading goes on
    let reads = {
        let mut s = logs.state.lock().unwrap();
        s.list_down = true;
        s.list_requests
    };
    eventually(Duration::from_secs(10), "two failed list refreshes", || {
        let state = logs.state.clone();
        async move { state.lock().unwrap().list_requests >= reads + 2 }
    })
    .await;
    let status = app.get_json("/v1/status").await;
    assert_eq!(status["source"]["state"], "following 2 logs", "{status}");
    logs.grow(40, 30);
    let more = client.wait_for(70).await;
    assert_eq!(as_set(&more), expect(&logs, 0..40, 0..30));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_that_leaves_the_list_is_read_to_its_end_then_no_longer_followed() {
    let logs = FakeLogs::start(40).await;
    let receiver = Receiver::start().await;
    let (app, client) = follow_logs(&logs, &receiver, |s| {
        s.ct.log_list_refresh = Duration::from_millis(300);
    })
    .await;
    logs.grow(40, 20);
    let first = client.wait_for(60).await;
    assert_eq!(as_set(&first), expect(&logs, 0..40, 0..20));

    // the tiled log takes 10 more entries, which cannot be read yet (entry
    // requests fail), and leaves the list
    {
        let mut s = logs.state.lock().unwrap();
        s.closed = true;
        s.tiled_visible = 30;
        s.unlisted_tiled = true;
    }
    let leaving = "following 1 log, 1 left the selection and being read to their end";
    eventually(Duration::from_secs(10), leaving, || {
        let app = &app;
        async move { app.get_json("/v1/status").await["source"]["state"] == leaving }
    })
    .await;

    // its follower reads what it held, then stops
    logs.state.lock().unwrap().closed = false;
    let drained = client.wait_for(70).await;
    assert_eq!(as_set(&drained), expect(&logs, 0..40, 0..30));
    eventually(Duration::from_secs(10), "following 1 log", || {
        let app = &app;
        async move { app.get_json("/v1/status").await["source"]["state"] == "following 1 log" }
    })
    .await;
    let tiled_requests = || {
        logs.requests()
            .iter()
            .filter(|r| r.1.starts_with("/tiled/"))
            .count()
    };
    let before = tiled_requests();
    let reads = logs.state.lock().unwrap().list_requests;
    logs.grow(40, 40);
    eventually(Duration::from_secs(10), "two list refreshes", || {
        let state = logs.state.clone();
        async move { state.lock().unwrap().list_requests >= reads + 2 }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(tiled_requests(), before, "the retired log is not polled");
    assert_eq!(as_set(&client.seen()), expect(&logs, 0..40, 0..30));

    // listed again: a new follower resumes where the last one stopped
    logs.state.lock().unwrap().unlisted_tiled = false;
    let again = client.wait_for(80).await;
    assert_eq!(as_set(&again), expect(&logs, 0..40, 0..40));
    let status = app.get_json("/v1/status").await;
    assert_eq!(status["source"]["state"], "following 2 logs", "{status}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tree_heads_not_signed_by_the_logs_key_are_not_believed() {
    let logs = FakeLogs::start(40).await;
    logs.state.lock().unwrap().signer = Some(p256_key());
    let receiver = Receiver::start().await;
    let (app, client) = follow_logs(&logs, &receiver, |_| {}).await;
    logs.grow(20, 20);
    let first = client.wait_for(40).await;
    assert_eq!(as_set(&first), expect(&logs, 0..20, 0..20));
    assert_eq!(
        app.metric("certsentry_ct_tree_heads_refused_total").await,
        0
    );

    // both logs now claim 20 more entries under another key's signature
    {
        let mut s = logs.state.lock().unwrap();
        s.forger = Some(p256_key());
        s.rfc_visible = 40;
        s.tiled_visible = 40;
    }
    wait_for_metric(&app, "certsentry_ct_tree_heads_refused_total", 4).await;
    let entry_requests_before = logs
        .requests()
        .iter()
        .filter(|r| r.1.contains("get-entries") || r.1.contains("/tile/"))
        .count();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        as_set(&client.seen()),
        expect(&logs, 0..20, 0..20),
        "nothing is read on a forged head"
    );
    let entry_requests_after = logs
        .requests()
        .iter()
        .filter(|r| r.1.contains("get-entries") || r.1.contains("/tile/"))
        .count();
    assert_eq!(entry_requests_before, entry_requests_after);

    // the log's own signature again: reading goes on where it stopped
    logs.state.lock().unwrap().forger = None;
    let all = client.wait_for(80).await;
    assert_eq!(as_set(&all), expect(&logs, 0..40, 0..40));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_entries_read_are_checked_against_the_signed_root() {
    let logs = FakeLogs::start(600).await;
    logs.state.lock().unwrap().signer = Some(p256_key());
    let receiver = Receiver::start().await;
    let (app, client) = follow_logs(&logs, &receiver, |_| {}).await;
    let mismatches = "certsentry_ct_tree_mismatches_total";
    // from the logs' beginning, across a full data tile
    logs.grow(20, 20);
    client.wait_for(40).await;
    logs.grow(30, 300);
    assert_eq!(
        as_set(&client.wait_for(330).await),
        expect(&logs, 0..30, 0..300)
    );
    wait_for_metric(&app, "certsentry_ct_tree_checks_total", 4).await;
    assert_eq!(app.metric(mismatches).await, 0);
    app.stop().await;

    // another service starting at the logs' ends: the tree up to there
    // comes from the audit path of the entry before (RFC 6962) and from
    // the hash tiles (a level-1 and a level-0 partial tile)
    let (app, client) = follow_logs(&logs, &receiver, |s| {
        s.ct.start = CtStart::End;
    })
    .await;
    logs.wait_for_requests("hash tiles and an audit path read", |served| {
        let asked = |prefix: &str| served.iter().any(|(p, _)| p.starts_with(prefix));
        asked("/tiled/tile/1/000.p/1?")
            && asked("/tiled/tile/0/001.p/44?")
            && asked("/rfc/ct/v1/get-proof-by-hash?hash=")
    })
    .await;
    logs.grow(35, 530);
    assert_eq!(
        as_set(&client.wait_for(235).await),
        expect(&logs, 30..35, 300..530)
    );
    assert_eq!(
        app.metric(mismatches).await,
        0,
        "the logs' own entries make their roots"
    );
    // checked where reading started (right after the frontier was taken
    // from the log) and again at the new sizes
    wait_for_metric(&app, "certsentry_ct_tree_checks_total", 4).await;

    // an entry swapped in each log: read, and raised once per log
    {
        let mut s = logs.state.lock().unwrap();
        s.rfc_tampered = Some(37);
        s.tampered = Some(540);
    }
    logs.grow(40, 600);
    client.wait_for(310).await;
    wait_for_metric(&app, mismatches, 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.metric(mismatches).await, 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_that_cannot_give_its_tree_is_still_read() {
    let logs = FakeLogs::start(0).await;
    {
        let mut s = logs.state.lock().unwrap();
        s.signer = Some(p256_key());
        s.no_proofs = true;
    }
    logs.grow(30, 0);
    let receiver = Receiver::start().await;
    let (app, client) = follow_logs(&logs, &receiver, |s| {
        s.ct.start = CtStart::End;
    })
    .await;
    logs.wait_for_requests("the failed audit path request", |served| {
        served
            .iter()
            .any(|(p, status)| p.starts_with("/rfc/ct/v1/get-proof-by-hash") && *status == 404)
    })
    .await;
    logs.grow(40, 0);
    assert_eq!(
        as_set(&client.wait_for(10).await),
        expect(&logs, 30..40, 0..0)
    );
    assert_eq!(app.metric("certsentry_ct_tree_mismatches_total").await, 0);
    assert!(app.metric("certsentry_ct_request_errors_total").await >= 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_that_rewrote_its_history_is_raised_after_a_restart() {
    let logs = FakeLogs::start(40).await;
    logs.state.lock().unwrap().signer = Some(p256_key());
    let receiver = Receiver::start().await;
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let settings = ct_settings(dir.path(), &logs, &receiver);
    let checks = "certsentry_ct_tree_checks_total";
    let mismatches = "certsentry_ct_tree_mismatches_total";
    logs.grow(20, 20);
    let app = spawn_app_with(settings.clone(), dir.clone()).await;
    wait_for_metric(&app, checks, 2).await;
    app.stop().await;

    // restarted on the same history: the roots stored hold
    logs.grow(25, 25);
    let app = spawn_app_with(settings.clone(), dir.clone()).await;
    wait_for_metric(&app, checks, 4).await;
    assert_eq!(app.metric(mismatches).await, 0);
    app.stop().await;

    // restarted on a rewritten history: raised once per log, then the
    // new entries are checked against the logs' new roots
    logs.fork();
    logs.grow(30, 30);
    let app = spawn_app_with(settings, dir.clone()).await;
    wait_for_metric(&app, mismatches, 2).await;
    wait_for_metric(&app, checks, 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.metric(mismatches).await, 2);
    app.stop().await;
}

/// Wait until `app`'s counter `name` reaches `n`.
async fn wait_for_metric(app: &TestApp, name: &str, n: u64) {
    eventually(
        Duration::from_secs(10),
        &format!("{name} >= {n}"),
        || async { app.metric(name).await >= n },
    )
    .await;
}
