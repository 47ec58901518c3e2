//! The reload loop: the watchlist's text → a parsed list → a compiled
//! [`Matcher`], published as a snapshot.
//!
//! A reload fetches, parses and compiles off the hot path, then swaps the
//! snapshot in one pointer store (`tokio::sync::watch`): matching never waits.
//! A list that fails to load or validate never replaces the last good one; the
//! error is kept for `/readyz` and `/v1/status`.

use crate::config::ConfigError;
use crate::matcher::{Matcher, MatcherConfig, Narrowed, RuleSettings};
use crate::model::unix_now;
use crate::parallel::lock;
use crate::tenants::{TenantListStatus, TenantLists, TenantSettings};
use crate::watchlist::{ListError, ListLoader, LoadError, Watchlist, WatchlistSettings};
use serde::Serialize;
use std::sync::{Arc, Mutex};
use std::time::Instant;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

/// What `/v1/status` and `/readyz` show about the list.
#[derive(Debug, Clone, Default, Serialize)]
pub struct ListStatus {
    /// Where the list comes from (credentials never included).
    pub source: String,
    pub brands: usize,
    pub variants: usize,
    /// Unix seconds of the last successful load.
    pub loaded_at: Option<u64>,
    pub last_attempt_at: Option<u64>,
    /// The last load's error; `None` when it succeeded.
    pub last_error: Option<String>,
    pub reloads_ok: u64,
    pub reloads_failed: u64,
    /// Milliseconds the last successful load took (fetch + parse + compile).
    pub last_load_ms: u64,
    /// Brands whose label is not distinctive (a common word or domain
    /// token): they get only the signals that stay precise for them.
    pub narrowed: Vec<Narrowed>,
    /// With `[[tenants]]`: each tenant's list (the bundle above is made of
    /// the good ones).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub tenants: Vec<TenantListStatus>,
}

/// Where the list text comes from: one source, or every tenant's.
#[derive(Debug)]
enum ListSource {
    One(ListLoader),
    Tenants(TenantLists),
}

impl ListSource {
    async fn fetch(&self, max_bytes: usize) -> Result<String, LoadError> {
        match self {
            ListSource::One(l) => l.fetch(max_bytes).await,
            ListSource::Tenants(t) => t.fetch(max_bytes).await,
        }
    }

    fn describe(&self) -> String {
        match self {
            ListSource::One(l) => l.describe(),
            ListSource::Tenants(t) => t.describe(),
        }
    }
}

/// Owns the loader and publishes snapshots. Cheap to clone.
#[derive(Clone)]
pub struct SnapshotHandle {
    inner: Arc<Inner>,
}

struct Inner {
    loader: ListSource,
    /// `[matcher]` as configured.
    base: MatcherConfig,
    /// ... with the console's rules: what lists are compiled with.
    matcher: Mutex<MatcherConfig>,
    snapshot_tx: watch::Sender<Option<Arc<Matcher>>>,
    status: Mutex<ListStatus>,
    /// One reload at a time: the timer and `POST /v1/lists/reload` may race.
    reload_lock: tokio::sync::Mutex<()>,
    max_bytes: usize,
    /// sha256 of the text the current snapshot was compiled from: a reload
    /// that fetches the same text compiles nothing (a big list takes tens
    /// of seconds and a gigabyte or more to compile).
    compiled_from: Mutex<Option<[u8; 32]>>,
}

/// `text` with its sha256, hashed off the runtime threads (a list of
/// hundreds of megabytes takes a second).
async fn digested(text: String) -> Result<(String, [u8; 32]), LoadError> {
    tokio::task::spawn_blocking(move || {
        use sha2::Digest;
        let sha = sha2::Sha256::digest(text.as_bytes()).into();
        (text, sha)
    })
    .await
    .map_err(|e| LoadError::Internal(e.to_string()))
}

impl SnapshotHandle {
    pub fn new(
        settings: &WatchlistSettings,
        tenants: &[TenantSettings],
        matcher: &MatcherConfig,
        client: reqwest::Client,
    ) -> SnapshotHandle {
        let loader = if tenants.is_empty() {
            ListSource::One(ListLoader::from_settings(settings, client))
        } else {
            ListSource::Tenants(TenantLists::new(tenants, settings, client))
        };
        let (snapshot_tx, _) = watch::channel(None);
        SnapshotHandle {
            inner: Arc::new(Inner {
                status: Mutex::new(ListStatus {
                    source: loader.describe(),
                    ..ListStatus::default()
                }),
                loader,
                base: matcher.clone(),
                matcher: Mutex::new(matcher.clone()),
                snapshot_tx,
                reload_lock: tokio::sync::Mutex::new(()),
                max_bytes: settings.max_bytes,
                compiled_from: Mutex::new(None),
            }),
        }
    }

