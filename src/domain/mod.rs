//! Name normalisation: turns a raw certificate name into an [`Fqdn`] that the
//! matcher can trust.
//!
//! Owns: trimming, lowercasing, wildcard and trailing-dot stripping, rejecting
//! IPs / e-mails / invalid hostnames, IDNA (UTS 46) to Unicode (tolerant of bad
//! A-labels, which are kept as ASCII and flagged), and the public-suffix split
//! into subdomain labels, registrable label and suffix. Confusable folding lives
//! in `fold`, ASCII lookalikes in `glyphs`, keyboard neighbours in `keyboard`. It must not know about brands
//! or lists.

mod fold;
mod glyphs;
mod idn;
mod keyboard;
mod words;

pub use fold::fold_skeleton;
pub(crate) use fold::{fold_skeleton_into, scripts_of};
pub(crate) use glyphs::{ASCII_LOOKALIKES, ascii_lookalikes};
pub use idn::normalise_label;
pub(crate) use keyboard::neighbours as keyboard_neighbours;
pub(crate) use words::{made_of_words, reads_as_words, word_frequency};

use idn::{check_ascii_hostname, decode_own_alabels, to_unicode_tolerant};

use std::net::IpAddr;

/// Why a raw name is not a hostname we match on.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("empty name")]
    Empty,
    #[error("IP address, not a hostname")]
    IpAddress,
    #[error("e-mail address, not a hostname")]
    Email,
    #[error("not a valid hostname: {0}")]
    Invalid(&'static str),
    #[error("a public suffix with no registrable label")]
    OnlySuffix,
}

/// A validated, normalised hostname with its public-suffix split.
///
/// `ascii` is the A-label form (what CT logs carry), `unicode` the U-label form
/// (what confusable checks need). Both have the same number of labels, so the
/// split computed on the ASCII form applies to both.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fqdn {
    ascii: String,
    /// `None` when it is the same as `ascii` (no `xn--` label).
    unicode: Option<String>,
    /// Byte offset in `unicode` where the registrable label starts.
    reg_start: u16,
    /// Byte offset in `unicode` where the public suffix starts.
    suffix_start: u16,
    /// Byte offset in `ascii` where the registrable label starts.
    ascii_reg_start: u16,
    /// The certificate name was `*.something`.
    wildcard: bool,
    /// An `xn--` label could not be decoded; it is kept as ASCII.
    bad_alabel: bool,
    /// The suffix is a private-section rule: the name is a tenant of a
    /// hosting platform (`x.github.io`).
    private_suffix: bool,
}

const MAX_NAME_LEN: usize = 253;
const MAX_LABEL_LEN: usize = 63;

impl Fqdn {
    /// Normalise and validate a certificate name.
    pub fn parse(raw: &str) -> Result<Fqdn, NameError> {
        Self::parse_as(raw, false)
    }

    /// Normalise and validate a protected domain (a list key, an allowlist
    /// entry, a generator input). Unlike a certificate name it may be a
    /// public suffix itself (`gc.ca`, `gov.uk`): then its first label is
    /// the registrable label and the rest its suffix.
    pub fn parse_domain(raw: &str) -> Result<Fqdn, NameError> {
        Self::parse_as(raw, true)
    }

    fn parse_as(raw: &str, domain: bool) -> Result<Fqdn, NameError> {
        let mut name = raw.trim();
        if let Some(stripped) = name.strip_suffix('.') {
            name = stripped;
        }
        if name.is_empty() {
            return Err(NameError::Empty);
        }
        let mut wildcard = false;
        if let Some(rest) = name.strip_prefix("*.") {
            wildcard = true;
            name = rest;
        }
        if let Some(parsed) = Self::parse_plain(name, wildcard, domain) {
            return parsed;
        }
        if let Some((ascii, unicode)) = idn::fast_idn(name) {
            return Self::split(ascii, Some(unicode), wildcard, false, domain);
        }
        Self::parse_general(name, wildcard, domain)
    }

