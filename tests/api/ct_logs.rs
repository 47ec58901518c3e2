//! Direct CT reading against logs served from 127.0.0.1, built from the 40
//! real entries of `live_ct.json`: an RFC 6962 log (short `get-entries`
//! answers) and a static-ct-api log (checkpoint, data tiles, a partial tile
//! growing into a full one, issuers by fingerprint). What certsentry reads is
//! observed through its certstream-compatible server.

use crate::helpers::*;
use certsentry::SourceKind;
use certsentry::ct::CtStart;
use serde_json::Value;
use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::{Duration, Instant};

fn ct_settings(
    dir: &std::path::Path,
    logs: &FakeLogs,
    receiver: &Receiver,
) -> certsentry::Settings {
    let mut s = test_settings(dir, "ws://127.0.0.1:9/unused", receiver);
    s.source.kind = SourceKind::Ct;
    s.ct.log_list_url = format!("{}/loglist.json", logs.base);
    s.ct.start = CtStart::Beginning;
    s.ct.poll_interval = Duration::from_millis(100);
    s.ct.backoff_initial = Duration::from_millis(50);
    s.ct.backoff_max = Duration::from_secs(3);
    s.ct.batch_size = 10;
    s.certstream_server.enabled = true;
    s.certstream_server.listen = "127.0.0.1:0".parse().unwrap();
    s
}

/// certsentry reading `logs` into a fresh data directory (`tune` adjusts
/// the settings), and a client of its `/full-stream`.
async fn follow_logs(
    logs: &FakeLogs,
    receiver: &Receiver,
    tune: impl FnOnce(&mut certsentry::Settings),
) -> (TestApp, StreamClient) {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut settings = ct_settings(dir.path(), logs, receiver);
    tune(&mut settings);
    let app = spawn_app_with(settings, dir).await;
    let client = StreamClient::connect(app.stream_port.unwrap(), "/full-stream").await;
    (app, client)
}

fn expect(
    logs: &FakeLogs,
    rfc: std::ops::Range<u64>,
    tiled: std::ops::Range<u64>,
) -> BTreeSet<(String, u64)> {
    rfc.map(|i| (format!("{}/rfc/", logs.base), i))
        .chain(tiled.map(|i| (format!("{}/tiled/", logs.base), i)))
        .collect()
}

