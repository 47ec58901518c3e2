//! Two CT logs served from 127.0.0.1, built from the 40 real entries of
//! `live_ct.json`: an RFC 6962 log (short `get-entries` answers, proofs)
//! and a static-ct-api log (checkpoint, data tiles, a partial tile growing
//! into a full one, issuers by fingerprint, hash tiles), with the log list
//! that names them. Faults on command: 429/503 scripts, a closed log, a
//! forged or wrong-key tree head, tampered entries, a rewritten history.

use super::eventually;
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use certsentry::ct::leaf::{self, Chain, EntryKind};
use serde_json::{Value, json};
use sha2::Digest;
use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

#[derive(Default)]
pub struct LogsState {
    pub base: String,
    pub rfc: Vec<(String, String)>,
    pub rfc_visible: usize,
    pub tiled: Vec<Vec<u8>>,
    pub tiled_visible: usize,
    pub issuers: HashMap<String, Vec<u8>>,
    /// Answers (status, Retry-After) given to entry/tile requests first.
    pub script: VecDeque<(u16, Option<&'static str>)>,
    pub requests: Vec<(Instant, String, u16)>,
    pub max_batch: usize,
    /// Entry and tile requests answer 503 while closed (so a test can attach
    /// its client before anything is read).
    pub closed: bool,
    /// The log list leaves the tiled log out (it is added later).
    pub unlisted_tiled: bool,
    /// Log list requests served.
    pub list_requests: usize,
    /// The log list answers 503 (an outage of the list's URL).
    pub list_down: bool,
    /// The logs' key: when set, the list carries it and tree heads are
    /// signed with it.
    pub signer: Option<Arc<ring::signature::EcdsaKeyPair>>,
    /// Tree heads are signed with another key (a forged head).
    pub forger: Option<Arc<ring::signature::EcdsaKeyPair>>,
    /// RFC 6962 leaf hashes of the tiled log's entries, from the bytes of
    /// their `TimestampedEntry` (the tile leaf without the pre-certificate
    /// and the chain).
    pub tiled_leaves: Vec<[u8; 32]>,
    /// Data tiles serve this entry with the next one's bytes (a tampered
    /// tile); the tree and its signed root stay the log's.
    pub tampered: Option<usize>,
    /// RFC 6962 leaf hashes of the RFC 6962 log's entries.
    pub rfc_leaves: Vec<[u8; 32]>,
    /// `get-entries` answers this entry with the next one.
    pub rfc_tampered: Option<usize>,
    /// `get-proof-by-hash` answers 404.
    pub no_proofs: bool,
}

/// RFC 6962 §2.1.1 PATH(m, D[n]) by its definition, leaf level first.
pub fn audit_path(m: usize, leaves: &[[u8; 32]]) -> Vec<[u8; 32]> {
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
pub fn mth(leaves: &[[u8; 32]]) -> [u8; 32] {
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

pub fn p256_key() -> Arc<ring::signature::EcdsaKeyPair> {
    use ring::signature::{ECDSA_P256_SHA256_ASN1_SIGNING, EcdsaKeyPair};
    let rng = ring::rand::SystemRandom::new();
    let pkcs8 = EcdsaKeyPair::generate_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, &rng).unwrap();
    Arc::new(
        EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_ASN1_SIGNING, pkcs8.as_ref(), &rng).unwrap(),
    )
}

/// The DER SubjectPublicKeyInfo of a P-256 key.
pub fn spki(key: &ring::signature::EcdsaKeyPair) -> Vec<u8> {
    use ring::signature::KeyPair;
    let mut der = hex::decode("3059301306072a8648ce3d020106082a8648ce3d030107034200").unwrap();
    der.extend_from_slice(key.public_key().as_ref());
    der
}

/// A tree head of `size` signed by `key`: the TLS DigitallySigned bytes
/// and the timestamp.
pub fn sign_head(
    key: &ring::signature::EcdsaKeyPair,
    size: usize,
    root: [u8; 32],
) -> (Vec<u8>, u64) {
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
pub struct FakeLogs {
    pub base: String,
    pub state: Arc<Mutex<LogsState>>,
}

/// RFC 6962 entries and their tiled encodings, from the real fixtures; the
/// tiled log repeats them to reach `tiled_len` entries.
pub fn build_state(tiled_len: usize) -> LogsState {
    let fixtures: Vec<Value> =
        serde_json::from_str(include_str!("../../fixtures/live_ct.json")).unwrap();
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

pub fn tile_number(groups: &str) -> Option<usize> {
    groups.replace(['x', '/'], "").parse().ok()
}

pub async fn serve_log(
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
    pub async fn start(tiled_len: usize) -> FakeLogs {
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

    pub fn grow(&self, rfc: usize, tiled: usize) {
        let mut s = self.state.lock().unwrap();
        s.rfc_visible = rfc;
        s.tiled_visible = tiled;
    }

    /// Both logs rewrite their history: entries 5 and 6 change places.
    pub fn fork(&self) {
        let mut s = self.state.lock().unwrap();
        s.rfc.swap(5, 6);
        s.rfc_leaves.swap(5, 6);
        s.tiled.swap(5, 6);
        s.tiled_leaves.swap(5, 6);
    }

    pub fn requests(&self) -> Vec<(Instant, String, u16)> {
        self.state.lock().unwrap().requests.clone()
    }

    /// Wait until the requests served (path?query, status) satisfy `check`.
    pub async fn wait_for_requests(&self, what: &str, check: impl Fn(&[(String, u16)]) -> bool) {
        eventually(Duration::from_secs(10), what, || {
            let served: Vec<(String, u16)> =
                self.requests().into_iter().map(|r| (r.1, r.2)).collect();
            let done = check(&served);
            async move { done }
        })
        .await;
    }
}
