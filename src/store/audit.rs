//! The audit log: one row per change made through the API (and per refused
//! attempt), never updated or deleted by certsentry.

use super::{Db, Store, StoreError};
use crate::model::Timestamp;
use rusqlite::params;
use serde::Serialize;

/// One change: who, with which role, what (`PATCH /v1/incidents/{id}`),
/// on what (the request path) and the HTTP status it ended with.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuditEntry {
    pub id: i64,
    pub at: Timestamp,
    pub actor: String,
    pub role: String,
    pub action: String,
    pub target: String,
    pub status: u16,
}

/// What a new entry says.
#[derive(Debug, Clone)]
pub struct NewAuditEntry {
    pub actor: String,
    pub role: String,
    pub action: String,
    pub target: String,
    pub status: u16,
}

impl Db {
    fn audit_record(&self, e: &NewAuditEntry, at: Timestamp) -> Result<i64, StoreError> {
        let conn = self.conn();
        conn.prepare_cached(
            "INSERT INTO audit (at_ms, actor, role, action, target, status)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
        )?
        .execute(params![
            at.unix_ms(),
            e.actor,
            e.role,
            e.action,
            e.target,
            e.status
        ])?;
        Ok(conn.last_insert_rowid())
    }

    fn audit_list(&self, before: Option<i64>, limit: usize) -> Result<Vec<AuditEntry>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT id, at_ms, actor, role, action, target, status FROM audit
             WHERE id < ?1 ORDER BY id DESC LIMIT ?2",
        )?;
        let rows = stmt.query_map(params![before.unwrap_or(i64::MAX), limit as i64], |r| {
            Ok(AuditEntry {
                id: r.get(0)?,
                at: Timestamp::from_unix_ms(r.get(1)?),
                actor: r.get(2)?,
                role: r.get(3)?,
                action: r.get(4)?,
                target: r.get(5)?,
                status: r.get(6)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

impl Store {
    /// Append an entry; its id.
    pub async fn audit_record(&self, entry: NewAuditEntry) -> Result<i64, StoreError> {
        self.call(move |db| db.audit_record(&entry, Timestamp::now()))
            .await
    }

    /// Newest first: up to `limit` entries older than `before` (an id).
    pub async fn audit_list(
        &self,
        before: Option<i64>,
        limit: usize,
    ) -> Result<Vec<AuditEntry>, StoreError> {
        self.call(move |db| db.audit_list(before, limit)).await
    }
}
