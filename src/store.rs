//! SQLite persistence: incidents, their dedup window, and the delivery outbox.
//!
//! An incident and one outbox row per sink are committed in one transaction
//! before anything is delivered; a row leaves the outbox only when its sink
//! confirmed. WAL mode: a killed process loses no committed transaction.
//! Calls are synchronous and short; async callers go through
//! `tokio::task::spawn_blocking`.

use crate::incident::{Incident, rfc3339};
use rusqlite::{Connection, OptionalExtension, params};
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

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
}

/// What recording a verdict did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Recorded {
    /// A new incident, queued for every sink.
    New,
    /// Seen within the dedup window: the existing incident was updated.
    Repeated { id: String, sightings: u64 },
    /// A new certificate for a known lookalike with `send_updates` on: the
    /// incident passed in was stored as an update of `of` and queued.
    Update { of: String, sightings: u64 },
}

/// How a repeat sighting is treated.
#[derive(Debug, Clone, Copy)]
pub struct DedupPolicy {
    pub window: Duration,
    /// Queue an update when the repeat carries a certificate not seen before.
    pub send_updates: bool,
}

impl DedupPolicy {
    pub fn from_settings(s: &crate::config::IncidentSettings) -> DedupPolicy {
        DedupPolicy {
            window: s.dedup_window,
            send_updates: s.send_updates,
        }
    }
}

/// Filters of the incident pull and export API.
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    pub brand: Option<String>,
    pub severity: Option<String>,
    pub kind: Option<String>,
    /// Unix milliseconds: incidents first seen at or after.
    pub since_ms: Option<i64>,
}

/// One outbox row as the deliveries API shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Delivery {
    pub id: i64,
    pub incident_id: String,
    pub sink: String,
    pub state: String,
    pub attempts: u32,
    pub next_attempt: String,
    pub created: String,
    pub last_error: Option<String>,
    pub brand: Option<String>,
    pub domain: Option<String>,
}

/// What `retry_delivery` did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Requeue {
    Requeued,
    /// Only failed deliveries are requeued; this one is pending.
    NotFailed,
    NotFound,
}

fn ms_rfc3339(ms: i64) -> String {
    rfc3339(UNIX_EPOCH + Duration::from_millis(ms.max(0) as u64))
}

/// One pending delivery.
#[derive(Debug, Clone)]
pub struct OutboxItem {
    pub id: i64,
    pub sink: String,
    pub attempts: u32,
    pub created_ms: i64,
    pub incident: Incident,
}

/// Delivery counts for one sink.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct OutboxCounts {
    pub sink: String,
    pub pending: u64,
    pub failed: u64,
}

#[derive(Clone)]
pub struct Store {
    conn: Arc<Mutex<Connection>>,
}

pub fn unix_ms(t: SystemTime) -> i64 {
    t.duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}

