//! SQLite persistence behind an async facade: incidents and their dedup
//! window (`incidents`), the delivery outbox (`outbox`), CT positions and
//! checked roots (`checkpoints`), the versioned schema (`schema`), and
//! online backup, restore and the running service's lock (`backup`).
//!
//! An incident and one outbox row per sink are committed in one transaction
//! before anything is delivered; a row leaves the outbox only when its sink
//! confirmed. WAL mode: a killed process loses no committed transaction.
//! [`Store`]'s async methods run their short transaction on the blocking
//! pool, so callers never block the runtime; the pipeline records through
//! the synchronous [`crate::pipeline::Recorder`] it implements.

mod audit;
mod backup;
mod checkpoints;
mod enrichment;
mod history;
mod incidents;
mod outbox;
mod read_model;
mod retention;
mod rules;
mod schema;
mod suppressions;
mod triage;
mod usage;

pub use audit::{AuditEntry, NewAuditEntry};
pub use backup::{StoreLock, StoreSummary, backup, restore};
pub(crate) use enrichment::{EnrichJob, EnrichResult};
pub use history::History;
pub use incidents::IncidentFilter;
pub(crate) use outbox::{OutboxCounts, OutboxItem, Requeue};
pub use retention::{Pruned, RetentionSettings};
pub use rules::StoredRule;
pub use suppressions::NewSuppression;
pub use usage::StoreUsage;

use crate::config::ConfigError;
use rusqlite::Connection;
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("database: {0}")]
    Sqlite(#[from] rusqlite::Error),
    #[error("cannot create the database folder {path}: {source}")]
    Folder {
        path: String,
        source: std::io::Error,
    },
    #[error("database task failed: {0}")]
    Task(String),
    #[error("stored incident is not valid JSON: {0}")]
    Corrupt(#[from] serde_json::Error),
    #[error(
        "the store is at schema version {found}, written by a newer certsentry; \
         this build reads up to version {supported} (upgrade certsentry, or restore a backup)"
    )]
    TooNew { found: u32, supported: u32 },
    #[error(
        "a certsentry service is running on the store {path} (it holds {path}.lock); stop it first"
    )]
    InUse { path: String },
    #[error("{0}")]
    Backup(String),
    #[error(
        "store schema migration to version {version} failed (the store is unchanged): {source}"
    )]
    Migration {
        version: u32,
        source: rusqlite::Error,
    },
}

/// `[store]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StoreSettings {
    pub path: PathBuf,
    pub retention: RetentionSettings,
    /// How often the names matched are added to the per-minute history.
    #[serde(with = "crate::config::duration")]
    pub history_sample: std::time::Duration,
}

impl Default for StoreSettings {
    fn default() -> Self {
        StoreSettings {
            path: PathBuf::from("data/certsentry.db"),
            retention: RetentionSettings::default(),
            history_sample: std::time::Duration::from_secs(60),
        }
    }
}

impl StoreSettings {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        crate::config::require_positive(&[("store.history_sample", self.history_sample)])?;
        if self.history_sample > std::time::Duration::from_secs(3600) {
            return Err(crate::config::invalid(
                "store.history_sample",
                "must be at most 1h",
            ));
        }
        self.retention.validate()
    }
}

/// The database connection; every method is one short transaction.
struct Db {
    conn: Mutex<Connection>,
}

impl Db {
    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The store, cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: Arc<Db>,
}

