//! Regex and keyword rules: the monitoring the older CT tools did
//! (phishing_catcher's keywords, regex watchlists), each rule with a name and
//! a severity. A keyword rule fires when at least `threshold` of its keywords
//! occur in the name.

use super::verdict::Severity;
use crate::config::RuleSettings;
use crate::domain::Fqdn;

#[derive(Debug)]
pub struct Rule {
    pub name: String,
    /// The incident's brand: the rule's `brand`, else `rule:<name>`.
    pub brand: String,
    pub severity: Severity,
    matcher: RuleKind,
}

#[derive(Debug)]
enum RuleKind {
    Regex(regex::Regex),
    Keywords {
        keywords: Vec<String>,
        threshold: usize,
    },
}

impl Rule {
    /// Compile a rule; the settings were validated when loaded.
    pub fn compile(s: &RuleSettings) -> Result<Rule, String> {
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
    pub fn check(&self, name: &Fqdn) -> Option<String> {
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
