//! The fuzzer registry: one line per permutation strategy, in rank order
//! (most deceptive first). A new fuzzer is a function in one of the family
//! files (`homoglyph`, `typo`, `combination`) or a new file, plus one line
//! in the table below.

use super::{combination, homoglyph, typo};
use serde::{Deserialize, Serialize};

/// What a fuzzer varies: the registrable label and its public suffix.
pub(super) struct Target<'a> {
    pub(super) label: &'a str,
    pub(super) suffix: &'a str,
}

/// A fuzzer's output: a new label part (may hold dots), and a new suffix
/// when the fuzzer changes it.
pub(super) type Candidate = (String, Option<String>);

/// Label variants with the suffix kept.
fn labels(v: Vec<String>) -> Vec<Candidate> {
    v.into_iter().map(|l| (l, None)).collect()
}

/// The registry: one line per fuzzer, in rank order (most deceptive first):
/// `Variant => "name", family, "description", |target| candidates;`.
macro_rules! fuzzers {
    ($($variant:ident => $name:literal, $family:literal, $description:literal, $run:expr;)*) => {
        /// One permutation strategy. Declaration order is the rank order.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
        pub enum Fuzzer {
            $(#[serde(rename = $name)] $variant,)*
        }

        impl Fuzzer {
            pub const ALL: &[Fuzzer] = &[$(Fuzzer::$variant),*];

            pub fn name(self) -> &'static str {
                match self { $(Fuzzer::$variant => $name,)* }
            }

            pub fn family(self) -> &'static str {
                match self { $(Fuzzer::$variant => $family,)* }
            }

            pub fn description(self) -> &'static str {
                match self { $(Fuzzer::$variant => $description,)* }
            }

            pub(super) fn run(self, target: &Target<'_>) -> Vec<Candidate> {
                let run: fn(&Target<'_>) -> Vec<Candidate> = match self { $(Fuzzer::$variant => $run,)* };
                run(target)
            }
        }
    };
}

fuzzers! {
    Cyrillic => "cyrillic", "homoglyph",
        "every letter replaced by its Cyrillic twin (раураӏ), when each has one",
        |t| labels(homoglyph::whole_script(t.label, homoglyph::Script::Cyrillic));
    Greek => "greek", "homoglyph",
        "every letter replaced by its Greek twin, when each has one",
        |t| labels(homoglyph::whole_script(t.label, homoglyph::Script::Greek));
    Homoglyph => "homoglyph", "homoglyph",
        "ASCII lookalikes (0/o, 1/l, rn/m, vv/w, cl/d) and Latin diacritics, one or two substitutions; Latin confusables, one",
        |t| labels(homoglyph::homoglyph(t.label));
    Confusable => "confusable", "homoglyph",
        "one or two Cyrillic, or one or two Greek, lookalikes in the Latin label (pаypal)",
        |t| labels(homoglyph::confusable(t.label));
    Omission => "omission", "typo", "a character left out", |t| labels(typo::omission(t.label));
    Repetition => "repetition", "typo", "a character doubled", |t| labels(typo::repetition(t.label));
    Transposition => "transposition", "typo", "two adjacent characters swapped",
        |t| labels(typo::transposition(t.label));
    Replacement => "replacement", "typo",
        "a character replaced by a keyboard neighbour (qwerty, qwertz, azerty)",
        |t| labels(typo::replacement(t.label));
    Insertion => "insertion", "typo", "a keyboard neighbour inserted before or after a character",
        |t| labels(typo::insertion(t.label));
    Addition => "addition", "typo", "a-z or 0-9 appended, or inserted before a hyphen",
        |t| labels(typo::addition(t.label));
    Bitsquatting => "bitsquatting", "typo", "one bit of one character flipped",
        |t| labels(typo::bitsquatting(t.label));
    VowelSwap => "vowel-swap", "typo", "a vowel replaced by another", |t| labels(typo::vowel_swap(t.label));
    Hyphenation => "hyphenation", "typo", "a hyphen inserted", |t| labels(typo::hyphenation(t.label));
    Plural => "plural", "typo", "s or es inserted", |t| labels(typo::plural(t.label));
    Subdomain => "subdomain", "typo", "a dot inserted (pay.pal.com)", |t| labels(typo::subdomain(t.label));
    Dictionary => "dictionary", "combination",
        "a phishing word before or after, with and without hyphen",
        |t| labels(combination::dictionary(t.label));
    TargetEmbedding => "target-embedding", "combination",
        "the brand's full name in one label (paypal-com, www-paypal)",
        |t| labels(combination::target_embedding(t.label, t.suffix));
    Various => "various", "combination",
        "the name and its suffix recombined (monzoco.uk, monzo.uk, spotify-com.com)",
        |t| combination::various(t.label, t.suffix);
    TldSwap => "tld-swap", "combination", "another public suffix",
        |t| combination::tld_swap(t.suffix).into_iter().map(|s| (t.label.to_owned(), Some(s))).collect();
}

impl Fuzzer {
    pub fn parse(name: &str) -> Option<Fuzzer> {
        Fuzzer::ALL
            .iter()
            .copied()
            .find(|f| f.name() == name.trim())
    }
}
