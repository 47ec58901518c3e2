//! Enrichment end to end: a real DNS server and real web pages on
//! 127.0.0.1, the service matching certificates from a certstream server,
//! and the updates its webhook sink delivers.

use crate::helpers::*;
use serde_json::Value;
use std::net::Ipv4Addr;
use std::sync::Arc;
use std::time::Duration;

const LOOP: Ipv4Addr = Ipv4Addr::new(127, 0, 0, 1);

/// The brand's page: a login page long enough for a TLSH.
fn brand_page() -> String {
    let rows: String = (0..30)
        .map(|i| format!("<div class=\"row r{i}\">Send and receive money, pay online and manage your wallet {i}</div>\n"))
        .collect();
    format!(
        "<html><head><title>Log in to your PayPal account</title></head><body>{rows}\
             <form action=/signin><input name=email><input type=\"password\" name=pw></form></body></html>"
    )
}

fn parked_page() -> String {
    "<html><head><title>app1e.com</title></head><body><h1>This domain is for sale!</h1>\
     <p>Related searches: phones, laptops, music</p></body></html>"
        .into()
}

fn unrelated_page() -> String {
    let rows: String = (0..30)
        .map(|i| format!("<p>Recipe {i}: tomatoes, basil, olive oil; bake for {} minutes at 180 degrees.</p>\n", i * 3))
        .collect();
    format!("<html><head><title>Grandma's kitchen</title></head><body>{rows}</body></html>")
}

/// A port nothing listens on.
fn closed_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port()
}

struct Lab {
    dns: FakeDns,
    web: WebServer,
}

async fn lab() -> Lab {
    let dns = FakeDns::start(vec![
        Rr::A("paypal.com", LOOP),
        Rr::A("www.paypal.com", LOOP),
        Rr::A("paypa1.com", LOOP),
        Rr::Mx("paypa1.com", "mx.paypa1.com"),
        Rr::Txt("paypa1.com", "v=spf1 -all"),
        Rr::A("app1e.com", LOOP),
        Rr::A("paypal-login.com", LOOP),
        Rr::A("paypall.com", LOOP),
        Rr::A("paypal-support.com", LOOP),
        Rr::A("internal.paypal-support.com", Ipv4Addr::new(10, 1, 2, 3)),
        Rr::Mx("paypal-mail.com", "mail.paypal-mail.com"),
        Rr::A("paypal-account.com", Ipv4Addr::new(10, 9, 9, 9)),
    ])
    .await;
    let web = WebServer::start().await;
    let port = web.port;
    web.set("paypal.com", WebPage::Html(brand_page()));
    web.set("www.paypal.com", WebPage::Html(brand_page()));
    // a clone: the brand's page with a different form target
    web.set(
        "paypa1.com",
        WebPage::Html(brand_page().replace("/signin", "https://collect.example/p.php")),
    );
    web.set("app1e.com", WebPage::Html(parked_page()));
    web.set(
        "paypal-login.com",
        WebPage::Redirect(format!("http://www.paypal.com:{port}/signin")),
    );
    web.set(
        "paypal-support.com",
        WebPage::Redirect(format!("http://internal.paypal-support.com:{port}/")),
    );
    Lab { dns, web }
}

async fn enriching_app(lab: &Lab, allow_loopback: bool) -> (TestApp, FakeCertstream, Receiver) {
    enriching_app_with(lab, allow_loopback, |_| {}).await
}

async fn enriching_app_with(
    lab: &Lab,
    allow_loopback: bool,
    tune: impl FnOnce(&mut certsentry::EnrichmentSettings),
) -> (TestApp, FakeCertstream, Receiver) {
    let certstream = FakeCertstream::start().await;
    let receiver = Receiver::start().await;
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut s = test_settings(dir.path(), &certstream.url, &receiver);
    s.sinks.truncate(1);
    let e = &mut s.enrichment;
    e.enabled = true;
    e.poll_interval = Duration::from_millis(50);
    e.recheck_interval = Duration::from_millis(300);
    e.max_recheck_interval = Duration::from_millis(300);
    e.dns.servers = vec![lab.dns.addr];
    e.dns.timeout = Duration::from_secs(2);
    e.http.http_port = lab.web.port;
    // nothing listens for TLS there: the probe falls back to HTTP
    e.http.https_port = closed_port();
    e.http.timeout = Duration::from_secs(3);
    // every lookalike here is on 127.0.0.1, one zone apart: no pacing
    // (the pacing test sets its own)
    e.http.per_address_per_second = 100_000.0;
    e.dns.per_zone_per_second = 100_000.0;
    e.screenshot.per_address_per_second = 100_000.0;
    // no registry here; the RDAP test points it at its own
    e.rdap.enabled = false;
    if allow_loopback {
        e.allow_cidrs = vec!["127.0.0.1/32".parse().unwrap()];
    }
    tune(&mut s.enrichment);
    let app = spawn_app_with(s, dir).await;
    certstream.wait_for_connections(1).await;
    (app, certstream, receiver)
}

/// The webhook deliveries for `domain`, in arrival order.
fn deliveries(receiver: &Receiver, domain: &str) -> Vec<Value> {
    receiver
        .delivered("/webhook")
        .into_iter()
        .map(|r| r.body)
        .filter(|b| b["domain"] == domain)
        .collect()
}

