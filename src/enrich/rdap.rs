//! `rdap`: who registered the lookalike's registrable domain, and when;
//! and for each address DNS found, the network it is in (range, name,
//! country, holder, abuse e-mail), as scanhost reports it. The RDAP server
//! of the TLD, or of the address's range, comes from IANA's bootstrap
//! files (`enrichment.rdap.bootstrap_url`, `ipv4_bootstrap_url`,
//! `ipv6_bootstrap_url`, re-read every `bootstrap_refresh`); answers are
//! kept per domain and per address for `cache_for`. Only addresses the
//! guard permits are looked up (a private address has no registry). A 429 (or 509) puts that
//! server on hold for its `Retry-After` (60 s when it gives none) and
//! leaves the result `pending`, retried at the next check: a rate limit
//! never fails the incident. A TLD without RDAP is asked by port-43
//! WHOIS instead ([`super::whois`], `enrichment.rdap.whois`), paced and
//! held the same way; one with neither is `skipped`.

use super::{Finding, Findings, Target};
use crate::config::{ConfigError, require_http_url, require_positive};
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// `[enrichment.rdap]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RdapSettings {
    pub enabled: bool,
    /// IANA's RDAP bootstrap file for domains (RFC 9224).
    pub bootstrap_url: String,
    /// ... and for IPv4 and IPv6 ranges; empty: no address lookups.
    pub ipv4_bootstrap_url: String,
    pub ipv6_bootstrap_url: String,
    #[serde(with = "crate::config::duration")]
    pub bootstrap_refresh: Duration,
    /// How long a domain's answer is kept.
    #[serde(with = "crate::config::duration")]
    pub cache_for: Duration,
    #[serde(with = "crate::config::duration")]
    pub timeout: Duration,
    /// Requests a second to any one RDAP server, at most (registries
    /// publish limits of a few a second; a 429 holds the server anyway).
    pub per_server_per_second: f64,
    /// Port-43 WHOIS for the TLDs without RDAP.
    pub whois: bool,
    /// IANA's WHOIS (`host` or `host:port`), asked which server a TLD has.
    pub whois_referral: String,
    /// TLD → its WHOIS server (`host` or `host:port`), ahead of IANA's answer.
    pub whois_servers: std::collections::BTreeMap<String, String>,
}

impl Default for RdapSettings {
    fn default() -> Self {
        RdapSettings {
            enabled: true,
            bootstrap_url: "https://data.iana.org/rdap/dns.json".into(),
            ipv4_bootstrap_url: "https://data.iana.org/rdap/ipv4.json".into(),
            ipv6_bootstrap_url: "https://data.iana.org/rdap/ipv6.json".into(),
            bootstrap_refresh: Duration::from_secs(24 * 3600),
            cache_for: Duration::from_secs(24 * 3600),
            timeout: Duration::from_secs(10),
            per_server_per_second: 5.0,
            whois: true,
            whois_referral: "whois.iana.org:43".into(),
            whois_servers: Default::default(),
        }
    }
}

impl RdapSettings {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        require_http_url("enrichment.rdap.bootstrap_url", &self.bootstrap_url, false)?;
        require_http_url(
            "enrichment.rdap.ipv4_bootstrap_url",
            &self.ipv4_bootstrap_url,
            true,
        )?;
        require_http_url(
            "enrichment.rdap.ipv6_bootstrap_url",
            &self.ipv6_bootstrap_url,
            true,
        )?;
        require_positive(&[
            ("enrichment.rdap.bootstrap_refresh", self.bootstrap_refresh),
            ("enrichment.rdap.cache_for", self.cache_for),
            ("enrichment.rdap.timeout", self.timeout),
        ])?;
        if self.whois && self.whois_referral.trim().is_empty() && self.whois_servers.is_empty() {
            return Err(crate::config::invalid(
                "enrichment.rdap.whois_referral",
                "is needed with whois = true (or name each TLD's server in whois_servers)",
            ));
        }
        for (tld, server) in &self.whois_servers {
            let plain = |t: &str| !t.is_empty() && !t.contains('.') && t == t.to_ascii_lowercase();
            if !plain(tld) || server.trim().is_empty() || server.contains('/') {
                return Err(crate::config::invalid(
                    format!("enrichment.rdap.whois_servers.{tld}"),
                    "keys are lower-case TLDs without a dot, values host or host:port",
                ));
            }
        }
        super::pace::check_rate(
            "enrichment.rdap.per_server_per_second",
            self.per_server_per_second,
        )
    }
}

