//! The certstream-compatible websocket server: `/full-stream`, `/` (lite)
//! and `/domains-only`, plus `<path>/example.json`, emitting the messages
//! existing certstream clients parse ([`render`]) for every certificate
//! certsentry reads, from whichever source. Off by default
//! (`certstream_server.enabled`).
//!
//! The pipeline publishes each event once; a relay renders it lazily, once
//! per format, and fans it out on a bounded broadcast channel. A client that
//! falls `client_buffer` messages behind (close 1008), or whose socket stays
//! full for a whole `ping_interval`, is dropped and counted; no client can
//! slow the pipeline or the others. Every client gets a ping every
//! `ping_interval`.

pub(crate) mod render;

use crate::config::{ConfigError, invalid, require_positive};
use crate::metrics::Metrics;
use crate::model::CertEvent;
use axum::extract::ws::{CloseFrame, Message, Utf8Bytes, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use render::StreamFormat;
use serde::{Deserialize, Serialize};
use std::net::SocketAddr;
use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::broadcast;
use tokio_util::sync::CancellationToken;

/// `[certstream_server]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StreamServerSettings {
    pub enabled: bool,
    pub listen: SocketAddr,
    /// Websocket ping period.
    #[serde(with = "crate::config::duration")]
    pub ping_interval: Duration,
    /// Messages a client may fall behind before it is dropped.
    pub client_buffer: usize,
}

impl Default for StreamServerSettings {
    fn default() -> Self {
        StreamServerSettings {
            enabled: false,
            listen: SocketAddr::from(([127, 0, 0, 1], 4000)),
            ping_interval: Duration::from_secs(30),
            client_buffer: 1000,
        }
    }
}

