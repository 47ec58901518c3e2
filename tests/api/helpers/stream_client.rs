//! A websocket client of certsentry's certstream-compatible server.

use super::eventually;
use futures_util::StreamExt;
use serde_json::Value;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A websocket client of certsentry's `/full-stream`, collecting messages.
pub struct StreamClient {
    pub got: Arc<Mutex<Vec<Value>>>,
}

impl StreamClient {
    pub async fn connect(port: u16, path: &str) -> StreamClient {
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
    pub fn seen(&self) -> Vec<(String, u64)> {
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

    pub async fn wait_for(&self, n: usize) -> Vec<(String, u64)> {
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
