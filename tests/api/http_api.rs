//! The HTTP API: auth, match, errors, limits, and openapi.yaml = the router.

use crate::helpers::*;
use certsentry::Secret;
use serde_json::{Value, json};
use std::collections::BTreeSet;
use std::sync::Arc;

async fn spawn_with_token() -> TestApp {
    let certstream = FakeCertstream::start().await;
    let receiver = Receiver::start().await;
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut settings = test_settings(dir.path(), &certstream.url, &receiver);
    settings.api.token = Secret::new("t0ken");
    settings.api.max_body_bytes = 64 * 1024;
    spawn_app_with(settings, dir).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn v1_routes_need_the_bearer_token_when_one_is_set() {
    let app = spawn_with_token().await;
    let url = |p: &str| format!("{}{p}", app.address);
    let r = app.client.get(url("/v1/status")).send().await.unwrap();
    assert_eq!(r.status(), 401);
    assert_eq!(r.headers()["www-authenticate"], "Bearer");
    let body: Value = r.json().await.unwrap();
    assert_eq!(body["error"], "unauthorized");
    let r = app
        .client
        .get(url("/v1/status"))
        .bearer_auth("wrong")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);
    let r = app
        .client
        .get(url("/v1/status"))
        .bearer_auth("t0ken")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let status: Value = r.json().await.unwrap();
    // secrets never appear in status
    assert!(!status.to_string().contains("s3cret-pass") && !status.to_string().contains("t0ken"));
    assert_eq!(status["list"]["brands"], 3);
    for open in ["/healthz", "/readyz", "/metrics"] {
        assert_eq!(
            app.client.get(url(open)).send().await.unwrap().status(),
            200,
            "{open}"
        );
    }
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn match_shows_verdicts_and_rejects_bad_requests() {
    let app = spawn_with_token().await;
    let post = |body: String| {
        app.client
            .post(format!("{}/v1/match", app.address))
            .bearer_auth("t0ken")
            .header("content-type", "application/json")
            .body(body)
            .send()
    };
    let r = post(json!({"names": ["xn--pypal-4ve.com", "www.paypal.com", "example.org", "10.1.1.1", "micrososft.com"]}).to_string())
        .await
        .unwrap();
    assert_eq!(r.status(), 200);
    let body: Value = r.json().await.unwrap();
    let res = body["results"].as_array().unwrap();
    assert_eq!(res[0]["matched"], true);
    assert_eq!(res[0]["brand"], "paypal.com");
    assert_eq!(res[0]["kind"], "exact_variant");
    assert_eq!(res[0]["severity"], "critical");
    assert!(res[0]["score"].as_u64().unwrap() >= 90);
    assert_eq!(res[0]["domain_unicode"], "pаypal.com");
    assert_eq!(res[1]["matched"], false);
    assert_eq!(res[1]["own_domain"], true);
    assert_eq!(res[2]["matched"], false);
    assert!(res[3]["error"].as_str().unwrap().contains("IP"));
    assert_eq!(res[4]["kind"], "typo");
    assert!(res[4]["explanation"].as_str().unwrap().contains("1 edit"));

    for (body, needle) in [
        ("{oops".to_string(), "invalid JSON"),
        (json!({"names": []}).to_string(), "empty"),
        (json!({"nams": ["a.com"]}).to_string(), "unknown field"),
        (json!({"names": vec!["a.com"; 1001]}).to_string(), "at most"),
    ] {
        let r = post(body).await.unwrap();
        assert_eq!(r.status(), 400);
        let e: Value = r.json().await.unwrap();
        assert_eq!(e["error"], "bad request");
        assert!(e["detail"].as_str().unwrap().contains(needle), "{e}");
    }
    let huge = json!({"names": vec!["a".repeat(60) + ".com"; 2000]}).to_string();
    assert_eq!(post(huge).await.unwrap().status(), 413);

    let r = app
        .client
        .get(format!("{}/v1/incidents?limit=0", app.address))
        .bearer_auth("t0ken")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 400);
    let r = app
        .client
        .get(format!(
            "{}/v1/incidents/01ARZ3NDEKTSV4RRFFQ69G5FAV",
            app.address
        ))
        .bearer_auth("t0ken")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_paginate_with_a_cursor() {
    let (app, certstream, receiver) = spawn_app().await;
    for (i, name) in [
        "paypa1.com",
        "app1e.com",
        "micros0ft.com",
        "paypa1.net",
        "rnicrosoft.org",
    ]
    .iter()
    .enumerate()
    {
        certstream.send_json(&cert_for(&[name], &i.to_string()));
    }
    receiver.wait_delivered("/webhook", 5).await;
    let mut seen = Vec::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("/v1/incidents?limit=2&after={c}"),
            None => "/v1/incidents?limit=2".to_string(),
        };
        let page = app.get_json(&q).await;
        for i in page["incidents"].as_array().unwrap() {
            seen.push(i["id"].as_str().unwrap().to_owned());
        }
        match page["next"].as_str() {
            Some(n) => cursor = Some(n.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 5);
    let unique: BTreeSet<_> = seen.iter().collect();
    assert_eq!(unique.len(), 5);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn openapi_yaml_describes_exactly_the_router() {
    let spec: Value = serde_norway::from_str(include_str!("../../openapi.yaml")).unwrap();
    let mut documented = BTreeSet::new();
    for (path, item) in spec["paths"].as_object().unwrap() {
        for method in item.as_object().unwrap().keys() {
            if ["get", "post", "put", "delete", "patch"].contains(&method.as_str()) {
                documented.insert((method.clone(), path.clone()));
            }
        }
    }
    let routed: BTreeSet<(String, String)> = certsentry::ROUTES
        .iter()
        .map(|(m, p)| (m.to_string(), p.to_string()))
        .collect();
    assert_eq!(documented, routed, "openapi.yaml and api::ROUTES differ");

    // and every route in the table is really served
    let (app, _certstream, _receiver) = spawn_app().await;
    for (method, path) in &routed {
        let path = path.replace("{id}", "01ARZ3NDEKTSV4RRFFQ69G5FAV");
        let url = format!("{}{path}", app.address);
        let resp = match method.as_str() {
            "get" => app.client.get(&url),
            "put" => app.client.put(&url).json(&json!({"a.com": []})),
            "patch" => app.client.patch(&url).json(&json!({"comment": "x"})),
            "delete" => app.client.delete(&url),
            _ => app.client.post(&url).json(&json!({"names": ["a.com"]})),
        }
        .send()
        .await
        .unwrap();
        assert_ne!(resp.status(), 405, "{method} {path}");
        let status = resp.status();
        if path == "/v1/events" {
            // an event stream: it answers, and does not end
            assert_eq!(status, 200);
            continue;
        }
        let body = resp.text().await.unwrap();
        assert!(
            !body.contains("no such route"),
            "{method} {path} is not routed ({status})"
        );
    }
    let resp = app
        .client
        .get(format!("{}/v1/nothing", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 404);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn incidents_can_be_filtered_and_exported() {
    let (app, certstream, receiver) = spawn_app().await;
    certstream.send_json(&cert_for(&["paypa1.com"], "f1"));
    certstream.send_json(&cert_for(&["micorsoft.com"], "f2"));
    let mut apple = cert_for(&["app1e.com"], "f3");
    // an attacker-chosen subject that a spreadsheet would run as a formula
    apple["data"]["leaf_cert"]["subject"]["aggregated"] = json!("=HYPERLINK(\"http://x\")");
    certstream.send_json(&apple);
    receiver.wait_delivered("/webhook", 3).await;
    let get = |q: &'static str| {
        let app = &app;
        async move {
            let v = app.get_json(&format!("/v1/incidents?{q}")).await;
            let mut domains: Vec<String> = v["incidents"]
                .as_array()
                .unwrap_or_else(|| panic!("{q}: {v}"))
                .iter()
                .map(|i| i["domain"].as_str().unwrap().to_owned())
                .collect();
            domains.sort();
            domains
        }
    };
    assert_eq!(get("brand=paypal.com").await, ["paypa1.com"]);
    assert_eq!(get("kind=typo").await, ["micorsoft.com"]);
    assert_eq!(get("severity=critical").await, ["app1e.com", "paypa1.com"]);
    assert_eq!(
        get("severity=high&brand=microsoft.com").await,
        ["micorsoft.com"]
    );
    assert_eq!(get("since=2000-01-01T00:00:00Z").await.len(), 3);
    assert!(get("since=2999-01-01T00:00:00Z").await.is_empty());
    for bad in [
        "severity=urgent",
        "kind=fuzzy",
        "since=yesterday",
        "format=csv",
        "limit=0",
        "colour=red",
    ] {
        let r = app
            .client
            .get(format!("{}/v1/incidents?{bad}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{bad}");
    }

    let export = |q: &'static str| {
        let app = &app;
        async move {
            let r = app
                .client
                .get(format!("{}/v1/incidents/export?{q}", app.address))
                .send()
                .await
                .unwrap();
            let status = r.status();
            let ctype = r
                .headers()
                .get("content-type")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            (status, ctype, r.text().await.unwrap())
        }
    };
    let (status, ctype, jsonl) = export("").await;
    assert_eq!(status, 200);
    assert_eq!(ctype, "application/x-ndjson");
    let lines: Vec<Value> = jsonl
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(
        lines,
        app.incidents().await,
        "the same incidents as the API"
    );

    let (status, ctype, csv) = export("format=csv&severity=critical").await;
    assert_eq!(status, 200);
    assert!(ctype.starts_with("text/csv"));
    let rows: Vec<&str> = csv.split("\r\n").filter(|l| !l.is_empty()).collect();
    assert_eq!(rows.len(), 3, "{csv}");
    assert!(rows[0].starts_with("id,first_seen,last_seen,sightings,brand,domain,"));
    let apple = rows.iter().find(|r| r.contains("app1e.com")).unwrap();
    assert!(
        apple.contains(r#","'=HYPERLINK(""http://x"")","#),
        "formula cells are defused: {apple}"
    );
    assert_eq!(export("format=xml").await.0, 400);
    assert_eq!(export("limit=5").await.0, 400);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_history_counts_incidents_per_hour_and_names_per_second() {
    let certstream = FakeCertstream::start().await;
    let receiver = Receiver::start().await;
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut settings = test_settings(dir.path(), &certstream.url, &receiver);
    settings.store.history_sample = std::time::Duration::from_millis(100);
    let app = spawn_app_with(settings, dir).await;
    certstream.wait_for_connections(1).await;
    certstream.send_json(&cert_for(&["paypa1.com", "www.example.org"], "h1"));
    certstream.send_json(&cert_for(&["app1e.com"], "h2"));
    receiver.wait_delivered("/webhook", 2).await;
    let url = format!("{}/v1/status/history?hours=3", app.address);
    eventually(
        std::time::Duration::from_secs(10),
        "names in the history",
        || async {
            let h: Value = app
                .client
                .get(&url)
                .send()
                .await
                .unwrap()
                .json()
                .await
                .unwrap();
            let names: f64 = h["names_per_second"]
                .as_array()
                .unwrap()
                .iter()
                .map(|p| p[1].as_f64().unwrap() * 60.0)
                .sum();
            (names - 3.0).abs() < 1e-6
        },
    )
    .await;
    let h: Value = app
        .client
        .get(&url)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let hours = h["incidents_per_hour"].as_array().unwrap();
    assert_eq!(hours.len(), 3);
    assert_eq!(hours[2][1], 2, "{h}");
    assert_eq!(hours[0][1], 0);
    let minutes = h["names_per_second"].as_array().unwrap();
    assert_eq!(minutes.len(), 180);
    // the buckets end now
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as i64;
    let last = minutes[179][0].as_i64().unwrap();
    assert!(now_ms - last < 60_000 && now_ms >= last);
    for bad in ["hours=0", "hours=49", "hours=x", "days=1"] {
        let r = app
            .client
            .get(format!("{}/v1/status/history?{bad}", app.address))
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), 400, "{bad}");
    }
    app.stop().await;
}
