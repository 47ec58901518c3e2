//! Enrichment jobs: one row per incident, durable like the outbox. New
//! incidents are taken up by [`Store::enrich_take_new`]; a check claims its
//! job (`claimed`), and [`Store::enrich_save`] writes the result into the
//! incident, queues an update for every sink when the state changed, and
//! schedules the next check, in one transaction. A check cut off by a
//! crash is claimed again at the next start ([`Store::enrich_resume`]).

use super::{Db, Store, StoreError};
use crate::model::IncidentId;
use crate::model::{Incident, unix_ms};
use rusqlite::params;
use std::time::SystemTime;

/// A check that is due.
#[derive(Debug, Clone)]
pub struct EnrichJob {
    pub incident: Incident,
    pub unchanged: u32,
    pub until_ms: i64,
}

/// What to write after a check.
#[derive(Debug, Clone)]
pub struct EnrichResult {
    /// The incident with its new enrichment (and raised score, if any).
    pub incident: Incident,
    /// An update to queue for every sink, when the state changed.
    pub update: Option<Incident>,
    /// When to check again; `None` ends the watch.
    pub next_run_ms: Option<i64>,
    pub unchanged: u32,
    pub error: Option<String>,
}

/// Jobs by state, for `/v1/status`.
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct EnrichCounts {
    /// Waiting for their next check.
    pub watching: u64,
    /// Due now (or overdue: the pool is behind).
    pub due: u64,
    /// Watch ended.
    pub done: u64,
}

impl Db {
    fn enrich_take_new(
        &self,
        after: i64,
        from_ms: i64,
        watch_ms: i64,
        now_ms: i64,
    ) -> Result<Option<i64>, StoreError> {
        // one write transaction: nothing commits between reading the
        // highest rowid and taking up the rows to it (another connection
        // committing in between was skipped for good)
        let mut conn = self.conn();
        let tx = conn.transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)?;
        let last: Option<i64> = tx.query_row(
            "SELECT MAX(rowid) FROM incidents WHERE rowid > ?1",
            params![after],
            |r| r.get(0),
        )?;
        if let Some(last) = last {
            tx.execute(
                "INSERT OR IGNORE INTO enrichment_jobs (incident_id, next_run_ms, created_ms, until_ms)
                 SELECT id, ?4, ?4, first_seen_ms + ?5 FROM incidents
                 WHERE rowid > ?1 AND rowid <= ?2 AND update_of IS NULL AND first_seen_ms >= ?3",
                params![after, last, from_ms, now_ms, watch_ms],
            )?;
        }
        tx.commit()?;
        Ok(last)
    }

    fn enrich_claim(&self, now_ms: i64, limit: usize) -> Result<Vec<EnrichJob>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let rows: Vec<(String, u32, i64, String)> = {
            let mut stmt = tx.prepare_cached(
                "SELECT j.incident_id, j.unchanged, j.until_ms, i.body
                 FROM enrichment_jobs j JOIN incidents i ON i.id = j.incident_id
                 WHERE j.state = 'pending' AND j.claimed = 0 AND j.next_run_ms <= ?1
                 ORDER BY j.next_run_ms LIMIT ?2",
            )?;
            stmt.query_map(params![now_ms, limit as i64], |r| {
                Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?))
            })?
            .collect::<Result<_, _>>()?
        };
        let mut out = Vec::with_capacity(rows.len());
        for (id, unchanged, until_ms, body) in rows {
            tx.execute(
                "UPDATE enrichment_jobs SET claimed = 1 WHERE incident_id = ?1",
                params![id],
            )?;
            out.push(EnrichJob {
                incident: serde_json::from_str(&body)?,
                unchanged,
                until_ms,
            });
        }
        tx.commit()?;
        Ok(out)
    }

    fn enrich_save(
        &self,
        r: &EnrichResult,
        sinks: &[String],
        now_ms: i64,
    ) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let id = r.incident.id.to_string();
        tx.execute(
            "UPDATE incidents SET body = ?2 WHERE id = ?1",
            params![id, serde_json::to_string(&r.incident)?],
        )?;
        if let Some(update) = &r.update {
            super::incidents::insert_queued(&tx, update, sinks, now_ms)?;
        }
        tx.execute(
            "UPDATE enrichment_jobs SET claimed = 0, checks = checks + 1, unchanged = ?2,
                 state = ?3, next_run_ms = ?4, last_error = ?5
             WHERE incident_id = ?1",
            params![
                id,
                r.unchanged,
                if r.next_run_ms.is_some() {
                    "pending"
                } else {
                    "done"
                },
                r.next_run_ms.unwrap_or(now_ms),
                r.error,
            ],
        )?;
        tx.commit()?;
        Ok(())
    }

    fn enrich_counts(&self, now_ms: i64) -> Result<EnrichCounts, StoreError> {
        Ok(self.conn().query_row(
            "SELECT COALESCE(SUM(state = 'pending' AND next_run_ms > ?1), 0),
                    COALESCE(SUM(state = 'pending' AND next_run_ms <= ?1), 0),
                    COALESCE(SUM(state = 'done'), 0)
             FROM enrichment_jobs",
            params![now_ms],
            |r| {
                Ok(EnrichCounts {
                    watching: r.get::<_, i64>(0)? as u64,
                    due: r.get::<_, i64>(1)? as u64,
                    done: r.get::<_, i64>(2)? as u64,
                })
            },
        )?)
    }
}

