//! Online backup and restore of the store file, and the lock that tells a
//! restore (or a second service) that a service is running on a store.
//!
//! A backup is SQLite's online backup API in one step: it reads one
//! consistent snapshot while the service keeps writing (WAL readers do not
//! block the writer), into `FILE.partial`, checked and then renamed, so a
//! half-written backup never carries the final name. A restore copies a
//! checked backup over the store with the same API, only when no service
//! holds the store's lock, and then brings its schema up to date.

use super::{StoreError, schema};
use rusqlite::{Connection, MAIN_DB, OpenFlags};
use serde::Serialize;
use std::fs::File;
use std::path::{Path, PathBuf};

/// What a backup or a restore holds.
#[derive(Debug, Clone, Serialize)]
pub struct StoreSummary {
    pub schema_version: u32,
    pub incidents: u64,
    pub outbox_pending: u64,
    pub outbox_failed: u64,
    /// Each CT log's next index to read.
    pub ct_positions: Vec<(String, u64)>,
    pub bytes: u64,
}

/// Held while a service runs on a store: an exclusive lock on
/// `<store>.lock`, released when dropped or when the process dies.
#[derive(Debug)]
pub struct StoreLock {
    _file: File,
}

fn lock_path(store: &Path) -> PathBuf {
    let mut p = store.as_os_str().to_owned();
    p.push(".lock");
    PathBuf::from(p)
}

impl StoreLock {
    /// Take the lock of the store at `path`, or say that a service holds it.
    pub fn acquire(path: &Path) -> Result<StoreLock, StoreError> {
        let lock = lock_path(path);
        if let Some(parent) = lock.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::Folder {
                path: parent.display().to_string(),
                source,
            })?;
        }
        let file = File::options()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&lock)
            .map_err(|e| StoreError::Backup(format!("cannot open {}: {e}", lock.display())))?;
        match file.try_lock() {
            Ok(()) => Ok(StoreLock { _file: file }),
            Err(std::fs::TryLockError::WouldBlock) => Err(StoreError::InUse {
                path: path.display().to_string(),
            }),
            Err(std::fs::TryLockError::Error(e)) => Err(StoreError::Backup(format!(
                "cannot lock {}: {e}",
                lock.display()
            ))),
        }
    }
}

fn summary(conn: &Connection, path: &Path) -> Result<StoreSummary, StoreError> {
    let count = |sql: &str| -> Result<u64, StoreError> {
        Ok(conn.query_row(sql, [], |r| r.get::<_, i64>(0))?.max(0) as u64)
    };
    // a backup of a store from before CT reading has no positions table
    let has_positions = conn
        .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'ct_positions'")?
        .exists([])?;
    let mut ct_positions = Vec::new();
    if has_positions {
        let mut stmt = conn.prepare("SELECT log, next_index FROM ct_positions ORDER BY log")?;
        ct_positions = stmt
            .query_map([], |r| Ok((r.get::<_, String>(0)?, r.get::<_, i64>(1)?)))?
            .map(|r| r.map(|(log, i)| (log, i.max(0) as u64)))
            .collect::<Result<_, _>>()?;
    }
    Ok(StoreSummary {
        schema_version: schema::version(conn)?,
        incidents: count("SELECT COUNT(*) FROM incidents")?,
        outbox_pending: count("SELECT COUNT(*) FROM outbox WHERE state = 'pending'")?,
        outbox_failed: count("SELECT COUNT(*) FROM outbox WHERE state = 'failed'")?,
        ct_positions,
        bytes: std::fs::metadata(path).map(|m| m.len()).unwrap_or(0),
    })
}

/// `PRAGMA integrity_check` of a database file: "ok" or what is wrong.
fn check(conn: &Connection, path: &Path) -> Result<(), StoreError> {
    let verdict: String = conn.query_row("PRAGMA integrity_check", [], |r| r.get(0))?;
    if verdict == "ok" {
        Ok(())
    } else {
        Err(StoreError::Backup(format!(
            "{} fails the integrity check: {verdict}",
            path.display()
        )))
    }
}

