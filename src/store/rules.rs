//! Rules added in the console (`POST /v1/rules`): kept as their settings,
//! compiled into each matcher snapshot after the configured rules.

use super::{Db, Store, StoreError};
use crate::matcher::RuleSettings;
use crate::model::Timestamp;
use rusqlite::params;
use serde::Serialize;

/// A stored rule.
#[derive(Debug, Clone, Serialize)]
pub struct StoredRule {
    pub id: i64,
    #[serde(flatten)]
    pub rule: RuleSettings,
    pub created_by: String,
    pub created_at: Timestamp,
}

impl Db {
    fn rules(&self) -> Result<Vec<StoredRule>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn
            .prepare_cached("SELECT id, settings, created_by, created_ms FROM rules ORDER BY id")?;
        let rows = stmt.query_map([], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, String>(2)?,
                r.get::<_, i64>(3)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (id, text, created_by, ms) = row?;
            match serde_json::from_str::<RuleSettings>(&text) {
                Ok(rule) => out.push(StoredRule {
                    id,
                    rule,
                    created_by,
                    created_at: Timestamp::from_unix_ms(ms),
                }),
                // written by this code; a row it cannot read is skipped, not fatal
                Err(e) => tracing::error!(id, error = %e, "a stored rule cannot be read; skipped"),
            }
        }
        Ok(out)
    }

    /// `None` when a rule of that name is stored already.
    fn add_rule(
        &self,
        rule: &RuleSettings,
        by: &str,
        at: Timestamp,
    ) -> Result<Option<i64>, StoreError> {
        let text = serde_json::to_string(rule)?;
        let conn = self.conn();
        let n = conn
            .prepare_cached(
                "INSERT INTO rules (name, settings, created_by, created_ms) VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT(name) DO NOTHING",
            )?
            .execute(params![rule.name, text, by, at.unix_ms()])?;
        Ok((n == 1).then(|| conn.last_insert_rowid()))
    }

    fn remove_rule(&self, id: i64) -> Result<bool, StoreError> {
        let n = self
            .conn()
            .prepare_cached("DELETE FROM rules WHERE id = ?1")?
            .execute([id])?;
        Ok(n == 1)
    }
}

impl Store {
    /// The console's rules, oldest first.
    pub async fn rules(&self) -> Result<Vec<StoredRule>, StoreError> {
        self.call(|db| db.rules()).await
    }

    /// The console's rules, at start (before the runtime's tasks).
    pub fn rules_now(&self) -> Result<Vec<StoredRule>, StoreError> {
        self.db.rules()
    }

    /// Keep `rule`; its id, or `None` when its name is taken.
    pub async fn add_rule(
        &self,
        rule: RuleSettings,
        by: String,
    ) -> Result<Option<i64>, StoreError> {
        self.call(move |db| db.add_rule(&rule, &by, Timestamp::now()))
            .await
    }

    /// Remove rule `id`; false when there is none.
    pub async fn remove_rule(&self, id: i64) -> Result<bool, StoreError> {
        self.call(move |db| db.remove_rule(id)).await
    }
}