impl Store {
    /// Give every incident stored after `after` (a rowid, the order rows
    /// were committed in; 0 for all) first seen since `from` a job due now,
    /// watched for `watch`. Returns the last rowid looked at, the cursor
    /// for the next call. Not the incident id: ids are ULIDs made before
    /// the write, so an incident made earlier can be committed after one
    /// made later (an enrichment update), and a cursor on ids would pass it.
    pub async fn enrich_take_new(
        &self,
        after: i64,
        from: SystemTime,
        watch: std::time::Duration,
    ) -> Result<Option<i64>, StoreError> {
        let (from_ms, now_ms) = (unix_ms(from), unix_ms(SystemTime::now()));
        let watch_ms = watch.as_millis() as i64;
        self.call(move |db| db.enrich_take_new(after, from_ms, watch_ms, now_ms))
            .await
    }

    /// Claim up to `limit` due checks.
    pub async fn enrich_claim(&self, limit: usize) -> Result<Vec<EnrichJob>, StoreError> {
        let now_ms = unix_ms(SystemTime::now());
        self.call(move |db| db.enrich_claim(now_ms, limit)).await
    }

    /// Write a check's outcome (see the module doc).
    pub async fn enrich_save(
        &self,
        result: EnrichResult,
        sinks: Vec<String>,
    ) -> Result<(), StoreError> {
        let now_ms = unix_ms(SystemTime::now());
        self.call(move |db| db.enrich_save(&result, &sinks, now_ms))
            .await
    }

    /// Make checks a crashed process had claimed due again.
    pub async fn enrich_resume(&self) -> Result<usize, StoreError> {
        let now_ms = unix_ms(SystemTime::now());
        self.call(move |db| {
            Ok(db.conn().execute(
                "UPDATE enrichment_jobs SET claimed = 0, next_run_ms = MIN(next_run_ms, ?1) WHERE claimed = 1",
                params![now_ms],
            )?)
        })
        .await
    }

    /// Give up the claim on `incident`'s check (its result could not be
    /// saved): it is due again at `next_run_ms`.
    pub async fn enrich_release(
        &self,
        incident: IncidentId,
        next_run_ms: i64,
    ) -> Result<(), StoreError> {
        self.call(move |db| {
            db.conn().execute(
                "UPDATE enrichment_jobs SET claimed = 0, next_run_ms = ?2 WHERE incident_id = ?1",
                params![incident.to_string(), next_run_ms],
            )?;
            Ok(())
        })
        .await
    }

    pub async fn enrich_counts(&self) -> Result<EnrichCounts, StoreError> {
        let now_ms = unix_ms(SystemTime::now());
        self.call(move |db| db.enrich_counts(now_ms)).await
    }
}
