//! Golden tests: real certstream messages parse to exactly their JSON's fields.

use certsentry::UpdateType;
use certsentry::{Frame, parse_frame};
use serde_json::Value;

fn parse(text: &str) -> Box<certsentry::CertEvent> {
    match parse_frame(text.as_bytes(), "golden").expect("parses") {
        Frame::Certificate(e) => e,
        other => panic!("expected a certificate, got {other:?}"),
    }
}

fn check(text: &str) {
    let v: Value = serde_json::from_str(text).unwrap();
    let data = &v["data"];
    let leaf = &data["leaf_cert"];
    let ev = parse(text);
    let c = &ev.certificate;
    let names: Vec<String> = serde_json::from_value(leaf["all_domains"].clone()).unwrap();
    assert_eq!(c.all_domains, names);
    assert_eq!(c.serial_number, leaf["serial_number"].as_str().unwrap());
    assert_eq!(
        c.sha1,
        leaf["sha1"]
            .as_str()
            .unwrap_or_else(|| leaf["fingerprint"].as_str().unwrap())
    );
    assert_eq!(c.sha1, leaf["fingerprint"].as_str().unwrap());
    if let Some(sha256) = leaf["sha256"].as_str() {
        assert_eq!(c.sha256, sha256);
    }
    assert_eq!(c.not_before, leaf["not_before"].as_i64());
    assert_eq!(c.not_after, leaf["not_after"].as_i64());
    assert_eq!(
        c.signature_algorithm,
        leaf["signature_algorithm"].as_str().unwrap_or("")
    );
    assert_eq!(c.is_ca, leaf["is_ca"].as_bool());
    assert_eq!(
        serde_json::to_value(&c.subject).unwrap(),
        without_nulls(&leaf["subject"])
    );
    if !leaf["issuer"].is_null() {
        assert_eq!(
            serde_json::to_value(&c.issuer).unwrap(),
            without_nulls(&leaf["issuer"])
        );
    }
    let expected_type = match data["update_type"].as_str().unwrap() {
        "PrecertLogEntry" => UpdateType::PrecertLogEntry,
        _ => UpdateType::X509LogEntry,
    };
    assert_eq!(c.update_type, expected_type);
    assert_eq!(
        Value::Object(c.extensions.clone().into_iter().collect()),
        leaf["extensions"]
    );
    assert_eq!(ev.ct.cert_index, data["cert_index"].as_u64());
    assert_eq!(ev.ct.cert_link, data["cert_link"].as_str().unwrap());
    assert_eq!(ev.ct.log_name, data["source"]["name"].as_str().unwrap());
    let url = data["source"]["url"].as_str().unwrap();
    if url.contains("://") {
        assert_eq!(ev.ct.log_url, url);
    } else {
        // old messages carry the log URL without a scheme
        assert_eq!(ev.ct.log_url, format!("https://{url}"));
    }
    assert_eq!(ev.ct.seen, data["seen"].as_f64().unwrap());
}

#[test]
fn the_40_real_ct_entries_parse_to_their_expected_full_fields() {
    let entries: Vec<Value> =
        serde_json::from_str(include_str!("../fixtures/live_ct.json")).unwrap();
    assert_eq!(entries.len(), 40);
    for e in &entries {
        check(e["expected_full"].as_str().unwrap());
        // the lite stream carries the same certificate fields
        check(e["expected_lite"].as_str().unwrap());
        // and /domains-only the same names
        let dom: Value =
            serde_json::from_str(e["expected_domains_only"].as_str().unwrap()).unwrap();
        match parse_frame(
            e["expected_domains_only"].as_str().unwrap().as_bytes(),
            "golden",
        )
        .unwrap()
        {
            Frame::Domains(ev) => assert_eq!(
                serde_json::to_value(&ev.certificate.all_domains).unwrap(),
                dom["data"]
            ),
            other => panic!("expected dns_entries, got {other:?}"),
        }
    }
}

#[test]
fn calidogs_2020_example_with_chain_parses() {
    let text = include_str!("../fixtures/calidog_example_full.json");
    let ev = parse(text);
    assert_eq!(
        ev.certificate.all_domains,
        vec!["access.smm-cheap.com", "www.access.smm-cheap.com"]
    );
    // no sha256 and no issuer in 2020's format: tolerated
    assert_eq!(ev.certificate.sha256, "");
    assert_eq!(ev.ct.cert_index, Some(343999487));
    check(text);
}

/// `null` members dropped at every depth (certstream writes absent DN parts
/// as null; certsentry leaves them out).
fn without_nulls(v: &Value) -> Value {
    match v {
        Value::Object(m) => Value::Object(
            m.iter()
                .filter(|(_, v)| !v.is_null())
                .map(|(k, v)| (k.clone(), without_nulls(v)))
                .collect(),
        ),
        Value::Array(a) => Value::Array(a.iter().map(without_nulls).collect()),
        other => other.clone(),
    }
}

#[test]
fn certstream_messages_relayed_by_the_certstream_server_are_unchanged() {
    // a certstream source feeding certsentry's own certstream server: what
    // comes out is what came in, `as_der`, `chain` and all
    use certsentry::stream::{StreamFormat, render};
    let entries: Vec<Value> =
        serde_json::from_str(include_str!("../fixtures/live_ct.json")).unwrap();
    let mut with_chain = 0;
    for e in &entries {
        for (key, format) in [
            ("expected_full", StreamFormat::Full),
            ("expected_lite", StreamFormat::Lite),
            ("expected_domains_only", StreamFormat::DomainsOnly),
        ] {
            let text = e[key].as_str().unwrap();
            let event = match parse_frame(text.as_bytes(), "relay").unwrap() {
                Frame::Certificate(ev) | Frame::Domains(ev) => ev,
                other => panic!("expected a certificate, got {other:?}"),
            };
            let sent: Value = serde_json::from_str(text).unwrap();
            assert_eq!(
                without_nulls(&render(&event, format)),
                without_nulls(&sent),
                "{key} of {}",
                e["leaf_input"].as_str().unwrap_or("?")
            );
            with_chain += usize::from(!event.chain.is_empty() && format == StreamFormat::Full);
        }
    }
    assert!(with_chain > 30, "{with_chain} entries had a chain");
}
