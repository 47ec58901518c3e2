//! The HTTP API: auth, match, errors, limits, and openapi.yaml = the router.

use crate::helpers::*;
use certsentry::config::Secret;
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
    let routed: BTreeSet<(String, String)> = certsentry::api::ROUTES
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
            "get" => app.client.get(&url).send().await.unwrap(),
            _ => app
                .client
                .post(&url)
                .json(&json!({"names": ["a.com"]}))
                .send()
                .await
                .unwrap(),
        };
        assert_ne!(resp.status(), 405, "{method} {path}");
        let status = resp.status();
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
