//! The binary's commands, run as a user would.

use serde_json::Value;
use std::process::Command;

fn certsentry() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_certsentry"));
    c.current_dir(env!("CARGO_MANIFEST_DIR"));
    c.env("RUST_LOG", "warn");
    c
}

#[test]
fn replay_back_tests_the_bundled_stream() {
    let out = certsentry()
        .args(["replay", "demo/stream.jsonl"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let incidents: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let mut domains: Vec<&str> = incidents
        .iter()
        .map(|i| i["domain"].as_str().unwrap())
        .collect();
    domains.sort();
    assert_eq!(
        domains,
        vec![
            "amazon-security.help",
            "bankofamerlca.com",
            "barc1ays.co.uk",
            "g00gle.com",
            "googel.com",
            "micorsoft.com",
            "paypa1.com",
            "paypal-login.top",
            "rnicrosoft.net",
            "xn--80ak6aa92e.com",
            "xn--mazon-3ve.com",
            "xn--pypal-4ve.com",
        ]
    );
    let stderr = String::from_utf8(out.stderr).unwrap();
    let summary: Value = serde_json::from_str(
        stderr
            .lines()
            .find_map(|l| l.strip_prefix("replay summary: "))
            .unwrap(),
    )
    .unwrap();
    assert_eq!(summary["bad_lines"], 1);
    assert_eq!(summary["heartbeats"], 3);
    assert_eq!(summary["dns_entries"], 1);
    assert_eq!(summary["incidents"], 12);
    assert_eq!(summary["repeat_sightings"], 1);
}

#[test]
fn match_prints_one_verdict_per_name() {
    let out = certsentry()
        .args([
            "match",
            "--list",
            "lists/example.json",
            "xn--80ak6aa92e.com",
            "apple.com",
            "not a name",
        ])
        .output()
        .unwrap();
    assert!(out.status.success());
    let lines: Vec<Value> = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert_eq!(lines[0]["brand"], "apple.com");
    assert_eq!(lines[0]["severity"], "critical");
    assert_eq!(lines[1]["matched"], false);
    assert!(lines[2]["error"].is_string());
}

#[test]
fn a_bad_config_exits_64_with_one_line_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "[matcher]\nsimilarity = 2.0\n").unwrap();
    let out = certsentry()
        .args(["check-config", "--config"])
        .arg(&path)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    let err = String::from_utf8(out.stderr).unwrap();
    assert_eq!(err.trim().lines().count(), 1, "{err}");
    assert!(err.contains("matcher.similarity"), "{err}");

    let out = certsentry()
        .args(["check-config"])
        .env("CERTSENTRY__DELIVERY__CONCURRENCY", "0")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(64));
    assert!(String::from_utf8_lossy(&out.stderr).contains("delivery.concurrency"));
}

#[test]
fn check_config_redacts_secrets() {
    let out = certsentry()
        .args(["check-config", "--config", "examples/certsentry.toml"])
        .env("CERTSENTRY__API__TOKEN", "very-secret-token")
        .env("XSOAR_WEBHOOK_PASSWORD", "hunter2")
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let shown = String::from_utf8(out.stdout).unwrap();
    assert!(
        !shown.contains("very-secret-token") && !shown.contains("hunter2"),
        "{shown}"
    );
    assert!(shown.contains("[REDACTED]"));
    assert!(shown.contains("xsoar-webhook"));
}
