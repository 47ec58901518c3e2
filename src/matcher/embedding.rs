//! `subdomain` (target embedding): the brand's domain or label inside a
//! name registered by someone else:
//! - the whole domain among its labels (`paypal.com.secure-verify.top`,
//!   `revolut.com.aaa`), spelled with hyphens in any label
//!   (`www-revolut-com.secure.app`, `www-paypal-com.xyz`), or run together
//!   (`paypalcom-login.net`, `wwwspotifycom.com`);
//! - `www` glued to the brand label (`wwwnetflix.com`);
//! - the brand label split by a dot (`spotif.y.com`, `bank.ofamerica.com`);
//! - the brand label as a subdomain label: next to phishing words
//!   (`paypal.secure-login.top`, not `outlook.contoso.com`), or, for a
//!   distinctive brand, alone (`spotify.somehost.com`, at a lower score).

use super::distinct::{Distinctiveness, is_real_word};
use super::score::{Found, embedded};
use super::settings::MatcherSettings;
use super::{BrandIds, Brands, Scratch, push_unique, words};
use crate::domain::Fqdn;
use crate::model::MatchKind;
use rustc_hash::FxHashMap as HashMap;
use smallvec::SmallVec;

#[derive(Debug)]
pub(super) struct Embedding {
    enabled: bool,
    embed_min_len: usize,
    /// Brand label and suffix run together (`paypalcom`) → brands.
    run_together: HashMap<String, BrandIds>,
}

/// `parts` begin with the brand's public-suffix labels (`["com", ...]`).
pub(super) fn starts_with_suffix(parts: &[&str], suffix: &[String]) -> bool {
    parts.len() >= suffix.len() && parts.iter().zip(suffix).all(|(a, s)| a == s)
}

