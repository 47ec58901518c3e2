//! certstream websocket client (`/full-stream`, `/`, `/domains-only`; the
//! message type decides, not the path).
//!
//! Liveness: a ping every `ping_interval`; no frame of any kind (the server's
//! pong counts) for `idle_timeout` means the connection is dead. Reconnects
//! use exponential backoff with jitter, reset after a connection stayed
//! healthy for `healthy_after`.

use super::forward;
use crate::metrics::Metrics;
use crate::source::{SourceItem, SourceSettings, SourceState};
use futures_util::{SinkExt, StreamExt};
use std::sync::Arc;
use tokio::sync::mpsc;
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Message;
use tokio_util::sync::CancellationToken;

pub(super) struct CertstreamSource {
    pub(super) settings: SourceSettings,
    pub(super) metrics: Arc<Metrics>,
    pub(super) tx: mpsc::Sender<SourceItem>,
    pub(super) state: SourceState,
}

enum SessionEnd {
    Shutdown,
    PipelineClosed,
    Lost(String),
}

impl CertstreamSource {
    pub(super) async fn run(self, shutdown: CancellationToken) {
        let mut attempts: u32 = 0;
        let name: std::sync::Arc<str> = source_name(&self.settings.url).into();
        loop {
            let started = Instant::now();
            let end = self.session(&name, &shutdown).await;
            match end {
                SessionEnd::Shutdown | SessionEnd::PipelineClosed => {
                    self.state.set_state("stopped", None);
                    return;
                }
                SessionEnd::Lost(reason) => {
                    if started.elapsed() >= self.settings.healthy_after {
                        attempts = 0;
                    }
                    let delay = crate::retry::backoff(
                        attempts,
                        self.settings.reconnect_initial,
                        self.settings.reconnect_max,
                    );
                    attempts = attempts.saturating_add(1);
                    self.metrics.add(&self.metrics.reconnects, 1);
                    tracing::warn!(%reason, retry_in = ?delay, "certstream connection lost");
                    self.state.set_state("reconnecting", Some(reason));
                    tokio::select! {
                        _ = shutdown.cancelled() => {
                            self.state.set_state("stopped", None);
                            return;
                        }
                        _ = tokio::time::sleep(delay) => {}
                    }
                }
            }
        }
    }

    async fn session(
        &self,
        name: &std::sync::Arc<str>,
        shutdown: &CancellationToken,
    ) -> SessionEnd {
        let idle = self.settings.idle_timeout;
        let connect = tokio_tungstenite::connect_async(self.settings.url.as_str());
        let ws = tokio::select! {
            _ = shutdown.cancelled() => return SessionEnd::Shutdown,
            r = tokio::time::timeout(idle, connect) => match r {
                Err(_) => return SessionEnd::Lost("connect timed out".into()),
                Ok(Err(e)) => return SessionEnd::Lost(format!("connect failed: {e}")),
                Ok(Ok((ws, _))) => ws,
            },
        };
        tracing::info!(url = %crate::http::strip_userinfo(&self.settings.url), "certstream connected");
        self.state.set_state("connected", None);
        let (mut write, mut read) = ws.split();
        let ping_every = self.settings.ping_interval;
        let mut ping = tokio::time::interval_at(Instant::now() + ping_every, ping_every);
        let mut deadline = Instant::now() + idle;
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => {
                    let _ = write.send(Message::Close(None)).await;
                    return SessionEnd::Shutdown;
                }
                _ = ping.tick() => {
                    if let Err(e) = write.send(Message::Ping(Vec::new().into())).await {
                        return SessionEnd::Lost(format!("ping failed: {e}"));
                    }
                }
                _ = tokio::time::sleep_until(deadline) => {
                    return SessionEnd::Lost(format!("no frame for {}", humantime::format_duration(idle)));
                }
                msg = read.next() => {
                    deadline = Instant::now() + idle;
                    let bytes: bytes::Bytes = match msg {
                        None => return SessionEnd::Lost("connection closed".into()),
                        Some(Err(e)) => return SessionEnd::Lost(format!("websocket error: {e}")),
                        Some(Ok(Message::Close(frame))) => {
                            return SessionEnd::Lost(format!("closed by server: {frame:?}"));
                        }
                        Some(Ok(Message::Text(t))) => t.into(),
                        Some(Ok(Message::Binary(b))) => b,
                        Some(Ok(_)) => continue, // ping / pong / raw frame
                    };
                    self.state.touch();
                    if forward(bytes, name, &self.tx, &self.metrics).await.is_err() {
                        return SessionEnd::PipelineClosed;
                    }
                }
            }
        }
    }
}

/// `certstream:<host>` — the source name carried by events (no credentials).
fn source_name(url: &str) -> String {
    match reqwest::Url::parse(url) {
        Ok(u) => format!("certstream:{}", u.host_str().unwrap_or("?")),
        Err(_) => "certstream".into(),
    }
}
