//! Contract tests per SOAR sink: the exact request each platform expects
//! (reference/soar.md), its duplicate answers, signing, and the delivery
//! guarantees around them (Retry-After, failed deliveries, several sinks).

use crate::helpers::*;
use certsentry::{
    FileFormat, FileSettings, HttpSettings, Secret, SinkFormat, SinkSettings, SplunkSoarSettings,
    TheHiveSettings, XsoarRestSettings,
};
use serde_json::{Value, json};
use std::collections::HashSet;
use std::sync::Arc;
use std::time::Duration;

/// An app whose only sinks are `sinks`, with the certstream server and receiver.
async fn app_with_sinks(
    sinks: impl FnOnce(&Receiver) -> Vec<SinkSettings>,
    tweak: impl FnOnce(&mut certsentry::Settings),
) -> (TestApp, FakeCertstream, Receiver) {
    let certstream = FakeCertstream::start().await;
    let receiver = Receiver::start().await;
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut settings = test_settings(dir.path(), &certstream.url, &receiver);
    settings.sinks = sinks(&receiver);
    tweak(&mut settings);
    let app = spawn_app_with(settings, dir).await;
    certstream.wait_for_connections(1).await;
    (app, certstream, receiver)
}

fn lookalike() -> Value {
    cert_for(
        &[
            "paypa1.com",
            "www.paypa1.com",
            "*.paypa1.com",
            "unrelated.org",
        ],
        "sinks",
    )
}

