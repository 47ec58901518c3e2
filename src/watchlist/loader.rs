//! Where the list text comes from: the bundled example, a file, an HTTP(S)
//! URL (optional auth header) or a Cortex XSOAR list (XSOAR 6 and 8 paths).
//! Loaders return text only; parsing is [`super::Watchlist::parse`]'s job.

use super::{WatchlistSettings, XsoarListSettings};
use crate::config::Secret;
use crate::http::{strip_userinfo, without_url};
use std::path::PathBuf;

#[derive(Debug, thiserror::Error)]
pub enum LoadError {
    #[error("cannot read list file {path}: {source}")]
    File {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot fetch list from {url}: {reason}")]
    Http { url: String, reason: String },
    #[error("XSOAR has no list named {0:?}")]
    XsoarListMissing(String),
    #[error("list body is larger than the limit of {0} bytes")]
    TooLarge(usize),
    #[error("{0}")]
    Invalid(#[from] super::ListError),
    #[error(
        "the list is read from {0}; certsentry keeps a pushed list only in a file (set watchlist.path)"
    )]
    NotKept(String),
    #[error("cannot write list file {path}: {source}")]
    Write {
        path: String,
        source: std::io::Error,
    },
    #[error("no tenant has a good list ({0})")]
    Tenants(String),
    #[error("no tenant {0:?} is configured")]
    UnknownTenant(String),
    #[error("with [[tenants]], name the tenant whose list this is (?tenant=<id>)")]
    TenantNeeded,
    #[error("internal error: {0}")]
    Internal(String),
}

#[derive(Debug)]
pub enum ListLoader {
    Bundled,
    File(PathBuf),
    Url {
        url: String,
        header: String,
        value: Secret,
        client: reqwest::Client,
    },
    Xsoar {
        settings: XsoarListSettings,
        client: reqwest::Client,
    },
}

/// XSOAR's URL for an API `path` (`lists`, `lists/save`): XSOAR 8 puts the
/// public API under `/xsoar/public/v1`.
fn xsoar_url(s: &XsoarListSettings, path: &str) -> String {
    let base = s.base_url.trim_end_matches('/');
    if s.version == 8 {
        format!("{base}/xsoar/public/v1/{path}")
    } else {
        format!("{base}/{path}")
    }
}

/// A request to XSOAR's API with its API key (and key id, XSOAR 8) headers.
fn xsoar_request(
    s: &XsoarListSettings,
    client: &reqwest::Client,
    method: reqwest::Method,
    url: &str,
) -> reqwest::RequestBuilder {
    let req = client
        .request(method, url)
        .header("Authorization", s.api_key.expose())
        .header("Accept", "application/json");
    if s.api_key_id.is_empty() {
        req
    } else {
        req.header("x-xdr-auth-id", s.api_key_id.as_str())
    }
}

impl ListLoader {
    pub fn from_settings(s: &WatchlistSettings, client: reqwest::Client) -> ListLoader {
        if !s.xsoar.base_url.is_empty() {
            ListLoader::Xsoar {
                settings: s.xsoar.clone(),
                client,
            }
        } else if !s.url.is_empty() {
            ListLoader::Url {
                url: s.url.clone(),
                header: s.auth_header.clone(),
                value: s.auth_value.clone(),
                client,
            }
        } else if !s.path.as_os_str().is_empty() {
            ListLoader::File(s.path.clone())
        } else {
            ListLoader::Bundled
        }
    }

    /// Where the list comes from, without credentials.
    pub fn describe(&self) -> String {
        match self {
            ListLoader::Bundled => "bundled:lists/example.json".into(),
            ListLoader::File(p) => format!("file:{}", p.display()),
            ListLoader::Url { url, .. } => format!("url:{}", strip_userinfo(url)),
            ListLoader::Xsoar { settings, .. } => format!(
                "xsoar:{} list {:?}",
                strip_userinfo(&xsoar_url(settings, "lists")),
                settings.list_name
            ),
        }
    }

    /// Keep `text` (already validated) as the list the next fetch reads:
    /// only a file source can; it is replaced atomically (temporary file,
    /// fsync, rename), so a crash leaves the old list or the new one, and
    /// the version it replaces is kept as `<path>.previous`.
    pub(crate) async fn keep(&self, text: &str) -> Result<(), LoadError> {
        let ListLoader::File(path) = self else {
            return Err(LoadError::NotKept(self.describe()));
        };
        let write_err = |source| LoadError::Write {
            path: path.display().to_string(),
            source,
        };
        let mut tmp = path.as_os_str().to_owned();
        tmp.push(".pushed");
        let tmp = PathBuf::from(tmp);
        let mut previous = path.as_os_str().to_owned();
        previous.push(".previous");
        let (tmp2, text, current) = (tmp.clone(), text.to_owned(), path.clone());
        tokio::task::spawn_blocking(move || {
            use std::io::Write;
            let mut f = std::fs::File::create(&tmp2)?;
            f.write_all(text.as_bytes())?;
            f.sync_all()?;
            // the version being replaced stays beside it, for a rollback
            match std::fs::copy(&current, PathBuf::from(previous)) {
                Ok(_) => Ok(()),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(()),
                Err(e) => Err(e),
            }
        })
        .await
        .map_err(|e| LoadError::Internal(e.to_string()))?
        .map_err(write_err)?;
        tokio::fs::rename(&tmp, path).await.map_err(write_err)
    }

