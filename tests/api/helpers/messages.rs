//! Real certstream messages (the 40 fixture entries) and lookalikes made
//! from them, and the incidents `certsentry replay` raises for a stream.

use serde_json::Value;

/// The 40 real CT entries' `expected_full` messages (certstream-server-rust fixtures, MIT).
pub fn real_messages() -> Vec<Value> {
    let text = include_str!("../../fixtures/live_ct.json");
    let entries: Vec<Value> = serde_json::from_str(text).unwrap();
    entries
        .iter()
        .map(|e| serde_json::from_str(e["expected_full"].as_str().unwrap()).unwrap())
        .collect()
}

/// A real certificate message with its names (and fingerprints, so it is a
/// distinct certificate) replaced.
pub fn cert_for(names: &[&str], tag: &str) -> Value {
    let mut m = real_messages()[1].clone();
    let leaf = &mut m["data"]["leaf_cert"];
    leaf["all_domains"] = serde_json::json!(names);
    let digest = |s: &str| {
        use std::hash::{Hash, Hasher};
        let mut h = std::collections::hash_map::DefaultHasher::new();
        (names, tag, s).hash(&mut h);
        format!("{:016X}", h.finish())
    };
    leaf["sha256"] = Value::String(digest("sha256"));
    leaf["sha1"] = Value::String(digest("sha1"));
    leaf["fingerprint"] = leaf["sha1"].clone();
    m
}

/// The incidents `certsentry replay` (the offline back-test) raises for
/// `stream`, with `list` or the configured default list.
pub fn replay_incidents(stream: &std::path::Path, list: Option<&std::path::Path>) -> Vec<Value> {
    let mut cmd = std::process::Command::new(env!("CARGO_BIN_EXE_certsentry"));
    cmd.arg("replay")
        .arg(stream)
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .env("RUST_LOG", "warn");
    if let Some(list) = list {
        cmd.arg("--list").arg(list);
    }
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}
