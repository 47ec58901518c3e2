//! Suppressions (see [`crate::model::Suppression`]): added by the API or by
//! triage, removed (kept, with who and when) rather than deleted.

use super::{Db, Store, StoreError};
use crate::model::{IncidentId, Suppression, Timestamp};
use rusqlite::{OptionalExtension, params};

/// What a new suppression says.
#[derive(Debug, Clone)]
pub struct NewSuppression {
    pub domain: String,
    pub brand: Option<String>,
    pub reason: String,
    pub created_by: String,
    pub incident_id: Option<IncidentId>,
}

const COLUMNS: &str =
    "id, domain, brand, reason, created_by, created_ms, incident_id, removed_ms, removed_by";

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Suppression> {
    let incident: Option<String> = r.get(6)?;
    Ok(Suppression {
        id: r.get(0)?,
        domain: r.get(1)?,
        brand: r.get(2)?,
        reason: r.get(3)?,
        created_by: r.get(4)?,
        created_at: Timestamp::from_unix_ms(r.get(5)?),
        // written from an IncidentId; anything else reads as none
        incident_id: incident.and_then(|i| i.parse().ok()),
        removed_at: r.get::<_, Option<i64>>(7)?.map(Timestamp::from_unix_ms),
        removed_by: r.get(8)?,
    })
}

impl Db {
    fn add_suppression(
        &self,
        new: &NewSuppression,
        at: Timestamp,
    ) -> Result<Suppression, StoreError> {
        let conn = self.conn();
        // the same active suppression again is the one there
        let existing = conn
            .query_row(
                &format!(
                    "SELECT {COLUMNS} FROM suppressions WHERE domain = ?1 AND brand IS ?2
                     AND removed_ms IS NULL"
                ),
                params![new.domain, new.brand],
                row,
            )
            .optional()?;
        if let Some(s) = existing {
            return Ok(s);
        }
        conn.execute(
            "INSERT INTO suppressions (domain, brand, reason, created_by, created_ms, incident_id)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                new.domain,
                new.brand,
                new.reason,
                new.created_by,
                at.unix_ms(),
                new.incident_id.map(|i| i.to_string())
            ],
        )?;
        let id = conn.last_insert_rowid();
        Ok(conn.query_row(
            &format!("SELECT {COLUMNS} FROM suppressions WHERE id = ?1"),
            params![id],
            row,
        )?)
    }

    fn remove_suppression(
        &self,
        id: i64,
        by: &str,
        at: Timestamp,
    ) -> Result<Option<Suppression>, StoreError> {
        let conn = self.conn();
        conn.execute(
            "UPDATE suppressions SET removed_ms = ?2, removed_by = ?3
             WHERE id = ?1 AND removed_ms IS NULL",
            params![id, at.unix_ms(), by],
        )?;
        Ok(conn
            .query_row(
                &format!("SELECT {COLUMNS} FROM suppressions WHERE id = ?1"),
                params![id],
                row,
            )
            .optional()?)
    }

    fn suppressions(&self, with_removed: bool) -> Result<Vec<Suppression>, StoreError> {
        let conn = self.conn();
        let sql = if with_removed {
            format!("SELECT {COLUMNS} FROM suppressions ORDER BY id")
        } else {
            format!("SELECT {COLUMNS} FROM suppressions WHERE removed_ms IS NULL ORDER BY id")
        };
        let mut stmt = conn.prepare_cached(&sql)?;
        let rows = stmt.query_map([], row)?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

impl Store {
    /// Add a suppression (or return the same active one).
    pub async fn add_suppression(&self, new: NewSuppression) -> Result<Suppression, StoreError> {
        self.call(move |db| db.add_suppression(&new, Timestamp::now()))
            .await
    }

    /// Remove suppression `id` (kept, marked removed by `by`); `None` if
    /// there is no such suppression. Removing one already removed changes
    /// nothing.
    pub async fn remove_suppression(
        &self,
        id: i64,
        by: String,
    ) -> Result<Option<Suppression>, StoreError> {
        self.call(move |db| db.remove_suppression(id, &by, Timestamp::now()))
            .await
    }

    /// The active suppressions, at start (before the runtime's tasks).
    pub fn active_suppressions_now(&self) -> Result<Vec<Suppression>, StoreError> {
        self.db.suppressions(false)
    }

    /// Every suppression, oldest first; the removed ones too when asked.
    pub async fn suppressions(&self, with_removed: bool) -> Result<Vec<Suppression>, StoreError> {
        self.call(move |db| db.suppressions(with_removed)).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn added_removed_and_kept_for_the_audit() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let new = NewSuppression {
            domain: "paypa1.com".into(),
            brand: Some("paypal.com".into()),
            reason: "our partner".into(),
            created_by: "ana".into(),
            incident_id: None,
        };
        let a = store.add_suppression(new.clone()).await.unwrap();
        let again = store.add_suppression(new.clone()).await.unwrap();
        assert_eq!(a.id, again.id, "the same suppression is not added twice");
        let global = store
            .add_suppression(NewSuppression {
                brand: None,
                ..new.clone()
            })
            .await
            .unwrap();
        assert_ne!(global.id, a.id);
        assert_eq!(store.suppressions(false).await.unwrap().len(), 2);
        let removed = store
            .remove_suppression(a.id, "bo".into())
            .await
            .unwrap()
            .unwrap();
        assert_eq!(removed.removed_by.as_deref(), Some("bo"));
        assert!(!removed.is_active());
        assert_eq!(store.suppressions(false).await.unwrap(), vec![global]);
        assert_eq!(store.suppressions(true).await.unwrap().len(), 2);
        assert!(
            store
                .remove_suppression(99, "x".into())
                .await
                .unwrap()
                .is_none()
        );
        // after removal the same suppression can be made again
        let b = store.add_suppression(new).await.unwrap();
        assert_ne!(b.id, a.id);
    }
}