impl Store {
    /// Open (creating if needed) the database at `path`; `:memory:` for a
    /// throw-away store (replay, tests).
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let conn = schema::open(path)?;
        Ok(Store {
            db: Arc::new(Db {
                conn: Mutex::new(conn),
            }),
        })
    }

    /// Run `f` on the blocking pool.
    async fn call<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Db) -> Result<T, StoreError> + Send + 'static,
    {
        let db = self.db.clone();
        tokio::task::spawn_blocking(move || f(&db))
            .await
            .map_err(|e| StoreError::Task(e.to_string()))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::{CertEvent, Incident, MatchDetail, Verdict};
    use crate::pipeline::{DedupPolicy, Recorded, Recorder};
    use std::time::{Duration, SystemTime};

    pub(crate) fn sample_incident(domain: &str) -> Incident {
        let name = crate::domain::Fqdn::parse(domain).unwrap();
        let v = Verdict {
            brand: "paypal.com".into(),
            domain: name.ascii().into(),
            domain_unicode: name.unicode().into(),
            registrable_domain: name.registrable_domain().into(),
            registrable_domain_ascii: name.registrable_domain_ascii().into(),
            detail: MatchDetail::default(),
            score: 95,
            severity: crate::model::Severity::Critical,
        };
        Incident::new(
            v,
            &CertEvent::default(),
            ulid::Ulid::generate(),
            SystemTime::now(),
        )
    }

    #[tokio::test]
    async fn a_change_of_an_incident_shows_in_modified_since_and_sink_records_are_kept() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.sqlite")).unwrap();
        let day = DedupPolicy {
            window: Duration::from_secs(86400),
            send_updates: false,
        };
        // recorded an hour ago: not modified since a minute ago
        let then = SystemTime::now() - Duration::from_secs(3600);
        let incident = sample_incident("paypa1.com");
        store
            .record(&incident, &["hive".into()], day, then)
            .unwrap();
        let since = |t: SystemTime| IncidentFilter {
            modified_since_ms: Some(crate::model::unix_ms(t)),
            ..IncidentFilter::default()
        };
        let recent = SystemTime::now() - Duration::from_secs(60);
        let page = store.incidents(since(recent), None, 10).await.unwrap();
        assert!(page.is_empty());
        let page = store.incidents(since(then), None, 10).await.unwrap();
        assert_eq!(page.len(), 1);
        // a triage (any change of the body) makes it modified now
        let change = crate::model::TriageChange {
            at: crate::model::Timestamp::from_system(SystemTime::now()),
            actor: "ana".into(),
            state: Some(crate::model::TriageState::Investigating),
            assignee: None,
            comment: None,
        };
        store.triage(incident.id, change).await.unwrap().unwrap();
        let page = store.incidents(since(recent), None, 10).await.unwrap();
        assert_eq!(page.len(), 1);

        // the record the sink named is what its updates are sent to
        let due = store.due("hive", i64::MAX, 10).await.unwrap();
        assert_eq!(due[0].record, None);
        store
            .mark_delivered(due[0].id, Some("~41".into()))
            .await
            .unwrap();
        // a new certificate for it, sent as an update
        let updates = DedupPolicy {
            send_updates: true,
            ..day
        };
        let mut again = sample_incident("www.paypa1.com");
        again.certificate.sha256 = "another certificate".into();
        let sinks = ["hive".to_owned(), "other".to_owned()];
        store.record(&again, &sinks, updates, then).unwrap();
        let due = store.due("hive", i64::MAX, 10).await.unwrap();
        assert_eq!(due[0].record.as_deref(), Some("~41"));
        let due = store.due("other", i64::MAX, 10).await.unwrap();
        assert_eq!(due[0].record, None, "a record is the sink's own");
    }

    /// Another connection (a second process on the file) commits while
    /// the pool takes up new incidents: none is skipped.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn enrichment_takes_up_every_incident_another_connection_commits() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("db.sqlite");
        let store = Store::open(&path).unwrap();
        let writer = Store::open(&path).unwrap();
        let day = DedupPolicy {
            window: Duration::from_secs(86400),
            send_updates: false,
        };
        const N: usize = 1500;
        let inserts = std::thread::spawn(move || {
            for i in 0..N {
                let incident = sample_incident(&format!("paypal-{i}.com"));
                while writer
                    .record(&incident, &[], day, SystemTime::now())
                    .is_err()
                {
                    std::thread::sleep(Duration::from_millis(1));
                }
            }
        });
        let from = SystemTime::now() - Duration::from_secs(3600);
        let watch = Duration::from_secs(86400);
        let mut cursor = 0;
        loop {
            let finished = inserts.is_finished();
            if let Some(last) = store.enrich_take_new(cursor, from, watch).await.unwrap() {
                cursor = last;
            }
            if finished {
                break;
            }
        }
        inserts.join().unwrap();
        let jobs = store.enrich_counts().await.unwrap();
        assert_eq!(jobs.watching + jobs.due, N as u64, "{jobs:?}");
    }

    #[tokio::test]
    async fn enrichment_takes_up_incidents_in_commit_order_not_id_order() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("db.sqlite")).unwrap();
        let day = DedupPolicy {
            window: Duration::from_secs(86400),
            send_updates: false,
        };
        let now = SystemTime::now();
        let early_id = sample_incident("paypa1.com");
        let mut later = sample_incident("paypa2.com");
        later.id =
            crate::model::IncidentId::new(ulid::Ulid::from_datetime(now + Duration::from_secs(5)));
        // the later id is committed first, the cursor moves past it ...
        store.record(&later, &[], day, now).unwrap();
        let from = now - Duration::from_secs(3600);
        let watch = Duration::from_secs(86400);
        let cursor = store
            .enrich_take_new(0, from, watch)
            .await
            .unwrap()
            .unwrap();
        // ... and an incident whose id was made earlier is committed after
        store.record(&early_id, &[], day, now).unwrap();
        store.enrich_take_new(cursor, from, watch).await.unwrap();
        let mut taken: Vec<String> = store
            .enrich_claim(10)
            .await
            .unwrap()
            .into_iter()
            .map(|j| j.incident.domain)
            .collect();
        taken.sort();
        assert_eq!(taken, ["paypa1.com", "paypa2.com"]);
    }

    #[tokio::test]
    async fn record_dedups_within_window_and_queues_once_per_sink() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("sub/db.sqlite")).unwrap();
        let sinks = vec!["a".to_string(), "b".to_string()];
        let day = DedupPolicy {
            window: Duration::from_secs(86400),
            send_updates: false,
        };
        let t0 = SystemTime::now();
        let first = sample_incident("paypa1.com");
        assert_eq!(
            store.record(&first, &sinks, day, t0).unwrap(),
            Recorded::New
        );
        let again = sample_incident("www.paypa1.com");
        let r = store
            .record(&again, &sinks, day, t0 + Duration::from_secs(60))
            .unwrap();
        assert_eq!(
            r,
            Recorded::Repeated {
                id: first.id,
                sightings: 2
            }
        );
        assert_eq!(
            store.incident(first.id).await.unwrap().unwrap().sightings,
            2
        );
        // outside the window: a new incident
        let later = sample_incident("paypa1.com");
        let r = store
            .record(&later, &sinks, day, t0 + Duration::from_secs(2 * 86400))
            .unwrap();
        assert_eq!(r, Recorded::New);

        let now = crate::model::unix_ms(t0 + Duration::from_secs(3 * 86400));
        let due = store.due("a", now, 10).await.unwrap();
        assert_eq!(due.len(), 2);
        store
            .mark_retry(due[0].id, now + 1000, "HTTP 503".into())
            .await
            .unwrap();
        store
            .mark_failed(due[1].id, "HTTP 400".into())
            .await
            .unwrap();
        assert!(store.due("a", now, 10).await.unwrap().is_empty());
        assert_eq!(store.due("a", now + 1000, 10).await.unwrap()[0].attempts, 1);
        let counts = store.outbox_counts().await.unwrap();
        assert_eq!(
            counts[0],
            OutboxCounts {
                sink: "a".into(),
                pending: 1,
                failed: 1
            }
        );
        assert_eq!(counts[1].pending, 2);
        store.mark_delivered(due[0].id, None).await.unwrap();
        assert_eq!(store.outbox_counts().await.unwrap()[0].pending, 0);

        let page = store
            .incidents(IncidentFilter::default(), None, 1)
            .await
            .unwrap();
        assert_eq!(page.len(), 1);
        let rest = store
            .incidents(IncidentFilter::default(), Some(page[0].id), 10)
            .await
            .unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(store.incident_count().await.unwrap(), 2);
    }
}
