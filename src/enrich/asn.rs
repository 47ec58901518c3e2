//! `asn`: the network behind each address the lookalike resolves to: AS
//! number, AS name, the announced range and its country, from an iptoasn
//! TSV file the operator supplies (`ip2asn-combined.tsv` or the v4/v6
//! files from iptoasn.com: `start end asn country description` per line).
//! Nothing is asked of anyone: the lookup is local.

use super::{Finding, Findings, Target};
use crate::config::ConfigError;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};

/// `[enrichment.asn]`: off until `tsv` names a file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AsnSettings {
    /// An iptoasn TSV file (plain text).
    pub tsv: PathBuf,
}

impl AsnSettings {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        Ok(())
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum AsnError {
    #[error("enrichment.asn.tsv {path}: {problem}")]
    File { path: String, problem: String },
}

/// One announced range.
#[derive(Debug, Clone)]
struct Range {
    start: u128,
    end: u128,
    asn: u32,
    country: String,
    name: String,
}

/// IPv4 addresses as IPv4-mapped IPv6, so one sorted table holds both.
fn key(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u128::from(v4.to_ipv6_mapped()),
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn addr(k: u128) -> IpAddr {
    let v6 = Ipv6Addr::from(k);
    v6.to_ipv4_mapped().map_or(IpAddr::V6(v6), IpAddr::V4)
}

/// The table, sorted by range start.
pub(super) struct AsnTable {
    ranges: Vec<Range>,
}

impl AsnTable {
    pub(super) fn load(path: &Path) -> Result<AsnTable, AsnError> {
        let fail = |problem: String| AsnError::File {
            path: path.display().to_string(),
            problem,
        };
        let text = std::fs::read_to_string(path).map_err(|e| fail(e.to_string()))?;
        let mut ranges = Vec::new();
        for (n, line) in text.lines().enumerate() {
            if line.trim().is_empty() || line.starts_with('#') {
                continue;
            }
            let mut f = line.splitn(5, '\t');
            let mut field = || f.next().unwrap_or_default().trim();
            let bad = |what: &str| fail(format!("line {}: {what}", n + 1));
            let start: IpAddr = field().parse().map_err(|_| bad("bad range start"))?;
            let end: IpAddr = field().parse().map_err(|_| bad("bad range end"))?;
            let asn: u32 = field().parse().map_err(|_| bad("bad AS number"))?;
            let country = field().to_owned();
            let name = field().to_owned();
            // iptoasn marks unannounced space with AS 0
            if asn == 0 {
                continue;
            }
            let (start, end) = (key(start), key(end));
            if end < start {
                return Err(bad("range ends before it starts"));
            }
            ranges.push(Range {
                start,
                end,
                asn,
                country,
                name,
            });
        }
        if ranges.is_empty() {
            return Err(fail("no ranges".into()));
        }
        ranges.sort_by_key(|r| r.start);
        Ok(AsnTable { ranges })
    }

    fn lookup(&self, ip: IpAddr) -> Option<&Range> {
        let k = key(ip);
        let i = self.ranges.partition_point(|r| r.start <= k);
        let r = self.ranges.get(i.checked_sub(1)?)?;
        (k <= r.end).then_some(r)
    }
}

impl super::Enricher for AsnTable {
    fn name(&self) -> &'static str {
        "asn"
    }

    fn enrich<'a>(
        &'a self,
        _target: &'a Target,
        found: &'a mut Findings,
    ) -> BoxFuture<'a, Finding> {
        Box::pin(async move {
            if found.ips.is_empty() {
                return Finding::skipped(json!({"networks": []}), "no address");
            }
            let networks: Vec<_> = found
                .ips
                .iter()
                .map(|ip| match self.lookup(*ip) {
                    Some(r) => json!({
                        "ip": ip, "asn": r.asn, "as_name": r.name, "country": r.country,
                        "range": format!("{} - {}", addr(r.start), addr(r.end)),
                    }),
                    None => json!({"ip": ip, "asn": null}),
                })
                .collect();
            Finding::ok(json!({ "networks": networks }))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_find_their_range_in_either_family() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("ip2asn.tsv");
        std::fs::write(
            &path,
            "1.0.0.0\t1.0.0.255\t13335\tUS\tCLOUDFLARENET\n\
             8.8.8.0\t8.8.8.255\t15169\tUS\tGOOGLE\n\
             9.0.0.0\t9.0.0.255\t0\tNone\tNot routed\n\
             2606:4700::\t2606:4700:ffff:ffff:ffff:ffff:ffff:ffff\t13335\tUS\tCLOUDFLARENET\n",
        )
        .unwrap();
        let t = AsnTable::load(&path).unwrap();
        assert_eq!(t.lookup("8.8.8.8".parse().unwrap()).unwrap().asn, 15169);
        assert_eq!(
            t.lookup("2606:4700::1111".parse().unwrap()).unwrap().asn,
            13335
        );
        assert!(t.lookup("8.8.9.1".parse().unwrap()).is_none());
        assert!(t.lookup("9.0.0.1".parse().unwrap()).is_none());
        std::fs::write(&path, "1.0.0.0\tnot-an-ip\t1\tUS\tX\n").unwrap();
        let e = AsnTable::load(&path).err().unwrap().to_string();
        assert!(e.contains("line 1"), "{e}");
    }
}