    /// Subscribe to snapshots; `None` until the first good list.
    pub fn subscribe(&self) -> watch::Receiver<Option<Arc<Matcher>>> {
        self.inner.snapshot_tx.subscribe()
    }

    pub fn snapshot(&self) -> Option<Arc<Matcher>> {
        self.inner.snapshot_tx.borrow().clone()
    }

    /// The last good list, for `GET /v1/lists/current`: the one the
    /// published matcher was compiled from.
    pub fn current_list(&self) -> Option<Arc<Watchlist>> {
        self.snapshot().map(|m| Arc::clone(m.list()))
    }

    pub fn status(&self) -> ListStatus {
        let mut status = lock(&self.inner.status).clone();
        if let ListSource::Tenants(t) = &self.inner.loader {
            // a process that reads no list itself (on a bus, all but the
            // list loader) has nothing to say of each tenant's
            let tenants = t.status();
            if tenants
                .iter()
                .any(|t| t.loaded_at.is_some() || t.last_error.is_some())
            {
                status.tenants = tenants;
            }
            // a tenant's list that fails is a list error (`/readyz` says
            // degraded), while that tenant's last good list stays in use
            if status.last_error.is_none() {
                let failing: Vec<String> = status
                    .tenants
                    .iter()
                    .filter_map(|t| {
                        Some(format!("tenant {}: {}", t.tenant, t.last_error.as_ref()?))
                    })
                    .collect();
                if !failing.is_empty() {
                    status.last_error = Some(failing.join("; "));
                }
            }
        }
        status
    }

    /// Largest list accepted, in bytes (`watchlist.max_bytes`).
    pub fn max_bytes(&self) -> usize {
        self.inner.max_bytes
    }

    /// Fetch, validate, compile and publish. On error the last good snapshot stays.
    pub async fn reload(&self) -> Result<ListStatus, LoadError> {
        self.load(None, false).await.map(|(status, _)| status)
    }

    /// [`Self::reload`], giving back the list's text too (what the bus's
    /// list loader hands to the other processes).
    pub async fn fetch_and_apply(&self) -> Result<String, LoadError> {
        self.load(None, true).await.map(|(_, text)| text)
    }

    /// Validate, compile and publish `text`, a list another process loaded
    /// (the bus's): like a reload, without asking the source.
    pub async fn apply_text(&self, text: String) -> Result<ListStatus, LoadError> {
        self.load(Some(text), false).await.map(|(status, _)| status)
    }

    /// A reload of `text`, or of what the source gives when `None`; the
    /// text comes back when `give_back` (else empty: a big list is not
    /// copied for nothing).
    async fn load(
        &self,
        text: Option<String>,
        give_back: bool,
    ) -> Result<(ListStatus, String), LoadError> {
        let _guard = self.inner.reload_lock.lock().await;
        let started = Instant::now();
        let text = match text {
            Some(t) => Ok(t),
            None => self.inner.loader.fetch(self.inner.max_bytes).await,
        };
        let (text, sha) = match text {
            Ok(t) => match digested(t).await {
                Ok((t, sha)) => (Ok(t), Some(sha)),
                Err(e) => (Err(e), None),
            },
            Err(e) => (Err(e), None),
        };
        if let (Some(sha), Ok(text)) = (sha, &text)
            && *lock(&self.inner.compiled_from) == Some(sha)
            && self.snapshot().is_some()
        {
            // the list in use: nothing to compile
            let mut status = lock(&self.inner.status);
            let now = unix_now();
            status.last_attempt_at = Some(now);
            status.loaded_at = Some(now);
            status.last_error = None;
            status.reloads_ok += 1;
            tracing::debug!(source = %status.source, "watchlist unchanged");
            let text = if give_back {
                text.clone()
            } else {
                String::new()
            };
            return Ok((status.clone(), text));
        }
        let result = match text {
            Ok(text) if give_back => self.compile(text.clone()).await.map(|m| (m, text)),
            Ok(text) => self.compile(text).await.map(|m| (m, String::new())),
            Err(e) => Err(e),
        };
        let now = unix_now();
        let mut status = lock(&self.inner.status);
        status.last_attempt_at = Some(now);
        match result {
            Ok((matcher, text)) => {
                *lock(&self.inner.compiled_from) = sha;
                Ok((self.publish(&mut status, matcher, started), text))
            }
            Err(e) => {
                status.last_error = Some(e.to_string());
                status.reloads_failed += 1;
                tracing::warn!(error = %e, source = %status.source, "watchlist reload failed; keeping the last good list");
                Err(e)
            }
        }
    }

