//! An HTTP receiver standing in for a SOAR on 127.0.0.1: records every
//! request, answers as scripted, serves JSON to GETs.

use super::eventually;
use axum::extract::State;
use axum::http::{HeaderMap, Method, StatusCode, Uri};
use axum::response::IntoResponse;
use serde_json::Value;
use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::Duration;

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
    /// Given after the script instead of `default_status` and `{}`.
    default_answer: Option<Answer>,
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
        .or_else(|| s.default_answer.clone())
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

    /// Answer every unscripted request with `answer`.
    pub fn set_default_answer(&self, answer: Answer) {
        self.state.lock().unwrap().default_answer = Some(answer);
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

/// Send `msg` from `certstream` and wait for `n` deliveries to `path`.
pub async fn send_and_wait(
    certstream: &super::FakeCertstream,
    receiver: &Receiver,
    msg: &Value,
    path: &str,
    n: usize,
) -> Vec<Received> {
    certstream.send_json(msg);
    receiver.wait_delivered(path, n).await
}
