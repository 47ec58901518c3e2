//! `http`: is the lookalike live, and what does it serve? Only when DNS
//! found a public address. Every hop of a redirect chain is resolved, put
//! through the guard and fetched from the address that was checked (the
//! connection is pinned to it: a second DNS answer cannot rebind it).
//! Bodies, redirects and time are capped.
//!
//! Verdicts: `live`, `down`, `parked` (parking nameservers or phrases),
//! `redirects_to_brand` (probably a defensive registration), `login_form`
//! (a password field). The body's TLSH is compared with the brand's own
//! page (fetched the same way, kept for `brand_refresh`): `similar_to_brand`.

use super::guard::Guard;
use super::{Finding, Findings, Target};
use crate::config::{ConfigError, invalid, require_positive};
use futures_util::future::BoxFuture;
use hickory_resolver::TokioResolver;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::collections::HashMap;
use std::net::{IpAddr, SocketAddr};
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// `[enrichment.http]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct HttpProbeSettings {
    pub enabled: bool,
    /// For the whole fetch, redirects included.
    #[serde(with = "crate::config::duration")]
    pub timeout: Duration,
    pub max_body_bytes: usize,
    pub max_redirects: usize,
    /// Ports tried for `https://` and `http://` (tests point them at a local server).
    pub https_port: u16,
    pub http_port: u16,
    /// TLSH distance at or under which a page counts as the brand's.
    pub similar_below: i32,
    /// How long a brand's own page is kept before it is fetched again.
    #[serde(with = "crate::config::duration")]
    pub brand_refresh: Duration,
    /// Requests a second to any one address (every hop and try counts), at most.
    pub per_address_per_second: f64,
}

impl Default for HttpProbeSettings {
    fn default() -> Self {
        HttpProbeSettings {
            enabled: true,
            timeout: Duration::from_secs(15),
            max_body_bytes: 2 * 1024 * 1024,
            max_redirects: 5,
            https_port: 443,
            http_port: 80,
            similar_below: 100,
            brand_refresh: Duration::from_secs(24 * 3600),
            per_address_per_second: 5.0,
        }
    }
}

impl HttpProbeSettings {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        require_positive(&[
            ("enrichment.http.timeout", self.timeout),
            ("enrichment.http.brand_refresh", self.brand_refresh),
        ])?;
        if self.max_body_bytes == 0 || self.max_body_bytes > 16 * 1024 * 1024 {
            return Err(invalid(
                "enrichment.http.max_body_bytes",
                "must be 1 to 16 MiB",
            ));
        }
        super::pace::check_rate(
            "enrichment.http.per_address_per_second",
            self.per_address_per_second,
        )?;
        if self.max_redirects > 10 {
            return Err(invalid(
                "enrichment.http.max_redirects",
                "must be at most 10",
            ));
        }
        if self.https_port == 0 || self.http_port == 0 {
            return Err(invalid("enrichment.http", "ports must not be 0"));
        }
        Ok(())
    }
}

/// Phrases parking pages carry.
const PARKED_PHRASES: &[&str] = &[
    "this domain is for sale",
    "this domain may be for sale",
    "buy this domain",
    "domain is parked",
    "parked free",
    "parked domain",
    "domain parking",
    "is available for purchase",
    "the domain owner",
    "related searches",
];

/// Nameservers of parking services (suffixes).
const PARKING_NS: &[&str] = &[
    "sedoparking.com",
    "parkingcrew.net",
    "bodis.com",
    "above.com",
    "dan.com",
    "afternic.com",
    "parklogic.com",
    "domaincontrol.com.parked",
    "uniregistrymarket.link",
    "ztomy.com",
    "namebrightdns.com",
    "park.do",
];

/// One fetched page.
#[derive(Debug, Default)]
struct Page {
    url: String,
    final_url: String,
    ip: Option<IpAddr>,
    /// The address the last hop was fetched from.
    final_ip: Option<IpAddr>,
    status: u16,
    redirects: Vec<String>,
    server: Option<String>,
    tls_valid: Option<bool>,
    body: Vec<u8>,
}

/// The brand's page, as kept for `brand_refresh`.
#[derive(Debug, Clone, Default)]
struct Baseline {
    hash: Option<String>,
    /// Final URL and the address it was fetched from.
    at: Option<(String, IpAddr)>,
}

/// Why nothing was fetched.
enum NoPage {
    /// Every address of a hop is private: the guard refused it.
    Blocked {
        host: String,
        ips: Vec<IpAddr>,
    },
    /// Over `per_address_per_second`: left for the next check.
    Limited(String),
    Failed(String),
}

