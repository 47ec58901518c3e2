//! Combination fuzzers: the brand with something added (phishing words, other
//! TLDs, its own name embedded in another label).

/// Words phishing domains pair with brands.
pub(super) const PHISHING_WORDS: &[&str] = &[
    "account",
    "accounts",
    "alert",
    "app",
    "auth",
    "billing",
    "bonus",
    "cloud",
    "confirm",
    "customer",
    "help",
    "helpdesk",
    "id",
    "info",
    "invoice",
    "login",
    "logon",
    "mail",
    "my",
    "online",
    "pay",
    "payment",
    "portal",
    "recovery",
    "refund",
    "reset",
    "secure",
    "security",
    "service",
    "services",
    "signin",
    "sso",
    "support",
    "team",
    "unlock",
    "update",
    "verification",
    "verify",
    "wallet",
    "web",
    "webmail",
];

/// Common and frequently abused TLDs for tld-swap.
pub(super) const TLDS: &[&str] = &[
    "app", "biz", "buzz", "cc", "cloud", "club", "co", "co.uk", "com", "de", "email", "fr", "icu",
    "info", "io", "live", "me", "net", "online", "org", "ru", "shop", "site", "store", "support",
    "top", "us", "vip", "website", "xyz",
];

/// brand±word, with and without a hyphen, before and after.
pub(super) fn dictionary(label: &str) -> Vec<String> {
    let mut out = Vec::with_capacity(PHISHING_WORDS.len() * 4);
    for w in PHISHING_WORDS {
        out.push(format!("{label}-{w}"));
        out.push(format!("{label}{w}"));
        out.push(format!("{w}-{label}"));
        out.push(format!("{w}{label}"));
    }
    out
}

/// Other public suffixes for the same label.
pub(super) fn tld_swap(suffix: &str) -> Vec<String> {
    TLDS.iter()
        .filter(|t| **t != suffix)
        .map(|t| t.to_string())
        .collect()
}

/// The brand's full name flattened into one label: `paypal-com`, `paypalcom`,
/// `www-paypal`, `www-paypal-com`.
pub(super) fn target_embedding(label: &str, suffix: &str) -> Vec<String> {
    let dashed = suffix.replace('.', "-");
    let joined = suffix.replace('.', "");
    vec![
        format!("{label}-{dashed}"),
        format!("{label}{joined}"),
        format!("www-{label}"),
        format!("www{label}"),
        format!("www-{label}-{dashed}"),
    ]
}

/// The name and its suffix recombined, as dnstwist's `various` does: the
/// suffix glued or hyphenated on under the top-level domain alone
/// (`monzoco.uk`, `spotify-com.com`... `spotifycom.com`), and the brand
/// directly under its top-level domain (`monzo.uk` for `monzo.co.uk`).
/// (label part, new suffix) pairs.
pub(super) fn various(label: &str, suffix: &str) -> Vec<(String, Option<String>)> {
    let tld = suffix.rsplit('.').next().unwrap_or(suffix);
    let joined = suffix.replace('.', "");
    let dashed = suffix.replace('.', "-");
    let mut out = vec![
        (format!("{label}{joined}"), Some("com".to_owned())),
        (format!("{label}-{dashed}"), Some("com".to_owned())),
    ];
    if let Some((second, _)) = suffix.split_once('.') {
        out.push((format!("{label}{second}"), Some(tld.to_owned())));
        out.push((format!("{label}-{second}"), Some(tld.to_owned())));
        out.push((label.to_owned(), Some(tld.to_owned())));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn combinations() {
        let d = dictionary("paypal");
        for v in [
            "paypal-login",
            "paypallogin",
            "secure-paypal",
            "securepaypal",
        ] {
            assert!(d.contains(&v.to_string()), "{v}");
        }
        assert!(!tld_swap("com").contains(&"com".to_string()));
        assert!(tld_swap("com").contains(&"top".to_string()));
        assert_eq!(target_embedding("barclays", "co.uk")[0], "barclays-co-uk");
        assert!(target_embedding("paypal", "com").contains(&"paypalcom".to_string()));
        let v = various("monzo", "co.uk");
        for want in [("monzoco", "uk"), ("monzo", "uk"), ("monzo-co-uk", "com")] {
            assert!(
                v.contains(&(want.0.to_owned(), Some(want.1.to_owned()))),
                "{want:?} in {v:?}"
            );
        }
    }
}
