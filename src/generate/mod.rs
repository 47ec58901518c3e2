//! The homograph list generator: a permutation engine at least as complete as
//! dnstwist's default fuzzers, plus Unicode-confusable and whole-script
//! variants, producing lists in the XSOAR format the matcher reads.
//!
//! Works on the registrable label (public-suffix aware: `barclays.co.uk`
//! varies `barclays`), reattaches subdomain and suffix, validates every
//! variant (IDNA round trip, hostname rules) and returns both its Unicode and
//! punycode forms. Order is deterministic: by fuzzer rank (most deceptive
//! first: homoglyphs, then one-edit typos, then combinations), then by variant.
//! Pure: depends on `domain` only.

mod combination;
mod homoglyph;
mod registry;
mod typo;

pub use registry::Fuzzer;

use registry::Target;

use crate::domain::Fqdn;
use serde::{Deserialize, Serialize};
use std::collections::HashSet;
use std::hash::{BuildHasherDefault, Hasher};

/// FNV-1a: the dedup set hashes thousands of short strings per domain.
struct Fnv(u64);

impl Default for Fnv {
    fn default() -> Self {
        Fnv(0xcbf2_9ce4_8422_2325)
    }
}

impl Hasher for Fnv {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 ^= u64::from(*b);
            self.0 = self.0.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// Full domains (`paypa1.com`).
    #[default]
    Domains,
    /// Registrable labels only (`paypa1`), as hand-made XSOAR lists are; variants
    /// that change the suffix or add a dot stay full domains.
    Labels,
}

impl std::str::FromStr for Format {
    type Err = String;

    fn from_str(s: &str) -> Result<Format, String> {
        match s {
            "domains" => Ok(Format::Domains),
            "labels" => Ok(Format::Labels),
            other => Err(format!("format {other:?}: must be domains or labels")),
        }
    }
}

#[derive(Debug, Clone)]
pub struct GenerateOptions {
    /// Fuzzers to run; empty means all.
    pub fuzzers: Vec<Fuzzer>,
    pub format: Format,
    /// Most variants per domain (the most deceptive first).
    pub limit: Option<usize>,
    pub include_unicode: bool,
    pub include_punycode: bool,
}

