//! CT checkpoints: each log's next index and the last root its entries
//! made, for the CT source ([`Checkpoints`]) and `/v1/status`.

use super::{Db, Store, StoreError};
use crate::model::unix_ms;
use crate::source::ct::{CheckedRoot, CheckpointError, Checkpoints, Position};
use futures_util::future::BoxFuture;
use rusqlite::{OptionalExtension, params};
use std::time::SystemTime;

/// One log's stored position, as `/v1/status` shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CtPosition {
    pub log: String,
    pub next_index: u64,
    pub tree_size: u64,
    pub updated_ms: i64,
}

impl Db {
    fn ct_position(&self, log: &str) -> Result<Option<(u64, u64)>, StoreError> {
        Ok(self
            .conn()
            .query_row(
                "SELECT next_index, tree_size FROM ct_positions WHERE log = ?1",
                params![log],
                |r| Ok((r.get::<_, i64>(0)? as u64, r.get::<_, i64>(1)? as u64)),
            )
            .optional()?)
    }

    /// Move a CT log's position. It never moves backwards.
    pub(super) fn set_ct_position(
        &self,
        log: &str,
        next_index: u64,
        tree_size: u64,
        now: SystemTime,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO ct_positions (log, next_index, tree_size, updated_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(log) DO UPDATE SET
               next_index = MAX(next_index, excluded.next_index),
               tree_size = MAX(tree_size, excluded.tree_size),
               updated_ms = excluded.updated_ms",
            params![log, next_index as i64, tree_size as i64, unix_ms(now)],
        )?;
        Ok(())
    }

    fn ct_root(&self, log: &str) -> Result<Option<(u64, [u8; 32])>, StoreError> {
        let row: Option<(i64, Vec<u8>)> = self
            .conn()
            .query_row(
                "SELECT tree_size, root FROM ct_roots WHERE log = ?1",
                params![log],
                |r| Ok((r.get(0)?, r.get(1)?)),
            )
            .optional()?;
        // a row of another shape is ignored (the next check replaces it)
        Ok(row.and_then(|(size, root)| Some((size as u64, root.try_into().ok()?))))
    }

    fn set_ct_root(
        &self,
        log: &str,
        tree_size: u64,
        root: &[u8; 32],
        now: SystemTime,
    ) -> Result<(), StoreError> {
        self.conn().execute(
            "INSERT INTO ct_roots (log, tree_size, root, updated_ms) VALUES (?1, ?2, ?3, ?4)
             ON CONFLICT(log) DO UPDATE SET
               tree_size = excluded.tree_size, root = excluded.root, updated_ms = excluded.updated_ms",
            params![log, tree_size as i64, &root[..], unix_ms(now)],
        )?;
        Ok(())
    }

    fn ct_positions(&self) -> Result<Vec<CtPosition>, StoreError> {
        let conn = self.conn();
        let mut stmt = conn.prepare_cached(
            "SELECT log, next_index, tree_size, updated_ms FROM ct_positions ORDER BY log",
        )?;
        let rows = stmt.query_map([], |r| {
            Ok(CtPosition {
                log: r.get(0)?,
                next_index: r.get::<_, i64>(1)? as u64,
                tree_size: r.get::<_, i64>(2)? as u64,
                updated_ms: r.get(3)?,
            })
        })?;
        Ok(rows.collect::<Result<_, _>>()?)
    }
}

impl Store {
    /// Every CT log position.
    pub async fn ct_positions(&self) -> Result<Vec<CtPosition>, StoreError> {
        self.call(|db| db.ct_positions()).await
    }
}

fn checkpoint_error(e: StoreError) -> CheckpointError {
    CheckpointError(e.to_string())
}

impl Checkpoints for Store {
    fn position<'a>(
        &'a self,
        log: &'a str,
    ) -> BoxFuture<'a, Result<Option<Position>, CheckpointError>> {
        let log = log.to_owned();
        Box::pin(async move {
            self.call(move |db| db.ct_position(&log))
                .await
                .map_err(checkpoint_error)
        })
    }

    fn root<'a>(
        &'a self,
        log: &'a str,
    ) -> BoxFuture<'a, Result<Option<CheckedRoot>, CheckpointError>> {
        let log = log.to_owned();
        Box::pin(async move {
            self.call(move |db| db.ct_root(&log))
                .await
                .map_err(checkpoint_error)
        })
    }

    fn set_root<'a>(
        &'a self,
        log: &'a str,
        tree_size: u64,
        root: [u8; 32],
    ) -> BoxFuture<'a, Result<(), CheckpointError>> {
        let log = log.to_owned();
        Box::pin(async move {
            self.call(move |db| db.set_ct_root(&log, tree_size, &root, SystemTime::now()))
                .await
                .map_err(checkpoint_error)
        })
    }

    fn commit<'a>(
        &'a self,
        log: &'a str,
        next_index: u64,
        tree_size: u64,
    ) -> BoxFuture<'a, Result<(), CheckpointError>> {
        let log = log.to_owned();
        Box::pin(async move {
            self.call(move |db| db.set_ct_position(&log, next_index, tree_size, SystemTime::now()))
                .await
                .map_err(checkpoint_error)
        })
    }
}