    /// The common case in one pass: letters, digits, `-`, `_` and dots, no
    /// `xn--`, not all digits. `None` sends anything else to
    /// [`Fqdn::parse_general`], which gives the same answer for these names.
    fn parse_plain(name: &str, wildcard: bool, domain: bool) -> Option<Result<Fqdn, NameError>> {
        let bytes = name.as_bytes();
        if bytes.len() > MAX_NAME_LEN {
            return None;
        }
        let mut label_len = 0;
        let mut only_digits = true;
        for (i, &b) in bytes.iter().enumerate() {
            match b {
                b'a'..=b'z' | b'A'..=b'Z' | b'-' | b'_' => only_digits = false,
                b'0'..=b'9' => {}
                b'.' => {
                    if label_len == 0 || label_len > MAX_LABEL_LEN {
                        return None;
                    }
                    label_len = 0;
                    continue;
                }
                _ => return None,
            }
            if label_len == 0
                && bytes[i..].len() >= 4
                && bytes[i..i + 4].eq_ignore_ascii_case(b"xn--")
            {
                return None;
            }
            label_len += 1;
        }
        if only_digits || label_len == 0 || label_len > MAX_LABEL_LEN {
            return None;
        }
        let ascii = name.to_ascii_lowercase();
        Some(Self::split(ascii, None, wildcard, false, domain))
    }

    /// Any name: IDNA, IP and e-mail checks, tolerant A-label decoding.
    fn parse_general(name: &str, wildcard: bool, domain: bool) -> Result<Fqdn, NameError> {
        if name.contains('@') {
            return Err(NameError::Email);
        }
        let bracketless = name.trim_start_matches('[').trim_end_matches(']');
        if bracketless.parse::<IpAddr>().is_ok() {
            return Err(NameError::IpAddress);
        }
        if name.is_empty() {
            return Err(NameError::Empty);
        }
        if name.contains('*') {
            return Err(NameError::Invalid("wildcard not in the first label"));
        }

        let (ascii, unicode, bad_alabel) = if name.is_ascii() {
            let ascii = name.to_ascii_lowercase();
            check_ascii_hostname(&ascii)?;
            if ascii.contains("xn--") {
                let (unicode, bad) = to_unicode_tolerant(&ascii);
                (ascii, Some(unicode), bad)
            } else {
                (ascii, None, false)
            }
        } else {
            let ascii = idna::domain_to_ascii(name)
                .map_err(|_| NameError::Invalid("IDNA conversion failed"))?;
            if ascii.is_empty() {
                return Err(NameError::Empty);
            }
            check_ascii_hostname(&ascii)?;
            let (unicode, bad) = match decode_own_alabels(&ascii) {
                Some(unicode) => (unicode, false),
                None => to_unicode_tolerant(&ascii),
            };
            (ascii, Some(unicode), bad)
        };
        Self::split(ascii, unicode, wildcard, bad_alabel, domain)
    }

    /// The public-suffix split of a checked name. `unicode` is `None` when
    /// it equals `ascii`.
    fn split(
        ascii: String,
        unicode: Option<String>,
        wildcard: bool,
        bad_alabel: bool,
        domain: bool,
    ) -> Result<Fqdn, NameError> {
        let unicode = unicode.filter(|u| *u != ascii);
        let (mut suffix_len, mut private_suffix) = public_suffix_len(&ascii);
        if domain
            && suffix_len >= ascii.len()
            && let Some(dot) = ascii.find('.')
        {
            // a protected domain that is a public suffix: its parent rule
            suffix_len = ascii.len() - dot - 1;
            private_suffix = false;
        }
        if suffix_len == 0 || suffix_len >= ascii.len() {
            return Err(NameError::OnlySuffix);
        }
        let suffix_labels = ascii[ascii.len() - suffix_len..]
            .bytes()
            .filter(|b| *b == b'.')
            .count()
            + 1;
        let total_labels = ascii.bytes().filter(|b| *b == b'.').count() + 1;
        if suffix_labels >= total_labels {
            return Err(NameError::OnlySuffix);
        }
        // Label index (from the left) of the registrable label.
        let reg_index = total_labels - suffix_labels - 1;
        let ascii_reg_start = label_offset(&ascii, reg_index);
        let (reg_start, suffix_start) = match &unicode {
            Some(u) => (label_offset(u, reg_index), label_offset(u, reg_index + 1)),
            None => (ascii_reg_start, ascii.len() - suffix_len),
        };
        // offsets fit 16 bits: names are at most 253 bytes (their Unicode
        // form a few times that), and a million of them are kept in lists
        let offset = |o: usize| u16::try_from(o).map_err(|_| NameError::Invalid("name too long"));
        Ok(Fqdn {
            reg_start: offset(reg_start)?,
            suffix_start: offset(suffix_start)?,
            ascii_reg_start: offset(ascii_reg_start)?,
            ascii,
            unicode,
            wildcard,
            bad_alabel,
            private_suffix,
        })
    }

