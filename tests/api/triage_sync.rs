//! List sync (`PUT /v1/lists/current`) and triage (`PATCH /v1/incidents/{id}`)
//! against the running service: what a SOAR integration relies on.

use crate::helpers::*;
use serde_json::{Value, json};
use std::sync::Arc;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pushed_list_is_kept_and_matched_and_a_refused_one_changes_nothing() {
    let certstream = FakeCertstream::start().await;
    let receiver = Receiver::start().await;
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut settings = test_settings(dir.path(), &certstream.url, &receiver);
    settings.watchlist.max_bytes = 4096;
    // a slow reload interval: what answers is the push, not the file watcher
    settings.watchlist.reload_interval = Duration::from_secs(3600);
    let app = spawn_app_with(settings, dir).await;
    certstream.wait_for_connections(1).await;
    let url = format!("{}/v1/lists/current", app.address);

    let pushed = r#"{"paypal.com": ["paypa1"], "barclays.co.uk": []}"#;
    let resp = app
        .client
        .put(&url)
        .header("content-type", "application/json")
        .body(pushed)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["replaced"], true);
    assert_eq!(body["list"]["brands"], 2, "{body}");
    assert_eq!(std::fs::read_to_string(&app.list_path).unwrap(), pushed);
    // written through a temporary file and a rename; the old list kept beside it
    let mut previous = app.list_path.clone().into_os_string();
    previous.push(".previous");
    assert_eq!(std::fs::read_to_string(previous).unwrap(), TEST_LIST);
    let current = app.get_json("/v1/lists/current").await;
    assert!(current.get("barclays.co.uk").is_some(), "{current}");
    assert!(current.get("apple.com").is_none(), "{current}");
    // active at once: the next certificate is matched against it
    certstream.send_json(&cert_for(&["barc1ays.co.uk"], "push"));
    let got = receiver.wait_delivered("/webhook", 1).await;
    assert_eq!(got[0].body["brand"], "barclays.co.uk");

    // refused lists: the active list, the file and the status are untouched
    let status_before = app.get_json("/v1/status").await["list"].clone();
    for (bad, code, says) in [
        (r#"{"paypal.com": [42]}"#, 422, "item 0"),
        ("not json", 422, "last good list"),
        (r#"{"paypal.com": ["x"], "": []}"#, 422, "last good list"),
    ] {
        let resp = app.client.put(&url).body(bad).send().await.unwrap();
        assert_eq!(resp.status(), code, "{bad}");
        let body: Value = resp.json().await.unwrap();
        assert!(body.to_string().contains(says), "{bad}: {body}");
        assert_eq!(
            body["error"],
            "list refused; the last good list stays active"
        );
    }
    let big = format!(r#"{{"paypal.com": ["{}"]}}"#, "a".repeat(5000));
    let resp = app.client.put(&url).body(big).send().await.unwrap();
    assert_eq!(resp.status(), 413);
    let body: Value = resp.json().await.unwrap();
    assert!(body["detail"].as_str().unwrap().contains("4096"), "{body}");

    assert_eq!(std::fs::read_to_string(&app.list_path).unwrap(), pushed);
    assert_eq!(app.get_json("/v1/lists/current").await, current);
    let status_after = app.get_json("/v1/status").await["list"].clone();
    assert_eq!(status_after["last_error"], status_before["last_error"]);
    assert_eq!(status_after["brands"], 2);
    // and a reload from the file gives the pushed list back
    let resp = app
        .client
        .post(format!("{}/v1/lists/reload", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(app.get_json("/v1/lists/current").await, current);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn triage_is_audited_and_read_back_by_the_pull_api() {
    let (app, certstream, receiver) = spawn_app().await;
    certstream.send_json(&cert_for(&["paypa1.com"], "t"));
    receiver.wait_delivered("/webhook", 1).await;
    let incidents = app.incidents().await;
    let id = incidents[0]["id"].as_str().unwrap().to_owned();
    assert!(
        incidents[0].get("triage").is_none(),
        "untriaged: no triage key"
    );
    let url = format!("{}/v1/incidents/{id}", app.address);
    let patch = |body: Value| app.client.patch(&url).json(&body).send();

    let resp = patch(json!({"state": "investigating", "assignee": "ana", "actor": "ana"}))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["triage"]["state"], "investigating");
    assert_eq!(body["triage"]["assignee"], "ana");
    assert_eq!(body["triage"]["updated_by"], "ana");
    let resp = patch(json!({"state": "false_positive", "comment": "our partner's site"}))
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);

    let one = app.get_json(&format!("/v1/incidents/{id}")).await;
    assert_eq!(one["triage"]["state"], "false_positive");
    assert_eq!(
        one["triage"]["assignee"], "ana",
        "unchanged by the second patch"
    );
    assert_eq!(one["triage"]["updated_by"], "api");
    assert_eq!(one["triage"]["comments"], 1);
    let history = one["triage_history"].as_array().unwrap();
    assert_eq!(history.len(), 2, "{one}");
    assert_eq!(history[0]["actor"], "ana");
    assert_eq!(history[1]["comment"], "our partner's site");
    assert_eq!(history[1]["state"], "false_positive");
    // the pull feed carries it, so a SOAR sees the analyst's verdict
    let listed = app.incidents().await;
    assert_eq!(listed[0]["triage"]["state"], "false_positive");
    let csv = app
        .client
        .get(format!("{}/v1/incidents/export?format=csv", app.address))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let mut lines = csv.lines();
    assert!(
        lines
            .next()
            .unwrap()
            .ends_with(",triage_state,triage_assignee,tenant")
    );
    assert!(
        lines
            .next()
            .unwrap()
            .ends_with(",false_positive,ana,default"),
        "{csv}"
    );

    // bad requests say what is wrong and change nothing
    for (bad, says) in [
        (json!({"state": "maybe"}), "maybe"),
        (json!({"actor": "x"}), "at least one"),
        (json!({"comment": "x", "colour": "red"}), "colour"),
        (json!({"assignee": "a".repeat(201)}), "200"),
        (json!({"comment": "bell \u{7}"}), "control"),
    ] {
        let resp = patch(bad.clone()).await.unwrap();
        assert_eq!(resp.status(), 400, "{bad}");
        let text = resp.text().await.unwrap();
        assert!(text.contains(says), "{bad}: {text}");
    }
    let resp = app
        .client
        .patch(format!(
            "{}/v1/incidents/01ARZ3NDEKTSV4RRFFQ69G5FAV",
            app.address
        ))
        .json(&json!({"comment": "x"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    let again = app.get_json(&format!("/v1/incidents/{id}")).await;
    assert_eq!(again["triage_history"].as_array().unwrap().len(), 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_false_positive_suppresses_the_next_certificate_and_can_be_undone() {
    let certstream = FakeCertstream::start().await;
    let receiver = Receiver::start().await;
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut settings = test_settings(dir.path(), &certstream.url, &receiver);
    // a new certificate of a known lookalike is delivered as an update
    settings.incidents.send_updates = true;
    let app = spawn_app_with(settings.clone(), dir.clone()).await;
    certstream.wait_for_connections(1).await;
    certstream.send_json(&cert_for(&["paypa1.com"], "s1"));
    receiver.wait_delivered("/webhook", 1).await;
    let id = app.incidents().await[0]["id"].as_str().unwrap().to_owned();
    let url = format!("{}/v1/incidents/{id}", app.address);

    // suppressing needs a harmless verdict
    let resp = app
        .client
        .patch(&url)
        .json(&json!({"state": "investigating", "suppress": "brand"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    assert!(
        resp.text()
            .await
            .unwrap()
            .contains("false_positive or brand_owned")
    );
    let resp = app
        .client
        .patch(&url)
        .json(&json!({"state": "false_positive", "suppress": "brand",
                      "comment": "our partner's site", "actor": "ana"}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let body: Value = resp.json().await.unwrap();
    let sup = &body["suppression"];
    assert_eq!(sup["domain"], "paypa1.com");
    assert_eq!(sup["brand"], "paypal.com");
    assert_eq!(sup["reason"], "our partner's site");
    assert_eq!(sup["created_by"], "ana");
    assert_eq!(sup["incident_id"], id.as_str());
    let sup_id = sup["id"].as_i64().unwrap();
    // "try a name" says it no longer raises an incident, and why
    let m = app
        .client
        .post(format!("{}/v1/match", app.address))
        .json(&json!({"names": ["www.paypa1.com"]}))
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap();
    assert_eq!(m["results"][0]["matched"], true);
    assert_eq!(m["results"][0]["incident"], false);
    assert_eq!(m["results"][0]["suppressed_by"], sup_id);

    // the next certificate for it raises nothing; another lookalike still does
    certstream.send_json(&cert_for(&["www.paypa1.com"], "s2"));
    certstream.send_json(&cert_for(&["app1e.com"], "s3"));
    let r = receiver.clone();
    eventually(Duration::from_secs(10), "app1e delivered", || {
        let r = r.clone();
        async move {
            r.delivered("/webhook")
                .iter()
                .any(|d| d.body["domain"] == "app1e.com")
        }
    })
    .await;
    assert_eq!(app.metric("certsentry_incidents_suppressed_total").await, 1);
    let paypal_deliveries = |r: &Receiver| {
        r.delivered("/webhook")
            .iter()
            .filter(|d| d.body["registrable_domain"] == "paypa1.com")
            .count()
    };
    assert_eq!(
        paypal_deliveries(&receiver),
        1,
        "no update for a suppressed lookalike"
    );

    // listed, audited, and kept across a restart
    let listed = app.get_json("/v1/suppressions").await;
    assert_eq!(listed["suppressions"].as_array().unwrap().len(), 1);
    app.stop().await;
    let app = spawn_app_with(settings, dir).await;
    certstream.wait_for_connections(2).await;
    certstream.send_json(&cert_for(&["login.paypa1.com"], "s4"));
    eventually(Duration::from_secs(10), "suppressed after restart", || {
        let app = &app;
        async move { app.metric("certsentry_incidents_suppressed_total").await == 1 }
    })
    .await;

    // undone: removed (kept for the audit), and the lookalike alerts again
    let resp = app
        .client
        .delete(format!("{}/v1/suppressions/{sup_id}?actor=bo", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let removed: Value = resp.json().await.unwrap();
    assert_eq!(removed["suppression"]["removed_by"], "bo");
    assert!(
        app.get_json("/v1/suppressions").await["suppressions"]
            .as_array()
            .unwrap()
            .is_empty()
    );
    let audit = app.get_json("/v1/suppressions?removed=true").await;
    assert_eq!(audit["suppressions"][0]["id"], sup_id);
    certstream.send_json(&cert_for(&["shop.paypa1.com"], "s5"));
    let r = receiver.clone();
    eventually(Duration::from_secs(10), "update after removal", || {
        let r = r.clone();
        async move { paypal_deliveries(&r) == 2 }
    })
    .await;

    // a domain for every brand, and bad requests
    let add = |body: Value| {
        app.client
            .post(format!("{}/v1/suppressions", app.address))
            .json(&body)
            .send()
    };
    let resp = add(json!({"domain": "*.App1e.com", "reason": "a partner", "actor": "ana"}))
        .await
        .unwrap();
    assert_eq!(resp.status(), 201);
    let body: Value = resp.json().await.unwrap();
    assert_eq!(body["suppression"]["domain"], "app1e.com");
    assert!(body["suppression"]["brand"].is_null());
    for (bad, says) in [
        (
            json!({"domain": "x.com", "brand": "nope.com", "reason": "r"}),
            "not a protected domain",
        ),
        (
            json!({"domain": "x.com", "reason": " "}),
            "reason must not be empty",
        ),
        (json!({"domain": "not a name", "reason": "r"}), "domain"),
        (json!({"domain": "x.com"}), "reason"),
    ] {
        let resp = add(bad.clone()).await.unwrap();
        assert_eq!(resp.status(), 400, "{bad}");
        let text = resp.text().await.unwrap();
        assert!(text.contains(says), "{bad}: {text}");
    }
    let resp = app
        .client
        .delete(format!("{}/v1/suppressions/424242", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    app.stop().await;
}
