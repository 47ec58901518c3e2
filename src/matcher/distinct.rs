//! How distinctive a brand label is, rated once when a list is compiled.
//!
//! A label that names nothing but the brand (`paypal`, `revolut`) is
//! distinctive: every signal runs for it. A label that is also an everyday
//! word (`apple`, `target`, `chase`) loses the signals real words trip:
//! two-edit typos, arbitrary words joined to it, the label alone in a
//! subdomain, most suffix swaps. A label that is one of the commonest words
//! or a common domain token (`mail`, `live`, `online`, `box`) keeps only
//! what stays precise: listed variants, homographs, the whole brand domain
//! embedded, and the label next to phishing words. Word knowledge comes from
//! `domain::word_frequency` (dictionary words and their frequency), never
//! from any corpus of domains.

use crate::domain::word_frequency;

/// Tokens domain names are made of: generic whatever their frequency.
const DOMAIN_TOKENS: &[&str] = &[
    "app", "apps", "bank", "best", "blog", "box", "buy", "cam", "cash", "chat", "city", "click",
    "cloud", "club", "deal", "deals", "digital", "direct", "email", "fast", "free", "fun", "game",
    "games", "global", "go", "group", "help", "home", "host", "hub", "info", "link", "live",
    "mail", "map", "maps", "media", "mobile", "money", "music", "my", "net", "news", "now", "one",
    "online", "pay", "photo", "plus", "portal", "pro", "search", "secure", "shop", "site", "smart",
    "sport", "sports", "store", "tech", "tube", "tv", "video", "web", "webmail", "wiki", "world",
    "www", "zone",
];

/// The longest label that can be one of the commonest words.
const COMMON_MAX_LEN: usize = 6;
/// Zipf frequency × 10 from which a dictionary word is an everyday word.
const WORD_FROM: u8 = 40;
/// ... and from which it is one of the commonest.
const COMMON_FROM: u8 = 52;

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Distinctiveness {
    /// One of the commonest words or a common domain token.
    Common,
    /// An everyday word.
    Word,
    /// Names the brand and little else.
    Distinctive,
}

impl Distinctiveness {
    /// The rating of `label`, and why when it is not distinctive.
    pub(crate) fn of(label: &str) -> (Distinctiveness, Option<String>) {
        if DOMAIN_TOKENS.contains(&label) {
            return (
                Distinctiveness::Common,
                Some(format!("{label:?} is a common domain token")),
            );
        }
        match word_frequency(label) {
            // a long word has few neighbours one edit away, however often it
            // is written (`facebook`): it is an everyday word at most
            Some(z) if z >= COMMON_FROM && label.len() <= COMMON_MAX_LEN => (
                Distinctiveness::Common,
                Some(format!("{label:?} is one of the commonest words")),
            ),
            Some(z) if z >= WORD_FROM => (
                Distinctiveness::Word,
                Some(format!("{label:?} is an everyday word")),
            ),
            _ => (Distinctiveness::Distinctive, None),
        }
    }
}

/// Whether a candidate label is a real word of its own, not a misspelling:
/// `chaser` is not a typo of `chase`. Short words are everywhere, so only
/// words of four letters or more count.
pub(crate) fn is_real_word(label: &str) -> bool {
    label.len() >= 4 && word_frequency(label).is_some()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generic_labels_are_narrowed_and_brands_are_not() {
        for (label, want) in [
            ("mail", Distinctiveness::Common),
            ("online", Distinctiveness::Common),
            ("live", Distinctiveness::Common),
            ("free", Distinctiveness::Common),
            ("apple", Distinctiveness::Word),
            ("facebook", Distinctiveness::Word),
            ("target", Distinctiveness::Word),
            ("paypal", Distinctiveness::Distinctive),
            ("revolut", Distinctiveness::Distinctive),
            ("coinbase", Distinctiveness::Distinctive),
        ] {
            assert_eq!(Distinctiveness::of(label).0, want, "{label}");
        }
        assert!(
            Distinctiveness::of("mail")
                .1
                .unwrap()
                .contains("domain token")
        );
        assert!(is_real_word("chaser") && !is_real_word("paypall"));
    }
}