    fn reg_start(&self) -> usize {
        usize::from(self.reg_start)
    }

    fn suffix_start(&self) -> usize {
        usize::from(self.suffix_start)
    }

    /// The A-label (punycode) form, as CT logs carry it.
    pub fn ascii(&self) -> &str {
        &self.ascii
    }

    /// The U-label form.
    pub fn unicode(&self) -> &str {
        self.unicode.as_deref().unwrap_or(&self.ascii)
    }

    /// The label just left of the public suffix: `paypal` in `www.paypal.co.uk`.
    pub fn registrable_label(&self) -> &str {
        &self.unicode()[self.reg_start()..self.suffix_start() - 1]
    }

    /// The public suffix: `co.uk` in `www.paypal.co.uk`.
    pub fn suffix(&self) -> &str {
        &self.unicode()[self.suffix_start()..]
    }

    /// `paypal.co.uk` in `www.paypal.co.uk`, Unicode form.
    pub fn registrable_domain(&self) -> &str {
        &self.unicode()[self.reg_start()..]
    }

    /// `paypal.co.uk` in `www.paypal.co.uk`, ASCII form.
    pub fn registrable_domain_ascii(&self) -> &str {
        &self.ascii[usize::from(self.ascii_reg_start)..]
    }

    /// Labels left of the registrable label, left to right.
    pub fn subdomain_labels(&self) -> impl Iterator<Item = &str> {
        let sub = if self.reg_start == 0 {
            ""
        } else {
            &self.unicode()[..self.reg_start() - 1]
        };
        sub.split('.').filter(|l| !l.is_empty())
    }

    /// Every label that is not part of the public suffix, left to right.
    pub fn non_suffix_labels(&self) -> impl Iterator<Item = &str> {
        self.unicode()[..self.suffix_start() - 1].split('.')
    }

    /// This name and each parent down to the registrable domain, longest first.
    pub fn self_and_parents(&self) -> impl Iterator<Item = &str> {
        let unicode = self.unicode();
        let reg_start = self.reg_start();
        std::iter::once(0)
            .chain(unicode[..reg_start].match_indices('.').map(|(i, _)| i + 1))
            .filter(move |&i| i <= reg_start)
            .map(move |i| &unicode[i..])
    }

    pub fn is_wildcard(&self) -> bool {
        self.wildcard
    }

    pub fn has_bad_alabel(&self) -> bool {
        self.bad_alabel
    }

    /// The suffix is a hosting platform's (the private section of the list).
    pub fn has_private_suffix(&self) -> bool {
        self.private_suffix
    }
}

impl std::fmt::Display for Fqdn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.ascii)
    }
}

/// The length of `name`'s public suffix: the longest rule of the list,
/// private section included (`paypal-login.github.io` is a tenant of
/// `github.io`), or, when that rule is the whole name (the name is itself a
/// private-section suffix: `github.io`, `blogspot.com`), the ICANN suffix
/// beneath it, so the platform's own domain splits like any other
/// (`github` + `io`). 0 when the name is only a suffix.
/// With it, whether the suffix is a private-section rule (a hosting
/// platform's: `github.io`, `herokuapp.com`).
fn public_suffix_len(name: &str) -> (usize, bool) {
    let Some(s) = psl::suffix(name.as_bytes()) else {
        return (0, false);
    };
    let private = s.typ() == Some(psl::Type::Private);
    if s.as_bytes().len() < name.len() || !private {
        return (s.as_bytes().len(), private);
    }
    let mut rest = name;
    loop {
        let Some(dot) = rest.find('.') else {
            return (0, false);
        };
        rest = &rest[dot + 1..];
        match psl::suffix(rest.as_bytes()) {
            // a private rule under a private rule: look further down
            Some(s) if s.typ() == Some(psl::Type::Private) && s.as_bytes().len() == rest.len() => {}
            Some(s) => return (s.as_bytes().len(), s.typ() == Some(psl::Type::Private)),
            None => return (0, false),
        }
    }
}

