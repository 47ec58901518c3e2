//! `file`: incidents written to disk, for SIEM forwarders and teams without
//! a SOAR, as CertStreamMonitor's alert directory did.
//!
//! `path` may use `%Y`, `%m`, `%d` and `%H` (UTC, from the incident's
//! `first_seen`, so a re-delivery lands in the same place) and `%%`.
//! - `format = "json"` (the default): `path` is a directory; each incident
//!   is one file `<idempotency key>.json` in it.
//! - `format = "jsonl"`: `path` is a file; each incident is one line of it.
//!
//! Every write is atomic: the new content goes to a temporary file in the
//! same directory (`.<name>.tmp-<pid>-<n>`), is synced, and is renamed over
//! the target, so a reader (or a crash) never sees half an incident. Writes
//! are idempotent per idempotency key: a re-delivery after a restart
//! replaces the incident's file with the same bytes, or finds its line
//! already in the JSON Lines file. A JSON Lines file is rewritten whole for
//! each incident, so an hourly path (`%Y%m%d%H.jsonl`) keeps that cheap.
//! Temporary files a killed process left are removed the first time a
//! directory is written again.

use super::outcome::Outcome;
use super::{Deliver, SinkContext, SinkError, SinkKind, UnknownKeys};
use crate::config::{ConfigError, invalid};
use crate::model::Incident;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet, VecDeque};
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FileFormat {
    /// One file per incident in the directory `path`.
    #[default]
    Json,
    /// One line per incident in the file `path`.
    Jsonl,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct FileSettings {
    /// A directory (`json`) or a file (`jsonl`); `%Y`, `%m`, `%d`, `%H`, `%%` expand.
    pub path: String,
    pub format: FileFormat,
    #[serde(flatten, skip_serializing)]
    pub unknown: UnknownKeys,
}

impl SinkKind for FileSettings {
    fn validate(
        &self,
        kind: &str,
        key: &dyn Fn(&str) -> String,
    ) -> Result<Option<Vec<u8>>, ConfigError> {
        self.unknown.check(key, kind)?;
        if self.path.trim().is_empty() {
            return Err(invalid(key("path"), "is required for kind = \"file\""));
        }
        let mut rest = self.path.as_str();
        while let Some(at) = rest.find('%') {
            match rest[at + 1..].chars().next() {
                Some('Y' | 'm' | 'd' | 'H' | '%') => rest = &rest[at + 2..],
                _ => {
                    return Err(invalid(
                        key("path"),
                        "only %Y, %m, %d, %H and %% may follow a %",
                    ));
                }
            }
        }
        Ok(None)
    }

    fn build(
        &self,
        _name: &str,
        _signing_key: Option<Vec<u8>>,
        _ctx: &SinkContext,
    ) -> Result<Box<dyn Deliver>, SinkError> {
        let writer = Writer::new(self.clone());
        // a killed predecessor may have left temporary files under the fixed
        // part of the path: gone before anyone lists the directory
        let root = fixed_prefix(&self.path);
        std::thread::spawn(move || clean_tree(&root, 4));
        Ok(Box::new(FileSink(Arc::new(writer))))
    }
}

/// The directory part of `template` before its first placeholder.
fn fixed_prefix(template: &str) -> PathBuf {
    let fixed = match template.find('%') {
        Some(at) => &template[..at],
        None => template,
    };
    let path = Path::new(fixed);
    if fixed.ends_with('/') {
        return path.to_path_buf();
    }
    path.parent().map(Path::to_path_buf).unwrap_or_default()
}

/// [`clean_stale_temps`] in `dir` and its subdirectories, `depth` levels down.
fn clean_tree(dir: &Path, depth: u32) {
    let dir = if dir.as_os_str().is_empty() {
        Path::new(".")
    } else {
        dir
    };
    clean_stale_temps(dir);
    if depth == 0 {
        return;
    }
    if let Ok(entries) = std::fs::read_dir(dir) {
        for entry in entries.flatten() {
            if entry.file_type().is_ok_and(|t| t.is_dir()) {
                clean_tree(&entry.path(), depth - 1);
            }
        }
    }
}

/// `template` with `%Y`, `%m`, `%d`, `%H` from an RFC 3339 UTC time.
fn expand(template: &str, rfc3339: &str) -> String {
    let part = |r: std::ops::Range<usize>| rfc3339.get(r).unwrap_or("00");
    let mut out = String::with_capacity(template.len() + 8);
    let mut chars = template.chars();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('Y') => out.push_str(part(0..4)),
            Some('m') => out.push_str(part(5..7)),
            Some('d') => out.push_str(part(8..10)),
            Some('H') => out.push_str(part(11..13)),
            Some(other) => out.push(other),
            None => out.push('%'),
        }
    }
    out
}

