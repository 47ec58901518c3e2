//! Port-43 WHOIS (RFC 3912), for the TLDs whose registry has no RDAP
//! service in IANA's bootstrap file; `rdap` falls back to it. The TLD's
//! server is the one `enrichment.rdap.whois_servers` names, or the one
//! IANA's WHOIS (`whois_referral`, `whois.iana.org`) refers to, kept per
//! TLD. The answer is free text; the usual `Key: value` lines give the
//! same fields as RDAP's summary. Every address of a server is checked
//! by the guard before connecting, and the connection goes to the address
//! that was checked.

use super::guard::Guard;
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The most of an answer read.
const MAX_ANSWER: usize = 256 * 1024;

/// Why a WHOIS lookup has no answer.
#[derive(Debug)]
pub(super) enum WhoisMiss {
    /// The server says to slow down.
    Limited(String),
    Failed(String),
}

/// `host:port`, or `host` (port 43).
fn split_server(server: &str) -> (String, u16) {
    match server.rsplit_once(':') {
        Some((host, port)) if !host.contains(':') || host.starts_with('[') => {
            let host = host.trim_start_matches('[').trim_end_matches(']');
            (host.to_owned(), port.parse().unwrap_or(43))
        }
        _ => (server.to_owned(), 43),
    }
}

/// Ask `server` about `query`; the answer as text.
pub(super) async fn query(
    server: &str,
    query: &str,
    guard: &Guard,
    timeout: Duration,
) -> Result<String, WhoisMiss> {
    let (host, port) = split_server(server);
    let work = async {
        let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), port))
            .await
            .map_err(|e| WhoisMiss::Failed(format!("whois {server}: {e}")))?
            .collect();
        let Some(addr) = addrs.iter().find(|a| guard.permits(a.ip())).copied() else {
            return Err(WhoisMiss::Failed(format!(
                "whois {server}: no address the guard permits"
            )));
        };
        let mut stream = tokio::net::TcpStream::connect(addr)
            .await
            .map_err(|e| WhoisMiss::Failed(format!("whois {server}: {e}")))?;
        stream
            .write_all(format!("{query}\r\n").as_bytes())
            .await
            .map_err(|e| WhoisMiss::Failed(format!("whois {server}: {e}")))?;
        let mut answer = Vec::new();
        let mut reader = stream.take(MAX_ANSWER as u64);
        reader
            .read_to_end(&mut answer)
            .await
            .map_err(|e| WhoisMiss::Failed(format!("whois {server}: {e}")))?;
        Ok(String::from_utf8_lossy(&answer).into_owned())
    };
    let text = tokio::time::timeout(timeout, work)
        .await
        .map_err(|_| WhoisMiss::Failed(format!("whois {server}: timed out after {timeout:?}")))??;
    let lower = text.to_ascii_lowercase();
    if [
        "rate limit",
        "limit exceeded",
        "too many",
        "try again later",
    ]
    .iter()
    .any(|p| lower.contains(p))
    {
        return Err(WhoisMiss::Limited(format!("whois {server} asked to wait")));
    }
    Ok(text)
}

/// `(key, value)` of each `Key: value` line, keys lower-cased.
fn fields(text: &str) -> impl Iterator<Item = (String, &str)> {
    text.lines().filter_map(|line| {
        let line = line.trim();
        if line.starts_with('%') || line.starts_with('#') || line.starts_with(">>>") {
            return None;
        }
        let (k, v) = line.split_once(':')?;
        let v = v.trim();
        (!v.is_empty()).then(|| (k.trim().to_ascii_lowercase(), v))
    })
}

/// The TLD's WHOIS server from IANA's answer (`refer:`, else `whois:`).
pub(super) fn referral(text: &str) -> Option<String> {
    let mut whois = None;
    for (k, v) in fields(text) {
        match k.as_str() {
            "refer" => return Some(v.to_owned()),
            "whois" if whois.is_none() => whois = Some(v.to_owned()),
            _ => {}
        }
    }
    whois
}

