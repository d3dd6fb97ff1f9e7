//! Running a segment of non-DDL statements in one Data API transaction, together with its progress
//! write, so that it is applied entirely or not at all; and finding out whether a commit whose
//! answer was lost landed.
//!
//! Each attempt: begin, restore the session (`replay`), send the statements, read back the session
//! variables they assigned (`capture`), undo them on the connection (`reset`, so that the pooled
//! connection does not carry them to another migration), write progress, commit. A failure rolls back; the segment is
//! run again from the start when nothing of it can have been committed (the statement did not run,
//! or the transaction is gone), with a doubling pause, for `retry_for`.

use crate::apply::error::{Failure, StepError};
use crate::apply::executor::{ExecError, Executor, ParamValue, Request, Value};
use crate::apply::fence;
use crate::apply::progress::{exec_failure, fail, Recorder};
use crate::apply::retry::{retry, Backoff};
use crate::apply::segment::Segment;
use crate::sql::calls::calls;

/// The session work around a segment's statements, in its transaction.
#[derive(Debug, Clone, Copy)]
pub(crate) struct SessionWork<'a> {
    /// Restores the session before the statements.
    pub replay: &'a [String],
    /// Variables read back after the statements.
    pub capture: &'a [String],
    /// Undoes on the connection what the transaction set.
    pub reset: Option<&'a str>,
}

/// Runs `seg` in a transaction, again while that is safe; returns the values read for `capture` and
/// where the segment ended (before `seg.end` when its time budget ran out: see `segment`).
pub(crate) async fn run<E: Executor>(
    rec: &Recorder<'_, E>,
    seg: &Segment<'_, '_>,
    session: &SessionWork<'_>,
) -> Result<(Option<Vec<Value>>, usize), Failure> {
    let mut backoff = Backoff::doubling(rec.db.config.retry_for);
    loop {
        match attempt(rec, seg, session).await {
            Err(failure) if failure.retry => {
                let Some(delay) = backoff.next_delay() else { return Err(failure) };
                tracing::warn!(error = %failure.error, "segment rolled back; running it again");
                tokio::time::sleep(delay).await;
            }
            other => return other,
        }
    }
}

/// One attempt: begin, run, commit (or roll back).
async fn attempt<E: Executor>(
    rec: &Recorder<'_, E>,
    seg: &Segment<'_, '_>,
    session: &SessionWork<'_>,
) -> Result<(Option<Vec<Value>>, usize), Failure> {
    let db = rec.db;
    let tx = retry(db.config.retry_for, true, || db.exec.begin(seg.database()))
        .await
        .map_err(|e| exec_failure(seg.at, e, StepError::Begin))?;
    // Registered in the lock table's fence row, so that a run taking the lease over can end it.
    let body = match fence::enter(db, &tx, seg.at).await {
        Ok(registration) => body(rec, seg, (&tx, &registration), session).await,
        Err(failure) => Err(failure),
    };
    let (captured, end, prefix) = match body {
        Ok(done) => done,
        Err(failure) => {
            roll_back(rec, &tx).await;
            return Err(failure);
        }
    };
    commit(rec, seg, &tx, end, &prefix).await.map(|()| (captured, end))
}

/// Everything inside the transaction: session, statements, read-back, progress. Returns the values
/// read back, where the segment ended and the prefix hash recorded with it.
async fn body<E: Executor>(
    rec: &Recorder<'_, E>,
    seg: &Segment<'_, '_>,
    (tx, registration): (&str, &str),
    session: &SessionWork<'_>,
) -> Result<(Option<Vec<Value>>, usize, String), Failure> {
    let (exec, database) = (rec.db.exec, seg.database());
    let SessionWork { replay, capture, reset } = *session;
    for sql in replay {
        let request = Request::new(sql.clone()).database(database).transaction(Some(tx));
        exec.execute(request)
            .await
            .map_err(|e| exec_failure(seg.at, e, |source| StepError::Replay { sql: sql.clone(), source }))?;
    }
    let mut end = seg.end;
    for (offset, p) in seg.statements.iter().enumerate().filter(|(_, p)| p.is_sent()) {
        let index = seg.at + offset;
        // The time budget is spent: commit what ran (at least one statement).
        if offset > 0 && seg.cut_at.is_some_and(|cut| std::time::Instant::now() >= cut) {
            end = index;
            break;
        }
        let text = p.statement.sent();
        for call in calls(&text).map_err(|e| fail(index, StepError::TooLong(e)))? {
            let mut request = Request::new(call.sql).database(database).transaction(Some(tx));
            request.params = call.params.into_iter().map(|(n, v)| (n, ParamValue::from(v))).collect();
            exec.execute(request).await.map_err(|e| {
                exec_failure(index, e, |e| match e {
                    ExecError::Timeout { .. } => StepError::TimeoutInTransaction(e),
                    e => StepError::Statement(e),
                })
            })?;
        }
    }
    let mut captured = None;
    if !capture.is_empty() {
        let read =
            Request::new(format!("SELECT {}", capture.join(", "))).database(database).transaction(Some(tx));
        let outcome = exec.execute(read).await.map_err(|e| exec_failure(seg.at, e, StepError::ReadBack))?;
        captured = outcome.rows.into_iter().next();
    }
    if let Some(sql) = reset {
        let request = Request::new(sql.to_owned()).database(database).transaction(Some(tx));
        exec.execute(request).await.map_err(|e| {
            exec_failure(seg.at, e, |source| StepError::Replay { sql: sql.to_owned(), source })
        })?;
    }
    // (Reading back every variable of the whole segment after a cut is harmless: one not assigned
    // yet reads as it is now, so restoring it changes nothing; the statement that assigns it runs
    // in the next segment and is read back there.)
    let (prefix, announce) = if end == seg.end {
        (seg.prefix.to_owned(), seg.announce)
    } else {
        (seg.before.with(&seg.statements[..end - seg.at]).hex(), None)
    };
    rec.write(end, &prefix, Some(seg.started), Some((tx, registration)), announce).await?;
    Ok((captured, end, prefix))
}

