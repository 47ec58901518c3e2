//! The XSOAR pack in `xsoar/Packs/CertSentry` (its playbooks are
//! `playbooks/`): the mapper only names fields that exist (the pack's, the
//! CertStream pack's, or XSOAR's own), every path it reads exists in a real
//! incident, the sinks' defaults and CustomFields are the pack's, and the
//! playbooks call only commands the integration has, with their arguments.
//! demisto-sdk's validate and the integration's own tests are run by
//! `xsoar/test.sh`.

use certsentry::{XsoarRestSettings, XsoarWebhookSettings};
use serde_json::Value;
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

fn pack() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("xsoar/Packs/CertSentry")
}

fn json(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn yaml(path: &Path) -> Value {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_norway::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn files(dir: &str, ext: &str) -> Vec<PathBuf> {
    let mut out: Vec<PathBuf> = std::fs::read_dir(pack().join(dir))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == ext))
        .collect();
    out.sort();
    out
}

/// The incident type, and every field the mapper may fill: name → cliName.
struct Fields {
    type_name: String,
    pack: BTreeMap<String, String>,
    elsewhere: BTreeMap<String, String>,
}

fn fields() -> Fields {
    let types = files("IncidentTypes", "json");
    assert_eq!(types.len(), 1);
    let itype = json(&types[0]);
    let type_name = itype["name"].as_str().unwrap().to_owned();
    assert_eq!(itype["id"], type_name.as_str());
    let mut pack = BTreeMap::new();
    for path in files("IncidentFields", "json") {
        let f = json(&path);
        let cli = f["cliName"].as_str().unwrap();
        assert!(
            cli.starts_with("certsentry")
                && cli
                    .chars()
                    .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
            "{cli}: the pack's fields are certsentry*, never the CertStream pack's ids"
        );
        assert_eq!(f["id"], format!("incident_{cli}"));
        assert_eq!(f["content"], true, "{cli}");
        assert!(
            f["associatedTypes"]
                .as_array()
                .unwrap()
                .contains(&Value::from(type_name.as_str())),
            "{cli}"
        );
        let name = f["name"].as_str().unwrap().to_owned();
        assert!(pack.insert(name, cli.to_owned()).is_none(), "{cli} twice");
    }
    let facts =
        json(&Path::new(env!("CARGO_MANIFEST_DIR")).join("xsoar/tests/certstream_fields.json"));
    let elsewhere = facts["fields"]
        .as_array()
        .unwrap()
        .iter()
        .chain(facts["system"].as_array().unwrap())
        .map(|f| {
            (
                f["name"].as_str().unwrap().to_owned(),
                f["cliName"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    Fields {
        type_name,
        pack,
        elsewhere,
    }
}

/// Real incidents: the back-test of the bundled demo stream.
fn real_incidents() -> Vec<Value> {
    let stream = Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/stream.jsonl");
    crate::helpers::replay_incidents(&stream, None)
}

fn resolve<'a>(v: &'a Value, dotted: &str) -> Option<&'a Value> {
    dotted
        .split('.')
        .filter(|p| !p.is_empty())
        .try_fold(v, |v, key| v.get(key))
}

#[test]
fn the_mapper_fills_defined_fields_from_paths_a_real_incident_has() {
    let f = fields();
    let classifier = json(&pack().join("Classifiers/classifier-CertSentry.json"));
    assert_eq!(classifier["type"], "classification");
    assert_eq!(classifier["defaultIncidentType"], f.type_name.as_str());
    let mapper = json(&pack().join("Classifiers/classifier-mapper-incoming-CertSentry.json"));
    assert_eq!(mapper["type"], "mapping-incoming");
    let internal = mapper["mapping"][f.type_name.as_str()]["internalMapping"]
        .as_object()
        .unwrap();
    let incidents = real_incidents();
    let paypal = incidents
        .iter()
        .find(|i| i["domain"] == "paypa1.com")
        .unwrap();
    let typo = incidents
        .iter()
        .find(|i| i["match"]["kind"] == "typo")
        .unwrap();
    for (field, how) in internal {
        assert!(
            f.pack.contains_key(field) || f.elsewhere.contains_key(field),
            "the mapper fills {field:?}, which is not defined"
        );
        let path = match how.get("simple").and_then(Value::as_str) {
            Some(p) if !p.is_empty() => p.to_owned(),
            _ => {
                let c = &how["complex"];
                let root = c["root"].as_str().unwrap();
                match c["accessor"].as_str().unwrap_or("") {
                    "" => root.to_owned(),
                    acc => format!("{root}.{acc}"),
                }
            }
        };
        // the integration adds these to the raw JSON (its unit tests map an
        // enriched incident through them)
        if path.starts_with("enrichment_summary.") || path.starts_with("mirror_") {
            continue;
        }
        // the similarity is only measured on typos; every other path is always there
        let incident = if path == "match.similarity" {
            typo
        } else {
            paypal
        };
        let value = resolve(incident, &path)
            .unwrap_or_else(|| panic!("{field}: {path} is not in an incident"));
        assert!(!value.is_null(), "{field}: {path} is null");
    }
    // every field of the pack is filled, and what Suspicious Domain Hunting reads
    for name in f.pack.keys() {
        assert!(internal.contains_key(name), "{name} is never filled");
    }
    for sdh in ["Domain", "CertStream User asset", "CertStream Fingerprint"] {
        assert!(internal.contains_key(sdh), "{sdh}");
    }
    // the user asset is the brand's real domain (SDH rasterizes https://<asset>)
    assert_eq!(internal["CertStream User asset"]["simple"], "brand");
    assert_eq!(paypal["brand"], "paypal.com");
}

#[test]
fn the_sinks_send_the_packs_incident_type_and_defined_custom_fields() {
    let f = fields();
    assert_eq!(XsoarWebhookSettings::default().incident_type, f.type_name);
    assert_eq!(XsoarRestSettings::default().incident_type, f.type_name);
    let defined: BTreeSet<&str> = f
        .pack
        .values()
        .chain(f.elsewhere.values())
        .map(String::as_str)
        .collect();
    let source = include_str!("../../src/sink/xsoar_rest.rs");
    let block = source
        .split("\"CustomFields\": {")
        .nth(1)
        .unwrap()
        .split('}')
        .next()
        .unwrap();
    let sent: BTreeSet<&str> = block
        .lines()
        .filter_map(|l| l.trim().strip_prefix('"'))
        .filter_map(|l| l.split('"').next())
        .collect();
    for cli in &sent {
        assert!(
            defined.contains(cli),
            "CustomFields sends {cli}, not a defined field"
        );
    }
    for cli in f.pack.values() {
        assert!(
            sent.contains(cli.as_str()),
            "the REST sink never fills {cli}"
        );
    }
}

/// The integration's commands and their arguments.
fn commands() -> BTreeMap<String, BTreeSet<String>> {
    let yml = yaml(&pack().join("Integrations/CertSentry/CertSentry.yml"));
    yml["script"]["commands"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            let args = c["arguments"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|x| x["name"].as_str().unwrap().to_owned())
                        .collect()
                })
                .unwrap_or_default();
            (c["name"].as_str().unwrap().to_owned(), args)
        })
        .collect()
}

