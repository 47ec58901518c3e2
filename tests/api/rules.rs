//! Rules added through the API (the console's Rules page): checked, kept in
//! the store across restarts, applied to the next certificate without a
//! reload, removed again; the configured rules stay read-only.

use crate::helpers::*;
use serde_json::{Value, json};
use std::sync::Arc;

async fn post_rule(app: &TestApp, rule: Value) -> (u16, Value) {
    let r = app
        .client
        .post(format!("{}/v1/rules", app.address))
        .json(&rule)
        .send()
        .await
        .unwrap();
    (r.status().as_u16(), r.json().await.unwrap_or(Value::Null))
}

fn brands(incidents: &[Value]) -> Vec<String> {
    incidents
        .iter()
        .map(|i| {
            format!(
                "{} {}",
                i["brand"].as_str().unwrap(),
                i["domain"].as_str().unwrap()
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rule_added_through_the_api_alerts_at_once_survives_a_restart_and_can_be_removed() {
    let certstream = FakeCertstream::start().await;
    let receiver = Receiver::start().await;
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut settings = test_settings(dir.path(), &certstream.url, &receiver);
    settings.matcher.rules = vec![certsentry::RuleSettings {
        name: "configured".into(),
        regex: "^evil-".into(),
        ..Default::default()
    }];
    let app = spawn_app_with(settings.clone(), dir.clone()).await;
    certstream.wait_for_connections(1).await;

    // refused: a bad regex, both kinds, a threshold above the keywords, a taken name
    let (s, body) = post_rule(&app, json!({"name": "bad", "regex": "(unclosed"})).await;
    assert_eq!(s, 400, "{body}");
    assert!(
        body["detail"].as_str().unwrap().contains("rule.regex"),
        "{body}"
    );
    let (s, _) = post_rule(
        &app,
        json!({"name": "both", "regex": "x", "keywords": ["y"]}),
    )
    .await;
    assert_eq!(s, 400);
    let (s, _) = post_rule(
        &app,
        json!({"name": "many", "keywords": ["a"], "threshold": 2}),
    )
    .await;
    assert_eq!(s, 400);
    let (s, body) = post_rule(&app, json!({"name": "configured", "regex": "x"})).await;
    assert_eq!(s, 400, "{body}");
    let (s, _) = post_rule(&app, json!({"name": "x", "regex": "x", "colour": "red"})).await;
    assert_eq!(s, 400, "unknown fields are refused");

    let (s, added) = post_rule(
        &app,
        json!({"name": "wallet-drain", "keywords": ["wallet", "connect"], "threshold": 2, "severity": "high"}),
    )
    .await;
    assert_eq!(s, 201, "{added}");
    let id = added["id"].as_i64().unwrap();
    let (s, _) = post_rule(&app, json!({"name": "wallet-drain", "regex": "x"})).await;
    assert_eq!(s, 409, "the name is taken");

    certstream.send_json(&cert_for(&["wallet-connect-claim.xyz"], "rule-1"));
    receiver.wait_delivered("/webhook", 1).await;
    let incidents = app.incidents().await;
    assert_eq!(
        brands(&incidents),
        ["rule:wallet-drain wallet-connect-claim.xyz"]
    );
    assert_eq!(incidents[0]["match"]["kind"], "rule");
    assert_eq!(incidents[0]["severity"], "high");

    let rules = app.get_json("/v1/rules").await;
    assert_eq!(rules["configured"][0]["name"], "configured");
    assert_eq!(rules["console"][0]["name"], "wallet-drain");
    assert_eq!(rules["console"][0]["created_by"], "anonymous");

    // kept in the store: a restart still has it
    app.stop().await;
    let app = spawn_app_with(settings, dir).await;
    certstream.wait_for_connections(1).await;
    assert_eq!(app.get_json("/v1/rules").await["console"][0]["id"], id);
    certstream.send_json(&cert_for(&["connect-wallet-now.xyz"], "rule-2"));
    receiver.wait_delivered("/webhook", 2).await;

    // removed: the same kind of name no longer alerts (paypa1.com, sent
    // after it, shows the pipeline has passed it)
    let r = app
        .client
        .delete(format!("{}/v1/rules/{id}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 204);
    let r = app
        .client
        .delete(format!("{}/v1/rules/{id}", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), 404);
    certstream.send_json(&cert_for(&["wallet-connect-bonus.xyz"], "rule-3"));
    certstream.send_json(&cert_for(&["paypa1.com"], "rule-4"));
    receiver.wait_delivered("/webhook", 3).await;
    let mut seen = brands(&app.incidents().await);
    seen.sort();
    assert_eq!(
        seen,
        [
            "paypal.com paypa1.com",
            "rule:wallet-drain connect-wallet-now.xyz",
            "rule:wallet-drain wallet-connect-claim.xyz"
        ]
    );
    // the audit log has the additions and the removal
    let audit = app.get_json("/v1/audit").await;
    let actions: Vec<&str> = audit["entries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|e| e["status"] == 201 || e["status"] == 204)
        .map(|e| e["action"].as_str().unwrap())
        .collect();
    assert_eq!(actions, ["DELETE /v1/rules/{id}", "POST /v1/rules"]);
    app.stop().await;
}
