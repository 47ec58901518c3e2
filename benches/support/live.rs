//! Live peers for the end-to-end benches, on 127.0.0.1: a certstream
//! server that sends what it is given, and a webhook receiver that notes
//! when each lookalike's incident arrives.
#![allow(dead_code)]

use futures_util::SinkExt;
use serde_json::Value;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::{Notify, mpsc};

/// What the receiver has seen: lookalike number → arrival.
#[derive(Default)]
pub struct Arrivals {
    pub at: Mutex<HashMap<u64, Instant>>,
    pub notify: Notify,
}

/// The lookalike number in an incident body (`paypal-login-<n>.com`).
pub fn lookalike_number(body: &str) -> Option<u64> {
    let rest = &body[body.find("paypal-login-")? + "paypal-login-".len()..];
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

/// A real-shaped frame with these names and a certificate hash of its own.
pub fn frame(template: &Value, names: &[String], serial: u64) -> String {
    let mut m = template.clone();
    m["data"]["leaf_cert"]["all_domains"] = serde_json::json!(names);
    m["data"]["leaf_cert"]["sha256"] = Value::String(format!("{serial:064X}"));
    m.to_string()
}

pub async fn start_receiver(arrivals: Arc<Arrivals>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let app = axum::Router::new().fallback(move |body: String| {
        let arrivals = arrivals.clone();
        async move {
            if let Some(n) = lookalike_number(&body) {
                arrivals.at.lock().unwrap().insert(n, Instant::now());
                arrivals.notify.notify_waiters();
            }
            "{}"
        }
    });
    tokio::spawn(async move { axum::serve(listener, app).await });
    base
}

/// A certstream server: every client gets the frames put on `frames`.
pub async fn start_certstream(mut frames: mpsc::UnboundedReceiver<String>) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("ws://{}/full-stream", listener.local_addr().unwrap());
    tokio::spawn(async move {
        let (tcp, _) = listener.accept().await.unwrap();
        let mut ws = tokio_tungstenite::accept_async(tcp).await.unwrap();
        while let Some(f) = frames.recv().await {
            if ws
                .send(tokio_tungstenite::tungstenite::Message::text(f))
                .await
                .is_err()
            {
                break;
            }
        }
    });
    url
}

/// Real-shaped frame templates (the CT fixtures) and benign names, none of
/// them a paypal lookalike: what the latency benches send around their
/// lookalikes.
pub fn background() -> (Vec<Value>, Vec<String>) {
    let templates: Vec<Value> = crate::data::full_frames(40, &["example.com".to_owned()])
        .iter()
        .map(|f| serde_json::from_str(f).unwrap())
        .collect();
    let brands = crate::data::brands(50);
    let benign: Vec<String> = crate::data::names(20_000, &brands)
        .into_iter()
        .filter(|n| !n.contains("paypal"))
        .collect();
    (templates, benign)
}

/// Send `rate` benign frames a second, two names each, until `tx` closes.
pub fn send_background(
    tx: mpsc::UnboundedSender<String>,
    templates: Vec<Value>,
    benign: Vec<String>,
    rate: u64,
) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(std::time::Duration::from_micros(1_000_000 / rate));
        for i in 0u64.. {
            tick.tick().await;
            let names = [
                benign[(2 * i) as usize % benign.len()].clone(),
                benign[(2 * i + 1) as usize % benign.len()].clone(),
            ];
            if tx
                .send(frame(&templates[i as usize % templates.len()], &names, i))
                .is_err()
            {
                break;
            }
        }
    });
}
