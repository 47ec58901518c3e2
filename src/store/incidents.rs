//! Incidents: recording one (or a repeat sighting within the dedup window)
//! with its outbox rows, and reading them back for the pull API and export.

use super::{Db, Store, StoreError};
use crate::model::{Incident, IncidentId, Timestamp, unix_ms};
use crate::pipeline::{DedupPolicy, RecordError, Recorded, Recorder};
use rusqlite::{OptionalExtension, params};
use std::time::SystemTime;

/// Filters of the incident pull and export API.
#[derive(Debug, Clone, Default)]
pub struct IncidentFilter {
    /// Whose incidents (`[[tenants]]`; `default` without tenants).
    pub tenant: Option<String>,
    pub brand: Option<String>,
    pub severity: Option<String>,
    pub kind: Option<String>,
    /// Unix milliseconds: incidents first seen at or after.
    pub since_ms: Option<i64>,
    /// Triage state; `new` also matches incidents never triaged.
    pub triage: Option<String>,
    /// Lower-case text found in the domain (either form) or the brand.
    pub text: Option<String>,
    /// Unix milliseconds: incidents changed (seen again, enriched, triaged)
    /// at or after; what a mirroring SOAR asks for.
    pub modified_since_ms: Option<i64>,
}

/// Insert `row` (an incident, or an update when `update_of` is set) with
/// one outbox row per sink, inside the caller's transaction.
pub(super) fn insert_queued(
    tx: &rusqlite::Transaction<'_>,
    row: &Incident,
    sinks: &[String],
    now_ms: i64,
) -> Result<(), StoreError> {
    let id = row.id.to_string();
    tx.execute(
        "INSERT INTO incidents (id, dedup_key, first_seen_ms, last_seen_ms, sightings, body, update_of)
         VALUES (?1, ?2, ?3, ?3, ?4, ?5, ?6)",
        params![
            id,
            row.dedup_key.as_str(),
            now_ms,
            row.sightings as i64,
            serde_json::to_string(row)?,
            row.update_of.map(|u| u.to_string()),
        ],
    )?;
    for sink in sinks {
        tx.execute(
            "INSERT INTO outbox (incident_id, sink, next_attempt_ms, created_ms) VALUES (?1, ?2, ?3, ?3)",
            params![id, sink, now_ms],
        )?;
    }
    Ok(())
}

impl Db {
    fn record(
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
        let existing: Option<String> = tx
            .query_row(
                "SELECT body FROM incidents
                 WHERE dedup_key = ?1 AND last_seen_ms >= ?2 AND update_of IS NULL
                 ORDER BY last_seen_ms DESC LIMIT 1",
                params![incident.dedup_key.as_str(), since],
                |r| r.get(0),
            )
            .optional()?;
        let mut update_of = None;
        if let Some(body) = existing {
            let mut stored: Incident = serde_json::from_str(&body)?;
            stored.sightings += 1;
            stored.last_seen = Timestamp::from_system(now);
            tx.execute(
                "UPDATE incidents SET last_seen_ms = ?1, sightings = ?2, body = ?3 WHERE id = ?4",
                params![
                    now_ms,
                    stored.sightings as i64,
                    serde_json::to_string(&stored)?,
                    stored.id.to_string()
                ],
            )?;
            let new_cert = !incident.certificate.sha256.is_empty()
                && incident.certificate.sha256 != stored.certificate.sha256;
            if !(policy.send_updates && new_cert) {
                tx.commit()?;
                return Ok(Recorded::Repeated {
                    id: stored.id,
                    sightings: stored.sightings,
                });
            }
            update_of = Some((stored.id, stored.sightings));
        }
        let mut row = incident.clone();
        if let Some((of, sightings)) = update_of {
            row.update_of = Some(of);
            row.sightings = sightings;
        }
        insert_queued(&tx, &row, sinks, now_ms)?;
        tx.commit()?;
        Ok(match update_of {
            None => Recorded::New,
            Some((of, sightings)) => Recorded::Update { of, sightings },
        })
    }

    /// Like [`Db::incidents_where`], newest first, with ids before `before`.
    fn incidents_newest(
        &self,
        filter: &IncidentFilter,
        before: Option<IncidentId>,
        limit: usize,
    ) -> Result<Vec<Incident>, StoreError> {
        // every id sorts before "~" (ULIDs are Crockford base32)
        let before = before.map_or_else(|| "~".to_owned(), |b| b.to_string());
        self.page("x.id < ?", "ORDER BY x.id DESC", filter, before, limit)
    }