    pub async fn fetch(&self, max_bytes: usize) -> Result<String, LoadError> {
        match self {
            ListLoader::Bundled => Ok(super::EXAMPLE_LIST.to_owned()),
            ListLoader::File(path) => {
                let text =
                    tokio::fs::read_to_string(path)
                        .await
                        .map_err(|source| LoadError::File {
                            path: path.display().to_string(),
                            source,
                        })?;
                Ok(text)
            }
            ListLoader::Url {
                url,
                header,
                value,
                client,
            } => {
                let mut req = client.get(url);
                if !header.is_empty() {
                    req = req.header(header.as_str(), value.expose());
                }
                get_text(req, url, max_bytes).await
            }
            ListLoader::Xsoar { settings, client } => {
                let lists_url = &xsoar_url(settings, "lists");
                let list_name = &settings.list_name;
                let req = xsoar_request(settings, client, reqwest::Method::GET, lists_url);
                // XSOAR returns every list; allow room beyond the one we want.
                let body = get_text(req, lists_url, max_bytes.saturating_mul(4)).await?;
                let lists: Vec<serde_json::Value> =
                    serde_json::from_str(&body).map_err(|e| LoadError::Http {
                        url: strip_userinfo(lists_url),
                        reason: format!("unexpected answer to GET lists: {e}"),
                    })?;
                let entry = lists
                    .iter()
                    .find(|l| {
                        l.get("name").and_then(|n| n.as_str()) == Some(list_name)
                            || l.get("id").and_then(|n| n.as_str()) == Some(list_name)
                    })
                    .ok_or_else(|| LoadError::XsoarListMissing(list_name.clone()))?;
                match entry.get("data") {
                    Some(serde_json::Value::String(s)) => Ok(s.clone()),
                    // some versions return the parsed JSON for JSON-typed lists
                    Some(other @ serde_json::Value::Object(_)) => Ok(other.to_string()),
                    _ => Err(LoadError::Http {
                        url: strip_userinfo(lists_url),
                        reason: format!("list {list_name:?} has no data"),
                    }),
                }
            }
        }
    }
}

/// Most characters an XSOAR list holds.
pub(crate) const XSOAR_LIST_MAX_CHARS: usize = 209_715;

/// Store `data` as the JSON list `name` in XSOAR (`POST <base>/lists/save`).
pub(crate) async fn save_xsoar_list(
    s: &XsoarListSettings,
    client: &reqwest::Client,
    name: &str,
    data: &str,
) -> Result<(), LoadError> {
    let url = xsoar_url(s, "lists/save");
    let req = xsoar_request(s, client, reqwest::Method::POST, &url)
        .json(&serde_json::json!({"name": name, "data": data, "type": "JSON", "version": -1}));
    let err = |reason: String| LoadError::Http {
        url: strip_userinfo(&url),
        reason,
    };
    let resp = req.send().await.map_err(|e| err(without_url(&e)))?;
    if !resp.status().is_success() {
        return Err(err(format!("HTTP {}", resp.status())));
    }
    Ok(())
}

async fn get_text(
    req: reqwest::RequestBuilder,
    url: &str,
    max_bytes: usize,
) -> Result<String, LoadError> {
    let err = |reason: String| LoadError::Http {
        url: strip_userinfo(url),
        reason,
    };
    let mut resp = req.send().await.map_err(|e| err(without_url(&e)))?;
    if !resp.status().is_success() {
        return Err(err(format!("HTTP {}", resp.status())));
    }
    if resp
        .content_length()
        .is_some_and(|l| l as usize > max_bytes)
    {
        return Err(LoadError::TooLarge(max_bytes));
    }
    let mut body = Vec::new();
    while let Some(chunk) = resp.chunk().await.map_err(|e| err(without_url(&e)))? {
        if body.len() + chunk.len() > max_bytes {
            return Err(LoadError::TooLarge(max_bytes));
        }
        body.extend_from_slice(&chunk);
    }
    String::from_utf8(body).map_err(|_| err("body is not UTF-8".into()))
}
