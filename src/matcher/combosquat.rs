//! `combosquat`: the brand label joined with other words in the
//! registrable label:
//! - a hyphen token next to a phishing word (`secure-paypal-account.net`,
//!   `ups-tracking.com`): every brand but the commonest words;
//! - glued to a phishing word (`securepaypal.net`, `paypallogin.com`,
//!   `ingservice.com`);
//! - for a distinctive brand, a hyphen token with any word
//!   (`revolut-agree.com`), or glued to any letters when the name also
//!   holds a phishing word (`dhlexpress-tracking.com`); glued to anything
//!   else (`paypalmafia.org`) is shown, below the incident threshold.
//!
//! An everyday-word brand counts only next to phishing words: `apple-pie`,
//! `pineapple` and `booking-engine` do not match.

use super::distinct::{Distinctiveness, is_real_word};
use super::embedding::{multi_token_runs, starts_with_suffix};
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
        let words: SmallVec<[&str; 4]> = tokens
            .iter()
            .filter(|t| words::is_phishing_word(t))
            .copied()
            .collect();
        for (i, token) in tokens.iter().enumerate() {
            if tokens.len() > 1 {
                self.token_hit(brands, name, (&tokens, i, i + 1), token, &words, found);
                // the brand label with a number on (`office365-login`)
                let bare = token.trim_end_matches(|c: char| c.is_ascii_digit());
                if !bare.is_empty() && bare.len() < token.len() {
                    self.token_hit(brands, name, (&tokens, i, i + 1), bare, &words, found);
                }
            }
            // the brand label glued to other letters: split where a word starts or ends
            for (at, _) in token.char_indices().skip(1) {
                let (head, tail) = token.split_at(at);
                for (brand_part, word) in [(head, tail), (tail, head)] {
                    if !brands.shapes.may_contain(brand_part) {
                        continue;
                    }
                    let Some(hits) = brands.labels.get(brand_part) else {
                        continue;
                    };
                    let phishing = words::is_phishing_word(word);
                    // a strong word glued on, or elsewhere in the name
                    let strong = words::is_strong_phishing_word(word)
                        || words.iter().any(|w| words::is_strong_phishing_word(w));
                    for b in hits {
                        let brand = brands.get(*b);
                        let len = brand.label.chars().count();
                        // a plural no dictionary has: not `boxes` in `dropboxes`
                        let plural = word == "es"
                            && brand_part == head
                            && !(0..token.len().saturating_sub(4))
                                .any(|i| token.is_char_boundary(i) && is_real_word(&token[i..]));
                        let (score, how) = match brand.distinct {
                            Distinctiveness::Common => continue,
                            // `netflixes`
                            _ if plural => (62, "a plural ending"),
                            _ if strong && len >= self.embed_min_len => (60, "a phishing word"),
                            _ if strong => (58, "a phishing word"),
                            Distinctiveness::Distinctive if phishing => (55, "a phishing word"),
                            Distinctiveness::Distinctive if len >= 5 && !words.is_empty() => {
                                (56, "letters, next to phishing words")
                            }
                            _ if phishing => (50, "a phishing word (an everyday-word brand)"),
                            Distinctiveness::Distinctive if len >= 5 && word.len() >= 2 => {
                                (45, "letters")
                            }
                            _ => continue,
                        };
                        offer(
                            found,
                            *b,
                            score,
                            format!(
                                "combosquat of {}: {:?} joined to {how} {word:?} in {label:?}",
                                brand.domain, brand.label
                            ),
                        );
                    }
                }
            }
        }
        // a hyphenated brand label as its tokens (`access-deutsche-bank`)
        if brands.hyphenated && tokens.len() > 2 {
            for (i, j, run) in multi_token_runs(label, &tokens) {
                if j - i < tokens.len() {
                    self.token_hit(brands, name, (&tokens, i, j), run, &words, found);
                }
            }
        }
    }

    /// `run` (tokens `i..j` of the registrable label) is a brand label:
    /// score it by the words beside it.
    fn token_hit(
        &self,
        brands: &Brands,
        name: &Fqdn,
        (tokens, i, j): (&[&str], usize, usize),
        run: &str,
        words: &[&str],
        found: &mut Found,
    ) {
        let Some(hits) = brands.labels.get(run) else {
            return;
        };
        let label = name.registrable_label();
        // the words beside the brand, not the brand label itself
        // (`mobile` is both a word and a brand label)
        let others: SmallVec<[&str; 4]> = words
            .iter()
            .filter(|w| !tokens[i..j].contains(w))
            .copied()
            .collect();
        let strong = others.iter().any(|w| words::is_strong_phishing_word(w));
        for b in hits {
            let brand = brands.get(*b);
            let whole = starts_with_suffix(&tokens[j..], &brand.suffix_labels);
            if whole && self.target_embedding {
                continue;
            }
            let distinct = brand.distinct;
            let long = brand.label.chars().count() >= 5;
            let score = match (strong, others.is_empty(), distinct) {
                (true, _, Distinctiveness::Common) => 52,
                (true, _, _) => 62,
                (false, false, Distinctiveness::Distinctive) => 58,
                (false, false, Distinctiveness::Word) => 50,
                (false, true, Distinctiveness::Distinctive) if long => 55,
                _ => continue,
            };
            let with = if others.is_empty() {
                String::new()
            } else {
                format!(" with {}", others.join(", "))
            };
            found.offer(embedded(
                brand,
                name,
                MatchKind::Combosquat,
                score,
                format!(
                    "combosquat of {}: {:?} is a hyphenated token of {label:?}{with}",
                    brand.domain, brand.label
                ),
            ));
        }
    }
}