/// The fields analysts look at, as RDAP's summary has them; `found: false`
/// when the registry says it has no such domain.
pub(super) fn summarise(text: &str, server: &str) -> Value {
    let lower = text.to_ascii_lowercase();
    let absent = [
        "no match for",
        "not found",
        "no entries found",
        "no data found",
        "no object found",
        "status: free",
        "status: available",
        "is available for registration",
    ];
    if absent.iter().any(|p| lower.contains(p)) {
        return json!({"found": false, "via": "whois", "server": server});
    }
    let pick = |keys: &[&str]| {
        fields(text)
            .find(|(k, _)| keys.contains(&k.as_str()))
            .map(|(_, v)| v.to_owned())
    };
    let all = |keys: &[&str]| -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        for (k, v) in fields(text) {
            if keys.contains(&k.as_str()) {
                // "clientTransferProhibited https://icann.org/epp#..."
                let v = v
                    .split_whitespace()
                    .next()
                    .unwrap_or(v)
                    .to_ascii_lowercase();
                if !out.contains(&v) {
                    out.push(v);
                }
            }
        }
        out
    };
    let abuse = pick(&[
        "registrar abuse contact email",
        "abuse-mailbox",
        "abuse contact",
        "abuse email",
    ])
    .or_else(|| {
        fields(text)
            .filter(|(k, _)| k.contains("abuse"))
            .map(|(_, v)| v)
            .find(|v| v.contains('@'))
            .map(str::to_owned)
    });
    json!({
        "found": true,
        "via": "whois",
        "server": server,
        "registrar": pick(&["registrar", "registrar name", "sponsoring registrar", "registrar organization"]),
        "created": pick(&["creation date", "created", "created on", "registered on", "registration time", "registered", "domain registration date"]),
        "updated": pick(&["updated date", "last updated", "last modified", "changed", "last-update"]),
        "expires": pick(&["registry expiry date", "registrar registration expiration date", "expiration date", "expiry date", "expires", "expires on", "paid-till", "expiration time"]),
        "status": all(&["domain status", "status", "state"]),
        "abuse_email": abuse,
        "nameservers": all(&["name server", "nserver", "nameserver", "name servers"]),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_registry_answer_gives_rdaps_fields() {
        let text = "% Registry WHOIS\r\n\
            Domain Name: PAYPA1.EXAMPLE\r\n\
            Registrar: Hypothetical Registrar Ltd\r\n\
            Creation Date: 2026-11-30T08:00:00Z\r\n\
            Updated Date: 2026-12-01T08:00:00Z\r\n\
            Registry Expiry Date: 2027-11-30T08:00:00Z\r\n\
            Registrar Abuse Contact Email: abuse@registrar.example\r\n\
            Domain Status: clientTransferProhibited https://icann.org/epp#clientTransferProhibited\r\n\
            Domain Status: serverHold https://icann.org/epp#serverHold\r\n\
            Name Server: NS1.PARKING.EXAMPLE\r\n\
            Name Server: NS2.PARKING.EXAMPLE\r\n\
            >>> Last update of WHOIS database: 2026-12-04T00:00:00Z <<<\r\n";
        let s = summarise(text, "whois.nic.example:43");
        assert_eq!(s["found"], true);
        assert_eq!(s["registrar"], "Hypothetical Registrar Ltd");
        assert_eq!(s["created"], "2026-11-30T08:00:00Z");
        assert_eq!(s["expires"], "2027-11-30T08:00:00Z");
        assert_eq!(s["abuse_email"], "abuse@registrar.example");
        assert_eq!(
            s["status"],
            json!(["clienttransferprohibited", "serverhold"])
        );
        assert_eq!(
            s["nameservers"],
            json!(["ns1.parking.example", "ns2.parking.example"])
        );
    }

    #[test]
    fn ripe_style_and_absent_answers() {
        let text = "domain:   paypa1.example\nregistrar: Some Registrar\ncreated:  2026-11-29\nnserver:  ns1.example.net\nabuse-mailbox: abuse@some.example\n";
        let s = summarise(text, "w:43");
        assert_eq!(s["created"], "2026-11-29");
        assert_eq!(s["abuse_email"], "abuse@some.example");
        assert_eq!(s["nameservers"], json!(["ns1.example.net"]));
        for none in [
            "No match for \"PAYPA1.EXAMPLE\".",
            "%% NOT FOUND",
            "Status: free",
        ] {
            assert_eq!(summarise(none, "w:43")["found"], false, "{none}");
        }
    }

    #[test]
    fn ianas_answer_refers_to_the_tlds_server() {
        let iana = "% IANA WHOIS server\n\ndomain:       EXAMPLE\n\norganisation: Example Registry\nrefer:        whois.nic.example\n\nwhois:        whois.other.example\n";
        assert_eq!(referral(iana).as_deref(), Some("whois.nic.example"));
        assert_eq!(
            referral("whois: whois.nic.example\n").as_deref(),
            Some("whois.nic.example")
        );
        assert_eq!(referral("domain: EXAMPLE\n"), None);
    }

    #[test]
    fn servers_take_an_optional_port() {
        assert_eq!(
            split_server("whois.iana.org"),
            ("whois.iana.org".into(), 43)
        );
        assert_eq!(split_server("127.0.0.1:4343"), ("127.0.0.1".into(), 4343));
        assert_eq!(split_server("[::1]:4343"), ("::1".into(), 4343));
    }
}
