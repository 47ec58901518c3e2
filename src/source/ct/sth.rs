//! Signed tree heads: a log's size is believed only when the log's key
//! signed it. Without this, anyone between certsentry and a log (or a log
//! URL swapped in a tampered list fetch) could serve a tree size that makes
//! the follower skip ahead or wait forever, and a static-ct-api client must
//! not fetch partial tiles for a size it has not verified.
//!
//! Both read APIs carry the same RFC 6962 §3.5 signature, over
//!
//! ```text
//! TreeHeadSignature: version (0) ‖ signature_type tree_hash (1) ‖
//!                    timestamp u64 ‖ tree_size u64 ‖ sha256_root_hash[32]
//! ```
//!
//! as a TLS `DigitallySigned` (hash algorithm, signature algorithm, a
//! 2-byte length, the signature): RFC 6962 `get-sth` gives it base64 in
//! `tree_head_signature`; a static-ct-api `checkpoint` is a signed note
//! whose log signature line (key name = the origin line, key ID = the first
//! four bytes of SHA-256(name ‖ 0x0A ‖ 0x05 ‖ LogID)) holds the timestamp
//! and then the same `DigitallySigned`. The key is the list's `key`: a DER
//! SubjectPublicKeyInfo, ECDSA P-256 for every log today (RSA also read);
//! its SHA-256 is the LogID.
//!
//! This authenticates the tree head (size, root hash, time); the entries
//! read are then checked against the signed root ([`super::merkle`]).

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use ring::signature::{self, UnparsedPublicKey, VerificationAlgorithm};
use sha2::{Digest, Sha256};

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SthError {
    #[error("log key: {0}")]
    Key(String),
    #[error("tree head is malformed: {0}")]
    Malformed(String),
    #[error("tree head signature: {0}")]
    Signature(String),
}

fn malformed(why: impl Into<String>) -> SthError {
    SthError::Malformed(why.into())
}

/// TLS `SignatureAlgorithm` values RFC 6962 logs use.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum KeyKind {
    /// ecdsa (3), P-256 with SHA-256
    EcdsaP256,
    /// rsa (1), PKCS#1 v1.5 with SHA-256
    Rsa,
}

impl KeyKind {
    fn tls_code(self) -> u8 {
        match self {
            KeyKind::EcdsaP256 => 3,
            KeyKind::Rsa => 1,
        }
    }

    fn algorithm(self) -> &'static dyn VerificationAlgorithm {
        match self {
            KeyKind::EcdsaP256 => &signature::ECDSA_P256_SHA256_ASN1,
            KeyKind::Rsa => &signature::RSA_PKCS1_2048_8192_SHA256,
        }
    }
}

/// A log's public key, from the log list.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogKey {
    kind: KeyKind,
    /// What ring verifies with: the EC point, or the RSAPublicKey DER.
    public: Vec<u8>,
    /// SHA-256 of the SubjectPublicKeyInfo.
    pub log_id: [u8; 32],
}

const OID_EC_PUBLIC_KEY: &str = "1.2.840.10045.2.1";
const OID_P256: &str = "1.2.840.10045.3.1.7";
const OID_RSA: &str = "1.2.840.113549.1.1.1";

impl LogKey {
    /// From the list's base64 `key`; `log_id` (base64, may be empty) must
    /// be its hash when given.
    pub fn from_list(key_b64: &str, log_id_b64: &str) -> Result<LogKey, SthError> {
        let der = STANDARD
            .decode(key_b64.trim())
            .map_err(|e| SthError::Key(format!("not base64: {e}")))?;
        let key = LogKey::from_spki(&der)?;
        if !log_id_b64.is_empty() {
            let listed = STANDARD
                .decode(log_id_b64.trim())
                .map_err(|e| SthError::Key(format!("log_id is not base64: {e}")))?;
            if listed != key.log_id {
                return Err(SthError::Key("log_id is not the SHA-256 of the key".into()));
            }
        }
        Ok(key)
    }

