//! The XSOAR content in `xsoar/`: it parses, the mapper only names fields
//! that exist (ours or XSOAR's own), every path it reads exists in a real
//! incident, and the REST sink's CustomFields are defined fields.

use certsentry::XsoarWebhookSettings;
use serde_json::Value;
use std::collections::BTreeSet;

fn load(name: &str) -> Value {
    let path = format!("{}/xsoar/{name}", env!("CARGO_MANIFEST_DIR"));
    serde_json::from_str(&std::fs::read_to_string(&path).unwrap())
        .unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// XSOAR's built-in incident fields the mapper uses: (name, cliName).
const SYSTEM_FIELDS: &[(&str, &str)] = &[
    ("Domain", "domain"),
    ("External Link", "externallink"),
    ("Details", "details"),
    ("Severity", "severity"),
];

/// Real incidents: the back-test of the bundled demo stream.
fn real_incidents() -> Vec<Value> {
    let stream = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("demo/stream.jsonl");
    crate::helpers::replay_incidents(&stream, None)
}

fn resolve<'a>(v: &'a Value, dotted: &str) -> Option<&'a Value> {
    dotted
        .split('.')
        .filter(|p| !p.is_empty())
        .try_fold(v, |v, key| v.get(key))
}

#[test]
fn xsoar_content_is_consistent_with_the_incidents_certsentry_sends() {
    let itype = load("incidenttype-CertStream_Suspicious_Domain.json");
    let type_name = XsoarWebhookSettings::default().incident_type;
    assert_eq!(itype["name"], type_name.as_str());
    assert_eq!(itype["id"], type_name.as_str());

    let fields = load("incidentfields-certsentry.json");
    let fields = fields["incidentFields"].as_array().unwrap();
    let mut names = BTreeSet::new();
    let mut clis = BTreeSet::new();
    for f in fields {
        let cli = f["cliName"].as_str().unwrap();
        assert!(
            cli.chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit()),
            "{cli}"
        );
        assert_eq!(f["id"], format!("incident_{cli}"));
        assert!(
            f["associatedTypes"]
                .as_array()
                .unwrap()
                .contains(&Value::from(type_name.as_str()))
        );
        assert!(names.insert(f["name"].as_str().unwrap().to_owned()));
        assert!(clis.insert(cli.to_owned()));
    }
    for pack_field in [
        "certstreamfingerprint",
        "certstreamlevenshteindistance",
        "certstreamuserasset",
        "certstreamcertificatesource",
        "certstreamcertificateindex",
    ] {
        assert!(clis.contains(pack_field), "{pack_field}");
    }

    let classifier = load("classifier-certsentry.json");
    assert_eq!(classifier["type"], "classification");
    assert_eq!(classifier["defaultIncidentType"], type_name.as_str());
    for kind in certsentry::MatchKind::ALL {
        assert_eq!(classifier["keyTypeMap"][kind.as_str()], type_name.as_str());
    }

    let mapper = load("classifier-mapper-incoming-certsentry.json");
    assert_eq!(mapper["type"], "mapping-incoming");
    let internal = mapper["mapping"][type_name.as_str()]["internalMapping"]
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
        let known = names.contains(field) || SYSTEM_FIELDS.iter().any(|(n, _)| n == field);
        assert!(known, "the mapper fills {field:?}, which is not defined");
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

    // the REST sink's CustomFields all exist
    let all_clis: BTreeSet<&str> = clis
        .iter()
        .map(String::as_str)
        .chain(SYSTEM_FIELDS.iter().map(|(_, c)| *c))
        .collect();
    let source = include_str!("../../src/sink/xsoar_rest.rs");
    let block = source
        .split("\"CustomFields\": {")
        .nth(1)
        .unwrap()
        .split('}')
        .next()
        .unwrap();
    let sent: Vec<&str> = block
        .lines()
        .filter_map(|l| l.trim().strip_prefix('"'))
        .filter_map(|l| l.split('"').next())
        .collect();
    assert!(sent.len() >= 7, "{sent:?}");
    for cli in sent {
        assert!(
            all_clis.contains(cli),
            "CustomFields sends {cli}, not a defined field"
        );
    }
}