impl Default for GenerateOptions {
    fn default() -> Self {
        GenerateOptions {
            fuzzers: Vec::new(),
            format: Format::Domains,
            limit: None,
            include_unicode: true,
            include_punycode: true,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GenerateError {
    #[error("{domain:?} is not a domain: {reason}")]
    NotADomain { domain: String, reason: String },
    #[error("unknown fuzzer {0:?}")]
    UnknownFuzzer(String),
}

/// One generated variant.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Variant {
    pub fuzzer: Fuzzer,
    /// Unicode form (label or domain, by format).
    pub unicode: String,
    /// Punycode form; equal to `unicode` for ASCII variants.
    pub ascii: String,
}

/// Parse fuzzer names (`"homoglyph,omission"` split by the caller).
pub fn parse_fuzzers<S: AsRef<str>>(names: &[S]) -> Result<Vec<Fuzzer>, GenerateError> {
    names
        .iter()
        .map(|n| {
            Fuzzer::parse(n.as_ref())
                .ok_or_else(|| GenerateError::UnknownFuzzer(n.as_ref().to_owned()))
        })
        .collect()
}

/// The domain a list key is written as: its Unicode form.
pub fn parse_domain(domain: &str) -> Result<Fqdn, GenerateError> {
    let bad = |reason: String| GenerateError::NotADomain {
        domain: domain.to_owned(),
        reason,
    };
    let f = Fqdn::parse_domain(domain).map_err(|e| bad(e.to_string()))?;
    if f.is_wildcard() {
        return Err(bad("a wildcard is not a domain".into()));
    }
    Ok(f)
}

/// Every variant of `domain`, ranked, deduplicated, validated.
pub fn generate(domain: &str, opts: &GenerateOptions) -> Result<Vec<Variant>, GenerateError> {
    let fqdn = parse_domain(domain)?;
    let label = fqdn.registrable_label();
    let suffix = fqdn.suffix();
    let prefix = &fqdn.unicode()[..fqdn.unicode().len() - fqdn.registrable_domain().len()];
    let suffix_ascii = ascii_suffix(&fqdn);
    let prefix_ascii = &fqdn.ascii()[..fqdn.ascii().len() - fqdn.registrable_domain_ascii().len()];

    let mut seen: HashSet<String, BuildHasherDefault<Fnv>> = HashSet::default();
    seen.insert(fqdn.ascii().to_owned());
    let mut out = Vec::new();
    let fuzzers: Vec<Fuzzer> = if opts.fuzzers.is_empty() {
        Fuzzer::ALL.to_vec()
    } else {
        let mut f = opts.fuzzers.clone();
        f.sort();
        f.dedup();
        f
    };
    let target = Target { label, suffix };
    for fuzzer in fuzzers {
        let candidates = fuzzer.run(&target);
        let mut batch: Vec<Variant> = Vec::new();
        seen.reserve(candidates.len());
        for (part, new_suffix) in candidates {
            let Some(part_ascii) = ascii_part(&part) else {
                continue;
            };
            let (suffix_u, suffix_a) = match &new_suffix {
                Some(s) => (s.as_str(), s.as_str()),
                None => (suffix, suffix_ascii.as_str()),
            };
            let mut full_ascii =
                String::with_capacity(prefix_ascii.len() + part_ascii.len() + suffix_a.len() + 1);
            full_ascii.push_str(prefix_ascii);
            full_ascii.push_str(&part_ascii);
            full_ascii.push('.');
            full_ascii.push_str(suffix_a);
            if full_ascii.len() > 253 || seen.contains(&full_ascii) || !registrable(&full_ascii) {
                continue;
            }
            let label_level =
                opts.format == Format::Labels && new_suffix.is_none() && !part.contains('.');
            let (unicode, ascii) = if label_level {
                (part, part_ascii)
            } else if opts.format == Format::Labels {
                (
                    format!("{part}.{suffix_u}"),
                    format!("{part_ascii}.{suffix_a}"),
                )
            } else {
                let mut unicode =
                    String::with_capacity(prefix.len() + part.len() + suffix_u.len() + 1);
                unicode.push_str(prefix);
                unicode.push_str(&part);
                unicode.push('.');
                unicode.push_str(suffix_u);
                (unicode, full_ascii.clone())
            };
            seen.insert(full_ascii);
            batch.push(Variant {
                fuzzer,
                unicode,
                ascii,
            });
        }
        batch.sort_by(|a, b| a.unicode.cmp(&b.unicode));
        out.extend(batch);
    }
    if let Some(limit) = opts.limit {
        out.truncate(limit);
    }
    Ok(out)
}

fn ascii_suffix(f: &Fqdn) -> String {
    let reg = f.registrable_domain_ascii();
    match reg.find('.') {
        Some(i) => reg[i + 1..].to_owned(),
        None => String::new(),
    }
}

/// The punycode form of a (possibly dotted) label part, or `None` when a
/// label is not a valid registrable hostname label that round-trips.
fn ascii_part(part: &str) -> Option<String> {
    let mut out = String::with_capacity(part.len() + 8);
    for (i, label) in part.split('.').enumerate() {
        if i > 0 {
            out.push('.');
        }
        if label.is_ascii() {
            if label.starts_with("xn--") || !hostname_label_ok(label) {
                return None;
            }
            out.push_str(label);
        } else if label.chars().all(|c| {
            c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || homoglyph::is_idna_safe(c)
        }) {
            // fast path: every character is known to survive IDNA unchanged
            let mut it = label.chars();
            let third_fourth = (it.nth(2), it.next());
            let hyphens_ok = !label.starts_with('-')
                && !label.ends_with('-')
                && third_fourth != (Some('-'), Some('-'));
            let mut ascii = String::with_capacity(label.len() + 8);
            ascii.push_str("xn--");
            ascii.push_str(&idna::punycode::encode_str(label)?);
            if !hyphens_ok || !hostname_label_ok(&ascii) {
                return None;
            }
            out.push_str(&ascii);
        } else {
            let ascii = idna::domain_to_ascii(label).ok()?;
            if ascii.contains('.') || !hostname_label_ok(&ascii) {
                return None;
            }
            let (back, result) = idna::domain_to_unicode(&ascii);
            if result.is_err() || back != label {
                return None;
            }
            out.push_str(&ascii);
        }
    }
    Some(out)
}

/// The name has a label left of its public suffix (`eu.com` is itself a suffix).
fn registrable(ascii: &str) -> bool {
    psl::suffix(ascii.as_bytes()).is_some_and(|s| s.as_bytes().len() < ascii.len())
}

/// LDH rule: `[a-z0-9-]`, 1–63 long, no hyphen at either end, `--` at
/// positions 3–4 only for `xn--`.
fn hostname_label_ok(label: &str) -> bool {
    let b = label.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
        && (b.len() < 4 || &b[2..4] != b"--" || label.starts_with("xn--"))
}

/// The strings of a list entry for `variants`, per the include options.
pub(crate) fn list_strings(variants: &[Variant], opts: &GenerateOptions) -> Vec<String> {
    let mut out = Vec::with_capacity(variants.len() * 2);
    for v in variants {
        // with both forms off, keep the Unicode one rather than nothing
        let unicode = opts.include_unicode || !opts.include_punycode;
        if unicode {
            out.push(v.unicode.clone());
        }
        if opts.include_punycode && (v.ascii != v.unicode || !unicode) {
            out.push(v.ascii.clone());
        }
    }
    out
}

/// Build a list `{domain: [variants]}` (or, with `explain`, `{domain:
/// [{variant, punycode, fuzzer}]}`) for `domains`. `progress` is called
/// after each domain. Fails on the first bad domain, naming it.
pub fn build_list(
    domains: &[String],
    opts: &GenerateOptions,
    explain: bool,
    progress: impl FnMut(usize),
) -> Result<serde_json::Value, GenerateError> {
    let mut list = serde_json::Map::new();
    // what the listed brands own: no brand's list names another's domain
    let parsed = domains
        .iter()
        .map(|d| parse_domain(d))
        .collect::<Result<Vec<_>, _>>()?;
    let owned: HashSet<&str> = parsed
        .iter()
        .map(|f| f.registrable_domain_ascii())
        .collect();
    let owned_labels: HashSet<&str> = parsed.iter().map(|f| f.registrable_label()).collect();
    let one = |i: usize| -> Result<(String, serde_json::Value), GenerateError> {
        let (domain, fqdn) = (&domains[i], &parsed[i]);
        let key = fqdn.unicode().to_owned();
        let mut variants = generate(domain, opts)?;
        if owned.len() > 1 {
            variants.retain(|v| {
                if v.ascii.contains('.') {
                    // the variant, or a parent of it, is another brand's
                    let parents = v.ascii.match_indices('.').map(|(i, _)| &v.ascii[i + 1..]);
                    !std::iter::once(v.ascii.as_str())
                        .chain(parents)
                        .any(|d| owned.contains(d))
                } else {
                    !owned_labels.contains(v.unicode.as_str())
                }
            });
        }
        let value = if explain {
            serde_json::Value::Array(
                variants
                    .iter()
                    .map(|v| serde_json::json!({"variant": v.unicode, "punycode": v.ascii, "fuzzer": v.fuzzer.name()}))
                    .collect(),
            )
        } else {
            serde_json::Value::Array(
                list_strings(&variants, opts)
                    .into_iter()
                    .map(serde_json::Value::String)
                    .collect(),
            )
        };
        Ok((key, value))
    };
    // brands on every core; the list keeps the input order
    for (key, value) in crate::parallel::map_in_order(domains.len(), one, progress)? {
        list.insert(key, value);
    }
    Ok(serde_json::Value::Object(list))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn domains_of(domain: &str) -> Vec<String> {
        generate(domain, &GenerateOptions::default())
            .unwrap()
            .into_iter()
            .map(|v| v.unicode)
            .collect()
    }

    #[test]
    fn paypal_basics() {
        let v = generate("paypal.com", &GenerateOptions::default()).unwrap();
        let names: HashSet<&str> = v.iter().map(|v| v.unicode.as_str()).collect();
        for want in [
            "paypa1.com",
            "раураӏ.com",
            "pаypal.com",
            "paypl.com",
            "paypall.com",
            "payapl.com",
            "pay-pal.com",
            "pay.pal.com",
            "paypal-login.com",
            "paypal.top",
            "paypal-com.com",
            "paypals.com",
        ] {
            assert!(names.contains(want), "{want} missing");
        }
        assert!(!names.contains("paypal.com"), "never the input itself");
        // punycode form alongside
        let cyr = v.iter().find(|v| v.unicode == "раураӏ.com").unwrap();
        assert_eq!(cyr.ascii, idna::domain_to_ascii("раураӏ.com").unwrap());
        assert_eq!(cyr.fuzzer, Fuzzer::Cyrillic);
        // ranked: homoglyph family first, combinations last
        assert_eq!(v[0].fuzzer.family(), "homoglyph");
        assert_eq!(v.last().unwrap().fuzzer, Fuzzer::TldSwap);
        // no duplicates
        let unique: HashSet<&str> = v.iter().map(|v| v.ascii.as_str()).collect();
        assert_eq!(unique.len(), v.len());
    }

    #[test]
    fn suffix_aware_and_apple_cyrillic() {
        let b = domains_of("barclays.co.uk");
        assert!(b.contains(&"barclays.co.uk".replace("barclays", "barc1ays")));
        assert!(
            b.iter()
                .all(|d| d.ends_with(".co.uk") || !d.contains("barclays.co.uk"))
        );
        assert!(domains_of("apple.com").contains(&"аррӏе.com".to_string()));
    }

    #[test]
    fn labels_format_and_limit() {
        let opts = GenerateOptions {
            format: Format::Labels,
            fuzzers: vec![Fuzzer::Omission, Fuzzer::TldSwap, Fuzzer::Subdomain],
            limit: Some(8),
            ..GenerateOptions::default()
        };
        let v = generate("paypal.com", &opts).unwrap();
        assert_eq!(v.len(), 8);
        assert_eq!(v[0].unicode, "aypal");
        assert!(
            v.iter()
                .all(|x| x.fuzzer == Fuzzer::Omission || x.unicode.contains('.'))
        );
    }

    #[test]
    fn bad_input() {
        assert!(matches!(
            generate("10.0.0.1", &GenerateOptions::default()),
            Err(GenerateError::NotADomain { .. })
        ));
        assert!(matches!(
            generate("", &GenerateOptions::default()),
            Err(GenerateError::NotADomain { .. })
        ));
        assert!(matches!(
            generate("com", &GenerateOptions::default()),
            Err(GenerateError::NotADomain { .. })
        ));
        assert_eq!(
            parse_fuzzers(&["nope"]),
            Err(GenerateError::UnknownFuzzer("nope".into()))
        );
        assert_eq!(parse_fuzzers(&["tld-swap", "homoglyph"]).unwrap().len(), 2);
    }

    #[test]
    fn fast_path_agrees_with_idna() {
        for label in [
            "pаypal",
            "раураӏ",
            "pàypàl",
            "ṗaypal",
            "paypaӏ",
            "-аbc",
            "аb--c",
        ] {
            let fast = ascii_part(label);
            let slow = idna::domain_to_ascii(label).ok().filter(|a| {
                hostname_label_ok(a)
                    && idna::domain_to_unicode(a).0 == label
                    && !label.starts_with('-')
                    && label.chars().nth(2) != Some('-')
            });
            assert_eq!(fast, slow, "{label}");
        }
    }

    #[test]
    fn variants_that_are_public_suffixes_are_dropped() {
        let v = domains_of("ea.com");
        assert!(!v.contains(&"eu.com".to_string()));
        for d in &v {
            assert!(Fqdn::parse(d).is_ok(), "{d}");
        }
    }

    #[test]
    fn hostname_rules() {
        assert!(hostname_label_ok("a-b"));
        assert!(!hostname_label_ok("-ab"));
        assert!(!hostname_label_ok("ab-"));
        assert!(!hostname_label_ok("ab--c"));
        assert!(hostname_label_ok("xn--pypal-4ve"));
        assert!(ascii_part("pаypal").is_some());
        assert!(
            ascii_part("ǉ").is_none(),
            "mapped characters do not round-trip"
        );
    }
}
