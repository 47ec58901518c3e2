//! What a check means for the incident: the state it shows (resolves, MX,
//! the page's verdicts and content), whether that differs from the state
//! last sent, the score the evidence supports, and when to look again.

use super::{EnrichmentSettings, Findings, NOT_FOUND, http::tlsh_distance};
use crate::model::{EnrichmentUpdate, Incident, IncidentId, Severity};
use crate::store::{EnrichJob, EnrichResult};
use serde_json::{Value, json};
use std::time::SystemTime;

/// Pages further apart than this (TLSH) count as changed content.
const CONTENT_CHANGED_ABOVE: i32 = 60;

/// The state compared between checks: `incident.enrichment.state`.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize, Default)]
struct State {
    resolves: bool,
    mx: bool,
    verdicts: Vec<String>,
    page_tlsh: Option<String>,
    /// What the registry said, once it answered: the creation date,
    /// `registered` (no date given) or `not found`.
    #[serde(default)]
    registration: Option<String>,
}

impl State {
    fn of(found: &Findings) -> State {
        let mut verdicts = found.verdicts.clone();
        verdicts.sort();
        verdicts.dedup();
        State {
            resolves: found.resolves,
            mx: found.mx,
            verdicts,
            page_tlsh: found.page_hash.clone(),
            registration: found.registration.clone(),
        }
    }

    fn has(&self, v: &str) -> bool {
        self.verdicts.iter().any(|x| x == v)
    }
}

/// What changed from `old` to `new`, one line each.
fn changes(old: Option<&State>, new: &State) -> Vec<String> {
    let Some(old) = old else {
        let mut first = vec!["first check".to_owned()];
        first.extend(
            new.verdicts
                .iter()
                .map(|v| format!("is {}", v.replace('_', " "))),
        );
        return first;
    };
    let mut out = Vec::new();
    let flag = |out: &mut Vec<String>, was: bool, is: bool, on: &str, off: &str| {
        if !was && is {
            out.push(on.to_owned());
        } else if was && !is {
            out.push(off.to_owned());
        }
    };
    flag(
        &mut out,
        old.resolves,
        new.resolves,
        "now resolves",
        "no longer resolves",
    );
    flag(&mut out, old.mx, new.mx, "MX appeared", "MX removed");
    for (v, on, off) in [
        ("live", "went live", "went down"),
        ("parked", "parked", "no longer parked"),
        ("login_form", "login form appeared", "login form removed"),
        (
            "similar_to_brand",
            "now looks like the brand",
            "no longer looks like the brand",
        ),
        (
            "redirects_to_brand",
            "redirects to the brand",
            "no longer redirects to the brand",
        ),
        (
            "looks_like_brand",
            "its screenshot looks like the brand's",
            "its screenshot no longer looks like the brand's",
        ),
    ] {
        flag(&mut out, old.has(v), new.has(v), on, off);
    }
    match (old.registration.as_deref(), new.registration.as_deref()) {
        (None, Some(NOT_FOUND)) => out.push("the registry has no record yet".into()),
        (None | Some(NOT_FOUND), Some(_)) => out.push("registration data found".into()),
        (Some(a), Some(b)) if a != b => out.push("registration changed".into()),
        _ => {}
    }
    if old.has("live") && new.has("live") {
        let moved = match (&old.page_tlsh, &new.page_tlsh) {
            (Some(a), Some(b)) => tlsh_distance(a, b).is_none_or(|d| d > CONTENT_CHANGED_ABOVE),
            (None, None) => false,
            _ => true,
        };
        if moved {
            out.push("content changed".into());
        }
    }
    out
}

