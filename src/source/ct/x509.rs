//! A DER certificate in certstream's shape: subject and issuer, serial,
//! fingerprints, validity, signature algorithm, CA flag, `all_domains` and the
//! extension summary strings certstream servers print (OpenSSL's wording).

use super::leaf::LeafError;
use crate::model::{Certificate, DistinguishedName, UpdateType};
use sha2::Digest;
use std::collections::BTreeMap;
use x509_parser::extensions::{GeneralName, ParsedExtension};
use x509_parser::prelude::{FromDer, X509Certificate, X509Name};

/// `AA:BB:...` upper-case hex, as certstream prints fingerprints.
pub fn colon_hex_upper(bytes: &[u8]) -> String {
    colon_hex(bytes, b"0123456789ABCDEF")
}

fn colon_hex_lower(bytes: &[u8]) -> String {
    colon_hex(bytes, b"0123456789abcdef")
}

fn colon_hex(bytes: &[u8], digits: &[u8; 16]) -> String {
    let mut out = String::with_capacity(bytes.len() * 3);
    for (i, b) in bytes.iter().enumerate() {
        if i > 0 {
            out.push(':');
        }
        out.push(char::from(digits[usize::from(b >> 4)]));
        out.push(char::from(digits[usize::from(b & 15)]));
    }
    out
}

fn dn(name: &X509Name<'_>) -> DistinguishedName {
    let mut d = DistinguishedName::default();
    for rdn in name.iter_rdn() {
        for atv in rdn.iter() {
            let Ok(value) = atv.as_str() else { continue };
            let slot = match atv.attr_type().to_id_string().as_str() {
                "2.5.4.6" => &mut d.C,
                "2.5.4.3" => &mut d.CN,
                "2.5.4.7" => &mut d.L,
                "2.5.4.10" => &mut d.O,
                "2.5.4.11" => &mut d.OU,
                "2.5.4.8" => &mut d.ST,
                "1.2.840.113549.1.9.1" => &mut d.email_address,
                _ => continue,
            };
            if slot.is_none() {
                *slot = Some(value.to_owned());
            }
        }
    }
    let mut agg = String::new();
    for (k, v) in [
        ("C", &d.C),
        ("CN", &d.CN),
        ("L", &d.L),
        ("O", &d.O),
        ("OU", &d.OU),
        ("ST", &d.ST),
        ("emailAddress", &d.email_address),
    ] {
        if let Some(v) = v {
            agg.push('/');
            agg.push_str(k);
            agg.push('=');
            agg.push_str(v);
        }
    }
    d.aggregated = Some(agg);
    d
}

fn signature_algorithm(oid: &str) -> String {
    match oid {
        "1.2.840.113549.1.1.5" => "sha1, rsa",
        "1.2.840.113549.1.1.11" => "sha256, rsa",
        "1.2.840.113549.1.1.12" => "sha384, rsa",
        "1.2.840.113549.1.1.13" => "sha512, rsa",
        "1.2.840.113549.1.1.10" => "rsassa_pss",
        "1.2.840.10045.4.1" => "ecdsa, sha1",
        "1.2.840.10045.4.3.2" => "ecdsa, sha256",
        "1.2.840.10045.4.3.3" => "ecdsa, sha384",
        "1.2.840.10045.4.3.4" => "ecdsa, sha512",
        "1.3.101.112" => "ed25519",
        other => return other.to_owned(),
    }
    .to_owned()
}

fn ip(bytes: &[u8]) -> String {
    match bytes.len() {
        4 => std::net::Ipv4Addr::new(bytes[0], bytes[1], bytes[2], bytes[3]).to_string(),
        16 => {
            let mut a = [0u8; 16];
            a.copy_from_slice(bytes);
            std::net::Ipv6Addr::from(a).to_string()
        }
        _ => colon_hex_upper(bytes),
    }
}

fn general_name(g: &GeneralName<'_>) -> Option<String> {
    Some(match g {
        GeneralName::DNSName(n) => format!("DNS:{n}"),
        GeneralName::RFC822Name(n) => format!("email:{n}"),
        GeneralName::URI(u) => format!("URI:{u}"),
        GeneralName::IPAddress(b) => format!("IP Address:{}", ip(b)),
        GeneralName::DirectoryName(n) => format!("DirName:{n}"),
        GeneralName::RegisteredID(o) => format!("Registered ID:{o}"),
        _ => return None,
    })
}

fn key_usage(ku: &x509_parser::extensions::KeyUsage) -> String {
    let names = [
        (ku.digital_signature(), "Digital Signature"),
        (ku.non_repudiation(), "Content Commitment"),
        (ku.key_encipherment(), "Key Encipherment"),
        (ku.data_encipherment(), "Data Encipherment"),
        (ku.key_agreement(), "Key Agreement"),
        (ku.key_cert_sign(), "Certificate Signing"),
        (ku.crl_sign(), "CRL Signing"),
        (ku.encipher_only(), "Encipher Only"),
        (ku.decipher_only(), "Decipher Only"),
    ];
    names
        .iter()
        .filter(|(on, _)| *on)
        .map(|(_, n)| *n)
        .collect::<Vec<_>>()
        .join(", ")
}

