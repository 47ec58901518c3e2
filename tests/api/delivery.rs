//! End to end: certstream frames in, incidents delivered to the receiver.

use crate::helpers::*;
use certsentry::Secret;
use serde_json::json;
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lookalike_becomes_exactly_one_incident_with_every_certificate_field() {
    let (app, certstream, receiver) = spawn_app().await;
    let real = real_messages();
    let lookalike = cert_for(&["paypa1.com", "www.paypa1.com", "*.paypa1.com"], "a");
    certstream.send_json(&real[0]); // unrelated
    certstream.send_json(&cert_for(&["www.paypal.com", "paypal.com"], "own")); // the brand's own
    certstream.send_json(&lookalike);
    certstream.send_json(&real[2]);

    let hooks = receiver.wait_delivered("/webhook", 1).await;
    let xsoar = receiver
        .wait_delivered("/instance/execute/certsentry", 1)
        .await;
    // nothing else arrives
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.delivered("/webhook").len(), 1);
    assert_eq!(receiver.delivered("/instance/execute/certsentry").len(), 1);

    let hook = &hooks[0];
    let body = &hook.body;
    let leaf = &lookalike["data"]["leaf_cert"];
    let data = &lookalike["data"];
    assert_eq!(hook.method, "POST");
    assert_eq!(body["brand"], "paypal.com");
    assert_eq!(body["registrable_domain"], "paypa1.com");
    assert_eq!(body["match"]["kind"], "exact_variant");
    assert_eq!(body["severity"], "critical");
    assert_eq!(
        hook.headers["idempotency-key"].to_str().unwrap(),
        body["dedup_key"].as_str().unwrap()
    );
    assert_eq!(hook.headers["x-tenant"], "blue");
    let c = &body["certificate"];
    assert_eq!(c["subject"], leaf["subject"]);
    assert_eq!(c["issuer"], leaf["issuer"]);
    assert_eq!(c["all_domains"], leaf["all_domains"]);
    assert_eq!(c["serial_number"], leaf["serial_number"]);
    assert_eq!(c["sha1"], leaf["sha1"]);
    assert_eq!(c["sha256"], leaf["sha256"]);
    assert_eq!(c["not_before"], leaf["not_before"]);
    assert_eq!(c["not_after"], leaf["not_after"]);
    assert_eq!(c["signature_algorithm"], leaf["signature_algorithm"]);
    assert_eq!(c["is_ca"], leaf["is_ca"]);
    assert_eq!(c["extensions"], leaf["extensions"]);
    assert_eq!(c["update_type"], data["update_type"]);
    let ct = &body["ct"];
    assert_eq!(ct["log_name"], data["source"]["name"]);
    assert_eq!(ct["log_url"], data["source"]["url"]);
    assert_eq!(ct["cert_index"], data["cert_index"]);
    assert_eq!(ct["cert_link"], data["cert_link"]);
    assert_eq!(ct["seen"], data["seen"]);

    // the XSOAR Generic Webhook request
    let x = &xsoar[0];
    assert_eq!(x.body["name"], "Suspicious Domain Discovered - paypa1.com");
    assert_eq!(x.body["type"], "CertSentry Lookalike Domain");
    assert_eq!(x.body["occurred"], body["first_seen"]);
    assert_eq!(x.body["raw_json"], *body);
    assert_eq!(x.body["rawJson"], *body);
    use base64::Engine;
    let basic = base64::engine::general_purpose::STANDARD.encode("certsentry:s3cret-pass");
    assert_eq!(
        x.headers["authorization"].to_str().unwrap(),
        format!("Basic {basic}")
    );

    // the pull API has it too
    let incidents = app.incidents().await;
    assert_eq!(incidents.len(), 1);
    let id = incidents[0]["id"].as_str().unwrap();
    let one = app.get_json(&format!("/v1/incidents/{id}")).await;
    assert_eq!(one["domain"], "paypa1.com");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_frames_heartbeats_and_dns_entries_do_not_stop_the_stream() {
    let (app, certstream, receiver) = spawn_app().await;
    certstream.send(ServerCmd::Text("{not json".into()));
    certstream.send(ServerCmd::Binary(vec![0xff, 0x00, 0x13]));
    certstream.send(ServerCmd::Text(
        r#"{"message_type":"certificate_update","data":{"leaf_cert":{"all_domains":"oops"}}}"#
            .into(),
    ));
    certstream.send_json(&json!({"message_type": "heartbeat", "timestamp": 1.0}));
    certstream.send_json(
        &json!({"message_type": "dns_entries", "data": ["mail.example.org", "rnicrosoft.com"]}),
    );
    certstream.send_json(&cert_for(&["xn--pypal-4ve.com"], "b"));

    let got = receiver.wait_delivered("/webhook", 2).await;
    let mut domains: Vec<&str> = got
        .iter()
        .map(|r| r.body["domain"].as_str().unwrap())
        .collect();
    domains.sort();
    assert_eq!(domains, vec!["rnicrosoft.com", "xn--pypal-4ve.com"]);
    let homograph = got
        .iter()
        .find(|r| r.body["domain"] == "rnicrosoft.com")
        .unwrap();
    assert_eq!(homograph.body["match"]["kind"], "homograph");
    assert_eq!(homograph.body["certificate"]["update_type"], "DomainsOnly");
    assert_eq!(app.metric("certsentry_bad_frames_total").await, 3);
    assert_eq!(app.metric("certsentry_heartbeats_total").await, 1);
    assert_eq!(app.metric("certsentry_dns_entries_total").await, 1);
    assert_eq!(app.metric("certsentry_reconnects_total").await, 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fields_of_an_unexpected_type_do_not_lose_the_certificate() {
    let (app, certstream, receiver) = spawn_app().await;
    let mut msg = cert_for(&["paypa1.com"], "drift");
    let leaf = &mut msg["data"]["leaf_cert"];
    leaf["not_before"] = json!("yesterday");
    leaf["subject"] = json!(42);
    leaf["extensions"] = json!("none");
    let issuer_o = leaf["issuer"]["O"].clone();
    certstream.send_json(&msg);

    let got = receiver.wait_delivered("/webhook", 1).await;
    let body = &got[0].body;
    assert_eq!(body["domain"], "paypa1.com");
    let cert = &body["certificate"];
    assert_eq!(cert["issuer"]["O"], issuer_o);
    assert!(cert["not_before"].is_null(), "{cert}");
    assert_eq!(cert["subject"], json!({}));
    assert_eq!(cert["sha256"], msg["data"]["leaf_cert"]["sha256"]);
    assert_eq!(app.metric("certsentry_bad_frames_total").await, 0);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropped_and_silent_connections_are_reconnected() {
    let (app, certstream, receiver) = spawn_app().await;
    // the client pings
    let pings = certstream.pings.clone();
    eventually(Duration::from_secs(5), "a ping", || {
        let p = pings.clone();
        async move { p.load(std::sync::atomic::Ordering::SeqCst) > 0 }
    })
    .await;

    certstream.send(ServerCmd::Drop);
    certstream.wait_for_connections(2).await;
    certstream.send_json(&cert_for(&["paypa1.com"], "c"));
    receiver.wait_delivered("/webhook", 1).await;

    // silent: socket open, no frames, no pongs; idle_timeout is 2s in tests
    certstream.send(ServerCmd::GoSilent);
    certstream.wait_for_connections(3).await;
    certstream.send_json(&cert_for(&["app1e.net"], "d"));
    receiver.wait_delivered("/webhook", 2).await;
    assert!(app.metric("certsentry_reconnects_total").await >= 2);
    let status = app.get_json("/v1/status").await;
    assert_eq!(status["source"]["state"], "connected");
    assert!(
        status["source"]["last_error"]
            .as_str()
            .unwrap()
            .contains("no frame"),
        "{status}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn list_changes_are_picked_up_and_a_broken_list_keeps_the_old_one() {
    let (app, certstream, receiver) = spawn_app().await;
    std::fs::write(
        &app.list_path,
        r#"{"paypal.com": ["paypa1"], "barclays.co.uk": []}"#,
    )
    .unwrap();
    let me = &app;
    eventually(
        Duration::from_secs(10),
        "list with barclays",
        || async move {
            me.get_json("/v1/lists/current")
                .await
                .get("barclays.co.uk")
                .is_some()
        },
    )
    .await;
    certstream.send_json(&cert_for(&["barc1ays.co.uk"], "e"));
    let got = receiver.wait_delivered("/webhook", 1).await;
    assert_eq!(got[0].body["brand"], "barclays.co.uk");

    std::fs::write(
        &app.list_path,
        r#"{"paypal.com": ["paypa1"], "barclays.co.uk": [42]}"#,
    )
    .unwrap();
    eventually(
        Duration::from_secs(10),
        "list error reported",
        || async move { me.get_json("/v1/status").await["list"]["last_error"].is_string() },
    )
    .await;
    let ready = me.get_json("/readyz").await;
    assert_eq!(ready["ready"], true);
    assert_eq!(ready["degraded"], true);
    assert!(
        ready["list_error"].as_str().unwrap().contains("item 0"),
        "{ready}"
    );
    assert_eq!(app.metric("certsentry_list_error").await, 1);
    // the last good list is still the one matching
    certstream.send_json(&cert_for(&["barclays-x.co.uk", "barclayz.co.uk"], "f"));
    // each name is its own incident, delivered in either order
    let r = receiver.clone();
    eventually(Duration::from_secs(20), "barclayz.co.uk delivered", || {
        let r = r.clone();
        async move {
            r.delivered("/webhook")
                .iter()
                .any(|d| d.body["domain"] == "barclayz.co.uk")
        }
    })
    .await;
    // and a manual reload says why it failed
    let resp = app
        .client
        .post(format!("{}/v1/lists/reload", app.address))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 422);
    let body: serde_json::Value = resp.json().await.unwrap();
    assert!(
        body["detail"].as_str().unwrap().contains("barclays.co.uk"),
        "{body}"
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_answering_503_then_200_gets_every_incident_once_per_dedup_key() {
    let (app, certstream, receiver) = spawn_app().await;
    receiver.answer_next(&[503, 503, 429, 500, 503]);
    certstream.send_json(&cert_for(&["paypa1.com"], "g1"));
    certstream.send_json(&cert_for(&["micros0ft.com"], "g2"));
    // the same lookalike again (another certificate): same dedup key, not re-sent
    certstream.send_json(&cert_for(&["www.paypa1.com", "paypa1.com"], "g3"));
    receiver.wait_delivered("/webhook", 2).await;
    receiver
        .wait_delivered("/instance/execute/certsentry", 2)
        .await;
    tokio::time::sleep(Duration::from_millis(600)).await;
    for path in ["/webhook", "/instance/execute/certsentry"] {
        let got = receiver.delivered(path);
        let mut keys: Vec<String> = got
            .iter()
            .map(|r| r.headers["idempotency-key"].to_str().unwrap().to_owned())
            .collect();
        keys.sort();
        keys.dedup();
        assert_eq!(got.len(), 2, "{path}");
        assert_eq!(keys.len(), 2, "{path}");
    }
    let failed_attempts = receiver
        .requests()
        .iter()
        .filter(|r| r.status >= 500 || r.status == 429)
        .count();
    assert_eq!(failed_attempts, 5);
    let incidents = app.incidents().await;
    assert_eq!(incidents.len(), 2);
    let paypal = incidents
        .iter()
        .find(|i| i["registrable_domain"] == "paypa1.com")
        .unwrap();
    assert_eq!(paypal["sightings"], 2);
    assert_eq!(app.metric("certsentry_deliveries_ok_total").await, 4);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_4xx_is_kept_as_failed_and_visible() {
    let (app, certstream, receiver) = spawn_app().await;
    receiver.answer_next(&[400]);
    certstream.send_json(&cert_for(&["paypa1.com"], "h"));
    let r = receiver.clone();
    eventually(Duration::from_secs(10), "both sinks tried", || {
        let r = r.clone();
        async move { r.requests().len() >= 2 }
    })
    .await;
    let me = &app;
    eventually(
        Duration::from_secs(10),
        "failed delivery visible",
        || async move {
            let s = me.get_json("/v1/status").await;
            s["sinks"]
                .as_array()
                .unwrap()
                .iter()
                .map(|s| s["failed"].as_u64().unwrap())
                .sum::<u64>()
                == 1
        },
    )
    .await;
    assert_eq!(app.metric("certsentry_deliveries_failed_total").await, 1);
    // a permanent failure is not retried
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(receiver.requests().len(), 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restarted_service_delivers_what_it_had_not_delivered() {
    let certstream = FakeCertstream::start().await;
    let receiver = Receiver::start().await;
    receiver.set_default(503);
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let settings = test_settings(dir.path(), &certstream.url, &receiver);
    let app = spawn_app_with(settings.clone(), dir.clone()).await;
    certstream.wait_for_connections(1).await;
    certstream.send_json(&cert_for(&["paypa1.com"], "i1"));
    certstream.send_json(&cert_for(&["app1e.com"], "i2"));
    let me = &app;
    eventually(
        Duration::from_secs(10),
        "two incidents stored",
        || async move { me.incidents().await.len() == 2 },
    )
    .await;
    eventually(Duration::from_secs(10), "delivery attempted", || {
        let r = receiver.clone();
        async move { r.requests().len() >= 2 }
    })
    .await;
    app.stop().await;
    assert!(receiver.delivered("/webhook").is_empty());

    receiver.set_default(200);
    let again = spawn_app_with(settings, dir).await;
    let hooks = receiver.wait_delivered("/webhook", 2).await;
    receiver
        .wait_delivered("/instance/execute/certsentry", 2)
        .await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(receiver.delivered("/webhook").len(), 2);
    let mut domains: Vec<&str> = hooks
        .iter()
        .map(|r| r.body["domain"].as_str().unwrap())
        .collect();
    domains.sort();
    assert_eq!(domains, vec!["app1e.com", "paypa1.com"]);
    // the dedup window survives the restart: the same lookalike is not re-raised
    certstream.wait_for_connections(2).await;
    certstream.send_json(&cert_for(&["paypa1.com"], "i3"));
    let me = &again;
    eventually(
        Duration::from_secs(10),
        "repeat sighting recorded",
        || async move { me.metric("certsentry_incident_sightings_total").await == 1 },
    )
    .await;
    assert_eq!(again.incidents().await.len(), 2);
    again.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_list_from_a_url_is_fetched_with_its_auth_header_and_an_unreachable_one_keeps_the_last() {
    let certstream = FakeCertstream::start().await;
    let receiver = Receiver::start().await;
    let lists = Receiver::start().await;
    lists.serve_get(
        "/lists/brands.json",
        serde_json::from_str(TEST_LIST).unwrap(),
    );
    let dir = std::sync::Arc::new(tempfile::tempdir().unwrap());
    let mut settings = test_settings(dir.path(), &certstream.url, &receiver);
    settings.watchlist.path = std::path::PathBuf::new();
    settings.watchlist.url = format!("{}/lists/brands.json", lists.base);
    settings.watchlist.auth_header = "Authorization".into();
    settings.watchlist.auth_value = Secret::new("Bearer list-token");
    let app = spawn_app_with(settings, dir).await;
    let fetched = lists.requests();
    assert!(!fetched.is_empty());
    assert_eq!(fetched[0].headers["authorization"], "Bearer list-token");
    let status = app.get_json("/v1/status").await;
    assert_eq!(status["list"]["brands"], 3);
    assert!(
        status["list"]["source"]
            .as_str()
            .unwrap()
            .starts_with("url:")
    );
    assert!(!status.to_string().contains("list-token"));

    // the list server now answers 404: the last good list stays, the error shows
    lists.serve_get("/lists/other.json", json!({}));
    lists.clear_get("/lists/brands.json");
    lists.set_default(404);
    let me = &app;
    eventually(
        Duration::from_secs(10),
        "reload error reported",
        || async move { me.get_json("/v1/status").await["list"]["last_error"].is_string() },
    )
    .await;
    let status = app.get_json("/v1/status").await;
    assert_eq!(status["list"]["brands"], 3);
    assert!(
        status["list"]["last_error"]
            .as_str()
            .unwrap()
            .contains("404"),
        "{status}"
    );
    certstream.wait_for_connections(1).await;
    certstream.send_json(&cert_for(&["paypa1.com"], "url"));
    receiver.wait_delivered("/webhook", 1).await;
    app.stop().await;
}
