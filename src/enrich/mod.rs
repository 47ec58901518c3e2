//! Enrichment, beside the pipeline: after an incident is stored and handed
//! to its sinks, a worker pool checks the lookalike (DNS, the network
//! behind it, its web page) and keeps re-checking it while it is watched.
//! A check whose state differs from the last one sent (it went live, MX
//! appeared, it now looks like the brand) is written into the incident and
//! queued as an update of it for every sink, with its own idempotency key
//! (`<dedup_key>-enr-<version>`); a check that changes nothing sends
//! nothing. The evidence can raise the score, and the explanation says so.
//!
//! Jobs live in the store (`store::enrichment`), so a kill -9 loses none.
//! Each enricher is one file plus one line in [`registry`]; each has its
//! own section, timeout and on/off switch. Every address taken from a
//! certificate name goes through [`guard::Guard`] before anything connects.

mod asn;
mod budget;
mod dns;
mod guard;
mod http;
mod lifecycle;
mod pace;
mod rdap;
#[cfg(feature = "nats")]
mod remote;
mod screenshot;
mod whois;

/// [`Findings::registration`] when the registry has no such domain.
pub(crate) const NOT_FOUND: &str = "not found";

pub(crate) use asn::AsnError;
pub use asn::AsnSettings;
pub use dns::DnsSettings;
pub use http::HttpProbeSettings;
pub use rdap::RdapSettings;
pub use screenshot::ScreenshotSettings;

use crate::config::{ConfigError, invalid, require_positive};
use crate::metrics::{EnricherCounters, Metrics};
use crate::model::{Incident, Timestamp};
use crate::store::{EnrichJob, Store, StoreError};
use futures_util::StreamExt;
use futures_util::future::BoxFuture;
use ipnet::IpNet;
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// `[enrichment]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct EnrichmentSettings {
    /// Off by default: checking a lookalike connects to the attacker's
    /// servers from this machine, which the operator decides.
    pub enabled: bool,
    /// Checks in flight.
    pub concurrency: usize,
    /// Worker threads of the pool's own runtime: its parsing, hashing and
    /// TLS never take more cores than this from the pipeline.
    pub threads: usize,
    /// Nice value (0–19) of those threads and of what they start
    /// (Chromium): with 19, matching and ingest get a contended core first
    /// and the pool takes only what they leave. Linux only.
    pub nice: i32,
    /// CPU time the pool's threads may use, in cores (0.1: a tenth of one).
    /// Over it, no new check starts until the overspend has passed, so a
    /// pool with only instant, local servers to talk to cannot take a
    /// small machine's caches and memory bandwidth from matching. Checks
    /// that wait on the network never reach it. Linux only.
    pub max_cpu: f64,
    /// How often the job table is polled when nothing is due.
    #[serde(with = "crate::config::duration")]
    pub poll_interval: Duration,
    /// Re-check a lookalike this long after a check; doubled after each
    /// check that changed nothing, up to `max_recheck_interval`.
    #[serde(with = "crate::config::duration")]
    pub recheck_interval: Duration,
    #[serde(with = "crate::config::duration")]
    pub max_recheck_interval: Duration,
    /// How long after it was first seen a lookalike is watched.
    #[serde(with = "crate::config::duration")]
    pub watch_for: Duration,
    /// Private ranges that may be connected to anyway (for a lab, or tests).
    pub allow_cidrs: Vec<IpNet>,
    /// User-Agent of enrichment requests; empty means the service's.
    pub user_agent: String,
    pub dns: DnsSettings,
    pub http: HttpProbeSettings,
    pub rdap: RdapSettings,
    pub screenshot: ScreenshotSettings,
    pub asn: AsnSettings,
}

impl Default for EnrichmentSettings {
    fn default() -> Self {
        EnrichmentSettings {
            enabled: false,
            concurrency: 16,
            threads: 1,
            nice: 19,
            max_cpu: 0.1,
            poll_interval: Duration::from_secs(1),
            recheck_interval: Duration::from_secs(30 * 60),
            max_recheck_interval: Duration::from_secs(6 * 3600),
            watch_for: Duration::from_secs(30 * 24 * 3600),
            allow_cidrs: Vec::new(),
            user_agent: String::new(),
            dns: DnsSettings::default(),
            http: HttpProbeSettings::default(),
            rdap: RdapSettings::default(),
            screenshot: ScreenshotSettings::default(),
            asn: AsnSettings::default(),
        }
    }
}

