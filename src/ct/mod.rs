//! Reading Certificate Transparency logs directly: which logs to follow
//! ([`loglist`], kept current by [`LogSet`]), one [`follower::Follower`]
//! per log, tree heads checked against the log's key ([`sth`]), and entry
//! parsing ([`leaf`], [`x509`]) into the same
//! [`CertEvent`] the certstream source produces.

pub mod follower;
pub mod leaf;
pub mod loglist;
pub mod merkle;
pub mod sth;
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
/// interval closed, or it left the list) is retired: its follower reads up
/// to the log's current tree size, so nothing it holds is lost, then stops.
/// A log selected again before that is simply kept; one selected again
/// later gets a new follower, which resumes at the stored position.
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

/// The running followers by log URL, each with its retire switch (a
/// follower drops its receiver when it ends).
type Followed = HashMap<String, tokio::sync::watch::Sender<bool>>;

impl LogSet {
    pub async fn run(self, shutdown: tokio_util::sync::CancellationToken) {
        let mut followed = Followed::new();
        let mut followers = tokio::task::JoinSet::new();
        let mut first = true;
        'refresh: loop {
            if let Some(logs) = load_logs(&self.settings, &self.list_client, first).await {
                self.apply(&logs, &mut followed, &mut followers, &shutdown);
            }
            first = false;
            self.report(&followed);
            if self.settings.log_list_refresh.is_zero() {
                break;
            }
            let next = tokio::time::sleep(self.settings.log_list_refresh);
            tokio::pin!(next);
            loop {
                tokio::select! {
                    _ = shutdown.cancelled() => break 'refresh,
                    _ = &mut next => break,
                    Some(ended) = followers.join_next() => {
                        // a retired log read to its end (or the pipeline went away)
                        if let Ok(url) = ended
                            && followed.get(&url).is_some_and(|retire| retire.is_closed())
                        {
                            followed.remove(&url);
                        }
                        self.report(&followed);
                    }
                }
            }
        }
        // followers end at shutdown (or when the pipeline goes away)
        while followers.join_next().await.is_some() {}
    }

    /// Make the followers match the selection `logs`: retire the logs that
    /// left it, keep (or un-retire) the others, start the new ones.
    fn apply(
        &self,
        logs: &[loglist::LogInfo],
        followed: &mut Followed,
        followers: &mut tokio::task::JoinSet<String>,
        shutdown: &tokio_util::sync::CancellationToken,
    ) {
        for (url, retire) in followed.iter() {
            let leaving = !logs.iter().any(|l| &l.url == url);
            let changed = retire.send_if_modified(|r| std::mem::replace(r, leaving) != leaving);
            if changed && leaving {
                tracing::info!(%url, "CT log left the selection: reading it to its current tree size");
            } else if changed {
                tracing::info!(%url, "CT log selected again: followed as before");
            }
        }
        for log in logs {
            // a follower that already ended (retired) is started again
            if followed
                .get(&log.url)
                .is_some_and(|retire| !retire.is_closed())
            {
                continue;
            }
            tracing::info!(log = %log.description, url = %log.url, "following CT log");
            let (retire, retired) = tokio::sync::watch::channel(false);
            followed.insert(log.url.clone(), retire);
            let url = log.url.clone();
            let follower = follower::Follower::new(
                log.clone(),
                self.ct_client.clone(),
                self.settings.clone(),
                self.store.clone(),
                self.tx.clone(),
                self.metrics.clone(),
            );
            let shutdown = shutdown.clone();
            followers.spawn(async move {
                follower.run(shutdown, retired).await;
                url
            });
        }
    }

    /// The source state: how many logs are followed, and how many are
    /// being read to their end before they stop.
    fn report(&self, followed: &Followed) {
        let running = followed.values().filter(|r| !r.is_closed());
        let (leaving, staying): (Vec<_>, Vec<_>) = running.partition(|r| *r.borrow());
        let n = staying.len();
        let mut state = format!("following {n} log{}", if n == 1 { "" } else { "s" });
        if !leaving.is_empty() {
            state.push_str(&format!(
                ", {} left the selection and being read to their end",
                leaving.len()
            ));
        }
        self.state.set_state(&state, None);
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
