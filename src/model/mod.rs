//! The leaf types every stage shares: a certificate as sources deliver it
//! ([`CertEvent`]), what the matcher decides about a name ([`Verdict`]),
//! what certsentry raises ([`Incident`], with typed ids and timestamps), and
//! time. Plain serde data, so a message bus can carry them; this module
//! imports none of the stages.

mod cert;
mod incident;
mod suppression;
mod time;
mod triage;
mod verdict;

pub use cert::{CertEvent, Certificate, CtSource, DistinguishedName, UpdateType};
pub use incident::{DEFAULT_TENANT, DedupKey, EnrichmentUpdate, Incident, IncidentId};
pub use suppression::{Suppression, Suppressions};
pub use time::Timestamp;
pub(crate) use time::{rfc3339_seconds, unix_ms, unix_now};
pub use triage::{Triage, TriageChange, TriageState};
pub use verdict::{MatchDetail, MatchKind, Severity, Verdict};