    /// From a DER SubjectPublicKeyInfo.
    pub fn from_spki(der: &[u8]) -> Result<LogKey, SthError> {
        use x509_parser::prelude::FromDer;
        let (rest, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(der)
            .map_err(|e| SthError::Key(format!("not a SubjectPublicKeyInfo: {e}")))?;
        if !rest.is_empty() {
            return Err(SthError::Key("bytes after the SubjectPublicKeyInfo".into()));
        }
        let alg = spki.algorithm.algorithm.to_id_string();
        let kind = match alg.as_str() {
            OID_EC_PUBLIC_KEY => {
                let curve = spki
                    .algorithm
                    .parameters
                    .as_ref()
                    .and_then(|p| p.as_oid().ok())
                    .map(|o| o.to_id_string());
                if curve.as_deref() != Some(OID_P256) {
                    return Err(SthError::Key(format!(
                        "EC key on curve {curve:?}, only P-256 is used by CT logs"
                    )));
                }
                KeyKind::EcdsaP256
            }
            OID_RSA => KeyKind::Rsa,
            other => return Err(SthError::Key(format!("unsupported key algorithm {other}"))),
        };
        Ok(LogKey {
            kind,
            public: spki.subject_public_key.data.to_vec(),
            log_id: Sha256::digest(der).into(),
        })
    }

    /// Check a TLS `DigitallySigned` (exactly `ds`) over `data`.
    fn verify(&self, data: &[u8], ds: &[u8]) -> Result<(), SthError> {
        let sig_err = |why: &str| SthError::Signature(why.to_owned());
        let [hash, alg, l0, l1, sig @ ..] = ds else {
            return Err(sig_err("shorter than its header"));
        };
        if *hash != 4 {
            return Err(SthError::Signature(format!(
                "hash algorithm {hash}, expected sha256 (4)"
            )));
        }
        if *alg != self.kind.tls_code() {
            return Err(SthError::Signature(format!(
                "signature algorithm {alg}, the log's key needs {}",
                self.kind.tls_code()
            )));
        }
        if usize::from(u16::from_be_bytes([*l0, *l1])) != sig.len() {
            return Err(sig_err("length field does not match the signature"));
        }
        UnparsedPublicKey::new(self.kind.algorithm(), &self.public)
            .verify(data, sig)
            .map_err(|_| sig_err("does not verify with the log's key"))
    }

    /// The note key ID of this log's RFC 6962 signatures under `name`.
    pub fn note_key_id(&self, name: &str) -> [u8; 4] {
        let mut h = Sha256::new();
        h.update(name.as_bytes());
        h.update([0x0a, 0x05]);
        h.update(self.log_id);
        let d = h.finalize();
        [d[0], d[1], d[2], d[3]]
    }
}

/// A log's tree head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TreeHead {
    pub tree_size: u64,
    /// Milliseconds since the epoch.
    pub timestamp: u64,
    pub root_hash: [u8; 32],
}

impl TreeHead {
    /// The `TreeHeadSignature` bytes the log signs.
    pub fn signed_data(&self) -> [u8; 50] {
        let mut d = [0u8; 50];
        d[0] = 0; // v1
        d[1] = 1; // tree_hash
        d[2..10].copy_from_slice(&self.timestamp.to_be_bytes());
        d[10..18].copy_from_slice(&self.tree_size.to_be_bytes());
        d[18..50].copy_from_slice(&self.root_hash);
        d
    }
}

fn root_hash(b64: &str) -> Result<[u8; 32], SthError> {
    STANDARD
        .decode(b64)
        .ok()
        .and_then(|h| <[u8; 32]>::try_from(h).ok())
        .ok_or_else(|| malformed("root hash is not 32 bytes of base64"))
}

#[derive(serde::Deserialize)]
struct RawSth {
    tree_size: u64,
    #[serde(default)]
    timestamp: u64,
    #[serde(default)]
    sha256_root_hash: String,
    #[serde(default)]
    tree_head_signature: String,
}

/// An RFC 6962 `get-sth` answer, its signature checked when `key` is given.
pub fn parse_get_sth(body: &[u8], key: Option<&LogKey>) -> Result<TreeHead, SthError> {
    let raw: RawSth = serde_json::from_slice(body).map_err(|e| malformed(e.to_string()))?;
    let Some(key) = key else {
        return Ok(TreeHead {
            tree_size: raw.tree_size,
            timestamp: raw.timestamp,
            root_hash: root_hash(&raw.sha256_root_hash).unwrap_or([0; 32]),
        });
    };
    let head = TreeHead {
        tree_size: raw.tree_size,
        timestamp: raw.timestamp,
        root_hash: root_hash(&raw.sha256_root_hash)?,
    };
    let ds = STANDARD
        .decode(&raw.tree_head_signature)
        .map_err(|_| malformed("tree_head_signature is not base64"))?;
    key.verify(&head.signed_data(), &ds)?;
    Ok(head)
}