impl EnrichmentSettings {
    pub(crate) fn validate(&self) -> Result<(), ConfigError> {
        require_positive(&[
            ("enrichment.poll_interval", self.poll_interval),
            ("enrichment.recheck_interval", self.recheck_interval),
            ("enrichment.max_recheck_interval", self.max_recheck_interval),
            ("enrichment.watch_for", self.watch_for),
        ])?;
        if self.concurrency == 0 || self.concurrency > 1024 {
            return Err(invalid("enrichment.concurrency", "must be 1 to 1024"));
        }
        if self.threads == 0 || self.threads > 64 {
            return Err(invalid("enrichment.threads", "must be 1 to 64"));
        }
        if !(self.max_cpu > 0.0 && self.max_cpu <= self.threads as f64) {
            return Err(invalid(
                "enrichment.max_cpu",
                "must be above 0 and at most enrichment.threads",
            ));
        }
        if !(0..=19).contains(&self.nice) {
            return Err(invalid("enrichment.nice", "must be 0 to 19"));
        }
        if self.max_recheck_interval < self.recheck_interval {
            return Err(invalid(
                "enrichment.max_recheck_interval",
                "must not be shorter than enrichment.recheck_interval",
            ));
        }
        self.dns.validate()?;
        self.http.validate()?;
        self.rdap.validate()?;
        self.screenshot.validate()?;
        self.asn.validate()
    }
}

/// What a check is about.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(crate) struct Target {
    /// The certificate name (ASCII), without `*.`.
    pub(crate) host: String,
    pub(crate) registrable: String,
    pub(crate) brand: String,
}

impl Target {
    fn of(incident: &Incident) -> Target {
        Target {
            host: incident.domain.trim_start_matches("*.").to_owned(),
            registrable: incident.registrable_domain.clone(),
            brand: incident.brand.clone(),
        }
    }
}

/// What earlier enrichers of the same check found, for later ones.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct Findings {
    pub(crate) ips: Vec<IpAddr>,
    pub(crate) ns: Vec<String>,
    pub(crate) resolves: bool,
    pub(crate) mx: bool,
    pub(crate) verdicts: Vec<String>,
    pub(crate) page_hash: Option<String>,
    /// The lookalike's page as fetched: final URL and the address checked.
    pub(crate) page: Option<(String, IpAddr)>,
    /// ... and the brand's own page.
    pub(crate) brand_page: Option<(String, IpAddr)>,
    /// What the registry said (see [`lifecycle`]'s state): the creation
    /// date, `registered` without one, or [`NOT_FOUND`].
    pub(crate) registration: Option<String>,
}

/// How an enricher's run ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Status {
    Ok,
    /// Nothing to do (no address, say); `error` says why.
    Skipped,
    /// Deferred by a rate limit; tried again at the next check.
    Pending,
    Error,
}

/// One enricher's result: `incident.enrichment.<name>`.
#[derive(Debug, Clone)]
pub(crate) struct Finding {
    pub(crate) status: Status,
    pub(crate) data: Value,
    pub(crate) error: Option<String>,
}

impl Finding {
    pub(crate) fn ok(data: Value) -> Finding {
        Finding {
            status: Status::Ok,
            data,
            error: None,
        }
    }
    pub(crate) fn skipped(data: Value, why: &str) -> Finding {
        Finding {
            status: Status::Skipped,
            data,
            error: Some(why.to_owned()),
        }
    }
    pub(crate) fn pending(why: &str) -> Finding {
        Finding {
            status: Status::Pending,
            data: Value::Null,
            error: Some(why.to_owned()),
        }
    }
    pub(crate) fn error(e: String) -> Finding {
        Finding {
            status: Status::Error,
            data: Value::Null,
            error: Some(e),
        }
    }
}

/// One kind of evidence about a lookalike.
pub(crate) trait Enricher: Send + Sync {
    fn name(&self) -> &'static str;
    /// Where the data comes from, as shown in `source`.
    fn source(&self) -> String {
        self.name().to_owned()
    }
    fn enrich<'a>(&'a self, target: &'a Target, found: &'a mut Findings) -> BoxFuture<'a, Finding>;
    /// Lookups its own cache has answered so far.
    fn cache_hits(&self) -> u64 {
        0
    }
}

