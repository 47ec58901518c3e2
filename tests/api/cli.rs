//! The binary's commands, run as a user would.

use crate::helpers::{certsentry, json_lines, run_ok};
use serde_json::Value;

#[test]
fn replay_back_tests_the_bundled_stream() {
    let out = run_ok(certsentry().args(["replay", "demo/stream.jsonl"]));
    let incidents = json_lines(&out.stdout);
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
    let lines = json_lines(&out.stdout);
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
fn listening_beyond_loopback_without_a_token_is_refused_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("c.toml");
    std::fs::write(&path, "[api]\nlisten = \"0.0.0.0:8080\"\n").unwrap();
    for cmd in ["check-config", "serve"] {
        let out = certsentry()
            .args([cmd, "--config"])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(64), "{cmd}");
        let err = String::from_utf8(out.stderr).unwrap();
        assert_eq!(err.trim().lines().count(), 1, "{cmd}: {err}");
        assert!(
            err.contains("api.token") && err.contains("0.0.0.0:8080"),
            "{err}"
        );
    }
    // with a token, or the explicit opt-out, the same address is accepted
    run_ok(
        certsentry()
            .args(["check-config", "--config"])
            .arg(&path)
            .env("CERTSENTRY__API__TOKEN", "a-token"),
    );
    std::fs::write(
        &path,
        "[api]\nlisten = \"0.0.0.0:8080\"\nallow_unauthenticated = true\n",
    )
    .unwrap();
    run_ok(certsentry().args(["check-config", "--config"]).arg(&path));
}

#[test]
fn check_config_redacts_secrets() {
    let out = run_ok(
        certsentry()
            .args(["check-config", "--config", "examples/certsentry.toml"])
            .env("CERTSENTRY__API__TOKEN", "very-secret-token")
            .env("XSOAR_WEBHOOK_PASSWORD", "hunter2"),
    );
    let shown = String::from_utf8(out.stdout).unwrap();
    assert!(
        !shown.contains("very-secret-token") && !shown.contains("hunter2"),
        "{shown}"
    );
    assert!(shown.contains("[REDACTED]"));
    assert!(shown.contains("xsoar-webhook"));
}

#[test]
fn incidents_export_writes_csv_and_jsonl_from_the_store() {
    use certsentry::{DedupPolicy, Recorder, Store};
    let dir = tempfile::tempdir().unwrap();
    let db = dir.path().join("certsentry.db");
    {
        let store = Store::open(&db).unwrap();
        let list = certsentry::Watchlist::parse(crate::helpers::TEST_LIST, 1 << 20).unwrap();
        let matcher = certsentry::Matcher::compile(&list, &Default::default());
        let policy = DedupPolicy {
            window: std::time::Duration::from_secs(86400),
            send_updates: false,
        };
        for name in ["paypa1.com", "micorsoft.com", "app1e.net"] {
            let fqdn = certsentry::Fqdn::parse(name).unwrap();
            let verdict = matcher.match_name(&fqdn).remove(0);
            let incident = certsentry::Incident::new(
                verdict,
                &Default::default(),
                ulid::Ulid::generate(),
                std::time::SystemTime::now(),
            );
            store
                .record(&incident, &[], policy, std::time::SystemTime::now())
                .unwrap();
        }
    }
    let out = run_ok(
        certsentry()
            .args(["incidents", "export", "--format", "csv", "--db"])
            .arg(&db),
    );
    let csv = String::from_utf8(out.stdout).unwrap();
    let rows: Vec<&str> = csv.split("\r\n").filter(|r| !r.is_empty()).collect();
    assert_eq!(rows.len(), 4, "{csv}");
    assert!(rows[0].starts_with("id,first_seen"));
    assert!(String::from_utf8_lossy(&out.stderr).contains("exported 3 incidents"));

    let file = dir.path().join("typos.jsonl");
    let out = certsentry()
        .args(["incidents", "export", "--kind", "typo", "--output"])
        .arg(&file)
        .arg("--db")
        .arg(&db)
        .output()
        .unwrap();
    assert!(out.status.success());
    let lines = json_lines(&std::fs::read(&file).unwrap());
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["domain"], "micorsoft.com");

    for bad in [
        vec!["--format", "xml"],
        vec!["--severity", "urgent"],
        vec!["--since", "yesterday"],
    ] {
        let out = certsentry()
            .args(["incidents", "export", "--db"])
            .arg(&db)
            .args(&bad)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{bad:?}");
        assert!(!String::from_utf8_lossy(&out.stderr).is_empty());
    }
    let out = certsentry()
        .args(["incidents", "export", "--db", "/nonexistent/x.db"])
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no database"));
}

