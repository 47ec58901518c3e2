//! The real service on port 0 with its own folder (list, SQLite file),
//! reading a fake certstream server and delivering to a receiver.

use super::{FakeCertstream, Receiver, eventually};
use certsentry::{
    Application, HttpSettings, Secret, Settings, SinkFormat, SinkSettings, SourceKind,
    WebhookSettings, XsoarWebhookSettings,
};
use serde_json::Value;
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

pub const TEST_LIST: &str = r#"{"paypal.com": ["paypa1", "xn--pypal-4ve.com"], "microsoft.com": [], "apple.com": ["app1e"]}"#;

pub struct TestApp {
    pub address: String,
    /// Held so the folder (list, SQLite file) lives as long as the app.
    _dir: Arc<tempfile::TempDir>,
    pub list_path: PathBuf,
    /// The certstream-compatible server's port, when enabled.
    pub stream_port: Option<u16>,
    pub client: reqwest::Client,
    /// The most powerful token the settings name, sent by `get_json`.
    bearer: Option<String>,
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
        webhook_sink(
            "hook",
            HttpSettings {
                url: format!("{}/webhook", receiver.base),
                headers: [("X-Tenant".to_string(), Secret::new("blue"))]
                    .into_iter()
                    .collect(),
                ..HttpSettings::default()
            },
        ),
        SinkSettings::new(
            "xsoar",
            SinkFormat::XsoarWebhook(XsoarWebhookSettings {
                http: HttpSettings {
                    url: format!("{}/instance/execute/certsentry", receiver.base),
                    username: "certsentry".into(),
                    password: Secret::new("s3cret-pass"),
                    ..HttpSettings::default()
                },
                ..XsoarWebhookSettings::default()
            }),
        ),
    ];
    s
}

/// A `webhook` sink named `name`.
pub fn webhook_sink(name: &str, http: HttpSettings) -> SinkSettings {
    SinkSettings::new(
        name,
        SinkFormat::Webhook(WebhookSettings {
            http,
            ..WebhookSettings::default()
        }),
    )
}

/// The shared part of an HTTP sink's settings: `url`, with `token` when not empty.
pub fn http(url: String, token: &str) -> HttpSettings {
    HttpSettings {
        url,
        token: Secret::new(token),
        ..HttpSettings::default()
    }
}

pub async fn spawn_app_with(settings: Settings, dir: Arc<tempfile::TempDir>) -> TestApp {
    let list_path = settings.watchlist.path.clone();
    let bearer = std::iter::once(settings.api.token.expose().to_owned())
        .filter(|t| !t.is_empty())
        .chain({
            let mut tokens = settings.api.tokens.clone();
            tokens.sort_by_key(|t| std::cmp::Reverse(t.role));
            tokens.into_iter().map(|t| t.token.expose().to_owned())
        })
        .next();
    if !list_path.as_os_str().is_empty() && !list_path.exists() {
        std::fs::write(&list_path, TEST_LIST).unwrap();
    }
    let config = settings.validate().expect("valid settings");
    let app = Application::build(config).await.expect("app builds");
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
        bearer,
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
        let mut req = self.client.get(format!("{}{path}", self.address));
        if let Some(t) = &self.bearer {
            req = req.bearer_auth(t);
        }
        req.send().await.unwrap().json().await.unwrap()
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
