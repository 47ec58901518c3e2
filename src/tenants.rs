//! `[[tenants]]`: the customers one deployment protects (an MSSP's). Each
//! tenant has its own list (a file, a URL or an XSOAR list), its own
//! allowlist and its own sinks; incidents carry the tenant.
//!
//! All tenants' lists are read by one reload loop ([`TenantLists`]) and
//! travel as one bundle (`{"tenants": {"acme": {list}, ...}}`, see
//! `watchlist::format`), compiled into one matcher: a brand several tenants
//! list is compiled once, and each verdict becomes one incident per tenant
//! listing its brand. One tenant's broken list keeps that tenant's last
//! good one; the others' changes still load.
//!
//! The top-level `[watchlist]` is the `default` tenant's list: always
//! without `[[tenants]]` (today's single-tenant service), and beside them
//! when it names a source of its own (`path`, `url` or `xsoar`).

use crate::config::{ConfigError, Secret, invalid, require_http_url};
use crate::domain::Fqdn;
use crate::model::unix_now;
use crate::parallel::lock;
use crate::watchlist::{
    DEFAULT_TENANT, ListLoader, LoadError, TENANTS_KEY, Watchlist, WatchlistSettings,
    XsoarListSettings, valid_tenant_id,
};
use serde::{Deserialize, Serialize};
use std::collections::{HashMap, HashSet};
use std::path::PathBuf;
use std::sync::Mutex;

/// One `[[tenants]]` entry.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantSettings {
    /// 1 to 32 of `a-z 0-9 _ -`; in incidents, bus subjects and URLs.
    pub id: String,
    /// What the console shows; the id when empty.
    pub name: String,
    /// Where the tenant's list comes from (one of `path`, `url`, `xsoar`).
    pub list: TenantListSettings,
    /// Domains that are the tenant's own: names under them raise nothing
    /// for this tenant (other tenants still see them).
    pub allowlist: Vec<String>,
    /// Names of `[[sinks]]` that get this tenant's incidents. A sink a
    /// tenant names gets only the incidents of the tenants naming it;
    /// empty means the sinks no tenant names (the default tenant's).
    pub sinks: Vec<String>,
}

/// `[tenants.list]`: the source keys of `[watchlist]`; the reload interval
/// and size limit are `[watchlist]`'s.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantListSettings {
    pub path: PathBuf,
    pub url: String,
    pub auth_header: String,
    pub auth_value: Secret,
    pub xsoar: XsoarListSettings,
}

impl Default for TenantListSettings {
    fn default() -> Self {
        let top = WatchlistSettings::default();
        TenantListSettings {
            path: PathBuf::new(),
            url: String::new(),
            auth_header: String::new(),
            auth_value: Secret::default(),
            xsoar: top.xsoar,
        }
    }
}

impl TenantListSettings {
    /// As `[watchlist]` settings, with the top level's interval and limit.
    fn watchlist(&self, top: &WatchlistSettings) -> WatchlistSettings {
        WatchlistSettings {
            path: self.path.clone(),
            url: self.url.clone(),
            auth_header: self.auth_header.clone(),
            auth_value: self.auth_value.clone(),
            xsoar: self.xsoar.clone(),
            ..top.clone()
        }
    }
}

/// Whether `[watchlist]` names a source of its own (not the bundled list).
fn has_source(w: &WatchlistSettings) -> bool {
    !w.path.as_os_str().is_empty() || !w.url.is_empty() || !w.xsoar.base_url.is_empty()
}

/// Whether the default tenant has a list: always without tenants; with
/// them, when `[watchlist]` names a source.
pub(crate) fn default_tenant_listed(tenants: &[TenantSettings], top: &WatchlistSettings) -> bool {
    tenants.is_empty() || has_source(top)
}

