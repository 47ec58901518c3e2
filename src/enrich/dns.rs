//! `dns`: what the lookalike's name and zone publish. The host's A, AAAA
//! and CNAME; the registrable domain's NS, MX, TXT (SPF), `_dmarc` TXT, CAA
//! and SOA. Asks the servers in `enrichment.dns.servers` (or the system's
//! resolvers when empty) through hickory-resolver; the addresses found are
//! what `http` and `asn` work from.

use super::{Finding, Findings, Target};
use crate::config::{ConfigError, invalid, require_positive};
use futures_util::future::BoxFuture;
use hickory_resolver::config::{NameServerConfig, ResolverConfig, ResolverOpts};
use hickory_resolver::net::runtime::TokioRuntimeProvider;
use hickory_resolver::net::{DnsError, NetError};
use hickory_resolver::proto::op::ResponseCode;
use hickory_resolver::proto::rr::{RData, RecordType};
use hickory_resolver::{Resolver, TokioResolver};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::net::{IpAddr, SocketAddr};
use std::time::Duration;

/// `[enrichment.dns]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct DnsSettings {
    pub enabled: bool,
    /// Resolvers as `ip:port`; empty means the system's (`/etc/resolv.conf`).
    pub servers: Vec<SocketAddr>,
    /// Per query.
    #[serde(with = "crate::config::duration")]
    pub timeout: Duration,
    /// Checks a second of any one zone (a lookalike's registrable domain;
    /// a check is its nine queries), at most.
    pub per_zone_per_second: f64,
}

impl Default for DnsSettings {
    fn default() -> Self {
        DnsSettings {
            enabled: true,
            servers: Vec::new(),
            timeout: Duration::from_secs(5),
            per_zone_per_second: 2.0,
        }
    }
}

impl DnsSettings {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        require_positive(&[("enrichment.dns.timeout", self.timeout)])?;
        if self.servers.iter().any(|s| s.port() == 0) {
            return Err(invalid("enrichment.dns.servers", "a port must not be 0"));
        }
        super::pace::check_rate(
            "enrichment.dns.per_zone_per_second",
            self.per_zone_per_second,
        )
    }

    /// The resolver every enricher shares (the `http` redirect checks too).
    pub(crate) fn resolver(&self) -> Result<TokioResolver, String> {
        let builder = if self.servers.is_empty() {
            Resolver::builder_tokio().map_err(|e| format!("system resolver: {e}"))?
        } else {
            let servers = self
                .servers
                .iter()
                .map(|s| {
                    let mut ns = NameServerConfig::udp_and_tcp(s.ip());
                    for c in &mut ns.connections {
                        c.port = s.port();
                    }
                    ns
                })
                .collect();
            Resolver::builder_with_config(
                ResolverConfig::from_name_servers(servers),
                TokioRuntimeProvider::default(),
            )
        };
        let mut opts = ResolverOpts::default();
        opts.timeout = self.timeout;
        opts.attempts = 2;
        // names are absolute: never append a search domain to one
        opts.ndots = 0;
        builder
            .with_options(opts)
            .build()
            .map_err(|e| format!("resolver: {e}"))
    }
}

pub(super) struct Dns {
    resolver: TokioResolver,
    /// `per_zone_per_second`, per registrable domain.
    pacer: super::pace::Pacer,
}

impl Dns {
    pub(super) fn new(resolver: TokioResolver, settings: &DnsSettings) -> Dns {
        Dns {
            resolver,
            pacer: super::pace::Pacer::new(
                settings.per_zone_per_second,
                settings.timeout,
                "enrichment.dns.per_zone_per_second",
            ),
        }
    }