/// Runs of two or three consecutive hyphen tokens of `label` as written
/// (`deutsche-bank` in `access-deutsche-bank`), where single hyphens join
/// them: (first token, end token, the run).
pub(super) fn multi_token_runs<'a>(
    label: &'a str,
    tokens: &[&'a str],
) -> SmallVec<[(usize, usize, &'a str); 8]> {
    let mut out = SmallVec::new();
    // the byte offset of each token (tokens are non-empty pieces of `label`)
    let mut offsets: SmallVec<[usize; 8]> = SmallVec::new();
    let mut at = 0;
    for part in label.split('-') {
        if !part.is_empty() {
            offsets.push(at);
        }
        at += part.len() + 1;
    }
    for i in 0..tokens.len() {
        for j in i + 2..=(i + 3).min(tokens.len()) {
            let run = &label[offsets[i]..offsets[j - 1] + tokens[j - 1].len()];
            if !run.contains("--") {
                out.push((i, j, run));
            }
        }
    }
    out
}

/// Every label of `name`, the suffix's included, left to right, and how
/// many come before the suffix. A byte scan: names are short, and a
/// `split` costs more.
fn labels_of(name: &Fqdn) -> (SmallVec<[&str; 8]>, usize) {
    let unicode = name.unicode();
    let mut labels: SmallVec<[&str; 8]> = SmallVec::new();
    let mut from = 0;
    for (at, _) in unicode.bytes().enumerate().filter(|&(_, b)| b == b'.') {
        labels.push(&unicode[from..at]);
        from = at + 1;
    }
    labels.push(&unicode[from..]);
    let suffix_labels = name.suffix().bytes().filter(|&b| b == b'.').count() + 1;
    let own = labels.len().saturating_sub(suffix_labels);
    (labels, own)
}

impl Embedding {
    pub(super) fn compile(brands: &Brands, s: &MatcherSettings) -> Embedding {
        let mut run_together: HashMap<String, BrandIds> = HashMap::default();
        for (i, brand) in brands.list.iter().enumerate() {
            if brand.label.chars().count() >= 3 {
                // `paypalcom`, and `bbcco` as well as `bbccouk` for bbc.co.uk
                let mut key = brand.label.clone();
                for label in &brand.suffix_labels {
                    key.push_str(label);
                    push_unique(run_together.entry(key.clone()).or_default(), i as u32);
                }
            }
        }
        Embedding {
            enabled: s.target_embedding,
            embed_min_len: s.embed_min_len,
            run_together,
        }
    }

    pub(super) fn enabled(&self) -> bool {
        self.enabled
    }

    /// The brand label split by dots (`spotif.y.com`, `bank.ofamerica.com`):
    /// two or three consecutive labels, joined, are a brand label. Followed
    /// by exactly the brand's suffix, the name is the brand's domain with a
    /// dot or two inserted, wherever the public suffix list puts the cut
    /// (`vi.sa.com` under `sa.com`, `pos.te.it` under `te.it`,
    /// `t-mob.ile.com`): any brand. The last labels before another suffix
    /// (`spotif.y.net`): distinctive labels of five or more only. The name
    /// holds no brand label as written, so this runs outside the
    /// brand-label prefilter.
    pub(super) fn check_split(
        &self,
        brands: &Brands,
        name: &Fqdn,
        scratch: &mut Scratch,
        found: &mut Found,
    ) {
        if !self.enabled {
            return;
        }
        let unicode = name.unicode();
        let (labels, own_labels) = labels_of(name);
        // Where the joined labels may end: before a listed brand's suffix
        // (the rest of the name is that suffix, whatever the public suffix
        // list says of it), or before the name's own suffix. Most names
        // have one or two such places, so few joins are looked up.
        let mut rest_at = unicode.len();
        for end in (2..labels.len()).rev() {
            // `rest_at`: the byte where labels[end..] starts
            rest_at -= labels[end].len() + usize::from(end + 1 < labels.len());
            let before_suffix = end == own_labels;
            if !before_suffix && !brands.suffixes.contains(&unicode[rest_at..]) {
                continue;
            }
            let rest = &labels[end..];
            for join in 2..=3usize.min(end) {
                let parts = &labels[end - join..end];
                if parts.iter().any(|p| p.is_empty()) {
                    continue;
                }
                let joined = &mut scratch.joined;
                joined.clear();
                parts.iter().for_each(|p| joined.push_str(p));
                if !brands.shapes.may_contain(joined) {
                    continue;
                }
                let Some(hits) = brands.labels.get(joined.as_str()) else {
                    continue;
                };
                for b in hits {
                    let brand = brands.get(*b);
                    let exact = rest.len() == brand.suffix_labels.len()
                        && starts_with_suffix(rest, &brand.suffix_labels);
                    // under another suffix, only the labels right before it
                    let elsewhere = before_suffix
                        && !parts.iter().any(|p| p.contains('-'))
                        && brand.distinct != Distinctiveness::Common
                        && brand.label.chars().count() >= 5;
                    if !exact && !elsewhere {
                        continue;
                    }
                    found.offer(embedded(
                        brand,
                        name,
                        MatchKind::Subdomain,
                        75,
                        format!(
                            "target embedding of {}: {:?} is {:?} split by dots",
                            brand.domain,
                            parts.join("."),
                            brand.label
                        ),
                    ));
                }
            }
        }
    }

    pub(super) fn check(&self, brands: &Brands, name: &Fqdn, _: &mut Scratch, found: &mut Found) {
        if !self.enabled {
            return;
        }
        let offer = |found: &mut Found, b: u32, score: u8, explanation: String| {
            found.offer(embedded(
                brands.get(b),
                name,
                MatchKind::Subdomain,
                score,
                explanation,
            ));
        };
        let unicode = name.unicode();
        let (all, own_labels) = labels_of(name);
        // a token running a brand's domain together (`wwwpaypalcom`);
        // `guarded` leaves out common brands, and word brands where the
        // token is a word (`whois` runs `who.is` together). A label that is
        // nothing but a common brand's whole domain run together
        // (`officecom.com`, `wwwlivecom.net`) still counts, unless that is
        // a word too (`telecom`).
        let run_together = |found: &mut Found, token: &str, guarded: bool, whole: bool| {
            let bare = strip_www(token);
            for b in self.run_together.get(bare).into_iter().flatten() {
                let brand = brands.get(*b);
                let whole_domain = whole
                    && bare.len() >= 6
                    && bare.len() == brand.label.len() + brand.suffix_labels.concat().len()
                    && !is_real_word(bare);
                if guarded
                    && !whole_domain
                    && (brand.distinct == Distinctiveness::Common
                        || (brand.distinct == Distinctiveness::Word && is_real_word(bare)))
                {
                    continue;
                }
                offer(
                    found,
                    *b,
                    80,
                    format!(
                        "target embedding of {}: {token:?} runs the domain together in {unicode:?}",
                        brand.domain
                    ),
                );
            }
        };
        // the phishing words among its own labels' hyphen tokens
        let phishing: SmallVec<[&str; 4]> = all[..own_labels]
            .iter()
            .flat_map(|l| l.split('-'))
            .filter(|t| words::is_phishing_word(t))
            .collect();
        // ... besides the brand label itself (`mail` is both)
        let is_phishy = |label: &str| phishing.iter().any(|w| *w != label);
        // the brand's domain as labels of the name, left of its own
        // registrable domain (which would be the brand's own)
        for (i, l) in all[..own_labels].iter().enumerate() {
            let Some(hits) = brands.labels.get(*l) else {
                continue;
            };
            for b in hits {
                let brand = brands.get(*b);
                let in_subdomain = i + 1 < own_labels;
                let whole = in_subdomain && starts_with_suffix(&all[i + 1..], &brand.suffix_labels);
                let (score, what) = if whole {
                    (85, format!("the domain {:?}", brand.domain))
                } else if !in_subdomain {
                    continue; // the label under another suffix: a suffix swap
                } else if brand.label.chars().count() >= self.embed_min_len
                    && is_phishy(&brand.label)
                {
                    (
                        70,
                        format!("the label {:?} next to phishing words", brand.label),
                    )
                } else if brand.distinct == Distinctiveness::Distinctive
                    && brand.label.chars().count() >= 5
                {
                    (55, format!("the label {:?}", brand.label))
                } else {
                    continue;
                };
                offer(
                    found,
                    *b,
                    score,
                    format!(
                        "target embedding of {}: {what} inside {unicode:?}, registered under {:?}",
                        brand.domain,
                        name.registrable_domain()
                    ),
                );
            }
        }
        // the brand label followed by its suffix's labels as tokens of `l`
        let spelled = |found: &mut Found, hits: &BrandIds, rest: &[&str], l: &str| {
            for b in hits {
                let brand = brands.get(*b);
                if starts_with_suffix(rest, &brand.suffix_labels) {
                    offer(
                        found,
                        *b,
                        80,
                        format!(
                            "target embedding of {}: {l:?} spells the domain with hyphens",
                            brand.domain
                        ),
                    );
                }
            }
        };
        // hyphen-spelled and run-together domains, in any label
        for l in &all[..own_labels] {
            let tokens: SmallVec<[&str; 8]> = l.split('-').filter(|t| !t.is_empty()).collect();
            // a hyphenated brand label run together with its suffix
            // (`deutsche-bankde`) is one token of its own
            if l.contains('-') {
                run_together(found, l, false, false);
            }
            for (i, token) in tokens.iter().enumerate() {
                run_together(found, token, true, tokens.len() == 1);
                let bare = strip_www(token);
                if bare.len() < token.len()
                    && let Some(hits) = brands.labels.get(bare)
                {
                    for b in hits {
                        let brand = brands.get(*b);
                        if brand.distinct == Distinctiveness::Common {
                            continue;
                        }
                        offer(
                            found,
                            *b,
                            75,
                            format!(
                                "target embedding of {}: {token:?} glues www to {:?}",
                                brand.domain, brand.label
                            ),
                        );
                    }
                }
                if tokens.len() < 2 {
                    continue;
                }
                let Some(hits) = brands.labels.get(*token) else {
                    continue;
                };
                spelled(found, hits, &tokens[i + 1..], l);
            }
            // a hyphenated brand label as its tokens (`deutsche-bank-de`)
            if brands.hyphenated && tokens.len() > 2 {
                for (_, j, run) in multi_token_runs(l, &tokens) {
                    if let Some(hits) = brands.labels.get(run) {
                        spelled(found, hits, &tokens[j..], l);
                    }
                }
            }
        }
    }
}

/// A token without a leading `www` (`wwwpaypalcom`), unless that is all of it.
fn strip_www(token: &str) -> &str {
    token
        .strip_prefix("www")
        .filter(|t| !t.is_empty())
        .unwrap_or(token)
}
