//! The fence between a run's transactions and the run that takes its lease over.
//!
//! A segment's transaction must not commit once another run holds the lease, or that run could apply
//! the segment again. Fencing the history write on the lease row (a shared lock until commit) would
//! make every lease acquire and renewal wait on open transactions, and a transaction of a run that
//! crashed stays open until the Data API's idle rollback, minutes later. So the lease row is only
//! read by statements outside transactions, and transactions are fenced by row 2 of the lock table:
//!
//! - Before its first statement, a transaction reads its `CONNECTION_ID()`, writes it with the
//!   run's owner into the fence row outside the transaction (fenced by the lease row, for that one
//!   statement) and then locks the fence row inside the transaction if it still says so
//!   ([`enter`]). Its history write is fenced by that row.
//! - A run that takes the lease ([`clear`]) probes the fence row without waiting: locked means a
//!   transaction of an earlier holder is open on the connection the row names, and that connection
//!   is killed (its transaction rolls back, or finishes a commit already under way) until the row
//!   is free. Then it marks the row as taken over, so that a transaction of the earlier
//!   holder that registered but has not locked it yet finds it changed and rolls back.
//!
//! Either an earlier holder's transaction locked the fence row before the takeover probed it (then
//! it ends, committed or killed, before the new holder reads the history), or it finds the row
//! changed and writes nothing. Only the lease holder registers, and a run has at most one
//! transaction open at a time, so one row suffices.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::apply::db::Db;
use crate::apply::error::{call_error, Failure, RunError, StepError};
use crate::apply::executor::{ExecError, Executor, Request, Value};
use crate::apply::history::{registered_connection, registration, taken_over};
use crate::apply::progress::exec_failure;
use crate::apply::retry::{retry, Backoff};

/// Pause between probes of a fence row held by an earlier run's transaction.
const PROBE_EVERY: Duration = Duration::from_millis(250);

/// Registers transaction `tx` in the fence row and locks it; returns the registration its history
/// write is fenced by. A takeover found on the way is a lost lease.
pub(crate) async fn enter<E: Executor>(db: &Db<'_, E>, tx: &str, at: usize) -> Result<String, Failure> {
    let in_tx = |request: Request| request.transaction(Some(tx));
    let begin = |e| exec_failure(at, e, StepError::Begin);
    let outcome = db.exec.execute(in_tx(db.tables.connection_id())).await.map_err(begin)?;
    let Some(connection) = outcome.first_value().and_then(Value::as_i64) else {
        return Err(Failure {
            index: at,
            error: StepError::Begin(unexpected("CONNECTION_ID()")),
            retry: false,
        });
    };
    let registration = registration(connection, db.owner);
    // The registration waits on the fence row while a transaction holds it, and meanwhile keeps the
    // lease row from being renewed (`INSERT ... SELECT` reads it with a shared lock). A transaction of
    // this run left open (a refused rollback) would hold it until the Data API rolls it back,
    // minutes later: end it first, and again whenever the registration times out (the call timeout,
    // 45 s on AWS, comes before the lock wait error, 50 s).
    if db.left_open.swap(false, Ordering::SeqCst) {
        end_own_transaction(db).await.map_err(begin)?;
    }
    let register = db.tables.register(db.owner, &registration);
    let mut backoff = Backoff::doubling(db.config.retry_for);
    let mut kills = 0;
    loop {
        let e = match retry(db.config.retry_for, false, || db.exec.execute(register.clone())).await {
            Ok(o) if o.updated == 0 => return Err(lease_lost(db, at)),
            Ok(_) => break,
            Err(e) => e,
        };
        match &e {
            // An earlier transaction of this run that could not be ended (its rollback failed) still
            // holds the row until the Data API rolls it back: end it now.
            e if is_locked(e) && kills < 3 => {
                kills += 1;
                end_own_transaction(db).await.map_err(begin)?;
                continue;
            }
            // (Sending the registration again is safe: it only names this connection.)
            ExecError::Timeout { .. } | ExecError::Ambiguous { .. } => {
                end_own_transaction(db).await.map_err(begin)?;
            }
            _ => return Err(begin(e)),
        }
        let Some(delay) = backoff.next_delay() else { return Err(begin(e)) };
        tokio::time::sleep(delay).await;
    }
    let claimed = db.exec.execute(in_tx(db.tables.claim(&registration))).await.map_err(begin)?;
    if claimed.first_value().and_then(Value::as_i64) != Some(1) {
        return Err(lease_lost(db, at));
    }
    Ok(registration)
}

