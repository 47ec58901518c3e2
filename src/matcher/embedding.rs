//! `subdomain` (target embedding): the brand's whole domain among the
//! labels of another registrable domain (`paypal.com.secure-verify.top`),
//! spelled with hyphens (`www-paypal-com.xyz`) or run together
//! (`paypalcom-login.net`); or the brand label as a subdomain label next to
//! phishing words (`paypal.secure-login.top`, not `outlook.contoso.com`).

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

impl Embedding {
    pub(super) fn compile(brands: &Brands, s: &MatcherSettings) -> Embedding {
        let mut run_together: HashMap<String, BrandIds> = HashMap::default();
        for (i, brand) in brands.list.iter().enumerate() {
            if brand.label.chars().count() >= 3 {
                let key = format!("{}{}", brand.label, brand.suffix_labels.concat());
                push_unique(run_together.entry(key).or_default(), i as u32);
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
        let label = name.registrable_label();
        let tokens: SmallVec<[&str; 8]> = label.split('-').filter(|t| !t.is_empty()).collect();
        // the brand label as a label left of the attacker's registrable domain
        let subs: SmallVec<[&str; 8]> = name.subdomain_labels().collect();
        // `outlook.contoso.com` is a company's mail server; `outlook.secure-login.top` is not
        // (checked only when a brand label is among the subdomain labels)
        let phishy = std::cell::OnceCell::new();
        let is_phishy = || {
            *phishy.get_or_init(|| {
                subs.iter()
                    .flat_map(|l| l.split('-'))
                    .chain(tokens.iter().copied())
                    .any(words::is_phishing_word)
            })
        };
        for (i, l) in subs.iter().enumerate() {
            let Some(hits) = brands.labels.get(*l) else {
                continue;
            };
            for b in hits {
                let brand = brands.get(*b);
                let whole = starts_with_suffix(&subs[i + 1..], &brand.suffix_labels);
                let (score, what) = if whole {
                    (85, format!("the domain {:?}", brand.domain))
                } else if brand.label.chars().count() >= self.embed_min_len && is_phishy() {
                    (
                        70,
                        format!("the label {:?} next to phishing words", brand.label),
                    )
                } else {
                    continue;
                };
                offer(
                    found,
                    *b,
                    score,
                    format!(
                        "target embedding of {}: {what} inside {:?}, registered under {:?}",
                        brand.domain,
                        name.unicode(),
                        name.registrable_domain()
                    ),
                );
            }
        }
        for (i, token) in tokens.iter().enumerate() {
            if let Some(hits) = self.run_together.get(*token) {
                for b in hits {
                    offer(
                        found,
                        *b,
                        80,
                        format!(
                            "target embedding of {}: {token:?} runs the domain together in {:?}",
                            brands.get(*b).domain,
                            name.unicode()
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
            for b in hits {
                let brand = brands.get(*b);
                if starts_with_suffix(&tokens[i + 1..], &brand.suffix_labels) {
                    offer(
                        found,
                        *b,
                        80,
                        format!(
                            "target embedding of {}: {:?} spells the domain with hyphens",
                            brand.domain, label
                        ),
                    );
                }
            }
        }
    }
}