impl Store {
    /// Open (creating if needed) the database at `path`; `:memory:` for a
    /// throw-away store (replay, tests).
    pub fn open(path: &Path) -> Result<Store, StoreError> {
        let conn = if path.as_os_str() == ":memory:" {
            Connection::open_in_memory()?
        } else {
            if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
                std::fs::create_dir_all(parent).map_err(|source| StoreError::Folder {
                    path: parent.display().to_string(),
                    source,
                })?;
            }
            let conn = Connection::open(path)?;
            conn.pragma_update(None, "journal_mode", "WAL")?;
            conn
        };
        conn.pragma_update(None, "synchronous", "NORMAL")?;
        conn.busy_timeout(Duration::from_secs(5))?;
        conn.execute_batch(
            "CREATE TABLE IF NOT EXISTS incidents (
                id TEXT PRIMARY KEY,
                dedup_key TEXT NOT NULL,
                first_seen_ms INTEGER NOT NULL,
                last_seen_ms INTEGER NOT NULL,
                sightings INTEGER NOT NULL,
                body TEXT NOT NULL
            );
            CREATE INDEX IF NOT EXISTS incidents_dedup ON incidents(dedup_key, last_seen_ms);
            CREATE TABLE IF NOT EXISTS outbox (
                id INTEGER PRIMARY KEY AUTOINCREMENT,
                incident_id TEXT NOT NULL REFERENCES incidents(id),
                sink TEXT NOT NULL,
                state TEXT NOT NULL DEFAULT 'pending',
                attempts INTEGER NOT NULL DEFAULT 0,
                next_attempt_ms INTEGER NOT NULL,
                created_ms INTEGER NOT NULL,
                last_error TEXT,
                UNIQUE(incident_id, sink)
            );
            CREATE INDEX IF NOT EXISTS outbox_due ON outbox(sink, state, next_attempt_ms);
            CREATE TABLE IF NOT EXISTS ct_positions (
                log TEXT PRIMARY KEY,
                next_index INTEGER NOT NULL,
                tree_size INTEGER NOT NULL,
                updated_ms INTEGER NOT NULL
            );
            CREATE TABLE IF NOT EXISTS ct_roots (
                log TEXT PRIMARY KEY,
                tree_size INTEGER NOT NULL,
                root BLOB NOT NULL,
                updated_ms INTEGER NOT NULL
            );",
        )?;
        // Added after the first release: updates point at their incident.
        let has_update_of: bool = conn
            .prepare("SELECT 1 FROM pragma_table_info('incidents') WHERE name = 'update_of'")?
            .exists([])?;
        if !has_update_of {
            conn.execute_batch("ALTER TABLE incidents ADD COLUMN update_of TEXT")?;
        }
        Ok(Store {
            conn: Arc::new(Mutex::new(conn)),
        })
    }

    fn conn(&self) -> std::sync::MutexGuard<'_, Connection> {
        self.conn.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Record an incident, or a new sighting of one within the policy's
    /// window. A new incident (or an update) gets one outbox row per sink in
    /// the same transaction.
    pub fn record(
        &self,
        incident: &Incident,
        sinks: &[String],
        policy: DedupPolicy,
        now: SystemTime,
    ) -> Result<Recorded, StoreError> {
        let now_ms = unix_ms(now);
        let since = now_ms - policy.window.as_millis() as i64;
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let existing: Option<(String, String)> = tx
            .query_row(
                "SELECT id, body FROM incidents
                 WHERE dedup_key = ?1 AND last_seen_ms >= ?2 AND update_of IS NULL
                 ORDER BY last_seen_ms DESC LIMIT 1",
                params![incident.dedup_key, since],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        let mut update_of = None;
        if let Some((id, body)) = existing {
            let mut stored: Incident = serde_json::from_str(&body)?;
            stored.sightings += 1;
            stored.last_seen = rfc3339(now);
            tx.execute(
                "UPDATE incidents SET last_seen_ms = ?1, sightings = ?2, body = ?3 WHERE id = ?4",
                params![
                    now_ms,
                    stored.sightings as i64,
                    serde_json::to_string(&stored)?,
                    id
                ],
            )?;
            let new_cert = !incident.certificate.sha256.is_empty()
                && incident.certificate.sha256 != stored.certificate.sha256;
            if !(policy.send_updates && new_cert) {
                tx.commit()?;
                return Ok(Recorded::Repeated {
                    id,
                    sightings: stored.sightings,
                });
            }
            update_of = Some((id, stored.sightings));
        }
        let mut row = incident.clone();
        if let Some((of, sightings)) = &update_of {
            row.update_of = Some(of.clone());
            row.sightings = *sightings;
        }
        tx.execute(
            "INSERT INTO incidents (id, dedup_key, first_seen_ms, last_seen_ms, sightings, body, update_of)
             VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6)",
            params![
                row.id,
                row.dedup_key,
                now_ms,
                row.sightings as i64,
                serde_json::to_string(&row)?,
                row.update_of,
            ],
        )?;
        for sink in sinks {
            tx.execute(
                "INSERT INTO outbox (incident_id, sink, next_attempt_ms, created_ms) VALUES (?1, ?2, ?3, ?3)",
                params![row.id, sink, now_ms],
            )?;
        }
        tx.commit()?;
        Ok(match update_of {
            None => Recorded::New,
            Some((of, sightings)) => Recorded::Update { of, sightings },
        })
    }

    /// Pending deliveries for `sink` that are due at `now_ms`, oldest first.
    pub fn due(
        &self,
        sink: &str,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT o.id, o.sink, o.attempts, o.created_ms, i.body FROM outbox o
             JOIN incidents i ON i.id = o.incident_id
             WHERE o.sink = ?1 AND o.state = 'pending' AND o.next_attempt_ms <= ?2
             ORDER BY o.next_attempt_ms, o.id LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![sink, now_ms, limit as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, sink, attempts, created_ms, body) = row?;
            out.push(OutboxItem {
                id,
                sink,
                attempts: attempts as u32,
                created_ms,
                incident: serde_json::from_str(&body)?,
            });
        }
        Ok(out)
    }

    /// The earliest `next_attempt_ms` of a pending delivery for `sink`.
    pub fn next_due_ms(&self, sink: &str) -> Result<Option<i64>, StoreError> {
        Ok(self.conn().query_row(
            "SELECT MIN(next_attempt_ms) FROM outbox WHERE sink = ?1 AND state = 'pending'",
            params![sink],
            |r| r.get(0),
        )?)
    }

    pub fn mark_delivered(&self, outbox_id: i64) -> Result<(), StoreError> {
        self.conn()
            .execute("DELETE FROM outbox WHERE id = ?1", params![outbox_id])?;
        Ok(())
    }

    pub fn mark_retry(&self, outbox_id: i64, next_ms: i64, error: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE outbox SET attempts = attempts + 1, next_attempt_ms = ?2, last_error = ?3 WHERE id = ?1",
            params![outbox_id, next_ms, error],
        )?;
        Ok(())
    }

    pub fn mark_failed(&self, outbox_id: i64, error: &str) -> Result<(), StoreError> {
        self.conn().execute(
            "UPDATE outbox SET attempts = attempts + 1, state = 'failed', last_error = ?2 WHERE id = ?1",
            params![outbox_id, error],
        )?;
        Ok(())
    }

    /// Pending and failed deliveries per sink.
    pub fn outbox_counts(&self) -> Result<Vec<OutboxCounts>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT sink, SUM(state = 'pending'), SUM(state = 'failed') FROM outbox GROUP BY sink ORDER BY sink",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(OutboxCounts {
                sink: r.get(0)?,
                pending: r.get::<_, i64>(1)? as u64,
                failed: r.get::<_, i64>(2)? as u64,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Incidents with an id after `after` (ULID order), at most `limit`.
    pub fn incidents_after(
        &self,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Incident>, StoreError> {
        self.incidents_where(&IncidentFilter::default(), after, limit)
    }

    /// Incidents passing `filter` with an id after `after`, at most `limit`.
    pub fn incidents_where(
        &self,
        filter: &IncidentFilter,
        after: Option<&str>,
        limit: usize,
    ) -> Result<Vec<Incident>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT body FROM incidents WHERE id > ?1
               AND (?3 IS NULL OR json_extract(body, '$.brand') = ?3)
               AND (?4 IS NULL OR json_extract(body, '$.severity') = ?4)
               AND (?5 IS NULL OR json_extract(body, '$.match.kind') = ?5)
               AND (?6 IS NULL OR first_seen_ms >= ?6)
             ORDER BY id LIMIT ?2",
        )?;
        let rows = stmt.query_map(
            params![
                after.unwrap_or(""),
                limit as i64,
                filter.brand,
                filter.severity,
                filter.kind,
                filter.since_ms
            ],
            |r| r.get::<_, String>(0),
        )?;
        let mut out = Vec::new();
        for body in rows {
            out.push(serde_json::from_str(&body?)?);
        }
        Ok(out)
    }

    pub fn incident(&self, id: &str) -> Result<Option<Incident>, StoreError> {
        let body: Option<String> = self
            .conn()
            .query_row(
                "SELECT body FROM incidents WHERE id = ?1",
                params![id],
                |r| r.get(0),
            )
            .optional()?;
        Ok(match body {
            Some(b) => Some(serde_json::from_str(&b)?),
            None => None,
        })
    }

    /// Outbox rows, optionally of one state and one sink, by id after `after`.
    pub fn deliveries(
        &self,
        state: Option<&str>,
        sink: Option<&str>,
        after: i64,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT o.id, o.incident_id, o.sink, o.state, o.attempts, o.next_attempt_ms,
                    o.created_ms, o.last_error,
                    json_extract(i.body, '$.brand'), json_extract(i.body, '$.domain')
             FROM outbox o LEFT JOIN incidents i ON i.id = o.incident_id
             WHERE o.id > ?1 AND (?2 IS NULL OR o.state = ?2) AND (?3 IS NULL OR o.sink = ?3)
             ORDER BY o.id LIMIT ?4",
        )?;
        let rows = stmt.query_map(params![after, state, sink, limit as i64], |r| {
            Ok(Delivery {
                id: r.get(0)?,
                incident_id: r.get(1)?,
                sink: r.get(2)?,
                state: r.get(3)?,
                attempts: r.get::<_, i64>(4)? as u32,
                next_attempt: ms_rfc3339(r.get(5)?),
                created: ms_rfc3339(r.get(6)?),
                last_error: r.get(7)?,
                brand: r.get(8)?,
                domain: r.get(9)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    /// Put a failed delivery back in the queue, due now, with a fresh max age.
    pub fn retry_delivery(&self, outbox_id: i64, now: SystemTime) -> Result<Requeue, StoreError> {
        let now_ms = unix_ms(now);
        let conn = self.conn();
        let changed = conn.execute(
            "UPDATE outbox SET state = 'pending', attempts = 0, next_attempt_ms = ?2, created_ms = ?2
             WHERE id = ?1 AND state = 'failed'",
            params![outbox_id, now_ms],
        )?;
        if changed == 1 {
            return Ok(Requeue::Requeued);
        }
        let exists = conn
            .prepare_cached("SELECT 1 FROM outbox WHERE id = ?1")?
            .exists(params![outbox_id])?;
        Ok(if exists {
            Requeue::NotFailed
        } else {
            Requeue::NotFound
        })
    }

    /// A CT log's stored position: (next index to read, tree size then).
    pub fn ct_position(&self, log: &str) -> Result<Option<(u64, u64)>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT next_index, tree_size FROM ct_positions WHERE log = ?1",
                params![log],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
            )
            .optional()?)
    }

    /// Move a CT log's position. It never moves backwards.
    pub fn set_ct_position(
        &self,
        log: &str,
        next_index: u64,
        tree_size: u64,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO ct_positions (log, next_index, tree_size, updated_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(log) DO UPDATE SET
               next_index = MAX(next_index, excluded.next_index),
               tree_size = MAX(tree_size, excluded.tree_size),
               updated_ms = excluded.updated_ms",
            params![log, next_index as i64, tree_size as i64, unix_ms(now)],
        )?;
        Ok(())
    }

    /// The last signed root of a CT log that the entries read made:
    /// (tree size, root hash).
    pub fn ct_root(&self, log: &str) -> Result<Option<(u64, [u8; 32])>, StoreError> {
        let row: Option<(i64, Vec<u8>)> = self
            .conn()
            .query_row(
                "SELECT tree_size, root FROM ct_roots WHERE log = ?1",
                params![log],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        // a row of another shape is ignored (the next check replaces it)
        Ok(row.and_then(|(size, root)| Some((size as u64, root.try_into().ok()?))))
    }

    /// Record a checked root of a CT log.
    pub fn set_ct_root(
        &self,
        log: &str,
        tree_size: u64,
        root: &[u8; 32],
        now: SystemTime,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO ct_roots (log, tree_size, root, updated_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(log) DO UPDATE SET
               tree_size = excluded.tree_size, root = excluded.root, updated_ms = excluded.updated_ms",
            params![log, tree_size as i64, &root[..], unix_ms(now)],
        )?;
        Ok(())
    }

    /// Every CT log position: (log, next index, tree size, updated ms).
    pub fn ct_positions(&self) -> Result<Vec<(String, u64, u64, i64)>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT log, next_index, tree_size, updated_ms FROM ct_positions ORDER BY log",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get(0)?,
                r.get::<_, i64>(1)? as u64,
                r.get::<_, i64>(2)? as u64,
                r.get(3)?,
            ))
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    pub fn incident_count(&self) -> Result<u64, StoreError> {
        Ok(self
            .conn()
            .query_row("SELECT COUNT(*) FROM incidents", [], |r| r.get::<_, i64>(0))?
            as u64)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cert::CertEvent;
    use crate::matcher::{MatchDetail, Verdict};

    fn incident(domain: &str) -> Incident {
        let name = crate::domain::Fqdn::parse(domain).unwrap();
        let v = Verdict::new("paypal.com", &name, MatchDetail::default());
        Incident::new(
            v,
            &CertEvent::default(),
            ulid::Ulid::generate(),
            SystemTime::now(),
        )
    }

    #[test]
    fn record_dedups_within_window_and_queues_once_per_sink() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("sub/db.sqlite")).unwrap();
        let sinks = vec!["a".to_string(), "b".to_string()];
        let day = DedupPolicy {
            window: Duration::from_secs(86400),
            send_updates: false,
        };
        let t0 = SystemTime::now();
        let first = incident("paypa1.com");
        assert_eq!(
            store.record(&first, &sinks, day, t0).unwrap(),
            Recorded::New
        );
        let again = incident("www.paypa1.com");
        let r = store
            .record(&again, &sinks, day, t0 + Duration::from_secs(60))
            .unwrap();
        assert_eq!(
            r,
            Recorded::Repeated {
                id: first.id.clone(),
                sightings: 2
            }
        );
        assert_eq!(store.incident(&first.id).unwrap().unwrap().sightings, 2);
        // outside the window: a new incident
        let later = incident("paypa1.com");
        let r = store
            .record(&later, &sinks, day, t0 + Duration::from_secs(2 * 86400))
            .unwrap();
        assert_eq!(r, Recorded::New);

        let now = unix_ms(t0 + Duration::from_secs(3 * 86400));
        let due = store.due("a", now, 10).unwrap();
        assert_eq!(due.len(), 2);
        store.mark_retry(due[0].id, now + 1000, "HTTP 503").unwrap();
        store.mark_failed(due[1].id, "HTTP 400").unwrap();
        assert!(store.due("a", now, 10).unwrap().is_empty());
        assert_eq!(store.due("a", now + 1000, 10).unwrap()[0].attempts, 1);
        let counts = store.outbox_counts().unwrap();
        assert_eq!(
            counts[0],
            OutboxCounts {
                sink: "a".into(),
                pending: 1,
                failed: 1
            }
        );
        assert_eq!(counts[1].pending, 2);
        store.mark_delivered(due[0].id).unwrap();
        assert_eq!(store.outbox_counts().unwrap()[0].pending, 0);

        let page = store.incidents_after(None, 1).unwrap();
        assert_eq!(page.len(), 1);
        let rest = store.incidents_after(Some(&page[0].id), 10).unwrap();
        assert_eq!(rest.len(), 1);
        assert_eq!(store.incident_count().unwrap(), 2);
    }
}