/// After taking the lease: waits for (killing it) any transaction of an earlier holder that still
/// holds the fence row, then makes the row this run's. Gives up after the run's lock wait.
pub(crate) async fn clear<E: Executor>(db: &Db<'_, E>) -> Result<(), RunError> {
    let start = Instant::now();
    // Names no connection, whatever the owner looks like.
    let taken = taken_over(db.owner);
    let what = || format!("database {}: clearing the transaction fence of the migration lock", db.name);
    loop {
        match db.idempotent(db.tables.probe_fence()).await {
            Ok(outcome) => match outcome.first_value().and_then(Value::as_str) {
                // No transaction ever registered, or this run's own row.
                None => return Ok(()),
                Some(current) if current == taken => return Ok(()),
                Some(_) => match db.idempotent(db.tables.take_fence(&taken)).await {
                    Ok(_) => return Ok(()),
                    // A transaction locked it between the probe and the write: probe again.
                    Err(e) if is_locked(&e) => {}
                    Err(e) => return Err(call_error(what())(e)),
                },
            },
            Err(e) if is_locked(&e) => kill_holder(db, None).await.map_err(call_error(what()))?,
            Err(e) => return Err(call_error(what())(e)),
        }
        if start.elapsed() >= db.config.lock_wait {
            let holder = db.idempotent(db.tables.read_fence()).await.map_err(call_error(what()))?;
            return Err(RunError::Locked {
                database: db.name.to_owned(),
                owner: holder.first_value().and_then(Value::as_str).unwrap_or("?").to_owned(),
                seconds: 0,
                waited: start.elapsed(),
            });
        }
        tokio::time::sleep(PROBE_EVERY.min(db.config.lock_wait)).await;
    }
}

/// Ends a transaction of this run still open on the fence row: probes the row without waiting and,
/// when a transaction holds it and the row names this run, kills that connection. A row held by
/// another run's transaction is left alone (a late one of an earlier holder, which finds the row
/// changed and ends by itself; `clear` killed any other before this run began).
async fn end_own_transaction<E: Executor>(db: &Db<'_, E>) -> Result<(), ExecError> {
    match db.idempotent(db.tables.probe_fence()).await {
        Ok(_) => Ok(()),
        Err(e) if is_locked(&e) => kill_holder(db, Some(db.owner)).await,
        Err(e) => Err(e),
    }
}

/// Kills the connection the fence row names: the one whose open transaction holds it; with `owner`,
/// only when the row is that run's registration.
async fn kill_holder<E: Executor>(db: &Db<'_, E>, owner: Option<&str>) -> Result<(), ExecError> {
    let registered = db.idempotent(db.tables.read_fence()).await?;
    let Some(text) = registered.first_value().and_then(Value::as_str) else { return Ok(()) };
    let Some(connection) = registered_connection(text) else { return Ok(()) };
    if owner.is_some_and(|owner| registration(connection, owner) != text) {
        return Ok(());
    }
    tracing::warn!(
        database = db.name,
        connection,
        registration = text,
        "a transaction of an earlier run, or one of this run left open, still holds the fence; ending it"
    );
    // The id comes from the server as a number; KILL takes no bound parameter on every server.
    match db.exec.execute(Request::new(format!("KILL {connection}"))).await {
        Ok(_) => Ok(()),
        // Already gone ("Unknown thread id"): the probe will find the row free.
        Err(ExecError::Database { code: Some(1094), .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// A lock wait, or the immediate refusal of `NOWAIT` (MariaDB answers it with 1205, MySQL with 3572).
fn is_locked(e: &ExecError) -> bool {
    e.is_lock_wait() || matches!(e, ExecError::Database { code: Some(3572), .. })
}

fn lease_lost<E>(db: &Db<'_, E>, at: usize) -> Failure {
    Failure { index: at, error: StepError::LeaseLost(db.name.to_owned()), retry: false }
}

fn unexpected(what: &str) -> ExecError {
    ExecError::Other { message: format!("{what} returned no number") }
}