async fn wait_updates(receiver: &Receiver, domain: &str, n: usize) -> Vec<Value> {
    eventually(
        Duration::from_secs(20),
        &format!("{n} updates for {domain}"),
        || async {
            deliveries(receiver, domain)
                .iter()
                .filter(|b| !b["enrichment_update"].is_null())
                .count()
                >= n
        },
    )
    .await;
    deliveries(receiver, domain)
}

fn verdicts(update: &Value) -> Vec<String> {
    update["enrichment"]["http"]["data"]["verdicts"]
        .as_array()
        .map(|v| {
            v.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

#[tokio::test]
async fn lookalikes_are_enriched_after_delivery_and_updated_once_per_change() {
    let lab = lab().await;
    let (app, certstream, receiver) = enriching_app(&lab, true).await;
    for (i, name) in [
        "paypa1.com",
        "app1e.com",
        "paypal-login.com",
        "paypall.com",
        "paypal-mail.com",
    ]
    .iter()
    .enumerate()
    {
        certstream.send_json(&cert_for(&[name], &format!("enrich-{i}")));
    }

    // the clone: first the incident, then one update with what was found
    let clone = wait_updates(&receiver, "paypa1.com", 1).await;
    assert!(
        clone[0]["enrichment_update"].is_null(),
        "the first delivery is the incident itself"
    );
    assert!(
        clone[0]["enrichment"].as_object().unwrap().is_empty(),
        "delivered before enrichment"
    );
    let update = &clone[1];
    assert_eq!(update["enrichment_update"]["version"], 1);
    assert_eq!(update["update_of"], clone[0]["id"]);
    let v = verdicts(update);
    for want in ["live", "login_form", "similar_to_brand"] {
        assert!(v.contains(&want.to_owned()), "clone verdicts {v:?}");
    }
    let dns = &update["enrichment"]["dns"];
    assert_eq!(dns["status"], "ok", "{dns}");
    assert_eq!(dns["data"]["a"][0], "127.0.0.1");
    assert_eq!(dns["data"]["mx"][0], "mx.paypa1.com");
    assert_eq!(dns["data"]["spf"][0], "v=spf1 -all");
    let http = &update["enrichment"]["http"]["data"];
    assert_eq!(http["title"], "Log in to your PayPal account");
    assert_eq!(http["status"], 200);
    // what the XSOAR pack's mapper and the REST sink read (CertSentry.py
    // enrichment_summary, sink/evidence.rs): these paths are really there
    assert!(http["brand_distance"].is_u64(), "{http}");
    assert_eq!(update["enrichment"]["version"], 1);
    let raised = update["enrichment"]["evidence"]["raised_by"]
        .as_array()
        .unwrap();
    assert!(!raised.is_empty() && raised.iter().all(Value::is_string));
    // live, a login form and the brand's look raise the score
    assert!(
        update["score"].as_u64() > clone[0]["score"].as_u64(),
        "{} vs {}",
        update["score"],
        clone[0]["score"]
    );
    assert!(
        update["match"]["explanation"]
            .as_str()
            .unwrap()
            .contains("raised"),
        "{}",
        update["match"]["explanation"]
    );
    assert!(
        update["enrichment_update"]["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "first check"),
        "{}",
        update["enrichment_update"]
    );

    // the console shows what was found, enricher by enricher
    if let Some(chrome) = chromium() {
        let mut browser = Browser::start(&chrome).await;
        let id = clone[0]["id"].as_str().unwrap();
        browser
            .goto(&format!("{}/#/incident/{id}", app.address))
            .await;
        browser
            .wait_for(r#"document.getElementById("enrichment")?.innerText.includes("http: ok")"#)
            .await;
        let text = browser
            .eval(r#"document.getElementById("enrichment").innerText"#)
            .await;
        let text = text.as_str().unwrap();
        for want in [
            "dns: ok",
            "127.0.0.1",
            "mx.paypa1.com",
            "Log in to your PayPal account",
            "login_form",
            "Score raised by",
        ] {
            assert!(text.contains(want), "{want} in {text}");
        }
        browser.screenshot("console-incident-enriched").await;
        browser.close().await;
    }

    // parked (the page's phrases), not like the brand
    let parked = wait_updates(&receiver, "app1e.com", 1).await;
    let v = verdicts(&parked[1]);
    assert!(
        v.contains(&"parked".to_owned()) && !v.contains(&"similar_to_brand".to_owned()),
        "{v:?} {}",
        parked[1]["enrichment"]
    );

    // a redirect to the brand's own site
    let redirect = wait_updates(&receiver, "paypal-login.com", 1).await;
    let v = verdicts(&redirect[1]);
    assert!(
        v.contains(&"redirects_to_brand".to_owned()),
        "{v:?} {}",
        redirect[1]["enrichment"]["http"]
    );
    assert_eq!(
        redirect[1]["enrichment"]["http"]["data"]["redirects"]
            .as_array()
            .unwrap()
            .len(),
        1
    );

    // MX without A: takes mail, has no site
    let mail = wait_updates(&receiver, "paypal-mail.com", 1).await;
    assert_eq!(mail[1]["enrichment"]["state"]["mx"], true);
    assert_eq!(mail[1]["enrichment"]["state"]["resolves"], false);
    assert!(verdicts(&mail[1]).contains(&"down".to_owned()));

    // not live yet: one update for the first check; a page appears: one
    // more ("went live"); later checks change nothing and send nothing
    let later = wait_updates(&receiver, "paypall.com", 1).await;
    assert!(
        verdicts(&later[1]).contains(&"down".to_owned()),
        "{:?}",
        verdicts(&later[1])
    );
    lab.web.set("paypall.com", WebPage::Html(unrelated_page()));
    let later = wait_updates(&receiver, "paypall.com", 2).await;
    let went_live = &later[2]["enrichment_update"];
    assert_eq!(went_live["version"], 2);
    assert!(
        went_live["changes"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c == "went live"),
        "{went_live}"
    );
    assert!(
        !verdicts(&later[2]).contains(&"similar_to_brand".to_owned()),
        "an unrelated page is not the brand's"
    );
    let checks = app.metric("certsentry_enrichment_checks_total").await;
    eventually(Duration::from_secs(10), "three more checks", || async {
        app.metric("certsentry_enrichment_checks_total").await >= checks + 15
    })
    .await;
    assert_eq!(
        deliveries(&receiver, "paypall.com").len(),
        3,
        "unchanged re-checks sent something"
    );
    assert_eq!(
        deliveries(&receiver, "paypa1.com").len(),
        2,
        "unchanged re-checks sent something"
    );

    // the incident itself shows the latest enrichment
    let id = clone[0]["id"].as_str().unwrap();
    let stored = app.get_json(&format!("/v1/incidents/{id}")).await;
    assert!(
        stored["enrichment"]["version"].as_u64() >= Some(1),
        "{}",
        stored["enrichment"]
    );
    let status = app.get_json("/v1/status").await;
    assert!(
        status["enrichment"]["watching"].as_u64() >= Some(1),
        "{}",
        status["enrichment"]
    );
    app.stop().await;
}

#[tokio::test]
async fn names_on_private_addresses_are_never_fetched() {
    let lab = lab().await;
    // without allow_cidrs, 127.0.0.1 is as private as 10.x
    let (app, certstream, receiver) = enriching_app(&lab, false).await;
    certstream.send_json(&cert_for(&["paypa1.com"], "private-1"));
    certstream.send_json(&cert_for(&["paypal-account.com"], "private-2"));
    let a = wait_updates(&receiver, "paypa1.com", 1).await;
    let b = wait_updates(&receiver, "paypal-account.com", 1).await;
    for u in [&a[1], &b[1]] {
        let http = &u["enrichment"]["http"];
        assert_eq!(http["status"], "skipped", "{http}");
        assert!(
            http["error"].as_str().unwrap().contains("private"),
            "{http}"
        );
    }
    assert!(lab.web.hosts().is_empty(), "fetched {:?}", lab.web.hosts());
    app.stop().await;

    // with loopback allowed, a redirect into 10.x is still refused
    let (app, certstream, receiver) = enriching_app(&lab, true).await;
    certstream.send_json(&cert_for(&["paypal-support.com"], "private-3"));
    let c = wait_updates(&receiver, "paypal-support.com", 1).await;
    let http = &c[1]["enrichment"]["http"];
    assert_eq!(http["status"], "skipped", "{http}");
    assert_eq!(
        http["data"]["blocked_host"], "internal.paypal-support.com",
        "{http}"
    );
    assert_eq!(
        lab.web.hosts(),
        vec!["paypal-support.com".to_owned(); lab.web.hosts().len()]
    );
    app.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sigkill_during_enrichment_loses_no_check() {
    use crate::faults::Service;
    let lab = lab().await;
    let names = ["paypa1.com", "paypall.com", "app1e.com"];
    for n in names {
        lab.web.set(
            n,
            WebPage::Slow(Duration::from_millis(1500), unrelated_page()),
        );
    }
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("list.json"), TEST_LIST).unwrap();
    let stream = dir.path().join("stream.jsonl");
    let lines: Vec<String> = names
        .iter()
        .map(|n| cert_for(&[n], "kill").to_string())
        .collect();
    std::fs::write(&stream, lines.join("\n") + "\n").unwrap();
    let receiver = Receiver::start().await;
    let sinks = format!(
        "[[sinks]]\nname = \"hook\"\nurl = \"{}/hook\"\n\n[enrichment]\nenabled = true\n\
         poll_interval = \"50ms\"\nallow_cidrs = [\"127.0.0.1/32\"]\n\
         [enrichment.dns]\nservers = [\"{}\"]\n[enrichment.http]\nhttp_port = {}\nhttps_port = {}\n",
        receiver.base,
        lab.dns.addr,
        lab.web.port,
        closed_port()
    );
    let service = Service::with_sinks(dir.path(), &stream, &sinks, 100);

    let mut child = service.start();
    eventually(Duration::from_secs(20), "checks in progress", || async {
        names.iter().all(|n| lab.web.hosts().iter().any(|h| h == n))
    })
    .await;
    child.kill().unwrap(); // SIGKILL, with every check waiting for its page
    child.wait().unwrap();
    let fetched_before = lab.web.hosts().len();
    let updates = || {
        receiver
            .delivered("/hook")
            .into_iter()
            .filter(|r| !r.body["enrichment_update"].is_null())
            .count()
    };
    assert_eq!(updates(), 0, "a check finished before the kill");

    let mut child = service.start();
    eventually(
        Duration::from_secs(30),
        "every lookalike's first check",
        || async { updates() >= names.len() },
    )
    .await;
    child.kill().unwrap();
    child.wait().unwrap();
    assert!(
        lab.web.hosts().len() > fetched_before,
        "the restart did not check again"
    );
    let mut checked: Vec<String> = receiver
        .delivered("/hook")
        .into_iter()
        .filter(|r| r.body["enrichment_update"]["version"] == 1)
        .map(|r| r.body["domain"].as_str().unwrap().to_owned())
        .collect();
    checked.sort();
    checked.dedup();
    assert_eq!(checked, ["app1e.com", "paypa1.com", "paypall.com"]);
}

/// An RDAP domain object as a registry sends it (RFC 9083).
fn rdap_domain(name: &str, registered: &str) -> Value {
    serde_json::json!({
        "objectClassName": "domain", "ldhName": name.to_uppercase(),
        "status": ["client transfer prohibited"],
        "events": [{"eventAction": "registration", "eventDate": registered},
                   {"eventAction": "expiration", "eventDate": "2027-11-30T10:00:00Z"}],
        "entities": [{"objectClassName": "entity", "roles": ["registrar"],
            "publicIds": [{"type": "IANA Registrar ID", "identifier": "1068"}],
            "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", "NameCheap, Inc."]]],
            "entities": [{"objectClassName": "entity", "roles": ["abuse"],
                "vcardArray": ["vcard", [["version", {}, "text", "4.0"],
                                         ["email", {}, "text", "abuse@namecheap.com"]]]}]}]
    })
}

/// A port-43 WHOIS server on 127.0.0.1 (RFC 3912: one question a line,
/// the answer, then close): answers from `answers(port)`, "No match"
/// otherwise; returns its port and the questions it was asked.
async fn whois_server(
    answers: impl FnOnce(u16) -> Vec<(&'static str, String)>,
) -> (u16, Arc<std::sync::Mutex<Vec<String>>>) {
    use tokio::io::{AsyncBufReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let answers: std::collections::HashMap<&str, String> = answers(port).into_iter().collect();
    let asked = Arc::new(std::sync::Mutex::new(Vec::new()));
    let log = asked.clone();
    tokio::spawn(async move {
        while let Ok((stream, _)) = listener.accept().await {
            let (read, mut write) = stream.into_split();
            let mut line = String::new();
            let mut reader = tokio::io::BufReader::new(read);
            if reader.read_line(&mut line).await.is_err() {
                continue;
            }
            let q = line.trim().to_owned();
            log.lock().unwrap().push(q.clone());
            let answer = answers
                .get(q.as_str())
                .cloned()
                .unwrap_or_else(|| format!("No match for \"{}\".\r\n", q.to_uppercase()));
            let _ = write.write_all(answer.as_bytes()).await;
            let _ = write.shutdown().await;
        }
    });
    (port, asked)
}

#[tokio::test]
async fn rdap_gives_registration_data_waits_out_rate_limits_and_caches() {
    let lab = lab().await;
    // one registry per TLD, found through a bootstrap file (RFC 9224)
    let (com, org, bootstrap) = (
        Receiver::start().await,
        Receiver::start().await,
        Receiver::start().await,
    );
    bootstrap.serve_get(
        "/dns.json",
        serde_json::json!({"version": "1.0", "services": [
            [["com"], [format!("{}/rdap/", com.base)]],
            [["org", "info"], [format!("{}/", org.base)]],
        ]}),
    );
    let two_days_ago = humantime::format_rfc3339_seconds(
        std::time::SystemTime::now() - Duration::from_secs(2 * 24 * 3600),
    )
    .to_string();
    com.serve_get(
        "/rdap/domain/paypa1.com",
        rdap_domain("paypa1.com", &two_days_ago),
    );
    // the registry of 127.0.0.0/8 (here: the .com one) and its network
    bootstrap.serve_get(
        "/ipv4.json",
        serde_json::json!({"version": "1.0", "services": [
            [["10.0.0.0/8"], ["https://elsewhere.invalid/"]],
            [["127.0.0.0/8"], [format!("{}/rdap/", com.base)]],
        ]}),
    );
    com.serve_get(
        "/rdap/ip/127.0.0.1",
        serde_json::json!({
            "objectClassName": "ip network", "handle": "NET-127-0-0-0-1",
            "startAddress": "127.0.0.0", "endAddress": "127.255.255.255",
            "cidr0_cidrs": [{"v4prefix": "127.0.0.0", "length": 8}],
            "name": "LOOPBACK", "type": "RESERVED", "country": "ZZ",
            "entities": [
                {"objectClassName": "entity", "roles": ["registrant"],
                 "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", "Loopback Holder Inc."]]],
                 "entities": [{"objectClassName": "entity", "roles": ["abuse"],
                     "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["email", {}, "text", "abuse@loopback.example"]]]}]}
            ]
        }),
    );
    // the .org registry is busy at first, then has no such domain
    org.answer_next_with(&[Answer::new(429, "{}").header("Retry-After", "1")]);
    org.set_default(404);

    // .net and .xyz have no RDAP here: IANA's WHOIS refers .net to a
    // registry's port-43 server, and names none for .xyz
    let (whois_port, asked) = whois_server(|port| {
        vec![
            (
                "net",
                format!(
                    "% IANA WHOIS server\r\ndomain:       NET\r\nrefer:        127.0.0.1:{port}\r\n"
                ),
            ),
            ("xyz", "% IANA WHOIS server\r\ndomain:       XYZ\r\n".into()),
            (
                "paypal.net",
                "Domain Name: PAYPAL.NET\r\nRegistrar: Port Fortythree Registrar\r\n\
                 Creation Date: 2026-12-01T00:00:00Z\r\n\
                 Registrar Abuse Contact Email: abuse@p43.example\r\n\
                 Name Server: NS1.P43.EXAMPLE\r\n"
                    .into(),
            ),
        ]
    })
    .await;
    let url = format!("{}/dns.json", bootstrap.base);
    let (app, certstream, receiver) = enriching_app_with(&lab, true, |e| {
        e.rdap.enabled = true;
        e.rdap.whois_referral = format!("127.0.0.1:{whois_port}");
        e.rdap.ipv4_bootstrap_url = url.replace("dns.json", "ipv4.json");
        e.rdap.ipv6_bootstrap_url = String::new();
        e.rdap.bootstrap_url = url;
        e.rdap.timeout = Duration::from_secs(3);
    })
    .await;
    certstream.send_json(&cert_for(&["paypa1.com"], "rdap-1"));
    certstream.send_json(&cert_for(&["paypal.org"], "rdap-2"));
    certstream.send_json(&cert_for(&["paypal.net"], "rdap-3"));
    certstream.send_json(&cert_for(&["paypal.xyz"], "rdap-4"));

    let clone = wait_updates(&receiver, "paypa1.com", 1).await;
    let rdap = &clone[1]["enrichment"]["rdap"];
    assert_eq!(rdap["status"], "ok", "{rdap}");
    assert_eq!(rdap["data"]["registrar"], "NameCheap, Inc.");
    assert_eq!(rdap["data"]["registrar_iana_id"], "1068");
    assert_eq!(rdap["data"]["abuse_email"], "abuse@namecheap.com");
    assert_eq!(rdap["data"]["created"], two_days_ago.as_str());
    // the address's network, as scanhost reports it
    let net = &rdap["data"]["networks"][0];
    assert_eq!(net["ip"], "127.0.0.1", "{rdap}");
    assert_eq!(net["cidrs"][0], "127.0.0.0/8");
    assert_eq!(net["range"], "127.0.0.0 - 127.255.255.255");
    assert_eq!(net["name"], "LOOPBACK");
    assert_eq!(net["country"], "ZZ");
    assert_eq!(net["holder"], "Loopback Holder Inc.");
    assert_eq!(net["abuse_email"], "abuse@loopback.example");
    let explanation = clone[1]["match"]["explanation"].as_str().unwrap();
    assert!(
        explanation.contains("registered in the last 30 days"),
        "{explanation}"
    );

    // rate limited: pending, never an error; the next check after the
    // registry's Retry-After gets the answer and sends it as an update
    let busy = wait_updates(&receiver, "paypal.org", 1).await;
    let first = &busy[1]["enrichment"]["rdap"];
    assert_eq!(first["status"], "pending", "{first}");
    assert!(first["error"].as_str().unwrap().contains("429"), "{first}");
    let busy = wait_updates(&receiver, "paypal.org", 2).await;
    let later = &busy[2]["enrichment"]["rdap"];
    assert_eq!(later["status"], "ok", "{later}");
    assert_eq!(later["data"]["found"], false);

    // no RDAP for the TLD: port-43 WHOIS, through IANA's referral
    let net = wait_updates(&receiver, "paypal.net", 1).await;
    let whois = &net[1]["enrichment"]["rdap"];
    assert_eq!(whois["status"], "ok", "{whois}");
    let data = &whois["data"];
    assert_eq!(data["via"], "whois");
    assert_eq!(data["server"], format!("127.0.0.1:{whois_port}"));
    assert_eq!(data["registrar"], "Port Fortythree Registrar");
    assert_eq!(data["created"], "2026-12-01T00:00:00Z");
    assert_eq!(data["abuse_email"], "abuse@p43.example");
    assert_eq!(data["nameservers"][0], "ns1.p43.example");
    // neither RDAP nor WHOIS: skipped, and says why
    let xyz = wait_updates(&receiver, "paypal.xyz", 1).await;
    let skipped = &xyz[1]["enrichment"]["rdap"];
    assert_eq!(skipped["status"], "skipped", "{skipped}");
    assert!(
        skipped["error"]
            .as_str()
            .unwrap()
            .contains("no RDAP or WHOIS service for .xyz"),
        "{skipped}"
    );

    // re-checks use the cache: one bootstrap read, one lookup per domain
    tokio::time::sleep(Duration::from_millis(1500)).await;
    let lookups = |r: &Receiver, path: &str| r.requests().iter().filter(|q| q.path == path).count();
    assert_eq!(lookups(&com, "/rdap/domain/paypa1.com"), 1);
    assert_eq!(lookups(&bootstrap, "/dns.json"), 1);
    assert_eq!(lookups(&bootstrap, "/ipv4.json"), 1);
    assert_eq!(lookups(&com, "/rdap/ip/127.0.0.1"), 1, "kept per address");
    let questions = asked.lock().unwrap().clone();
    let count = |q: &str| questions.iter().filter(|x| *x == q).count();
    assert_eq!(
        (count("net"), count("paypal.net"), count("xyz")),
        (1, 1, 1),
        "the referral is kept per TLD and the answer per domain: {questions:?}"
    );
    assert_eq!(
        lookups(&org, "/domain/paypal.org"),
        2,
        "the 429, then the answer"
    );

    // each enricher's runs and cache hits are counted
    let status = app.get_json("/v1/status").await;
    let enrichers = status["enrichment"]["enrichers"].as_array().unwrap();
    let rdap = enrichers.iter().find(|e| e["name"] == "rdap").unwrap();
    assert!(rdap["cache_hits"].as_u64().unwrap() >= 1, "{rdap}");
    assert!(rdap["pending"].as_u64().unwrap() >= 1, "the 429: {rdap}");
    assert!(rdap["skipped"].as_u64().unwrap() >= 1, ".net: {rdap}");
    assert!(rdap["ok"].as_u64().unwrap() >= 2, "{rdap}");
    let names: Vec<&str> = enrichers
        .iter()
        .map(|e| e["name"].as_str().unwrap())
        .collect();
    assert_eq!(
        names,
        ["dns", "rdap", "http"],
        "registry order, enabled only"
    );
    // checks go on meanwhile: the counters only grow
    let hits = app
        .metric("certsentry_enricher_cache_hits_total{enricher=\"rdap\"}")
        .await;
    assert!(hits >= rdap["cache_hits"].as_u64().unwrap(), "{hits}");
    let pending = app
        .metric("certsentry_enricher_runs_total{enricher=\"rdap\",status=\"pending\"}")
        .await;
    assert!(pending >= rdap["pending"].as_u64().unwrap(), "{pending}");
}

/// Screenshots (cargo feature `screenshots`): the clone looks like the
/// brand's page, an unrelated page does not, and the browser reaches no
/// host but the one it was sent to.
///
/// The brand here is not paypal.com: Chromium preloads HSTS for it (and
/// for most big brands), so its `http://paypal.com:<port>/` becomes https
/// and the lab's plain-HTTP server never completes the handshake.
#[cfg(feature = "screenshots")]
#[tokio::test]
async fn screenshots_compare_the_page_with_the_brands_and_fetch_nothing_else() {
    let Some(chrome) = chromium_for_test() else {
        return;
    };
    let dns = FakeDns::start(vec![
        Rr::A("northwind.com", LOOP),
        Rr::A("www.northwind.com", LOOP),
        Rr::A("n0rthwind.com", LOOP),
        Rr::A("northwind-support.com", LOOP),
        Rr::A("internal.example", LOOP),
    ])
    .await;
    let web = WebServer::start().await;
    let port = web.port;
    // the clone also asks for two things the browser must not fetch
    let clone = brand_page().replace(
        "</body>",
        &format!("<img src=\"http://127.0.0.1:{port}/leak.png\"><img src=\"http://internal.example:{port}/x.png\"></body>"),
    );
    web.set("northwind.com", WebPage::Html(brand_page()));
    web.set("www.northwind.com", WebPage::Html(brand_page()));
    web.set("n0rthwind.com", WebPage::Html(clone));
    // a page of another look: a dark banner, large type, a photo grid
    let other = "<html><head><title>Gallery</title></head><body style=\"margin:0;background:#222;color:#eee\">\
        <div style=\"height:300px;background:#c33\"><h1 style=\"font-size:80px;margin:0\">OUR GALLERY</h1></div>\
        <div style=\"display:flex\"><div style=\"width:400px;height:400px;background:#3c3\"></div>\
        <div style=\"width:400px;height:400px;background:#33c\"></div><div style=\"width:480px;height:400px;background:#cc3\"></div></div></body></html>";
    web.set("northwind-support.com", WebPage::Html(other.to_owned()));
    let lab = Lab { dns, web };
    let shots = tempfile::tempdir().unwrap();
    let dir = shots.path().to_owned();
    let (app, certstream, receiver) = enriching_app_with(&lab, true, |e| {
        e.screenshot.enabled = true;
        e.screenshot.chromium = chrome.into();
        e.screenshot.dir = dir;
        e.http.similar_below = 0; // only the screenshot decides here
    })
    .await;
    std::fs::write(
        &app.list_path,
        r#"{"northwind.com": ["n0rthwind", "northwind-support"]}"#,
    )
    .unwrap();
    eventually(Duration::from_secs(10), "the northwind list", || async {
        app.get_json("/v1/status").await["list"]["brands"] == 1
    })
    .await;
    certstream.send_json(&cert_for(&["n0rthwind.com"], "shot-1"));
    certstream.send_json(&cert_for(&["northwind-support.com"], "shot-2"));
    let clone = wait_updates(&receiver, "n0rthwind.com", 1).await;
    let shot = &clone[1]["enrichment"]["screenshot"];
    assert_eq!(shot["status"], "ok", "{shot}");
    let path = shot["data"]["path"].as_str().unwrap();
    assert!(path.starts_with(shots.path().to_str().unwrap()), "{path}");
    let png = std::fs::read(path).unwrap();
    assert_eq!(&png[..8], b"\x89PNG\r\n\x1a\n");
    assert!(
        shot["data"]["brand_distance"].as_u64().unwrap() <= 10,
        "{shot}"
    );
    assert!(
        shot["data"]["verdicts"]
            .as_array()
            .unwrap()
            .iter()
            .any(|v| v == "looks_like_brand"),
        "{shot}"
    );
    let other = wait_updates(&receiver, "northwind-support.com", 1).await;
    let shot = &other[1]["enrichment"]["screenshot"];
    assert_eq!(shot["status"], "ok", "{shot}");
    assert!(
        shot["data"]["brand_distance"].as_u64().unwrap() > 10,
        "{shot}"
    );
    // the browser asked for the pages it was sent to and nothing else
    let hosts = lab.web.hosts();
    assert!(
        !hosts
            .iter()
            .any(|h| h == "127.0.0.1" || h == "internal.example"),
        "{hosts:?}"
    );
}

#[tokio::test]
async fn addresses_get_their_as_and_a_name_that_does_not_resolve_says_so() {
    let lab = lab().await;
    let files = tempfile::tempdir().unwrap();
    let tsv = files.path().join("ip2asn.tsv");
    std::fs::write(
        &tsv,
        "# start\tend\tasn\tcountry\tdescription\n\
         1.0.0.0\t1.0.0.255\t13335\tUS\tCLOUDFLARENET\n\
         127.0.0.0\t127.255.255.255\t64500\tZZ\tLOOPBACK-EXAMPLE-AS\n\
         128.0.0.0\t128.0.0.255\t0\tNone\tNot routed\n",
    )
    .unwrap();
    let (_app, certstream, receiver) = enriching_app_with(&lab, true, |e| e.asn.tsv = tsv).await;
    certstream.send_json(&cert_for(&["paypa1.com"], "asn-1"));
    certstream.send_json(&cert_for(&["paypal-secure.com"], "asn-2"));

    let clone = wait_updates(&receiver, "paypa1.com", 1).await;
    let asn = &clone[1]["enrichment"]["asn"];
    assert_eq!(asn["status"], "ok", "{asn}");
    let net = &asn["data"]["networks"][0];
    assert_eq!(net["ip"], "127.0.0.1");
    assert_eq!(net["asn"], 64500);
    assert_eq!(net["as_name"], "LOOPBACK-EXAMPLE-AS");
    assert_eq!(net["country"], "ZZ");
    assert_eq!(net["range"], "127.0.0.0 - 127.255.255.255");

    // no record at all: NXDOMAIN, nothing to look up or fetch
    let gone = wait_updates(&receiver, "paypal-secure.com", 1).await;
    let e = &gone[1]["enrichment"];
    assert_eq!(e["dns"]["data"]["exists"], false, "{e}");
    assert_eq!(e["asn"]["status"], "skipped", "{e}");
    assert!(verdicts(&gone[1]).contains(&"down".to_owned()), "{e}");
}

/// The same from a MaxMind DB ASN file (GeoLite2-ASN's layout): the AS,
/// its organisation and the announced prefix; a file of another kind is
/// refused at start with its name.
#[tokio::test]
async fn addresses_get_their_as_from_a_maxmind_asn_database() {
    let lab = lab().await;
    let files = tempfile::tempdir().unwrap();
    let mmdb = files.path().join("GeoLite2-ASN.mmdb");
    std::fs::write(
        &mmdb,
        asn_mmdb(&[
            ("1.0.0.0/24", 13335, "CLOUDFLARENET"),
            ("127.0.0.0/8", 64501, "LOOPBACK-MMDB-AS"),
            ("203.0.113.0/24", 64502, "DOCUMENTATION-AS"),
        ]),
    )
    .unwrap();
    let (_app, certstream, receiver) =
        enriching_app_with(&lab, true, |e| e.asn.mmdb = mmdb.clone()).await;
    certstream.send_json(&cert_for(&["paypa1.com"], "mmdb-1"));
    let clone = wait_updates(&receiver, "paypa1.com", 1).await;
    let asn = &clone[1]["enrichment"]["asn"];
    assert_eq!(asn["status"], "ok", "{asn}");
    let net = &asn["data"]["networks"][0];
    assert_eq!(net["ip"], "127.0.0.1");
    assert_eq!(net["asn"], 64501);
    assert_eq!(net["as_name"], "LOOPBACK-MMDB-AS");
    assert_eq!(net["range"], "127.0.0.0/8");
    assert!(net["country"].is_null(), "an ASN file has no country");

    // a file that is not an ASN database stops the start, and says which
    let city = files.path().join("city.mmdb");
    let bytes = asn_mmdb(&[("1.0.0.0/24", 1, "X")]);
    let at = bytes
        .windows(12)
        .position(|w| w == b"GeoLite2-ASN")
        .unwrap();
    let mut other = bytes.clone();
    other[at..at + 12].copy_from_slice(b"GeoLite2-Cty");
    std::fs::write(&city, other).unwrap();
    let dir = tempfile::tempdir().unwrap();
    let mut s = test_settings(dir.path(), "ws://127.0.0.1:9", &Receiver::start().await);
    s.enrichment.enabled = true;
    s.enrichment.asn.mmdb = city.clone();
    let config = s.validate().unwrap();
    let err = certsentry::Application::build(config)
        .await
        .err()
        .unwrap()
        .to_string();
    assert!(
        err.contains("city.mmdb") && err.contains("not an ASN one"),
        "{err}"
    );
}

/// TheHive and Splunk SOAR name the record they made; the enrichment
/// update then goes to that record (alert PATCH plus observables; the
/// container's severity plus an artifact), not into a second one.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn updates_are_applied_to_the_alert_and_container_the_soar_made() {
    use certsentry::{SinkFormat, SinkSettings, SplunkSoarSettings, TheHiveSettings};
    let lab = lab().await;
    let certstream = FakeCertstream::start().await;
    let hive = Receiver::start().await;
    hive.set_default_answer(Answer::new(201, r#"{"_id":"~41","_type":"Alert"}"#));
    let splunk = Receiver::start().await;
    splunk.set_default_answer(Answer::new(200, r#"{"id":7,"success":true}"#));
    let dir = Arc::new(tempfile::tempdir().unwrap());
    let mut s = test_settings(dir.path(), &certstream.url, &hive);
    s.sinks = vec![
        SinkSettings::new(
            "hive",
            SinkFormat::Thehive(TheHiveSettings {
                http: http(hive.base.clone(), "hive-key"),
                ..TheHiveSettings::default()
            }),
        ),
        SinkSettings::new(
            "splunk",
            SinkFormat::SplunkSoar(SplunkSoarSettings {
                http: http(splunk.base.clone(), "ph-token"),
                ..SplunkSoarSettings::default()
            }),
        ),
    ];
    let e = &mut s.enrichment;
    e.enabled = true;
    e.poll_interval = Duration::from_millis(50);
    e.recheck_interval = Duration::from_secs(3600);
    e.max_recheck_interval = Duration::from_secs(3600);
    e.dns.servers = vec![lab.dns.addr];
    e.http.http_port = lab.web.port;
    e.http.https_port = closed_port();
    e.rdap.enabled = false;
    e.http.per_address_per_second = 100_000.0;
    e.allow_cidrs = vec!["127.0.0.1/32".parse().unwrap()];
    let app = spawn_app_with(s, dir).await;
    certstream.wait_for_connections(1).await;
    certstream.send_json(&cert_for(&["paypa1.com"], "in-place"));

    // TheHive: one alert, then its PATCH and the new observables
    let observable_path = "/api/v1/alert/~41/observable";
    hive.wait_delivered(observable_path, 2).await;
    // how many observables enrichment found is not fixed (an AAAA, a
    // second MX); read them once the update has been delivered in full
    wait_outboxes_empty(&app).await;
    let observables = hive.delivered(observable_path);
    let alerts = hive.delivered("/api/v1/alert");
    assert_eq!(alerts.len(), 1, "no second alert for the update");
    assert!(alerts[0].body["observables"].as_array().unwrap().len() >= 2);
    let patch: Vec<_> = hive
        .requests()
        .into_iter()
        .filter(|r| r.path == "/api/v1/alert/~41")
        .collect();
    assert_eq!(patch.len(), 1, "{patch:?}");
    assert_eq!(patch[0].method, "PATCH");
    assert_eq!(patch[0].headers["authorization"], "Bearer hive-key");
    let incident = &app.incidents().await[0];
    let key = format!("{}-enr-1", incident["dedup_key"].as_str().unwrap());
    assert_eq!(patch[0].headers["idempotency-key"], key.as_str());
    let tags = patch[0].body["tags"].as_array().unwrap();
    assert!(tags.iter().any(|t| t == "verdict:login_form"), "{tags:?}");
    let pairs: Vec<(String, String)> = observables
        .iter()
        .map(|o| {
            let d = |k: &str| o.body[k].as_str().unwrap_or_default().to_owned();
            (d("dataType"), d("data"))
        })
        .collect();
    assert!(
        pairs.contains(&("ip".into(), "127.0.0.1".into())),
        "{pairs:?}"
    );
    assert!(
        pairs.contains(&("fqdn".into(), "mx.paypa1.com".into())),
        "{pairs:?}"
    );
    assert!(
        !pairs.iter().any(|(t, _)| t == "hash"),
        "only what enrichment found is added: {pairs:?}"
    );
    assert!(
        patch[0].at <= observables[0].at,
        "the alert is patched before observables are added"
    );

    // Splunk SOAR: one container, then its severity and an artifact in it
    let artifacts = splunk.wait_delivered("/rest/artifact", 1).await;
    assert_eq!(splunk.delivered("/rest/container").len(), 1);
    let container = splunk.delivered("/rest/container/7");
    assert_eq!(container.len(), 1);
    assert!(container[0].body["severity"].is_string());
    let a = &artifacts[0].body;
    assert_eq!(a["container_id"], 7);
    assert_eq!(a["name"], "Enrichment");
    assert_eq!(a["source_data_identifier"], format!("{key}-enrichment"));
    assert_eq!(a["cef"]["destinationAddress"], "127.0.0.1");
    assert_eq!(artifacts[0].headers["ph-auth-token"], "ph-token");

    // both outboxes drain and nothing is retried
    wait_outboxes_empty(&app).await;
    let mut unique = pairs.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(
        unique.len(),
        pairs.len(),
        "an observable sent twice: {pairs:?}"
    );
    app.stop().await;
}

async fn wait_outboxes_empty(app: &TestApp) {
    eventually(Duration::from_secs(10), "outboxes empty", || async move {
        let s = app.get_json("/v1/status").await;
        s["sinks"]
            .as_array()
            .unwrap()
            .iter()
            .all(|k| k["pending"] == 0 && k["failed"] == 0)
    })
    .await;
}

/// An address over `enrichment.http.per_address_per_second` is not
/// fetched: the result stays `pending` for the next check, and the web
/// server is never asked.
#[tokio::test]
async fn fetches_from_one_address_are_paced_and_left_pending() {
    let lab = lab().await;
    let (_app, certstream, receiver) = enriching_app_with(&lab, true, |e| {
        e.http.per_address_per_second = 0.01;
        e.http.timeout = Duration::from_secs(1);
    })
    .await;
    certstream.send_json(&cert_for(&["paypa1.com"], "paced-1"));
    let clone = wait_updates(&receiver, "paypa1.com", 1).await;
    let http = &clone[1]["enrichment"]["http"];
    // the first try (HTTPS, refused here) took the slot; the next is 100 s away
    assert_eq!(http["status"], "pending", "{http}");
    assert_eq!(
        http["error"], "127.0.0.1: over enrichment.http.per_address_per_second",
        "{http}"
    );
    assert!(
        !lab.web.hosts().contains(&"paypa1.com".to_owned()),
        "{:?}",
        lab.web.hosts()
    );
    assert!(
        !verdicts(&clone[1]).contains(&"down".to_owned()),
        "not down: unknown"
    );
}