pub(super) struct HttpProbe {
    settings: HttpProbeSettings,
    resolver: TokioResolver,
    guard: Guard,
    user_agent: String,
    /// The brands' own pages: TLSH and when fetched.
    baselines: Mutex<HashMap<String, (Baseline, Instant)>>,
    /// `per_address_per_second`, per address.
    pacer: super::pace::Pacer,
    /// Brand pages the cache answered.
    hits: AtomicU64,
}

impl HttpProbe {
    pub(super) fn new(
        settings: HttpProbeSettings,
        resolver: TokioResolver,
        guard: Guard,
        user_agent: String,
    ) -> HttpProbe {
        HttpProbe {
            pacer: super::pace::Pacer::new(
                settings.per_address_per_second,
                settings.timeout,
                "enrichment.http.per_address_per_second",
            ),
            settings,
            resolver,
            guard,
            user_agent,
            baselines: Mutex::new(HashMap::new()),
            hits: AtomicU64::new(0),
        }
    }

    /// The addresses of `host` the guard permits, and all it had.
    async fn addresses(&self, host: &str, known: &[IpAddr]) -> (Vec<IpAddr>, Vec<IpAddr>) {
        let all: Vec<IpAddr> = if let Ok(ip) = host.trim_matches(['[', ']']).parse::<IpAddr>() {
            vec![ip]
        } else if !known.is_empty() {
            known.to_vec()
        } else {
            match self.resolver.lookup_ip(format!("{host}.").as_str()).await {
                Ok(l) => l.iter().collect(),
                Err(_) => Vec::new(),
            }
        };
        let ok = all
            .iter()
            .copied()
            .filter(|ip| self.guard.permits(*ip))
            .collect();
        (ok, all)
    }

    /// GET `start`, following redirects hop by hop, each through the guard.
    async fn fetch(&self, start: &str, known: &[IpAddr], verify_tls: bool) -> Result<Page, NoPage> {
        let mut page = Page {
            url: start.to_owned(),
            ..Page::default()
        };
        let mut url = reqwest::Url::parse(start).map_err(|e| NoPage::Failed(e.to_string()))?;
        let first_host = url.host_str().unwrap_or_default().to_owned();
        let deadline = Instant::now() + self.settings.timeout;
        for _hop in 0..=self.settings.max_redirects {
            let host = url.host_str().unwrap_or_default().to_owned();
            let port = url.port_or_known_default().unwrap_or(80);
            let hint = if host == first_host { known } else { &[] };
            let (ok, all) = self.addresses(&host, hint).await;
            let Some(ip) = ok.first().copied() else {
                return Err(if all.is_empty() {
                    NoPage::Failed(format!("{host} does not resolve"))
                } else {
                    NoPage::Blocked { host, ips: all }
                });
            };
            self.pacer
                .wait(&ip.to_string())
                .await
                .map_err(NoPage::Limited)?;
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return Err(NoPage::Failed("timed out".into()));
            }
            let client = reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .no_proxy()
                .resolve(&host, SocketAddr::new(ip, port))
                .timeout(left)
                .user_agent(&self.user_agent)
                .danger_accept_invalid_certs(!verify_tls)
                .build()
                .map_err(|e| NoPage::Failed(e.to_string()))?;
            let mut resp = client
                .get(url.clone())
                .send()
                .await
                .map_err(|e| NoPage::Failed(error_chain(&e)))?;
            page.ip.get_or_insert(ip);
            page.final_ip = Some(ip);
            if url.scheme() == "https" {
                page.tls_valid = Some(verify_tls);
            }
            let status = resp.status();
            page.status = status.as_u16();
            page.server = resp
                .headers()
                .get(reqwest::header::SERVER)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            if status.is_redirection()
                && let Some(next) = resp
                    .headers()
                    .get(reqwest::header::LOCATION)
                    .and_then(|v| v.to_str().ok())
                    .and_then(|loc| url.join(loc).ok())
                    .filter(|u| matches!(u.scheme(), "http" | "https"))
            {
                page.redirects.push(next.to_string());
                url = next;
                continue;
            }
            page.final_url = url.to_string();
            let cap = self.settings.max_body_bytes;
            while let Ok(Some(chunk)) = resp.chunk().await {
                let room = cap - page.body.len();
                page.body.extend_from_slice(&chunk[..chunk.len().min(room)]);
                if page.body.len() >= cap {
                    break;
                }
            }
            return Ok(page);
        }
        Err(NoPage::Failed(format!(
            "more than {} redirects",
            self.settings.max_redirects
        )))
    }

    /// HTTPS (verified, then unverified to tell a bad certificate), then HTTP.
    async fn probe(&self, host: &str, known: &[IpAddr]) -> Result<Page, NoPage> {
        let https = format!("https://{host}:{}/", self.settings.https_port);
        let http = format!("http://{host}:{}/", self.settings.http_port);
        let mut last = String::new();
        for (url, verify) in [(&https, true), (&https, false), (&http, true)] {
            match self.fetch(url, known, verify).await {
                Ok(p) => return Ok(p),
                Err(NoPage::Blocked { host, ips }) => return Err(NoPage::Blocked { host, ips }),
                Err(NoPage::Limited(why)) => return Err(NoPage::Limited(why)),
                Err(NoPage::Failed(e)) => last = format!("{url}: {e}"),
            }
        }
        Err(NoPage::Failed(last))
    }

    /// The brand's own page's TLSH, fetched at most every `brand_refresh`.
    /// The brand's own page: its TLSH and where it was fetched from.
    async fn baseline(&self, brand: &str) -> Baseline {
        if let Some((b, at)) = self.lock().get(brand)
            && at.elapsed() < self.settings.brand_refresh
        {
            self.hits.fetch_add(1, Ordering::Relaxed);
            return b.clone();
        }
        let b = match self.probe(brand, &[]).await {
            Ok(p) => Baseline {
                hash: tlsh(&p.body),
                at: p.final_ip.map(|ip| (p.final_url.clone(), ip)),
            },
            // paced: try again at the next check, not in a day
            Err(NoPage::Limited(_)) => return Baseline::default(),
            Err(_) => Baseline::default(),
        };
        self.lock()
            .insert(brand.to_owned(), (b.clone(), Instant::now()));
        b
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, (Baseline, Instant)>> {
        self.baselines.lock().unwrap_or_else(|p| p.into_inner())
    }
}

