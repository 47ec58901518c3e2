//! The tables, versioned by `PRAGMA user_version`: each release's changes
//! are one numbered migration, run at open in one transaction with the
//! version bump, so a store is either at the old version or at the new one.
//! A store written by a newer certsentry (a version above [`LATEST`]) is
//! refused, never altered.
//!
//! Stores made before the version was recorded (`user_version` 0 with the
//! tables present) go through the first four steps again, which are
//! written to keep what is there and add what is missing.

use super::StoreError;
use rusqlite::{Connection, TransactionBehavior};
use std::path::Path;
use std::time::Duration;

/// One schema change.
enum Step {
    Sql(&'static str),
    /// A column added unless present (stores from before versions were
    /// recorded may have it already).
    AddColumn {
        table: &'static str,
        column: &'static str,
        decl: &'static str,
    },
}

/// Migration `i` takes a store from version `i` to `i + 1`. The steps up to
/// 4 were applied by releases that did not record a version, so they are
/// written to be harmless on a store that already has them.
const MIGRATIONS: &[Step] = &[
    // 1: the first released schema
    Step::Sql(
        "CREATE TABLE IF NOT EXISTS incidents (
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
        CREATE INDEX IF NOT EXISTS outbox_due ON outbox(sink, state, next_attempt_ms);",
    ),
    // 2: updates point at their incident
    Step::AddColumn {
        table: "incidents",
        column: "update_of",
        decl: "TEXT",
    },
    // 3: CT positions
    Step::Sql(
        "CREATE TABLE IF NOT EXISTS ct_positions (
            log TEXT PRIMARY KEY,
            next_index INTEGER NOT NULL,
            tree_size INTEGER NOT NULL,
            updated_ms INTEGER NOT NULL
        );",
    ),
    // 4: the last checked root of each CT log
    Step::Sql(
        "CREATE TABLE IF NOT EXISTS ct_roots (
            log TEXT PRIMARY KEY,
            tree_size INTEGER NOT NULL,
            root BLOB NOT NULL,
            updated_ms INTEGER NOT NULL
        );",
    ),
    // 5: retention prunes by age without scanning
    Step::Sql(
        "CREATE INDEX incidents_age ON incidents(last_seen_ms);
        CREATE INDEX outbox_age ON outbox(state, created_ms);",
    ),
    // 6: the triage audit log (who changed what, when, why); it goes with
    // its incident when retention prunes it
    Step::Sql(
        "CREATE TABLE triage_log (
            id INTEGER PRIMARY KEY,
            incident_id TEXT NOT NULL,
            at_ms INTEGER NOT NULL,
            actor TEXT NOT NULL,
            state TEXT,
            assignee TEXT,
            comment TEXT
        );
        CREATE INDEX triage_log_incident ON triage_log(incident_id, id);
        CREATE TRIGGER triage_log_pruned AFTER DELETE ON incidents
        BEGIN DELETE FROM triage_log WHERE incident_id = OLD.id; END;",
    ),
    // 7: suppressions made by triage (false positive, brand-owned): kept
    // when removed, for the audit
    Step::Sql(
        "CREATE TABLE suppressions (
            id INTEGER PRIMARY KEY,
            domain TEXT NOT NULL,
            brand TEXT,
            reason TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_ms INTEGER NOT NULL,
            incident_id TEXT,
            removed_ms INTEGER,
            removed_by TEXT
        );
        CREATE INDEX suppressions_active ON suppressions(domain) WHERE removed_ms IS NULL;",
    ),
    // 8: enrichment jobs, one per incident: when it is next checked, how
    // many checks in a row changed nothing (the backoff), until when it is
    // watched; `claimed` marks a check in progress (a restart resumes it)
    Step::Sql(
        "CREATE TABLE enrichment_jobs (
            incident_id TEXT PRIMARY KEY,
            state TEXT NOT NULL DEFAULT 'pending',
            checks INTEGER NOT NULL DEFAULT 0,
            unchanged INTEGER NOT NULL DEFAULT 0,
            claimed INTEGER NOT NULL DEFAULT 0,
            next_run_ms INTEGER NOT NULL,
            created_ms INTEGER NOT NULL,
            until_ms INTEGER NOT NULL,
            last_error TEXT
        );
        CREATE INDEX enrichment_due ON enrichment_jobs(state, next_run_ms);
        CREATE TRIGGER enrichment_jobs_pruned AFTER DELETE ON incidents
        BEGIN DELETE FROM enrichment_jobs WHERE incident_id = OLD.id; END;",
    ),
    // 9: the audit log: every change made through the API, who made it
    // (the token's name) and with which role, and how it ended
    Step::Sql(
        "CREATE TABLE audit (
            id INTEGER PRIMARY KEY,
            at_ms INTEGER NOT NULL,
            actor TEXT NOT NULL,
            role TEXT NOT NULL,
            action TEXT NOT NULL,
            target TEXT NOT NULL,
            status INTEGER NOT NULL
        );",
    ),
    // 10: regex and keyword rules added in the console, merged after the
    // configured ones into every matcher snapshot
    Step::Sql(
        "CREATE TABLE rules (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE,
            settings TEXT NOT NULL,
            created_by TEXT NOT NULL,
            created_ms INTEGER NOT NULL
        );",
    ),
    // 11: names matched per minute, for the console's 24-hour chart
    Step::Sql(
        "CREATE TABLE throughput (
            minute INTEGER PRIMARY KEY,
            names INTEGER NOT NULL
        );",
    ),
    // 12: what the queue filters on, out of the JSON bodies: a narrow table
    // kept by triggers, indexed per filter with the id (newest first), so a
    // selective filter is an index range and a text search scans small rows
    Step::Sql(
        "CREATE TABLE incident_index (
            id TEXT PRIMARY KEY,
            brand TEXT,
            severity TEXT,
            kind TEXT,
            triage TEXT NOT NULL,
            first_seen_ms INTEGER NOT NULL,
            search TEXT NOT NULL
        ) WITHOUT ROWID;
        INSERT INTO incident_index
            SELECT id, json_extract(body, '$.brand'), json_extract(body, '$.severity'),
                json_extract(body, '$.match.kind'),
                coalesce(json_extract(body, '$.triage.state'), 'new'), first_seen_ms,
                lower(coalesce(json_extract(body, '$.domain'), '') || ' '
                    || coalesce(json_extract(body, '$.domain_unicode'), '') || ' '
                    || coalesce(json_extract(body, '$.brand'), ''))
            FROM incidents;
        CREATE INDEX incident_index_brand ON incident_index(brand, id);
        CREATE INDEX incident_index_severity ON incident_index(severity, id);
        CREATE INDEX incident_index_kind ON incident_index(kind, id);
        CREATE INDEX incident_index_triage ON incident_index(triage, id);
        CREATE TRIGGER incident_index_added AFTER INSERT ON incidents
        BEGIN
            INSERT OR REPLACE INTO incident_index VALUES (NEW.id, json_extract(NEW.body, '$.brand'), json_extract(NEW.body, '$.severity'),
                json_extract(NEW.body, '$.match.kind'),
                coalesce(json_extract(NEW.body, '$.triage.state'), 'new'), NEW.first_seen_ms,
                lower(coalesce(json_extract(NEW.body, '$.domain'), '') || ' '
                    || coalesce(json_extract(NEW.body, '$.domain_unicode'), '') || ' '
                    || coalesce(json_extract(NEW.body, '$.brand'), '')));
        END;
        CREATE TRIGGER incident_index_changed AFTER UPDATE OF body ON incidents
        BEGIN
            INSERT OR REPLACE INTO incident_index VALUES (NEW.id, json_extract(NEW.body, '$.brand'), json_extract(NEW.body, '$.severity'),
                json_extract(NEW.body, '$.match.kind'),
                coalesce(json_extract(NEW.body, '$.triage.state'), 'new'), NEW.first_seen_ms,
                lower(coalesce(json_extract(NEW.body, '$.domain'), '') || ' '
                    || coalesce(json_extract(NEW.body, '$.domain_unicode'), '') || ' '
                    || coalesce(json_extract(NEW.body, '$.brand'), '')));
        END;
        CREATE TRIGGER incident_index_pruned AFTER DELETE ON incidents
        BEGIN DELETE FROM incident_index WHERE id = OLD.id; END;",
    ),
    // 13: what changed when, for a SOAR that mirrors incidents (XSOAR's
    // get-modified-remote-data): `modified_ms`, set by the triggers to the
    // last sighting on insert and to the time of any later change of the
    // body (enrichment, triage, a sighting); and each sink's own id of the
    // record it created, so an update can go to that record
    Step::Sql(
        "ALTER TABLE incident_index ADD COLUMN modified_ms INTEGER NOT NULL DEFAULT 0;
        UPDATE incident_index SET modified_ms =
            coalesce((SELECT last_seen_ms FROM incidents i WHERE i.id = incident_index.id), first_seen_ms);
        CREATE INDEX incident_index_modified ON incident_index(modified_ms, id);
        DROP TRIGGER incident_index_added;
        DROP TRIGGER incident_index_changed;
        CREATE TRIGGER incident_index_added AFTER INSERT ON incidents
        BEGIN
            INSERT OR REPLACE INTO incident_index VALUES (NEW.id, json_extract(NEW.body, '$.brand'), json_extract(NEW.body, '$.severity'),
                json_extract(NEW.body, '$.match.kind'),
                coalesce(json_extract(NEW.body, '$.triage.state'), 'new'), NEW.first_seen_ms,
                lower(coalesce(json_extract(NEW.body, '$.domain'), '') || ' '
                    || coalesce(json_extract(NEW.body, '$.domain_unicode'), '') || ' '
                    || coalesce(json_extract(NEW.body, '$.brand'), '')),
                NEW.last_seen_ms);
        END;
        CREATE TRIGGER incident_index_changed AFTER UPDATE OF body ON incidents
        BEGIN
            INSERT OR REPLACE INTO incident_index VALUES (NEW.id, json_extract(NEW.body, '$.brand'), json_extract(NEW.body, '$.severity'),
                json_extract(NEW.body, '$.match.kind'),
                coalesce(json_extract(NEW.body, '$.triage.state'), 'new'), NEW.first_seen_ms,
                lower(coalesce(json_extract(NEW.body, '$.domain'), '') || ' '
                    || coalesce(json_extract(NEW.body, '$.domain_unicode'), '') || ' '
                    || coalesce(json_extract(NEW.body, '$.brand'), '')),
                max(NEW.last_seen_ms, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)));
        END;
        CREATE TABLE sink_refs (
            incident_id TEXT NOT NULL,
            sink TEXT NOT NULL,
            remote_id TEXT NOT NULL,
            PRIMARY KEY (incident_id, sink)
        ) WITHOUT ROWID;
        CREATE TRIGGER sink_refs_pruned AFTER DELETE ON incidents
        BEGIN DELETE FROM sink_refs WHERE incident_id = OLD.id; END;",
    ),
    // 14: where an api process's read model of the bus's incidents' stream
    // has got to (`[bus]`, roles = ["api"])
    Step::Sql(
        "CREATE TABLE bus_positions (
            stream TEXT PRIMARY KEY,
            next_seq INTEGER NOT NULL
        ) WITHOUT ROWID;",
    ),
    // 15: whose incident it is (`[[tenants]]`), for the queue's and the
    // API's tenant filter; incidents from before tenants are the default
    // tenant's
    Step::Sql(
        "ALTER TABLE incident_index ADD COLUMN tenant TEXT NOT NULL DEFAULT 'default';
        UPDATE incident_index SET tenant = coalesce(
            (SELECT json_extract(body, '$.tenant') FROM incidents i WHERE i.id = incident_index.id),
            'default');
        CREATE INDEX incident_index_tenant ON incident_index(tenant, id);
        DROP TRIGGER incident_index_added;
        DROP TRIGGER incident_index_changed;
        CREATE TRIGGER incident_index_added AFTER INSERT ON incidents
        BEGIN
            INSERT OR REPLACE INTO incident_index VALUES (NEW.id, json_extract(NEW.body, '$.brand'), json_extract(NEW.body, '$.severity'),
                json_extract(NEW.body, '$.match.kind'),
                coalesce(json_extract(NEW.body, '$.triage.state'), 'new'), NEW.first_seen_ms,
                lower(coalesce(json_extract(NEW.body, '$.domain'), '') || ' '
                    || coalesce(json_extract(NEW.body, '$.domain_unicode'), '') || ' '
                    || coalesce(json_extract(NEW.body, '$.brand'), '')),
                NEW.last_seen_ms,
                coalesce(json_extract(NEW.body, '$.tenant'), 'default'));
        END;
        CREATE TRIGGER incident_index_changed AFTER UPDATE OF body ON incidents
        BEGIN
            INSERT OR REPLACE INTO incident_index VALUES (NEW.id, json_extract(NEW.body, '$.brand'), json_extract(NEW.body, '$.severity'),
                json_extract(NEW.body, '$.match.kind'),
                coalesce(json_extract(NEW.body, '$.triage.state'), 'new'), NEW.first_seen_ms,
                lower(coalesce(json_extract(NEW.body, '$.domain'), '') || ' '
                    || coalesce(json_extract(NEW.body, '$.domain_unicode'), '') || ' '
                    || coalesce(json_extract(NEW.body, '$.brand'), '')),
                max(NEW.last_seen_ms, CAST((julianday('now') - 2440587.5) * 86400000 AS INTEGER)),
                coalesce(json_extract(NEW.body, '$.tenant'), 'default'));
        END;",
    ),
];