/// Check every `[[tenants]]` entry against the configured sink names;
/// gives each tenant's parsed allowlist (what the matcher holds).
pub(crate) fn validate(
    tenants: &[TenantSettings],
    top: &WatchlistSettings,
    sink_names: &[String],
) -> Result<Vec<(String, Vec<Fqdn>)>, ConfigError> {
    let mut seen = HashSet::new();
    let mut allowlists = Vec::with_capacity(tenants.len());
    for (i, t) in tenants.iter().enumerate() {
        let key = |k: &str| format!("tenants[{i}].{k}");
        valid_tenant_id(&t.id).map_err(|e| invalid(key("id"), e))?;
        if t.id == DEFAULT_TENANT {
            return Err(invalid(
                key("id"),
                "\"default\" is the tenant of the top-level [watchlist]",
            ));
        }
        if !seen.insert(t.id.as_str()) {
            return Err(invalid(key("id"), format!("{:?} is used twice", t.id)));
        }
        let list = t.list.watchlist(top);
        if !has_source(&list) {
            return Err(invalid(
                key("list"),
                "set one of path, url and xsoar.base_url",
            ));
        }
        list.validate()
            .map_err(|e| invalid(key("list"), e.to_string()))?;
        require_http_url(&key("list.url"), &t.list.url, true)?;
        let allow = t
            .allowlist
            .iter()
            .enumerate()
            .map(|(j, a)| {
                Fqdn::parse_domain(a)
                    .map_err(|e| invalid(key(&format!("allowlist[{j}]")), e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        for (j, s) in t.sinks.iter().enumerate() {
            if !sink_names.contains(s) {
                return Err(invalid(
                    key(&format!("sinks[{j}]")),
                    format!("no [[sinks]] entry is named {s:?}"),
                ));
            }
        }
        allowlists.push((t.id.clone(), allow));
    }
    Ok(allowlists)
}

/// Which sinks get which tenant's incidents.
#[derive(Debug, Clone, Default)]
pub struct SinkRoutes {
    /// Sinks no tenant names: the default tenant's, and those of tenants
    /// naming none.
    unclaimed: Vec<String>,
    /// A tenant's own sinks, for tenants naming some.
    by_tenant: HashMap<String, Vec<String>>,
}

impl SinkRoutes {
    /// Routes over the configured `sinks`, as `tenants` name them.
    pub fn new(sinks: &[String], tenants: &[TenantSettings]) -> SinkRoutes {
        let claimed: HashSet<&str> = tenants
            .iter()
            .flat_map(|t| t.sinks.iter().map(String::as_str))
            .collect();
        SinkRoutes {
            unclaimed: sinks
                .iter()
                .filter(|s| !claimed.contains(s.as_str()))
                .cloned()
                .collect(),
            by_tenant: tenants
                .iter()
                .filter(|t| !t.sinks.is_empty())
                .map(|t| {
                    let own = sinks.iter().filter(|s| t.sinks.contains(s)).cloned();
                    (t.id.clone(), own.collect())
                })
                .collect(),
        }
    }

    /// Every tenant to every one of `sinks` (a matcher's outbox on a bus,
    /// whose one sink is the incidents' stream).
    pub fn everything(sinks: Vec<String>) -> SinkRoutes {
        SinkRoutes {
            unclaimed: sinks,
            by_tenant: HashMap::new(),
        }
    }

    /// The sinks `tenant`'s incidents go to.
    pub fn of(&self, tenant: &str) -> &[String] {
        self.by_tenant.get(tenant).unwrap_or(&self.unclaimed)
    }

    /// Whether `sink` gets `tenant`'s incidents.
    pub fn routes(&self, tenant: &str, sink: &str) -> bool {
        self.of(tenant).iter().any(|s| s == sink)
    }
}

/// What `/v1/status` shows about one tenant's list.
#[derive(Debug, Clone, Default, Serialize)]
pub struct TenantListStatus {
    pub tenant: String,
    /// Where it comes from (credentials never included).
    pub source: String,
    pub brands: usize,
    pub variants: usize,
    /// Unix seconds of the last good load of this tenant's list.
    pub loaded_at: Option<u64>,
    /// The last load's error; `None` when it succeeded. The tenant's last
    /// good list stays in use meanwhile.
    pub last_error: Option<String>,
}

/// Every tenant's list source, read together into one bundle.
#[derive(Debug)]
pub(crate) struct TenantLists {
    sources: Vec<(String, ListLoader)>,
    /// Per source: the last good text, its sha256, and the status.
    kept: Mutex<Vec<Kept>>,
}

#[derive(Debug, Default)]
struct Kept {
    text: Option<String>,
    sha: Option<[u8; 32]>,
    status: TenantListStatus,
}

impl TenantLists {
    /// The lists of `tenants`, after the default tenant's (`top`) when it
    /// has one.
    pub(crate) fn new(
        tenants: &[TenantSettings],
        top: &WatchlistSettings,
        client: reqwest::Client,
    ) -> TenantLists {
        let mut sources = Vec::new();
        if default_tenant_listed(tenants, top) {
            sources.push((
                DEFAULT_TENANT.to_owned(),
                ListLoader::from_settings(top, client.clone()),
            ));
        }
        for t in tenants {
            sources.push((
                t.id.clone(),
                ListLoader::from_settings(&t.list.watchlist(top), client.clone()),
            ));
        }
        let kept = sources
            .iter()
            .map(|(id, l)| Kept {
                status: TenantListStatus {
                    tenant: id.clone(),
                    source: l.describe(),
                    ..TenantListStatus::default()
                },
                ..Kept::default()
            })
            .collect();
        TenantLists {
            sources,
            kept: Mutex::new(kept),
        }
    }

    /// Keep `text` (a plain list, already validated) as `tenant`'s: only
    /// a tenant whose list is a file can.
    pub(crate) async fn keep(&self, tenant: &str, text: &str) -> Result<(), LoadError> {
        let (_, loader) = self
            .sources
            .iter()
            .find(|(id, _)| id == tenant)
            .ok_or_else(|| LoadError::UnknownTenant(tenant.to_owned()))?;
        loader.keep(text).await
    }

    /// `tenant`'s last good list, as its source gave it.
    pub(crate) fn text_of(&self, tenant: &str) -> Option<String> {
        lock(&self.kept)
            .iter()
            .find(|k| k.status.tenant == tenant)
            .and_then(|k| k.text.clone())
    }

    pub(crate) fn describe(&self) -> String {
        format!("{} tenants' lists", self.sources.len())
    }

    pub(crate) fn status(&self) -> Vec<TenantListStatus> {
        lock(&self.kept).iter().map(|k| k.status.clone()).collect()
    }

    /// Read every tenant's list; each that loads and validates replaces
    /// that tenant's last good one, each that fails keeps it (and says
    /// why in its status). The bundle of the good ones comes back; an
    /// error only when no tenant has a good list.
    pub(crate) async fn fetch(&self, max_bytes: usize) -> Result<String, LoadError> {
        let fetched = futures_util::future::join_all(
            self.sources
                .iter()
                .map(|(_, loader)| loader.fetch(max_bytes)),
        )
        .await;
        let mut checked = Vec::with_capacity(fetched.len());
        for (i, result) in fetched.into_iter().enumerate() {
            let known = lock(&self.kept).get(i).and_then(|k| k.sha);
            checked.push(match result {
                Ok(text) => validated(text, known, max_bytes).await,
                Err(e) => Err(e),
            });
        }
        let now = unix_now();
        let mut kept = lock(&self.kept);
        for (k, result) in kept.iter_mut().zip(checked) {
            match result {
                Ok(Checked::Same) => {
                    k.status.loaded_at = Some(now);
                    k.status.last_error = None;
                }
                Ok(Checked::New {
                    text,
                    sha,
                    brands,
                    variants,
                }) => {
                    k.text = Some(text);
                    k.sha = Some(sha);
                    k.status.brands = brands;
                    k.status.variants = variants;
                    k.status.loaded_at = Some(now);
                    k.status.last_error = None;
                }
                Err(e) => {
                    tracing::warn!(tenant = %k.status.tenant, error = %e,
                        "tenant's list not loaded; keeping its last good list");
                    k.status.last_error = Some(e.to_string());
                }
            }
        }
        let good: Vec<(&str, &str)> = kept
            .iter()
            .filter_map(|k| Some((k.status.tenant.as_str(), k.text.as_deref()?)))
            .collect();
        if good.is_empty() {
            let why: Vec<String> = kept
                .iter()
                .map(|k| {
                    format!(
                        "{}: {}",
                        k.status.tenant,
                        k.status.last_error.as_deref().unwrap_or("no list")
                    )
                })
                .collect();
            return Err(LoadError::Tenants(why.join("; ")));
        }
        Ok(bundle(&good))
    }
}

/// `{"tenants": {"<id>": <list>, ...}}` from lists already validated (JSON
/// objects), without parsing them again.
fn bundle(lists: &[(&str, &str)]) -> String {
    let size = lists
        .iter()
        .map(|(id, t)| id.len() + t.len() + 8)
        .sum::<usize>();
    let mut out = String::with_capacity(size + 16);
    out.push_str("{\"");
    out.push_str(TENANTS_KEY);
    out.push_str("\":{");
    for (i, (id, text)) in lists.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        // tenant ids are `a-z 0-9 _ -`: nothing to escape
        out.push('"');
        out.push_str(id);
        out.push_str("\":");
        out.push_str(text);
    }
    out.push_str("}}");
    out
}

enum Checked {
    /// The text the tenant's last good list was read from.
    Same,
    New {
        text: String,
        sha: [u8; 32],
        brands: usize,
        variants: usize,
    },
}

/// Parse a tenant's list off the runtime threads, unless it is the text
/// already in use. A tenant's list is a plain list.
async fn validated(
    text: String,
    known: Option<[u8; 32]>,
    max_bytes: usize,
) -> Result<Checked, LoadError> {
    tokio::task::spawn_blocking(move || {
        use sha2::Digest;
        let sha: [u8; 32] = sha2::Sha256::digest(text.as_bytes()).into();
        if known == Some(sha) {
            return Ok(Checked::Same);
        }
        let list = Watchlist::parse(&text, max_bytes)?;
        if !list.tenants.is_empty() {
            return Err(LoadError::Tenants(
                "a tenant's list is a plain list, not a bundle of tenants".into(),
            ));
        }
        Ok(Checked::New {
            brands: list.brands.len(),
            variants: list.variant_count(),
            text,
            sha,
        })
    })
    .await
    .map_err(|e| LoadError::Internal(e.to_string()))?
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tenant(id: &str, sinks: &[&str]) -> TenantSettings {
        TenantSettings {
            id: id.into(),
            list: TenantListSettings {
                path: format!("/tmp/{id}.json").into(),
                ..TenantListSettings::default()
            },
            sinks: sinks.iter().map(|s| s.to_string()).collect(),
            ..TenantSettings::default()
        }
    }

    #[test]
    fn routes_give_each_tenant_its_sinks_and_the_rest_the_unclaimed() {
        let sinks: Vec<String> = ["soc", "acme-xsoar", "shared"].map(String::from).to_vec();
        let tenants = [
            tenant("acme", &["acme-xsoar", "shared"]),
            tenant("globex", &["shared"]),
            tenant("initech", &[]),
        ];
        let r = SinkRoutes::new(&sinks, &tenants);
        assert_eq!(r.of("acme"), ["acme-xsoar", "shared"]);
        assert_eq!(r.of("globex"), ["shared"]);
        assert_eq!(r.of("initech"), ["soc"]);
        assert_eq!(r.of("default"), ["soc"]);
        assert!(r.routes("acme", "shared") && !r.routes("acme", "soc"));
        let all = SinkRoutes::everything(vec!["bus".into()]);
        assert_eq!(all.of("acme"), ["bus"]);
    }

    #[test]
    fn validation_names_the_tenant_and_the_key() {
        let top = WatchlistSettings::default();
        let sinks = vec!["soc".to_string()];
        let err = |t: TenantSettings| validate(&[t], &top, &sinks).unwrap_err().to_string();
        assert!(err(tenant("Acme", &[])).contains("tenants[0].id"));
        assert!(err(tenant("default", &[])).contains("top-level"));
        assert!(err(tenant("acme", &["nope"])).contains("tenants[0].sinks[0]"));
        let mut no_list = tenant("acme", &[]);
        no_list.list.path = PathBuf::new();
        assert!(err(no_list).contains("tenants[0].list"));
        let mut bad_allow = tenant("acme", &[]);
        bad_allow.allowlist = vec!["not a domain".into()];
        assert!(err(bad_allow).contains("tenants[0].allowlist[0]"));
        let twice = validate(&[tenant("a", &[]), tenant("a", &[])], &top, &sinks)
            .unwrap_err()
            .to_string();
        assert!(twice.contains("tenants[1].id"), "{twice}");
        // a private-section suffix is a valid allowlist entry
        let mut ok = tenant("acme", &["soc"]);
        ok.allowlist = vec!["acme.github.io".into()];
        let allow = validate(&[ok], &top, &sinks).unwrap();
        assert_eq!(allow[0].1[0].ascii(), "acme.github.io");
    }

    #[tokio::test]
    async fn a_broken_tenant_list_keeps_its_last_good_one_and_the_others_load() {
        let dir = tempfile::tempdir().unwrap();
        let (a, b) = (dir.path().join("a.json"), dir.path().join("b.json"));
        std::fs::write(&a, r#"{"acme.com": []}"#).unwrap();
        std::fs::write(&b, r#"{"globex.com": ["gl0bex"]}"#).unwrap();
        let mut ta = tenant("acme", &[]);
        ta.list.path = a.clone();
        let mut tb = tenant("globex", &[]);
        tb.list.path = b.clone();
        let lists = TenantLists::new(
            &[ta, tb],
            &WatchlistSettings::default(),
            reqwest::Client::new(),
        );
        let w = Watchlist::parse(&lists.fetch(1 << 20).await.unwrap(), 1 << 20).unwrap();
        assert_eq!(w.tenants, ["acme", "globex"]);

        std::fs::write(&a, r#"{"acme.com": [1]}"#).unwrap();
        std::fs::write(&b, r#"{"globex.com": [], "globex.de": []}"#).unwrap();
        let w = Watchlist::parse(&lists.fetch(1 << 20).await.unwrap(), 1 << 20).unwrap();
        assert_eq!(
            w.brands.len(),
            3,
            "acme's last good list and globex's new one"
        );
        let status = lists.status();
        assert!(status[0].last_error.as_deref().unwrap().contains("item 0"));
        assert_eq!(
            (status[1].brands, status[1].last_error.as_deref()),
            (2, None)
        );

        std::fs::remove_file(&b).unwrap();
        std::fs::write(&a, r#"{"tenants": {"x": {"a.com": []}}}"#).unwrap();
        let w = Watchlist::parse(&lists.fetch(1 << 20).await.unwrap(), 1 << 20).unwrap();
        assert_eq!(w.brands.len(), 3);
        assert!(
            lists.status()[0]
                .last_error
                .as_deref()
                .unwrap()
                .contains("plain list")
        );
    }
}
