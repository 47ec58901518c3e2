//! `[bus]`: where the broker is, and which stages this process runs.

use crate::config::{ConfigError, Secret, invalid};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// A stage a process runs when `[bus]` is set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Role {
    /// Run the configured sources and publish what they read.
    CtReader,
    /// Take certificates from the bus, match and record them.
    Matcher,
    /// Deliver the incidents this process recorded to its sinks.
    Delivery,
    /// Enrich the incidents this process recorded.
    Enricher,
    /// The console and the incident API over this process's store.
    Api,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::CtReader => "ct-reader",
            Role::Matcher => "matcher",
            Role::Delivery => "delivery",
            Role::Enricher => "enricher",
            Role::Api => "api",
        }
    }
}

/// `[bus]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct BusSettings {
    /// `nats://host:port`. Empty: no bus; `serve` is one process.
    pub url: String,
    /// Token of the NATS account, if it wants one.
    pub token: Option<Secret>,
    /// What this process runs.
    pub roles: Vec<Role>,
    /// The certificates' stream; its subjects are `certs.<source>`.
    pub stream: String,
    /// The stream's size limit: past it publishers wait (`discard new`).
    pub max_bytes: u64,
    /// How long the stream remembers a `Nats-Msg-Id` to drop a copy.
    #[serde(with = "crate::config::duration")]
    pub duplicate_window: Duration,
    /// The durable consumer every matcher process shares (with brand
    /// shards, `<consumer>-<shard>-of-<shards>`: one per shard).
    pub consumer: String,
    /// Brand shards: the list's brands are cut into this many parts by a
    /// hash of their domain, and every certificate goes to one matcher of
    /// each part. Every process of the cluster must say the same (readers
    /// make each shard's consumer).
    pub shards: u16,
    /// The shard this matcher matches (0 to `shards - 1`).
    pub shard: u16,
    /// How long a matcher may hold a certificate before it is delivered
    /// again (to it or another matcher).
    #[serde(with = "crate::config::duration")]
    pub ack_wait: Duration,
    /// Deliveries of one certificate before the stream gives up on it.
    pub max_deliver: i64,
    /// Certificates handed to matchers and not yet acknowledged, at most.
    pub max_ack_pending: i64,
    /// How long a ct-reader's lease on a CT log lasts unless renewed (it
    /// renews every third of it). A reader that dies leaves its logs to
    /// another after this long.
    #[serde(with = "crate::config::duration")]
    pub lease_ttl: Duration,
    /// The incidents' stream (subjects `incidents.<tenant>.<brand>`): every
    /// matcher publishes its incidents there, and `delivery` processes
    /// deliver them, one durable consumer per sink.
    pub incidents_stream: String,
    /// How long the incidents' stream keeps an incident.
    #[serde(with = "crate::config::duration")]
    pub incidents_max_age: Duration,
    /// Where a delivery process puts incidents a sink refused for good, or
    /// that reached `max_deliver` (subjects `failed.<sink>`).
    pub failed_stream: String,
    /// How long the KV bucket `sink_records` keeps the SOAR's record of an
    /// incident, so that its updates go to it: longer than
    /// `enrichment.watch_for` (enrichment updates come that long).
    #[serde(with = "crate::config::duration")]
    pub records_max_age: Duration,
}

impl Default for BusSettings {
    fn default() -> Self {
        BusSettings {
            url: String::new(),
            token: None,
            roles: Vec::new(),
            stream: "CERTS".into(),
            max_bytes: 1 << 30,
            duplicate_window: Duration::from_secs(120),
            consumer: "matchers".into(),
            shards: 1,
            shard: 0,
            ack_wait: Duration::from_secs(30),
            max_deliver: 20,
            max_ack_pending: 4096,
            lease_ttl: Duration::from_secs(10),
            incidents_stream: "INCIDENTS".into(),
            incidents_max_age: Duration::from_secs(7 * 24 * 3600),
            failed_stream: "DELIVERY_FAILED".into(),
            records_max_age: Duration::from_secs(90 * 24 * 3600),
        }
    }
}

