//! Running one DDL statement: outside a transaction (MySQL commits it implicitly anyway), with
//! `continueAfterTimeout`, recorded as in flight before it is sent.
//!
//! - The in-flight record holds a schema fingerprint taken just before the statement, so a run that
//!   crashed (or lost the answer) between the statement and its progress write can tell afterwards
//!   whether it took effect, instead of running it twice ([`inflight_ran`]).
//! - A call that times out leaves the statement running on the server: the runner polls the
//!   connection the Data API names until it is idle ([`wait_for`]), then goes on.
//! - A statement that certainly did not run (or whose lost answer turned out not to have run) is
//!   sent again for `retry_for`.
//! - A statement that needs session state (`foreign_key_checks`, `sql_mode`, user variables set
//!   earlier in its script) gets it on the same connection through a Data API transaction that
//!   holds only the restoring `SET`s and then the statement ([`run_with_session`]). The transaction
//!   is a way to pin one connection, not to make the DDL atomic (MySQL commits it by itself), so the
//!   statement follows the same rules as above: in flight before it is sent, sent once per attempt,
//!   a lost answer settled by the fingerprint, never sent again once it may have run. (Sending the
//!   `SET` and the DDL in one call would be a multi-statement, which the Data API refuses.)

use std::time::Duration;

use crate::apply::error::{Failure, StepError};
use crate::apply::executor::{ExecError, Executor, Outcome, ParamValue, Request, Value};
use crate::apply::progress::{exec_failure, fail, Recorder};
use crate::apply::retry::{retry, Backoff};
use crate::apply::segment::{Prepared, Segment};
use crate::sql::calls::calls;

/// Pause before sending a DDL statement again.
const RESEND_DELAY: Duration = Duration::from_millis(500);

/// Runs the DDL statement of `seg` and records its progress, sending it again while that is safe.
pub(crate) async fn run<E: Executor>(rec: &Recorder<'_, E>, seg: &Segment<'_, '_>) -> Result<(), Failure> {
    let mut backoff = Backoff::fixed(rec.db.config.retry_for, RESEND_DELAY);
    loop {
        match send(rec, seg).await {
            Err(failure) if failure.retry => {
                tracing::warn!(error = %failure.error, "sending the DDL statement again");
                if !backoff.wait().await {
                    return Err(failure);
                }
            }
            other => return other,
        }
    }
}

/// Runs the DDL statement of `seg` after `replay` restored its session, both in one transaction (one
/// connection), and records its progress; sent again only while it certainly did not run.
pub(crate) async fn run_with_session<E: Executor>(
    rec: &Recorder<'_, E>,
    seg: &Segment<'_, '_>,
    replay: &[String],
    reset: Option<&str>,
) -> Result<(), Failure> {
    let mut backoff = Backoff::fixed(rec.db.config.retry_for, RESEND_DELAY);
    loop {
        match send_with_session(rec, seg, replay, reset).await {
            Err(failure) if failure.retry => {
                tracing::warn!(error = %failure.error, "sending the DDL statement again with its session");
                if !backoff.wait().await {
                    return Err(failure);
                }
            }
            other => return other,
        }
    }
}

/// One attempt: begin, restore the session, the statement's calls, end the transaction, then the
/// progress write (outside the transaction: the DDL has committed it anyway).
async fn send_with_session<E: Executor>(
    rec: &Recorder<'_, E>,
    seg: &Segment<'_, '_>,
    replay: &[String],
    reset: Option<&str>,
) -> Result<(), Failure> {
    let (p, at, db) = (&seg.statements[0], seg.at, rec.db);
    let calls = calls(&p.statement.sent()).map_err(|e| fail(at, StepError::TooLong(e)))?;
    let tx = retry(db.config.retry_for, true, || db.exec.begin(seg.database()))
        .await
        .map_err(|e| exec_failure(at, e, StepError::Begin))?;
    for sql in replay {
        let request = Request::new(sql.clone()).database(seg.database()).transaction(Some(&tx));
        if let Err(e) = db.exec.execute(request).await {
            end(rec, &tx, reset).await;
            // Nothing durable has happened yet: the attempt may run again whenever the call allows.
            return Err(exec_failure(at, e, |source| StepError::Replay { sql: sql.clone(), source }));
        }
    }
    for call in calls {
        let mut request = Request::new(call.sql).database(seg.database()).transaction(Some(&tx));
        request.params = call.params.into_iter().map(|(n, v)| (n, ParamValue::from(v))).collect();
        let call = || async { db.exec.execute(request.clone()).await.map_err(ExecError::may_have_run) };
        match retry(db.config.retry_for, false, call).await {
            Ok(_) => {}
            // The answer is lost, or the call gave up while the statement may still run (a call in a
            // transaction cannot continue after its timeout), or the database went away while it
            // may have run: the schema tells, once it is idle.
            Err(e @ (ExecError::Ambiguous { .. } | ExecError::Timeout { .. })) => {
                end(rec, &tx, None).await;
                lost_answer(rec, p, at, e).await?;
                return rec.write(seg.end, seg.prefix, Some(seg.started), None, seg.announce).await;
            }
            Err(e) => {
                end(rec, &tx, reset).await;
                return Err(fail(at, StepError::Statement(e)));
            }
        }
    }
    end(rec, &tx, reset).await;
    rec.write(seg.end, seg.prefix, Some(seg.started), None, seg.announce).await
}