    /// Replace the list with `text` pushed through the API (`PUT
    /// /v1/lists/current`): validated and compiled first, then kept where the
    /// next reload reads it (the list file), then published. A list that is
    /// refused changes nothing: the last good list stays, and the status
    /// keeps describing it.
    pub async fn replace(&self, text: String) -> Result<ListStatus, LoadError> {
        let _guard = self.inner.reload_lock.lock().await;
        let started = Instant::now();
        let loader = match &self.inner.loader {
            ListSource::One(loader @ ListLoader::File(_)) => loader,
            ListSource::Tenants(_) => return Err(LoadError::TenantNeeded),
            ListSource::One(_) => return Err(LoadError::NotKept(self.inner.loader.describe())),
        };
        let (text, sha) = digested(text).await?;
        let kept = text.clone();
        let matcher = self.compile(text).await.inspect_err(|e| {
            tracing::warn!(error = %e, "pushed list refused; keeping the last good list");
        })?;
        loader.keep(&kept).await?;
        drop(kept);
        *lock(&self.inner.compiled_from) = Some(sha);
        let mut status = lock(&self.inner.status);
        status.last_attempt_at = Some(unix_now());
        Ok(self.publish(&mut status, matcher, started))
    }

    /// Replace one tenant's list with `text` pushed through the API (`PUT
    /// /v1/lists/current?tenant=<id>`): validated as a plain list, kept in
    /// the tenant's list file, then every list is read again and the
    /// bundle published. Without `[[tenants]]`, the default tenant's list
    /// is the one list ([`Self::replace`]).
    pub async fn replace_tenant(
        &self,
        tenant: &str,
        text: String,
    ) -> Result<ListStatus, LoadError> {
        let ListSource::Tenants(lists) = &self.inner.loader else {
            if tenant == crate::watchlist::DEFAULT_TENANT {
                return self.replace(text).await;
            }
            return Err(LoadError::UnknownTenant(tenant.to_owned()));
        };
        let max_bytes = self.inner.max_bytes;
        let text = tokio::task::spawn_blocking(move || {
            let list = Watchlist::parse(&text, max_bytes)?;
            if list.tenants.is_empty() {
                Ok(text)
            } else {
                Err(ListError::Tenant {
                    tenant: String::new(),
                    problem: "a tenant's list is a plain list, not a bundle of tenants".into(),
                })
            }
        })
        .await
        .map_err(|e| LoadError::Internal(e.to_string()))?
        .inspect_err(|e| tracing::warn!(tenant, error = %e, "pushed list refused"))?;
        lists.keep(tenant, &text).await?;
        drop(text);
        self.reload().await
    }

    /// `tenant`'s own list: its last good one as its source gave it where
    /// this process reads it, else its part of the bundle in use; `None`
    /// for a tenant unknown or without a good list yet. A plain list is
    /// the default tenant's.
    pub fn tenant_list(&self, tenant: &str) -> Option<serde_json::Value> {
        let read_here = match &self.inner.loader {
            ListSource::Tenants(lists) => lists.text_of(tenant),
            ListSource::One(_) => None,
        };
        if let Some(text) = read_here {
            return serde_json::from_str(&text).ok();
        }
        // a process that reads no list itself (on a bus), or a bundle
        // written as the one list: the tenant's part of the bundle in use
        let list = self.current_list()?;
        if list.tenants.is_empty() {
            return (tenant == crate::watchlist::DEFAULT_TENANT).then(|| list.to_json());
        }
        list.to_json()
            .get(crate::watchlist::TENANTS_KEY)?
            .get(tenant)
            .cloned()
    }

    /// The configured `[matcher]` with `extra` rules (the console's) after
    /// its own: an error names what is wrong with them.
    pub fn with_rules(&self, extra: &[RuleSettings]) -> Result<MatcherConfig, ConfigError> {
        self.inner.base.with_rules(extra)
    }

    /// The rules of `[[matcher.rules]]`.
    pub fn configured_rules(&self) -> Vec<RuleSettings> {
        self.inner.base.settings.rules.clone()
    }

    /// Compile lists with `config` (from [`Self::with_rules`]) from now on;
    /// the current list is compiled again with it and published, so the
    /// change applies to the next certificate without a reload.
    pub async fn use_config(&self, config: MatcherConfig) -> Result<(), LoadError> {
        let _guard = self.inner.reload_lock.lock().await;
        *lock(&self.inner.matcher) = config.clone();
        let Some(list) = self.current_list() else {
            return Ok(()); // the first load will use it
        };
        let started = Instant::now();
        let matcher = tokio::task::spawn_blocking(move || Matcher::compile_shared(list, &config))
            .await
            .map_err(|e| LoadError::Internal(e.to_string()))?;
        let mut status = lock(&self.inner.status);
        status.last_attempt_at = Some(unix_now());
        self.publish(&mut status, matcher, started);
        Ok(())
    }