fn plain_hex(colon: &str) -> String {
    colon.replace(':', "").to_ascii_lowercase()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn xsoar_rest_creates_incidents_on_xsoar_6_and_8() {
    let (app, certstream, receiver) = app_with_sinks(
        |r| {
            vec![
                SinkSettings::new(
                    "x6",
                    SinkFormat::XsoarRest(XsoarRestSettings {
                        http: http(format!("{}/", r.base), "API-KEY-6"),
                        ..XsoarRestSettings::default()
                    }),
                ),
                SinkSettings::new(
                    "x8",
                    SinkFormat::XsoarRest(XsoarRestSettings {
                        http: http(format!("{}/api8", r.base), "API-KEY-8"),
                        api_key_id: "42".into(),
                        xsoar_version: 8,
                        ..XsoarRestSettings::default()
                    }),
                ),
            ]
        },
        |_| {},
    )
    .await;
    let msg = lookalike();
    let v6 = send_and_wait(&certstream, &receiver, &msg, "/incident", 1).await;
    let v8 = receiver
        .wait_delivered("/api8/xsoar/public/v1/incident", 1)
        .await;
    let incident = &app.incidents().await[0];
    let leaf = &msg["data"]["leaf_cert"];

    let r6 = &v6[0];
    assert_eq!(r6.method, "POST");
    assert_eq!(r6.headers["authorization"], "API-KEY-6");
    assert!(r6.headers.get("x-xdr-auth-id").is_none());
    assert_eq!(r6.headers["content-type"], "application/json");
    assert_eq!(
        r6.headers["idempotency-key"],
        incident["dedup_key"].as_str().unwrap()
    );
    let b = &r6.body;
    assert_eq!(b["name"], "Suspicious Domain Discovered - paypa1.com");
    assert_eq!(b["type"], "CertSentry Lookalike Domain");
    assert_eq!(b["severity"], 4, "critical is 4 on XSOAR's scale");
    assert_eq!(b["occurred"], incident["first_seen"]);
    assert_eq!(b["details"], incident["match"]["explanation"]);
    assert_eq!(b["createInvestigation"], true);
    assert!(b.get("id").is_none() && b.get("version").is_none());
    let cf = &b["CustomFields"];
    assert_eq!(cf["certstreamfingerprint"], leaf["sha1"]);
    assert_eq!(cf["certstreamuserasset"], "paypal.com");
    assert_eq!(
        cf["certstreamcertificatesource"],
        msg["data"]["source"]["name"]
    );
    assert_eq!(cf["certstreamcertificateindex"], msg["data"]["cert_index"]);
    assert_eq!(cf["domain"], "paypa1.com");
    assert_eq!(cf["externallink"], msg["data"]["cert_link"]);
    let sim = cf["certstreamlevenshteindistance"].as_f64().unwrap();
    assert!((sim - 5.0 / 6.0).abs() < 0.001, "paypa1 vs paypal: {sim}");
    // rawJSON is a string holding the incident
    let raw: Value = serde_json::from_str(b["rawJSON"].as_str().unwrap()).unwrap();
    assert_eq!(raw, *incident);
    let labels = b["labels"].as_array().unwrap();
    assert!(labels.contains(&json!({"type": "Brand", "value": "paypal.com"})));
    assert!(
        labels
            .iter()
            .all(|l| l["type"].is_string() && l["value"].is_string())
    );

    let r8 = &v8[0];
    assert_eq!(r8.headers["authorization"], "API-KEY-8");
    assert_eq!(r8.headers["x-xdr-auth-id"], "42");
    assert_eq!(r8.body["CustomFields"], *cf);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn thehive_alerts_carry_unique_observables_and_already_exists_counts_as_delivered() {
    let (app, certstream, receiver) = app_with_sinks(
        |r| {
            vec![SinkSettings::new(
                "hive",
                SinkFormat::Thehive(TheHiveSettings {
                    http: http(r.base.clone(), "hive-key"),
                    organisation: "SOC".into(),
                    tlp: 3,
                    pap: 1,
                    tags: vec!["phishing".into()],
                    ..TheHiveSettings::default()
                }),
            )]
        },
        |_| {},
    )
    .await;
    let msg = lookalike();
    let alerts = send_and_wait(&certstream, &receiver, &msg, "/api/v1/alert", 1).await;
    let incident = &app.incidents().await[0];
    let a = &alerts[0];
    assert_eq!(a.headers["authorization"], "Bearer hive-key");
    assert_eq!(a.headers["x-organisation"], "SOC");
    let b = &a.body;
    assert_eq!(b["type"], "lookalike-domain");
    assert_eq!(b["source"], "certsentry");
    assert_eq!(b["sourceRef"], incident["dedup_key"]);
    assert_eq!(b["title"], "Suspicious Domain Discovered - paypa1.com");
    assert!(b["description"].as_str().unwrap().contains("paypa1.com"));
    assert!(
        b["description"]
            .as_str()
            .unwrap()
            .contains(msg["data"]["leaf_cert"]["sha256"].as_str().unwrap())
    );
    assert_eq!(b["severity"], 4);
    assert_eq!((b["tlp"].as_u64(), b["pap"].as_u64()), (Some(3), Some(1)));
    let first_seen_ms = humantime::parse_rfc3339(incident["first_seen"].as_str().unwrap())
        .unwrap()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis() as u64;
    assert_eq!(b["date"].as_u64(), Some(first_seen_ms));
    assert_eq!(b["externalLink"], msg["data"]["cert_link"]);
    let tags: Vec<&str> = b["tags"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t.as_str().unwrap())
        .collect();
    assert!(tags.contains(&"phishing") && tags.contains(&"brand:paypal.com"));
    let obs = b["observables"].as_array().unwrap();
    let data: Vec<(&str, &str)> = obs
        .iter()
        .map(|o| (o["dataType"].as_str().unwrap(), o["data"].as_str().unwrap()))
        .collect();
    let sha = plain_hex(msg["data"]["leaf_cert"]["sha256"].as_str().unwrap());
    assert_eq!(
        data,
        vec![
            ("domain", "paypa1.com"),
            ("fqdn", "www.paypa1.com"),
            ("hash", sha.as_str())
        ],
        "the domain once (the wildcard and the bare name fold into it), no unrelated name"
    );
    let unique: HashSet<&str> = data.iter().map(|d| d.1).collect();
    assert_eq!(unique.len(), data.len());

    // TheHive answers a second alert with the same sourceRef "already exists"
    receiver.answer_next_with(&[Answer::new(
        400,
        r#"{"type":"CreateError","message":"Alert lookalike-domain/certsentry/x already exists"}"#,
    )]);
    certstream.send_json(&cert_for(&["paypa1.net"], "dup"));
    eventually(Duration::from_secs(10), "the duplicate answer", || {
        let r = receiver.clone();
        async move { r.requests().len() == 2 }
    })
    .await;
    eventually(Duration::from_secs(5), "outbox empty", || {
        let app = &app;
        async move {
            let s = app.get_json("/v1/status").await;
            s["sinks"][0]["pending"] == 0
        }
    })
    .await;
    let status = app.get_json("/v1/status").await;
    assert_eq!(
        status["sinks"][0]["failed"], 0,
        "already exists is delivered"
    );
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(receiver.requests().len(), 2, "and not retried");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn splunk_soar_containers_with_artifacts_and_existing_container_id() {
    let (app, certstream, receiver) = app_with_sinks(
        |r| {
            vec![SinkSettings::new(
                "splunk",
                SinkFormat::SplunkSoar(SplunkSoarSettings {
                    http: http(r.base.clone(), "ph-token"),
                    label: "phishing".into(),
                    tlp: 1,
                    ..SplunkSoarSettings::default()
                }),
            )]
        },
        |_| {},
    )
    .await;
    let msg = lookalike();
    let got = send_and_wait(&certstream, &receiver, &msg, "/rest/container", 1).await;
    let incident = &app.incidents().await[0];
    let c = &got[0];
    assert_eq!(c.headers["ph-auth-token"], "ph-token");
    let b = &c.body;
    let key = incident["dedup_key"].as_str().unwrap();
    assert_eq!(b["name"], "Suspicious Domain Discovered - paypa1.com");
    assert_eq!(b["label"], "phishing");
    assert_eq!(b["severity"], "high");
    assert_eq!(b["sensitivity"], "green");
    assert_eq!(b["source_data_identifier"], key);
    assert_eq!(b["data"], *incident);
    let arts = b["artifacts"].as_array().unwrap();
    assert_eq!(arts.len(), 2);
    assert_eq!(arts[0]["cef"]["destinationDnsDomain"], "paypa1.com");
    assert_eq!(arts[0]["cef"]["destinationHostName"], "paypa1.com");
    assert_eq!(
        arts[0]["cef"]["lookalikeNames"],
        json!(["paypa1.com", "www.paypa1.com"])
    );
    assert_eq!(
        arts[0]["cef_types"]["destinationDnsDomain"],
        json!(["domain"])
    );
    assert_eq!(arts[0]["source_data_identifier"], format!("{key}-domain"));
    let leaf = &msg["data"]["leaf_cert"];
    assert_eq!(
        arts[1]["cef"]["fileHashSha256"],
        plain_hex(leaf["sha256"].as_str().unwrap())
    );
    assert_eq!(
        arts[1]["cef"]["certificateSerialNumber"],
        leaf["serial_number"]
    );
    assert_eq!(arts[1]["cef"]["certificateNames"], leaf["all_domains"]);
    assert_eq!(arts[1]["run_automation"], true);

    // a duplicate container: delivered; a refusal in a 200: failed, kept
    receiver.answer_next_with(&[
        Answer::new(
            200,
            r#"{"existing_container_id": 17, "failed": true, "message": "duplicate"}"#,
        ),
        Answer::new(
            200,
            r#"{"failed": true, "message": "label phishing does not exist"}"#,
        ),
    ]);
    certstream.send_json(&cert_for(&["paypa1.net"], "dup"));
    certstream.send_json(&cert_for(&["paypa1.org"], "refused"));
    eventually(Duration::from_secs(10), "one failed delivery", || {
        let app = &app;
        async move {
            let s = app.get_json("/v1/status").await;
            s["sinks"][0]["failed"] == 1 && s["sinks"][0]["pending"] == 0
        }
    })
    .await;
    let failed = app.get_json("/v1/deliveries?state=failed").await;
    let rows = failed["deliveries"].as_array().unwrap();
    assert_eq!(rows.len(), 1);
    assert!(
        rows[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("label phishing does not exist"),
        "{rows:?}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn signed_webhooks_verify_with_the_standard_webhooks_scheme() {
    use base64::Engine;
    use hmac::{KeyInit, Mac};
    let secret_bytes = b"0123456789abcdef0123456789abcdef";
    let secret = format!(
        "whsec_{}",
        base64::engine::general_purpose::STANDARD.encode(secret_bytes)
    );
    let (app, certstream, receiver) = app_with_sinks(
        |r| {
            vec![webhook_sink(
                "signed",
                HttpSettings {
                    secret: Secret::new(secret.clone()),
                    ..http(format!("{}/hook", r.base), "")
                },
            )]
        },
        |_| {},
    )
    .await;
    // one refusal, so the retry shows the same id with a fresh signature
    receiver.answer_next(&[503]);
    let got = send_and_wait(&certstream, &receiver, &lookalike(), "/hook", 1).await;
    let all = receiver.requests();
    assert_eq!(all.len(), 2);
    for r in &all {
        let id = r.headers["webhook-id"].to_str().unwrap();
        let ts = r.headers["webhook-timestamp"].to_str().unwrap();
        let sig = r.headers["webhook-signature"].to_str().unwrap();
        let mut mac = hmac::Hmac::<sha2::Sha256>::new_from_slice(secret_bytes).unwrap();
        mac.update(format!("{id}.{ts}.").as_bytes());
        mac.update(&r.raw);
        let expected = format!(
            "v1,{}",
            base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
        );
        assert_eq!(sig, expected);
        assert_eq!(id, r.headers["idempotency-key"].to_str().unwrap());
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_secs();
        assert!(now.abs_diff(ts.parse::<u64>().unwrap()) < 30);
    }
    assert_eq!(
        all[0].headers["webhook-id"], all[1].headers["webhook-id"],
        "a retry keeps its id"
    );
    assert_eq!(got[0].body["domain"], "paypa1.com");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn retry_after_is_honoured() {
    let (app, certstream, receiver) = app_with_sinks(
        |r| vec![webhook_sink("hook", http(format!("{}/hook", r.base), ""))],
        |s| s.delivery.max_backoff = Duration::from_secs(10),
    )
    .await;
    receiver.answer_next_with(&[
        Answer::new(429, "slow down").header("Retry-After", "2"),
        Answer::new(500, "oops"),
    ]);
    send_and_wait(&certstream, &receiver, &lookalike(), "/hook", 1).await;
    let all = receiver.requests();
    assert_eq!(all.len(), 3);
    // the 429 said "Retry-After: 2": the next attempt waited for it (the
    // configured backoff alone would have retried after ~50 ms); the 500
    // that followed used the ordinary backoff
    let waited = all[1].at - all[0].at;
    assert!(waited >= Duration::from_millis(1900), "{waited:?}");
    assert!(all[2].at - all[1].at < Duration::from_millis(1900));
    let log = app.get_json("/v1/status").await;
    assert_eq!(log["sinks"][0]["failed"], 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn failed_deliveries_are_listed_and_can_be_retried() {
    let (app, certstream, receiver) = app_with_sinks(
        |r| vec![webhook_sink("hook", http(format!("{}/hook", r.base), ""))],
        |_| {},
    )
    .await;
    receiver.answer_next_with(&[Answer::new(400, r#"{"error": "bad field"}"#)]);
    certstream.send_json(&lookalike());
    eventually(Duration::from_secs(10), "a failed delivery", || {
        let app = &app;
        async move { app.get_json("/v1/status").await["sinks"][0]["failed"] == 1 }
    })
    .await;
    let failed = app.get_json("/v1/deliveries?state=failed").await;
    let row = &failed["deliveries"][0];
    assert_eq!(row["sink"], "hook");
    assert_eq!(row["state"], "failed");
    assert_eq!(row["domain"], "paypa1.com");
    assert_eq!(row["brand"], "paypal.com");
    assert_eq!(row["attempts"], 1);
    assert!(row["last_error"].as_str().unwrap().contains("400"));
    assert!(row["last_error"].as_str().unwrap().contains("bad field"));
    assert_eq!(app.metric("certsentry_deliveries_failed_total").await, 1);
    let id = row["id"].as_i64().unwrap();

    let retry = |id: String| {
        let app = &app;
        async move {
            app.client
                .post(format!("{}/v1/deliveries/{id}/retry", app.address))
                .send()
                .await
                .unwrap()
        }
    };
    let r = retry(id.to_string()).await;
    assert_eq!(r.status(), 200);
    receiver.wait_delivered("/hook", 1).await;
    eventually(Duration::from_secs(5), "outbox empty", || {
        let app = &app;
        async move {
            let s = app.get_json("/v1/status").await;
            s["sinks"][0]["failed"] == 0 && s["sinks"][0]["pending"] == 0
        }
    })
    .await;
    assert_eq!(
        retry(id.to_string()).await.status(),
        404,
        "delivered rows are gone"
    );
    assert_eq!(retry("abc".into()).await.status(), 400);
    let bad = app
        .client
        .get(format!("{}/v1/deliveries?state=delivered", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);

    // a pending row is not "retried" over its schedule
    receiver.set_default(503);
    certstream.send_json(&cert_for(&["paypa1.net"], "pending"));
    eventually(Duration::from_secs(10), "a pending delivery", || {
        let app = &app;
        async move {
            app.get_json("/v1/deliveries?state=pending").await["deliveries"]
                .as_array()
                .is_some_and(|a| a.len() == 1)
        }
    })
    .await;
    let pending = app.get_json("/v1/deliveries?state=pending&sink=hook").await;
    let pid = pending["deliveries"][0]["id"].as_i64().unwrap();
    assert_eq!(retry(pid.to_string()).await.status(), 409);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sink_that_is_down_does_not_hold_up_another() {
    let dead = {
        let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        l.local_addr().unwrap()
    };
    let (app, certstream, receiver) = app_with_sinks(
        |r| {
            vec![
                webhook_sink("down", http(format!("http://{dead}/hook"), "")),
                webhook_sink("up", http(format!("{}/hook", r.base), "")),
            ]
        },
        |_| {},
    )
    .await;
    for i in 0..5 {
        certstream.send_json(&cert_for(&[&format!("paypa1-{i}.com")], "two"));
        certstream.send_json(&cert_for(
            &[&format!(
                "paypa1.{}",
                ["net", "org", "info", "biz", "co"][i]
            )],
            "two",
        ));
    }
    let got = receiver.wait_delivered("/hook", 5).await;
    assert!(got.len() >= 5);
    let status = app.get_json("/v1/status").await;
    let sinks = status["sinks"].as_array().unwrap();
    let down = sinks.iter().find(|s| s["name"] == "down").unwrap();
    assert!(down["pending"].as_u64().unwrap() >= 5, "{status}");
    assert_eq!(
        down["failed"], 0,
        "connection refused is retried, not failed"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_for_new_certificates_are_sent_only_when_enabled() {
    for send_updates in [false, true] {
        let (app, certstream, receiver) = app_with_sinks(
            |r| vec![webhook_sink("hook", http(format!("{}/hook", r.base), ""))],
            |s| s.incidents.send_updates = send_updates,
        )
        .await;
        let first = cert_for(&["paypa1.com"], "first");
        send_and_wait(&certstream, &receiver, &first, "/hook", 1).await;
        certstream.send_json(&cert_for(&["www.paypa1.com"], "second"));
        // the same certificate again is never an update
        certstream.send_json(&first);
        tokio::time::sleep(Duration::from_millis(800)).await;
        let got = receiver.delivered("/hook");
        if !send_updates {
            assert_eq!(got.len(), 1);
            assert_eq!(app.incidents().await[0]["sightings"], 2);
            app.stop().await;
            continue;
        }
        assert_eq!(got.len(), 2, "one update");
        let (orig, update) = (&got[0].body, &got[1].body);
        assert_eq!(update["update_of"], orig["id"]);
        assert_eq!(update["dedup_key"], orig["dedup_key"]);
        assert_eq!(update["domain"], "www.paypa1.com");
        assert_eq!(update["sightings"], 2);
        let key = got[1].headers["idempotency-key"].to_str().unwrap();
        assert_eq!(key, format!("{}-2", orig["dedup_key"].as_str().unwrap()));
        assert_ne!(
            got[0].headers["idempotency-key"],
            got[1].headers["idempotency-key"]
        );
        assert_eq!(app.metric("certsentry_incident_updates_total").await, 1);
        app.stop().await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn file_sinks_write_each_incident_whole_where_its_first_sighting_says() {
    let out = tempfile::tempdir().unwrap();
    let root = out.path().to_owned();
    let (app, certstream, _receiver) = app_with_sinks(
        |_| {
            vec![
                SinkSettings::new(
                    "dir",
                    SinkFormat::File(FileSettings {
                        path: format!("{}/alerts/%Y/%m/%d/%H", root.display()),
                        ..FileSettings::default()
                    }),
                ),
                SinkSettings::new(
                    "lines",
                    SinkFormat::File(FileSettings {
                        path: format!("{}/lines-%Y%m%d.jsonl", root.display()),
                        format: FileFormat::Jsonl,
                        ..FileSettings::default()
                    }),
                ),
            ]
        },
        |_| {},
    )
    .await;
    for (i, name) in ["paypa1.com", "micorsoft.com", "app1e.net"]
        .iter()
        .enumerate()
    {
        certstream.send_json(&cert_for(&[name], &format!("file-{i}")));
    }
    eventually(
        Duration::from_secs(20),
        "3 incidents in both file sinks",
        || {
            let app = &app;
            async move {
                let status = app.get_json("/v1/status").await;
                app.incidents().await.len() == 3
                    && status["sinks"]
                        .as_array()
                        .is_some_and(|s| s.iter().all(|k| k["pending"] == 0))
            }
        },
    )
    .await;
    let incidents = app.incidents().await;
    let mut lines_files = Vec::new();
    for incident in &incidents {
        let seen = incident["first_seen"].as_str().unwrap();
        let (y, m, d, h) = (&seen[0..4], &seen[5..7], &seen[8..10], &seen[11..13]);
        let file = root
            .join(format!("alerts/{y}/{m}/{d}/{h}"))
            .join(format!("{}.json", incident["dedup_key"].as_str().unwrap()));
        let written: Value = serde_json::from_slice(&std::fs::read(&file).unwrap()).unwrap();
        assert_eq!(&written, incident, "{}", file.display());
        lines_files.push(root.join(format!("lines-{y}{m}{d}.jsonl")));
    }
    lines_files.sort();
    lines_files.dedup();
    let lines: Vec<Value> = lines_files
        .iter()
        .flat_map(|f| json_lines(&std::fs::read(f).unwrap()))
        .collect();
    assert_eq!(lines.len(), 3);
    for incident in &incidents {
        assert!(lines.contains(incident), "{incident}");
    }
    let leftovers: Vec<_> = walkdir_names(&root)
        .into_iter()
        .filter(|n| n.contains(".tmp-"))
        .collect();
    assert!(leftovers.is_empty(), "{leftovers:?}");
}

/// Every file name under `dir`.
fn walkdir_names(dir: &std::path::Path) -> Vec<String> {
    let mut out = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            out.extend(walkdir_names(&path));
        } else {
            out.push(path.file_name().unwrap().to_string_lossy().into_owned());
        }
    }
    out
}