    fn incidents_where(
        &self,
        filter: &IncidentFilter,
        after: Option<IncidentId>,
        limit: usize,
    ) -> Result<Vec<Incident>, StoreError> {
        let after = after.map(|a| a.to_string()).unwrap_or_default();
        self.page("x.id > ?", "ORDER BY x.id", filter, after, limit)
    }

    /// One page of incidents passing `filter`, through `incident_index`
    /// (migration 12): only the filters given are in the query, so SQLite
    /// can walk the index of a selective one in id order.
    fn page(
        &self,
        cursor_cond: &str,
        order: &str,
        filter: &IncidentFilter,
        cursor: String,
        limit: usize,
    ) -> Result<Vec<Incident>, StoreError> {
        let mut sql = format!(
            "SELECT i.body FROM incident_index x JOIN incidents i ON i.id = x.id WHERE {cursor_cond}"
        );
        let mut args: Vec<rusqlite::types::Value> = vec![cursor.into()];
        let mut and = |cond: &str, v: rusqlite::types::Value| {
            sql.push_str(" AND ");
            sql.push_str(cond);
            args.push(v);
        };
        if let Some(t) = &filter.tenant {
            and("x.tenant = ?", t.clone().into());
        }
        if let Some(b) = &filter.brand {
            and("x.brand = ?", b.clone().into());
        }
        if let Some(s) = &filter.severity {
            and("x.severity = ?", s.clone().into());
        }
        if let Some(k) = &filter.kind {
            and("x.kind = ?", k.clone().into());
        }
        if let Some(ms) = filter.since_ms {
            and("x.first_seen_ms >= ?", ms.into());
        }
        if let Some(t) = &filter.triage {
            and("x.triage = ?", t.clone().into());
        }
        if let Some(t) = &filter.text {
            and("instr(x.search, ?) > 0", t.clone().into());
        }
        if let Some(ms) = filter.modified_since_ms {
            and("x.modified_ms >= ?", ms.into());
        }
        sql.push_str(&format!(" {order} LIMIT ?"));
        args.push((limit as i64).into());
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map(rusqlite::params_from_iter(args), |r| r.get::<_, String>(0))?;
        let mut out = Vec::new();
        for body in rows {
            out.push(serde_json::from_str(&body?)?);
        }
        Ok(out)
    }

    fn incident(&self, id: IncidentId) -> Result<Option<Incident>, StoreError> {
        let body: Option<String> = self
            .conn()
            .query_row(
                "SELECT body FROM incidents WHERE id = ?1",
                params![id.to_string()],
                |r| r.get(0),
            )
            .optional()?;
        Ok(match body {
            Some(b) => Some(serde_json::from_str(&b)?),
            None => None,
        })
    }

    fn incident_count(&self) -> Result<u64, StoreError> {
        Ok(self
            .conn()
            .query_row("SELECT COUNT(*) FROM incidents", [], |r| r.get::<_, i64>(0))?
            as u64)
    }
}

impl Store {
    /// Incidents passing `filter`, newest first, with an id before `before`,
    /// at most `limit` (the console's queue).
    pub async fn incidents_newest(
        &self,
        filter: IncidentFilter,
        before: Option<IncidentId>,
        limit: usize,
    ) -> Result<Vec<Incident>, StoreError> {
        self.call(move |db| db.incidents_newest(&filter, before, limit))
            .await
    }

    /// Incidents passing `filter` with an id after `after`, at most `limit`.
    pub async fn incidents(
        &self,
        filter: IncidentFilter,
        after: Option<IncidentId>,
        limit: usize,
    ) -> Result<Vec<Incident>, StoreError> {
        self.call(move |db| db.incidents_where(&filter, after, limit))
            .await
    }

    pub async fn incident(&self, id: IncidentId) -> Result<Option<Incident>, StoreError> {
        self.call(move |db| db.incident(id)).await
    }

    pub async fn incident_count(&self) -> Result<u64, StoreError> {
        self.call(|db| db.incident_count()).await
    }
}

impl Recorder for Store {
    fn record(
        &self,
        incident: &Incident,
        sinks: &[String],
        policy: DedupPolicy,
        now: SystemTime,
    ) -> Result<Recorded, RecordError> {
        self.db
            .record(incident, sinks, policy, now)
            .map_err(|e| RecordError(e.to_string()))
    }

    fn commit_position(
        &self,
        log: &str,
        next_index: u64,
        tree_size: u64,
        now: SystemTime,
    ) -> Result<(), RecordError> {
        self.db
            .set_ct_position(log, next_index, tree_size, now)
            .map_err(|e| RecordError(e.to_string()))
    }
}