/// Copy the store at `store` into the new file `output`, online.
pub fn backup(store: &Path, output: &Path) -> Result<StoreSummary, StoreError> {
    if !store.exists() {
        return Err(StoreError::Backup(format!(
            "there is no store at {}",
            store.display()
        )));
    }
    if output.exists() {
        return Err(StoreError::Backup(format!(
            "{} exists; a backup never overwrites a file",
            output.display()
        )));
    }
    let mut partial = output.as_os_str().to_owned();
    partial.push(".partial");
    let partial = PathBuf::from(partial);
    let _ = std::fs::remove_file(&partial);
    let source = Connection::open_with_flags(store, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    source.busy_timeout(std::time::Duration::from_secs(5))?;
    let version = schema::version(&source)?;
    if version > schema::LATEST {
        return Err(StoreError::TooNew {
            found: version,
            supported: schema::LATEST,
        });
    }
    let mut dest = Connection::open(&partial)?;
    {
        let copy = rusqlite::backup::Backup::new(&source, &mut dest)?;
        // every page in one step: one consistent snapshot, however busy
        // the writer is (a step-wise copy restarts on each write)
        copy.step(-1)?;
    }
    // the copy is a single self-contained file, not a WAL pair
    dest.pragma_update(None, "journal_mode", "DELETE")?;
    check(&dest, &partial)?;
    drop(dest);
    std::fs::rename(&partial, output).map_err(|e| {
        StoreError::Backup(format!(
            "cannot rename {} to {}: {e}",
            partial.display(),
            output.display()
        ))
    })?;
    let copy = Connection::open_with_flags(output, OpenFlags::SQLITE_OPEN_READ_ONLY)?;
    summary(&copy, output)
}

/// Replace the store at `store` with the backup `input`; refused while a
/// service holds the store's lock.
pub fn restore(input: &Path, store: &Path) -> Result<StoreSummary, StoreError> {
    let _lock = StoreLock::acquire(store)?;
    let backup = Connection::open_with_flags(input, OpenFlags::SQLITE_OPEN_READ_ONLY)
        .map_err(|e| StoreError::Backup(format!("cannot open {}: {e}", input.display())))?;
    check(&backup, input)?;
    let version = schema::version(&backup)?;
    if version > schema::LATEST {
        return Err(StoreError::TooNew {
            found: version,
            supported: schema::LATEST,
        });
    }
    let has_incidents = backup
        .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'incidents'")?
        .exists([])?;
    if !has_incidents {
        return Err(StoreError::Backup(format!(
            "{} is not a certsentry store",
            input.display()
        )));
    }
    drop(backup);
    if let Some(parent) = store.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent).map_err(|source| StoreError::Folder {
            path: parent.display().to_string(),
            source,
        })?;
    }
    let mut conn = Connection::open(store)?;
    conn.busy_timeout(std::time::Duration::from_secs(5))?;
    conn.restore(MAIN_DB, input, None::<fn(rusqlite::backup::Progress)>)?;
    drop(conn);
    // the backup may be from an older version
    let conn = schema::open(store)?;
    summary(&conn, store)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_holder_of_the_lock_is_told_the_store_is_in_use() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let held = StoreLock::acquire(&path).unwrap();
        let err = StoreLock::acquire(&path).unwrap_err();
        assert!(matches!(err, StoreError::InUse { .. }), "{err}");
        drop(held);
        StoreLock::acquire(&path).unwrap();
    }

    #[test]
    fn backup_refuses_to_overwrite_and_restore_refuses_what_is_not_a_store() {
        let dir = tempfile::tempdir().unwrap();
        let store = dir.path().join("s.db");
        drop(schema::open(&store).unwrap());
        let out = dir.path().join("b.db");
        let s = backup(&store, &out).unwrap();
        assert_eq!(s.schema_version, schema::LATEST);
        assert!(
            backup(&store, &out)
                .unwrap_err()
                .to_string()
                .contains("never overwrites")
        );
        let junk = dir.path().join("junk.db");
        Connection::open(&junk)
            .unwrap()
            .execute_batch("CREATE TABLE t (x)")
            .unwrap();
        let err = restore(&junk, &dir.path().join("new.db")).unwrap_err();
        assert!(err.to_string().contains("not a certsentry store"), "{err}");
        std::fs::write(dir.path().join("text.db"), "not sqlite at all, just text").unwrap();
        assert!(restore(&dir.path().join("text.db"), &dir.path().join("new.db")).is_err());
    }
}