/// An enricher that cannot be built from its settings.
#[derive(Debug, thiserror::Error)]
pub(crate) enum EnrichError {
    #[error("enrichment.dns: {0}")]
    Resolver(String),
    #[error(transparent)]
    Asn(#[from] AsnError),
    #[error("enrichment.rdap: {0}")]
    Rdap(String),
}

/// An enricher and its time limit.
struct Registered {
    enricher: Box<dyn Enricher>,
    timeout: Duration,
}

/// The registry: the enabled enrichers in the order they run (later ones
/// use what earlier ones found). A new enricher is one file and one line.
fn registry(s: &EnrichmentSettings, user_agent: &str) -> Result<Vec<Registered>, EnrichError> {
    let resolver = s.dns.resolver().map_err(EnrichError::Resolver)?;
    let guard = guard::Guard::new(s.allow_cidrs.clone());
    let ua = if s.user_agent.is_empty() {
        user_agent
    } else {
        &s.user_agent
    }
    .to_owned();
    let mut out: Vec<Registered> = Vec::new();
    let mut add = |on: bool,
                   timeout: Duration,
                   make: &mut dyn FnMut() -> Result<Box<dyn Enricher>, EnrichError>|
     -> Result<(), EnrichError> {
        if on {
            out.push(Registered {
                enricher: make()?,
                timeout,
            });
        }
        Ok(())
    };
    add(s.dns.enabled, s.dns.timeout * 4, &mut || {
        Ok(Box::new(dns::Dns::new(resolver.clone(), &s.dns)))
    })?;
    add(s.asn.enabled(), Duration::from_secs(5), &mut || {
        Ok(Box::new(asn::AsnTable::open(&s.asn)?))
    })?;
    add(s.rdap.enabled, s.rdap.timeout * 2, &mut || {
        Ok(Box::new(
            rdap::Rdap::new(s.rdap.clone(), guard.clone(), &ua).map_err(EnrichError::Rdap)?,
        ))
    })?;
    add(
        s.http.enabled,
        s.http.timeout * 3 + Duration::from_secs(5),
        &mut || {
            Ok(Box::new(http::HttpProbe::new(
                s.http.clone(),
                resolver.clone(),
                guard.clone(),
                ua.clone(),
            )))
        },
    )?;
    // after http: it shoots the page http found live (and the brand's twice, for its hash)
    #[cfg(feature = "screenshots")]
    add(
        s.screenshot.enabled,
        s.screenshot.timeout * 2 + Duration::from_secs(5),
        &mut || {
            Ok(Box::new(screenshot::Screenshot::new(
                s.screenshot.clone(),
                s.http.brand_refresh,
                &ua,
            )))
        },
    )?;
    Ok(out)
}

/// The enrichment worker pool.
pub(crate) struct Enrichment {
    settings: EnrichmentSettings,
    enrichers: Arc<Vec<Registered>>,
    store: Store,
    /// Which sinks get an update, by the incident's tenant.
    routes: Arc<crate::tenants::SinkRoutes>,
    metrics: Arc<Metrics>,
    wakes: Vec<Arc<Notify>>,
    /// The CPU budget of the pool's own threads (`enrichment.max_cpu`).
    budget: Arc<budget::CpuBudget>,
    /// On a bus, a matcher without the `enricher` role: its checks run in
    /// the enricher processes (the schedule stays here, in the store).
    #[cfg(feature = "nats")]
    remote: Option<Arc<remote::Remote>>,
    /// An enricher process on a bus (`enricher` without `matcher`): it
    /// answers the matchers' checks instead of keeping a schedule.
    #[cfg(feature = "nats")]
    serve: Option<crate::bus::BusSettings>,
}

/// Each enricher's result (name, `{status, at, source, data, error}`) and
/// what the check found.
pub(crate) type Checked = (Vec<(String, Value)>, Findings);

impl Enrichment {
    /// `None` when enrichment is off.
    pub(crate) fn build(
        settings: &EnrichmentSettings,
        user_agent: &str,
        store: Store,
        routes: Arc<crate::tenants::SinkRoutes>,
        metrics: Arc<Metrics>,
        wakes: Vec<Arc<Notify>>,
    ) -> Result<Option<Enrichment>, EnrichError> {
        if !settings.enabled {
            return Ok(None);
        }
        let enrichers = registry(settings, user_agent)?;
        let names: Vec<&'static str> = enrichers.iter().map(|r| r.enricher.name()).collect();
        metrics.register_enrichers(&names);
        Ok(Some(Enrichment {
            settings: settings.clone(),
            enrichers: Arc::new(enrichers),
            store,
            routes,
            metrics,
            wakes,
            budget: Arc::new(budget::CpuBudget::new(settings.max_cpu)),
            #[cfg(feature = "nats")]
            remote: None,
            #[cfg(feature = "nats")]
            serve: None,
        }))
    }