/// What the sink remembers between writes.
#[derive(Default)]
struct State {
    /// Directories cleaned of stale temporary files by this process.
    cleaned: HashSet<PathBuf>,
    /// For the last few JSON Lines files: the keys already in them.
    keys: HashMap<PathBuf, HashSet<String>>,
    recent: VecDeque<PathBuf>,
}

/// JSON Lines files whose keys are kept in memory.
const KEYED_FILES: usize = 8;

struct FileSink(Arc<Writer>);

struct Writer {
    settings: FileSettings,
    /// One write at a time: a JSON Lines file is read, extended and replaced.
    state: Mutex<State>,
}

static TEMP_COUNTER: AtomicU64 = AtomicU64::new(0);

/// Write `bytes` to `target` atomically: temp file, sync, rename, sync dir.
fn replace_atomically(target: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let dir = target.parent().unwrap_or(Path::new("."));
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let n = TEMP_COUNTER.fetch_add(1, Ordering::Relaxed);
    let temp = dir.join(format!(".{name}.tmp-{}-{n}", std::process::id()));
    let written = (|| {
        let mut f = std::fs::File::create(&temp)?;
        f.write_all(bytes)?;
        f.sync_all()?;
        std::fs::rename(&temp, target)
    })();
    if written.is_err() {
        let _ = std::fs::remove_file(&temp);
    }
    written?;
    // the rename itself survives a crash once the directory is synced
    if let Ok(d) = std::fs::File::open(dir) {
        let _ = d.sync_all();
    }
    Ok(())
}

/// Remove temporary files other processes (a killed certsentry) left in `dir`.
fn clean_stale_temps(dir: &Path) {
    let own = format!(".tmp-{}-", std::process::id());
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if name.starts_with('.') && name.contains(".tmp-") && !name.contains(&own) {
            let _ = std::fs::remove_file(entry.path());
        }
    }
}

impl Writer {
    fn new(settings: FileSettings) -> Writer {
        Writer {
            settings,
            state: Mutex::new(State::default()),
        }
    }

    fn write(&self, incident: &Incident) -> std::io::Result<()> {
        let key = incident.idempotency_key();
        let target = PathBuf::from(expand(
            &self.settings.path,
            &incident.first_seen.to_string(),
        ));
        let mut line = serde_json::to_vec(incident)?;
        let mut state = self.state.lock().unwrap_or_else(|p| p.into_inner());
        let dir = match self.settings.format {
            FileFormat::Json => target.clone(),
            FileFormat::Jsonl => target.parent().map(Path::to_path_buf).unwrap_or_default(),
        };
        if !dir.as_os_str().is_empty() {
            std::fs::create_dir_all(&dir)?;
        }
        if state.cleaned.insert(dir.clone()) {
            clean_stale_temps(if dir.as_os_str().is_empty() {
                Path::new(".")
            } else {
                &dir
            });
        }
        match self.settings.format {
            FileFormat::Json => {
                line.push(b'\n');
                replace_atomically(&target.join(format!("{key}.json")), &line)
            }
            FileFormat::Jsonl => {
                let existing = match std::fs::read(&target) {
                    Ok(b) => b,
                    Err(e) if e.kind() == std::io::ErrorKind::NotFound => Vec::new(),
                    Err(e) => return Err(e),
                };
                if !state.keys.contains_key(&target) {
                    let keys = existing
                        .split(|b| *b == b'\n')
                        .filter_map(|l| serde_json::from_slice::<Incident>(l).ok())
                        .map(|i| i.idempotency_key())
                        .collect();
                    state.keys.insert(target.clone(), keys);
                    state.recent.push_back(target.clone());
                    if state.recent.len() > KEYED_FILES
                        && let Some(old) = state.recent.pop_front()
                    {
                        state.keys.remove(&old);
                    }
                }
                if state.keys.get(&target).is_some_and(|k| k.contains(&key)) {
                    return Ok(());
                }
                let mut content = existing;
                if !content.is_empty() && !content.ends_with(b"\n") {
                    content.push(b'\n');
                }
                content.extend_from_slice(&line);
                content.push(b'\n');
                replace_atomically(&target, &content)?;
                if let Some(keys) = state.keys.get_mut(&target) {
                    keys.insert(key);
                }
                Ok(())
            }
        }
    }
}