/// Rolls the transaction back; sent again for a few seconds while the Data API refuses it (a
/// statement that timed out is still being stopped: "Transaction is still running a query"), since
/// an open transaction keeps its row locks and the fence row, and the next segment (a long statement
/// through its procedure, say) would wait on them. If it still fails, the transaction expires by
/// itself, and the next transaction of this run ends it through the fence ([`fence::enter`]).
async fn roll_back<E: Executor>(rec: &Recorder<'_, E>, tx: &str) {
    let mut backoff = Backoff::fixed(ROLLBACK_FOR.min(rec.db.config.retry_for), ROLLBACK_EVERY);
    loop {
        match rec.db.exec.rollback(tx).await {
            Ok(()) | Err(ExecError::TransactionGone { .. }) => return,
            Err(e) => {
                if !backoff.wait().await {
                    tracing::warn!(error = %e, "rollback failed; the next transaction ends it");
                    rec.db.left_open.store(true, std::sync::atomic::Ordering::SeqCst);
                    return;
                }
                tracing::debug!(error = %e, "rollback refused; trying again");
            }
        }
    }
}

/// How long, and how often, a refused rollback is sent again.
const ROLLBACK_FOR: std::time::Duration = std::time::Duration::from_secs(10);
const ROLLBACK_EVERY: std::time::Duration = std::time::Duration::from_millis(200);

/// Commits (the segment up to `end`, with `prefix`); when the answer is lost, finds out whether the
/// commit landed.
async fn commit<E: Executor>(
    rec: &Recorder<'_, E>,
    seg: &Segment<'_, '_>,
    tx: &str,
    end: usize,
    prefix: &str,
) -> Result<(), Failure> {
    match rec.db.exec.commit(tx).await {
        Ok(()) => Ok(()),
        Err(e @ (ExecError::Ambiguous { .. } | ExecError::Transient { .. } | ExecError::Timeout { .. })) => {
            lost_commit(rec, seg, tx, e, (end, prefix)).await
        }
        Err(e) => {
            let retry = matches!(e, ExecError::TransactionGone { .. });
            Err(Failure { index: seg.at, error: StepError::Commit(e), retry })
        }
    }
}

/// Did the commit land? First make sure the transaction is over: a rollback that succeeds means it
/// was still open (so nothing was committed, and now nothing will be); "not found" means it ended.
/// Then the progress row written inside it tells.
async fn lost_commit<E: Executor>(
    rec: &Recorder<'_, E>,
    seg: &Segment<'_, '_>,
    tx: &str,
    e: ExecError,
    (end, prefix): (usize, &str),
) -> Result<(), Failure> {
    tracing::warn!(error = %e, "the answer to a commit was lost; finding out whether it landed");
    let mut backoff = Backoff::fixed(rec.db.config.retry_for, std::time::Duration::from_millis(250));
    loop {
        match rec.db.exec.rollback(tx).await {
            Ok(()) => {
                return Err(Failure { index: seg.at, error: StepError::CommitRolledBack(e), retry: true })
            }
            Err(ExecError::TransactionGone { .. }) => break,
            Err(other) => {
                tracing::warn!(error = %other, "waiting for the transaction whose commit answer was lost");
                if !backoff.wait().await {
                    return Err(fail(seg.at, StepError::CommitUnknown { commit: e, then: other }));
                }
            }
        }
    }
    if rec.landed(seg.at, end, prefix).await? {
        Ok(())
    } else {
        Err(Failure { index: seg.at, error: StepError::Commit(e), retry: true })
    }
}
