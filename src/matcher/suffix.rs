//! `suffix_swap`: the brand label as the registrable label under another
//! suffix (`spotify.net`, `revolut.online`, `paypal.herokuapp.com`).
//!
//! Brands own many of these themselves (defensive registrations, country
//! sites), so the score follows where phishers register: a hosting
//! platform's subdomain (a free tenant) and suffixes made to pass for
//! `.com` (`com.co`, `us.com`) highest, then cheap and abused TLDs, then
//! the other generic TLDs; a country-code suffix, where a brand's own
//! country sites live, stays below the incident threshold. An everyday-word
//! brand keeps only the first three; the commonest words none (`mail.com`
//! is not a lookalike of `mail.ru`).

use super::distinct::Distinctiveness;
use super::score::{Found, embedded};
use super::{Brands, Scratch};
use crate::domain::Fqdn;
use crate::model::MatchKind;

/// TLDs cheap to register and over-represented in phishing (abuse reports
/// of Spamhaus, Interisle and APWG; dnstwist's list of abused TLDs).
const ABUSED: &[&str] = &[
    "app", "asia", "bond", "buzz", "cc", "cf", "cfd", "click", "cloud", "club", "cn", "cyou",
    "digital", "fit", "fun", "ga", "gq", "help", "host", "icu", "info", "lat", "life", "link",
    "live", "ml", "mobi", "mom", "network", "online", "ooo", "page", "pro", "pw", "quest", "rest",
    "sbs", "services", "shop", "site", "space", "store", "support", "tech", "tk", "today", "top",
    "vip", "wang", "website", "work", "world", "ws", "xyz",
];

/// Second-level suffixes sold to look like `.com`/`.net` (CentralNic and
/// friends).
const MIMICS: &[&str] = &[
    "ae.org", "br.com", "cn.com", "co.com", "com.co", "com.de", "de.com", "eu.com", "gb.net",
    "in.net", "jpn.com", "mex.com", "ru.com", "sa.com", "se.net", "uk.com", "uk.net", "us.com",
    "us.org", "za.com",
];

/// Country codes of the large markets, where brands keep country sites of
/// their own: 56 codes, roughly the largest economies by GDP, written as
/// their ccTLDs (`uk`, not `gb`).
const MARKETS: &[&str] = &[
    "ae", "ar", "at", "au", "bd", "be", "br", "ca", "ch", "cl", "cn", "co", "cz", "de", "dk", "eg",
    "es", "fi", "fr", "gr", "hk", "id", "ie", "il", "in", "iq", "ir", "it", "jp", "kr", "kz", "mx",
    "my", "ng", "nl", "no", "nz", "pe", "ph", "pk", "pl", "pt", "qa", "ro", "ru", "sa", "se", "sg",
    "th", "tr", "tw", "ua", "uk", "us", "vn", "za",
];

const LEGACY: &[&str] = &["com", "net", "org", "biz"];

/// TLDs nobody can register a lookalike under.
const RESTRICTED: &[&str] = &["edu", "gov", "int", "mil"];

#[derive(Debug)]
pub(super) struct SuffixSwaps;

/// How strongly the brand label under `suffix` instead of the brand's
/// `brand_suffix` points at a lookalike; `None` when not at all.
fn score(
    brand: &super::Brand,
    brand_suffix: &str,
    suffix: &str,
    private: bool,
    siblings: bool,
) -> Option<(u8, &'static str)> {
    let word = brand.distinct == Distinctiveness::Word;
    let tld = suffix.rsplit('.').next().unwrap_or(suffix);
    let brand_tld = brand.suffix_labels.last().map_or("", String::as_str);
    let multi = brand.suffix_labels.len() > 1;
    if RESTRICTED.contains(&tld) {
        // only accredited institutions and governments register these
        return None;
    }
    if brand.distinct == Distinctiveness::Common {
        // the commonest words only where a lookalike is cheap to host
        return if private {
            Some((55, "a hosting platform's subdomain (a common word)"))
        } else if MIMICS.contains(&suffix) {
            Some((55, "a suffix made to pass for .com (a common word)"))
        } else if suffix == tld && ABUSED.contains(&tld) {
            Some((52, "a TLD cheap and common in phishing (a common word)"))
        } else {
            None
        };
    }
    Some(if private {
        if word {
            (60, "a hosting platform's subdomain (an everyday word)")
        } else {
            (70, "a hosting platform's subdomain")
        }
    } else if MIMICS.contains(&suffix) {
        (65, "a suffix made to pass for .com")
    } else if siblings && !(suffix == tld && ABUSED.contains(&tld)) {
        // the list holds the label under other suffixes: a brand with
        // sites of its own under several suffixes
        (
            45,
            "the list names the brand under other suffixes, its own sites",
        )
    } else if multi && brand_suffix.ends_with(&format!(".{suffix}")) {
        (60, "the brand's suffix without its second level")
    } else if multi && suffix == brand.suffix_labels.concat() {
        (60, "the brand's suffix with its dots dropped")
    } else if multi && tld == brand_tld && suffix.contains('.') {
        (55, "another second level under the brand's country code")
    } else if suffix == tld && ABUSED.contains(&tld) {
        (60, "a TLD cheap and common in phishing")
    } else if word {
        (45, "another suffix (an everyday word: weak)")
    } else if LEGACY.contains(&tld) && tld == suffix && LEGACY.contains(&brand_tld) {
        (55, "another generic TLD")
    } else if (tld.len() == 2 && MARKETS.contains(&tld)) || tld.starts_with("xn--") {
        // `paypal.de`, `paypal.com.br`: most are the brand's own country sites
        (
            45,
            "a country-code suffix of a large market, where brands keep their own sites",
        )
    } else if tld.len() == 2 {
        (50, "a country code of a small market (weak)")
    } else {
        (52, "another TLD")
    })
}

impl SuffixSwaps {
    pub(super) fn check(&self, brands: &Brands, name: &Fqdn, _: &mut Scratch, found: &mut Found) {
        let label = name.registrable_label();
        let Some(hits) = brands.labels.get(label) else {
            return;
        };
        let suffix = name.suffix();
        for b in hits {
            let brand = brands.get(*b);
            let brand_suffix = brand.suffix_labels.join(".");
            if brand_suffix == suffix {
                continue;
            }
            let Some((score, what)) = score(
                brand,
                &brand_suffix,
                suffix,
                name.has_private_suffix(),
                hits.len() > 1,
            ) else {
                continue;
            };
            found.offer(embedded(
                brand,
                name,
                MatchKind::SuffixSwap,
                score,
                format!(
                    "suffix swap of {}: {label:?} under {suffix:?}, {what}",
                    brand.domain
                ),
            ));
        }
    }
}
