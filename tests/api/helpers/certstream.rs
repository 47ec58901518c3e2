//! A certstream-like websocket server on 127.0.0.1 that sends what a test
//! tells it to, drops or goes silent on command, and counts pings.

use super::eventually;
use futures_util::{SinkExt, StreamExt};
use serde_json::Value;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::broadcast;
use tokio_tungstenite::tungstenite::Message;

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
    /// Connections closed because the client read too slowly and fell more
    /// than the broadcast buffer behind (what a real certstream server does).
    pub lagged: Arc<AtomicUsize>,
}

impl FakeCertstream {
    pub async fn start() -> FakeCertstream {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        // room for a minute of a 1,000/s stream before a slow client is cut off
        let (cmds, _) = broadcast::channel(1 << 16);
        let connections = Arc::new(AtomicUsize::new(0));
        let pings = Arc::new(AtomicUsize::new(0));
        let lagged = Arc::new(AtomicUsize::new(0));
        let (tx, conns, pings2, lagged2) = (
            cmds.clone(),
            connections.clone(),
            pings.clone(),
            lagged.clone(),
        );
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let mut rx = tx.subscribe();
                let conns = conns.clone();
                let pings = pings2.clone();
                let lagged = lagged2.clone();
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
                                Err(broadcast::error::RecvError::Lagged(_)) => {
                                    lagged.fetch_add(1, Ordering::SeqCst);
                                    return;
                                }
                                Err(broadcast::error::RecvError::Closed) => return,
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
            lagged,
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
