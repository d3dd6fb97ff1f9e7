//! Retrying calls: which failures may be retried, and how long to wait between attempts.
//!
//! The Rust SDK retries only 5xx answers, and ours are turned off (a 5xx may follow a statement that
//! ran). A paused or scaling cluster answers `DatabaseResumingException` for several seconds, so the
//! runner retries what certainly did not run, with a doubling pause, until `retry_for` is spent.
//! Ambiguous failures and timeouts are retried only for idempotent calls (history reads, lock
//! queries); a statement that may have run is never resent blindly.

use std::future::Future;
use std::time::{Duration, Instant};

use crate::apply::executor::ExecError;

/// Longest pause between two attempts.
const MAX_DELAY: Duration = Duration::from_secs(10);

/// Pauses between attempts until a deadline.
#[derive(Debug)]
pub(crate) struct Backoff {
    deadline: Instant,
    delay: Duration,
    doubling: bool,
}

impl Backoff {
    /// 200 ms, doubling up to 10 s, for `retry_for`.
    pub fn doubling(retry_for: Duration) -> Backoff {
        Backoff { deadline: Instant::now() + retry_for, delay: Duration::from_millis(200), doubling: true }
    }

    /// `delay` every time, for `retry_for`.
    pub fn fixed(retry_for: Duration, delay: Duration) -> Backoff {
        Backoff { deadline: Instant::now() + retry_for, delay, doubling: false }
    }

    /// The pause before the next attempt, or `None` when it would end after the deadline.
    pub fn next_delay(&mut self) -> Option<Duration> {
        if Instant::now() + self.delay > self.deadline {
            return None;
        }
        let delay = self.delay;
        if self.doubling {
            self.delay = (self.delay * 2).min(MAX_DELAY);
        }
        Some(delay)
    }

    /// Sleeps before the next attempt; false (without sleeping) when the time is spent.
    pub async fn wait(&mut self) -> bool {
        match self.next_delay() {
            Some(delay) => {
                tokio::time::sleep(delay).await;
                true
            }
            None => false,
        }
    }
}

/// May a whole segment run again after this failure? True when nothing of it can have been
/// committed: the statement did not run (or changed nothing), or its transaction is gone (rolled
/// back).
pub(crate) fn segment_may_rerun(e: &ExecError) -> bool {
    matches!(e, ExecError::Transient { .. } | ExecError::Ambiguous { .. } | ExecError::TransactionGone { .. })
}

/// Calls `f` until it succeeds, fails for good, or transient failures outlast `retry_for`.
/// Ambiguous failures and timeouts are retried only when `idempotent`. (A statement that met
/// concurrent DDL in `information_schema`, MySQL 1684, arrives here as a transient failure.)
pub(crate) async fn retry<T, F, Fut>(retry_for: Duration, idempotent: bool, mut f: F) -> Result<T, ExecError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, ExecError>>,
{
    let mut backoff = Backoff::doubling(retry_for);
    loop {
        let result = f().await;
        let retryable = match &result {
            Err(ExecError::Transient { .. }) => true,
            Err(ExecError::Ambiguous { .. } | ExecError::Timeout { .. }) => idempotent,
            _ => false,
        };
        if !retryable {
            return result;
        }
        let Some(delay) = backoff.next_delay() else { return result };
        if let Err(e) = &result {
            tracing::warn!(error = %e, delay_ms = delay.as_millis() as u64, "retrying");
        }
        tokio::time::sleep(delay).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicU32, Ordering};

    fn transient() -> ExecError {
        ExecError::Transient { message: "DatabaseResumingException".into() }
    }

    #[test]
    fn the_pause_doubles_up_to_ten_seconds_and_stops_at_the_deadline() {
        let mut b = Backoff::doubling(Duration::from_secs(30));
        // (No time passes here: the deadline is checked against the clock, not the sum of pauses.)
        let delays: Vec<u64> =
            std::iter::from_fn(|| b.next_delay()).take(8).map(|d| d.as_millis() as u64).collect();
        assert_eq!(delays, [200, 400, 800, 1600, 3200, 6400, 10_000, 10_000]);
        assert!(Backoff::doubling(Duration::from_millis(100)).next_delay().is_none());
        let mut fixed = Backoff::fixed(Duration::from_millis(700), Duration::from_millis(500));
        assert_eq!(fixed.next_delay(), Some(Duration::from_millis(500)));
        assert_eq!(fixed.next_delay(), Some(Duration::from_millis(500)), "a fixed pause does not grow");
    }

    #[tokio::test]
    async fn a_transient_failure_is_retried_until_it_succeeds() {
        let calls = AtomicU32::new(0);
        let result = retry(Duration::from_secs(5), false, || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(transient())
            } else {
                Ok(7)
            }
        })
        .await;
        assert_eq!(result, Ok(7));
        assert_eq!(calls.load(Ordering::SeqCst), 3);
    }

    #[tokio::test]
    async fn an_ambiguous_failure_is_retried_only_for_idempotent_calls() {
        let ambiguous = || ExecError::Ambiguous { message: "lost".into() };
        let calls = AtomicU32::new(0);
        let once = retry(Duration::from_secs(5), false, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(ambiguous())
        })
        .await;
        assert_eq!((once, calls.load(Ordering::SeqCst)), (Err(ambiguous()), 1));
        let calls = AtomicU32::new(0);
        let again = retry(Duration::from_secs(5), true, || async {
            if calls.fetch_add(1, Ordering::SeqCst) == 0 {
                Err(ambiguous())
            } else {
                Ok(())
            }
        })
        .await;
        assert_eq!((again, calls.load(Ordering::SeqCst)), (Ok(()), 2));
    }

    #[tokio::test]
    async fn a_read_that_met_concurrent_ddl_is_retried_but_not_forever() {
        let skipped = || {
            ExecError::database(
                "Database error code: 1684. Message: Table 't'.'x' was skipped since its definition \
                 is being modified by concurrent DDL statement",
            )
        };
        let calls = AtomicU32::new(0);
        let result = retry(Duration::from_secs(5), false, || async {
            if calls.fetch_add(1, Ordering::SeqCst) < 2 {
                Err(skipped())
            } else {
                Ok(1)
            }
        })
        .await;
        assert_eq!((result, calls.load(Ordering::SeqCst)), (Ok(1), 3));
        assert!(segment_may_rerun(&skipped()));
        let calls = AtomicU32::new(0);
        let bounded = retry(Duration::from_millis(300), true, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(skipped())
        })
        .await;
        assert_eq!(bounded, Err(skipped()));
        assert_eq!(calls.load(Ordering::SeqCst), 2, "one pause of 200 ms fits in 300 ms, the next does not");
    }

    #[tokio::test]
    async fn a_sql_error_is_never_retried() {
        let calls = AtomicU32::new(0);
        let result = retry(Duration::from_secs(5), true, || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err::<(), _>(ExecError::database("Database error code: 1064. Message: syntax"))
        })
        .await;
        assert!(result.is_err());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }
}
