//! The delivery outbox: one row per (incident, sink) until the sink
//! confirms; retries are rescheduled, refusals kept as `failed`. An update
//! waits while its incident's own delivery to that sink is pending, so a
//! SOAR never gets the update first.

use super::{Db, Store, StoreError};
use crate::model::{Incident, Timestamp};
use rusqlite::params;
use std::time::SystemTime;

/// One outbox row as the deliveries API shows it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Delivery {
    pub id: i64,
    pub incident_id: String,
    pub sink: String,
    pub state: String,
    pub attempts: u32,
    pub next_attempt: Timestamp,
    pub created: Timestamp,
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

/// One pending delivery.
#[derive(Debug, Clone)]
pub struct OutboxItem {
    pub id: i64,
    pub sink: String,
    pub attempts: u32,
    pub created_ms: i64,
    pub incident: Incident,
    /// For an update: the sink's own id of the record its incident became
    /// there (`sink_refs`), when the sink named one.
    pub record: Option<String>,
}

/// Delivery counts for one sink.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct OutboxCounts {
    pub sink: String,
    pub pending: u64,
    pub failed: u64,
}

impl Db {
    fn due(&self, sink: &str, now_ms: i64, limit: usize) -> Result<Vec<OutboxItem>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT o.id, o.sink, o.attempts, o.created_ms, i.body,
                    (SELECT r.remote_id FROM sink_refs r WHERE r.incident_id = i.update_of AND r.sink = o.sink)
             FROM outbox o
             JOIN incidents i ON i.id = o.incident_id
             WHERE o.sink = ?1 AND o.state = 'pending' AND o.next_attempt_ms <= ?2
               AND NOT EXISTS (SELECT 1 FROM outbox p WHERE p.incident_id = i.update_of
                               AND p.sink = o.sink AND p.state = 'pending')
             ORDER BY o.next_attempt_ms, o.id LIMIT ?3",
        )?;
        let rows = stmt.query_map(params![sink, now_ms, limit as i64], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, i64>(3)?,
                r.get::<_, String>(4)?,
                r.get::<_, Option<String>>(5)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, sink, attempts, created_ms, body, record) = row?;
            out.push(OutboxItem {
                id,
                sink,
                attempts: attempts as u32,
                created_ms,
                incident: serde_json::from_str(&body)?,
                record,
            });
        }
        Ok(out)
    }

    fn next_due_ms(&self, sink: &str) -> Result<Option<i64>, StoreError> {
        Ok(self.conn().query_row(
            "SELECT MIN(next_attempt_ms) FROM outbox WHERE sink = ?1 AND state = 'pending'",
            params![sink],
            |r| r.get(0),
        )?)
    }

    fn outbox_counts(&self) -> Result<Vec<OutboxCounts>, StoreError> {
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

    fn deliveries(
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
                next_attempt: Timestamp::from_unix_ms(r.get(5)?),
                created: Timestamp::from_unix_ms(r.get(6)?),
                last_error: r.get(7)?,
                brand: r.get(8)?,
                domain: r.get(9)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }

    fn retry_delivery(&self, outbox_id: i64, now_ms: i64) -> Result<Requeue, StoreError> {
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
}

impl Store {
    /// Pending deliveries for `sink` that are due at `now_ms`, oldest first.
    pub async fn due(
        &self,
        sink: &str,
        now_ms: i64,
        limit: usize,
    ) -> Result<Vec<OutboxItem>, StoreError> {
        let sink = sink.to_owned();
        self.call(move |db| db.due(&sink, now_ms, limit)).await
    }

    /// The earliest `next_attempt_ms` of a pending delivery for `sink`.
    pub async fn next_due_ms(&self, sink: &str) -> Result<Option<i64>, StoreError> {
        let sink = sink.to_owned();
        self.call(move |db| db.next_due_ms(&sink)).await
    }

    /// The sink confirmed: the row goes. `record` is the sink's own id of
    /// what it created, kept for the incident's later updates.
    pub async fn mark_delivered(
        &self,
        outbox_id: i64,
        record: Option<String>,
    ) -> Result<(), StoreError> {
        self.call(move |db| {
            let mut conn = db.conn();
            let tx = conn.transaction()?;
            if let Some(record) = record {
                tx.execute(
                    "INSERT OR REPLACE INTO sink_refs (incident_id, sink, remote_id)
                     SELECT incident_id, sink, ?2 FROM outbox WHERE id = ?1",
                    params![outbox_id, record],
                )?;
            }
            tx.execute("DELETE FROM outbox WHERE id = ?1", params![outbox_id])?;
            tx.commit()?;
            Ok(())
        })
        .await
    }

    pub async fn mark_retry(
        &self,
        outbox_id: i64,
        next_ms: i64,
        error: String,
    ) -> Result<(), StoreError> {
        self.call(move |db| {
            db.conn().execute(
                "UPDATE outbox SET attempts = attempts + 1, next_attempt_ms = ?2, last_error = ?3 WHERE id = ?1",
                params![outbox_id, next_ms, error],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn mark_failed(&self, outbox_id: i64, error: String) -> Result<(), StoreError> {
        self.call(move |db| {
            db.conn().execute(
                "UPDATE outbox SET attempts = attempts + 1, state = 'failed', last_error = ?2 WHERE id = ?1",
                params![outbox_id, error],
            )?;
            Ok(())
        })
        .await
    }

    /// Pending and failed deliveries per sink.
    pub async fn outbox_counts(&self) -> Result<Vec<OutboxCounts>, StoreError> {
        self.call(|db| db.outbox_counts()).await
    }

    /// Outbox rows, optionally of one state and one sink, by id after `after`.
    pub async fn deliveries(
        &self,
        state: Option<String>,
        sink: Option<String>,
        after: i64,
        limit: usize,
    ) -> Result<Vec<Delivery>, StoreError> {
        self.call(move |db| db.deliveries(state.as_deref(), sink.as_deref(), after, limit))
            .await
    }

    /// Put a failed delivery back in the queue, due now, with a fresh max age.
    pub async fn retry_delivery(
        &self,
        outbox_id: i64,
        now: SystemTime,
    ) -> Result<Requeue, StoreError> {
        let now_ms = crate::model::unix_ms(now);
        self.call(move |db| db.retry_delivery(outbox_id, now_ms))
            .await
    }
}