    /// Where this process's enrichment runs, by its bus roles: without a
    /// bus, or with `matcher` and `enricher`, here; a matcher without
    /// `enricher` keeps the schedule and sends the checks to the enricher
    /// processes; `enricher` without `matcher` answers them; any other
    /// process (api, delivery, ct-reader) enriches nothing.
    pub(crate) fn placed(self, bus: &crate::bus::BusSettings) -> Option<Enrichment> {
        use crate::bus::Role;
        if !bus.enabled() {
            return Some(self);
        }
        let enricher = bus.roles.contains(&Role::Enricher);
        match (bus.runs(Role::Matcher), enricher) {
            (true, true) => Some(self),
            #[cfg(feature = "nats")]
            (true, false) => Some(self.remote(bus.clone())),
            #[cfg(feature = "nats")]
            (false, true) => Some(Enrichment {
                serve: Some(bus.clone()),
                ..self
            }),
            _ => None,
        }
    }

    /// [`Enrichment::run`] on a runtime of its own, `enrichment.threads`
    /// worker threads, so the pool cannot starve the pipeline's runtime;
    /// ends when the pool has stopped.
    pub(crate) async fn run_on_own_threads(self, shutdown: CancellationToken) {
        let threads = self.settings.threads;
        let nice = self.settings.nice;
        let budget = self.budget.clone();
        let (done, stopped) = tokio::sync::oneshot::channel::<()>();
        let started = std::thread::Builder::new()
            .name("enrichment".into())
            .spawn(move || {
                match pool_runtime(threads, nice, budget) {
                    Ok(rt) => rt.block_on(self.run(shutdown)),
                    Err(e) => tracing::error!(error = %e, "enrichment runtime failed to start"),
                }
                let _ = done.send(());
            });
        match started {
            Ok(_) => {
                let _ = stopped.await;
            }
            Err(e) => tracing::error!(error = %e, "enrichment thread failed to start"),
        }
    }

    /// Check until cancelled. Up to `concurrency` checks run at once; a
    /// free slot takes the next due job at once, and new incidents are
    /// taken up every `poll_interval`. A check cut off by the stop stays
    /// claimed in the store and runs again at the next start.
    pub(crate) async fn run(self, shutdown: CancellationToken) {
        #[cfg(feature = "nats")]
        if let Some(bus) = self.serve.clone() {
            return remote::serve(self, bus, shutdown).await;
        }
        match self.store.enrich_resume().await {
            Ok(n) if n > 0 => {
                tracing::info!(checks = n, "enrichment resumes checks a stop cut off")
            }
            Ok(_) => {}
            Err(e) => tracing::error!(error = %e, "enrichment could not resume its jobs"),
        }
        let poll = self.settings.poll_interval;
        let mut cursor = 0i64;
        let mut running = futures_util::stream::FuturesUnordered::new();
        let mut next_take = tokio::time::Instant::now();
        loop {
            if tokio::time::Instant::now() >= next_take {
                next_take = tokio::time::Instant::now() + poll;
                if let Err(e) = self.take_new(&mut cursor).await {
                    self.store_failed(&e);
                }
            }
            // over its CPU budget, the pool starts nothing until it is not
            let over = self.budget.over();
            if over {
                self.metrics.add(&self.metrics.enrich_cpu_waits, 1);
            }
            let free = self.settings.concurrency.saturating_sub(running.len());
            if free > 0 && !over {
                match self.store.enrich_claim(free).await {
                    Ok(jobs) => running.extend(jobs.into_iter().map(|job| self.check(job))),
                    Err(e) => self.store_failed(&e),
                }
            }
            tokio::select! {
                _ = shutdown.cancelled() => return,
                Some(done) = running.next(), if !running.is_empty() => {
                    if let Err(e) = done {
                        self.store_failed(&e);
                    }
                }
                _ = tokio::time::sleep_until(next_take) => {}
                _ = tokio::time::sleep(budget::TICK), if over => {}
            }
        }
    }