fn extended_key_usage(eku: &x509_parser::extensions::ExtendedKeyUsage<'_>) -> String {
    let mut out: Vec<String> = Vec::new();
    for (on, name) in [
        (eku.any, "anyExtendedKeyUsage"),
        (eku.server_auth, "serverAuth"),
        (eku.client_auth, "clientAuth"),
        (eku.code_signing, "codeSigning"),
        (eku.email_protection, "emailProtection"),
        (eku.time_stamping, "timeStamping"),
        (eku.ocsp_signing, "OCSPSigning"),
    ] {
        if on {
            out.push(name.to_owned());
        }
    }
    out.extend(eku.other.iter().map(|o| o.to_id_string()));
    out.join(", ")
}

const CT_POISON: &str = "1.3.6.1.4.1.11129.2.4.3";

/// Parse one DER certificate. `update_type` is the log entry's kind.
pub fn certificate(der: &[u8], update_type: UpdateType) -> Result<Certificate, LeafError> {
    let (_, cert) =
        X509Certificate::from_der(der).map_err(|e| LeafError::Certificate(e.to_string()))?;
    let subject = dn(cert.subject());
    let issuer = dn(cert.issuer());
    let mut serial = cert.raw_serial();
    while serial.len() > 1 && serial[0] == 0 {
        serial = &serial[1..];
    }
    let mut extensions: BTreeMap<String, serde_json::Value> = BTreeMap::new();
    let mut san_dns: Vec<String> = Vec::new();
    let mut is_ca = false;
    for ext in cert.extensions() {
        let oid = ext.oid.to_id_string();
        if oid == CT_POISON {
            extensions.insert("ctlPoisonByte".into(), serde_json::Value::Bool(true));
            continue;
        }
        let (key, value) = match ext.parsed_extension() {
            ParsedExtension::AuthorityKeyIdentifier(aki) => match &aki.key_identifier {
                Some(id) => (
                    "authorityKeyIdentifier",
                    format!("keyid:{}", colon_hex_lower(id.0)),
                ),
                None => continue,
            },
            ParsedExtension::SubjectKeyIdentifier(id) => (
                "subjectKeyIdentifier",
                format!("keyid:{}", colon_hex_lower(id.0)),
            ),
            ParsedExtension::KeyUsage(ku) => ("keyUsage", key_usage(ku)),
            ParsedExtension::ExtendedKeyUsage(eku) => ("extendedKeyUsage", extended_key_usage(eku)),
            ParsedExtension::BasicConstraints(bc) => {
                is_ca = bc.ca;
                // certstream prints the flag only, not the path length
                let v = format!("CA:{}", if bc.ca { "TRUE" } else { "FALSE" });
                ("basicConstraints", v)
            }
            ParsedExtension::CertificatePolicies(policies) => {
                let mut v = String::new();
                for p in policies {
                    v.push_str(&format!("Policy: {}\n", p.policy_id.to_id_string()));
                }
                ("certificatePolicies", v)
            }
            ParsedExtension::SubjectAlternativeName(san) => {
                let mut parts = Vec::new();
                for g in &san.general_names {
                    if let GeneralName::DNSName(n) = g {
                        san_dns.push((*n).to_owned());
                    }
                    parts.extend(general_name(g));
                }
                ("subjectAltName", parts.join(", "))
            }
            ParsedExtension::AuthorityInfoAccess(aia) => {
                let parts: Vec<String> = aia
                    .accessdescs
                    .iter()
                    .filter_map(|d| general_name(&d.access_location))
                    .collect();
                ("authorityInfoAccess", parts.join(", "))
            }
            _ => continue,
        };
        extensions.insert(key.to_owned(), serde_json::Value::String(value));
    }
    // certstream's order: the subject CN first (whatever it holds; CA
    // certificates' CNs are names of CAs and are left out), then the SAN DNS
    // names not already listed
    let mut all_domains = Vec::with_capacity(san_dns.len() + 1);
    if let Some(cn) = subject.CN.as_ref().filter(|cn| !is_ca && !cn.is_empty()) {
        all_domains.push(cn.clone());
    }
    for name in san_dns {
        if !all_domains.contains(&name) {
            all_domains.push(name);
        }
    }
    Ok(Certificate {
        subject,
        issuer,
        all_domains,
        serial_number: hex::encode_upper(serial),
        sha1: colon_hex_upper(&sha1_digest(der)),
        sha256: colon_hex_upper(&sha2::Sha256::digest(der)),
        not_before: Some(cert.validity().not_before.timestamp()),
        not_after: Some(cert.validity().not_after.timestamp()),
        signature_algorithm: signature_algorithm(
            &cert.signature_algorithm.algorithm.to_id_string(),
        ),
        is_ca: Some(is_ca),
        update_type,
        extensions,
    })
}

fn sha1_digest(data: &[u8]) -> [u8; 20] {
    use sha1::Digest as _;
    let mut h = sha1::Sha1::new();
    h.update(data);
    h.finalize().into()
}
