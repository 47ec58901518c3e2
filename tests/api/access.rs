//! Who may do what: roles per token, console sessions (cookie attributes,
//! CSRF), foreign origins, rate-limited sign-in and the audit log.

use crate::helpers::*;
use certsentry::{Role, Secret, TokenSettings};
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use std::sync::Arc;

const VIEWER: &str = "viewer-token-0123456789";
const ANALYST: &str = "analyst-token-0123456789";
const ADMIN: &str = "admin-token-0123456789";

async fn spawn_with_roles() -> (TestApp, FakeCertstream, Receiver) {
    let certstream = FakeCertstream::start().await;
    let receiver = Receiver::start().await;
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut s = test_settings(dir.path(), &certstream.url, &receiver);
    s.api.sign_in_attempts = 3;
    s.api.tokens = [
        ("vic", VIEWER, Role::Viewer),
        ("ana", ANALYST, Role::Analyst),
        ("adam", ADMIN, Role::Admin),
    ]
    .into_iter()
    .map(|(name, token, role)| TokenSettings {
        name: name.into(),
        token: Secret::new(token),
        role,
    })
    .collect();
    let app = spawn_app_with(s, dir).await;
    certstream.wait_for_connections(1).await;
    (app, certstream, receiver)
}

/// A request with a bearer token.
async fn call(
    app: &TestApp,
    method: Method,
    path: &str,
    token: &str,
    body: Option<Value>,
) -> (StatusCode, Value) {
    let mut req = app
        .client
        .request(method, format!("{}{path}", app.address))
        .bearer_auth(token);
    if let Some(b) = body {
        req = req.json(&b);
    }
    let resp = req.send().await.unwrap();
    let status = resp.status();
    (status, resp.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn each_role_may_do_its_own_work_and_no_more() {
    let (app, certstream, receiver) = spawn_with_roles().await;
    certstream.send_json(&cert_for(&["paypa1.com"], "roles-1"));
    receiver.wait_delivered("/webhook", 1).await;
    let (_, list) = call(&app, Method::GET, "/v1/incidents", VIEWER, None).await;
    let id = list["incidents"][0]["id"].as_str().unwrap().to_owned();
    let incident = format!("/v1/incidents/{id}");
    let triage = json!({"state": "investigating"});
    let suppression = json!({"domain": "paypa1.com", "reason": "test"});

    // viewer: reads, tries names; no triage, no lists, no deliveries
    for path in [
        "/v1/status",
        "/v1/incidents",
        "/v1/suppressions",
        "/v1/deliveries",
        incident.as_str(),
    ] {
        assert_eq!(
            call(&app, Method::GET, path, VIEWER, None).await.0,
            200,
            "{path}"
        );
    }
    let (s, _) = call(
        &app,
        Method::POST,
        "/v1/match",
        VIEWER,
        Some(json!({"names": ["paypa1.com"]})),
    )
    .await;
    assert_eq!(s, 200);
    let (s, body) = call(&app, Method::PATCH, &incident, VIEWER, Some(triage.clone())).await;
    assert_eq!(s, 403);
    assert_eq!(body["error"], "forbidden");
    assert!(
        body["detail"]
            .as_str()
            .unwrap()
            .contains("needs the analyst role"),
        "{body}"
    );
    assert_eq!(
        call(
            &app,
            Method::POST,
            "/v1/suppressions",
            VIEWER,
            Some(suppression.clone())
        )
        .await
        .0,
        403
    );
    assert_eq!(
        call(&app, Method::POST, "/v1/lists/reload", VIEWER, None)
            .await
            .0,
        403
    );
    assert_eq!(
        call(&app, Method::GET, "/v1/audit", VIEWER, None).await.0,
        403
    );

    // analyst: triage and suppressions; not lists, deliveries or the audit log
    assert_eq!(
        call(
            &app,
            Method::PATCH,
            &incident,
            ANALYST,
            Some(triage.clone())
        )
        .await
        .0,
        200
    );
    let (s, sup) = call(
        &app,
        Method::POST,
        "/v1/suppressions",
        ANALYST,
        Some(suppression),
    )
    .await;
    assert!(s.is_success(), "{s} {sup}");
    assert_eq!(
        call(&app, Method::POST, "/v1/lists/reload", ANALYST, None)
            .await
            .0,
        403
    );
    // (delivered rows leave the outbox: the admin gets a 404, not a 403)
    let retry = "/v1/deliveries/999/retry";
    assert_eq!(call(&app, Method::POST, retry, ANALYST, None).await.0, 403);
    assert_eq!(
        call(&app, Method::GET, "/v1/audit", ANALYST, None).await.0,
        403
    );

    // admin: everything
    assert_eq!(
        call(&app, Method::POST, "/v1/lists/reload", ADMIN, None)
            .await
            .0,
        200
    );
    assert_eq!(call(&app, Method::POST, retry, ADMIN, None).await.0, 404);

    // the audit log: every change and every refusal, with who and the role
    let (s, log) = call(&app, Method::GET, "/v1/audit", ADMIN, None).await;
    assert_eq!(s, 200);
    let entries = log["entries"].as_array().unwrap();
    let has = |actor: &str, action: &str, status: u64| {
        entries
            .iter()
            .any(|e| e["actor"] == actor && e["action"] == action && e["status"] == status)
    };
    assert!(has("vic", "PATCH /v1/incidents/{id}", 403), "{log}");
    assert!(has("ana", "PATCH /v1/incidents/{id}", 200), "{log}");
    assert!(has("ana", "POST /v1/deliveries/{id}/retry", 403), "{log}");
    assert!(has("adam", "POST /v1/lists/reload", 200), "{log}");
    assert!(
        entries
            .iter()
            .all(|e| e["action"].as_str().unwrap().split(' ').next() != Some("GET"))
    );
    let ana = entries.iter().find(|e| e["actor"] == "ana").unwrap();
    assert_eq!(ana["role"], "analyst");
    let target = ana["target"].as_str().unwrap();
    assert!(target.starts_with("/v1/"), "{target}");
    app.stop().await;
}

fn session_cookie(resp: &reqwest::Response) -> String {
    resp.headers()["set-cookie"].to_str().unwrap().to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_console_session_is_a_strict_cookie_and_changes_need_its_csrf_token() {
    let (app, certstream, receiver) = spawn_with_roles().await;
    certstream.send_json(&cert_for(&["paypa1.com"], "session-1"));
    receiver.wait_delivered("/webhook", 1).await;
    let url = |p: &str| format!("{}{p}", app.address);

    let resp = app
        .client
        .post(url("/v1/session"))
        .json(&json!({"token": ANALYST}))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let set = session_cookie(&resp);
    for attr in [
        "certsentry_session=",
        "HttpOnly",
        "SameSite=Strict",
        "Path=/",
    ] {
        assert!(set.contains(attr), "{set}");
    }
    assert!(!set.contains("Secure"), "plain HTTP on loopback: {set}");
    let me: Value = resp.json().await.unwrap();
    assert_eq!(me["name"], "ana");
    assert_eq!(me["role"], "analyst");
    let csrf = me["csrf_token"].as_str().unwrap().to_owned();
    assert_eq!(csrf.len(), 64);
    let cookie = set.split(';').next().unwrap().to_owned();

    // the cookie alone reads
    let who: Value = app
        .client
        .get(url("/v1/session"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(who["name"], "ana");
    let id = app
        .client
        .get(url("/v1/incidents"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap()
        .json::<Value>()
        .await
        .unwrap()["incidents"][0]["id"]
        .as_str()
        .unwrap()
        .to_owned();
    let patch = |csrf: Option<&str>, origin: Option<&str>| {
        let mut r = app
            .client
            .patch(url(&format!("/v1/incidents/{id}")))
            .header("cookie", &cookie)
            .json(&json!({"state": "investigating"}));
        if let Some(c) = csrf {
            r = r.header("x-csrf-token", c);
        }
        if let Some(o) = origin {
            r = r.header("origin", o);
        }
        r.send()
    };
    // ... but a change without the CSRF token, or with a wrong one, is refused
    let r = patch(None, None).await.unwrap();
    assert_eq!(r.status(), 403);
    let body: Value = r.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("x-csrf-token"),
        "{body}"
    );
    assert_eq!(
        patch(Some("0".repeat(64).as_str()), None)
            .await
            .unwrap()
            .status(),
        403
    );
    // a page on another site is refused even with the right token
    assert_eq!(
        patch(Some(&csrf), Some("https://evil.example"))
            .await
            .unwrap()
            .status(),
        403
    );
    let own = app.address.clone();
    assert_eq!(patch(Some(&csrf), Some(&own)).await.unwrap().status(), 200);

    // sign out: the cookie is cleared and the session is gone
    let r = app
        .client
        .delete(url("/v1/session"))
        .header("cookie", &cookie)
        .header("x-csrf-token", &csrf)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    assert!(session_cookie(&r).contains("Max-Age=0"));
    let r = app
        .client
        .get(url("/v1/incidents"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 401);

    // behind a TLS proxy the cookie is Secure
    let r = app
        .client
        .post(url("/v1/session"))
        .header("x-forwarded-proto", "https")
        .json(&json!({"token": VIEWER}))
        .send()
        .await
        .unwrap();
    assert!(session_cookie(&r).contains("; Secure"));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_sign_ins_are_limited_per_address_and_audited() {
    let (app, _certstream, _receiver) = spawn_with_roles().await;
    let sign_in = |token: &str| {
        app.client
            .post(format!("{}/v1/session", app.address))
            .json(&json!({"token": token}))
            .send()
    };
    for _ in 0..3 {
        assert_eq!(sign_in("guess").await.unwrap().status(), 401);
    }
    // sign_in_attempts = 3: now even the right token waits
    let r = sign_in(ADMIN).await.unwrap();
    assert_eq!(r.status(), 429);
    let wait: u64 = r.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&wait), "{wait}");
    // held before the body is even read
    let r = app
        .client
        .post(format!("{}/v1/session", app.address))
        .header("content-type", "application/json")
        .body("{\"tok")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 429);
    // bearer tokens are not held: scripts keep working
    let (s, log) = call(&app, Method::GET, "/v1/audit", ADMIN, None).await;
    assert_eq!(s, 200);
    let failures = log["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| {
            e["action"] == "POST /v1/session" && e["status"] == 401 && e["actor"] == "unknown"
        })
        .count();
    assert_eq!(failures, 3, "{log}");
    app.stop().await;
}
