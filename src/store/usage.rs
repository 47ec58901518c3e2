//! What the store holds and how much disk it takes, for `/v1/status` and
//! `/metrics`.

use super::{Store, StoreError, schema};
use serde::Serialize;
use std::path::PathBuf;

#[derive(Debug, Clone, Default, Serialize)]
pub struct StoreUsage {
    pub schema_version: u32,
    pub incidents: u64,
    pub outbox_rows: u64,
    /// The database file and its write-ahead log.
    pub bytes: u64,
    pub wal_bytes: u64,
}

impl Store {
    pub async fn usage(&self) -> Result<StoreUsage, StoreError> {
        self.call(|db| {
            let conn = db.conn();
            let count = |sql: &str| -> Result<u64, StoreError> {
                Ok(conn.query_row(sql, [], |r| r.get::<_, i64>(0))?.max(0) as u64)
            };
            let file: Option<PathBuf> = conn.path().filter(|p| !p.is_empty()).map(PathBuf::from);
            let size = |suffix: &str| {
                file.as_ref().map_or(0, |f| {
                    let mut p = f.as_os_str().to_owned();
                    p.push(suffix);
                    std::fs::metadata(PathBuf::from(p)).map_or(0, |m| m.len())
                })
            };
            let wal_bytes = size("-wal");
            Ok(StoreUsage {
                schema_version: schema::version(&conn)?,
                incidents: count("SELECT COUNT(*) FROM incidents")?,
                outbox_rows: count("SELECT COUNT(*) FROM outbox")?,
                bytes: size("") + wal_bytes,
                wal_bytes,
            })
        })
        .await
    }
}