    /// Use `config` before the first load (at start).
    pub fn use_config_now(&self, config: MatcherConfig) {
        *lock(&self.inner.matcher) = config;
    }

    /// Parse and compile off the runtime threads (big lists take a while).
    async fn compile(&self, text: String) -> Result<Matcher, LoadError> {
        let max_bytes = self.inner.max_bytes;
        let settings = lock(&self.inner.matcher).clone();
        tokio::task::spawn_blocking(move || {
            let list = Watchlist::parse(&text, max_bytes)?;
            drop(text);
            Ok::<_, ListError>(Matcher::compile_shared(Arc::new(list), &settings))
        })
        .await
        .map_err(|e| LoadError::Internal(e.to_string()))
        .and_then(|r| r.map_err(LoadError::Invalid))
    }

    fn publish(&self, status: &mut ListStatus, matcher: Matcher, started: Instant) -> ListStatus {
        status.brands = matcher.brand_count();
        status.variants = matcher.variant_count();
        status.loaded_at = status.last_attempt_at;
        status.last_error = None;
        status.reloads_ok += 1;
        status.last_load_ms = started.elapsed().as_millis() as u64;
        status.narrowed = matcher.narrowed();
        if !status.narrowed.is_empty() {
            let shown: Vec<String> = status
                .narrowed
                .iter()
                .take(20)
                .map(|n| format!("{} ({})", n.brand, n.reason))
                .collect();
            tracing::info!(count = status.narrowed.len(), brands = %shown.join("; "),
                "brands narrowed to the precise signals (see /v1/status)");
        }
        self.inner.snapshot_tx.send_replace(Some(Arc::new(matcher)));
        tracing::info!(
            brands = status.brands,
            variants = status.variants,
            ms = status.last_load_ms,
            "watchlist loaded"
        );
        status.clone()
    }

    /// Reload every `interval` until cancelled. The first load happens at once.
    pub async fn run(self, interval: std::time::Duration, shutdown: CancellationToken) {
        let mut ticker = tokio::time::interval(interval);
        ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => return,
                _ = ticker.tick() => {
                    let _ = self.reload().await;
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A handle on the list file `path`, written with one brand.
    fn file_handle(path: &std::path::Path) -> SnapshotHandle {
        std::fs::write(path, r#"{"paypal.com": ["paypa1"]}"#).unwrap();
        let settings = WatchlistSettings {
            path: path.to_owned(),
            ..WatchlistSettings::default()
        };
        SnapshotHandle::new(
            &settings,
            &[],
            &MatcherConfig::default(),
            reqwest::Client::new(),
        )
    }

    #[tokio::test]
    async fn broken_list_keeps_last_good_one() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("list.json");
        let handle = file_handle(&path);
        assert!(handle.snapshot().is_none());
        handle.reload().await.unwrap();
        assert_eq!(handle.snapshot().unwrap().brand_count(), 1);

        std::fs::write(&path, r#"{"paypal.com": [1]}"#).unwrap();
        let err = handle.reload().await.unwrap_err().to_string();
        assert!(err.contains("item 0"), "{err}");
        assert_eq!(handle.snapshot().unwrap().brand_count(), 1);
        let status = handle.status();
        assert_eq!(status.reloads_failed, 1);
        assert!(status.last_error.is_some());

        std::fs::write(&path, r#"{"paypal.com": [], "apple.com": []}"#).unwrap();
        handle.reload().await.unwrap();
        assert_eq!(handle.snapshot().unwrap().brand_count(), 2);
        assert!(handle.status().last_error.is_none());
    }

    #[tokio::test]
    async fn an_unchanged_list_is_not_compiled_again() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("list.json");
        let handle = file_handle(&path);
        handle.reload().await.unwrap();
        let first = handle.snapshot().unwrap();
        let mut updates = handle.subscribe();
        updates.mark_unchanged();

        handle.reload().await.unwrap();
        assert!(Arc::ptr_eq(&first, &handle.snapshot().unwrap()));
        assert!(
            !updates.has_changed().unwrap(),
            "nobody is told of a new snapshot"
        );
        assert_eq!(handle.status().reloads_ok, 2);

        // a list made after a broken one is compiled, and so is the same
        // text again after another list was in use
        std::fs::write(&path, r#"{"apple.com": []}"#).unwrap();
        handle.reload().await.unwrap();
        assert_eq!(handle.snapshot().unwrap().brand_count(), 1);
        assert!(!Arc::ptr_eq(&first, &handle.snapshot().unwrap()));
        std::fs::write(&path, r#"{"paypal.com": ["paypa1"]}"#).unwrap();
        handle.reload().await.unwrap();
        let (verdicts, _) = handle
            .snapshot()
            .unwrap()
            .match_names(&["paypa1.com".to_owned()]);
        assert!(!verdicts.is_empty());
    }
}
