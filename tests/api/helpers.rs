//! Test harness: the real service on port 0 with its own SQLite file and list,
//! a real certstream websocket server and a real HTTP receiver on 127.0.0.1.

use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use certsentry::app::Application;
use certsentry::config::{Secret, Settings, SinkKind, SinkSettings, SourceKind};
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::collections::VecDeque;
use std::future::Future;
use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;

/// Wait until `check` is true, or panic after `limit` with `what`.
pub async fn eventually<F, Fut>(limit: Duration, what: &str, mut check: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = bool>,
{
    let start = tokio::time::Instant::now();
    loop {
        if check().await {
            return;
        }
        if start.elapsed() > limit {
            panic!("timed out after {limit:?} waiting for: {what}");
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

// ---------------------------------------------------------------- certstream

#[derive(Clone, Debug)]
pub enum ServerCmd {
    Text(String),
    Binary(Vec<u8>),
    /// Drop the TCP connection without a close frame.
    Drop,
    /// Stop reading and writing (no pongs): a half-dead connection.
    GoSilent,
}

/// A certstream-like websocket server.
pub struct FakeCertstream {
    pub url: String,
    cmds: broadcast::Sender<ServerCmd>,
    pub connections: Arc<AtomicUsize>,
    pub pings: Arc<AtomicUsize>,
}

impl FakeCertstream {
    pub async fn start() -> FakeCertstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let (cmds, _) = broadcast::channel(1024);
        let connections = Arc::new(AtomicUsize::new(0));
        let pings = Arc::new(AtomicUsize::new(0));
        let (tx, conns, pings2) = (cmds.clone(), connections.clone(), pings.clone());
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let mut rx = tx.subscribe();
                let conns = conns.clone();
                let pings = pings2.clone();
                tokio::spawn(async move {
                    let Ok(mut ws) = tokio_tungstenite::accept_async(stream).await else {
                        return;
                    };
                    conns.fetch_add(1, Ordering::SeqCst);
                    loop {
                        tokio::select! {
                            cmd = rx.recv() => match cmd {
                                Ok(ServerCmd::Text(t)) => { if ws.send(Message::Text(t.into())).await.is_err() { return; } }
                                Ok(ServerCmd::Binary(b)) => { if ws.send(Message::Binary(b.into())).await.is_err() { return; } }
                                Ok(ServerCmd::Drop) => return,
                                Ok(ServerCmd::GoSilent) => {
                                    // hold the socket open, answer nothing
                                    tokio::time::sleep(Duration::from_secs(3600)).await;
                                    return;
                                }
                                Err(_) => return,
                            },
                            msg = ws.next() => match msg {
                                Some(Ok(Message::Ping(_))) => { pings.fetch_add(1, Ordering::SeqCst); }
                                Some(Ok(_)) => {}
                                _ => return,
                            },
                        }
                    }
                });
            }
        });
        FakeCertstream {
            url: format!("ws://{addr}/full-stream"),
            cmds,
            connections,
            pings,
        }
    }

    pub fn send(&self, cmd: ServerCmd) {
        let _ = self.cmds.send(cmd);
    }

    pub fn send_json(&self, v: &Value) {
        self.send(ServerCmd::Text(v.to_string()));
    }

    pub async fn wait_for_connections(&self, n: usize) {
        let c = self.connections.clone();
        eventually(
            Duration::from_secs(20),
            &format!("{n} certstream connections"),
            || {
                let c = c.clone();
                async move { c.load(Ordering::SeqCst) >= n }
            },
        )
        .await;
    }
}

// ---------------------------------------------------------------- receiver

#[derive(Clone, Debug)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub headers: HeaderMap,
    pub body: Value,
    /// The body bytes as received (signatures are over these).
    pub raw: Vec<u8>,
    pub status: u16,
    /// When it arrived.
    pub at: std::time::Instant,
}

/// A scripted answer: status, body and extra headers.
#[derive(Clone, Debug)]
pub struct Answer {
    pub status: u16,
    pub body: String,
    pub headers: Vec<(String, String)>,
}

impl Answer {
    pub fn new(status: u16, body: &str) -> Answer {
        Answer {
            status,
            body: body.to_owned(),
            headers: Vec::new(),
        }
    }
    pub fn header(mut self, name: &str, value: &str) -> Answer {
        self.headers.push((name.to_owned(), value.to_owned()));
        self
    }
}

#[derive(Default)]
struct ReceiverState {
    /// Answers given before the default.
    script: VecDeque<Answer>,
    default_status: u16,
    log: Vec<Received>,
    /// JSON bodies served to GET requests, by path.
    gets: std::collections::HashMap<String, Value>,
}

/// An HTTP receiver standing in for a SOAR: records every request, answers as scripted.
#[derive(Clone)]
pub struct Receiver {
    pub base: String,
    state: Arc<Mutex<ReceiverState>>,
}

