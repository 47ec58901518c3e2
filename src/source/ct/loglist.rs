//! Chrome's CT log list v3: which logs exist, where, and which are worth
//! following now. The snapshot in `assets/` is built in; a configured URL
//! refreshes it when reachable.
//!
//! A log's `temporal_interval` is the range of certificate *expiry* dates
//! it accepts, so a certificate issued today lands in the shard holding its
//! `notAfter`, up to a validity period ahead. The logs to follow are the
//! live ones whose interval meets [now, now + longest validity], not only
//! the one whose interval holds today: that one only gets certificates
//! that expire before it closes.

use serde::Deserialize;
use std::time::{Duration, SystemTime};

/// The bundled snapshot (version 85.92, 2026-05-29).
pub(crate) const BUNDLED: &str = include_str!("../../../assets/google_v3_log_list.json");

#[derive(Debug, thiserror::Error)]
pub(crate) enum LogListError {
    #[error("log list is not valid JSON of the v3 shape: {0}")]
    Parse(#[from] serde_json::Error),
    #[error("log list has no logs")]
    Empty,
}

#[derive(Deserialize)]
struct RawList {
    operators: Vec<RawOperator>,
}

#[derive(Deserialize)]
struct RawOperator {
    name: String,
    #[serde(default)]
    logs: Vec<RawLog>,
    #[serde(default)]
    tiled_logs: Vec<RawLog>,
}

#[derive(Deserialize)]
struct RawLog {
    description: String,
    #[serde(default)]
    log_id: String,
    #[serde(default)]
    key: String,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    monitoring_url: Option<String>,
    #[serde(default)]
    state: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    temporal_interval: Option<RawInterval>,
}

#[derive(Deserialize)]
struct RawInterval {
    start_inclusive: String,
    end_exclusive: String,
}

/// One log from the list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogInfo {
    pub description: String,
    pub operator: String,
    pub log_id: String,
    /// The log's public key (base64 DER SubjectPublicKeyInfo), which signs
    /// its tree heads ([`super::sth`]); empty when the list gives none.
    pub key: String,
    /// RFC 6962: the log URL; static-ct-api: the monitoring prefix. Ends in `/`.
    pub url: String,
    pub tiled: bool,
    /// `usable`, `qualified`, `readonly`, `retired`, `rejected`, `pending`, ...
    pub state: String,
    /// Certificates expiring in [start, end) are accepted.
    pub interval: Option<(SystemTime, SystemTime)>,
}

impl LogInfo {
    /// Worth following at `now`: a live state, and an interval that can hold
    /// a certificate issued now with a validity up to `max_validity`.
    pub(crate) fn current(&self, now: SystemTime, max_validity: Duration) -> bool {
        let live = matches!(self.state.as_str(), "usable" | "qualified" | "readonly");
        let in_interval = match self.interval {
            Some((start, end)) => now < end && start <= now + max_validity,
            None => true,
        };
        live && in_interval
    }

    fn named(&self, patterns: &[String]) -> bool {
        patterns.iter().any(|p| {
            let p = p.to_lowercase();
            self.description.to_lowercase() == p
                || self.operator.to_lowercase() == p
                || self.url.trim_end_matches('/').to_lowercase() == p.trim_end_matches('/')
        })
    }
}

/// Every log of a v3 list.
pub(crate) fn parse(json: &str) -> Result<Vec<LogInfo>, LogListError> {
    let raw: RawList = serde_json::from_str(json)?;
    let mut out = Vec::new();
    for op in raw.operators {
        let all = op
            .logs
            .into_iter()
            .map(|l| (l, false))
            .chain(op.tiled_logs.into_iter().map(|l| (l, true)));
        for (log, tiled) in all {
            let url = if tiled { log.monitoring_url } else { log.url };
            let Some(mut url) = url.filter(|u| !u.is_empty()) else {
                continue;
            };
            if !url.ends_with('/') {
                url.push('/');
            }
            let state = log
                .state
                .and_then(|s| s.keys().next().cloned())
                .unwrap_or_default();
            let interval = log.temporal_interval.and_then(|i| {
                Some((
                    humantime::parse_rfc3339_weak(&i.start_inclusive).ok()?,
                    humantime::parse_rfc3339_weak(&i.end_exclusive).ok()?,
                ))
            });
            out.push(LogInfo {
                description: log.description,
                operator: op.name.clone(),
                log_id: log.log_id,
                key: log.key,
                url,
                tiled,
                state,
                interval,
            });
        }
    }
    if out.is_empty() {
        return Err(LogListError::Empty);
    }
    Ok(out)
}

