//! An api process's read model of the bus's incidents' stream (`[bus]`,
//! roles = ["api"] without "matcher"): each incident the stream carries is
//! kept as the matcher that raised it kept it, and an update (a new
//! sighting, enrichment) is kept beside it and applied to it. The stream
//! position moves in the same transaction, so a restart resumes exactly
//! after the last incident kept.

use super::{Db, Store, StoreError};
use crate::bus::ReadModel;
use crate::model::Incident;
use futures_util::future::BoxFuture;
use rusqlite::{OptionalExtension, params};

#[cfg_attr(not(feature = "nats"), allow(dead_code))]
impl Db {
    fn bus_position(&self, stream: &str) -> Result<u64, StoreError> {
        let next: Option<i64> = self
            .conn()
            .query_row(
                "SELECT next_seq FROM bus_positions WHERE stream = ?1",
                params![stream],
                |r| r.get(0),
            )
            .optional()?;
        Ok(next.map_or(1, |n| n.max(1) as u64))
    }

    fn keep_from_bus(&self, stream: &str, seq: u64, incident: &Incident) -> Result<(), StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let body = serde_json::to_string(incident)?;
        tx.execute(
            "INSERT OR IGNORE INTO incidents (id, dedup_key, first_seen_ms, last_seen_ms, sightings, body, update_of)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
            params![
                incident.id.to_string(),
                incident.dedup_key.as_str(),
                incident.first_seen.unix_ms(),
                incident.last_seen.unix_ms(),
                incident.sightings as i64,
                body,
                incident.update_of.map(|u| u.to_string()),
            ],
        )?;
        if let Some(base) = incident.update_of {
            // the incident as the update left it, under the incident's own id
            let mut applied = incident.clone();
            applied.id = base;
            applied.update_of = None;
            applied.enrichment_update = None;
            tx.execute(
                "UPDATE incidents SET last_seen_ms = ?1, sightings = ?2, body = ?3
                 WHERE id = ?4 AND last_seen_ms <= ?1",
                params![
                    applied.last_seen.unix_ms(),
                    applied.sightings as i64,
                    serde_json::to_string(&applied)?,
                    base.to_string(),
                ],
            )?;
        }
        tx.execute(
            "INSERT INTO bus_positions (stream, next_seq) VALUES (?1, ?2)
             ON CONFLICT(stream) DO UPDATE SET next_seq = MAX(next_seq, excluded.next_seq)",
            params![stream, (seq + 1) as i64],
        )?;
        tx.commit()?;
        Ok(())
    }
}

impl ReadModel for Store {
    fn next_sequence<'a>(&'a self, stream: &'a str) -> BoxFuture<'a, Result<u64, String>> {
        let stream = stream.to_owned();
        Box::pin(async move {
            self.call(move |db| db.bus_position(&stream))
                .await
                .map_err(|e| e.to_string())
        })
    }

    fn keep<'a>(
        &'a self,
        stream: &'a str,
        seq: u64,
        incident: Incident,
    ) -> BoxFuture<'a, Result<(), String>> {
        let stream = stream.to_owned();
        Box::pin(async move {
            self.call(move |db| db.keep_from_bus(&stream, seq, &incident))
                .await
                .map_err(|e| e.to_string())
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn incidents_and_updates_are_kept_once_and_the_position_moves_with_them() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let db = &store.db;
        assert_eq!(db.bus_position("INCIDENTS").unwrap(), 1);
        let first = super::super::tests::sample_incident("paypa1.com");
        db.keep_from_bus("INCIDENTS", 7, &first).unwrap();
        // the same message again (a redelivery) changes nothing
        db.keep_from_bus("INCIDENTS", 7, &first).unwrap();
        assert_eq!(db.bus_position("INCIDENTS").unwrap(), 8);
        let mut update = first.clone();
        update.id = crate::model::IncidentId::new(ulid::Ulid::from_parts(5, 6));
        update.update_of = Some(first.id);
        update.sightings = 2;
        update.last_seen = crate::model::Timestamp::from_unix_ms(first.last_seen.unix_ms() + 1000);
        db.keep_from_bus("INCIDENTS", 9, &update).unwrap();
        assert_eq!(db.bus_position("INCIDENTS").unwrap(), 10);
        let kept = store.incident(first.id).await.unwrap().unwrap();
        assert_eq!((kept.sightings, kept.update_of), (2, None));
        assert_eq!(
            store.incident_count().await.unwrap(),
            2,
            "the update is kept beside it"
        );
    }
}
