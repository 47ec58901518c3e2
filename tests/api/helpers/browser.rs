//! A real headless Chromium driven through chromiumoxide (the DevTools
//! protocol): open a page, evaluate JavaScript in it, while real time
//! passes (so a page holding an event stream open can be watched receiving
//! events), screenshot it, run axe-core in it.

use futures_util::StreamExt;
use serde_json::Value;
use std::time::Duration;

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

/// The browser for a test that needs one; `None` (the test skips, saying
/// so) only outside CI, which installs `chromium-headless-shell`.
pub fn chromium_for_test() -> Option<String> {
    let found = chromium();
    if found.is_none() {
        assert!(
            std::env::var("CI").is_err(),
            "CI installs chromium-headless-shell for the browser tests"
        );
        eprintln!("skipped: no headless Chromium here (apt-get install chromium-headless-shell)");
    }
    found
}

pub struct Browser {
    browser: chromiumoxide::Browser,
    page: chromiumoxide::Page,
    events: tokio::task::JoinHandle<()>,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Start `browser` headless with a fresh profile, through chromiumoxide
    /// (a maintained DevTools-protocol driver), on a blank page.
    pub async fn start(browser: &str) -> Browser {
        let profile = tempfile::tempdir().unwrap();
        // the driver wants a path, not a name to look up
        let exe = std::env::var_os("PATH")
            .and_then(|paths| {
                std::env::split_paths(&paths)
                    .map(|d| d.join(browser))
                    .find(|p| p.is_file())
            })
            .unwrap_or_else(|| std::path::PathBuf::from(browser));
        let config = chromiumoxide::BrowserConfig::builder()
            .chrome_executable(exe)
            .user_data_dir(profile.path())
            .no_sandbox()
            .arg("--disable-gpu")
            .window_size(1280, 900)
            .build()
            .unwrap();
        let (browser, mut handler) = chromiumoxide::Browser::launch(config).await.unwrap();
        // the driver's event loop: it must be polled for anything to happen
        let events = tokio::spawn(async move { while handler.next().await.is_some() {} });
        let page = browser.new_page("about:blank").await.unwrap();
        Browser {
            browser,
            page,
            events,
            _profile: profile,
        }
    }

    /// Navigate the way a link does, without waiting for a load (a change
    /// of `#hash` has none; the driver's own navigation waits for one).
    pub async fn goto(&mut self, url: &str) {
        let url = serde_json::to_string(url).unwrap();
        self.eval(&format!("location.assign({url}); true")).await;
    }

    /// The value of `expression` in the page (promises awaited).
    pub async fn eval(&mut self, expression: &str) -> Value {
        let params = chromiumoxide::cdp::js_protocol::runtime::EvaluateParams::builder()
            .expression(expression)
            .await_promise(true)
            .return_by_value(true)
            .build()
            .unwrap();
        match self.page.evaluate_expression(params).await {
            Ok(r) => r.value().cloned().unwrap_or(Value::Null),
            // an exception in the page (the page being replaced, say)
            Err(_) => Value::Null,
        }
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
        let png = self
            .page
            .screenshot(
                chromiumoxide::page::ScreenshotParams::builder()
                    .full_page(true)
                    .build(),
            )
            .await
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

    /// Close the browser and wait for its processes to end.
    pub async fn close(mut self) {
        let _ = self.browser.close().await;
        if tokio::time::timeout(Duration::from_secs(10), self.browser.wait())
            .await
            .is_err()
        {
            let _ = self.browser.kill().await;
        }
        self.events.abort();
    }
}
