//! `[[tenants]]`: each tenant's list, allowlist and sinks, in one process
//! with one matcher; incidents carry the tenant.

use crate::helpers::*;
use std::sync::Arc;
use std::time::Duration;

/// (tenant, domain) of each delivery, sorted.
fn tenant_domains(delivered: &[Received]) -> Vec<(String, String)> {
    let mut v: Vec<(String, String)> = delivered
        .iter()
        .map(|r| {
            (
                r.body["tenant"].as_str().unwrap().to_owned(),
                r.body["domain"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    v.sort();
    v
}

/// A service with the default tenant's list (TEST_LIST: paypal.com, ...)
/// and two tenants: acme (paypal.com and acmebank.com, allowlisting
/// paypal-login.com, with its own sink `/acme`) and globex (globex.com, no
/// sink of its own). Gives the two tenants' list files too.
async fn spawn_tenants() -> (
    TestApp,
    FakeCertstream,
    Receiver,
    std::path::PathBuf,
    std::path::PathBuf,
) {
    let certstream = FakeCertstream::start().await;
    let receiver = Receiver::start().await;
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut settings = test_settings(dir.path(), &certstream.url, &receiver);
    let (acme_list, globex_list) = (dir.path().join("acme.json"), dir.path().join("globex.json"));
    std::fs::write(&acme_list, r#"{"paypal.com": [], "acmebank.com": []}"#).unwrap();
    std::fs::write(&globex_list, r#"{"globex.com": []}"#).unwrap();
    settings.sinks.push(webhook_sink(
        "acme-hook",
        http(format!("{}/acme", receiver.base), ""),
    ));
    let tenants = toml::from_str::<toml::Value>(&format!(
        r#"
        [[tenants]]
        id = "acme"
        name = "Acme Bank"
        allowlist = ["paypal-login.com"]
        sinks = ["acme-hook"]
        list.path = {acme:?}

        [[tenants]]
        id = "globex"
        list.path = {globex:?}
        "#,
        acme = acme_list.display().to_string(),
        globex = globex_list.display().to_string(),
    ))
    .unwrap();
    settings.tenants = tenants["tenants"].clone().try_into().unwrap();
    let app = spawn_app_with(settings, dir).await;
    certstream.wait_for_connections(1).await;
    (app, certstream, receiver, acme_list, globex_list)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tenant_gets_the_incidents_of_its_brands_on_its_own_sinks() {
    let (app, certstream, receiver, acme_list, globex_list) = spawn_tenants().await;

    // the lists of three tenants, one matcher
    let status = app.get_json("/v1/status").await;
    let listed: Vec<&str> = status["list"]["tenants"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["tenant"].as_str().unwrap())
        .collect();
    assert_eq!(listed, ["default", "acme", "globex"], "{status}");
    let current = app.get_json("/v1/lists/current").await;
    assert!(
        current["tenants"]["acme"]["acmebank.com"].is_array(),
        "{current}"
    );
    assert!(current["tenants"]["default"]["paypal.com"].is_array());

    // paypal.com is the default tenant's and acme's; acme's allowlist
    // holds paypal-login.com (its phishing simulation); globex.com and
    // acmebank.com are one tenant's each
    for (i, name) in [
        "paypa1.com",
        "paypal-login.com",
        "g1obex.com",
        "acmebank-login.com",
    ]
    .iter()
    .enumerate()
    {
        certstream.send_json(&cert_for(&[name], &format!("t{i}")));
    }
    let acme = receiver.wait_delivered("/acme", 2).await;
    let hook = receiver.wait_delivered("/webhook", 3).await;
    tokio::time::sleep(Duration::from_millis(700)).await;
    let seen = |path: &str| tenant_domains(&receiver.delivered(path));
    let pair = |t: &str, d: &str| (t.to_owned(), d.to_owned());
    assert_eq!(
        seen("/acme"),
        [
            pair("acme", "acmebank-login.com"),
            pair("acme", "paypa1.com")
        ],
        "acme's sink gets acme's incidents only, and not the allowlisted name"
    );
    assert_eq!(
        seen("/webhook"),
        [
            pair("default", "paypa1.com"),
            pair("default", "paypal-login.com"),
            pair("globex", "g1obex.com")
        ],
        "the sinks no tenant names get the default tenant's and globex's"
    );
    assert_eq!(receiver.delivered("/instance/execute/certsentry").len(), 3);
    // one lookalike, two tenants: two incidents with their own keys
    let key = |d: &[Received], t: &str| {
        d.iter()
            .find(|r| r.body["domain"] == "paypa1.com" && r.body["tenant"] == t)
            .map(|r| r.body["dedup_key"].as_str().unwrap().to_owned())
            .unwrap()
    };
    assert_ne!(key(&acme, "acme"), key(&hook, "default"));

    // the queue and the API filter by tenant
    let only = |t: &'static str| {
        let app = &app;
        async move {
            app.get_json(&format!("/v1/incidents?tenant={t}")).await["incidents"]
                .as_array()
                .unwrap()
                .iter()
                .map(|i| i["domain"].as_str().unwrap().to_owned())
                .collect::<Vec<_>>()
        }
    };
    assert_eq!(only("acme").await.len(), 2);
    assert_eq!(only("globex").await, ["g1obex.com"]);
    assert_eq!(only("default").await.len(), 2);
    let bad = app
        .client
        .get(format!("{}/v1/incidents?tenant=Not%20One", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    // acme's list breaks: acme keeps its last good list, globex's change
    // loads, and the service says what is wrong
    std::fs::write(&acme_list, r#"{"paypal.com": [7]}"#).unwrap();
    std::fs::write(&globex_list, r#"{"globex.com": [], "globex.de": []}"#).unwrap();
    let me = &app;
    eventually(
        Duration::from_secs(10),
        "acme's list error",
        || async move {
            let s = me.get_json("/v1/status").await;
            let tenants = s["list"]["tenants"].as_array().cloned().unwrap_or_default();
            tenants
                .iter()
                .any(|t| t["tenant"] == "acme" && t["last_error"].is_string())
                && tenants
                    .iter()
                    .any(|t| t["tenant"] == "globex" && t["brands"] == 2)
        },
    )
    .await;
    let ready = app.get_json("/readyz").await;
    assert_eq!(ready["degraded"], true, "{ready}");
    assert!(
        ready["list_error"]
            .as_str()
            .unwrap()
            .contains("tenant acme"),
        "{ready}"
    );
    certstream.send_json(&cert_for(&["acmebank-secure.com", "g1obex.de"], "u"));
    let acme = receiver.wait_delivered("/acme", 3).await;
    assert!(
        acme.iter()
            .any(|r| r.body["domain"] == "acmebank-secure.com")
    );
    let hook = receiver.wait_delivered("/webhook", 4).await;
    assert!(
        hook.iter()
            .any(|r| r.body["domain"] == "g1obex.de" && r.body["tenant"] == "globex")
    );
    app.stop().await;
}

#[tokio::test]
async fn tenant_settings_are_checked_when_the_service_starts() {
    let receiver = Receiver::start().await;
    let dir = tempfile::tempdir().unwrap();
    let settings = test_settings(dir.path(), "ws://127.0.0.1:9", &receiver);
    let with = |toml_text: &str| {
        let mut s = settings.clone();
        let v = toml::from_str::<toml::Value>(toml_text).unwrap();
        s.tenants = v["tenants"].clone().try_into().unwrap();
        s.validate().map(|_| ()).unwrap_err().to_string()
    };
    let e = with("[[tenants]]\nid = \"acme\"\nsinks = [\"nope\"]\nlist.path = \"/x.json\"\n");
    assert!(
        e.contains("tenants[0].sinks[0]") && e.contains("nope"),
        "{e}"
    );
    let e = with("[[tenants]]\nid = \"acme\"\n");
    assert!(e.contains("tenants[0].list"), "{e}");
    let e = with("[[tenants]]\nid = \"ACME\"\nlist.path = \"/x.json\"\n");
    assert!(e.contains("tenant id"), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tenant_s_own_list_is_served_and_replaced_alone() {
    let (app, _certstream, _receiver, acme_list, globex_list) = spawn_tenants().await;
    // the tenant's own list, not the bundle's union of variants
    let acme = app.get_json("/v1/lists/current?tenant=acme").await;
    assert_eq!(
        acme,
        serde_json::json!({"paypal.com": [], "acmebank.com": []})
    );
    let put = |tenant: &str, body: &str| {
        let req = app
            .client
            .put(format!("{}/v1/lists/current?tenant={tenant}", app.address))
            .body(body.to_owned());
        async move { req.send().await.unwrap().status().as_u16() }
    };
    assert_eq!(
        put(
            "acme",
            r#"{"acmebank.com": ["acmebenk"], "acme.co.uk": []}"#
        )
        .await,
        200
    );
    assert_eq!(
        std::fs::read_to_string(&acme_list).unwrap(),
        r#"{"acmebank.com": ["acmebenk"], "acme.co.uk": []}"#
    );
    let bundle = app.get_json("/v1/lists/current").await;
    assert!(
        bundle["tenants"]["acme"]["acme.co.uk"].is_array(),
        "{bundle}"
    );
    assert!(
        bundle["tenants"]["acme"].get("paypal.com").is_none(),
        "{bundle}"
    );
    // a broken list, a bundle, an unknown tenant, or no tenant named:
    // refused, and nothing changes
    assert_eq!(put("globex", r#"{"globex.com": [1]}"#).await, 422);
    assert_eq!(
        put("globex", r#"{"tenants": {"x": {"a.com": []}}}"#).await,
        422
    );
    assert_eq!(
        std::fs::read_to_string(&globex_list).unwrap(),
        r#"{"globex.com": []}"#
    );
    assert_eq!(put("initech", r#"{"a.com": []}"#).await, 404);
    let plain = app
        .client
        .put(format!("{}/v1/lists/current", app.address))
        .body(r#"{"a.com": []}"#)
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 409);
    assert!(plain.text().await.unwrap().contains("?tenant="));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_console_shows_each_tenant_s_brands_and_adds_a_brand_for_one() {
    let Some(chrome) = chromium_for_test() else {
        return;
    };
    let (app, certstream, receiver, acme_list, _) = spawn_tenants().await;
    certstream.send_json(&cert_for(&["g1obex.com"], "c1"));
    certstream.send_json(&cert_for(&["acmebank-login.com"], "c2"));
    receiver.wait_delivered("/acme", 1).await;
    receiver.wait_delivered("/webhook", 1).await;
    let mut browser = Browser::start(&chrome).await;

    // the queue filters by tenant
    browser.goto(&format!("{}/#/", app.address)).await;
    browser
        .wait_for(r#"document.getElementById("f-tenant") !== null && document.querySelectorAll("tbody tr").length === 2"#)
        .await;
    browser
        .eval(
            r#"document.getElementById("f-tenant").value = "globex";
               [...document.querySelectorAll("button")].find(b => b.textContent === "Filter").click(); true"#,
        )
        .await;
    browser
        .wait_for(r#"document.querySelectorAll("tbody tr").length === 1 && document.querySelector("tbody").innerText.includes("globex.com · globex")"#)
        .await;

    // the brands page: one section per tenant; a brand added for acme
    // goes to acme's list file alone
    browser.goto(&format!("{}/#/brands", app.address)).await;
    browser
        .wait_for(r#"document.getElementById("b-tenant") !== null && document.body.innerText.includes("Tenant acme")"#)
        .await;
    browser
        .eval(
            r#"document.getElementById("b-tenant").value = "acme";
               document.getElementById("b-domain").value = "acmepay.com";
               document.getElementById("b-limit").value = "5";
               [...document.querySelectorAll("button")].find(b => b.textContent === "Preview").click(); true"#,
        )
        .await;
    browser
        .wait_for(r#"[...document.querySelectorAll("button")].some(b => b.textContent === "Save acmepay.com with these variants for acme")"#)
        .await;
    browser
        .eval(r#"[...document.querySelectorAll("button")].find(b => b.textContent.startsWith("Save")).click(); true"#)
        .await;
    browser
        .wait_for(
            r#"[...document.querySelectorAll("td")].some(td => td.textContent === "acmepay.com")"#,
        )
        .await;
    browser.close().await;
    let written: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&acme_list).unwrap()).unwrap();
    assert_eq!(
        written["acmepay.com"].as_array().unwrap().len(),
        5,
        "{written}"
    );
    assert!(
        written.get("acmebank.com").is_some(),
        "acme's other brands stay"
    );
    let default: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&app.list_path).unwrap()).unwrap();
    assert!(
        default.get("acmepay.com").is_none(),
        "the default tenant's list is untouched"
    );
    app.stop().await;
}

/// A bundle written as the one list file (no `[[tenants]]`): its tenants'
/// incidents carry them, and each tenant's part is served on its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bundle_as_the_one_list_file_gives_its_tenants_incidents() {
    let certstream = FakeCertstream::start().await;
    let receiver = Receiver::start().await;
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let settings = test_settings(dir.path(), &certstream.url, &receiver);
    std::fs::write(
        &settings.watchlist.path,
        r#"{"tenants": {"acme": {"acmebank.com": []}, "globex": {"globex.com": ["gl0bex"]}}}"#,
    )
    .unwrap();
    let app = spawn_app_with(settings, dir).await;
    certstream.wait_for_connections(1).await;
    assert_eq!(
        app.get_json("/v1/lists/current?tenant=globex").await,
        serde_json::json!({"globex.com": ["gl0bex"]})
    );
    let missing = app
        .client
        .get(format!("{}/v1/lists/current?tenant=initech", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    certstream.send_json(&cert_for(&["gl0bex.com"], "b1"));
    certstream.send_json(&cert_for(&["acmebank-login.com"], "b2"));
    let got = receiver.wait_delivered("/webhook", 2).await;
    assert_eq!(
        tenant_domains(&got),
        [
            ("acme".to_owned(), "acmebank-login.com".to_owned()),
            ("globex".to_owned(), "gl0bex.com".to_owned())
        ]
    );
    app.stop().await;
}
