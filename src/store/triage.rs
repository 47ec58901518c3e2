//! Triage changes: the incident's current triage (in its body, so every
//! reader sees it) and the audit log of every change, in one transaction.

use super::{Db, Store, StoreError};
use crate::model::{Incident, IncidentId, Timestamp, Triage, TriageChange};
use rusqlite::{OptionalExtension, params};

impl Db {
    fn triage(
        &self,
        id: IncidentId,
        change: &TriageChange,
    ) -> Result<Option<Incident>, StoreError> {
        let mut conn = self.conn();
        let tx = conn.transaction()?;
        let body: Option<String> = tx
            .query_row(
                "SELECT body FROM incidents WHERE id = ?1",
                params![id.to_string()],
                |r| r.get(0),
            )
            .optional()?;
        let Some(body) = body else {
            return Ok(None);
        };
        let mut incident: Incident = serde_json::from_str(&body)?;
        // the body keeps milliseconds; so does the answer
        let change = &TriageChange {
            at: Timestamp::from_unix_ms(change.at.unix_ms()),
            ..change.clone()
        };
        incident.triage = Some(Triage::apply(incident.triage.as_ref(), change));
        tx.execute(
            "UPDATE incidents SET body = ?1 WHERE id = ?2",
            params![serde_json::to_string(&incident)?, id.to_string()],
        )?;
        tx.execute(
            "INSERT INTO triage_log (incident_id, at_ms, actor, state, assignee, comment)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            params![
                id.to_string(),
                change.at.unix_ms(),
                change.actor,
                change.state.map(|s| s.as_str()),
                change.assignee,
                change.comment
            ],
        )?;
        tx.commit()?;
        Ok(Some(incident))
    }

    fn triage_history(&self, id: IncidentId) -> Result<Vec<TriageChange>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT at_ms, actor, state, assignee, comment FROM triage_log
             WHERE incident_id = ?1 ORDER BY id",
        )?;
        let rows = stmt.query_map(params![id.to_string()], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, Option<String>>(2)?,
                r.get::<_, Option<String>>(3)?,
                r.get::<_, Option<String>>(4)?,
            ))
        })?;
        let mut out = Vec::new();
        for row in rows {
            let (at, actor, state, assignee, comment) = row?;
            out.push(TriageChange {
                at: Timestamp::from_unix_ms(at),
                actor,
                // written from the enum; an unknown word reads as no change
                state: state.and_then(|s| s.parse().ok()),
                assignee,
                comment,
            });
        }
        Ok(out)
    }
}

impl Store {
    /// Apply `change` to incident `id` and audit it; `None` if there is no
    /// such incident.
    pub async fn triage(
        &self,
        id: IncidentId,
        change: TriageChange,
    ) -> Result<Option<Incident>, StoreError> {
        self.call(move |db| db.triage(id, &change)).await
    }

    /// Every triage change of incident `id`, oldest first.
    pub async fn triage_history(&self, id: IncidentId) -> Result<Vec<TriageChange>, StoreError> {
        self.call(move |db| db.triage_history(id)).await
    }
}

#[cfg(test)]
mod tests {
    use crate::model::{TriageChange, TriageState};
    use crate::pipeline::{DedupPolicy, Recorder};
    use crate::store::{RetentionSettings, Store};
    use std::time::{Duration, SystemTime};

    #[tokio::test]
    async fn a_change_is_kept_in_the_incident_and_audited_and_pruned_with_it() {
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(&dir.path().join("s.db")).unwrap();
        let incident = crate::store::tests::sample_incident("paypa1.com");
        let id = incident.id;
        let policy = DedupPolicy {
            window: Duration::from_secs(86400),
            send_updates: false,
        };
        let long_ago = SystemTime::now() - Duration::from_secs(400 * 86400);
        store.record(&incident, &[], policy, long_ago).unwrap();
        let change = |state, comment: Option<&str>| TriageChange {
            at: crate::model::Timestamp::now(),
            actor: "ana".into(),
            state,
            assignee: None,
            comment: comment.map(str::to_owned),
        };
        let after = store
            .triage(
                id,
                change(Some(TriageState::FalsePositive), Some("our partner")),
            )
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            after.triage.as_ref().unwrap().state,
            TriageState::FalsePositive
        );
        let read = store.incident(id).await.unwrap().unwrap();
        assert_eq!(read.triage, after.triage, "every reader sees it");
        store
            .triage(id, change(None, Some("checked twice")))
            .await
            .unwrap();
        let history = store.triage_history(id).await.unwrap();
        assert_eq!(history.len(), 2);
        assert_eq!(history[0].comment.as_deref(), Some("our partner"));
        assert_eq!(history[0].state, Some(TriageState::FalsePositive));
        assert_eq!(history[1].state, None);
        let unknown = crate::model::IncidentId::new(ulid::Ulid::from_parts(7, 7));
        assert!(
            store
                .triage(unknown, change(None, Some("x")))
                .await
                .unwrap()
                .is_none()
        );
        // retention takes the log with the incident
        let pruned = store
            .prune(&RetentionSettings::default(), SystemTime::now())
            .await
            .unwrap();
        assert_eq!(pruned.incidents, 1);
        assert!(store.triage_history(id).await.unwrap().is_empty());
    }
}