fn label_offset(name: &str, index: usize) -> usize {
    if index == 0 {
        return 0;
    }
    name.match_indices('.')
        .nth(index - 1)
        .map(|(i, _)| i + 1)
        .unwrap_or(name.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_on_public_suffix() {
        let f = Fqdn::parse("WWW.PayPal.co.uk.").unwrap();
        assert_eq!(f.ascii(), "www.paypal.co.uk");
        assert_eq!(f.registrable_label(), "paypal");
        assert_eq!(f.suffix(), "co.uk");
        assert_eq!(f.registrable_domain(), "paypal.co.uk");
        assert_eq!(f.subdomain_labels().collect::<Vec<_>>(), vec!["www"]);
        assert_eq!(
            f.self_and_parents().collect::<Vec<_>>(),
            vec!["www.paypal.co.uk", "paypal.co.uk"]
        );
    }

    #[test]
    fn private_section_suffixes_split_their_tenants_and_themselves() {
        let tenant = Fqdn::parse("paypal-login.github.io").unwrap();
        assert_eq!(tenant.registrable_label(), "paypal-login");
        assert_eq!(tenant.suffix(), "github.io");
        let platform = Fqdn::parse("github.io").unwrap();
        assert_eq!(
            (platform.registrable_label(), platform.suffix()),
            ("github", "io")
        );
        let blog = Fqdn::parse("www.blogspot.com").unwrap();
        assert_eq!(
            (blog.registrable_label(), blog.suffix()),
            ("www", "blogspot.com")
        );
        for apex in [
            "blogspot.com",
            "googleapis.com",
            "cloudfront.net",
            "sakura.ne.jp",
        ] {
            let f = Fqdn::parse(apex).unwrap();
            assert_eq!(f.registrable_domain(), apex, "{apex}");
        }
        assert_eq!(Fqdn::parse("co.uk"), Err(NameError::OnlySuffix));
        for (key, label, suffix) in [("gc.ca", "gc", "ca"), ("gov.uk", "gov", "uk")] {
            let f = Fqdn::parse_domain(key).unwrap();
            assert_eq!((f.registrable_label(), f.suffix()), (label, suffix));
        }
        assert_eq!(Fqdn::parse_domain("com"), Err(NameError::OnlySuffix));
    }

    #[test]
    fn wildcard_and_idn() {
        let f = Fqdn::parse("*.xn--pypal-4ve.com").unwrap();
        assert!(f.is_wildcard());
        assert_eq!(f.unicode(), "pаypal.com");
        assert_eq!(f.registrable_label(), "pаypal");
        assert_eq!(f.registrable_domain_ascii(), "xn--pypal-4ve.com");
        let g = Fqdn::parse("pаypal.com").unwrap();
        assert_eq!(g.ascii(), "xn--pypal-4ve.com");
    }

    #[test]
    fn bad_alabel_is_kept_and_flagged() {
        let f = Fqdn::parse("xn--zzzzzzz-.example.com").unwrap();
        assert!(f.has_bad_alabel());
        assert_eq!(f.registrable_label(), "example");
    }

    #[test]
    fn rejects_non_hostnames() {
        assert_eq!(Fqdn::parse("10.0.0.1"), Err(NameError::IpAddress));
        assert_eq!(Fqdn::parse("[::1]"), Err(NameError::IpAddress));
        assert_eq!(Fqdn::parse("a@b.com"), Err(NameError::Email));
        assert_eq!(Fqdn::parse("  "), Err(NameError::Empty));
        assert_eq!(Fqdn::parse("com"), Err(NameError::OnlySuffix));
        assert_eq!(Fqdn::parse("co.uk"), Err(NameError::OnlySuffix));
        assert!(matches!(
            Fqdn::parse("rcgen self signed cert"),
            Err(NameError::Invalid(_))
        ));
        assert!(matches!(
            Fqdn::parse("a..b.com"),
            Err(NameError::Invalid(_))
        ));
    }

    #[test]
    fn one_pass_path_agrees_with_the_general_path() {
        let mut rng = fastrand::Rng::with_seed(5);
        let alphabet = b"abnxXYZ019-_.";
        for _ in 0..20_000 {
            let len = rng.usize(1..24);
            let name: String = (0..len)
                .map(|_| char::from(alphabet[rng.usize(..alphabet.len())]))
                .collect();
            for n in [name.clone(), format!("{name}.com"), format!("{name}.co.uk")] {
                if let Some(plain) = Fqdn::parse_plain(&n, false, false) {
                    assert_eq!(plain, Fqdn::parse_general(&n, false, false), "{n}");
                }
            }
        }
        let long = format!("{}.com", "a".repeat(64));
        assert!(Fqdn::parse(&long).is_err());
        assert_eq!(Fqdn::parse("1.2.3.4"), Err(NameError::IpAddress));
    }

    #[test]
    fn unknown_tld_uses_last_label() {
        let f = Fqdn::parse("paypal.notarealtld").unwrap();
        assert_eq!(f.registrable_label(), "paypal");
    }
}