impl BusSettings {
    /// Whether a bus is configured.
    pub fn enabled(&self) -> bool {
        !self.url.is_empty()
    }

    /// Whether this process runs `role`: every role without a bus.
    pub fn runs(&self, role: Role) -> bool {
        !self.enabled() || self.roles.contains(&role)
    }

    /// A matcher on a bus: its incidents go to the incidents' stream before
    /// it acknowledges their certificate, with or without `delivery` (so a
    /// matcher that dies for good strands nothing in its outbox).
    pub fn publishes_incidents(&self) -> bool {
        self.enabled() && self.runs(Role::Matcher)
    }

    /// The durable consumer of the certificates' stream `shard` reads.
    pub fn shard_consumer(&self, shard: u16) -> String {
        if self.shards <= 1 {
            self.consumer.clone()
        } else {
            format!("{}-{shard}-of-{}", self.consumer, self.shards)
        }
    }

    /// The consumer this process's matcher reads.
    pub fn matcher_consumer(&self) -> String {
        self.shard_consumer(self.shard)
    }

    /// The shard of the list this process's matcher compiles, when the
    /// brands are sharded: (shard, shards).
    pub fn brand_shard(&self) -> Option<(u16, u16)> {
        (self.enabled() && self.runs(Role::Matcher) && self.shards > 1)
            .then_some((self.shard, self.shards))
    }

    /// An api process that keeps a read model of the incidents' stream.
    pub fn reads_incidents(&self) -> bool {
        self.enabled() && self.runs(Role::Api) && !self.runs(Role::Matcher)
    }

