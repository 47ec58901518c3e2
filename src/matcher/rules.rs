//! Regex and keyword rules: the monitoring the older CT tools did
//! (phishing_catcher's keywords, regex watchlists), each rule with a name and
//! a severity. A keyword rule fires when at least `threshold` of its keywords
//! occur in the name.

use super::score::{Found, rule_score, verdict};
use super::settings::RuleSettings;
use super::{Brands, Scratch};
use crate::domain::Fqdn;
use crate::model::{MatchDetail, MatchKind, Severity};
use std::sync::Arc;

#[derive(Debug, Clone)]
pub(crate) struct Rule {
    name: String,
    /// The incident's brand: the rule's `brand`, else `rule:<name>`.
    brand: String,
    severity: Severity,
    matcher: RuleKind,
}

/// The configured rules, compiled once when the settings were validated.
#[derive(Debug)]
pub(super) struct Rules(Arc<[Rule]>);

impl Rules {
    pub(super) fn new(rules: Arc<[Rule]>) -> Rules {
        Rules(rules)
    }

    pub(super) fn check(&self, _: &Brands, name: &Fqdn, _: &mut Scratch, found: &mut Found) {
        for rule in self.0.iter() {
            if let Some(explanation) = rule.check(name) {
                let detail = MatchDetail {
                    kind: MatchKind::Rule,
                    variant: Some(rule.name.clone()),
                    explanation,
                    ..MatchDetail::default()
                };
                found.offer(
                    verdict(&rule.brand, name, detail).with_score(rule_score(rule.severity)),
                );
            }
        }
    }
}

#[derive(Debug, Clone)]
enum RuleKind {
    Regex(regex::Regex),
    Keywords {
        keywords: Vec<String>,
        threshold: usize,
    },
}

impl Rule {
    /// Compile a rule (its regex is the only part that can fail).
    pub(super) fn compile(s: &RuleSettings) -> Result<Rule, String> {
        let matcher = if !s.regex.is_empty() {
            RuleKind::Regex(regex::Regex::new(&s.regex).map_err(|e| e.to_string())?)
        } else {
            RuleKind::Keywords {
                keywords: s.keywords.iter().map(|k| k.to_lowercase()).collect(),
                threshold: s.threshold.max(1),
            }
        };
        Ok(Rule {
            name: s.name.clone(),
            brand: if s.brand.is_empty() {
                format!("rule:{}", s.name)
            } else {
                s.brand.clone()
            },
            severity: s.severity,
            matcher,
        })
    }

    /// The evidence when `name` fires the rule.
    fn check(&self, name: &Fqdn) -> Option<String> {
        match &self.matcher {
            RuleKind::Regex(re) => {
                let hit = re.find(name.unicode()).or_else(|| re.find(name.ascii()))?;
                Some(format!(
                    "rule {:?}: /{}/ matched {:?} in {:?}",
                    self.name,
                    re.as_str(),
                    hit.as_str(),
                    name.unicode()
                ))
            }
            RuleKind::Keywords {
                keywords,
                threshold,
            } => {
                let text = name.unicode();
                let present: Vec<&str> = keywords
                    .iter()
                    .filter(|k| text.contains(k.as_str()))
                    .map(String::as_str)
                    .collect();
                (present.len() >= *threshold).then(|| {
                    format!(
                        "rule {:?}: {} of {} keywords in {:?} ({}; threshold {threshold})",
                        self.name,
                        present.len(),
                        keywords.len(),
                        name.unicode(),
                        present.join(", ")
                    )
                })
            }
        }
    }
}
