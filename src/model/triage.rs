//! Triage: what an analyst (in the console or a SOAR) decided about an
//! incident. The current state rides in the incident itself; every change is
//! also kept in the store's audit log (who, when, what, why).

use super::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Where an incident is in the analysts' work.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum TriageState {
    #[default]
    New,
    Investigating,
    ConfirmedMalicious,
    FalsePositive,
    BrandOwned,
    TakedownRequested,
    Closed,
}

impl TriageState {
    pub const ALL: [TriageState; 7] = [
        TriageState::New,
        TriageState::Investigating,
        TriageState::ConfirmedMalicious,
        TriageState::FalsePositive,
        TriageState::BrandOwned,
        TriageState::TakedownRequested,
        TriageState::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TriageState::New => "new",
            TriageState::Investigating => "investigating",
            TriageState::ConfirmedMalicious => "confirmed_malicious",
            TriageState::FalsePositive => "false_positive",
            TriageState::BrandOwned => "brand_owned",
            TriageState::TakedownRequested => "takedown_requested",
            TriageState::Closed => "closed",
        }
    }
}

impl std::str::FromStr for TriageState {
    type Err = String;
    fn from_str(s: &str) -> Result<TriageState, String> {
        TriageState::ALL
            .into_iter()
            .find(|t| t.as_str() == s)
            .ok_or_else(|| {
                let names: Vec<&str> = TriageState::ALL.iter().map(|t| t.as_str()).collect();
                format!(
                    "unknown triage state {s:?}; it must be one of {}",
                    names.join(", ")
                )
            })
    }
}

/// An incident's triage as it stands.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Triage {
    pub state: TriageState,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    pub updated_at: Timestamp,
    pub updated_by: String,
    /// Comments in the audit log.
    #[serde(default)]
    pub comments: u64,
}

/// One change, as asked for (`PATCH /v1/incidents/{id}`) and as audited.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriageChange {
    pub at: Timestamp,
    pub actor: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub state: Option<TriageState>,
    /// `Some("")` clears the assignee.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub assignee: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub comment: Option<String>,
}

impl Triage {
    /// The triage after `change` (from `self`, or from "new" when none yet).
    pub fn apply(current: Option<&Triage>, change: &TriageChange) -> Triage {
        let mut t = current.cloned().unwrap_or(Triage {
            state: TriageState::New,
            assignee: None,
            updated_at: change.at,
            updated_by: change.actor.clone(),
            comments: 0,
        });
        if let Some(state) = change.state {
            t.state = state;
        }
        if let Some(a) = &change.assignee {
            t.assignee = (!a.is_empty()).then(|| a.clone());
        }
        if change.comment.is_some() {
            t.comments += 1;
        }
        t.updated_at = change.at;
        t.updated_by = change.actor.clone();
        t
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn states_round_trip_and_changes_apply_in_order() {
        for s in TriageState::ALL {
            assert_eq!(s.as_str().parse::<TriageState>(), Ok(s));
            assert_eq!(serde_json::to_value(s).unwrap(), s.as_str());
        }
        assert!("malicious".parse::<TriageState>().is_err());
        let at = Timestamp::from_unix_ms(1_000);
        let first = Triage::apply(
            None,
            &TriageChange {
                at,
                actor: "ana".into(),
                state: Some(TriageState::Investigating),
                assignee: Some("ana".into()),
                comment: Some("looks like our login page".into()),
            },
        );
        assert_eq!(first.state, TriageState::Investigating);
        assert_eq!(first.assignee.as_deref(), Some("ana"));
        assert_eq!(first.comments, 1);
        let second = Triage::apply(
            Some(&first),
            &TriageChange {
                at: Timestamp::from_unix_ms(2_000),
                actor: "bo".into(),
                state: None,
                assignee: Some(String::new()),
                comment: None,
            },
        );
        assert_eq!(second.state, TriageState::Investigating, "kept");
        assert_eq!(second.assignee, None, "cleared");
        assert_eq!(second.comments, 1);
        assert_eq!(second.updated_by, "bo");
    }
}