#[test]
fn check_config_redacts_every_sink_secret_and_names_bad_sink_keys() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("sinks.toml");
    std::fs::write(
        &path,
        r#"
[[sinks]]
kind = "xsoar-rest"
url = "https://xsoar.example"
token = "xsoar-key-111"
xsoar_version = 8
api_key_id = "7"
[[sinks]]
kind = "thehive"
url = "https://thehive.example"
token = "hive-key-222"
[[sinks]]
kind = "splunk-soar"
url = "https://soar.example"
token = "splunk-token-333"
[[sinks]]
kind = "webhook"
url = "https://hook.example"
secret = "whsec_c2lnbmluZy1zZWNyZXQtNDQ0"
headers = { X-Api-Key = "header-555" }
"#,
    )
    .unwrap();
    let out = run_ok(certsentry().args(["check-config", "--config"]).arg(&path));
    let shown = String::from_utf8(out.stdout).unwrap();
    for secret in [
        "xsoar-key-111",
        "hive-key-222",
        "splunk-token-333",
        "c2lnbmluZy",
        "header-555",
    ] {
        assert!(!shown.contains(secret), "{secret} shown:\n{shown}");
    }
    assert!(shown.matches("[REDACTED]").count() >= 5);

    for (toml, key) in [
        (
            "kind = \"thehive\"\nurl = \"https://h.example\"",
            "sinks[0].token",
        ),
        (
            "kind = \"xsoar-rest\"\nurl = \"https://x.example\"\ntoken = \"k\"\nxsoar_version = 8",
            "sinks[0].api_key_id",
        ),
        (
            "kind = \"xsoar-rest\"\nurl = \"https://x.example\"\ntoken = \"k\"\nxsoar_version = 7",
            "sinks[0].xsoar_version",
        ),
        (
            "url = \"https://h.example\"\nsecret = \"whsec_!!notbase64\"",
            "sinks[0].secret",
        ),
        ("url = \"https://h.example\"\ntlp = 4", "sinks[0].tlp"),
        (
            "url = \"https://h.example\"\nca_file = \"/nonexistent/ca.pem\"",
            "sinks[0].ca_file",
        ),
    ] {
        std::fs::write(&path, format!("[[sinks]]\n{toml}\n")).unwrap();
        let out = certsentry()
            .args(["check-config", "--config"])
            .arg(&path)
            .output()
            .unwrap();
        assert_eq!(out.status.code(), Some(64), "{toml}");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(err.contains(key), "{key}: {err}");
        assert!(
            !err.contains("notbase64"),
            "the secret is not echoed: {err}"
        );
    }
}

/// `deploy/`: each role's config passes `check-config` (with the
/// environment its unit and compose service give it), its systemd unit
/// starts the binary with that config, and compose runs every role against
/// its nats service with the same files.
#[test]
fn the_deploy_files_start_each_role_with_a_config_that_passes_check_config() {
    let compose = std::fs::read_to_string("deploy/compose.yaml").unwrap();
    let mut compose: serde_norway::Value = serde_norway::from_str(&compose).unwrap();
    compose.apply_merge().unwrap();
    let services = compose["services"].as_mapping().unwrap();
    assert!(services.contains_key("nats"));
    for (role, instances) in [
        ("ct-reader", 2),
        ("matcher", 2),
        ("delivery", 1),
        ("enricher", 1),
    ] {
        let config = format!("deploy/{role}.toml");
        let out = run_ok(
            certsentry()
                .args(["check-config", "--config", &config])
                .env("CERTSENTRY_API_TOKEN", "a-token")
                .env("XSOAR_WEBHOOK_PASSWORD", "a-password"),
        );
        let shown: toml::Value = toml::from_str(&String::from_utf8(out.stdout).unwrap()).unwrap();
        let roles = shown["bus"]["roles"].as_array().unwrap();
        assert_eq!(roles[0].as_str(), Some(role), "{config}: {roles:?}");

        let unit = std::fs::read_to_string(format!("deploy/certsentry-{role}.service")).unwrap();
        let exec = unit.lines().find(|l| l.starts_with("ExecStart=")).unwrap();
        assert_eq!(
            exec,
            format!(
                "ExecStart=/usr/local/bin/certsentry serve --config /etc/certsentry/{role}.toml"
            )
        );

        let running: Vec<&serde_norway::Value> = services
            .iter()
            .filter(|(name, _)| name.as_str().is_some_and(|n| n.starts_with(role)))
            .map(|(_, s)| s)
            .collect();
        assert!(running.len() >= instances, "{role}: {instances} in compose");
        for s in running {
            let command: Vec<&str> = s["command"]
                .as_sequence()
                .unwrap()
                .iter()
                .filter_map(|c| c.as_str())
                .collect();
            let mounted = format!("/etc/certsentry/{role}.toml");
            assert_eq!(command, ["serve", "--config", mounted.as_str()]);
            let volumes = s["volumes"].as_sequence().unwrap();
            assert!(
                volumes
                    .iter()
                    .any(|v| v.as_str() == Some(&format!("./{role}.toml:{mounted}:ro"))),
                "{role}: its config is mounted"
            );
            assert_eq!(
                s["environment"]["CERTSENTRY__BUS__URL"].as_str(),
                Some("nats://nats:4222")
            );
        }
    }
}
