//! Reading Certificate Transparency logs directly: which logs to follow
//! ([`loglist`], kept current by [`LogSet`]), one [`follower::Follower`]
//! per log, and entry parsing ([`leaf`], [`x509`]) into the same
//! [`CertEvent`] the certstream source produces.

pub mod follower;
pub mod leaf;
pub mod loglist;
pub mod x509;

use crate::cert::{CertEvent, Certificate, CtSource, UpdateType};
use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use leaf::{Chain, EntryKind, LeafError, LogEntry};
use std::collections::HashMap;
use std::hash::{Hash, Hasher};
use std::time::SystemTime;

/// The logs to follow: the configured list (file, else the bundled
/// snapshot), replaced by `log_list_url`'s when reachable, then selected
/// for now.
///
/// At start (`first`) a list that cannot be read or fetched falls back (the
/// file, then the snapshot), so the service always follows something. On a
/// refresh it gives `None` instead: the logs already followed stay as they
/// are, and an outage of the list's URL does not switch to the snapshot.
pub async fn load_logs(
    settings: &crate::config::CtSettings,
    client: &reqwest::Client,
    first: bool,
) -> Option<Vec<loglist::LogInfo>> {
    // what a failure leads to: at start the snapshot, on a refresh nothing
    let fall_back = |why: String| {
        if first {
            tracing::error!(%why, "CT log list: using the bundled one");
            loglist::parse(loglist::BUNDLED).ok()
        } else {
            tracing::error!(%why, "CT log list: keeping the logs followed");
            None
        }
    };
    let fetched = if settings.log_list_url.is_empty() {
        None
    } else {
        let fetched = async {
            client
                .get(&settings.log_list_url)
                .send()
                .await?
                .error_for_status()?
                .text()
                .await
        }
        .await;
        Some(match fetched {
            Ok(t) => loglist::parse(&t).map_err(|e| format!("the fetched list: {e}")),
            Err(e) => Err(format!(
                "cannot fetch it: {}",
                crate::watchlist::without_url(&e)
            )),
        })
    };
    let logs = match fetched {
        Some(Ok(logs)) => logs,
        Some(Err(why)) if !first => fall_back(why)?,
        // no URL, or at start a URL that failed: the local list
        other => {
            if let Some(Err(why)) = other {
                tracing::warn!(%why, "CT log list: keeping the local one");
            }
            let local = if settings.log_list_path.as_os_str().is_empty() {
                Ok(loglist::BUNDLED.to_owned())
            } else {
                std::fs::read_to_string(&settings.log_list_path)
                    .map_err(|e| format!("cannot read {}: {e}", settings.log_list_path.display()))
            };
            match local.and_then(|t| loglist::parse(&t).map_err(|e| e.to_string())) {
                Ok(logs) => logs,
                Err(why) => fall_back(why)?,
            }
        }
    };
    let chosen = loglist::select(
        &logs,
        SystemTime::now(),
        settings.max_validity(),
        &settings.include,
        &settings.exclude,
    );
    if chosen.is_empty() {
        tracing::warn!("no CT log selected: check ct.include / ct.exclude");
    }
    Some(chosen)
}

/// Every log worth following, each with its follower. The list is read at
/// start and again every `ct.log_list_refresh`: a new shard, or a list
/// update, gets a follower then. A log that leaves the selection (its
/// interval closed, or it left the list) keeps its follower until restart,
/// since it may still hold entries not yet read.
pub struct LogSet {
    pub settings: crate::config::CtSettings,
    /// For the log list (the service's general client).
    pub list_client: reqwest::Client,
    /// For the logs ([`http_client`]).
    pub ct_client: reqwest::Client,
    pub store: crate::store::Store,
    pub tx: tokio::sync::mpsc::Sender<crate::source::SourceItem>,
    pub metrics: std::sync::Arc<crate::metrics::Metrics>,
    pub state: crate::source::SourceState,
}

impl LogSet {
    pub async fn run(self, shutdown: tokio_util::sync::CancellationToken) {
        let mut followed = std::collections::HashSet::new();
        let mut followers = tokio::task::JoinSet::new();
        let mut first = true;
        loop {
            let logs = load_logs(&self.settings, &self.list_client, first).await;
            first = false;
            for log in logs.into_iter().flatten() {
                if !followed.insert(log.url.clone()) {
                    continue;
                }
                tracing::info!(log = %log.description, url = %log.url, "following CT log");
                let follower = follower::Follower::new(
                    log,
                    self.ct_client.clone(),
                    self.settings.clone(),
                    self.store.clone(),
                    self.tx.clone(),
                    self.metrics.clone(),
                );
                followers.spawn(follower.run(shutdown.clone()));
            }
            self.state
                .set_state(&format!("following {} logs", followed.len()), None);
            if self.settings.log_list_refresh.is_zero() {
                break;
            }
            tokio::select! {
                _ = shutdown.cancelled() => break,
                _ = tokio::time::sleep(self.settings.log_list_refresh) => {}
            }
        }
        // followers end at shutdown (or when the pipeline goes away)
        while followers.join_next().await.is_some() {}
    }
}

