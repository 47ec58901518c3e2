//! `store.retention`: old incidents and long-failed deliveries are pruned in
//! small batches, one short transaction each, off the hot path. An incident
//! is pruned only once nothing in the outbox still points at it, so an
//! undelivered incident is never lost to age; a failed delivery is kept
//! until retried or `failed` old. Delivered rows leave the outbox at
//! delivery, so there is nothing of them to prune.

use super::{Db, Store, StoreError};
use crate::config::ConfigError;
use rusqlite::params;
use serde::{Deserialize, Serialize};
use std::time::{Duration, SystemTime};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RetentionSettings {
    /// Incidents last seen longer ago than this are pruned.
    #[serde(with = "crate::config::duration")]
    pub incidents: Duration,
    /// Failed deliveries (not retried) older than this are pruned.
    #[serde(with = "crate::config::duration")]
    pub failed: Duration,
    /// How often pruning runs (and once at start).
    #[serde(with = "crate::config::duration")]
    pub interval: Duration,
    /// Rows per transaction.
    pub batch: usize,
}

impl Default for RetentionSettings {
    fn default() -> Self {
        const DAY: u64 = 24 * 3600;
        RetentionSettings {
            incidents: Duration::from_secs(365 * DAY),
            failed: Duration::from_secs(90 * DAY),
            interval: Duration::from_secs(3600),
            batch: 500,
        }
    }
}

impl RetentionSettings {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        crate::config::require_positive(&[
            ("store.retention.incidents", self.incidents),
            ("store.retention.failed", self.failed),
            ("store.retention.interval", self.interval),
        ])?;
        if self.batch == 0 {
            return Err(crate::config::invalid(
                "store.retention.batch",
                "must be at least 1",
            ));
        }
        Ok(())
    }
}

/// Rows one pruning pass removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Pruned {
    pub incidents: u64,
    pub failed_deliveries: u64,
}

fn cutoff(now: SystemTime, age: Duration) -> i64 {
    crate::model::unix_ms(now.checked_sub(age).unwrap_or(SystemTime::UNIX_EPOCH))
}

impl Db {
    fn prune_failed(&self, before_ms: i64, batch: usize) -> Result<u64, StoreError> {
        Ok(self.conn().execute(
            "DELETE FROM outbox WHERE id IN (
                 SELECT id FROM outbox WHERE state = 'failed' AND created_ms < ?1 LIMIT ?2)",
            params![before_ms, batch as i64],
        )? as u64)
    }

    fn prune_incidents(&self, before_ms: i64, batch: usize) -> Result<u64, StoreError> {
        Ok(self.conn().execute(
            "DELETE FROM incidents WHERE id IN (
                 SELECT i.id FROM incidents i
                 WHERE i.last_seen_ms < ?1
                   AND NOT EXISTS (SELECT 1 FROM outbox o WHERE o.incident_id = i.id)
                 LIMIT ?2)",
            params![before_ms, batch as i64],
        )? as u64)
    }
}

impl Store {
    /// One pruning pass as of `now`: batches until nothing is left to prune.
    pub async fn prune(
        &self,
        settings: &RetentionSettings,
        now: SystemTime,
    ) -> Result<Pruned, StoreError> {
        let batch = settings.batch;
        let failed_before = cutoff(now, settings.failed);
        let incidents_before = cutoff(now, settings.incidents);
        let failed_deliveries = self
            .in_batches(batch, move |db| db.prune_failed(failed_before, batch))
            .await?;
        let incidents = self
            .in_batches(batch, move |db| db.prune_incidents(incidents_before, batch))
            .await?;
        let pruned = Pruned {
            incidents,
            failed_deliveries,
        };
        Ok(pruned)
    }

    /// Run `delete` (one transaction of up to `batch` rows) until it
    /// removes fewer; the rows removed.
    async fn in_batches(
        &self,
        batch: usize,
        delete: impl Fn(&Db) -> Result<u64, StoreError> + Clone + Send + 'static,
    ) -> Result<u64, StoreError> {
        let mut total = 0;
        loop {
            let n = self.call(delete.clone()).await?;
            total += n;
            if (n as usize) < batch {
                return Ok(total);
            }
            // let the pipeline's writes in between batches
            tokio::task::yield_now().await;
        }
    }

    /// Prune every `settings.interval` until cancelled; `on_pass` gets each
    /// pass's result (metrics, logs).
    pub async fn run_retention(
        self,
        settings: RetentionSettings,
        on_pass: impl Fn(Result<Pruned, StoreError>) + Send,
        shutdown: CancellationToken,
    ) {
        loop {
            let pass = tokio::select! {
                _ = shutdown.cancelled() => return,
                r = self.prune(&settings, SystemTime::now()) => r,
            };
            on_pass(pass);
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = tokio::time::sleep(settings.interval) => {}
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rusqlite::params;

    #[tokio::test]
    async fn prunes_old_incidents_and_failed_rows_but_never_an_undelivered_incident() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let day = 24 * 3600 * 1000i64;
        let now = SystemTime::now();
        let now_ms = crate::model::unix_ms(now);
        {
            let conn = store.db.conn();
            // 1,200 old delivered incidents, 3 old with a pending delivery,
            // 2 old with a failed one (one failed long ago), 5 recent
            for i in 0..1_210 {
                let age = if i < 1_205 { 400 * day } else { day };
                conn.execute(
                    "INSERT INTO incidents (id, dedup_key, first_seen_ms, last_seen_ms, sightings, body)
                     VALUES (?1, ?1, ?2, ?2, 1, '{}')",
                    params![format!("i{i}"), now_ms - age],
                )
                .unwrap();
            }
            for (i, state, created) in [
                (0, "pending", 400 * day),
                (1, "pending", 400 * day),
                (2, "pending", 400 * day),
                (3, "failed", 100 * day),
                (4, "failed", 10 * day),
            ] {
                conn.execute(
                    "INSERT INTO outbox (incident_id, sink, state, next_attempt_ms, created_ms)
                     VALUES (?1, 'hook', ?2, 0, ?3)",
                    params![format!("i{i}"), state, now_ms - created],
                )
                .unwrap();
            }
        }
        let settings = RetentionSettings {
            batch: 100,
            ..RetentionSettings::default()
        };
        let pruned = store.prune(&settings, now).await.unwrap();
        assert_eq!(
            pruned,
            Pruned {
                incidents: 1_205 - 4,
                failed_deliveries: 1
            }
        );
        let left: Vec<String> = {
            let conn = store.db.conn();
            let mut stmt = conn
                .prepare("SELECT id FROM incidents ORDER BY id")
                .unwrap();
            stmt.query_map([], |r| r.get(0))
                .unwrap()
                .collect::<Result<_, _>>()
                .unwrap()
        };
        assert_eq!(
            left,
            [
                "i0", "i1", "i1205", "i1206", "i1207", "i1208", "i1209", "i2", "i4"
            ]
        );
        assert_eq!(
            store.prune(&settings, now).await.unwrap(),
            Pruned::default()
        );
    }
}