    /// A delivery process that takes incidents from the incidents' stream
    /// (a matcher's too).
    pub fn delivers_from_bus(&self) -> bool {
        self.enabled() && self.runs(Role::Delivery)
    }

    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        if !self.enabled() {
            if !self.roles.is_empty() {
                return Err(invalid("bus.roles", "needs bus.url"));
            }
            return Ok(());
        }
        if !cfg!(feature = "nats") {
            return Err(invalid(
                "bus.url",
                "this build has no bus (built without the `nats` feature)",
            ));
        }
        if !(self.url.starts_with("nats://") || self.url.starts_with("tls://")) {
            return Err(invalid("bus.url", "must start with nats:// or tls://"));
        }
        if self.roles.is_empty() {
            return Err(invalid(
                "bus.roles",
                "name at least one of ct-reader, matcher, delivery, enricher, api",
            ));
        }
        let has = |r: Role| self.roles.contains(&r);
        // the API runs over the matcher's store, or a read model of the
        // incidents' stream; delivery beside the matcher or on its own;
        // enricher beside the matcher (its checks run there) or on its own
        // (it answers the checks of matchers without it)
        if has(Role::Matcher) && !has(Role::Api) {
            return Err(invalid(
                "bus.roles",
                "matcher runs with api (the console reads its store)",
            ));
        }
        let plain = |s: &str| {
            !s.is_empty()
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
        };
        if !plain(&self.stream) {
            return Err(invalid("bus.stream", "letters, digits, - and _ only"));
        }
        for (key, name) in [
            ("bus.incidents_stream", &self.incidents_stream),
            ("bus.failed_stream", &self.failed_stream),
        ] {
            if !plain(name) {
                return Err(invalid(key, "letters, digits, - and _ only"));
            }
        }
        if self.incidents_max_age < Duration::from_secs(3600) {
            return Err(invalid("bus.incidents_max_age", "must be at least 1h"));
        }
        if self.records_max_age < Duration::from_secs(3600) {
            return Err(invalid("bus.records_max_age", "must be at least 1h"));
        }
        if !plain(&self.consumer) {
            return Err(invalid("bus.consumer", "letters, digits, - and _ only"));
        }
        if self.max_bytes < 1 << 20 || self.max_bytes > i64::MAX as u64 {
            return Err(invalid("bus.max_bytes", "must be at least 1 MiB"));
        }
        if self.duplicate_window.is_zero() || self.ack_wait.is_zero() {
            return Err(invalid(
                "bus.duplicate_window",
                "bus.duplicate_window and bus.ack_wait must be positive",
            ));
        }
        if self.max_deliver < 1 {
            return Err(invalid("bus.max_deliver", "must be at least 1"));
        }
        if self.max_ack_pending < 1 {
            return Err(invalid("bus.max_ack_pending", "must be at least 1"));
        }
        if self.lease_ttl < Duration::from_secs(1) {
            return Err(invalid("bus.lease_ttl", "must be at least 1s"));
        }
        if !(1..=256).contains(&self.shards) {
            return Err(invalid("bus.shards", "must be 1 to 256"));
        }
        if self.shard >= self.shards {
            return Err(invalid(
                "bus.shard",
                format!("must be below bus.shards ({})", self.shards),
            ));
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn with(roles: &[Role]) -> BusSettings {
        BusSettings {
            url: "nats://127.0.0.1:4222".into(),
            roles: roles.to_vec(),
            ..BusSettings::default()
        }
    }

    #[test]
    fn shards_name_their_consumers_and_are_checked() {
        let mut s = with(&[Role::Matcher, Role::Api]);
        assert_eq!(s.matcher_consumer(), "matchers");
        assert_eq!(s.brand_shard(), None);
        s.shards = 4;
        s.shard = 2;
        assert!(s.validate().is_ok());
        assert_eq!(s.matcher_consumer(), "matchers-2-of-4");
        assert_eq!(s.brand_shard(), Some((2, 4)));
        s.shard = 4;
        assert!(s.validate().unwrap_err().to_string().contains("bus.shard"));
        s.shards = 0;
        assert!(s.validate().unwrap_err().to_string().contains("bus.shards"));
        // a reader makes every shard's consumer but matches nothing
        let mut reader = with(&[Role::CtReader]);
        reader.shards = 2;
        assert_eq!(reader.brand_shard(), None);
        assert_eq!(reader.shard_consumer(1), "matchers-1-of-2");
    }

    #[test]
    fn roles_that_share_a_store_run_together() {
        use Role::*;
        assert!(BusSettings::default().validate().is_ok());
        assert!(with(&[CtReader]).validate().is_ok());
        assert!(with(&[Matcher, Delivery, Api]).validate().is_ok());
        assert!(with(&[Matcher, Api]).validate().is_ok());
        assert!(with(&[Delivery]).validate().is_ok());
        assert!(with(&[CtReader, Delivery]).validate().is_ok());
        assert!(
            with(&[CtReader, Matcher, Delivery, Enricher, Api])
                .validate()
                .is_ok()
        );
        assert!(with(&[Api]).validate().is_ok());
        assert!(with(&[CtReader, Api, Delivery]).validate().is_ok());
        assert!(with(&[Enricher]).validate().is_ok());
        assert!(with(&[Api, Enricher]).validate().is_ok());
        for bad in [&[][..], &[Matcher], &[Matcher, Delivery]] {
            let e = with(bad).validate().unwrap_err().to_string();
            assert!(e.contains("bus.roles"), "{bad:?}: {e}");
        }
        let no_url = BusSettings {
            roles: vec![CtReader],
            ..BusSettings::default()
        };
        assert!(
            no_url
                .validate()
                .unwrap_err()
                .to_string()
                .contains("bus.url")
        );
        let http = BusSettings {
            url: "http://127.0.0.1:4222".into(),
            ..with(&[CtReader])
        };
        assert!(http.validate().is_err());
    }

    #[test]
    fn without_a_bus_every_role_runs() {
        let s = BusSettings::default();
        assert!(s.runs(Role::CtReader) && s.runs(Role::Matcher));
        let reader = with(&[Role::CtReader]);
        assert!(reader.runs(Role::CtReader) && !reader.runs(Role::Matcher));
    }
}