fn error_chain(e: &dyn std::error::Error) -> String {
    let mut s = e.to_string();
    let mut src = e.source();
    while let Some(inner) = src {
        s.push_str(": ");
        s.push_str(&inner.to_string());
        src = inner.source();
    }
    s
}

/// The body's TLSH (bodies under 50 bytes have none).
pub(super) fn tlsh(body: &[u8]) -> Option<String> {
    tlsh2::TlshDefaultBuilder::build_from(body)
        .map(|t| String::from_utf8_lossy(&t.hash()).into_owned())
}

/// TLSH distance between two hashes (0 = same; under ~100 = close).
pub(super) fn tlsh_distance(a: &str, b: &str) -> Option<i32> {
    let a: tlsh2::TlshDefault = a.parse().ok()?;
    let b: tlsh2::TlshDefault = b.parse().ok()?;
    Some(a.diff(&b, true))
}

/// The page's `<title>`, whitespace folded, at most 200 characters.
pub(super) fn title(body: &[u8]) -> Option<String> {
    let text = String::from_utf8_lossy(&body[..body.len().min(256 * 1024)]);
    let lower = text.to_ascii_lowercase();
    let open = lower.find("<title")?;
    let start = open + lower[open..].find('>')? + 1;
    let end = start + lower[start..].find("</title")?;
    let t: String = text[start..end]
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .replace("&amp;", "&")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'");
    (!t.is_empty()).then(|| t.chars().take(200).collect())
}

/// Whether the page has a password field.
pub(super) fn has_login_form(body: &[u8]) -> bool {
    let lower = String::from_utf8_lossy(body).to_ascii_lowercase();
    let squeezed: String = lower.chars().filter(|c| !c.is_whitespace()).collect();
    squeezed.contains("type=\"password\"")
        || squeezed.contains("type='password'")
        || squeezed.contains("type=password")
}

/// Whether the page or the zone's nameservers say "parked".
pub(super) fn is_parked(body: &[u8], ns: &[String]) -> bool {
    let on_parking_ns = ns.iter().any(|n| {
        let n = n.trim_end_matches('.').to_ascii_lowercase();
        PARKING_NS
            .iter()
            .any(|p| n == *p || n.ends_with(&format!(".{p}")))
    });
    if on_parking_ns {
        return true;
    }
    let lower = String::from_utf8_lossy(&body[..body.len().min(256 * 1024)]).to_ascii_lowercase();
    PARKED_PHRASES.iter().any(|p| lower.contains(p))
}

/// Whether `url`'s host is the brand's domain or one of its subdomains.
fn is_brand_url(url: &str, brand: &str) -> bool {
    reqwest::Url::parse(url)
        .ok()
        .and_then(|u| u.host_str().map(str::to_ascii_lowercase))
        .is_some_and(|h| h == brand || h.ends_with(&format!(".{brand}")))
}

impl super::Enricher for HttpProbe {
    fn cache_hits(&self) -> u64 {
        self.hits.load(Ordering::Relaxed)
    }

