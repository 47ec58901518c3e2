//! Golden tests for direct CT reading: the 40 real `get-entries` entries and
//! the 11 synthetic edge cases, parsed from their bytes and rendered as
//! certstream messages, equal the reference server's `expected_full`,
//! `expected_lite` and `expected_domains_only` exactly.

use certsentry::ct::{LogMeta, event_from_get_entries, x509};
use certsentry::stream::{StreamFormat, render};
use certsentry::{CertEvent, CtSource, UpdateType};
use serde_json::Value;

fn diff(path: &str, got: &Value, want: &Value, out: &mut Vec<String>) {
    match (got, want) {
        (Value::Object(g), Value::Object(w)) => {
            for (k, wv) in w {
                match g.get(k) {
                    Some(gv) => diff(&format!("{path}.{k}"), gv, wv, out),
                    None => out.push(format!("{path}.{k}: missing, want {wv}")),
                }
            }
            for k in g.keys().filter(|k| !w.contains_key(*k)) {
                out.push(format!("{path}.{k}: extra {}", g[k]));
            }
        }
        (Value::Array(g), Value::Array(w)) if g.len() == w.len() => {
            for (i, (gv, wv)) in g.iter().zip(w).enumerate() {
                diff(&format!("{path}[{i}]"), gv, wv, out);
            }
        }
        _ if got == want => {}
        _ => out.push(format!("{path}: got {got}, want {want}")),
    }
}

fn check(name: &str, event: &CertEvent, entry: &Value, problems: &mut Vec<String>) {
    for (format, key) in [
        (StreamFormat::Full, "expected_full"),
        (StreamFormat::Lite, "expected_lite"),
        (StreamFormat::DomainsOnly, "expected_domains_only"),
    ] {
        let want: Value = serde_json::from_str(entry[key].as_str().unwrap()).unwrap();
        let mut d = Vec::new();
        diff("", &render(event, format), &want, &mut d);
        problems.extend(d.into_iter().map(|p| format!("{name} {key}{p}")));
    }
}

#[test]
fn real_get_entries_parse_to_exactly_the_reference_messages() {
    let entries: Vec<Value> =
        serde_json::from_str(include_str!("../fixtures/live_ct.json")).unwrap();
    assert_eq!(entries.len(), 40);
    let mut problems = Vec::new();
    let mut precerts = 0;
    for e in &entries {
        let log = LogMeta {
            name: e["log_name"].as_str().unwrap().to_owned(),
            url: e["log_url"].as_str().unwrap().to_owned(),
            tiled: false,
        };
        let event = event_from_get_entries(
            e["leaf_input"].as_str().unwrap(),
            e["extra_data"].as_str().unwrap(),
            &log,
            e["cert_index"].as_u64().unwrap(),
            1_700_000_000.0,
            &mut Default::default(),
        )
        .unwrap_or_else(|err| panic!("{}: {err}", e["name"]));
        if event.certificate.update_type == UpdateType::PrecertLogEntry {
            precerts += 1;
        }
        check(e["name"].as_str().unwrap(), &event, e, &mut problems);
    }
    assert!(precerts > 0 && precerts < 40, "both kinds are covered");
    assert!(
        problems.is_empty(),
        "{} differences:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

#[test]
fn synthetic_edge_cases_parse_to_exactly_the_reference_messages() {
    use base64::Engine;
    let entries: Vec<Value> =
        serde_json::from_str(include_str!("../fixtures/synthetic.json")).unwrap();
    assert_eq!(entries.len(), 11);
    let mut problems = Vec::new();
    for e in &entries {
        let der = base64::engine::general_purpose::STANDARD
            .decode(e["der_b64"].as_str().unwrap())
            .unwrap();
        let want: Value = serde_json::from_str(e["expected_full"].as_str().unwrap()).unwrap();
        let d = &want["data"];
        let event = CertEvent {
            certificate: x509::certificate(&der, UpdateType::X509LogEntry).unwrap(),
            ct: CtSource {
                log_name: d["source"]["name"].as_str().unwrap().to_owned(),
                log_url: d["source"]["url"].as_str().unwrap().to_owned(),
                cert_index: d["cert_index"].as_u64(),
                cert_link: d["cert_link"].as_str().unwrap().to_owned(),
                seen: 1_700_000_000.0,
            },
            as_der: Some(e["der_b64"].as_str().unwrap().to_owned()),
            submission_timestamp: e["submission_timestamp"].as_f64(),
            ..CertEvent::default()
        };
        check(e["name"].as_str().unwrap(), &event, e, &mut problems);
    }
    assert!(
        problems.is_empty(),
        "{} differences:\n{}",
        problems.len(),
        problems.join("\n")
    );
}
