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
use super::{Deliver, SinkContext, SinkError, UnknownKeys};
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

impl FileSettings {
    pub(super) fn validate(
        &self,
        key: &dyn Fn(&str) -> String,
    ) -> Result<Option<Vec<u8>>, ConfigError> {
        self.unknown.check(key, "file")?;
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
}

pub(super) fn build(
    _name: &str,
    s: &FileSettings,
    _signing_key: Option<Vec<u8>>,
    _ctx: &SinkContext,
) -> Result<Box<dyn Deliver>, SinkError> {
    Ok(Box::new(FileSink(Arc::new(Writer {
        settings: s.clone(),
        state: Mutex::new(State::default()),
    }))))
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
    fn deliver<'a>(&'a self, incident: &'a Incident) -> BoxFuture<'a, Outcome> {
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
            bad.validate(&key)
                .unwrap_err()
                .to_string()
                .contains("sinks[0].path")
        );
        assert!(FileSettings::default().validate(&key).is_err());
    }
}
