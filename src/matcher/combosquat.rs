//! `combosquat`: the brand label as a hyphen token next to a phishing word
//! (`secure-paypal-account.net`), glued to a phishing word
//! (`securepaypal.net`, `paypallogin.com`), or, for labels of 8+
//! characters, a hyphen token with any word (`facebook-group.com`).
//! `apple` in `pineapple`, `paypal` in `paypalmafia` and `booking-engine`
//! do not match.

use super::embedding::starts_with_suffix;
use super::score::{Found, embedded};
use super::settings::MatcherSettings;
use super::{Brands, Scratch, words};
use crate::domain::Fqdn;
use crate::model::MatchKind;
use smallvec::SmallVec;

#[derive(Debug)]
pub(super) struct Combosquats {
    enabled: bool,
    embed_min_len: usize,
    /// A hyphen-spelled whole domain is an embedding when that signal is on.
    target_embedding: bool,
}

impl Combosquats {
    pub(super) fn compile(s: &MatcherSettings) -> Combosquats {
        Combosquats {
            enabled: s.combosquat,
            embed_min_len: s.embed_min_len,
            target_embedding: s.target_embedding,
        }
    }

    pub(super) fn enabled(&self) -> bool {
        self.enabled
    }

    pub(super) fn check(&self, brands: &Brands, name: &Fqdn, _: &mut Scratch, found: &mut Found) {
        if !self.enabled {
            return;
        }
        let offer = |found: &mut Found, b: u32, score: u8, explanation: String| {
            found.offer(embedded(
                brands.get(b),
                name,
                MatchKind::Combosquat,
                score,
                explanation,
            ));
        };
        let label = name.registrable_label();
        let tokens: SmallVec<[&str; 8]> = label.split('-').filter(|t| !t.is_empty()).collect();
        for (i, token) in tokens.iter().enumerate() {
            if tokens.len() > 1
                && let Some(hits) = brands.labels.get(*token)
            {
                for b in hits {
                    let brand = brands.get(*b);
                    let whole = starts_with_suffix(&tokens[i + 1..], &brand.suffix_labels);
                    if whole && self.target_embedding {
                        continue;
                    }
                    let words: Vec<&str> = tokens
                        .iter()
                        .filter(|t| words::is_phishing_word(t))
                        .copied()
                        .collect();
                    // without a phishing word only a distinctive (long) brand
                    // label counts: `facebook-group` yes, `apple-pie` and
                    // `booking-engine` no
                    let (score, with) = if !words.is_empty() {
                        (62, format!(" with {}", words.join(", ")))
                    } else if brand.label.chars().count() >= 8 {
                        (55, String::new())
                    } else {
                        continue;
                    };
                    offer(
                        found,
                        *b,
                        score,
                        format!(
                            "combosquat of {}: {:?} is a hyphenated token of {label:?}{with}",
                            brand.domain, brand.label
                        ),
                    );
                }
            }
            // the brand label glued to a phishing word: split where a word starts or ends
            for (at, _) in token.char_indices().skip(1) {
                let (head, tail) = token.split_at(at);
                for (brand_part, word) in [(head, tail), (tail, head)] {
                    if !brands.shapes.may_contain(brand_part) || !words::is_phishing_word(word) {
                        continue;
                    }
                    let Some(hits) = brands.labels.get(brand_part) else {
                        continue;
                    };
                    for b in hits {
                        let brand = brands.get(*b);
                        if brand.label.chars().count() < self.embed_min_len {
                            continue;
                        }
                        offer(
                            found,
                            *b,
                            60,
                            format!(
                                "combosquat of {}: {:?} joined to {word:?} in {label:?}",
                                brand.domain, brand.label
                            ),
                        );
                    }
                }
            }
        }
    }
}