impl Deliver for FileSink {
    fn deliver<'a>(
        &'a self,
        incident: &'a Incident,
        _record: Option<&'a str>,
    ) -> BoxFuture<'a, Outcome> {
        Box::pin(async move {
            let writer = self.0.clone();
            let incident = incident.clone();
            match tokio::task::spawn_blocking(move || writer.write(&incident)).await {
                Ok(Ok(())) => Outcome::Delivered,
                // a full disk or a missing permission is fixed by an operator: retried
                Ok(Err(e)) => Outcome::Retry {
                    after: None,
                    reason: format!("cannot write: {e}"),
                },
                Err(e) => Outcome::Retry {
                    after: None,
                    reason: format!("write task failed: {e}"),
                },
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_expand_from_first_seen() {
        let t = "2026-03-04T05:06:07.890Z";
        assert_eq!(expand("/a/%Y/%m/%d/%H", t), "/a/2026/03/04/05");
        assert_eq!(expand("x-%Y%m%d.jsonl", t), "x-20260304.jsonl");
        assert_eq!(expand("100%%", t), "100%");
        let key = |k: &str| format!("sinks[0].{k}");
        let bad = FileSettings {
            path: "/a/%q".into(),
            ..FileSettings::default()
        };
        assert!(
            bad.validate("file", &key)
                .unwrap_err()
                .to_string()
                .contains("sinks[0].path")
        );
        assert!(FileSettings::default().validate("file", &key).is_err());
        assert_eq!(fixed_prefix("/a/b/%Y/%m"), Path::new("/a/b/"));
        assert_eq!(fixed_prefix("/a/x-%Y.jsonl"), Path::new("/a"));
        assert_eq!(fixed_prefix("alerts.jsonl"), Path::new(""));
    }

    fn incident(domain: &str, seen: &str) -> Incident {
        serde_json::from_value(serde_json::json!({
            "id": "01JAAAAAAAAAAAAAAAAAAAAAAA", "dedup_key": format!("key-{domain}"),
            "first_seen": seen, "last_seen": seen, "sightings": 1, "brand": "paypal.com",
            "domain": domain, "domain_unicode": domain, "registrable_domain": domain,
            "match": {"kind": "typo", "variant": "paypal", "distance": 1, "similarity": 0.8,
                      "skeleton": null, "mixed_scripts": false, "explanation": "x"},
            "score": 80, "severity": "high", "certificate": {
                "subject": {}, "issuer": {}, "all_domains": [domain], "serial_number": "01",
                "sha1": "", "sha256": "", "not_before": null, "not_after": null,
                "signature_algorithm": "", "is_ca": null, "update_type": "X509LogEntry", "extensions": {}},
            "ct": {"log_name": "", "log_url": "", "cert_index": null, "cert_link": "", "seen": 0.0}
        }))
        .unwrap()
    }

    /// Writing an incident again, also from a new writer (a restart), adds
    /// nothing; each file holds whole incidents only.
    #[test]
    fn writes_are_idempotent_per_key_across_restarts() {
        let dir = tempfile::tempdir().unwrap();
        let jsonl = FileSettings {
            path: format!("{}/lines-%Y%m%d.jsonl", dir.path().display()),
            format: FileFormat::Jsonl,
            ..FileSettings::default()
        };
        let json = FileSettings {
            path: format!("{}/alerts/%Y/%m/%d/%H", dir.path().display()),
            ..FileSettings::default()
        };
        let a = incident("paypa1.com", "2026-03-04T05:06:07.000Z");
        let b = incident("paypall.com", "2026-03-04T05:59:00.000Z");
        for settings in [&jsonl, &json] {
            let w = Writer::new(settings.clone());
            w.write(&a).unwrap();
            w.write(&b).unwrap();
            w.write(&a).unwrap();
            let restarted = Writer::new(settings.clone());
            restarted.write(&b).unwrap();
            restarted.write(&a).unwrap();
        }
        let lines = std::fs::read_to_string(dir.path().join("lines-20260304.jsonl")).unwrap();
        let keys: Vec<String> = lines
            .lines()
            .map(|l| {
                serde_json::from_str::<Incident>(l)
                    .unwrap()
                    .idempotency_key()
            })
            .collect();
        assert_eq!(keys, ["key-paypa1.com", "key-paypall.com"]);
        let hour = dir.path().join("alerts/2026/03/04/05");
        let mut files: Vec<String> = std::fs::read_dir(&hour)
            .unwrap()
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .collect();
        files.sort();
        assert_eq!(files, ["key-paypa1.com.json", "key-paypall.com.json"]);
        let back: Incident =
            serde_json::from_slice(&std::fs::read(hour.join("key-paypa1.com.json")).unwrap())
                .unwrap();
        assert_eq!(back, a);
    }

    #[test]
    fn stale_temporary_files_of_another_process_are_removed() {
        let dir = tempfile::tempdir().unwrap();
        let stale = dir.path().join("x/.a.json.tmp-999999999-1");
        std::fs::create_dir_all(stale.parent().unwrap()).unwrap();
        std::fs::write(&stale, "{\"half").unwrap();
        let own = dir
            .path()
            .join(format!(".b.json.tmp-{}-1", std::process::id()));
        std::fs::write(&own, "{").unwrap();
        clean_tree(dir.path(), 2);
        assert!(!stale.exists());
        assert!(
            own.exists(),
            "this process's own temporary files are in use"
        );
    }
}
