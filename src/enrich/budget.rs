//! The pool's CPU budget (`enrichment.max_cpu`): how many cores' worth of
//! CPU time the pool's own threads may use, measured from the kernel's
//! per-thread accounting. Over budget, the pool starts no new check until
//! the time it overspent has passed; checks already running go on. With
//! `enrichment.nice` the pool yields a contended core; with this it also
//! leaves the shared caches and memory bandwidth of a small machine mostly
//! to matching when its checks are all CPU (local, instant servers).

use std::sync::Mutex;
use std::time::{Duration, Instant};

/// The longest the pool may run ahead of its budget, as wall time at the
/// budget's rate: short, so an overspend shows within a tick.
const BURST: Duration = Duration::from_millis(100);

/// How long a pool over budget waits before it looks again.
pub(super) const TICK: Duration = Duration::from_millis(10);

/// Looks closer together than this give the last answer: the pool's loop
/// asks after every check, and each look reads a file per thread.
const SAMPLE: Duration = Duration::from_millis(1);

#[derive(Debug)]
pub(super) struct CpuBudget {
    /// Cores' worth of CPU time per second of wall time.
    cores: f64,
    state: Mutex<State>,
}

#[derive(Debug)]
struct State {
    /// The pool's threads, with the CPU time last read for each.
    threads: Vec<(i32, u64)>,
    /// CPU nanoseconds the pool may still use; negative when overspent.
    allowance: f64,
    last: Instant,
}

impl CpuBudget {
    pub(super) fn new(cores: f64) -> CpuBudget {
        CpuBudget {
            cores,
            state: Mutex::new(State {
                threads: Vec::new(),
                allowance: BURST.as_nanos() as f64 * cores,
                last: Instant::now(),
            }),
        }
    }

    /// Count the calling thread as the pool's (from the runtime's
    /// thread-start hook).
    pub(super) fn register_current_thread(&self) {
        let tid = current_tid();
        let used = thread_cpu_ns(tid).unwrap_or(0);
        let mut state = crate::parallel::lock(&self.state);
        state.threads.retain(|(t, _)| *t != tid);
        state.threads.push((tid, used));
    }

    /// Whether the pool has used more than its budget: the CPU time its
    /// threads used since the last look is taken from what the wall time
    /// since then allows.
    pub(super) fn over(&self) -> bool {
        let now = Instant::now();
        let mut state = crate::parallel::lock(&self.state);
        if now - state.last < SAMPLE {
            return state.allowance < 0.0;
        }
        let mut spent = 0u64;
        // a thread that ended (a blocking one let go) leaves the list
        state
            .threads
            .retain_mut(|(tid, last)| match thread_cpu_ns(*tid) {
                Some(used) => {
                    spent += used.saturating_sub(*last);
                    *last = used;
                    true
                }
                None => false,
            });
        let elapsed = now - state.last;
        state.last = now;
        let burst = BURST.as_nanos() as f64 * self.cores;
        state.allowance =
            (state.allowance + elapsed.as_nanos() as f64 * self.cores).min(burst) - spent as f64;
        state.allowance < 0.0
    }
}

#[cfg(target_os = "linux")]
fn current_tid() -> i32 {
    rustix::thread::gettid().as_raw_nonzero().get()
}

#[cfg(not(target_os = "linux"))]
fn current_tid() -> i32 {
    0
}

/// CPU time the thread `tid` of this process has run, in nanoseconds
/// (`/proc/self/task/<tid>/schedstat`); `None` once it has ended.
#[cfg(target_os = "linux")]
fn thread_cpu_ns(tid: i32) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/self/task/{tid}/schedstat")).ok()?;
    text.split_whitespace().next()?.parse().ok()
}

/// Elsewhere there is no per-thread accounting to read: never over.
#[cfg(not(target_os = "linux"))]
fn thread_cpu_ns(_: i32) -> Option<u64> {
    None
}

#[cfg(all(test, target_os = "linux"))]
pub(super) mod tests {
    use super::*;

    /// Spin the calling thread until it has used `d` of CPU time.
    pub(in crate::enrich) fn spin(d: Duration) {
        let tid = current_tid();
        let start = thread_cpu_ns(tid).expect("schedstat");
        let mut x = 0u64;
        while thread_cpu_ns(tid).expect("schedstat") - start < d.as_nanos() as u64 {
            for _ in 0..10_000 {
                x = std::hint::black_box(x.wrapping_mul(31).wrapping_add(7));
            }
        }
    }

    #[test]
    fn a_thread_that_burns_more_than_the_budget_is_over_it_until_time_passes() {
        let budget = CpuBudget::new(0.25);
        budget.register_current_thread();
        assert!(!budget.over(), "nothing spent yet");
        // 50 ms of CPU against 0.25 cores: 200 ms of wall time to pay back
        spin(Duration::from_millis(50));
        assert!(budget.over());
        std::thread::sleep(Duration::from_millis(250));
        assert!(!budget.over(), "the overspend has been paid back");
    }

    #[test]
    fn an_ended_thread_leaves_the_budget() {
        let budget = std::sync::Arc::new(CpuBudget::new(1.0));
        let b = budget.clone();
        std::thread::spawn(move || b.register_current_thread())
            .join()
            .unwrap();
        // a look sooner than SAMPLE after the last gives the last answer
        std::thread::sleep(SAMPLE * 2);
        assert!(!budget.over());
        assert!(crate::parallel::lock(&budget.state).threads.is_empty());
    }
}
