//! `asn`: the network behind each address the lookalike resolves to: AS
//! number, AS name, the announced range and its country, from a file the
//! operator supplies: an iptoasn TSV (`ip2asn-combined.tsv` or the v4/v6
//! files from iptoasn.com: `start end asn country description` per line),
//! or a MaxMind DB ASN file (GeoLite2-ASN, or DB-IP's ASN Lite `.mmdb`:
//! `autonomous_system_number` and `autonomous_system_organization`; no
//! country). Nothing is asked of anyone: the lookup is local.

use super::{Finding, Findings, Target};
use crate::config::ConfigError;
use futures_util::future::BoxFuture;
use serde::{Deserialize, Serialize};
use serde_json::json;
use std::net::{IpAddr, Ipv6Addr};
use std::path::{Path, PathBuf};

/// `[enrichment.asn]`: off until `tsv` or `mmdb` names a file.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AsnSettings {
    /// An iptoasn TSV file (plain text).
    pub tsv: PathBuf,
    /// A MaxMind DB ASN file (GeoLite2-ASN or DB-IP ASN Lite).
    pub mmdb: PathBuf,
}

impl AsnSettings {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !self.tsv.as_os_str().is_empty() && !self.mmdb.as_os_str().is_empty() {
            return Err(crate::config::invalid(
                "enrichment.asn",
                "set tsv or mmdb, not both",
            ));
        }
        Ok(())
    }

    pub(crate) fn enabled(&self) -> bool {
        !self.tsv.as_os_str().is_empty() || !self.mmdb.as_os_str().is_empty()
    }
}

#[derive(Debug, thiserror::Error)]
pub(crate) enum AsnError {
    #[error("enrichment.asn.tsv {path}: {problem}")]
    File { path: String, problem: String },
    #[error("enrichment.asn.mmdb {path}: {problem}")]
    Mmdb { path: String, problem: String },
}

/// What a lookup found.
#[derive(Debug, Clone, PartialEq)]
struct Network {
    asn: u32,
    name: String,
    country: Option<String>,
    /// `start - end` (TSV) or the CIDR (MaxMind DB).
    range: String,
}

/// The fields of an ASN record in a MaxMind DB.
#[derive(Deserialize)]
struct MmdbAsn {
    autonomous_system_number: Option<u32>,
    autonomous_system_organization: Option<String>,
}

/// One announced range.
#[derive(Debug, Clone)]
pub(super) struct Range {
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

/// The operator's file: a TSV table sorted by range start, or a MaxMind DB.
pub(super) enum AsnTable {
    Tsv(Vec<Range>),
    Mmdb(maxminddb::Reader<Vec<u8>>),
}

impl AsnTable {
    /// The file `settings` names (one of them is set).
    pub(super) fn open(settings: &AsnSettings) -> Result<AsnTable, AsnError> {
        if settings.mmdb.as_os_str().is_empty() {
            AsnTable::load(&settings.tsv)
        } else {
            AsnTable::load_mmdb(&settings.mmdb)
        }
    }

    fn load_mmdb(path: &Path) -> Result<AsnTable, AsnError> {
        let fail = |problem: String| AsnError::Mmdb {
            path: path.display().to_string(),
            problem,
        };
        let reader = maxminddb::Reader::open_readfile(path).map_err(|e| fail(e.to_string()))?;
        let kind = &reader.metadata().database_type;
        if !kind.to_ascii_lowercase().contains("asn") {
            return Err(fail(format!(
                "is a {kind:?} database, not an ASN one (GeoLite2-ASN or DB-IP ASN)"
            )));
        }
        Ok(AsnTable::Mmdb(reader))
    }

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
        Ok(AsnTable::Tsv(ranges))
    }

    fn lookup(&self, ip: IpAddr) -> Option<Network> {
        match self {
            AsnTable::Tsv(ranges) => {
                let k = key(ip);
                let i = ranges.partition_point(|r| r.start <= k);
                let r = ranges.get(i.checked_sub(1)?)?;
                (k <= r.end).then(|| Network {
                    asn: r.asn,
                    name: r.name.clone(),
                    country: Some(r.country.clone()),
                    range: format!("{} - {}", addr(r.start), addr(r.end)),
                })
            }
            // an IPv6 address in an IPv4-only file, or a broken record:
            // not found (the file was checked at load)
            AsnTable::Mmdb(reader) => {
                let found = reader.lookup(ip).ok()?;
                let rec: MmdbAsn = found.decode().ok()??;
                Some(Network {
                    asn: rec.autonomous_system_number?,
                    name: rec.autonomous_system_organization.unwrap_or_default(),
                    country: None,
                    range: found.network().ok()?.to_string(),
                })
            }
        }
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
                        "range": r.range,
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
