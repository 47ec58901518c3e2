//! What several SOAR formats show of an incident: its lookalike names, the
//! certificate hashes as plain hex, a Markdown table, and the CertStream
//! pack's similarity figure.

use crate::domain::Fqdn;
use crate::model::{Incident, rfc3339_seconds};
use std::collections::BTreeSet;

/// What enrichment found, for the formats that file it as observables or
/// artifacts: addresses, mail exchangers, the final URL of a live page,
/// verdicts and the registration. Empty until the first check.
#[derive(Debug, Default, PartialEq)]
pub(super) struct Enriched {
    pub(super) ips: Vec<String>,
    pub(super) mx: Vec<String>,
    pub(super) live_url: Option<String>,
    pub(super) verdicts: Vec<String>,
    pub(super) registrar: Option<String>,
    pub(super) registered: Option<String>,
    pub(super) abuse_email: Option<String>,
    /// How many times what was found changed (`None` before the first check).
    pub(super) version: Option<u64>,
    pub(super) page_title: Option<String>,
    /// TLSH distance of the page from the brand's.
    pub(super) brand_distance: Option<u64>,
    /// `AS<n> <name>` of each address's network.
    pub(super) asns: Vec<String>,
    /// What raised the score.
    pub(super) raised_by: Vec<String>,
}

impl Enriched {
    pub(super) fn of(incident: &Incident) -> Enriched {
        let e = &incident.enrichment;
        let strings = |v: &serde_json::Value| -> Vec<String> {
            v.as_array()
                .into_iter()
                .flatten()
                .filter_map(|x| x.as_str().map(str::to_owned))
                .collect()
        };
        let data = |name: &str| e.get(name).map(|f| &f["data"]);
        let mut ips = Vec::new();
        let mut mx = Vec::new();
        if let Some(d) = data("dns") {
            ips.extend(strings(&d["a"]));
            ips.extend(strings(&d["aaaa"]));
            // "10 mx.example.com" or "mx.example.com"
            mx = strings(&d["mx"])
                .into_iter()
                .map(|m| {
                    m.rsplit(' ')
                        .next()
                        .unwrap_or(&m)
                        .trim_end_matches('.')
                        .to_owned()
                })
                .collect();
        }
        let mut verdicts = Vec::new();
        let mut live_url = None;
        for name in ["http", "screenshot"] {
            if let Some(d) = data(name) {
                verdicts.extend(strings(&d["verdicts"]));
            }
        }
        if let Some(d) = data("http")
            && verdicts.iter().any(|v| v == "live")
        {
            live_url = d["final_url"].as_str().map(str::to_owned);
        }
        verdicts.dedup();
        let rdap = data("rdap");
        let text = |k: &str| rdap.and_then(|d| d[k].as_str()).map(str::to_owned);
        let http = data("http");
        let asns = data("asn")
            .and_then(|d| d["networks"].as_array())
            .into_iter()
            .flatten()
            .filter_map(|n| {
                let asn = n["asn"].as_u64()?;
                let name = n["as_name"].as_str().unwrap_or_default();
                Some(format!("AS{asn} {name}").trim_end().to_owned())
            })
            .collect();
        Enriched {
            ips,
            mx,
            live_url,
            verdicts,
            registrar: text("registrar"),
            registered: text("created"),
            abuse_email: text("abuse_email"),
            version: e.get("version").and_then(|v| v.as_u64()),
            page_title: http.and_then(|d| d["title"].as_str()).map(str::to_owned),
            brand_distance: http.and_then(|d| d["brand_distance"].as_u64()),
            asns,
            raised_by: e
                .get("evidence")
                .map(|v| strings(&v["raised_by"]))
                .unwrap_or_default(),
        }
    }

    pub(super) fn is_empty(&self) -> bool {
        *self == Enriched::default()
    }
}

/// Hex without colons, lower-case: `AB:CD` becomes `abcd` (hash observables).
pub(super) fn plain_hex(colon_hex: &str) -> String {
    colon_hex
        .chars()
        .filter(|c| *c != ':')
        .map(|c| c.to_ascii_lowercase())
        .collect()
}

/// The certificate's names that sit under the lookalike registrable domain
/// (wildcards stripped), sorted and without duplicates.
pub(super) fn lookalike_names(incident: &Incident) -> Vec<String> {
    let reg = incident.registrable_domain.to_ascii_lowercase();
    let dotted = format!(".{reg}");
    let mut names: BTreeSet<String> = BTreeSet::new();
    let all = incident
        .certificate
        .all_domains
        .iter()
        .chain(std::iter::once(&incident.domain));
    for name in all {
        let n = name.trim_start_matches("*.").to_ascii_lowercase();
        if n == reg || n.ends_with(&dotted) {
            names.insert(n);
        }
    }
    names.into_iter().collect()
}

