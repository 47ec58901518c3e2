//! `[[tenants]]`: each tenant's list, allowlist and sinks, in one process
//! with one matcher; incidents carry the tenant.

use crate::helpers::*;
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_tenant_gets_the_incidents_of_its_brands_on_its_own_sinks() {
    let certstream = FakeCertstream::start().await;
    let receiver = Receiver::start().await;
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut settings = test_settings(dir.path(), &certstream.url, &receiver);
    // the default tenant's list is [watchlist]'s (TEST_LIST: paypal.com, ...)
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
    let seen = |path: &str| {
        let mut v: Vec<(String, String)> = receiver
            .delivered(path)
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
    };
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