impl StreamServerSettings {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        require_positive(&[("certstream_server.ping_interval", self.ping_interval)])?;
        if self.client_buffer == 0 {
            return Err(invalid(
                "certstream_server.client_buffer",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// One event with its messages rendered on first use.
pub(crate) struct Rendered {
    event: Arc<CertEvent>,
    text: [OnceLock<Utf8Bytes>; 3],
}

impl Rendered {
    fn new(event: Arc<CertEvent>) -> Rendered {
        Rendered {
            event,
            text: Default::default(),
        }
    }

    pub(crate) fn get(&self, format: StreamFormat) -> Utf8Bytes {
        let slot = match format {
            StreamFormat::Full => 0,
            StreamFormat::Lite => 1,
            StreamFormat::DomainsOnly => 2,
        };
        self.text[slot]
            .get_or_init(|| render::render(&self.event, format).to_string().into())
            .clone()
    }
}

#[derive(Clone)]
struct ServerState {
    out: broadcast::Sender<Arc<Rendered>>,
    latest: Arc<Mutex<Option<Arc<Rendered>>>>,
    settings: StreamServerSettings,
    metrics: Arc<Metrics>,
    shutdown: CancellationToken,
    /// Cancelled once the relay has passed on every event published before
    /// shutdown: clients then send what they hold and close.
    relayed: CancellationToken,
}

/// The server, bound and ready to run.
pub(crate) struct StreamServer {
    listener: TcpListener,
    state: ServerState,
    events: broadcast::Sender<Arc<CertEvent>>,
}

impl StreamServer {
    /// Bind `settings.listen` (inside a tokio runtime).
    pub(crate) fn bind(
        settings: &StreamServerSettings,
        metrics: Arc<Metrics>,
        shutdown: CancellationToken,
    ) -> std::io::Result<StreamServer> {
        let std_listener = std::net::TcpListener::bind(settings.listen)?;
        std_listener.set_nonblocking(true)?;
        let listener = TcpListener::from_std(std_listener)?;
        let (out, _) = broadcast::channel(settings.client_buffer);
        let (events, _) = broadcast::channel(1024);
        Ok(StreamServer {
            listener,
            state: ServerState {
                out,
                latest: Arc::new(Mutex::new(None)),
                settings: settings.clone(),
                metrics,
                shutdown,
                relayed: CancellationToken::new(),
            },
            events,
        })
    }

    pub(crate) fn local_addr(&self) -> std::io::Result<std::net::SocketAddr> {
        self.listener.local_addr()
    }

    /// The sender the pipeline publishes every event to.
    pub(crate) fn events(&self) -> broadcast::Sender<Arc<CertEvent>> {
        self.events.clone()
    }

    pub(crate) async fn run(self) -> std::io::Result<()> {
        let StreamServer {
            listener,
            state,
            events,
        } = self;
        // relay: pipeline events → rendered, fanned out to clients
        let mut rx = events.subscribe();
        drop(events);
        let relay_state = state.clone();
        tokio::spawn(async move {
            let relay = |event: Arc<CertEvent>| {
                let r = Arc::new(Rendered::new(event));
                *relay_state.latest.lock().unwrap_or_else(|p| p.into_inner()) = Some(r.clone());
                let _ = relay_state.out.send(r);
            };
            loop {
                let event = tokio::select! {
                    _ = relay_state.shutdown.cancelled() => {
                        // the pipeline has stopped: pass on what it published
                        while let Ok(event) = rx.try_recv() {
                            relay(event);
                        }
                        break;
                    }
                    e = rx.recv() => e,
                };
                match event {
                    Ok(event) => relay(event),
                    Err(broadcast::error::RecvError::Lagged(n)) => {
                        tracing::warn!(skipped = n, "certstream server relay fell behind");
                    }
                    Err(broadcast::error::RecvError::Closed) => break,
                }
            }
            relay_state.relayed.cancel();
        });
        let shutdown = state.shutdown.clone();
        let app = axum::Router::new()
            .route("/", get(stream_lite))
            .route("/full-stream", get(stream_full))
            .route("/domains-only", get(stream_domains))
            .route("/example.json", get(example_lite))
            .route("/full-stream/example.json", get(example_full))
            .route("/domains-only/example.json", get(example_domains))
            .with_state(state);
        axum::serve(listener, app)
            .with_graceful_shutdown(async move { shutdown.cancelled().await })
            .await
    }
}

async fn stream_lite(State(s): State<ServerState>, req: Request) -> Response {
    upgrade(s, req, StreamFormat::Lite).await
}
async fn stream_full(State(s): State<ServerState>, req: Request) -> Response {
    upgrade(s, req, StreamFormat::Full).await
}
async fn stream_domains(State(s): State<ServerState>, req: Request) -> Response {
    upgrade(s, req, StreamFormat::DomainsOnly).await
}

async fn upgrade(state: ServerState, req: Request, format: StreamFormat) -> Response {
    let (mut parts, _) = req.into_parts();
    match WebSocketUpgrade::from_request_parts(&mut parts, &state).await {
        Ok(ws) => ws.on_upgrade(move |socket| client(socket, state, format)),
        Err(_) => (
            StatusCode::UPGRADE_REQUIRED,
            format!(
                "certsentry certstream-compatible server: connect a websocket client to {}\n",
                format.path()
            ),
        )
            .into_response(),
    }
}

async fn example(state: &ServerState, format: StreamFormat) -> Response {
    let latest = state
        .latest
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    match latest {
        Some(r) => (
            [(axum::http::header::CONTENT_TYPE, "application/json")],
            r.get(format).to_string(),
        )
            .into_response(),
        None => (
            StatusCode::NOT_FOUND,
            axum::Json(serde_json::json!({"error": "no certificate seen yet"})),
        )
            .into_response(),
    }
}
async fn example_lite(State(s): State<ServerState>) -> Response {
    example(&s, StreamFormat::Lite).await
}
async fn example_full(State(s): State<ServerState>) -> Response {
    example(&s, StreamFormat::Full).await
}
async fn example_domains(State(s): State<ServerState>) -> Response {
    example(&s, StreamFormat::DomainsOnly).await
}

/// Whether a client of `format` gets `r`: name batches from /domains-only
/// upstreams are not certificates.
fn wanted(r: &Rendered, format: StreamFormat) -> bool {
    r.event.certificate.update_type != crate::model::UpdateType::DomainsOnly
        || format == StreamFormat::DomainsOnly
}

/// One connected client until it leaves, falls behind or we stop.
async fn client(mut socket: WebSocket, state: ServerState, format: StreamFormat) {
    let m = &state.metrics;
    m.add(&m.stream_clients, 1);
    let mut rx = state.out.subscribe();
    let mut ping = tokio::time::interval(state.settings.ping_interval);
    ping.tick().await;
    tracing::info!(path = format.path(), "certstream client connected");
    let reason = loop {
        tokio::select! {
            _ = state.shutdown.cancelled() => {
                // what the pipeline recorded before stopping reaches the client
                let _ = tokio::time::timeout(Duration::from_secs(1), state.relayed.cancelled()).await;
                while let Ok(r) = rx.try_recv() {
                    if !wanted(&r, format) {
                        continue;
                    }
                    let sent = tokio::time::timeout(
                        Duration::from_secs(1),
                        socket.send(Message::Text(r.get(format))),
                    )
                    .await;
                    if !matches!(sent, Ok(Ok(()))) {
                        break;
                    }
                    m.add(&m.stream_messages, 1);
                }
                break "server stopping";
            }
            _ = ping.tick() => {
                if socket.send(Message::Ping(Default::default())).await.is_err() {
                    break "ping failed";
                }
            }
            incoming = socket.recv() => match incoming {
                None | Some(Err(_)) | Some(Ok(Message::Close(_))) => break "client left",
                Some(Ok(_)) => {} // pings are answered by the websocket layer; text ignored
            },
            msg = rx.recv() => match msg {
                Ok(r) => {
                    if !wanted(&r, format) {
                        continue;
                    }
                    // a client whose socket stays full for a whole ping interval
                    // is not reading: it cannot be waited for
                    let sent = tokio::time::timeout(
                        state.settings.ping_interval,
                        socket.send(Message::Text(r.get(format))),
                    )
                    .await;
                    match sent {
                        Ok(Ok(())) => m.add(&m.stream_messages, 1),
                        Ok(Err(_)) => break "send failed",
                        Err(_) => {
                            m.add(&m.stream_clients_dropped, 1);
                            tracing::warn!(path = format.path(), "certstream client not reading: dropped");
                            break "not reading";
                        }
                    }
                }
                Err(broadcast::error::RecvError::Lagged(n)) => {
                    m.add(&m.stream_clients_dropped, 1);
                    tracing::warn!(path = format.path(), behind = n, "certstream client too slow: dropped");
                    let _ = socket
                        .send(Message::Close(Some(CloseFrame {
                            code: 1008,
                            reason: "too slow: fell behind the stream".into(),
                        })))
                        .await;
                    break "too slow";
                }
                Err(broadcast::error::RecvError::Closed) => break "stream closed",
            },
        }
    };
    m.stream_clients.fetch_sub(1, Ordering::Relaxed);
    tracing::info!(
        path = format.path(),
        reason,
        "certstream client disconnected"
    );
}