/// TLD → RDAP base URLs.
type Bootstrap = std::sync::Arc<HashMap<String, Vec<String>>>;

/// Address ranges → RDAP base URLs.
type RangeBootstrap = std::sync::Arc<Vec<(ipnet::IpNet, String)>>;

#[derive(Default)]
struct Cache {
    bootstrap: Option<(Bootstrap, Instant)>,
    ranges: HashMap<&'static str, (RangeBootstrap, Instant)>,
    addresses: HashMap<IpAddr, (Value, Instant)>,
    domains: HashMap<String, (Value, Instant)>,
    /// Servers that answered 429, until when.
    held: HashMap<String, Instant>,
    /// TLD → its WHOIS server as IANA named it (`None`: it has none).
    whois_servers: HashMap<String, (Option<String>, Instant)>,
}

pub(super) struct Rdap {
    settings: RdapSettings,
    guard: super::guard::Guard,
    client: reqwest::Client,
    cache: Mutex<Cache>,
    /// `per_server_per_second`, per host:port.
    pacer: super::pace::Pacer,
    /// Domains and addresses the cache answered.
    hits: AtomicU64,
    /// Held while the bootstrap file is fetched: one fetch, however many
    /// checks need it at once.
    fetching: tokio::sync::Mutex<()>,
}

/// Why a lookup has no answer yet.
enum Miss {
    Limited(String),
    Failed(String),
}

