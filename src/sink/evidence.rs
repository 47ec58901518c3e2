//! What several SOAR formats show of an incident: its lookalike names, the
//! certificate hashes as plain hex, a Markdown table, and the CertStream
//! pack's similarity figure.

use crate::domain::Fqdn;
use crate::model::{Incident, rfc3339_seconds};
use std::collections::BTreeSet;

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