    fn name(&self) -> &'static str {
        "http"
    }

    fn enrich<'a>(&'a self, target: &'a Target, found: &'a mut Findings) -> BoxFuture<'a, Finding> {
        Box::pin(async move {
            let public: Vec<IpAddr> = found
                .ips
                .iter()
                .copied()
                .filter(|ip| self.guard.permits(*ip))
                .collect();
            if public.is_empty() {
                found.verdicts.push("down".into());
                let why = if found.ips.is_empty() {
                    "no address to fetch"
                } else {
                    "only private addresses: not fetched"
                };
                return Finding::skipped(
                    json!({"verdicts": ["down"], "addresses": found.ips}),
                    why,
                );
            }
            let page = match self.probe(&target.host, &public).await {
                Ok(p) => p,
                Err(NoPage::Blocked { host, ips }) => {
                    found.verdicts.push("down".into());
                    return Finding::skipped(
                        json!({"verdicts": ["down"], "blocked_host": host, "addresses": ips}),
                        "a redirect led to a private address: not fetched",
                    );
                }
                Err(NoPage::Limited(why)) => return Finding::pending(&why),
                Err(NoPage::Failed(e)) => {
                    found.verdicts.push("down".into());
                    let mut f = Finding::ok(json!({"verdicts": ["down"]}));
                    f.error = Some(e);
                    return f;
                }
            };
            let mut verdicts = vec!["live".to_owned()];
            if is_parked(&page.body, &found.ns) {
                verdicts.push("parked".into());
            }
            if page.final_url != page.url && is_brand_url(&page.final_url, &target.brand) {
                verdicts.push("redirects_to_brand".into());
            }
            let login = has_login_form(&page.body);
            if login {
                verdicts.push("login_form".into());
            }
            let hash = tlsh(&page.body);
            let mut distance = None;
            if !verdicts.iter().any(|v| v == "redirects_to_brand") {
                let base = self.baseline(&target.brand).await;
                found.brand_page = base.at.clone();
                if let (Some(h), Some(b)) = (&hash, &base.hash) {
                    distance = tlsh_distance(h, b);
                    if distance.is_some_and(|d| d <= self.settings.similar_below) {
                        verdicts.push("similar_to_brand".into());
                    }
                }
            }
            found.page = page.final_ip.map(|ip| (page.final_url.clone(), ip));
            found.verdicts.extend(verdicts.iter().cloned());
            found.page_hash = hash.clone();
            Finding::ok(json!({
                "url": page.url,
                "final_url": page.final_url,
                "ip": page.ip,
                "status": page.status,
                "redirects": page.redirects,
                "title": title(&page.body),
                "server": page.server,
                "tls_valid": page.tls_valid,
                "body_bytes": page.body.len(),
                "tlsh": hash,
                "brand_distance": distance,
                "verdicts": verdicts,
            }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn titles_login_forms_and_parking_are_read_from_the_page() {
        let page = b"<html><head><TITLE>\n PayPal &amp; Login </title></head>\
            <form><input name=p type = \"password\"></form>";
        assert_eq!(title(page).as_deref(), Some("PayPal & Login"));
        assert!(has_login_form(page));
        assert!(!has_login_form(b"<input type=\"text\">"));
        assert!(is_parked(b"<h1>This domain is for sale!</h1>", &[]));
        assert!(is_parked(b"", &["ns1.sedoparking.com".into()]));
        assert!(!is_parked(page, &["ns1.cloudflare.com".into()]));
        assert!(is_brand_url("https://www.paypal.com/signin", "paypal.com"));
        assert!(!is_brand_url("https://paypal.com.evil.top/", "paypal.com"));
    }

    #[test]
    fn near_copies_of_a_page_are_close_and_other_pages_are_not() {
        let brand: String = (0..40)
            .map(|i| {
                format!(
                    "<div class=row{i}>Send money, pay online, log in to your account {i}</div>\n"
                )
            })
            .collect();
        let clone = brand
            .replace("row7", "row7x")
            .replace("account 3", "acct 3");
        let other: String = (0..40)
            .map(|i| {
                format!(
                    "<p>Recipe {i}: tomatoes, basil and olive oil; bake for {} minutes.</p>\n",
                    i * 3
                )
            })
            .collect();
        let (b, c, o) = (
            tlsh(brand.as_bytes()).unwrap(),
            tlsh(clone.as_bytes()).unwrap(),
            tlsh(other.as_bytes()).unwrap(),
        );
        let near = tlsh_distance(&b, &c).unwrap();
        let far = tlsh_distance(&b, &o).unwrap();
        assert!(near < 100 && far > 100, "near {near}, far {far}");
    }
}