    /// The records of one type: `Ok(None)` when the name does not exist.
    async fn records(&self, name: &str, rtype: RecordType) -> Result<Option<Vec<RData>>, String> {
        let fqdn = format!("{}.", name.trim_end_matches('.'));
        match self.resolver.lookup(fqdn.as_str(), rtype).await {
            Ok(lookup) => Ok(Some(
                lookup
                    .answers()
                    .iter()
                    .filter(|r| r.record_type() == rtype)
                    .map(|r| r.data.clone())
                    .collect(),
            )),
            Err(NetError::Dns(DnsError::NoRecordsFound(nr))) => {
                if nr.response_code == ResponseCode::NXDomain {
                    Ok(None)
                } else {
                    Ok(Some(Vec::new()))
                }
            }
            Err(e) => Err(format!("{rtype} {name}: {e}")),
        }
    }
}

fn text(data: &RData) -> String {
    match data {
        RData::TXT(t) => t
            .txt_data
            .iter()
            .map(|b| String::from_utf8_lossy(b).into_owned())
            .collect::<String>(),
        RData::MX(mx) => mx.exchange.to_ascii().trim_end_matches('.').to_owned(),
        RData::CNAME(c) => c.0.to_ascii().trim_end_matches('.').to_owned(),
        RData::NS(n) => n.0.to_ascii().trim_end_matches('.').to_owned(),
        other => other.to_string(),
    }
}

impl super::Enricher for Dns {
    fn name(&self) -> &'static str {
        "dns"
    }

    fn enrich<'a>(&'a self, target: &'a Target, found: &'a mut Findings) -> BoxFuture<'a, Finding> {
        Box::pin(async move {
            let host = &target.host;
            let zone = &target.registrable;
            if let Err(why) = self.pacer.wait(zone).await {
                return Finding::pending(&why);
            }
            let mut data = serde_json::Map::new();
            let mut errors = Vec::new();
            let mut exists = false;
            let dmarc = format!("_dmarc.{zone}");
            let queries: [(&str, &str, RecordType); 9] = [
                ("a", host, RecordType::A),
                ("aaaa", host, RecordType::AAAA),
                ("cname", host, RecordType::CNAME),
                ("ns", zone, RecordType::NS),
                ("mx", zone, RecordType::MX),
                ("txt", zone, RecordType::TXT),
                ("dmarc", &dmarc, RecordType::TXT),
                ("caa", zone, RecordType::CAA),
                ("soa", zone, RecordType::SOA),
            ];
            let lookups = futures_util::future::join_all(
                queries
                    .iter()
                    .map(|(_, name, rtype)| self.records(name, *rtype)),
            )
            .await;
            for ((key, _, _), result) in queries.iter().zip(lookups) {
                match result {
                    Ok(Some(records)) => {
                        exists = true;
                        if matches!(*key, "a" | "aaaa") {
                            for r in &records {
                                match r {
                                    RData::A(a) => found.ips.push(IpAddr::V4(a.0)),
                                    RData::AAAA(a) => found.ips.push(IpAddr::V6(a.0)),
                                    _ => {}
                                }
                            }
                        }
                        let mut values: Vec<String> = records.iter().map(text).collect();
                        if *key == "txt" {
                            values.retain(|t| t.to_ascii_lowercase().starts_with("v=spf1"));
                        }
                        if *key == "dmarc" {
                            values.retain(|t| t.to_ascii_lowercase().starts_with("v=dmarc1"));
                        }
                        let key = if *key == "txt" { "spf" } else { key };
                        data.insert(key.into(), json!(values));
                    }
                    Ok(None) => {
                        data.insert((*key).into(), json!([]));
                    }
                    Err(e) => errors.push(e),
                }
            }
            found.ips.sort();
            found.ips.dedup();
            let has = |k: &str| {
                data.get(k)
                    .and_then(Value::as_array)
                    .is_some_and(|v| !v.is_empty())
            };
            found.resolves = has("a") || has("aaaa");
            found.mx = has("mx");
            data.insert("exists".into(), json!(exists));
            if errors.len() == queries.len() {
                return Finding::error(errors.join("; "));
            }
            let mut f = Finding::ok(Value::Object(data));
            if !errors.is_empty() {
                f.error = Some(errors.join("; "));
            }
            f
        })
    }
}
