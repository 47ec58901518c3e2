//! Counters every stage bumps, rendered as Prometheus text on `/metrics`
//! and summarised in `/v1/status`, both from the one table [`Metrics::counters`].
//!
//! Plain atomics: the hot path pays one relaxed add per event, and nothing is
//! pushed anywhere. Gauges that live elsewhere (outbox depth, list size) are
//! handed in at render time as [`Family`]s by whoever owns them.

use crate::model::MatchKind;
use std::fmt::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// One metric family that is not a counter of [`Metrics`]: a gauge, with
/// one sample per label value (or one unlabelled sample).
#[derive(Debug, Clone)]
pub struct Family {
    pub name: &'static str,
    pub help: &'static str,
    /// `(label, value)`: `Some(("sink", "xsoar"))` or `None`.
    pub samples: Vec<(Option<(&'static str, String)>, u64)>,
}

/// One counter: its Prometheus name, its key in `/v1/status`, its help text.
pub struct Counter {
    pub name: &'static str,
    pub key: &'static str,
    pub help: &'static str,
    pub value: u64,
}

#[derive(Debug, Default)]
pub struct Metrics {
    pub frames: AtomicU64,
    pub bad_frames: AtomicU64,
    pub heartbeats: AtomicU64,
    pub dns_entries: AtomicU64,
    pub duplicate_certs: AtomicU64,
    pub reconnects: AtomicU64,
    /// Certificates the pipeline finished with (duplicates included).
    pub certs_processed: AtomicU64,
    pub names_checked: AtomicU64,
    pub names_invalid: AtomicU64,
    matches: [AtomicU64; MatchKind::ALL.len()],
    pub incidents_new: AtomicU64,
    pub incidents_repeated: AtomicU64,
    pub incidents_updates: AtomicU64,
    /// Verdicts dropped because analysts suppressed them.
    pub incidents_suppressed: AtomicU64,
    pub deliveries_ok: AtomicU64,
    pub deliveries_retried: AtomicU64,
    pub deliveries_failed: AtomicU64,
    pub store_errors: AtomicU64,
    pub incidents_pruned: AtomicU64,
    pub deliveries_pruned: AtomicU64,
    pub ct_entries: AtomicU64,
    pub ct_bad_entries: AtomicU64,
    pub ct_request_errors: AtomicU64,
    pub ct_tree_heads_refused: AtomicU64,
    pub ct_tree_mismatches: AtomicU64,
    pub ct_tree_checks: AtomicU64,
    pub enrich_checks: AtomicU64,
    pub enrich_updates: AtomicU64,
    pub enrich_errors: AtomicU64,
    pub enrich_rate_limited: AtomicU64,
    pub enrich_cpu_waits: AtomicU64,
    pub stream_clients: AtomicU64,
    pub stream_clients_dropped: AtomicU64,
    pub stream_messages: AtomicU64,
    pub bus_published: AtomicU64,
    pub bus_publish_retries: AtomicU64,
    pub bus_consumed: AtomicU64,
    pub bus_bad_messages: AtomicU64,
    pub bus_leases_taken: AtomicU64,
    pub bus_leases_lost: AtomicU64,
    pub bus_suppressions_unshared: AtomicU64,
    /// The store refuses writes (disk full, I/O error, locked): the
    /// pipeline holds its input until it records again.
    store_unavailable: AtomicBool,
    /// One row per enabled enricher, registered when the pool starts.
    enrichers: std::sync::OnceLock<Vec<EnricherCounters>>,
}

/// How one enricher's runs ended, and how often its cache answered.
#[derive(Debug, serde::Serialize)]
pub struct EnricherCounters {
    pub name: &'static str,
    pub ok: AtomicU64,
    pub skipped: AtomicU64,
    /// Deferred by a rate limit (429/509 or a server's hold).
    pub pending: AtomicU64,
    pub error: AtomicU64,
    /// Of the errors, runs cut off at the enricher's timeout.
    pub timed_out: AtomicU64,
    /// Lookups its own cache answered (RDAP per domain and address, the
    /// brand's page); the resolver's DNS cache is not counted.
    pub cache_hits: AtomicU64,
}

fn inc(c: &AtomicU64, n: u64) {
    c.fetch_add(n, Ordering::Relaxed);
}

impl Metrics {
    pub fn add(&self, counter: &AtomicU64, n: u64) {
        inc(counter, n);
    }

    /// Register the enabled enrichers (once; a second call keeps the first
    /// list) and return their counters, in registry order.
    pub fn register_enrichers(&self, names: &[&'static str]) -> &[EnricherCounters] {
        self.enrichers.get_or_init(|| {
            names
                .iter()
                .map(|name| EnricherCounters {
                    name,
                    ok: AtomicU64::new(0),
                    skipped: AtomicU64::new(0),
                    pending: AtomicU64::new(0),
                    error: AtomicU64::new(0),
                    timed_out: AtomicU64::new(0),
                    cache_hits: AtomicU64::new(0),
                })
                .collect()
        })
    }

    /// The enrichers' counters (empty while enrichment is off).
    pub fn enrichers(&self) -> &[EnricherCounters] {
        self.enrichers.get().map(Vec::as_slice).unwrap_or_default()
    }

    pub fn set_store_unavailable(&self, down: bool) {
        self.store_unavailable.store(down, Ordering::Relaxed);
    }

    pub fn store_unavailable(&self) -> bool {
        self.store_unavailable.load(Ordering::Relaxed)
    }

    pub fn count_match(&self, kind: MatchKind) {
        let i = MatchKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
        inc(&self.matches[i], 1);
    }

    pub fn matches(&self, kind: MatchKind) -> u64 {
        let i = MatchKind::ALL.iter().position(|k| *k == kind).unwrap_or(0);
        self.matches[i].load(Ordering::Relaxed)
    }

    /// Every counter, in the order `/metrics` shows them.
    pub fn counters(&self) -> Vec<Counter> {
        let table: [(&'static str, &'static str, &'static str, &AtomicU64); 39] = [
            (
                "certsentry_frames_total",
                "frames",
                "certstream messages received",
                &self.frames,
            ),
            (
                "certsentry_bad_frames_total",
                "bad_frames",
                "malformed messages skipped",
                &self.bad_frames,
            ),
            (
                "certsentry_heartbeats_total",
                "heartbeats",
                "heartbeat messages skipped",
                &self.heartbeats,
            ),
            (
                "certsentry_dns_entries_total",
                "dns_entries",
                "dns_entries messages received",
                &self.dns_entries,
            ),
            (
                "certsentry_duplicate_certs_total",
                "duplicate_certs",
                "certificates dropped as already seen",
                &self.duplicate_certs,
            ),
            (
                "certsentry_reconnects_total",
                "reconnects",
                "source reconnections",
                &self.reconnects,
            ),
            (
                "certsentry_certs_processed_total",
                "certs_processed",
                "certificates the pipeline finished with, duplicates included",
                &self.certs_processed,
            ),
            (
                "certsentry_names_checked_total",
                "names_checked",
                "certificate names matched",
                &self.names_checked,
            ),
            (
                "certsentry_names_invalid_total",
                "names_invalid",
                "certificate names skipped (IP, e-mail, invalid)",
                &self.names_invalid,
            ),
            (
                "certsentry_incidents_total",
                "incidents_new",
                "new incidents",
                &self.incidents_new,
            ),
            (
                "certsentry_incident_sightings_total",
                "incidents_repeated",
                "repeat sightings folded into an incident",
                &self.incidents_repeated,
            ),
            (
                "certsentry_incidents_suppressed_total",
                "incidents_suppressed",
                "verdicts not raised: the domain is suppressed for the brand (triage)",
                &self.incidents_suppressed,
            ),
            (
                "certsentry_ct_entries_total",
                "ct_entries",
                "CT log entries read directly",
                &self.ct_entries,
            ),
            (
                "certsentry_ct_bad_entries_total",
                "ct_bad_entries",
                "CT log entries that could not be parsed (skipped)",
                &self.ct_bad_entries,
            ),
            (
                "certsentry_ct_request_errors_total",
                "ct_request_errors",
                "failed CT log requests (retried with backoff)",
                &self.ct_request_errors,
            ),
            (
                "certsentry_ct_tree_heads_refused_total",
                "ct_tree_heads_refused",
                "CT tree heads (get-sth, checkpoint) refused: malformed, or not signed by the log's key",
                &self.ct_tree_heads_refused,
            ),
            (
                "certsentry_ct_tree_mismatches_total",
                "ct_tree_mismatches",
                "times the entries read from a CT log did not make its signed root (entries it did not commit to)",
                &self.ct_tree_mismatches,
            ),
            (
                "certsentry_ct_tree_checks_total",
                "ct_tree_checks",
                "times the entries read from a CT log made its signed root",
                &self.ct_tree_checks,
            ),
            (
                "certsentry_stream_messages_total",
                "stream_messages",
                "messages sent to certstream-compatible server clients",
                &self.stream_messages,
            ),
            (
                "certsentry_stream_clients_dropped_total",
                "stream_clients_dropped",
                "certstream-compatible server clients dropped for falling behind",
                &self.stream_clients_dropped,
            ),
            (
                "certsentry_incident_updates_total",
                "incidents_updates",
                "updates queued for a known lookalike's new certificate",
                &self.incidents_updates,
            ),
            (
                "certsentry_enrichment_checks_total",
                "enrichment_checks",
                "enrichment checks of a lookalike completed",
                &self.enrich_checks,
            ),
            (
                "certsentry_enrichment_updates_total",
                "enrichment_updates",
                "updates queued because a lookalike's state changed",
                &self.enrich_updates,
            ),
            (
                "certsentry_enrichment_errors_total",
                "enrichment_errors",
                "enricher runs that failed (the check is kept and retried later)",
                &self.enrich_errors,
            ),
            (
                "certsentry_enrichment_rate_limited_total",
                "enrichment_rate_limited",
                "enricher runs a 429 or a server's hold deferred (left pending)",
                &self.enrich_rate_limited,
            ),
            (
                "certsentry_enrichment_cpu_waits_total",
                "enrichment_cpu_waits",
                "times the enrichment pool held new checks back over enrichment.max_cpu",
                &self.enrich_cpu_waits,
            ),
            (
                "certsentry_deliveries_ok_total",
                "deliveries_ok",
                "deliveries confirmed by a sink",
                &self.deliveries_ok,
            ),
            (
                "certsentry_deliveries_retried_total",
                "deliveries_retried",
                "delivery attempts to be retried",
                &self.deliveries_retried,
            ),
            (
                "certsentry_deliveries_failed_total",
                "deliveries_failed",
                "deliveries failed permanently",
                &self.deliveries_failed,
            ),
            (
                "certsentry_store_errors_total",
                "store_errors",
                "database errors",
                &self.store_errors,
            ),
            (
                "certsentry_incidents_pruned_total",
                "incidents_pruned",
                "incidents removed by store.retention",
                &self.incidents_pruned,
            ),
            (
                "certsentry_deliveries_pruned_total",
                "deliveries_pruned",
                "failed deliveries removed by store.retention",
                &self.deliveries_pruned,
            ),
            (
                "certsentry_bus_published_total",
                "bus_published",
                "certificates the bus stream acknowledged ([bus], ct-reader)",
                &self.bus_published,
            ),
            (
                "certsentry_bus_publish_retries_total",
                "bus_publish_retries",
                "publishes to the bus tried again (broker down, stream full)",
                &self.bus_publish_retries,
            ),
            (
                "certsentry_bus_consumed_total",
                "bus_consumed",
                "certificates taken from the bus and recorded ([bus], matcher)",
                &self.bus_consumed,
            ),
            (
                "certsentry_bus_bad_messages_total",
                "bus_bad_messages",
                "bus messages that were not certificates (acknowledged, dropped)",
                &self.bus_bad_messages,
            ),
            (
                "certsentry_bus_leases_taken_total",
                "bus_leases_taken",
                "CT log leases this ct-reader took ([bus])",
                &self.bus_leases_taken,
            ),
            (
                "certsentry_bus_leases_lost_total",
                "bus_leases_lost",
                "CT log leases this ct-reader lost to another, or could not renew ([bus])",
                &self.bus_leases_lost,
            ),
            (
                "certsentry_bus_suppressions_unshared_total",
                "bus_suppressions_unshared",
                "suppression changes the bus did not take: they hold in this process only ([bus])",
                &self.bus_suppressions_unshared,
            ),
        ];
        table
            .into_iter()
            .map(|(name, key, help, c)| Counter {
                name,
                key,
                help,
                value: c.load(Ordering::Relaxed),
            })
            .collect()
    }

    /// The Prometheus text: the counters, matches by kind, then `gauges`.
    pub fn render(&self, gauges: &[Family]) -> String {
        let mut out = String::with_capacity(4096);
        for c in self.counters() {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} counter\n{name} {value}",
                name = c.name,
                help = c.help,
                value = c.value
            );
        }
        let _ = writeln!(
            out,
            "# HELP certsentry_matches_total matches by kind\n# TYPE certsentry_matches_total counter"
        );
        for kind in MatchKind::ALL {
            let _ = writeln!(
                out,
                "certsentry_matches_total{{kind=\"{}\"}} {}",
                kind.as_str(),
                self.matches(kind)
            );
        }
        let enrichers = self.enrichers();
        if !enrichers.is_empty() {
            let _ = writeln!(
                out,
                "# HELP certsentry_enricher_runs_total enricher runs by how they ended\n# TYPE certsentry_enricher_runs_total counter"
            );
            for e in enrichers {
                for (status, c) in [
                    ("ok", &e.ok),
                    ("skipped", &e.skipped),
                    ("pending", &e.pending),
                    ("error", &e.error),
                ] {
                    let _ = writeln!(
                        out,
                        "certsentry_enricher_runs_total{{enricher=\"{}\",status=\"{status}\"}} {}",
                        e.name,
                        c.load(Ordering::Relaxed)
                    );
                }
            }
            for (name, help, pick) in [
                (
                    "certsentry_enricher_timeouts_total",
                    "enricher runs cut off at their timeout",
                    (|e: &EnricherCounters| &e.timed_out) as fn(&EnricherCounters) -> &AtomicU64,
                ),
                (
                    "certsentry_enricher_cache_hits_total",
                    "lookups an enricher's own cache answered",
                    |e: &EnricherCounters| &e.cache_hits,
                ),
            ] {
                let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} counter");
                for e in enrichers {
                    let _ = writeln!(
                        out,
                        "{name}{{enricher=\"{}\"}} {}",
                        e.name,
                        pick(e).load(Ordering::Relaxed)
                    );
                }
            }
        }
        for family in gauges {
            let _ = writeln!(
                out,
                "# HELP {name} {help}\n# TYPE {name} gauge",
                name = family.name,
                help = family.help
            );
            for (label, value) in &family.samples {
                match label {
                    Some((k, v)) => {
                        let _ = writeln!(out, "{}{{{k}=\"{v}\"}} {value}", family.name);
                    }
                    None => {
                        let _ = writeln!(out, "{} {value}", family.name);
                    }
                }
            }
        }
        out
    }
}
