//! Incident export: JSON Lines (one incident per line, as the API returns
//! it) and CSV (one row per incident, the columns an analyst sorts by). Used
//! by `GET /v1/incidents/export` and `certsentry incidents export`.

use crate::model::{Incident, IncidentId, MatchKind, Timestamp};
use crate::store::{IncidentFilter, Store, StoreError};
use futures_util::Stream;
use std::str::FromStr;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ExportFormat {
    Jsonl,
    Csv,
}

impl FromStr for ExportFormat {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "jsonl" => Ok(ExportFormat::Jsonl),
            "csv" => Ok(ExportFormat::Csv),
            other => Err(format!("format must be jsonl or csv, not {other:?}")),
        }
    }
}

impl ExportFormat {
    /// The file extension of an export in this format.
    pub fn extension(self) -> &'static str {
        match self {
            ExportFormat::Jsonl => "jsonl",
            ExportFormat::Csv => "csv",
        }
    }

    pub fn content_type(self) -> &'static str {
        match self {
            ExportFormat::Jsonl => "application/x-ndjson",
            ExportFormat::Csv => "text/csv; charset=utf-8",
        }
    }

    /// The first line of the output (CSV header), if any.
    pub fn header(self) -> Option<String> {
        match self {
            ExportFormat::Jsonl => None,
            ExportFormat::Csv => Some(format!("{}\r\n", CSV_COLUMNS.join(","))),
        }
    }

    /// One incident as one line, terminator included.
    pub fn line(self, incident: &Incident) -> String {
        match self {
            ExportFormat::Jsonl => {
                let mut s = serde_json::to_string(incident).unwrap_or_default();
                s.push('\n');
                s
            }
            ExportFormat::Csv => csv_row(incident),
        }
    }
}

pub(crate) const CSV_COLUMNS: &[&str] = &[
    "id",
    "first_seen",
    "last_seen",
    "sightings",
    "brand",
    "domain",
    "domain_unicode",
    "registrable_domain",
    "kind",
    "score",
    "severity",
    "explanation",
    "subject",
    "issuer",
    "all_domains",
    "serial_number",
    "sha256",
    "sha1",
    "not_before",
    "not_after",
    "log_name",
    "cert_index",
    "cert_link",
    "dedup_key",
    "update_of",
    "triage_state",
    "triage_assignee",
    "tenant",
];

/// RFC 4180 quoting: fields with a comma, quote or line break are quoted and
/// quotes doubled. A leading `=`, `+`, `-` or `@` gets a `'` so a spreadsheet
/// does not run it as a formula (certificate subjects are attacker-chosen).
fn csv_field(value: &str) -> String {
    let guarded = if value.starts_with(['=', '+', '-', '@']) {
        format!("'{value}")
    } else {
        value.to_owned()
    };
    if guarded.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", guarded.replace('"', "\"\""))
    } else {
        guarded
    }
}

fn csv_row(i: &Incident) -> String {
    let c = &i.certificate;
    let opt = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
    let fields = [
        i.id.to_string(),
        i.first_seen.to_string(),
        i.last_seen.to_string(),
        i.sightings.to_string(),
        i.brand.clone(),
        i.domain.clone(),
        i.domain_unicode.clone(),
        i.registrable_domain.clone(),
        i.detail.kind.as_str().to_owned(),
        i.score.to_string(),
        format!("{:?}", i.severity).to_lowercase(),
        i.detail.explanation.clone(),
        c.subject.aggregated.clone().unwrap_or_default(),
        c.issuer.aggregated.clone().unwrap_or_default(),
        c.all_domains.join(" "),
        c.serial_number.clone(),
        c.sha256.clone(),
        c.sha1.clone(),
        opt(c.not_before),
        opt(c.not_after),
        i.ct.log_name.clone(),
        i.ct.cert_index.map(|n| n.to_string()).unwrap_or_default(),
        i.ct.cert_link.clone(),
        i.dedup_key.to_string(),
        i.update_of.map(|u| u.to_string()).unwrap_or_default(),
        i.triage
            .as_ref()
            .map(|t| t.state.as_str().to_owned())
            .unwrap_or_default(),
        i.triage
            .as_ref()
            .and_then(|t| t.assignee.clone())
            .unwrap_or_default(),
        i.tenant.clone(),
    ];
    let mut row = fields
        .iter()
        .map(|f| csv_field(f))
        .collect::<Vec<_>>()
        .join(",");
    row.push_str("\r\n");
    row
}

/// Check and build the incident filters the API and CLI take: `severity`
/// is low/medium/high/critical, `kind` a match kind, `since` RFC 3339.
pub fn parse_filter(
    brand: Option<String>,
    severity: Option<String>,
    kind: Option<String>,
    since: Option<&str>,
) -> Result<IncidentFilter, String> {
    if let Some(sev) = &severity
        && !["low", "medium", "high", "critical"].contains(&sev.as_str())
    {
        return Err("severity must be low, medium, high or critical".into());
    }
    if let Some(k) = &kind
        && !MatchKind::ALL.iter().any(|m| m.as_str() == k)
    {
        let known: Vec<&str> = MatchKind::ALL.iter().map(|m| m.as_str()).collect();
        return Err(format!("kind must be one of {}", known.join(", ")));
    }
    let since_ms = match since {
        None => None,
        Some(t) => Some(
            Timestamp::parse(t)
                .ok_or_else(|| {
                    format!(
                        "since must be an RFC 3339 time such as 2026-01-31T00:00:00Z, not {t:?}"
                    )
                })?
                .unix_ms(),
        ),
    };
    Ok(IncidentFilter {
        brand,
        severity,
        kind,
        since_ms,
        ..IncidentFilter::default()
    })
}

/// Every incident passing `filter`, as text chunks of one page (1,000
/// incidents) each with the number of incidents in it, the CSV header first.
pub fn chunks(
    store: Store,
    filter: IncidentFilter,
    format: ExportFormat,
) -> impl Stream<Item = Result<(String, usize), StoreError>> + Send + 'static {
    const PAGE: usize = 1000;
    /// Where paging is: the header still to send, then after which id.
    enum At {
        Header,
        After(Option<IncidentId>),
        Done,
    }
    futures_util::stream::unfold(At::Header, move |at| {
        let (store, filter) = (store.clone(), filter.clone());
        async move {
            let after = match at {
                At::Done => return None,
                At::Header => match format.header() {
                    Some(h) => return Some((Ok((h, 0)), At::After(None))),
                    None => None,
                },
                At::After(after) => after,
            };
            let page = match store.incidents(filter, after, PAGE).await {
                Ok(page) => page,
                Err(e) => return Some((Err(e), At::Done)),
            };
            let next = match page.last() {
                Some(last) if page.len() == PAGE => At::After(Some(last.id)),
                _ => At::Done,
            };
            let chunk: String = page.iter().map(|i| format.line(i)).collect();
            Some((Ok((chunk, page.len())), next))
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn csv_quoting_and_formula_guard() {
        assert_eq!(csv_field("plain"), "plain");
        assert_eq!(csv_field("a,b"), "\"a,b\"");
        assert_eq!(csv_field("say \"hi\""), "\"say \"\"hi\"\"\"");
        assert_eq!(csv_field("=HYPERLINK(\"x\")"), "\"'=HYPERLINK(\"\"x\"\")\"");
        assert_eq!(csv_field("line\nbreak"), "\"line\nbreak\"");
        assert!("jsonl".parse::<ExportFormat>().is_ok());
        assert!(
            "xml"
                .parse::<ExportFormat>()
                .unwrap_err()
                .contains("jsonl or csv")
        );
    }
}
