//! A real headless Chromium driven over the DevTools protocol: open a page,
//! evaluate JavaScript in it, while real time passes (so a page holding an
//! event stream open can be watched receiving events).

use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::process::Stdio;
use std::time::Duration;
use tokio_tungstenite::tungstenite::Message;

type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

/// The browser to use: `$CHROMIUM`, or Debian's `chromium-headless-shell`
/// or `chromium` on the PATH.
pub fn chromium() -> Option<String> {
    if let Ok(c) = std::env::var("CHROMIUM") {
        return Some(c);
    }
    ["chromium-headless-shell", "chromium"]
        .into_iter()
        .find_map(|c| {
            std::process::Command::new(c)
                .arg("--version")
                .output()
                .ok()
                .filter(|o| o.status.success())
                .map(|_| c.to_owned())
        })
}

pub struct Browser {
    child: tokio::process::Child,
    ws: Ws,
    next_id: u64,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Start `browser` headless with a fresh profile, attached to its page.
    pub async fn start(browser: &str) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        let mut child = tokio::process::Command::new(browser)
            .args([
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--remote-debugging-port=0",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        // the port the browser chose is written to DevToolsActivePort
        let port_file = profile.path().join("DevToolsActivePort");
        let mut port = None;
        for _ in 0..200 {
            if let Ok(text) = std::fs::read_to_string(&port_file)
                && let Some(p) = text
                    .lines()
                    .next()
                    .and_then(|l| l.trim().parse::<u16>().ok())
            {
                port = Some(p);
                break;
            }
            assert!(child.try_wait().unwrap().is_none(), "the browser exited");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        let port = port.expect("the browser opened no DevTools port");
        let pages: Value = reqwest::get(format!("http://127.0.0.1:{port}/json/list"))
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let url = pages
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["type"] == "page")
            .and_then(|p| p["webSocketDebuggerUrl"].as_str())
            .unwrap()
            .to_owned();
        let (ws, _) = tokio_tungstenite::connect_async(&url).await.unwrap();
        Browser {
            child,
            ws,
            next_id: 0,
            _profile: profile,
        }
    }

    async fn call(&mut self, method: &str, params: Value) -> Value {
        self.next_id += 1;
        let id = self.next_id;
        let msg = json!({"id": id, "method": method, "params": params}).to_string();
        self.ws.send(Message::text(msg)).await.unwrap();
        loop {
            let frame = tokio::time::timeout(Duration::from_secs(20), self.ws.next())
                .await
                .expect("the browser answers")
                .unwrap()
                .unwrap();
            if let Message::Text(t) = frame {
                let v: Value = serde_json::from_str(&t).unwrap();
                if v["id"] == id {
                    return v;
                }
            }
        }
    }

    pub async fn goto(&mut self, url: &str) {
        self.call("Page.navigate", json!({"url": url})).await;
    }

    /// The value of `expression` in the page.
    pub async fn eval(&mut self, expression: &str) -> Value {
        let r = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true}),
            )
            .await;
        r["result"]["result"]["value"].clone()
    }

    /// Wait until `expression` is true in the page (at most 15 s).
    pub async fn wait_for(&mut self, expression: &str) {
        for _ in 0..150 {
            if self.eval(expression).await == Value::Bool(true) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let body = self.eval("document.body.innerText").await;
        panic!("never true in the page: {expression}\n{body}");
    }

    /// Write a PNG of the page (the whole page, not only the window) to
    /// `target/console-screenshots/<name>.png`; its path.
    pub async fn screenshot(&mut self, name: &str) -> std::path::PathBuf {
        use base64::Engine as _;
        let r = self
            .call(
                "Page.captureScreenshot",
                json!({"format": "png", "captureBeyondViewport": true}),
            )
            .await;
        let data = r["result"]["data"].as_str().expect("a screenshot");
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .unwrap();
        let dir =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/console-screenshots");
        std::fs::create_dir_all(&dir).unwrap();
        let path = dir.join(format!("{name}.png"));
        std::fs::write(&path, png).unwrap();
        path
    }

    /// Run axe-core (`source`, its `axe.min.js`) on the page: the serious
    /// and critical violations, each as `rule (impact): help [nodes]`.
    pub async fn accessibility_violations(&mut self, source: &str) -> Vec<String> {
        if self.eval("typeof axe").await != "object" {
            self.eval(&format!("{source}\n;true")).await;
        }
        let found = self
            .eval(
                r#"axe.run(document).then(r => r.violations
                    .filter(v => v.impact === "serious" || v.impact === "critical")
                    .map(v => `${v.id} (${v.impact}): ${v.help} [${v.nodes.map(n => n.target.join(" ")).join("; ")}]`))"#,
            )
            .await;
        found
            .as_array()
            .unwrap_or_else(|| panic!("axe ran: {found}"))
            .iter()
            .map(|v| v.as_str().unwrap().to_owned())
            .collect()
    }

    /// Close the browser the way it closes itself, so its helper
    /// processes end with it.
    pub async fn close(mut self) {
        self.next_id += 1;
        let msg = json!({"id": self.next_id, "method": "Browser.close"}).to_string();
        let _ = self.ws.send(Message::text(msg)).await;
        if tokio::time::timeout(Duration::from_secs(10), self.child.wait())
            .await
            .is_err()
        {
            let _ = self.child.kill().await;
        }
    }
}