impl Step {
    fn apply(&self, conn: &Connection) -> rusqlite::Result<()> {
        match self {
            Step::Sql(sql) => conn.execute_batch(sql),
            Step::AddColumn {
                table,
                column,
                decl,
            } => {
                let present = conn
                    .prepare(&format!(
                        "SELECT 1 FROM pragma_table_info('{table}') WHERE name = ?1"
                    ))?
                    .exists([column])?;
                if present {
                    return Ok(());
                }
                conn.execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {decl}"))
            }
        }
    }
}

/// The schema version this build writes.
pub(crate) const LATEST: u32 = MIGRATIONS.len() as u32;

/// Open `path` (creating its folder), set WAL and the busy timeout, and
/// bring the tables up to date.
pub(super) fn open(path: &Path) -> Result<Connection, StoreError> {
    let mut conn = if path.as_os_str() == ":memory:" {
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
    migrate(&mut conn)?;
    Ok(conn)
}

/// The store's schema version.
pub(super) fn version(conn: &Connection) -> Result<u32, StoreError> {
    Ok(conn.pragma_query_value(None, "user_version", |r| r.get(0))?)
}

/// The version of a store from before versions were recorded: 1 if it
/// has tables (the idempotent steps up to 4 then fill in what it lacks).
fn unrecorded_version(conn: &Connection) -> Result<u32, StoreError> {
    let has_tables = conn
        .prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'incidents'")?
        .exists([])?;
    Ok(u32::from(has_tables))
}

fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
    // the write lock first: two processes opening one new store do not
    // both migrate it
    let tx = conn.transaction_with_behavior(TransactionBehavior::Immediate)?;
    let mut from = version(&tx)?;
    if from > LATEST {
        return Err(StoreError::TooNew {
            found: from,
            supported: LATEST,
        });
    }
    if from == 0 {
        from = unrecorded_version(&tx)?;
    }
    for (i, step) in MIGRATIONS.iter().enumerate().skip(from as usize) {
        step.apply(&tx).map_err(|source| StoreError::Migration {
            version: i as u32 + 1,
            source,
        })?;
    }
    tx.pragma_update(None, "user_version", LATEST)?;
    tx.commit()?;
    if from > 0 && from < LATEST {
        tracing::info!(from, to = LATEST, "store schema migrated");
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_new_store_is_at_the_latest_version_and_reopens_unchanged() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let conn = open(&path).unwrap();
        assert_eq!(version(&conn).unwrap(), LATEST);
        drop(conn);
        let conn = open(&path).unwrap();
        assert_eq!(version(&conn).unwrap(), LATEST);
    }

    #[test]
    fn a_store_from_a_newer_version_is_refused_and_left_alone() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let conn = open(&path).unwrap();
        conn.pragma_update(None, "user_version", LATEST + 1)
            .unwrap();
        drop(conn);
        let err = open(&path).unwrap_err();
        assert!(
            err.to_string().contains(&format!("version {}", LATEST + 1)),
            "{err}"
        );
        let raw = Connection::open(&path).unwrap();
        assert_eq!(version(&raw).unwrap(), LATEST + 1);
    }

    #[test]
    fn a_failed_migration_leaves_the_store_at_its_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("s.db");
        let raw = Connection::open(&path).unwrap();
        for step in &MIGRATIONS[..4] {
            step.apply(&raw).unwrap();
        }
        // something already named like migration 5's index
        raw.execute_batch("CREATE TABLE incidents_age (x); PRAGMA user_version = 4;")
            .unwrap();
        drop(raw);
        let err = open(&path).unwrap_err();
        assert!(err.to_string().contains("migration to version 5"), "{err}");
        let raw = Connection::open(&path).unwrap();
        assert_eq!(version(&raw).unwrap(), 4);
        assert!(
            !raw.prepare("SELECT 1 FROM sqlite_master WHERE name = 'outbox_age'")
                .unwrap()
                .exists([])
                .unwrap(),
            "half of migration 5 stayed"
        );
    }
}