#[test]
fn the_playbooks_resolve_and_call_the_integrations_commands_without_a_token() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("playbooks");
    let linked = pack().join("Playbooks");
    assert_eq!(
        std::fs::canonicalize(&linked).unwrap(),
        std::fs::canonicalize(&dir).unwrap(),
        "the pack takes its playbooks from playbooks/"
    );
    let cmds = commands();
    let itype = json(&files("IncidentTypes", "json")[0]);
    let mut names = BTreeSet::new();
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        let text = std::fs::read_to_string(&path).unwrap();
        let pb = yaml(&path);
        let pb_name = pb["name"].as_str().unwrap().to_owned();
        assert_eq!(pb["id"], pb_name.as_str());
        assert_eq!(pb["version"], -1);
        let tasks = pb["tasks"].as_object().unwrap();
        let start = pb["starttaskid"].as_str().unwrap();
        assert_eq!(
            tasks.values().filter(|t| t["type"] == "start").count(),
            1,
            "{pb_name}: one start"
        );
        assert_eq!(tasks[start]["type"], "start");
        let mut called = BTreeSet::new();
        for (id, task) in tasks {
            assert_eq!(task["id"].as_str(), Some(id.as_str()), "task key = id");
            assert!(task["taskid"].is_string() && task["taskid"] == task["task"]["id"]);
            assert!(task["task"]["description"].is_string(), "{pb_name} {id}");
            for targets in task["nexttasks"]
                .as_object()
                .into_iter()
                .flat_map(|m| m.values())
            {
                for t in targets.as_array().unwrap() {
                    assert!(
                        tasks.contains_key(t.as_str().unwrap()),
                        "{pb_name} {id} -> {t}"
                    );
                }
            }
            if let Some(script) = task["task"]["script"].as_str() {
                assert_eq!(task["task"]["iscommand"], true, "{pb_name} {id}: {script}");
                if let Some(cmd) = script.strip_prefix("CertSentry|||") {
                    let args = cmds
                        .get(cmd)
                        .unwrap_or_else(|| panic!("{pb_name} calls {cmd}, not a command"));
                    for arg in task["scriptarguments"]
                        .as_object()
                        .into_iter()
                        .flat_map(|m| m.keys())
                    {
                        assert!(args.contains(arg), "{pb_name}: {cmd} has no argument {arg}");
                    }
                    called.insert(cmd.to_owned());
                }
            }
        }
        // reachable from the start
        let mut seen = BTreeSet::new();
        let mut todo = vec![start.to_owned()];
        while let Some(t) = todo.pop() {
            if seen.insert(t.clone()) {
                for targets in tasks[&t]["nexttasks"]
                    .as_object()
                    .into_iter()
                    .flat_map(|m| m.values())
                {
                    todo.extend(
                        targets
                            .as_array()
                            .unwrap()
                            .iter()
                            .map(|v| v.as_str().unwrap().to_owned()),
                    );
                }
            }
        }
        assert_eq!(seen.len(), tasks.len(), "{pb_name}: every task reachable");
        // no pasted URL or token, no generic http script
        let lower = text.to_lowercase();
        for banned in [
            "bearer",
            "authorization",
            "http://",
            "https://",
            "scriptname: http",
            "script: http",
        ] {
            assert!(!lower.contains(banned), "{pb_name} mentions {banned}");
        }
        for input in pb["inputs"].as_array().unwrap() {
            let key = input["key"].as_str().unwrap().to_lowercase();
            assert!(
                !key.contains("token") && !key.contains("url"),
                "{pb_name}: input {key}"
            );
        }
        match pb_name.as_str() {
            "CertSentry - Create list for PTH" => {
                assert!(called.contains("certsentry-list-generate"));
                assert!(text.contains("sync"), "pushes the list to certsentry");
                assert!(text.contains("IsListExist"));
                assert!(
                    tasks
                        .values()
                        .any(|t| t["type"] == "condition" && t["message"].is_object()),
                    "asks before overwriting"
                );
                let inputs = pb["inputs"].as_array().unwrap();
                let list = inputs
                    .iter()
                    .find(|i| i["key"] == "DomainsListName")
                    .unwrap();
                assert_eq!(list["value"]["simple"], "DomainsList");
            }
            "CertSentry - Handle lookalike domain" => {
                assert_eq!(itype["playbookId"], pb_name.as_str());
                assert!(called.contains("certsentry-incident-get"));
                assert!(called.contains("certsentry-incident-triage"));
                assert!(
                    tasks.values().any(|t| t["type"] == "collection"),
                    "asks the analyst"
                );
            }
            other => panic!("unexpected playbook {other}"),
        }
        names.insert(pb_name);
    }
    assert_eq!(names.len(), 2);
}