/// Points the evidence adds to the matcher's score, with the reasons.
fn evidence(state: &State, now: SystemTime) -> (u8, Vec<&'static str>) {
    let mut points = 0;
    let mut why = Vec::new();
    if state.has("live") && state.has("login_form") && !state.has("redirects_to_brand") {
        points += 10;
        why.push("live with a login form");
    }
    if state.has("similar_to_brand") || state.has("looks_like_brand") {
        points += 15;
        why.push("its page looks like the brand's");
    }
    if state.mx && !state.resolves {
        points += 5;
        why.push("takes mail but serves no website (MX without A)");
    }
    let age = state
        .registration
        .as_deref()
        .and_then(|d| humantime::parse_rfc3339_weak(d.trim_end_matches('Z')).ok())
        .and_then(|at| now.duration_since(at).ok());
    if age.is_some_and(|a| a < std::time::Duration::from_secs(30 * 24 * 3600)) {
        points += 5;
        why.push("registered in the last 30 days");
    }
    (points, why)
}

/// Decide what a check writes.
pub(super) fn apply(
    job: &EnrichJob,
    results: Vec<(String, Value)>,
    found: &Findings,
    settings: &EnrichmentSettings,
    now: SystemTime,
) -> EnrichResult {
    let mut incident = job.incident.clone();
    let old_state: Option<State> = incident
        .enrichment
        .get("state")
        .and_then(|s| serde_json::from_value(s.clone()).ok());
    let version = incident
        .enrichment
        .get("version")
        .and_then(Value::as_u64)
        .unwrap_or(0);
    let base_score = incident
        .enrichment
        .get("evidence")
        .and_then(|e| e.get("base_score"))
        .and_then(Value::as_u64)
        .map_or(incident.score, |s| s.min(100) as u8);
    let base_severity: Severity = incident
        .enrichment
        .get("evidence")
        .and_then(|e| e.get("base_severity"))
        .and_then(|s| serde_json::from_value(s.clone()).ok())
        .unwrap_or(incident.severity);
    let base_explanation = incident
        .enrichment
        .get("evidence")
        .and_then(|e| e.get("base_explanation"))
        .and_then(Value::as_str)
        .map_or_else(|| incident.detail.explanation.clone(), str::to_owned);

    let state = State::of(found);
    let changed = changes(old_state.as_ref(), &state);
    let (points, why) = evidence(&state, now);
    let score = base_score.saturating_add(points).min(100);
    let errors: Vec<String> = results
        .iter()
        .filter(|(_, v)| v["status"] == "error")
        .map(|(name, v)| format!("{name}: {}", v["error"].as_str().unwrap_or("failed")))
        .collect();

    for (name, value) in results {
        incident.enrichment.insert(name, value);
    }
    let version = if changed.is_empty() {
        version
    } else {
        version + 1
    };
    incident.enrichment.insert("version".into(), json!(version));
    incident.enrichment.insert("state".into(), json!(state));
    incident.enrichment.insert(
        "evidence".into(),
        json!({"base_score": base_score, "base_severity": base_severity, "base_explanation": base_explanation, "raised_by": why}),
    );
    incident.score = score;
    // enrichment raises the severity the matcher gave, never lowers it
    incident.severity = Severity::from_score(score).max(base_severity);
    incident.detail.explanation = if why.is_empty() {
        base_explanation
    } else {
        format!(
            "{base_explanation} Score raised from {base_score} to {score} by enrichment: {}.",
            why.join("; ")
        )
    };

    let unchanged = if changed.is_empty() {
        job.unchanged + 1
    } else {
        0
    };
    let now_ms = crate::model::unix_ms(now);
    let delay = settings
        .recheck_interval
        .saturating_mul(1 << unchanged.min(16))
        .min(settings.max_recheck_interval);
    let next = now_ms + delay.as_millis() as i64;
    let next_run_ms = (next <= job.until_ms).then_some(next);

    let update = (!changed.is_empty()).then(|| {
        let mut u: Incident = incident.clone();
        u.id = IncidentId::new(ulid::Ulid::generate());
        u.update_of = Some(incident.id);
        u.enrichment_update = Some(EnrichmentUpdate {
            version,
            changes: changed.clone(),
        });
        u.triage = None;
        u
    });
    if !changed.is_empty() {
        tracing::info!(version, changes = ?changed, score, "lookalike changed; update queued");
    }
    EnrichResult {
        incident,
        update,
        next_run_ms,
        unchanged,
        error: (!errors.is_empty()).then(|| errors.join("; ")),
    }
}