/// The HTTP client for CT requests (User-Agent with the operator's contact).
pub fn http_client(
    settings: &crate::config::CtSettings,
) -> Result<reqwest::Client, crate::app::StartError> {
    reqwest::Client::builder()
        .user_agent(follower::user_agent(&settings.contact))
        .connect_timeout(std::time::Duration::from_secs(10))
        .timeout(settings.request_timeout)
        .build()
        .map_err(|e| crate::app::StartError::Client(e.to_string()))
}

/// What a follower knows about the log an entry came from.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LogMeta {
    /// The log list's description, e.g. `Google 'Argon2026h2'`.
    pub name: String,
    /// RFC 6962: the log URL; static-ct-api: the monitoring prefix.
    pub url: String,
    pub tiled: bool,
}

/// Parsed issuer certificates by their DER: a log's entries share a handful
/// of intermediates, so each is parsed once, not once per entry.
#[derive(Default)]
pub struct IssuerCache {
    parsed: HashMap<u64, Vec<(Vec<u8>, Certificate)>>,
    len: usize,
}

impl IssuerCache {
    /// Most issuers kept; the cache starts over when full.
    const MAX: usize = 4096;

    fn get(&mut self, der: &[u8]) -> Option<Certificate> {
        let mut h = std::collections::hash_map::DefaultHasher::new();
        der.hash(&mut h);
        let key = h.finish();
        if let Some(bucket) = self.parsed.get(&key)
            && let Some((_, c)) = bucket.iter().find(|(d, _)| d.as_slice() == der)
        {
            return Some(c.clone());
        }
        // a broken issuer does not lose the leaf: it is left out of the chain
        let c = x509::certificate(der, UpdateType::X509LogEntry).ok()?;
        if self.len >= Self::MAX {
            self.parsed.clear();
            self.len = 0;
        }
        self.parsed
            .entry(key)
            .or_default()
            .push((der.to_vec(), c.clone()));
        self.len += 1;
        Some(c)
    }
}

/// Turn a parsed entry into an event. `issuers` are the chain's DER
/// certificates (RFC 6962 carries them; tiled logs' are fetched by fingerprint).
pub fn event(
    entry: &LogEntry<'_>,
    issuers: &[&[u8]],
    log: &LogMeta,
    index: u64,
    seen: f64,
    cache: &mut IssuerCache,
) -> Result<CertEvent, LeafError> {
    let update_type = match entry.kind {
        EntryKind::X509 => UpdateType::X509LogEntry,
        EntryKind::Precert => UpdateType::PrecertLogEntry,
    };
    let certificate = x509::certificate(entry.der, update_type)?;
    let chain: Vec<Certificate> = issuers.iter().filter_map(|der| cache.get(der)).collect();
    let cert_link = if log.tiled {
        String::new()
    } else {
        format!(
            "{}/ct/v1/get-entries?start={index}&end={index}",
            log.url.trim_end_matches('/')
        )
    };
    Ok(CertEvent {
        certificate,
        ct: CtSource {
            log_name: log.name.clone(),
            log_url: log.url.clone(),
            cert_index: Some(index),
            cert_link,
            seen,
        },
        source: format!("ct:{}", log.name),
        as_der: Some(STANDARD.encode(entry.der)),
        chain,
        submission_timestamp: Some(entry.timestamp_ms as f64 / 1000.0),
    })
}

/// A `get-entries` entry with base64 fields, straight to an event.
pub fn event_from_get_entries(
    leaf_input_b64: &str,
    extra_data_b64: &str,
    log: &LogMeta,
    index: u64,
    seen: f64,
    cache: &mut IssuerCache,
) -> Result<CertEvent, LeafError> {
    let leaf = STANDARD
        .decode(leaf_input_b64)
        .map_err(|e| LeafError::Base64(e.to_string()))?;
    let extra = STANDARD
        .decode(extra_data_b64)
        .map_err(|e| LeafError::Base64(e.to_string()))?;
    let entry = leaf::parse_rfc6962(&leaf, &extra)?;
    let issuers: Vec<&[u8]> = match &entry.chain {
        Chain::Der(c) => c.clone(),
        Chain::Fingerprints(_) => Vec::new(),
    };
    event(&entry, &issuers, log, index, seen, cache)
}
