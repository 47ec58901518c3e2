//! `[matcher]`: typo thresholds, which signals run, the allowlist and the
//! rules. [`MatcherSettings::validate`] parses it once into a
//! [`MatcherConfig`] (compiled rules, parsed allowlist) that the matcher
//! compiles every snapshot from without parsing anything again.

use super::rules::Rule;
use crate::config::{ConfigError, invalid};
use crate::domain::Fqdn;
use crate::model::Severity;
use serde::{Deserialize, Serialize};
use std::sync::Arc;

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MatcherSettings {
    /// XSOAR-style similarity `1 - d/max_len`; when set (> 0) it replaces
    /// `max_distance` as the typo criterion.
    pub similarity: f64,
    /// Absolute OSA distance; 0 means by label length (one edit, two from
    /// six characters on for distinctive brands).
    pub max_distance: u32,
    /// Registrable labels shorter than this are never typos.
    pub min_label_len: usize,
    /// Domains that are the brand's own in addition to the list's keys.
    pub allowlist: Vec<String>,
    /// Also count typos of variant labels (XSOAR pack parity); by default typos
    /// are measured against the brand labels only.
    pub typo_against_variants: bool,
    /// Browser-style filter: a different first character alone (`hank` for
    /// `tank`) is not a typo, unless it is a keyboard neighbour or lookalike.
    pub typo_ignore_first_char: bool,
    /// Browser-style filter: a different trailing number alone (`site35` for
    /// `site45`) is not a typo.
    pub typo_ignore_trailing_number: bool,
    /// Look for target embedding (`paypal.com.secure.top`, `www-paypal-com.xyz`).
    pub target_embedding: bool,
    /// Look for combosquats (`paypal-login.com`, `securepaypal.net`).
    pub combosquat: bool,
    /// Brand labels shorter than this are not looked for inside other names.
    pub embed_min_len: usize,
    /// Score added when the issuer is a free DV CA (Let's Encrypt, ZeroSSL,
    /// Google Trust Services, Buypass).
    pub free_dv_bonus: u8,
    /// Verdicts scoring below this do not become incidents (they still
    /// show in `POST /v1/match`).
    pub min_score: u8,
    /// Regex and keyword rules.
    pub rules: Vec<RuleSettings>,
}

/// One regex or keyword rule (`[[matcher.rules]]`).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuleSettings {
    pub name: String,
    /// The incident's brand; empty = `rule:<name>`.
    pub brand: String,
    pub severity: Severity,
    /// A regular expression over the name (Unicode, then ASCII form).
    pub regex: String,
    /// Keywords looked for in the name ...
    pub keywords: Vec<String>,
    /// ... at least this many of them.
    pub threshold: usize,
}

impl RuleSettings {
    /// Check the rule (`key` names it in errors; `names` are the names
    /// taken so far) and compile it.
    pub(crate) fn compile(
        &self,
        key: &str,
        names: &mut std::collections::HashSet<String>,
    ) -> Result<Rule, ConfigError> {
        let field = |k: &str| format!("{key}.{k}");
        if self.name.trim().is_empty() {
            return Err(invalid(field("name"), "is required"));
        }
        if !names.insert(self.name.clone()) {
            return Err(invalid(
                field("name"),
                format!("duplicate rule name {:?}", self.name),
            ));
        }
        match (self.regex.is_empty(), self.keywords.is_empty()) {
            (false, false) | (true, true) => {
                return Err(invalid(key, "set exactly one of regex and keywords"));
            }
            (true, false) => {
                if self.threshold == 0 || self.threshold > self.keywords.len() {
                    return Err(invalid(
                        field("threshold"),
                        format!(
                            "must be 1 to {} (the number of keywords)",
                            self.keywords.len()
                        ),
                    ));
                }
                if self.keywords.iter().any(|k| k.trim().is_empty()) {
                    return Err(invalid(field("keywords"), "must not hold empty keywords"));
                }
            }
            (false, true) => {}
        }
        Rule::compile(self).map_err(|e| invalid(field("regex"), e))
    }
}

impl Default for RuleSettings {
    fn default() -> Self {
        RuleSettings {
            name: String::new(),
            brand: String::new(),
            severity: Severity::Medium,
            regex: String::new(),
            keywords: Vec::new(),
            threshold: 1,
        }
    }
}

impl Default for MatcherSettings {
    fn default() -> Self {
        MatcherSettings {
            similarity: 0.0,
            max_distance: 0,
            min_label_len: 3,
            allowlist: Vec::new(),
            typo_against_variants: false,
            typo_ignore_first_char: true,
            typo_ignore_trailing_number: true,
            target_embedding: true,
            combosquat: true,
            embed_min_len: 4,
            free_dv_bonus: 3,
            min_score: 50,
            rules: Vec::new(),
        }
    }
}