/// Ends the session-restoring transaction, first undoing the session on its connection (`reset`,
/// so the pooled connection does not carry it to another migration). Its only durable content is
/// the DDL statement, which MySQL has committed (or not) by itself, so a failure here changes
/// nothing: the transaction expires on its own.
async fn end<E: Executor>(rec: &Recorder<'_, E>, tx: &str, reset: Option<&str>) {
    if let Some(sql) = reset {
        let request = Request::new(sql.to_owned()).transaction(Some(tx));
        if let Err(e) = rec.db.exec.execute(request).await {
            tracing::debug!(error = %e, "resetting the session of a DDL statement failed");
        }
    }
    if let Err(e) = rec.db.exec.rollback(tx).await {
        tracing::debug!(error = %e, "ending the session transaction of a DDL statement failed");
    }
}

/// One attempt: the statement's calls, then the progress write.
async fn send<E: Executor>(rec: &Recorder<'_, E>, seg: &Segment<'_, '_>) -> Result<(), Failure> {
    let (p, at) = (&seg.statements[0], seg.at);
    for call in calls(&p.statement.sent()).map_err(|e| fail(at, StepError::TooLong(e)))? {
        let mut request = Request::new(call.sql).database(p.database.as_deref());
        request.params = call.params.into_iter().map(|(n, v)| (n, ParamValue::from(v))).collect();
        request.continue_after_timeout = true;
        let call = || async { rec.db.exec.execute(request.clone()).await.map_err(ExecError::may_have_run) };
        match retry(rec.db.config.retry_for, false, call).await {
            Ok(_) => {}
            Err(ExecError::Timeout { connection_id }) => {
                tracing::info!(
                    statement = at + 1,
                    connection_id,
                    "statement outlived its call; waiting for it to finish"
                );
                wait_for(rec, connection_id).await.map_err(|error| fail(at, error))?;
            }
            Err(e @ ExecError::Ambiguous { .. }) => lost_answer(rec, p, at, e).await?,
            Err(e) => return Err(fail(at, StepError::Statement(e))),
        }
    }
    rec.write(seg.end, seg.prefix, Some(seg.started), None, seg.announce).await
}

/// The answer to the statement was lost: the fingerprint recorded before sending tells whether it
/// ran. `Ok` when it did; a retryable failure when it did not.
async fn lost_answer<E: Executor>(
    rec: &Recorder<'_, E>,
    p: &Prepared<'_>,
    at: usize,
    e: ExecError,
) -> Result<(), Failure> {
    let Some(fingerprint) = rec.recorded_fingerprint(at).await? else {
        return Err(fail(at, StepError::LostWithoutRecord(e)));
    };
    let ran = inflight_ran(rec, p, &fingerprint).await.map_err(|error| fail(at, error))?;
    tracing::warn!(statement = at + 1, ran, "the answer to a DDL statement was lost; checked the schema");
    if ran {
        Ok(())
    } else {
        Err(Failure { index: at, error: StepError::LostNotRun(e), retry: true })
    }
}

/// Whether a DDL statement recorded in flight took effect: waits while it still runs, then compares
/// the schema fingerprint with the one `recorded` before it was sent.
pub(crate) async fn inflight_ran<E: Executor>(
    rec: &Recorder<'_, E>,
    p: &Prepared<'_>,
    recorded: &str,
) -> Result<bool, StepError> {
    let db = rec.db;
    loop {
        let outcome =
            db.idempotent(db.server.running(&p.statement.sent())).await.map_err(StepError::StillRunning)?;
        if first_long(&outcome) == 0 {
            break;
        }
        if db
            .config
            .deadline
            .is_some_and(|deadline| std::time::Instant::now() + db.config.poll_every >= deadline)
        {
            return Err(StepError::RunningOnServer(None));
        }
        tracing::info!("a statement left by an earlier run is still running; waiting");
        tokio::time::sleep(db.config.poll_every).await;
    }
    let now = db
        .idempotent(db.server.fingerprint(&p.scope(db.name), recorded))
        .await
        .map_err(StepError::Fingerprint)?;
    let now = now.first_value().and_then(Value::as_str).unwrap_or_default();
    Ok(now != recorded)
}

fn first_long(outcome: &Outcome) -> i64 {
    outcome.first_value().and_then(Value::as_i64).unwrap_or(0)
}

/// Waits until connection `id` no longer runs a statement (or the run's deadline comes).
async fn wait_for<E: Executor>(rec: &Recorder<'_, E>, id: Option<i64>) -> Result<(), StepError> {
    let Some(id) = id else { return Err(StepError::NoConnectionId) };
    let db = rec.db;
    loop {
        if db.config.deadline.is_some_and(|deadline| std::time::Instant::now() >= deadline) {
            return Err(StepError::RunningOnServer(Some(id)));
        }
        let request = Request::new(
            // The poll itself may land on that very connection once it is free again: not itself.
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
             WHERE ID = :id AND ID <> CONNECTION_ID() AND COMMAND <> 'Sleep'",
        )
        .param("id", ParamValue::Long(id));
        let outcome = db.idempotent(request).await.map_err(|source| StepError::Waiting { id, source })?;
        let running = first_long(&outcome);
        tracing::debug!(connection_id = id, running, "polled the statement that outlived its call");
        if running == 0 {
            return Ok(());
        }
        tokio::time::sleep(db.config.poll_every).await;
    }
}
