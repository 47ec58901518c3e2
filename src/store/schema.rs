//! The tables, created on open; columns added by later versions are added
//! to an older database in place.

use super::StoreError;
use rusqlite::Connection;
use std::path::Path;
use std::time::Duration;

const TABLES: &str = "CREATE TABLE IF NOT EXISTS incidents (
    id TEXT PRIMARY KEY,
    dedup_key TEXT NOT NULL,
    first_seen_ms INTEGER NOT NULL,
    last_seen_ms INTEGER NOT NULL,
    sightings INTEGER NOT NULL,
    body TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS incidents_dedup ON incidents(dedup_key, last_seen_ms);
CREATE TABLE IF NOT EXISTS outbox (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    incident_id TEXT NOT NULL REFERENCES incidents(id),
    sink TEXT NOT NULL,
    state TEXT NOT NULL DEFAULT 'pending',
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_ms INTEGER NOT NULL,
    created_ms INTEGER NOT NULL,
    last_error TEXT,
    UNIQUE(incident_id, sink)
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox(sink, state, next_attempt_ms);
CREATE TABLE IF NOT EXISTS ct_positions (
    log TEXT PRIMARY KEY,
    next_index INTEGER NOT NULL,
    tree_size INTEGER NOT NULL,
    updated_ms INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS ct_roots (
    log TEXT PRIMARY KEY,
    tree_size INTEGER NOT NULL,
    root BLOB NOT NULL,
    updated_ms INTEGER NOT NULL
);";

/// Open `path` (creating its folder), set WAL and the busy timeout, and
/// bring the tables up to date.
pub(super) fn open(path: &Path) -> Result<Connection, StoreError> {
    let conn = if path.as_os_str() == ":memory:" {
        Connection::open_in_memory()?
    } else {
        if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
            std::fs::create_dir_all(parent).map_err(|source| StoreError::Folder {
                path: parent.display().to_string(),
                source,
            })?;
        }
        let conn = Connection::open(path)?;
        conn.pragma_update(None, "journal_mode", "WAL")?;
        conn
    };
    conn.pragma_update(None, "synchronous", "NORMAL")?;
    conn.busy_timeout(Duration::from_secs(5))?;
    conn.execute_batch(TABLES)?;
    // Added after the first release: updates point at their incident.
    let has_update_of: bool = conn
        .prepare("SELECT 1 FROM pragma_table_info('incidents') WHERE name = 'update_of'")?
        .exists([])?;
    if !has_update_of {
        conn.execute_batch("ALTER TABLE incidents ADD COLUMN update_of TEXT")?;
    }
    Ok(conn)
}
