//! The console: served by the binary with a strict CSP, nothing from
//! elsewhere, no HTML built from strings (certificate names are
//! attacker-controlled), every API path it calls routed, and the queue's
//! API (newest first, triage and text filters) behaving as it expects.

use crate::helpers::*;
use serde_json::{Value, json};
use std::collections::BTreeSet;

const SCRIPT: &str = include_str!("../../src/api/console/console.js");
const PAGE: &str = include_str!("../../src/api/console/index.html");
const STYLE: &str = include_str!("../../src/api/console/console.css");

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_is_served_from_the_binary_with_a_strict_policy() {
    let (app, _certstream, _receiver) = spawn_app().await;
    for (path, kind, body) in [
        ("/", "text/html", PAGE),
        ("/console.js", "text/javascript", SCRIPT),
        ("/console.css", "text/css", STYLE),
    ] {
        let resp = app
            .client
            .get(format!("{}{path}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200, "{path}");
        let h = resp.headers().clone();
        assert!(
            h["content-type"].to_str().unwrap().starts_with(kind),
            "{path}"
        );
        let csp = h["content-security-policy"].to_str().unwrap();
        assert!(csp.contains("default-src 'self'") && csp.contains("frame-ancestors 'none'"));
        assert_eq!(h["x-content-type-options"], "nosniff");
        assert_eq!(resp.text().await.unwrap(), body);
    }
    assert!(PAGE.contains(r#"src="/console.js""#) && PAGE.contains(r#"href="/console.css""#));
    app.stop().await;
}

#[test]
fn the_console_loads_nothing_from_elsewhere_and_builds_no_html_from_strings() {
    for (name, text) in [("page", PAGE), ("script", SCRIPT), ("style", STYLE)] {
        // the SVG namespace is a name, not something fetched
        let text = text.replace("\"http://www.w3.org/2000/svg\"", "");
        for banned in ["http://", "https://", "//cdn", "@import"] {
            assert!(!text.contains(banned), "{name} holds {banned}");
        }
    }
    for banned in [
        "innerHTML",
        "outerHTML",
        "insertAdjacentHTML",
        "document.write",
        "eval(",
    ] {
        assert!(!SCRIPT.contains(banned), "the script uses {banned}");
    }
}

#[test]
fn every_api_path_the_console_calls_is_routed() {
    let routed: BTreeSet<String> = certsentry::ROUTES
        .iter()
        .map(|(_, p)| p.to_string())
        .collect();
    let mut called = BTreeSet::new();
    for chunk in SCRIPT.split("api(").skip(1) {
        let quote = chunk.chars().next().unwrap();
        if !matches!(quote, '"' | '`') {
            continue;
        }
        let literal: String = chunk[1..].chars().take_while(|c| *c != quote).collect();
        // `${...}` segments are ids; the query string is not part of the route
        let path = literal.split('?').next().unwrap();
        let mut normal = String::new();
        let mut rest = path;
        while let Some(at) = rest.find("${") {
            normal.push_str(&rest[..at]);
            normal.push_str("{id}");
            rest = &rest[at..];
            rest = &rest[rest.find('}').unwrap() + 1..];
        }
        normal.push_str(rest);
        called.insert(normal);
    }
    assert!(called.len() >= 8, "{called:?}");
    for path in &called {
        assert!(
            routed.contains(path),
            "the console calls {path}, which is not routed"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_queue_pages_newest_first_and_filters_by_triage_and_text() {
    let (app, certstream, receiver) = spawn_app().await;
    for (i, name) in ["paypa1.com", "app1e.com", "xn--pypal-4ve.com"]
        .iter()
        .enumerate()
    {
        certstream.send_json(&cert_for(&[name], &format!("q{i}")));
        receiver.wait_delivered("/webhook", i + 1).await;
    }
    let oldest_first: Vec<String> = app
        .incidents()
        .await
        .iter()
        .map(|i| i["id"].as_str().unwrap().to_owned())
        .collect();
    assert_eq!(oldest_first.len(), 3);
    let page = app.get_json("/v1/incidents?order=desc&limit=2").await;
    let ids: Vec<&str> = page["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .map(|i| i["id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [oldest_first[2].as_str(), oldest_first[1].as_str()]);
    let next = page["next"].as_str().unwrap();
    let rest = app
        .get_json(&format!("/v1/incidents?order=desc&limit=2&before={next}"))
        .await;
    assert_eq!(rest["incidents"][0]["id"], oldest_first[0].as_str());
    assert!(rest["next"].is_null());

    let resp = app
        .client
        .patch(format!("{}/v1/incidents/{}", app.address, oldest_first[1]))
        .json(&json!({"state": "investigating"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let count = |v: Value| v["incidents"].as_array().unwrap().len();
    assert_eq!(count(app.get_json("/v1/incidents?triage=new").await), 2);
    assert_eq!(
        count(app.get_json("/v1/incidents?triage=investigating").await),
        1
    );
    assert_eq!(count(app.get_json("/v1/incidents?q=APP1E").await), 1);
    // the Unicode form is searched too
    assert_eq!(
        count(app.get_json("/v1/incidents?q=p%D0%B0ypal&order=desc").await),
        1
    );
    for bad in [
        "/v1/incidents?triage=maybe",
        "/v1/incidents?order=sideways",
        "/v1/incidents?order=desc&after=01ARZ3NDEKTSV4RRFFQ69G5FAV",
        "/v1/incidents?before=01ARZ3NDEKTSV4RRFFQ69G5FAV",
    ] {
        let resp = app
            .client
            .get(format!("{}{bad}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 400, "{bad}");
    }
    app.stop().await;
}

/// The DOM of `url` once its scripts have run (virtual time lets the
/// page's fetches finish).
async fn rendered(browser: &str, url: &str) -> String {
    let out = tokio::process::Command::new(browser)
        .args([
            "--headless",
            "--no-sandbox",
            "--disable-gpu",
            "--virtual-time-budget=8000",
            "--dump-dom",
            url,
        ])
        .output()
        .await
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_real_browser_renders_the_queue_an_incident_and_the_token_prompt() {
    let Some(browser) = chromium_for_test() else {
        return;
    };
    let (app, certstream, receiver) = spawn_app().await;
    certstream.send_json(&cert_for(&["xn--pypal-4ve.com"], "b1"));
    certstream.send_json(&cert_for(&["app1e.com"], "b2"));
    receiver.wait_delivered("/webhook", 2).await;
    let incidents = app.incidents().await;

    let queue = rendered(&browser, &format!("{}/", app.address)).await;
    assert!(queue.contains("pаypal.com (xn--pypal-4ve.com)"), "{queue}");
    assert!(queue.contains("app1e.com"), "{queue}");
    assert!(
        queue.contains(r#"<section id="auth" hidden"#),
        "no token needed"
    );
    // newest first
    assert!(queue.find("app1e.com").unwrap() < queue.find("xn--pypal-4ve.com").unwrap());

    let homograph = &incidents[0];
    let id = homograph["id"].as_str().unwrap();
    let page = rendered(&browser, &format!("{}/#/incident/{id}", app.address)).await;
    let sha = homograph["certificate"]["sha256"].as_str().unwrap();
    assert!(page.contains(sha), "the certificate is shown: {page}");
    assert!(
        page.contains(r#"<span class="diff" title="U+0430 Cyrillic">а</span>"#),
        "{page}"
    );
    assert!(page.contains("not enriched"));
    assert!(page.contains("stop alerting for paypal.com"));
    for (view, shows) in [
        ("brands", "<td>paypal.com</td><td>2</td>"),
        ("suppressions", "<h2>Suppressions</h2>"),
        ("status", "<td>incidents_new</td><td>2</td>"),
        (
            "status",
            "<figcaption>New incidents per hour, last 24 h: peak 2 incidents</figcaption>",
        ),
        ("try", "<h2>Try a name</h2>"),
        ("rules", "<h3>From the config file</h3>"),
    ] {
        let dom = rendered(&browser, &format!("{}/#/{view}", app.address)).await;
        assert!(dom.contains(shows), "{view}: {dom}");
        assert!(!dom.contains(r#"class="error""#), "{view}: {dom}");
    }
    app.stop().await;

    // with tokens, the page asks to sign in and shows no data
    let certstream = FakeCertstream::start().await;
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let mut settings = test_settings(dir.path(), &certstream.url, &receiver);
    settings.api.token = certsentry::Secret::new("console-t0ken");
    let app = spawn_app_with(settings, dir).await;
    let locked = rendered(&browser, &format!("{}/", app.address)).await;
    assert!(locked.contains(r#"<section id="auth">"#), "{locked}");
    assert!(locked.contains("Sign in to see the queue"), "{locked}");
    assert!(!locked.contains("<tbody>"), "{locked}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_viewer_signs_in_sees_the_queue_and_is_refused_triage() {
    let Some(chrome) = chromium_for_test() else {
        return;
    };
    let certstream = FakeCertstream::start().await;
    let receiver = Receiver::start().await;
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let mut settings = test_settings(dir.path(), &certstream.url, &receiver);
    settings.api.tokens = vec![certsentry::TokenSettings {
        name: "vic".into(),
        token: certsentry::Secret::new("viewer-t0ken-123"),
        role: certsentry::Role::Viewer,
    }];
    let app = spawn_app_with(settings, dir).await;
    certstream.wait_for_connections(1).await;
    certstream.send_json(&cert_for(&["paypa1.com"], "v1"));
    receiver.wait_delivered("/webhook", 1).await;

    let mut browser = Browser::start(&chrome).await;
    browser.goto(&format!("{}/", app.address)).await;
    browser
        .wait_for(r#"!document.getElementById("auth").hidden"#)
        .await;
    // a wrong token: said so, still signed out
    browser
        .eval(r##"document.getElementById("token").value = "nope"; document.querySelector("form#auth-form button").click(); true"##)
        .await;
    browser
        .wait_for(r#"document.getElementById("auth-error").textContent.includes("unauthorized")"#)
        .await;
    browser
        .eval(r##"document.getElementById("token").value = "viewer-t0ken-123"; document.querySelector("form#auth-form button").click(); true"##)
        .await;
    browser
        .wait_for(r#"document.getElementById("who").textContent.startsWith("vic (viewer)") && document.querySelectorAll("tbody tr").length === 1"#)
        .await;
    // the script cannot read the session cookie
    assert_eq!(browser.eval("document.cookie").await, "");
    let id = app.incidents().await;
    let id = id[0]["id"].as_str().unwrap();
    browser
        .goto(&format!("{}/#/incident/{id}", app.address))
        .await;
    browser
        .wait_for(r#"document.getElementById("t-state") !== null"#)
        .await;
    browser
        .eval(
            r#"document.getElementById("t-state").value = "false_positive";
               document.querySelector("form.filters button[type=submit]").click(); true"#,
        )
        .await;
    browser
        .wait_for(r#"document.body.innerText.includes("needs the analyst role")"#)
        .await;
    // nor may it add a rule (an admin's work)
    browser.goto(&format!("{}/#/rules", app.address)).await;
    browser
        .wait_for(r#"document.getElementById("r-name") !== null"#)
        .await;
    browser
        .eval(
            r#"document.getElementById("r-name").value = "mine";
               document.getElementById("r-pattern").value = "wallet";
               [...document.querySelectorAll("button")].find(b => b.textContent === "Add rule").click(); true"#,
        )
        .await;
    browser
        .wait_for(r#"document.body.innerText.includes("needs the admin role")"#)
        .await;
    browser.close().await;
    let one = app.get_json(&format!("/v1/incidents/{id}")).await;
    assert_ne!(
        one["triage"]["state"], "false_positive",
        "nothing changed: {one}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn new_incidents_are_pushed_as_server_sent_events() {
    let (app, certstream, _receiver) = spawn_app().await;
    let mut resp = app
        .client
        .get(format!("{}/v1/events", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert!(
        resp.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/event-stream")
    );
    certstream.send_json(&cert_for(&["paypa1.com"], "e1"));
    let mut text = String::new();
    let got = tokio::time::timeout(std::time::Duration::from_secs(10), async {
        while !text.contains("\n\n") || !text.contains("event: incident") {
            let chunk = resp.chunk().await.unwrap().unwrap();
            text.push_str(&String::from_utf8_lossy(&chunk));
        }
    })
    .await;
    assert!(got.is_ok(), "no event: {text}");
    let data = text.lines().find_map(|l| l.strip_prefix("data: ")).unwrap();
    let incident: Value = serde_json::from_str(data).unwrap();
    assert_eq!(incident["domain"], "paypa1.com");
    let id = text.lines().find_map(|l| l.strip_prefix("id: ")).unwrap();
    assert_eq!(id, incident["id"].as_str().unwrap());
    // the open stream does not hold up the shutdown
    tokio::time::timeout(std::time::Duration::from_secs(10), app.stop())
        .await
        .expect("stopped with an event stream open");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_browser_queue_shows_a_new_incident_without_a_reload() {
    let Some(chrome) = chromium_for_test() else {
        return;
    };
    let (app, certstream, receiver) = spawn_app().await;
    certstream.send_json(&cert_for(&["app1e.com"], "l1"));
    receiver.wait_delivered("/webhook", 1).await;
    let mut browser = Browser::start(&chrome).await;
    browser.goto(&format!("{}/", app.address)).await;
    browser
        .wait_for(r#"document.getElementById("live").textContent === "live""#)
        .await;
    assert_eq!(
        browser
            .eval("document.querySelectorAll('tbody tr').length")
            .await,
        1
    );
    certstream.send_json(&cert_for(&["paypa1.com"], "l2"));
    browser
        .wait_for("document.querySelectorAll('tbody tr').length === 2")
        .await;
    let first = browser
        .eval("document.querySelector('tbody tr').className + ' ' + document.querySelector('tbody tr a').textContent")
        .await;
    assert_eq!(first, "fresh paypa1.com", "the new incident on top, marked");
    // a filter the pushed incident does not pass keeps it out
    browser
        .eval(r#"document.getElementById("f-q").value = "app1e"; document.querySelector("form.filters button").click(); true"#)
        .await;
    browser
        .wait_for(r#"document.getElementById("live").textContent === "live" && document.querySelectorAll('tbody tr').length === 1"#)
        .await;
    certstream.send_json(&cert_for(&["micros0ft.com"], "l3"));
    receiver.wait_delivered("/webhook", 3).await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    assert_eq!(
        browser
            .eval("document.querySelectorAll('tbody tr').length")
            .await,
        1
    );
    browser.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analyst_triages_suppresses_and_adds_a_brand_in_the_browser() {
    let Some(chrome) = chromium_for_test() else {
        return;
    };
    let (app, certstream, receiver) = spawn_app().await;
    certstream.send_json(&cert_for(&["paypa1.com"], "u1"));
    receiver.wait_delivered("/webhook", 1).await;
    let id = app.incidents().await[0]["id"].as_str().unwrap().to_owned();
    let mut browser = Browser::start(&chrome).await;

    // triage with "stop alerting for this brand"
    browser
        .goto(&format!("{}/#/incident/{id}", app.address))
        .await;
    browser
        .wait_for(r#"document.getElementById("t-state") !== null"#)
        .await;
    browser
        .eval(
            r#"document.getElementById("t-state").value = "false_positive";
               document.getElementById("t-suppress").value = "brand";
               document.getElementById("t-comment").value = "our partner";
               document.getElementById("t-actor").value = "ana";
               document.querySelector("form.filters button[type=submit]").click(); true"#,
        )
        .await;
    browser
        .wait_for(r#"document.body.innerText.includes("ana: → false_positive our partner")"#)
        .await;
    let one = app.get_json(&format!("/v1/incidents/{id}")).await;
    assert_eq!(one["triage"]["state"], "false_positive");
    let sups = app.get_json("/v1/suppressions").await;
    assert_eq!(sups["suppressions"][0]["brand"], "paypal.com");
    assert_eq!(sups["suppressions"][0]["created_by"], "ana");
    // the same certificate again, and another for the same name: no alert
    certstream.send_json(&cert_for(&["paypa1.com"], "u1"));
    certstream.send_json(&cert_for(&["paypa1.com", "www.paypa1.com"], "u1-again"));
    let me = &app;
    eventually(
        std::time::Duration::from_secs(10),
        "the new certificate suppressed",
        || async move { me.metric("certsentry_incidents_suppressed_total").await >= 1 },
    )
    .await;
    assert_eq!(
        receiver.delivered("/webhook").len(),
        1,
        "nothing more delivered"
    );

    // the suppressions page lists it and removes it
    browser
        .goto(&format!("{}/#/suppressions", app.address))
        .await;
    browser
        .wait_for(r#"document.querySelector("main h2")?.textContent === "Suppressions" && document.body.innerText.includes("our partner")"#)
        .await;
    browser
        .eval(r#"[...document.querySelectorAll("button")].find(b => b.textContent === "Remove").click(); true"#)
        .await;
    browser
        .wait_for(r#"!document.body.innerText.includes("our partner")"#)
        .await;
    assert!(
        app.get_json("/v1/suppressions").await["suppressions"]
            .as_array()
            .unwrap()
            .is_empty()
    );

    // add a brand: preview its variants, then save the list
    browser.goto(&format!("{}/#/brands", app.address)).await;
    browser
        .wait_for(r#"document.getElementById("b-domain") !== null && document.querySelector("main h2")?.textContent === "Brands""#)
        .await;
    browser
        .eval(
            r#"document.getElementById("b-domain").value = "northwindbank.com";
               document.getElementById("b-limit").value = "20";
               [...document.querySelectorAll("button")].find(b => b.textContent === "Preview").click(); true"#,
        )
        .await;
    browser
        .wait_for(r#"[...document.querySelectorAll("button")].some(b => b.textContent.startsWith("Save northwindbank.com"))"#)
        .await;
    browser
        .eval(r#"[...document.querySelectorAll("button")].find(b => b.textContent.startsWith("Save")).click(); true"#)
        .await;
    browser
        .wait_for(r#"[...document.querySelectorAll("td")].some(td => td.textContent === "northwindbank.com")"#)
        .await;
    let list = app.get_json("/v1/lists/current").await;
    assert_eq!(
        list["northwindbank.com"].as_array().unwrap().len(),
        20,
        "{list}"
    );
    assert!(list.get("paypal.com").is_some(), "the other brands stay");
    // a lookalike of the new brand appears live in the queue
    browser.goto(&format!("{}/#/", app.address)).await;
    browser
        .wait_for(r#"document.getElementById("live").textContent === "live""#)
        .await;
    certstream.send_json(&cert_for(&["northwindbank-secure-login.com"], "u3"));
    browser
        .wait_for(r#"document.querySelector("tbody tr.fresh a")?.textContent === "northwindbank-secure-login.com""#)
        .await;
    browser.close().await;
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_delivery_is_retried_from_the_incident_page() {
    let Some(chrome) = chromium_for_test() else {
        return;
    };
    let (app, certstream, receiver) = spawn_app().await;
    // both sinks refuse the first delivery for good
    receiver.answer_next_with(&[
        Answer::new(400, r#"{"error": "bad field"}"#),
        Answer::new(400, r#"{"error": "bad field"}"#),
    ]);
    certstream.send_json(&cert_for(&["paypa1.com"], "r1"));
    let me = &app;
    eventually(
        std::time::Duration::from_secs(10),
        "two failed deliveries",
        || async move {
            me.get_json("/v1/deliveries?state=failed").await["deliveries"]
                .as_array()
                .is_some_and(|d| d.len() == 2)
        },
    )
    .await;
    let id = app.incidents().await[0]["id"].as_str().unwrap().to_owned();
    let mut browser = Browser::start(&chrome).await;
    browser
        .goto(&format!("{}/#/incident/{id}", app.address))
        .await;
    let retry_buttons =
        r#"[...document.querySelectorAll("button")].filter(b => b.textContent === "Retry").length"#;
    browser
        .wait_for(&format!(
            "{retry_buttons} === 2 && document.body.innerText.includes(\"bad field\")"
        ))
        .await;
    browser
        .eval(r#"[...document.querySelectorAll("button")].find(b => b.textContent === "Retry").click(); true"#)
        .await;
    browser.wait_for(&format!("{retry_buttons} === 1")).await;
    eventually(
        std::time::Duration::from_secs(10),
        "one delivery left failed",
        || async move {
            me.get_json("/v1/deliveries?state=failed").await["deliveries"]
                .as_array()
                .is_some_and(|d| d.len() == 1)
        },
    )
    .await;
    browser.close().await;
    app.stop().await;
}

/// axe-core's script, fetched by `tests/fetch-axe-core.sh` (CI runs it).
fn axe_core() -> Option<String> {
    let path = std::env::var("AXE_CORE_JS").map_or_else(
        |_| std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/axe-core/axe.min.js"),
        std::path::PathBuf::from,
    );
    std::fs::read_to_string(path).ok()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_page_passes_axe_core_and_is_screenshotted() {
    let Some(chrome) = chromium_for_test() else {
        return;
    };
    let Some(axe) = axe_core() else {
        assert!(
            std::env::var("CI").is_err(),
            "CI runs tests/fetch-axe-core.sh"
        );
        eprintln!("skipped: no axe-core here (tests/fetch-axe-core.sh)");
        return;
    };
    let (app, certstream, receiver) = spawn_app().await;
    certstream.send_json(&cert_for(&["xn--pypal-4ve.com"], "a1"));
    certstream.send_json(&cert_for(&["app1e.com", "www.app1e.com"], "a2"));
    certstream.send_json(&cert_for(&["paypal-login-secure.top"], "a3"));
    receiver.wait_delivered("/webhook", 3).await;
    let incidents = app.incidents().await;
    let id = incidents
        .iter()
        .find(|i| i["domain"] == "xn--pypal-4ve.com")
        .unwrap()["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let mut browser = Browser::start(&chrome).await;
    let mut problems = Vec::new();
    for (page, hash, ready) in [
        (
            "queue",
            "#/",
            r#"document.querySelectorAll("tbody tr").length === 3"#,
        ),
        (
            "incident",
            &format!("#/incident/{id}") as &str,
            r#"document.getElementById("t-state") !== null"#,
        ),
        (
            "brands",
            "#/brands",
            r#"document.getElementById("b-domain") !== null"#,
        ),
        (
            "suppressions",
            "#/suppressions",
            r#"document.querySelector("main h2")?.textContent === "Suppressions""#,
        ),
        (
            "rules",
            "#/rules",
            r#"document.querySelector("main h2")?.textContent === "Rules""#,
        ),
        (
            "try",
            "#/try",
            r#"document.querySelector("main h2")?.textContent === "Try a name""#,
        ),
        (
            "status",
            "#/status",
            r#"document.getElementById("chart-names") !== null"#,
        ),
    ] {
        browser.goto(&format!("{}/{hash}", app.address)).await;
        browser.wait_for(ready).await;
        let shot = browser.screenshot(&format!("console-{page}")).await;
        assert!(std::fs::metadata(&shot).unwrap().len() > 1000, "{page}");
        for v in browser.accessibility_violations(&axe).await {
            problems.push(format!("{page}: {v}"));
        }
    }
    browser.close().await;
    app.stop().await;

    // the sign-in page of a service with tokens
    let certstream = FakeCertstream::start().await;
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let mut settings = test_settings(dir.path(), &certstream.url, &receiver);
    settings.api.token = certsentry::Secret::new("axe-t0ken");
    let app = spawn_app_with(settings, dir).await;
    let mut browser = Browser::start(&chrome).await;
    browser.goto(&format!("{}/", app.address)).await;
    browser
        .wait_for(r#"!document.getElementById("auth").hidden"#)
        .await;
    browser.screenshot("console-sign-in").await;
    for v in browser.accessibility_violations(&axe).await {
        problems.push(format!("sign-in: {v}"));
    }
    browser.close().await;
    app.stop().await;
    assert!(problems.is_empty(), "axe-core: {problems:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_demo_serves_its_incidents_in_the_console() {
    use tokio::io::AsyncBufReadExt;
    let mut demo = tokio::process::Command::new(env!("CARGO_BIN_EXE_certsentry"))
        .args([
            "demo",
            "--listen",
            "127.0.0.1:0",
            "--rate",
            "400",
            "--keep-running",
        ])
        .env("RUST_LOG", "warn")
        .stdout(std::process::Stdio::piped())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = tokio::io::BufReader::new(demo.stdout.take().unwrap()).lines();
    let mut console = None;
    let mut said = Vec::new();
    let done = tokio::time::timeout(std::time::Duration::from_secs(60), async {
        while let Some(line) = lines.next_line().await.unwrap() {
            said.push(line.clone());
            if let Some(url) = line.trim().strip_prefix("console: ") {
                console = Some(url.to_owned());
            }
            if line.contains("replay done; API still up") {
                return;
            }
        }
        panic!("the demo ended early");
    })
    .await;
    assert!(done.is_ok(), "the demo finished its replay");
    let console = console.expect("the demo prints the console's URL");
    let incidents: Value = reqwest::get(format!("{console}v1/incidents?limit=1000"))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let count = incidents["incidents"].as_array().unwrap().len();
    assert!(count >= 5, "{incidents}\n{}", said.join("\n"));

    if let Some(chrome) = chromium() {
        let mut browser = Browser::start(&chrome).await;
        browser.goto(&console).await;
        browser
            .wait_for(&format!(
                "document.querySelectorAll('tbody tr').length === {}",
                count.min(50)
            ))
            .await;
        // filter to one brand's lookalikes, then open the first
        browser
            .eval(r#"document.getElementById("f-q").value = "paypal"; document.querySelector("form.filters button").click(); true"#)
            .await;
        browser
            .wait_for(r#"[...document.querySelectorAll("tbody tr")].length > 0 && [...document.querySelectorAll("tbody tr")].every(r => r.innerText.toLowerCase().includes("paypal"))"#)
            .await;
        browser
            .eval(r#"document.querySelector("tbody tr a").click(); true"#)
            .await;
        browser
            .wait_for(r#"document.getElementById("t-state") !== null && document.body.innerText.includes("Certificate")"#)
            .await;
        browser.screenshot("console-demo-incident").await;
        browser.close().await;
    }
    let pid = demo.id().unwrap().to_string();
    let _ = std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status();
    let status = tokio::time::timeout(std::time::Duration::from_secs(20), demo.wait())
        .await
        .expect("the demo stops on SIGTERM")
        .unwrap();
    assert!(status.success(), "{status}");
}
