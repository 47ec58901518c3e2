//! `homograph`: the registrable label's folded skeleton
//! ([`crate::domain::fold_skeleton`]) equals the brand label's or a variant
//! label's, and the label is not identical to it; or the skeleton is one or
//! two ASCII lookalike substitutions from the brand label (`clarclays`,
//! `dradesc0`, `rnicrosft`), from the table the generator writes them with.

use super::score::{Found, verdict};
use super::{Brands, Scratch};
use crate::domain::{Fqdn, ascii_lookalikes, fold_skeleton, fold_skeleton_into, scripts_of};
use crate::model::{MatchDetail, MatchKind};
use crate::watchlist::Watchlist;
use rustc_hash::FxHashMap as HashMap;
use smallvec::SmallVec;
use std::hash::BuildHasher;

/// (brand, the variant whose label folded to a skeleton, or [`BRAND_LABEL`]);
/// one per brand.
type SkeletonHits = SmallVec<[(u32, u32); 1]>;

/// In [`SkeletonHits`]: the brand's own label, not a variant's.
const BRAND_LABEL: u32 = u32::MAX;

fn hash(s: &str) -> u64 {
    rustc_hash::FxBuildHasher.hash_one(s)
}

#[derive(Debug, Default)]
pub(super) struct Homographs {
    /// Hash of a folded skeleton → (brand, the label that produced it).
    /// Millions of variant labels fold to skeletons: the key is the hash,
    /// and a hit is confirmed by folding the label again (hits are rare).
    skeletons: HashMap<u64, SkeletonHits>,
    /// Folded skeleton of a brand label with one or two ASCII lookalike
    /// substitutions → (brand, substitutions).
    swaps: HashMap<Box<str>, SmallVec<[(u32, u8); 1]>>,
}

/// Labels from this length get two substitutions, shorter ones one.
const TWO_SWAPS_FROM: usize = 5;

impl Homographs {
    pub(super) fn compile(list: &Watchlist) -> Homographs {
        let mut h = Homographs::default();
        for (i, entry) in list.brands.iter().enumerate() {
            let b = i as u32;
            let label = entry.domain.registrable_label();
            let mut skeleton = String::new();
            h.add(b, BRAND_LABEL, label, &mut skeleton);
            h.add_swaps(b, label);
            for (v, variant) in entry.variants.iter().enumerate() {
                let Some(variant_label) = variant.label() else {
                    continue;
                };
                if variant_label != label {
                    h.add(b, v as u32, variant_label, &mut skeleton);
                }
            }
        }
        h
    }

    fn add(&mut self, brand: u32, variant: u32, label: &str, skeleton: &mut String) {
        fold_skeleton_into(label, skeleton);
        let entry = self.skeletons.entry(hash(skeleton)).or_default();
        if !entry.iter().any(|(b, _)| *b == brand) {
            entry.push((brand, variant));
        }
    }

    fn add_swaps(&mut self, brand: u32, label: &str) {
        let len = label.chars().count();
        if len < 3 {
            return;
        }
        let own = fold_skeleton(label);
        let mut add = |variant: &str, n: u8| {
            let key = fold_skeleton(variant);
            if key == own {
                return;
            }
            let hits = self.swaps.entry(key.into_boxed_str()).or_default();
            match hits.iter_mut().find(|(b, _)| *b == brand) {
                Some((_, k)) => *k = (*k).min(n),
                None => hits.push((brand, n)),
            }
        };
        for one in ascii_lookalikes(label) {
            add(&one, 1);
            if len >= TWO_SWAPS_FROM {
                for two in ascii_lookalikes(&one) {
                    add(&two, 2);
                }
            }
        }
    }

    pub(super) fn check(
        &self,
        brands: &Brands,
        name: &Fqdn,
        scratch: &mut Scratch,
        found: &mut Found,
    ) {
        let label = name.registrable_label();
        let skeleton = &mut scratch.skeleton;
        fold_skeleton_into(label, skeleton);
        if let Some(swaps) = self.swaps.get(skeleton.as_str()) {
            for (b, n) in swaps {
                let brand = brands.get(*b);
                if label == brand.label {
                    continue;
                }
                let short = brand.label.chars().count() < TWO_SWAPS_FROM;
                let other_suffix = name.suffix() != brand.suffix_labels.join(".");
                // under another suffix it is two changes at once, like a
                // typo there: shown, below the default incident threshold
                let score: u8 = match (short, *n, other_suffix) {
                    (_, _, true) => 45,
                    (true, _, false) => 70,
                    (false, 1, false) => 85,
                    (false, _, false) => 75,
                };
                let explanation = format!(
                    "homograph of {}: {label:?} reads as {:?} ({n} ASCII lookalike substitution{}{})",
                    brand.domain,
                    brand.label,
                    if *n == 1 { "" } else { "s" },
                    if other_suffix {
                        ", under another suffix"
                    } else {
                        ""
                    }
                );
                found.offer(
                    verdict(
                        &brand.domain,
                        name,
                        MatchDetail {
                            kind: MatchKind::Homograph,
                            variant: Some(brand.label.clone()),
                            skeleton: Some(skeleton.to_string()),
                            explanation,
                            ..MatchDetail::default()
                        },
                    )
                    .with_score(score),
                );
            }
        }
        let Some(hits) = self.skeletons.get(&hash(skeleton)) else {
            return;
        };
        let scripts = scripts_of(label);
        for (b, v) in hits {
            let brand = brands.get(*b);
            let target = match *v {
                BRAND_LABEL => brand.label.as_str(),
                v => match brands.variant_label(*b, v) {
                    Some(l) => l,
                    None => continue,
                },
            };
            if fold_skeleton(target) != *skeleton {
                continue; // a hash collision, not a lookalike
            }
            if label == brand.label || label == target {
                // identical label under another suffix: a registry-only
                // difference, not a lookalike (list it as a variant to alert)
                continue;
            }
            let whole_script = !scripts.is_mixed()
                && (scripts.cyrillic || scripts.greek)
                && name.suffix().is_ascii();
            let script_note = if scripts.is_mixed() {
                format!("{}, mixed scripts", scripts.describe())
            } else if whole_script {
                format!("{}, whole-script on .{}", scripts.describe(), name.suffix())
            } else {
                scripts.describe()
            };
            let explanation = format!(
                "homograph of {}: {label:?} folds to {target:?} ({script_note})",
                brand.domain
            );
            found.offer(verdict(
                &brand.domain,
                name,
                MatchDetail {
                    kind: MatchKind::Homograph,
                    variant: Some(target.to_string()),
                    skeleton: Some(skeleton.to_string()),
                    mixed_scripts: scripts.is_mixed(),
                    whole_script,
                    explanation,
                    ..MatchDetail::default()
                },
            ));
        }
    }
}
