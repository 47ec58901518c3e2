//! Independent items on every core, results in input order: list parsing
//! and list generation for thousands of brands; and [`lock`], a mutex
//! taken whether or not a thread panicked holding it.

use std::sync::atomic::{AtomicUsize, Ordering};

/// `f(i)` for every `i` in `0..n`, on up to 8 threads that take items one
/// at a time from a shared counter (item sizes may differ by orders of
/// magnitude). The results come back in input order; `done(k)` is called
/// on the calling thread as the k-th item finishes. An error stops the
/// work; of the errors seen, the one of the earliest item is returned.
pub(crate) fn map_in_order<T: Send, E: Send>(
    n: usize,
    f: impl Fn(usize) -> Result<T, E> + Sync,
    mut done: impl FnMut(usize),
) -> Result<Vec<T>, E> {
    let workers = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(8)
        .min(n);
    if workers <= 1 {
        let mut out = Vec::with_capacity(n);
        for i in 0..n {
            out.push(f(i)?);
            done(i + 1);
        }
        return Ok(out);
    }
    let next = AtomicUsize::new(0);
    let mut slots: Vec<Option<T>> = (0..n).map(|_| None).collect();
    let mut first_error: Option<(usize, E)> = None;
    std::thread::scope(|scope| {
        let (tx, rx) = std::sync::mpsc::channel();
        for _ in 0..workers {
            let (tx, next, f) = (tx.clone(), &next, &f);
            scope.spawn(move || {
                loop {
                    let i = next.fetch_add(1, Ordering::Relaxed);
                    if i >= n {
                        return;
                    }
                    let result = f(i);
                    let failed = result.is_err();
                    if tx.send((i, result)).is_err() || failed {
                        return;
                    }
                }
            });
        }
        drop(tx);
        let mut finished = 0;
        for (i, result) in rx {
            match result {
                Ok(value) => {
                    slots[i] = Some(value);
                    finished += 1;
                    done(finished);
                }
                Err(e) => {
                    next.store(n, Ordering::Relaxed);
                    if first_error.as_ref().is_none_or(|(j, _)| i < *j) {
                        first_error = Some((i, e));
                    }
                }
            }
        }
    });
    if let Some((_, e)) = first_error {
        return Err(e);
    }
    // without an error every item was taken and sent (a panicking worker
    // panics the scope instead)
    Ok(slots.into_iter().flatten().collect())
}

/// Take `m` even when a thread panicked holding it: what it guards is
/// replaced whole by its users, never left half-written.
pub(crate) fn lock<T>(m: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_keep_input_order_and_the_earliest_error_wins() {
        let mut calls = 0;
        let out = map_in_order(1000, |i| Ok::<_, ()>(i * 2), |k| calls = k).unwrap();
        assert_eq!(out, (0..1000).map(|i| i * 2).collect::<Vec<_>>());
        assert_eq!(calls, 1000);
        let err = map_in_order(1000, |i| if i == 7 { Err(i) } else { Ok(i) }, |_| {});
        assert_eq!(err, Err(7));
        let empty = map_in_order(0, Ok::<_, ()>, |_| {}).unwrap();
        assert!(empty.is_empty());
    }
}