/// A static-ct-api `checkpoint` (a signed note), its log signature checked
/// when `key` is given. Other signature lines (witnesses) are ignored.
pub fn parse_checkpoint(body: &[u8], key: Option<&LogKey>) -> Result<TreeHead, SthError> {
    let text = std::str::from_utf8(body).map_err(|_| malformed("checkpoint is not UTF-8"))?;
    let (note, signatures) = text
        .split_once("\n\n")
        .ok_or_else(|| malformed("checkpoint has no blank line before its signatures"))?;
    let mut lines = note.split('\n');
    let origin = lines.next().unwrap_or_default();
    let size = lines
        .next()
        .and_then(|l| l.parse::<u64>().ok())
        .ok_or_else(|| malformed("checkpoint has no tree size on its second line"))?;
    let root = lines
        .next()
        .ok_or_else(|| malformed("checkpoint has no root hash line"))?;
    let Some(key) = key else {
        return Ok(TreeHead {
            tree_size: size,
            timestamp: 0,
            root_hash: root_hash(root).unwrap_or([0; 32]),
        });
    };
    if origin.is_empty() {
        return Err(malformed("checkpoint has an empty origin line"));
    }
    if lines.next().is_some() {
        return Err(malformed("an RFC 6962 checkpoint has no extension lines"));
    }
    let root_hash = root_hash(root)?;
    let key_id = key.note_key_id(origin);
    let mut malformed_line = None;
    for line in signatures.lines() {
        let Some(rest) = line.strip_prefix("— ") else {
            continue;
        };
        let Some((name, sig)) = rest.split_once(' ') else {
            continue;
        };
        if name != origin {
            continue;
        }
        let Ok(sig) = STANDARD.decode(sig) else {
            malformed_line = Some("a signature line is not base64");
            continue;
        };
        if sig.len() < 12 || sig[..4] != key_id {
            continue;
        }
        let mut ts = [0u8; 8];
        ts.copy_from_slice(&sig[4..12]);
        let head = TreeHead {
            tree_size: size,
            timestamp: u64::from_be_bytes(ts),
            root_hash,
        };
        key.verify(&head.signed_data(), &sig[12..])?;
        return Ok(head);
    }
    Err(SthError::Signature(
        malformed_line
            .unwrap_or("no signature line of the log's key")
            .to_owned(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    // Real tree heads of two Google and Filippo Valsorda logs with their
    // list keys (public data, as published by the logs).
    const ARGON2024_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEHblsqctplMVc5ramA7vSuNxUQxcomQwGAVAdnWTAWUYr3MgDHQW0LagJ95lB7QT75Ve6JgT2EVLOFGU7L3YrwA==";
    const ARGON2024_STH: &str = r#"{"tree_size":1267285836,"timestamp":1711642477482,"sha256_root_hash":"SHySaYoaGIV5oCMANTytRfUjfzXb7wvO9xQiGkDJlfQ=","tree_head_signature":"BAMARzBFAiAQWbsL/MbJdeR4jk8xYKWDBDGHyDcntBim9Jr1BvwPnAIhAMedQo0YuBo+ajNd9xyVOMvhOdVAeJYgOhBLQn8rca94"}"#;
    const ROME2024H1_KEY: &str = "MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEAXM8Ld9qn64g1zVFDh5FtgxS3zj5sqQDwYMs3wrBV3MCBiFhK/iRLxdKF4YsAcJaEglMlu4Lewvzxs0xO2uwEw==";
    const ROME2024H1_CHECKPOINT: &str = "rome.ct.filippo.io/2024h1\n115474666\n2q1K6aiIJR+F7TyhiWOghoWOjY0/3dVBLsBbAvB4xCw=\n\n— rome.ct.filippo.io/2024h1 ePSrrgAAAY5+gVlSBAMARzBFAiEAv8bOMzo3Ed/GbU9fzzJvaStX6i8xTsmEF+NqvpGhIO0CIEn1X+zzVEerdix64GEn97XCXObA2G5JQ8UDDqCKdG5m\n";

    fn key(b64: &str) -> LogKey {
        LogKey::from_list(b64, "").unwrap()
    }

    #[test]
    fn a_real_get_sth_verifies_and_a_changed_one_does_not() {
        let k = key(ARGON2024_KEY);
        let head = parse_get_sth(ARGON2024_STH.as_bytes(), Some(&k)).unwrap();
        assert_eq!(head.tree_size, 1_267_285_836);
        assert_eq!(head.timestamp, 1_711_642_477_482);
        // one more entry than the log signed
        let forged = ARGON2024_STH.replace("1267285836", "1267285837");
        assert_eq!(
            parse_get_sth(forged.as_bytes(), Some(&k)),
            Err(SthError::Signature(
                "does not verify with the log's key".into()
            ))
        );
        // another log's key
        assert!(matches!(
            parse_get_sth(ARGON2024_STH.as_bytes(), Some(&key(ROME2024H1_KEY))),
            Err(SthError::Signature(_))
        ));
        // unverified without a key, as before
        assert_eq!(
            parse_get_sth(forged.as_bytes(), None).unwrap().tree_size,
            1_267_285_837
        );
    }

    #[test]
    fn a_real_checkpoint_verifies_and_a_changed_one_does_not() {
        let k = key(ROME2024H1_KEY);
        assert_eq!(
            hex::encode(k.note_key_id("rome.ct.filippo.io/2024h1")),
            "78f4abae"
        );
        let head = parse_checkpoint(ROME2024H1_CHECKPOINT.as_bytes(), Some(&k)).unwrap();
        assert_eq!(head.tree_size, 115_474_666);
        assert_eq!(head.timestamp, 1_711_519_390_034);
        let forged = ROME2024H1_CHECKPOINT.replace("115474666", "115474667");
        assert_eq!(
            parse_checkpoint(forged.as_bytes(), Some(&k)),
            Err(SthError::Signature(
                "does not verify with the log's key".into()
            ))
        );
        // a witness's line is ignored; the log's is still found
        let cosigned = ROME2024H1_CHECKPOINT.replace(
            "\n\n— rome",
            "\n\n— witness.example AAAAAAAAAAAAAAAAAAAAAAAA\n— rome",
        );
        assert!(parse_checkpoint(cosigned.as_bytes(), Some(&k)).is_ok());
        // another key: no line of it
        assert_eq!(
            parse_checkpoint(ROME2024H1_CHECKPOINT.as_bytes(), Some(&key(ARGON2024_KEY))),
            Err(SthError::Signature(
                "no signature line of the log's key".into()
            ))
        );
        // an extension line is refused under an RFC 6962 signature
        let extended = ROME2024H1_CHECKPOINT.replace("=\n\n", "=\nextra\n\n");
        assert!(matches!(
            parse_checkpoint(extended.as_bytes(), Some(&k)),
            Err(SthError::Malformed(_))
        ));
        assert_eq!(
            parse_checkpoint(b"no blank line", Some(&k)),
            Err(malformed(
                "checkpoint has no blank line before its signatures"
            ))
        );
    }

    #[test]
    fn every_key_of_the_bundled_list_is_usable_and_matches_its_log_id() {
        let list: serde_json::Value = serde_json::from_str(super::super::loglist::BUNDLED).unwrap();
        let mut n = 0;
        for op in list["operators"].as_array().unwrap() {
            for kind in ["logs", "tiled_logs"] {
                for log in op[kind].as_array().into_iter().flatten() {
                    let k = LogKey::from_list(
                        log["key"].as_str().unwrap(),
                        log["log_id"].as_str().unwrap(),
                    );
                    assert!(k.is_ok(), "{}: {k:?}", log["description"]);
                    n += 1;
                }
            }
        }
        assert!(n > 50, "{n} logs");
        assert!(matches!(
            LogKey::from_list(ARGON2024_KEY, ROME2024H1_KEY),
            Err(SthError::Key(_))
        ));
        assert!(matches!(
            LogKey::from_list("AAAA", ""),
            Err(SthError::Key(_))
        ));
    }

    #[test]
    fn malformed_signatures_are_refused_not_panicked_on() {
        let k = key(ARGON2024_KEY);
        let head = TreeHead {
            tree_size: 1,
            timestamp: 2,
            root_hash: [3; 32],
        };
        let data = head.signed_data();
        for ds in [
            &[][..],
            &[4, 3],
            &[4, 3, 0, 5, 1],
            &[2, 3, 0, 0],
            &[4, 1, 0, 0],
        ] {
            assert!(
                matches!(k.verify(&data, ds), Err(SthError::Signature(_))),
                "{ds:?}"
            );
        }
    }
}
