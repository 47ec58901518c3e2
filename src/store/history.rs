//! The last day in numbers, for the console's charts: incidents per hour
//! (from the incidents themselves) and names matched per minute (sampled
//! from the counters into `throughput`, kept two days).

use super::{Store, StoreError};
use crate::model::Timestamp;
use rusqlite::params;
use serde::Serialize;

const MINUTE_MS: i64 = 60_000;
const HOUR_MS: i64 = 3_600_000;
/// How long the per-minute rows are kept.
const KEEP_MS: i64 = 48 * HOUR_MS;

/// `hours` hourly incident counts and per-minute name rates up to now,
/// oldest first, every bucket present (zero when nothing happened).
#[derive(Debug, Clone, Serialize)]
pub struct History {
    pub hours: u32,
    /// Start of each hour (Unix ms) and the new incidents first seen in it.
    pub incidents_per_hour: Vec<(i64, u64)>,
    /// Start of each minute (Unix ms) and names matched per second in it.
    pub names_per_second: Vec<(i64, f64)>,
}

impl Store {
    /// Add `names` matched at `at` to its minute; rows older than two days go.
    pub async fn record_throughput(&self, at: Timestamp, names: u64) -> Result<(), StoreError> {
        self.call(move |db| {
            let minute = at.unix_ms().div_euclid(MINUTE_MS) * MINUTE_MS;
            let conn = db.conn();
            conn.prepare_cached(
                "INSERT INTO throughput (minute, names) VALUES (?1, ?2)
                 ON CONFLICT(minute) DO UPDATE SET names = names + excluded.names",
            )?
            .execute(params![minute, names as i64])?;
            conn.prepare_cached("DELETE FROM throughput WHERE minute < ?1")?
                .execute([minute - KEEP_MS])?;
            Ok(())
        })
        .await
    }

    /// The last `hours` hours up to `now`.
    pub async fn history(&self, now: Timestamp, hours: u32) -> Result<History, StoreError> {
        self.call(move |db| {
            let now = now.unix_ms();
            let first_hour = (now.div_euclid(HOUR_MS) - i64::from(hours) + 1) * HOUR_MS;
            let first_minute =
                now.div_euclid(MINUTE_MS) * MINUTE_MS - (i64::from(hours) * 60 - 1) * MINUTE_MS;
            let conn = db.conn();
            let mut per_hour: Vec<(i64, u64)> = (0..i64::from(hours))
                .map(|i| (first_hour + i * HOUR_MS, 0))
                .collect();
            let mut stmt = conn.prepare_cached(
                "SELECT first_seen_ms / 3600000, COUNT(*) FROM incidents
                 WHERE first_seen_ms >= ?1 AND update_of IS NULL GROUP BY 1",
            )?;
            for row in stmt.query_map([first_hour], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })? {
                let (hour, n) = row?;
                let i = (hour * HOUR_MS - first_hour) / HOUR_MS;
                if let Some(slot) = usize::try_from(i).ok().and_then(|i| per_hour.get_mut(i)) {
                    slot.1 = n.max(0) as u64;
                }
            }
            let minutes = i64::from(hours) * 60;
            let mut per_minute: Vec<(i64, f64)> = (0..minutes)
                .map(|i| (first_minute + i * MINUTE_MS, 0.0))
                .collect();
            let mut stmt = conn.prepare_cached(
                "SELECT minute, names FROM throughput WHERE minute >= ?1 ORDER BY minute",
            )?;
            for row in stmt.query_map([first_minute], |r| {
                Ok((r.get::<_, i64>(0)?, r.get::<_, i64>(1)?))
            })? {
                let (minute, n) = row?;
                let i = (minute - first_minute) / MINUTE_MS;
                if let Some(slot) = usize::try_from(i).ok().and_then(|i| per_minute.get_mut(i)) {
                    slot.1 = n.max(0) as f64 / 60.0;
                }
            }
            Ok(History {
                hours,
                incidents_per_hour: per_hour,
                names_per_second: per_minute,
            })
        })
        .await
    }
}