impl Rdap {
    pub(super) fn new(
        settings: RdapSettings,
        guard: super::guard::Guard,
        user_agent: &str,
    ) -> Result<Rdap, String> {
        let client = reqwest::Client::builder()
            .user_agent(user_agent)
            .timeout(settings.timeout)
            .build()
            .map_err(|e| e.to_string())?;
        let pacer = super::pace::Pacer::new(
            settings.per_server_per_second,
            settings.timeout,
            "enrichment.rdap.per_server_per_second",
        );
        Ok(Rdap {
            settings,
            guard,
            client,
            cache: Mutex::new(Cache::default()),
            pacer,
            hits: AtomicU64::new(0),
            fetching: tokio::sync::Mutex::new(()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Cache> {
        self.cache.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn cached_bootstrap(&self) -> Option<Bootstrap> {
        self.lock()
            .bootstrap
            .as_ref()
            .filter(|(_, at)| at.elapsed() < self.settings.bootstrap_refresh)
            .map(|(b, _)| b.clone())
    }

    async fn bootstrap(&self) -> Result<Bootstrap, Miss> {
        if let Some(b) = self.cached_bootstrap() {
            return Ok(b);
        }
        let _one = self.fetching.lock().await;
        if let Some(b) = self.cached_bootstrap() {
            return Ok(b);
        }
        let doc: Value = self.get(&self.settings.bootstrap_url).await?;
        let mut map = HashMap::new();
        for service in doc["services"].as_array().into_iter().flatten() {
            let tlds = service[0].as_array().into_iter().flatten();
            let urls: Vec<String> = service[1]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .map(str::to_owned)
                .collect();
            // prefer HTTPS servers
            let mut urls = urls;
            urls.sort_by_key(|u| !u.starts_with("https://"));
            for tld in tlds.filter_map(Value::as_str) {
                map.insert(tld.to_ascii_lowercase(), urls.clone());
            }
        }
        if map.is_empty() {
            return Err(Miss::Failed(
                "the RDAP bootstrap file lists no services".into(),
            ));
        }
        let map = Bootstrap::new(map);
        self.lock().bootstrap = Some((map.clone(), Instant::now()));
        Ok(map)
    }

    /// The ranges of `family` (`ipv4` or `ipv6`) and their servers.
    async fn ranges(&self, family: &'static str) -> Result<RangeBootstrap, Miss> {
        let fresh = |c: &Cache| {
            c.ranges
                .get(family)
                .filter(|(_, at)| at.elapsed() < self.settings.bootstrap_refresh)
                .map(|(r, _)| r.clone())
        };
        if let Some(r) = fresh(&self.lock()) {
            return Ok(r);
        }
        let _one = self.fetching.lock().await;
        if let Some(r) = fresh(&self.lock()) {
            return Ok(r);
        }
        let url = if family == "ipv4" {
            &self.settings.ipv4_bootstrap_url
        } else {
            &self.settings.ipv6_bootstrap_url
        };
        let doc = self.get(url).await?;
        let mut ranges = Vec::new();
        for service in doc["services"].as_array().into_iter().flatten() {
            let mut urls: Vec<&str> = service[1]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            urls.sort_by_key(|u| !u.starts_with("https://"));
            let Some(base) = urls.first() else { continue };
            for range in service[0]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
            {
                if let Ok(net) = range.parse::<ipnet::IpNet>() {
                    ranges.push((net, (*base).to_owned()));
                }
            }
        }
        // the most specific range first
        ranges.sort_by_key(|(n, _)| std::cmp::Reverse(n.prefix_len()));
        let ranges = RangeBootstrap::new(ranges);
        self.lock()
            .ranges
            .insert(family, (ranges.clone(), Instant::now()));
        Ok(ranges)
    }

    /// The network `ip` is in, from its registry (cached).
    async fn address(&self, ip: IpAddr) -> Result<Value, Miss> {
        if let Some((v, at)) = self.lock().addresses.get(&ip)
            && at.elapsed() < self.settings.cache_for
        {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return Ok(v.clone());
        }
        let family = if ip.is_ipv4() { "ipv4" } else { "ipv6" };
        let ranges = self.ranges(family).await?;
        let Some((_, base)) = ranges.iter().find(|(n, _)| n.contains(&ip)) else {
            return Ok(json!({"ip": ip, "found": false, "why": "no RDAP service for this range"}));
        };
        let url = format!("{}/ip/{ip}", base.trim_end_matches('/'));
        let obj = self.get(&url).await?;
        let v = if obj.is_null() {
            json!({"ip": ip, "found": false, "url": url})
        } else {
            let mut n = summarise_network(&obj);
            n["ip"] = json!(ip);
            n["url"] = json!(url);
            n
        };
        self.lock()
            .addresses
            .insert(ip, (v.clone(), Instant::now()));
        Ok(v)
    }

    /// Wait for `server`'s next request slot: refused while it holds us
    /// off, and left for the next check when the wait is longer than a
    /// request may take.
    async fn pace(&self, server: &str) -> Result<(), Miss> {
        if let Some(until) = self.lock().held.get(server)
            && Instant::now() < *until
        {
            return Err(Miss::Limited(format!("{server} asked to wait")));
        }
        self.pacer.wait(server).await.map_err(Miss::Limited)
    }

    /// One WHOIS question to `server`, paced; a "slow down" answer holds
    /// the server for a minute.
    async fn ask_whois(&self, server: &str, question: &str) -> Result<String, Miss> {
        self.pace(server).await?;
        match super::whois::query(server, question, &self.guard, self.settings.timeout).await {
            Ok(text) => Ok(text),
            Err(super::whois::WhoisMiss::Limited(why)) => {
                self.lock()
                    .held
                    .insert(server.to_owned(), Instant::now() + Duration::from_secs(60));
                Err(Miss::Limited(why))
            }
            Err(super::whois::WhoisMiss::Failed(e)) => Err(Miss::Failed(e)),
        }
    }

    /// The WHOIS server of `tld`: the configured one, else IANA's referral
    /// (kept per TLD for `bootstrap_refresh`); `None` when it has none.
    async fn whois_server(&self, tld: &str) -> Result<Option<String>, Miss> {
        if let Some(server) = self.settings.whois_servers.get(tld) {
            return Ok(Some(server.clone()));
        }
        let known = self
            .lock()
            .whois_servers
            .get(tld)
            .filter(|(_, at)| at.elapsed() < self.settings.bootstrap_refresh)
            .map(|(s, _)| s.clone());
        if let Some(named) = known {
            return Ok(named);
        }
        let iana = self.ask_whois(&self.settings.whois_referral, tld).await?;
        let named = super::whois::referral(&iana);
        self.lock()
            .whois_servers
            .insert(tld.to_owned(), (named.clone(), Instant::now()));
        Ok(named)
    }

    /// The registration of `domain` by port-43 WHOIS; `None` when WHOIS is
    /// off or the TLD has no WHOIS server either.
    async fn whois(&self, domain: &str, tld: &str) -> Result<Option<Value>, Miss> {
        if !self.settings.whois {
            return Ok(None);
        }
        let Some(server) = self.whois_server(tld).await? else {
            return Ok(None);
        };
        let text = self.ask_whois(&server, domain).await?;
        Ok(Some(super::whois::summarise(&text, &server)))
    }

    async fn get(&self, url: &str) -> Result<Value, Miss> {
        // a server is its host and port
        let host = reqwest::Url::parse(url)
            .ok()
            .and_then(|u| {
                let h = u.host_str()?.to_owned();
                Some(match u.port() {
                    Some(p) => format!("{h}:{p}"),
                    None => h,
                })
            })
            .unwrap_or_default();
        self.pace(&host).await?;
        let resp = self
            .client
            .get(url)
            .header(
                reqwest::header::ACCEPT,
                "application/rdap+json, application/json",
            )
            .send()
            .await
            .map_err(|e| Miss::Failed(format!("{url}: {e}")))?;
        let status = resp.status().as_u16();
        if status == 429 || status == 509 {
            let wait = resp
                .headers()
                .get(reqwest::header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok())
                .and_then(|v| v.trim().parse::<u64>().ok())
                .map_or(Duration::from_secs(60), Duration::from_secs)
                .min(Duration::from_secs(3600));
            self.lock().held.insert(host.clone(), Instant::now() + wait);
            return Err(Miss::Limited(format!("{host} answered {status}")));
        }
        if status == 404 {
            return Ok(Value::Null);
        }
        if !resp.status().is_success() {
            return Err(Miss::Failed(format!("{url}: HTTP {status}")));
        }
        let bytes = resp
            .bytes()
            .await
            .map_err(|e| Miss::Failed(format!("{url}: {e}")))?;
        if bytes.len() > 1024 * 1024 {
            return Err(Miss::Failed(format!("{url}: answer over 1 MiB")));
        }
        serde_json::from_slice(&bytes).map_err(|e| Miss::Failed(format!("{url}: not JSON: {e}")))
    }
}

/// A vCard property's value (`fn`, `email`) from an entity's `vcardArray`.
fn vcard(entity: &Value, prop: &str) -> Option<String> {
    entity["vcardArray"][1]
        .as_array()?
        .iter()
        .find(|p| p[0] == prop)
        .and_then(|p| p[3].as_str())
        .map(str::to_owned)
}

fn has_role(entity: &Value, role: &str) -> bool {
    entity["roles"]
        .as_array()
        .is_some_and(|r| r.iter().any(|x| x == role))
}

/// The fields analysts look at, from a domain object (RFC 9083).
pub(super) fn summarise(obj: &Value) -> Value {
    let event = |action: &str| {
        obj["events"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|e| e["eventAction"] == action)
            .and_then(|e| e["eventDate"].as_str())
            .map(str::to_owned)
    };
    let entities: Vec<&Value> = obj["entities"].as_array().into_iter().flatten().collect();
    let registrar = entities.iter().find(|e| has_role(e, "registrar"));
    let abuse = entities
        .iter()
        .copied()
        .chain(
            registrar
                .into_iter()
                .flat_map(|r| r["entities"].as_array().into_iter().flatten()),
        )
        .find(|e| has_role(e, "abuse"))
        .and_then(|e| vcard(e, "email"));
    let iana_id = registrar.and_then(|r| {
        r["publicIds"]
            .as_array()
            .into_iter()
            .flatten()
            .find(|p| p["type"] == "IANA Registrar ID")
            .and_then(|p| p["identifier"].as_str())
            .map(str::to_owned)
    });
    json!({
        "found": true,
        "handle": obj["handle"],
        "registrar": registrar.and_then(|r| vcard(r, "fn")),
        "registrar_iana_id": iana_id,
        "created": event("registration"),
        "updated": event("last changed"),
        "expires": event("expiration"),
        "status": obj["status"],
        "abuse_email": abuse,
        "nameservers": obj["nameservers"].as_array().into_iter().flatten()
            .filter_map(|n| n["ldhName"].as_str()).map(str::to_ascii_lowercase).collect::<Vec<_>>(),
    })
}

/// The fields scanhost reports, from an IP network object (RFC 9083 §5.4).
pub(super) fn summarise_network(obj: &Value) -> Value {
    let entities: Vec<&Value> = obj["entities"].as_array().into_iter().flatten().collect();
    let nested = || {
        entities.iter().copied().chain(
            entities
                .iter()
                .flat_map(|e| e["entities"].as_array().into_iter().flatten()),
        )
    };
    let holder = nested()
        .find(|e| has_role(e, "registrant"))
        .and_then(|e| vcard(e, "fn"));
    let abuse = nested()
        .find(|e| has_role(e, "abuse"))
        .and_then(|e| vcard(e, "email"));
    let cidrs: Vec<String> = obj["cidr0_cidrs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|c| {
            let prefix = c["v4prefix"].as_str().or_else(|| c["v6prefix"].as_str())?;
            Some(format!("{prefix}/{}", c["length"].as_u64()?))
        })
        .collect();
    json!({
        "found": true,
        "handle": obj["handle"],
        "name": obj["name"],
        "range": match (obj["startAddress"].as_str(), obj["endAddress"].as_str()) {
            (Some(a), Some(b)) => json!(format!("{a} - {b}")),
            _ => Value::Null,
        },
        "cidrs": cidrs,
        "country": obj["country"],
        "type": obj["type"],
        "holder": holder,
        "abuse_email": abuse,
    })
}

impl super::Enricher for Rdap {
    fn name(&self) -> &'static str {
        "rdap"
    }

    fn cache_hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    fn enrich<'a>(&'a self, target: &'a Target, found: &'a mut Findings) -> BoxFuture<'a, Finding> {
        Box::pin(async move {
            let domain = target.registrable.to_ascii_lowercase();
            let cached = {
                let c = self.lock();
                c.domains
                    .get(&domain)
                    .filter(|(_, at)| at.elapsed() < self.settings.cache_for)
                    .map(|(v, _)| v.clone())
            };
            let data = match cached {
                Some(v) => {
                    self.hits.fetch_add(1, Ordering::Relaxed);
                    v
                }
                None => {
                    let looked_up = async {
                        let bootstrap = self.bootstrap().await?;
                        let tld = domain.rsplit('.').next().unwrap_or_default();
                        let Some(base) = bootstrap.get(tld).and_then(|u| u.first()) else {
                            return self.whois(&domain, tld).await;
                        };
                        let url = format!("{}/domain/{domain}", base.trim_end_matches('/'));
                        let obj = self.get(&url).await?;
                        Ok(Some(if obj.is_null() {
                            json!({"found": false, "url": url})
                        } else {
                            let mut s = summarise(&obj);
                            s["url"] = json!(url);
                            s
                        }))
                    };
                    match looked_up.await {
                        Ok(Some(v)) => {
                            self.lock()
                                .domains
                                .insert(domain.clone(), (v.clone(), Instant::now()));
                            v
                        }
                        Ok(None) => {
                            let tld = domain.rsplit('.').next().unwrap_or_default();
                            let why = if self.settings.whois {
                                format!("no RDAP or WHOIS service for .{tld}")
                            } else {
                                format!("no RDAP service for .{tld} (enrichment.rdap.whois is off)")
                            };
                            return Finding::skipped(Value::Null, &why);
                        }
                        Err(Miss::Limited(why)) => return Finding::pending(&why),
                        Err(Miss::Failed(e)) => return Finding::error(e),
                    }
                }
            };
            let mut data = data;
            let mut networks = Vec::new();
            let mut pending = None;
            for ip in found
                .ips
                .iter()
                .copied()
                .filter(|ip| self.guard.permits(*ip))
            {
                let family_off = if ip.is_ipv4() {
                    self.settings.ipv4_bootstrap_url.is_empty()
                } else {
                    self.settings.ipv6_bootstrap_url.is_empty()
                };
                if family_off {
                    continue;
                }
                match self.address(ip).await {
                    Ok(n) => networks.push(n),
                    Err(Miss::Limited(why)) => pending = Some(why),
                    Err(Miss::Failed(e)) => networks.push(json!({"ip": ip, "error": e})),
                }
            }
            if !networks.is_empty() {
                data["networks"] = json!(networks);
            }
            found.registration = Some(match data["created"].as_str() {
                _ if data["found"] == false => super::NOT_FOUND.to_owned(),
                Some(date) => date.to_owned(),
                None => "registered".to_owned(),
            });
            if let Some(why) = pending {
                // what was found stays; the rest comes at the next check
                let mut f = Finding::pending(&why);
                f.data = data;
                return f;
            }
            Finding::ok(data)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_domain_object_gives_registrar_dates_and_abuse_contact() {
        let obj = json!({
            "objectClassName": "domain", "handle": "2336799_DOMAIN_COM-VRSN", "ldhName": "PAYPA1.COM",
            "status": ["client transfer prohibited"],
            "events": [
                {"eventAction": "registration", "eventDate": "2026-11-30T10:00:00Z"},
                {"eventAction": "expiration", "eventDate": "2027-11-30T10:00:00Z"},
                {"eventAction": "last changed", "eventDate": "2026-12-01T10:00:00Z"}],
            "entities": [{"objectClassName": "entity", "roles": ["registrar"],
                "publicIds": [{"type": "IANA Registrar ID", "identifier": "1068"}],
                "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["fn", {}, "text", "NameCheap, Inc."]]],
                "entities": [{"objectClassName": "entity", "roles": ["abuse"],
                    "vcardArray": ["vcard", [["version", {}, "text", "4.0"], ["email", {}, "text", "abuse@namecheap.com"]]]}]}],
            "nameservers": [{"objectClassName": "nameserver", "ldhName": "DNS1.REGISTRAR-SERVERS.COM"}]
        });
        let s = summarise(&obj);
        assert_eq!(s["registrar"], "NameCheap, Inc.");
        assert_eq!(s["registrar_iana_id"], "1068");
        assert_eq!(s["created"], "2026-11-30T10:00:00Z");
        assert_eq!(s["expires"], "2027-11-30T10:00:00Z");
        assert_eq!(s["abuse_email"], "abuse@namecheap.com");
        assert_eq!(s["nameservers"][0], "dns1.registrar-servers.com");
        assert_eq!(summarise(&json!({}))["registrar"], Value::Null);
    }
}