/// The logs to follow: current ones, narrowed by `include` (when not empty)
/// and without `exclude`. Names match description, operator or URL.
pub(crate) fn select(
    logs: &[LogInfo],
    now: SystemTime,
    max_validity: Duration,
    include: &[String],
    exclude: &[String],
) -> Vec<LogInfo> {
    logs.iter()
        .filter(|l| l.current(now, max_validity))
        .filter(|l| include.is_empty() || l.named(include))
        .filter(|l| !l.named(exclude))
        .cloned()
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: Duration = Duration::from_secs(24 * 3600);

    fn names(logs: &[LogInfo]) -> Vec<&str> {
        logs.iter().map(|l| l.description.as_str()).collect()
    }

    #[test]
    fn the_bundled_snapshot_selects_current_logs() {
        let logs = parse(BUNDLED).unwrap();
        assert!(logs.iter().any(|l| l.tiled));
        assert!(logs.iter().any(|l| !l.tiled));
        // 2026-09-01, certificates of up to 200 days: they expire before
        // 2027-03-20, so the 2026h2 and 2027h1 shards get them
        let now = humantime::parse_rfc3339("2026-09-01T00:00:00Z").unwrap();
        let chosen = select(&logs, now, 200 * DAY, &[], &[]);
        let names = names(&chosen);
        assert!(
            names.contains(&"Let's Encrypt 'Sycamore2026h2'"),
            "{names:?}"
        );
        assert!(names.contains(&"Let's Encrypt 'Sycamore2027h1'"));
        assert!(names.contains(&"Google 'Argon2027h1'"));
        assert!(!names.contains(&"Let's Encrypt 'Sycamore2026h1'"));
        assert!(!names.contains(&"Let's Encrypt 'Sycamore2027h2'"));
        // a retired log is never followed, whatever its interval
        assert!(!names.contains(&"Let's Encrypt 'Oak2026h2'"));
        assert!(chosen.iter().all(|l| l.current(now, 200 * DAY)));
        let sycamore = chosen
            .iter()
            .find(|l| l.description == "Let's Encrypt 'Sycamore2026h2'")
            .unwrap();
        assert!(sycamore.tiled);
        assert_eq!(
            sycamore.url,
            "https://mon.sycamore.ct.letsencrypt.org/2026h2/"
        );
        let le = select(&logs, now, 200 * DAY, &["let's encrypt".into()], &[]);
        assert!(!le.is_empty() && le.iter().all(|l| l.operator == "Let's Encrypt"));
        let no_willow = select(
            &logs,
            now,
            200 * DAY,
            &["Let's Encrypt".into()],
            &["Let's Encrypt 'Willow2026h2'".into()],
        );
        assert_eq!(no_willow.len(), le.len() - 1);
        assert!(matches!(
            parse("{\"operators\": []}"),
            Err(LogListError::Empty)
        ));
        assert!(parse("nope").is_err());
    }

    #[test]
    fn a_certificate_issued_late_in_a_half_year_is_in_the_next_shard() {
        // 2026-11-23: a 90-day certificate expires 2027-02-21, in
        // Sycamore2027h1; Sycamore2026h2 (until 2026-12-17) only gets
        // certificates that expire within 24 days
        let logs = parse(BUNDLED).unwrap();
        let now = humantime::parse_rfc3339("2026-11-23T00:00:00Z").unwrap();
        let default = super::super::CtSettings::default().max_validity();
        let chosen = select(&logs, now, default, &[], &[]);
        let followed = names(&chosen);
        for shard in [
            "Let's Encrypt 'Sycamore2026h2'",
            "Let's Encrypt 'Sycamore2027h1'",
            "Let's Encrypt 'Willow2027h1'",
            "Google 'Xenon2027h1'",
            "Cloudflare 'Nimbus2027'",
            "DigiCert 'Wyvern2027h2'",
        ] {
            assert!(followed.contains(&shard), "{shard} not in {followed:?}");
        }
        // with only today's shards, the 2027 ones are missed
        let today_only = select(&logs, now, Duration::ZERO, &[], &[]);
        assert!(!names(&today_only).contains(&"Let's Encrypt 'Sycamore2027h1'"));
        assert!(names(&today_only).contains(&"Let's Encrypt 'Sycamore2026h2'"));
        // a shard that has closed gets nothing new
        let later = humantime::parse_rfc3339("2027-01-02T00:00:00Z").unwrap();
        assert!(
            !names(&select(&logs, later, default, &[], &[])).contains(&"Google 'Argon2026h2' log")
        );
    }
}