/// The validated `[matcher]` section: what [`super::Matcher::compile`] takes.
/// Cheap to clone (a reload compiles from it).
#[derive(Debug, Clone)]
pub struct MatcherConfig {
    pub settings: MatcherSettings,
    pub(super) rules: Arc<[Rule]>,
    pub(super) allowlist: Arc<[Fqdn]>,
    /// Each tenant's own allowlist (`[[tenants]] allowlist`): names under
    /// them are that tenant's, and raise nothing for it.
    pub(super) tenant_allowlists: Arc<[(String, Vec<Fqdn>)]>,
    /// On a bus with brand shards: (this shard, shards). Only this shard's
    /// brands are matched; every brand's domains stay the brands' own.
    pub(super) shard: Option<(u16, u16)>,
}

impl MatcherConfig {
    /// This configuration matching only brand shard `shard` of `shards`
    /// (`bus.shard`, `bus.shards`); `None`: every brand.
    pub fn with_shard(mut self, shard: Option<(u16, u16)>) -> MatcherConfig {
        self.shard = shard.filter(|(_, n)| *n > 1);
        self
    }

    /// This configuration with each tenant's allowlist (validated by
    /// `[[tenants]]`).
    pub fn with_tenant_allowlists(mut self, allowlists: Vec<(String, Vec<Fqdn>)>) -> MatcherConfig {
        self.tenant_allowlists = allowlists.into();
        self
    }

    /// This configuration with `extra` rules (the console's) after the
    /// configured ones; names stay unique across both.
    pub fn with_rules(&self, extra: &[RuleSettings]) -> Result<MatcherConfig, ConfigError> {
        let mut names: std::collections::HashSet<String> =
            self.settings.rules.iter().map(|r| r.name.clone()).collect();
        // `self.rules` may already hold extra rules: keep the configured ones
        let mut all: Vec<Rule> =
            self.rules[..self.settings.rules.len().min(self.rules.len())].to_vec();
        for (i, r) in extra.iter().enumerate() {
            all.push(r.compile(&format!("rules[{i}]"), &mut names)?);
        }
        Ok(MatcherConfig {
            settings: self.settings.clone(),
            rules: all.into(),
            allowlist: self.allowlist.clone(),
            tenant_allowlists: self.tenant_allowlists.clone(),
            shard: self.shard,
        })
    }
}

impl Default for MatcherConfig {
    fn default() -> Self {
        MatcherConfig {
            settings: MatcherSettings::default(),
            rules: Arc::new([]),
            allowlist: Arc::new([]),
            tenant_allowlists: Arc::new([]),
            shard: None,
        }
    }
}

impl MatcherSettings {
    /// Check every key and parse the rules and the allowlist.
    pub fn validate(&self) -> Result<MatcherConfig, ConfigError> {
        if !(0.0..1.0).contains(&self.similarity) {
            return Err(invalid(
                "matcher.similarity",
                "must be at least 0 and below 1 (0 disables it)",
            ));
        }
        if self.max_distance > 4 {
            return Err(invalid("matcher.max_distance", "must be 0 to 4"));
        }
        if self.free_dv_bonus > 10 {
            return Err(invalid("matcher.free_dv_bonus", "must be 0 to 10"));
        }
        if self.embed_min_len < 3 {
            return Err(invalid("matcher.embed_min_len", "must be at least 3"));
        }
        let mut names = std::collections::HashSet::new();
        let rules = self
            .rules
            .iter()
            .enumerate()
            .map(|(i, r)| r.compile(&format!("matcher.rules[{i}]"), &mut names))
            .collect::<Result<Vec<_>, _>>()?;
        let allowlist = self
            .allowlist
            .iter()
            .enumerate()
            .map(|(i, a)| {
                Fqdn::parse_domain(a)
                    .map_err(|e| invalid(format!("matcher.allowlist[{i}]"), e.to_string()))
            })
            .collect::<Result<Vec<_>, _>>()?;
        Ok(MatcherConfig {
            settings: self.clone(),
            rules: rules.into(),
            allowlist: allowlist.into(),
            tenant_allowlists: Arc::from(Vec::new()),
            shard: None,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_and_allowlist_are_parsed_once_and_errors_name_the_key() {
        let ok = MatcherSettings {
            allowlist: vec!["Paypal-Corp.com".into()],
            rules: vec![RuleSettings {
                name: "r".into(),
                regex: "^x".into(),
                ..RuleSettings::default()
            }],
            ..MatcherSettings::default()
        }
        .validate()
        .unwrap();
        assert_eq!(ok.rules.len(), 1);
        assert_eq!(ok.allowlist[0].ascii(), "paypal-corp.com");
        let e = MatcherSettings {
            allowlist: vec!["ok.com".into(), "not a domain".into()],
            ..MatcherSettings::default()
        }
        .validate()
        .unwrap_err()
        .to_string();
        assert!(e.contains("matcher.allowlist[1]"), "{e}");
    }
}