fn as_set(seen: &[(String, u64)]) -> BTreeSet<(String, u64)> {
    let set: BTreeSet<_> = seen.iter().cloned().collect();
    assert_eq!(set.len(), seen.len(), "an entry was emitted twice");
    set
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rfc6962_and_tiled_logs_are_read_once_and_resumed_without_gaps() {
    let logs = FakeLogs::start(300).await;
    let receiver = Receiver::start().await;
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut settings = ct_settings(dir.path(), &logs, &receiver);
    // slow enough to be stopped in the middle of the RFC 6962 log
    settings.ct.request_interval = Duration::from_millis(200);
    let app = spawn_app_with(settings.clone(), dir.clone()).await;
    let client = StreamClient::connect(app.stream_port.unwrap(), "/full-stream").await;
    logs.grow(0, 100); // tiled: one partial tile 000.p/100
    client.wait_for(100).await;
    logs.grow(40, 100);

    // part of the RFC 6962 log (two of its short batches), then stop
    loop {
        let rfc = client
            .seen()
            .iter()
            .filter(|(u, _)| u.ends_with("/rfc/"))
            .count();
        if rfc >= 14 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    app.stop().await;
    // a graceful stop records what was read and sends it to stream clients
    // before closing: wait until the client has taken in the last of it
    let mut count = client.seen().len();
    loop {
        tokio::time::sleep(Duration::from_millis(300)).await;
        let now = client.seen().len();
        if now == count {
            break;
        }
        count = now;
    }
    let first_set = as_set(&client.seen());
    let rfc_done = first_set
        .iter()
        .filter(|(u, _)| u.ends_with("/rfc/"))
        .count() as u64;
    let tiled_done = first_set.len() as u64 - rfc_done;
    assert!(rfc_done < 40, "stopped mid-log ({rfc_done} of 40)");
    assert_eq!(tiled_done, 100);
    assert_eq!(
        first_set,
        expect(&logs, 0..rfc_done, 0..tiled_done),
        "in order, from the start, nothing skipped"
    );

    // the logs grow while certsentry is down; the partial tile becomes full
    logs.grow(40, 300);
    logs.state.lock().unwrap().closed = true;
    settings.ct.request_interval = Duration::ZERO;
    let app = spawn_app_with(settings, dir.clone()).await;
    let client = StreamClient::connect(app.stream_port.unwrap(), "/full-stream").await;
    logs.state.lock().unwrap().closed = false;
    let want = expect(&logs, rfc_done..40, tiled_done..300);
    client.wait_for(want.len()).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    let second = as_set(&client.seen()).into_iter().collect::<Vec<_>>();
    assert_eq!(
        second.iter().cloned().collect::<BTreeSet<_>>(),
        want,
        "exactly the missed entries, each once ({} messages)",
        second.len()
    );

    // tiles: the partial tile first, then the full tile and the new right edge
    let paths: Vec<String> = logs.requests().into_iter().map(|r| r.1).collect();
    let tile = |p: &str| {
        paths
            .iter()
            .position(|x| x.starts_with(&format!("/tiled/tile/data/{p}?")))
    };
    let full = tile("000").expect("full tile read");
    let edge = tile("001.p/44").expect("new partial tile read");
    let partial = tile("000.p/100").expect("partial tile read");
    assert!(partial < full && full < edge, "{paths:?}");
    assert!(
        !paths.iter().any(|p| p.contains("/retired/")),
        "retired logs are not followed"
    );
    let issuer_fetches: Vec<&String> = paths.iter().filter(|p| p.contains("/issuer/")).collect();
    let unique: BTreeSet<&String> = issuer_fetches.iter().copied().collect();
    assert!(
        issuer_fetches.len() <= unique.len() * 2,
        "issuers are cached (once per run)"
    );

    // the messages carry the real certificates
    let msgs = client.got.lock().unwrap().clone();
    let fixtures: Vec<Value> =
        serde_json::from_str(include_str!("../fixtures/live_ct.json")).unwrap();
    for m in &msgs {
        let i = m["data"]["cert_index"].as_u64().unwrap() as usize;
        let expected: Value =
            serde_json::from_str(fixtures[i % 40]["expected_full"].as_str().unwrap()).unwrap();
        assert_eq!(
            m["data"]["leaf_cert"], expected["data"]["leaf_cert"],
            "index {i}"
        );
        assert_eq!(m["data"]["chain"], expected["data"]["chain"]);
        if m["data"]["source"]["url"]
            .as_str()
            .unwrap()
            .ends_with("/tiled/")
        {
            assert_eq!(m["data"]["cert_link"], "");
        } else {
            assert!(
                m["data"]["cert_link"]
                    .as_str()
                    .unwrap()
                    .ends_with(&format!("start={i}&end={i}"))
            );
        }
    }
    assert_eq!(app.metric("certsentry_ct_bad_entries_total").await, 0);
    let status = app.get_json("/v1/status").await;
    let positions = status["ct_logs"].as_array().unwrap();
    assert_eq!(positions.len(), 2, "{status}");
    for p in positions {
        assert_eq!(p["behind"], 0, "{p}");
    }
    assert_eq!(status["source"]["state"], "following 2 logs");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_answering_429_and_503_is_backed_off_and_caught_up() {
    let logs = FakeLogs::start(0).await;
    let receiver = Receiver::start().await;
    let (app, client) = follow_logs(&logs, &receiver, |_| {}).await;
    logs.state
        .lock()
        .unwrap()
        .script
        .extend([(429, Some("1")), (503, None), (503, None)]);
    logs.grow(40, 0);
    let seen = client.wait_for(40).await;
    assert_eq!(as_set(&seen), expect(&logs, 0..40, 0..0));
    let reqs = logs.requests();
    let refused: Vec<&(Instant, String, u16)> =
        reqs.iter().filter(|r| r.2 == 429 || r.2 == 503).collect();
    assert_eq!(refused.len(), 3);
    let after_429 = reqs
        .iter()
        .find(|r| r.0 > refused[0].0 && r.1.contains("get-entries"))
        .unwrap();
    assert!(
        after_429.0 - refused[0].0 >= Duration::from_millis(950),
        "Retry-After: 1 was honoured"
    );
    assert!(app.metric("certsentry_ct_request_errors_total").await >= 3);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_added_to_the_list_is_followed_after_the_next_refresh() {
    let logs = FakeLogs::start(30).await;
    logs.state.lock().unwrap().unlisted_tiled = true;
    let receiver = Receiver::start().await;
    let (app, client) = follow_logs(&logs, &receiver, |s| {
        s.ct.log_list_refresh = Duration::from_millis(300);
    })
    .await;
    logs.grow(40, 20);
    let first = client.wait_for(40).await;
    assert_eq!(as_set(&first), expect(&logs, 0..40, 0..0));
    // the list is read again while the tiled log is still unlisted: nothing
    // changes, and nothing is read twice
    let reads = logs.state.lock().unwrap().list_requests;
    eventually(Duration::from_secs(10), "a list refresh", || {
        let state = logs.state.clone();
        async move { state.lock().unwrap().list_requests > reads }
    })
    .await;
    assert_eq!(as_set(&client.seen()), expect(&logs, 0..40, 0..0));
    // listed now: followed from the next refresh, from its beginning (ct.start)
    logs.state.lock().unwrap().unlisted_tiled = false;
    let all = client.wait_for(60).await;
    assert_eq!(as_set(&all), expect(&logs, 0..40, 0..20));
    let status = app.get_json("/v1/status").await;
    assert_eq!(status["source"]["state"], "following 2 logs", "{status}");
    // the list's URL goes down: two refreshes later the same two logs are
    // followed (not the bundled snapshot's), and reading goes on
    let reads = {
        let mut s = logs.state.lock().unwrap();
        s.list_down = true;
        s.list_requests
    };
    eventually(Duration::from_secs(10), "two failed list refreshes", || {
        let state = logs.state.clone();
        async move { state.lock().unwrap().list_requests >= reads + 2 }
    })
    .await;
    let status = app.get_json("/v1/status").await;
    assert_eq!(status["source"]["state"], "following 2 logs", "{status}");
    logs.grow(40, 30);
    let more = client.wait_for(70).await;
    assert_eq!(as_set(&more), expect(&logs, 0..40, 0..30));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_that_leaves_the_list_is_read_to_its_end_then_no_longer_followed() {
    let logs = FakeLogs::start(40).await;
    let receiver = Receiver::start().await;
    let (app, client) = follow_logs(&logs, &receiver, |s| {
        s.ct.log_list_refresh = Duration::from_millis(300);
    })
    .await;
    logs.grow(40, 20);
    let first = client.wait_for(60).await;
    assert_eq!(as_set(&first), expect(&logs, 0..40, 0..20));

    // the tiled log takes 10 more entries, which cannot be read yet (entry
    // requests fail), and leaves the list
    {
        let mut s = logs.state.lock().unwrap();
        s.closed = true;
        s.tiled_visible = 30;
        s.unlisted_tiled = true;
    }
    let leaving = "following 1 log, 1 left the selection and being read to their end";
    eventually(Duration::from_secs(10), leaving, || {
        let app = &app;
        async move { app.get_json("/v1/status").await["source"]["state"] == leaving }
    })
    .await;

    // its follower reads what it held, then stops
    logs.state.lock().unwrap().closed = false;
    let drained = client.wait_for(70).await;
    assert_eq!(as_set(&drained), expect(&logs, 0..40, 0..30));
    eventually(Duration::from_secs(10), "following 1 log", || {
        let app = &app;
        async move { app.get_json("/v1/status").await["source"]["state"] == "following 1 log" }
    })
    .await;
    let tiled_requests = || {
        logs.requests()
            .iter()
            .filter(|r| r.1.starts_with("/tiled/"))
            .count()
    };
    let before = tiled_requests();
    let reads = logs.state.lock().unwrap().list_requests;
    logs.grow(40, 40);
    eventually(Duration::from_secs(10), "two list refreshes", || {
        let state = logs.state.clone();
        async move { state.lock().unwrap().list_requests >= reads + 2 }
    })
    .await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(tiled_requests(), before, "the retired log is not polled");
    assert_eq!(as_set(&client.seen()), expect(&logs, 0..40, 0..30));

    // listed again: a new follower resumes where the last one stopped
    logs.state.lock().unwrap().unlisted_tiled = false;
    let again = client.wait_for(80).await;
    assert_eq!(as_set(&again), expect(&logs, 0..40, 0..40));
    let status = app.get_json("/v1/status").await;
    assert_eq!(status["source"]["state"], "following 2 logs", "{status}");
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tree_heads_not_signed_by_the_logs_key_are_not_believed() {
    let logs = FakeLogs::start(40).await;
    logs.state.lock().unwrap().signer = Some(p256_key());
    let receiver = Receiver::start().await;
    let (app, client) = follow_logs(&logs, &receiver, |_| {}).await;
    logs.grow(20, 20);
    let first = client.wait_for(40).await;
    assert_eq!(as_set(&first), expect(&logs, 0..20, 0..20));
    assert_eq!(
        app.metric("certsentry_ct_tree_heads_refused_total").await,
        0
    );

    // both logs now claim 20 more entries under another key's signature
    {
        let mut s = logs.state.lock().unwrap();
        s.forger = Some(p256_key());
        s.rfc_visible = 40;
        s.tiled_visible = 40;
    }
    wait_for_metric(&app, "certsentry_ct_tree_heads_refused_total", 4).await;
    let entry_requests_before = logs
        .requests()
        .iter()
        .filter(|r| r.1.contains("get-entries") || r.1.contains("/tile/"))
        .count();
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        as_set(&client.seen()),
        expect(&logs, 0..20, 0..20),
        "nothing is read on a forged head"
    );
    let entry_requests_after = logs
        .requests()
        .iter()
        .filter(|r| r.1.contains("get-entries") || r.1.contains("/tile/"))
        .count();
    assert_eq!(entry_requests_before, entry_requests_after);

    // the log's own signature again: reading goes on where it stopped
    logs.state.lock().unwrap().forger = None;
    let all = client.wait_for(80).await;
    assert_eq!(as_set(&all), expect(&logs, 0..40, 0..40));
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_entries_read_are_checked_against_the_signed_root() {
    let logs = FakeLogs::start(600).await;
    logs.state.lock().unwrap().signer = Some(p256_key());
    let receiver = Receiver::start().await;
    let (app, client) = follow_logs(&logs, &receiver, |_| {}).await;
    let mismatches = "certsentry_ct_tree_mismatches_total";
    // from the logs' beginning, across a full data tile
    logs.grow(20, 20);
    client.wait_for(40).await;
    logs.grow(30, 300);
    assert_eq!(
        as_set(&client.wait_for(330).await),
        expect(&logs, 0..30, 0..300)
    );
    wait_for_metric(&app, "certsentry_ct_tree_checks_total", 4).await;
    assert_eq!(app.metric(mismatches).await, 0);
    app.stop().await;

    // another service starting at the logs' ends: the tree up to there
    // comes from the audit path of the entry before (RFC 6962) and from
    // the hash tiles (a level-1 and a level-0 partial tile)
    let (app, client) = follow_logs(&logs, &receiver, |s| {
        s.ct.start = CtStart::End;
    })
    .await;
    logs.wait_for_requests("hash tiles and an audit path read", |served| {
        let asked = |prefix: &str| served.iter().any(|(p, _)| p.starts_with(prefix));
        asked("/tiled/tile/1/000.p/1?")
            && asked("/tiled/tile/0/001.p/44?")
            && asked("/rfc/ct/v1/get-proof-by-hash?hash=")
    })
    .await;
    logs.grow(35, 530);
    assert_eq!(
        as_set(&client.wait_for(235).await),
        expect(&logs, 30..35, 300..530)
    );
    assert_eq!(
        app.metric(mismatches).await,
        0,
        "the logs' own entries make their roots"
    );
    // checked where reading started (right after the frontier was taken
    // from the log) and again at the new sizes
    wait_for_metric(&app, "certsentry_ct_tree_checks_total", 4).await;

    // an entry swapped in each log: read, and raised once per log
    {
        let mut s = logs.state.lock().unwrap();
        s.rfc_tampered = Some(37);
        s.tampered = Some(540);
    }
    logs.grow(40, 600);
    client.wait_for(310).await;
    wait_for_metric(&app, mismatches, 2).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(app.metric(mismatches).await, 2);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_that_cannot_give_its_tree_is_still_read() {
    let logs = FakeLogs::start(0).await;
    {
        let mut s = logs.state.lock().unwrap();
        s.signer = Some(p256_key());
        s.no_proofs = true;
    }
    logs.grow(30, 0);
    let receiver = Receiver::start().await;
    let (app, client) = follow_logs(&logs, &receiver, |s| {
        s.ct.start = CtStart::End;
    })
    .await;
    logs.wait_for_requests("the failed audit path request", |served| {
        served
            .iter()
            .any(|(p, status)| p.starts_with("/rfc/ct/v1/get-proof-by-hash") && *status == 404)
    })
    .await;
    logs.grow(40, 0);
    assert_eq!(
        as_set(&client.wait_for(10).await),
        expect(&logs, 30..40, 0..0)
    );
    assert_eq!(app.metric("certsentry_ct_tree_mismatches_total").await, 0);
    assert!(app.metric("certsentry_ct_request_errors_total").await >= 1);
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_log_that_rewrote_its_history_is_raised_after_a_restart() {
    let logs = FakeLogs::start(40).await;
    logs.state.lock().unwrap().signer = Some(p256_key());
    let receiver = Receiver::start().await;
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let settings = ct_settings(dir.path(), &logs, &receiver);
    let checks = "certsentry_ct_tree_checks_total";
    let mismatches = "certsentry_ct_tree_mismatches_total";
    logs.grow(20, 20);
    let app = spawn_app_with(settings.clone(), dir.clone()).await;
    wait_for_metric(&app, checks, 2).await;
    app.stop().await;

    // restarted on the same history: the roots stored hold
    logs.grow(25, 25);
    let app = spawn_app_with(settings.clone(), dir.clone()).await;
    wait_for_metric(&app, checks, 4).await;
    assert_eq!(app.metric(mismatches).await, 0);
    app.stop().await;

    // restarted on a rewritten history: raised once per log, then the
    // new entries are checked against the logs' new roots
    logs.fork();
    logs.grow(30, 30);
    let app = spawn_app_with(settings, dir.clone()).await;
    wait_for_metric(&app, mismatches, 2).await;
    wait_for_metric(&app, checks, 2).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.metric(mismatches).await, 2);
    app.stop().await;
}

/// Wait until `app`'s counter `name` reaches `n`.
async fn wait_for_metric(app: &TestApp, name: &str, n: u64) {
    eventually(
        Duration::from_secs(10),
        &format!("{name} >= {n}"),
        || async { app.metric(name).await >= n },
    )
    .await;
}

/// The stored position of the log whose URL ends with `suffix`.
async fn stored_position(app: &TestApp, suffix: &str) -> Option<u64> {
    let s = app.get_json("/v1/status").await;
    s["ct_logs"]
        .as_array()?
        .iter()
        .find(|l| l["log"].as_str().is_some_and(|u| u.ends_with(suffix)))
        .and_then(|l| l["next_index"].as_u64())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_full_disk_holds_the_ct_positions_until_space_returns() {
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let Some(disk) = crate::operations::SmallDisk::mount(&dir.path().join("disk"), "32m") else {
        eprintln!(
            "SKIPPED: cannot mount a tmpfs here (needs root); the CT full-disk test did not run"
        );
        return;
    };
    let logs = FakeLogs::start(300).await;
    let receiver = Receiver::start().await;
    let mut settings = ct_settings(dir.path(), &logs, &receiver);
    settings.store.path = disk.at.join("certsentry.db");
    // real entries 18, 22, 25, 29 and 34 of the RFC 6962 log raise incidents
    std::fs::write(
        &settings.watchlist.path,
        r#"{"brand-example.com": ["salings", "thekgba", "northkclaw", "alimentoscomso", "regngold"]}"#,
    )
    .unwrap();
    let app = spawn_app_with(settings, dir.clone()).await;
    let client = StreamClient::connect(app.stream_port.unwrap(), "/full-stream").await;
    logs.grow(20, 0);
    client.wait_for(20).await;
    let mut at = None;
    for _ in 0..200 {
        at = stored_position(&app, "/rfc/").await;
        if at == Some(20) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(at, Some(20));

    // the disk fills, the logs grow: the positions stay where the store is
    let filler = disk.fill();
    logs.grow(40, 100);
    let mut errors = 0;
    for _ in 0..400 {
        errors = app.get_json("/v1/status").await["counters"]["store_errors"]
            .as_u64()
            .unwrap_or(0);
        if errors > 0 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert!(errors > 0, "the store refused a write");
    let held_rfc = stored_position(&app, "/rfc/").await;
    let held_tiled = stored_position(&app, "/tiled/").await;
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert_eq!(stored_position(&app, "/rfc/").await, held_rfc);
    assert_eq!(stored_position(&app, "/tiled/").await, held_tiled);
    let ready = reqwest::get(format!("{}/readyz", app.address))
        .await
        .unwrap();
    assert_eq!(ready.status(), 503);
    println!("CT disk full: positions held at rfc {held_rfc:?}, tiled {held_tiled:?}");

    // space returns: every entry once, positions at the end
    std::fs::remove_file(&filler).unwrap();
    let seen = client.wait_for(140).await;
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(client.seen().len(), 140, "each entry once");
    assert_eq!(as_set(&seen), expect(&logs, 0..40, 0..100));
    let mut end = (None, None);
    for _ in 0..200 {
        end = (
            stored_position(&app, "/rfc/").await,
            stored_position(&app, "/tiled/").await,
        );
        if end == (Some(40), Some(100)) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
    assert_eq!(end, (Some(40), Some(100)));
    let ready = reqwest::get(format!("{}/readyz", app.address))
        .await
        .unwrap();
    assert_eq!(ready.status(), 200);
    // the incidents of the entries read while the disk was full are stored
    let incidents = app.get_json("/v1/incidents?limit=100").await;
    let domains: BTreeSet<&str> = incidents["incidents"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|i| i["registrable_domain"].as_str())
        .collect();
    assert_eq!(
        domains,
        BTreeSet::from([
            "alimentoscomso.com",
            "northkclaw.com",
            "regngold.com",
            "salings.com",
            "thekgba.com"
        ]),
        "{incidents}"
    );
    app.stop().await;
    drop(disk);
}