async fn receive(
    State(state): State<Arc<Mutex<ReceiverState>>>,
    method: Method,
    uri: Uri,
    headers: HeaderMap,
    body: axum::body::Bytes,
) -> impl IntoResponse {
    let mut s = state.lock().unwrap();
    if method == Method::GET
        && let Some(body) = s.gets.get(uri.path()).cloned()
    {
        s.log.push(Received {
            method: method.to_string(),
            path: uri.path().to_owned(),
            headers,
            body: Value::Null,
            raw: Vec::new(),
            status: 200,
            at: std::time::Instant::now(),
        });
        return (StatusCode::OK, HeaderMap::new(), body.to_string());
    }
    let answer = s
        .script
        .pop_front()
        .unwrap_or_else(|| Answer::new(s.default_status, "{}"));
    let parsed = serde_json::from_slice(&body).unwrap_or(Value::Null);
    s.log.push(Received {
        method: method.to_string(),
        path: uri.path().to_owned(),
        headers,
        body: parsed,
        raw: body.to_vec(),
        status: answer.status,
        at: std::time::Instant::now(),
    });
    let mut out = HeaderMap::new();
    for (k, v) in &answer.headers {
        out.insert(
            axum::http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            v.parse().unwrap(),
        );
    }
    (
        StatusCode::from_u16(answer.status).unwrap(),
        out,
        answer.body,
    )
}

impl Receiver {
    pub async fn start() -> Receiver {
        Receiver::start_on("127.0.0.1:0".parse().unwrap()).await
    }

    /// A receiver on a given address (to bring a "down" SOAR back on its port).
    pub async fn start_on(addr: std::net::SocketAddr) -> Receiver {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(ReceiverState {
            default_status: 200,
            ..ReceiverState::default()
        }));
        let app = axum::Router::new()
            .fallback(receive)
            .with_state(state.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        Receiver {
            base: format!("http://{addr}"),
            state,
        }
    }

    pub fn answer_next(&self, statuses: &[u16]) {
        self.state
            .lock()
            .unwrap()
            .script
            .extend(statuses.iter().map(|s| Answer::new(*s, "{}")));
    }

    pub fn answer_next_with(&self, answers: &[Answer]) {
        self.state
            .lock()
            .unwrap()
            .script
            .extend(answers.iter().cloned());
    }

    pub fn serve_get(&self, path: &str, body: Value) {
        self.state
            .lock()
            .unwrap()
            .gets
            .insert(path.to_owned(), body);
    }

    pub fn clear_get(&self, path: &str) {
        self.state.lock().unwrap().gets.remove(path);
    }

    pub fn set_default(&self, status: u16) {
        self.state.lock().unwrap().default_status = status;
    }

    /// Every request received.
    pub fn requests(&self) -> Vec<Received> {
        self.state.lock().unwrap().log.clone()
    }

    /// Requests to `path` that were answered 2xx.
    pub fn delivered(&self, path: &str) -> Vec<Received> {
        self.requests()
            .into_iter()
            .filter(|r| r.path == path && (200..300).contains(&r.status))
            .collect()
    }

    pub async fn wait_delivered(&self, path: &str, n: usize) -> Vec<Received> {
        let me = self.clone();
        let p = path.to_owned();
        eventually(
            Duration::from_secs(20),
            &format!("{n} deliveries to {path}"),
            || {
                let me = me.clone();
                let p = p.clone();
                async move { me.delivered(&p).len() >= n }
            },
        )
        .await;
        self.delivered(path)
    }
}

// ---------------------------------------------------------------- the app

pub const TEST_LIST: &str = r#"{"paypal.com": ["paypa1", "xn--pypal-4ve.com"], "microsoft.com": [], "apple.com": ["app1e"]}"#;

pub struct TestApp {
    pub address: String,
    /// Held so the folder (list, SQLite file) lives as long as the app.
    _dir: Arc<tempfile::TempDir>,
    pub list_path: PathBuf,
    /// The certstream-compatible server's port, when enabled.
    pub stream_port: Option<u16>,
    pub client: reqwest::Client,
    stop: Option<tokio::sync::oneshot::Sender<()>>,
    handle: Option<tokio::task::JoinHandle<()>>,
}

