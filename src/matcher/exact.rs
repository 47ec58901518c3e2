//! `exact_variant`: the name, one of its parents, or one of its labels is a
//! listed variant.

use super::score::{Found, verdict};
use super::{BrandIds, Brands, Scratch, push_unique};
use crate::domain::Fqdn;
use crate::model::{MatchDetail, MatchKind};
use crate::watchlist::{Variant, Watchlist};
use rustc_hash::FxHashMap as HashMap;

#[derive(Debug, Default)]
pub(super) struct Exact {
    /// Full-domain variants, Unicode form → brands listing it. With a million
    /// variants these maps are most of the memory: one key string per entry,
    /// brands inline.
    domains: HashMap<Box<str>, BrandIds>,
    /// Label variants, Unicode form → brands listing it.
    labels: HashMap<Box<str>, BrandIds>,
}

impl Exact {
    pub(super) fn compile(list: &Watchlist) -> Exact {
        let mut exact = Exact::default();
        // sized once: growing million-entry tables rehashes them several times
        let domains = list
            .brands
            .iter()
            .flat_map(|b| &b.variants)
            .filter(|v| matches!(v, Variant::Domain(_)))
            .count();
        exact.domains.reserve(domains);
        exact.labels.reserve(list.variant_count() - domains);
        for (i, entry) in list.brands.iter().enumerate() {
            for variant in &entry.variants {
                let table = match variant {
                    Variant::Label(l) => exact.labels.entry(l.as_str().into()),
                    Variant::Domain(d) => exact.domains.entry(d.unicode().into()),
                };
                push_unique(table.or_default(), i as u32);
            }
        }
        exact
    }

    pub(super) fn check(&self, brands: &Brands, name: &Fqdn, _: &mut Scratch, found: &mut Found) {
        // full-domain variants: the name or one of its parents
        for candidate in name.self_and_parents() {
            let Some(hits) = self.domains.get(candidate) else {
                continue;
            };
            for b in hits {
                let brand = brands.get(*b);
                let explanation = format!("listed variant of {}: {candidate:?}", brand.domain);
                found.offer(verdict(
                    &brand.domain,
                    name,
                    MatchDetail {
                        kind: MatchKind::ExactVariant,
                        variant: Some(candidate.to_owned()),
                        explanation,
                        ..MatchDetail::default()
                    },
                ));
            }
        }
        // label variants: any label outside the public suffix
        for label in name.non_suffix_labels() {
            let Some(hits) = self.labels.get(label) else {
                continue;
            };
            for b in hits {
                let brand = brands.get(*b);
                let explanation = format!(
                    "listed variant of {}: label {label:?} in {:?}",
                    brand.domain,
                    name.unicode()
                );
                found.offer(verdict(
                    &brand.domain,
                    name,
                    MatchDetail {
                        kind: MatchKind::ExactVariant,
                        variant: Some(label.to_owned()),
                        explanation,
                        ..MatchDetail::default()
                    },
                ));
            }
        }
    }
}