    fn store_failed(&self, e: &StoreError) {
        self.metrics.add(&self.metrics.store_errors, 1);
        tracing::error!(error = %e, "enrichment could not read or write the store");
    }

    /// Give the incidents recorded since the last call their jobs.
    async fn take_new(&self, cursor: &mut i64) -> Result<(), StoreError> {
        let from = SystemTime::now() - self.settings.watch_for;
        if let Some(last) = self
            .store
            .enrich_take_new(*cursor, from, self.settings.watch_for)
            .await?
        {
            *cursor = last;
        }
        Ok(())
    }

    /// Run every enricher on one lookalike and save what changed.
    async fn check(&self, job: EnrichJob) -> Result<(), StoreError> {
        let span = tracing::info_span!("enrich", incident = %job.incident.id, domain = %job.incident.domain);
        self.check_in_span(job).instrument(span).await
    }

    async fn check_in_span(&self, job: EnrichJob) -> Result<(), StoreError> {
        let target = Target::of(&job.incident);
        #[cfg(feature = "nats")]
        let (results, found) = match &self.remote {
            None => self.run_enrichers(&target).await,
            Some(remote) => match remote.check(&target).await {
                Ok(checked) => checked,
                Err(e) => {
                    // no enricher process answered: the check comes due again
                    self.metrics.add(&self.metrics.enrich_errors, 1);
                    tracing::warn!(error = %e, "no enricher process took the check; it is tried again");
                    let again = crate::model::unix_ms(SystemTime::now() + remote::RETRY);
                    return self.store.enrich_release(job.incident.id, again).await;
                }
            },
        };
        #[cfg(not(feature = "nats"))]
        let (results, found) = self.run_enrichers(&target).await;
        self.save(job, results, found).await
    }

    /// Run every enricher on `target`, each with its timeout, in registry
    /// order (later ones use what earlier ones found), counting outcomes.
    pub(crate) async fn run_enrichers(&self, target: &Target) -> Checked {
        let mut found = Findings::default();
        let mut results = Vec::new();
        for r in self.enrichers.iter() {
            let name = r.enricher.name();
            let counters = self.metrics.enrichers().iter().find(|c| c.name == name);
            let bump = |pick: fn(&EnricherCounters) -> &AtomicU64| {
                if let Some(c) = counters {
                    self.metrics.add(pick(c), 1);
                }
            };
            let finding = match tokio::time::timeout(
                r.timeout,
                r.enricher.enrich(target, &mut found),
            )
            .await
            {
                Ok(f) => f,
                Err(_) => {
                    bump(|c| &c.timed_out);
                    Finding::error(format!("timed out after {:?}", r.timeout))
                }
            };
            if let Some(c) = counters {
                c.cache_hits.store(
                    r.enricher.cache_hits(),
                    std::sync::atomic::Ordering::Relaxed,
                );
            }
            match finding.status {
                Status::Error => {
                    bump(|c| &c.error);
                    self.metrics.add(&self.metrics.enrich_errors, 1);
                    tracing::warn!(enricher = name, error = ?finding.error, "enricher failed");
                }
                Status::Pending => {
                    bump(|c| &c.pending);
                    self.metrics.add(&self.metrics.enrich_rate_limited, 1);
                }
                Status::Ok => bump(|c| &c.ok),
                Status::Skipped => bump(|c| &c.skipped),
            }
            let at = Timestamp::from_system(SystemTime::now());
            results.push((
                name.to_owned(),
                json!({
                    "status": finding.status,
                    "at": at,
                    "source": r.enricher.source(),
                    "data": finding.data,
                    "error": finding.error,
                }),
            ));
        }
        (results, found)
    }