/// Settings for a test app reading from `certstream_url` and delivering to `receiver`.
pub fn test_settings(dir: &std::path::Path, certstream_url: &str, receiver: &Receiver) -> Settings {
    let mut s = Settings::default();
    s.api.listen = "127.0.0.1:0".parse().unwrap();
    s.source.kind = SourceKind::Certstream;
    s.source.url = certstream_url.to_owned();
    s.source.ping_interval = Duration::from_millis(300);
    s.source.idle_timeout = Duration::from_secs(2);
    s.source.reconnect_initial = Duration::from_millis(50);
    s.source.reconnect_max = Duration::from_millis(500);
    s.watchlist.path = dir.join("list.json");
    s.watchlist.reload_interval = Duration::from_millis(300);
    s.store.path = dir.join("certsentry.db");
    s.delivery.initial_backoff = Duration::from_millis(50);
    s.delivery.max_backoff = Duration::from_millis(300);
    s.delivery.poll_interval = Duration::from_millis(50);
    s.sinks = vec![
        SinkSettings {
            name: "hook".into(),
            kind: SinkKind::Webhook,
            url: format!("{}/webhook", receiver.base),
            headers: [("X-Tenant".to_string(), Secret::new("blue"))]
                .into_iter()
                .collect(),
            ..SinkSettings::default()
        },
        SinkSettings {
            name: "xsoar".into(),
            kind: SinkKind::XsoarWebhook,
            url: format!("{}/instance/execute/certsentry", receiver.base),
            username: "certsentry".into(),
            password: Secret::new("s3cret-pass"),
            ..SinkSettings::default()
        },
    ];
    s
}

pub async fn spawn_app_with(settings: Settings, dir: Arc<tempfile::TempDir>) -> TestApp {
    let list_path = settings.watchlist.path.clone();
    if !list_path.as_os_str().is_empty() && !list_path.exists() {
        std::fs::write(&list_path, TEST_LIST).unwrap();
    }
    let app = Application::build(settings.clone())
        .await
        .expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let stream_port = app.stream_port();
    let (stop, stop_rx) = tokio::sync::oneshot::channel::<()>();
    let handle = tokio::spawn(async move {
        app.run_until_stopped(async move {
            let _ = stop_rx.await;
        })
        .await
        .expect("app runs");
    });
    let test_app = TestApp {
        address,
        _dir: dir,
        list_path,
        stream_port,
        client: reqwest::Client::new(),
        stop: Some(stop),
        handle: Some(handle),
    };
    test_app.wait_ready().await;
    test_app
}

/// A fresh app with its own folder, certstream server and receiver.
pub async fn spawn_app() -> (TestApp, FakeCertstream, Receiver) {
    let certstream = FakeCertstream::start().await;
    let receiver = Receiver::start().await;
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let settings = test_settings(dir.path(), &certstream.url, &receiver);
    let app = spawn_app_with(settings, dir).await;
    certstream.wait_for_connections(1).await;
    (app, certstream, receiver)
}

impl TestApp {
    pub async fn wait_ready(&self) {
        let url = format!("{}/readyz", self.address);
        let client = self.client.clone();
        eventually(Duration::from_secs(10), "readyz", || {
            let (client, url) = (client.clone(), url.clone());
            async move { matches!(client.get(&url).send().await, Ok(r) if r.status().is_success()) }
        })
        .await;
    }

    pub async fn get_json(&self, path: &str) -> Value {
        self.client
            .get(format!("{}{path}", self.address))
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap()
    }

    pub async fn metric(&self, name: &str) -> u64 {
        let text = self
            .client
            .get(format!("{}/metrics", self.address))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap();
        text.lines()
            .find_map(|l| {
                l.strip_prefix(name)
                    .and_then(|rest| rest.strip_prefix(' '))
                    .map(|v| v.trim().parse().unwrap())
            })
            .unwrap_or_else(|| panic!("metric {name} missing:\n{text}"))
    }

    pub async fn incidents(&self) -> Vec<Value> {
        self.get_json("/v1/incidents?limit=1000").await["incidents"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    /// Stop the service and wait until it has let go of its store.
    pub async fn stop(mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(h) = self.handle.take() {
            h.await.unwrap();
        }
    }
}

// ---------------------------------------------------------------- messages

/// The 40 real CT entries' `expected_full` messages (certstream-server-rust fixtures, MIT).
pub fn real_messages() -> Vec<Value> {
    let text = include_str!("../fixtures/live_ct.json");
    let entries: Vec<Value> = serde_json::from_str(text).unwrap();
    entries
        .iter()
        .map(|e| serde_json::from_str(e["expected_full"].as_str().unwrap()).unwrap())
        .collect()
}

/// A real certificate message with its names (and fingerprints, so it is a
/// distinct certificate) replaced.
pub fn cert_for(names: &[&str], tag: &str) -> Value {
    let mut m = real_messages()[1].clone();
    let leaf = &mut m["data"]["leaf_cert"];
    leaf["all_domains"] = serde_json::json!(names);
    let digest = |s: &str| {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (names, tag, s).hash(&mut h);
        format!("{:016X}", h.finish())
    };
    leaf["sha256"] = Value::String(digest("sha256"));
    leaf["sha1"] = Value::String(digest("sha1"));
    leaf["fingerprint"] = leaf["sha1"].clone();
    m
}

/// The incidents `certsentry replay` (the offline back-test) raises for
/// `stream`, with `list` or the configured default list.
pub fn replay_incidents(stream: &std::path::Path, list: Option<&std::path::Path>) -> Vec<Value> {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_certsentry"));
    cmd.arg("replay")
        .arg(stream)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "warn");
    if let Some(list) = list {
        cmd.arg("--list").arg(list);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