/// How close the lookalike's label is to the brand's, 0 to 1 (the
/// CertStream pack's "levenshtein distance" field): the typo similarity
/// when the match measured one, otherwise computed on the folded label.
pub(super) fn similarity(incident: &Incident) -> f64 {
    if let Some(s) = incident.detail.similarity {
        return s;
    }
    let brand = incident.brand.split('.').next().unwrap_or_default();
    let label = match &incident.detail.skeleton {
        Some(skeleton) => skeleton.split('.').next().unwrap_or_default().to_owned(),
        None => Fqdn::parse(&incident.registrable_domain)
            .map(|f| f.registrable_label().to_owned())
            .unwrap_or_default(),
    };
    let longest = brand.chars().count().max(label.chars().count());
    if longest == 0 {
        return 0.0;
    }
    let d = strsim::osa_distance(brand, &label);
    ((1.0 - d as f64 / longest as f64) * 1000.0).round() / 1000.0
}

/// A Markdown description of an incident for case tools.
pub(super) fn markdown(incident: &Incident) -> String {
    let c = &incident.certificate;
    let or_dash = |s: &Option<String>| s.clone().unwrap_or_else(|| "-".into());
    format!(
        "**{explanation}**\n\n\
         | | |\n|---|---|\n\
         | Brand | {brand} |\n\
         | Lookalike | {domain} ({unicode}) |\n\
         | Match | {kind}, score {score}, {severity:?} |\n\
         | Subject | {subject} |\n\
         | Issuer | {issuer} |\n\
         | Names | {names} |\n\
         | Serial | {serial} |\n\
         | SHA-256 | {sha256} |\n\
         | SHA-1 | {sha1} |\n\
         | Valid | {nb} to {na} |\n\
         | CT log | {log} #{index} |\n\
         | Link | {link} |\n",
        explanation = incident.detail.explanation,
        brand = incident.brand,
        domain = incident.domain,
        unicode = incident.domain_unicode,
        kind = incident.detail.kind.as_str(),
        score = incident.score,
        severity = incident.severity,
        subject = or_dash(&c.subject.aggregated),
        issuer = or_dash(&c.issuer.aggregated),
        names = c.all_domains.join(", "),
        serial = c.serial_number,
        sha256 = c.sha256,
        sha1 = c.sha1,
        nb = rfc3339_seconds(c.not_before),
        na = rfc3339_seconds(c.not_after),
        log = incident.ct.log_name,
        index = incident
            .ct
            .cert_index
            .map_or_else(|| "-".to_owned(), |i| i.to_string()),
        link = incident.ct.cert_link,
    )
}

#[cfg(test)]
pub(super) mod tests {
    use crate::model::{Incident, MatchDetail, MatchKind, Severity, Verdict};
    use serde_json::json;

    /// An incident of paypa1.com as its enrichment update carries it.
    pub(crate) fn enriched_incident() -> Incident {
        let v = Verdict {
            brand: "paypal.com".into(),
            domain: "paypa1.com".into(),
            domain_unicode: "paypa1.com".into(),
            registrable_domain: "paypa1.com".into(),
            registrable_domain_ascii: "paypa1.com".into(),
            detail: MatchDetail {
                kind: MatchKind::ExactVariant,
                ..MatchDetail::default()
            },
            score: 98,
            severity: Severity::Critical,
        };
        let mut i = Incident::new(
            v,
            &Default::default(),
            ulid::Ulid::generate(),
            std::time::SystemTime::now(),
        );
        let e = json!({
            "dns": {"status": "ok", "data": {"a": ["203.0.113.7"], "aaaa": ["2001:db8::7"], "mx": ["mx.paypa1.com"]}},
            "http": {"status": "ok", "data": {"final_url": "https://paypa1.com/login", "verdicts": ["live", "login_form"],
                                               "title": "Log in", "brand_distance": 41}},
            "rdap": {"status": "ok", "data": {"registrar": "NameCheap, Inc.", "created": "2026-11-30T10:00:00Z",
                                               "abuse_email": "abuse@namecheap.com"}},
            "asn": {"status": "ok", "data": {"networks": [{"ip": "203.0.113.7", "asn": 64500, "as_name": "EXAMPLE-NET"},
                                                          {"ip": "2001:db8::7", "asn": null}]}},
            "version": 2,
            "evidence": {"raised_by": ["live page with a login form"]},
        });
        i.enrichment = e.as_object().cloned().unwrap_or_default();
        i
    }

    #[test]
    fn enrichment_is_read_for_observables() {
        let found = super::Enriched::of(&enriched_incident());
        assert_eq!(found.ips, ["203.0.113.7", "2001:db8::7"]);
        assert_eq!(found.mx, ["mx.paypa1.com"]);
        assert_eq!(found.live_url.as_deref(), Some("https://paypa1.com/login"));
        assert_eq!(found.verdicts, ["live", "login_form"]);
        assert_eq!(found.registrar.as_deref(), Some("NameCheap, Inc."));
        assert_eq!(found.version, Some(2));
        assert_eq!(found.page_title.as_deref(), Some("Log in"));
        assert_eq!(found.brand_distance, Some(41));
        assert_eq!(found.asns, ["AS64500 EXAMPLE-NET"]);
        assert_eq!(found.raised_by, ["live page with a login form"]);
        let mut bare = enriched_incident();
        bare.enrichment.clear();
        assert!(super::Enriched::of(&bare).is_empty());
    }
}