    /// Save a check's outcome: the incident's enrichment, and an update to
    /// its sinks when something changed.
    async fn save(
        &self,
        job: EnrichJob,
        results: Vec<(String, Value)>,
        found: Findings,
    ) -> Result<(), StoreError> {
        let outcome = lifecycle::apply(&job, results, &found, &self.settings, SystemTime::now());
        let queued = outcome.update.is_some();
        // a store that fails for a moment (busy, disk) must not strand the
        // check as claimed: try again, then let it go so it comes due again
        let mut wait = Duration::from_millis(50);
        let mut tries = 0;
        while let Err(e) = self
            .store
            .enrich_save(
                outcome.clone(),
                self.routes.of(&outcome.incident.tenant).to_vec(),
            )
            .await
        {
            tries += 1;
            self.store_failed(&e);
            if tries == 5 {
                let again = crate::model::unix_ms(SystemTime::now() + Duration::from_secs(60));
                self.store.enrich_release(job.incident.id, again).await?;
                return Err(e);
            }
            tokio::time::sleep(wait).await;
            wait *= 2;
        }
        self.metrics.add(&self.metrics.enrich_checks, 1);
        if queued {
            self.metrics.add(&self.metrics.enrich_updates, 1);
        }
        if queued {
            for w in &self.wakes {
                w.notify_one();
            }
        }
        Ok(())
    }
}

/// The pool's runtime: `threads` workers, every thread of it (blocking
/// ones too) at nice value `nice` and counted in `budget`.
fn pool_runtime(
    threads: usize,
    nice: i32,
    budget: Arc<budget::CpuBudget>,
) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads)
        .thread_name("enrichment-worker")
        .on_thread_start(move || {
            lower_priority(nice);
            budget.register_current_thread();
        })
        .enable_all()
        .build()
}

/// Give the calling thread the nice value `nice` (Linux: per thread, and
/// inherited by the processes it starts). A refusal is logged, not fatal:
/// the pool then competes with matching as an equal.
#[cfg(target_os = "linux")]
fn lower_priority(nice: i32) {
    if nice == 0 {
        return;
    }
    let tid = rustix::thread::gettid();
    // never raise a priority the process was started with lower
    if rustix::process::getpriority_process(Some(tid)).is_ok_and(|now| now >= nice) {
        return;
    }
    if let Err(e) = rustix::process::setpriority_process(Some(tid), nice) {
        tracing::warn!(error = %e, nice, "enrichment thread priority not lowered");
    }
}

#[cfg(not(target_os = "linux"))]
fn lower_priority(nice: i32) {
    if nice != 0 {
        tracing::debug!(nice, "enrichment.nice applies on Linux only");
    }
}

#[cfg(all(test, target_os = "linux"))]
mod tests {
    /// The nice value of the calling thread, from procfs.
    fn own_nice() -> i32 {
        let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
        // after the name: state is field 3, nice is field 19
        let after = stat.rsplit(')').next().unwrap_or("");
        after
            .split_whitespace()
            .nth(16)
            .and_then(|v| v.parse().ok())
            .unwrap_or(i32::MIN)
    }

    #[test]
    fn the_pool_runs_at_the_configured_nice_value_within_its_cpu_budget() {
        let before = own_nice();
        let budget = std::sync::Arc::new(super::budget::CpuBudget::new(0.1));
        let rt = super::pool_runtime(1, 19, budget.clone()).unwrap();
        let worker = rt.block_on(async { tokio::spawn(async { own_nice() }).await.unwrap() });
        let blocking = rt.block_on(async { tokio::task::spawn_blocking(own_nice).await.unwrap() });
        assert_eq!((worker, blocking), (19, 19));
        // the thread that built it is untouched
        assert_eq!(own_nice(), before);
        // what the pool's threads burn counts against its budget; what
        // this thread burns does not
        assert!(!budget.over());
        let spin = || super::budget::tests::spin(std::time::Duration::from_millis(300));
        spin();
        assert!(!budget.over(), "the test thread is not the pool's");
        rt.block_on(async { tokio::task::spawn_blocking(spin).await.unwrap() });
        assert!(budget.over(), "a pool thread spent 0.3 s against 0.1 cores");
    }
}
