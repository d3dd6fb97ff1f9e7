//! The migration lock of one database: a lease row with an owner and an expiry, taken before
//! anything changes and renewed in the background (every third of its length) until released.
//!
//! Data API calls outside a transaction are stateless HTTP, so a connection-scoped `GET_LOCK` would
//! not hold; a lease row does, and a crashed run's lease expires by itself. Progress writes are
//! fenced by the lease (see `history`): once it is lost, nothing more is recorded or applied.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::apply::db::Db;
use crate::apply::error::{call_error, RunError};
use crate::apply::executor::{Executor, Request};

/// A held lease, renewed until dropped.
pub(crate) struct Lease {
    lost: Arc<AtomicBool>,
    renewer: tokio::task::JoinHandle<()>,
}

impl Lease {
    /// A renewal found the lease taken by another run.
    pub fn is_lost(&self) -> bool {
        self.lost.load(Ordering::SeqCst)
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

fn lease_seconds(lease: Duration) -> i64 {
    lease.as_secs().max(1) as i64
}

/// Takes the lease of `db`, waiting for another run up to `lock_wait`; creates the tables on the
/// first run.
pub(crate) async fn take<E: Executor + 'static>(db: &Db<'_, E>) -> Result<Lease, RunError> {
    let seconds = lease_seconds(db.config.lease);
    let start = Instant::now();
    let mut created = false;
    loop {
        match db.idempotent(db.tables.acquire(db.owner, seconds)).await {
            Ok(outcome) if outcome.updated == 1 => break,
            // No row yet (first run), or held by another run: make sure the row exists.
            Ok(_) if !created => {
                db.ensure_tables().await?;
                created = true;
                continue;
            }
            Ok(_) => {}
            Err(e) if !created && e.is_missing_table() => {
                db.ensure_tables().await?;
                created = true;
                continue;
            }
            // The lease row is locked by a transaction of another run (or of a crashed one, until
            // the Data API rolls it back): the lock is held, like any other holder's.
            Err(e) if e.is_lock_wait() => {
                tracing::info!(database = db.name, "the lock row is locked by another transaction; waiting");
            }
            Err(e) => return Err(call_error(format!("database {}: taking the migration lock", db.name))(e)),
        }
        if start.elapsed() >= db.config.lock_wait {
            return Err(held_by_another(db, start).await);
        }
        tokio::time::sleep(Duration::from_millis(500).min(db.config.lock_wait)).await;
    }
    tracing::info!(database = db.name, owner = %db.owner, "lock taken");
    let request = db.tables.renew(db.owner, seconds);
    let lease = renew(db.exec.clone(), request, db.config.lease / 3);
    // A transaction the previous holder left open must end before anything is read or applied.
    if let Err(e) = crate::apply::fence::clear(db).await {
        release(db, lease).await;
        return Err(e);
    }
    Ok(lease)
}

/// The error for a lease another run still holds, naming that run.
async fn held_by_another<E: Executor>(db: &Db<'_, E>, start: Instant) -> RunError {
    let holder = match db.idempotent(db.tables.holder()).await {
        Ok(holder) => holder,
        Err(e) => return call_error(format!("database {}: reading the lock", db.name))(e),
    };
    let row = holder.rows.first();
    RunError::Locked {
        database: db.name.to_owned(),
        owner: row.and_then(|r| r.first()).and_then(|v| v.as_str()).unwrap_or("?").to_owned(),
        seconds: row.and_then(|r| r.get(1)).and_then(|v| v.as_i64()).unwrap_or(0),
        waited: start.elapsed(),
    }
}

/// Starts renewing with `request` every `every`; the lease is lost when a renewal updates nothing.
fn renew<E: Executor + 'static>(exec: Arc<E>, request: Request, every: Duration) -> Lease {
    let lost = Arc::new(AtomicBool::new(false));
    let flag = lost.clone();
    let renewer = tokio::spawn(async move {
        loop {
            tokio::time::sleep(every).await;
            match exec.execute(request.clone()).await {
                Ok(o) if o.updated == 1 => {}
                Ok(_) => {
                    flag.store(true, Ordering::SeqCst);
                    return;
                }
                Err(e) => tracing::warn!(error = %e, "renewing the lock failed; trying again"),
            }
        }
    });
    Lease { lost, renewer }
}

/// Stops renewing and releases the lease (a failure only delays the next run until it expires).
pub(crate) async fn release<E: Executor>(db: &Db<'_, E>, lease: Lease) {
    drop(lease);
    if let Err(e) = db.idempotent(db.tables.release(db.owner)).await {
        tracing::warn!(database = db.name, error = %e, "releasing the lock failed; it expires by itself");
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::fake::Fake;
    use crate::apply::RunConfig;

    #[tokio::test]
    async fn a_lease_held_by_another_run_is_reported_with_its_owner_after_the_wait() {
        let fake = Arc::new(Fake::default());
        fake.hold_lock("other-run", 42);
        let config = RunConfig { lock_wait: Duration::from_millis(10), ..RunConfig::default() };
        let server = crate::apply::history::Tables::new("aurora_migrate_history").expect("valid");
        let db = Db {
            exec: &fake,
            config: &config,
            owner: "me",
            name: "app",
            tables: server.in_database("app"),
            server: &server,
            left_open: Default::default(),
        };
        match take(&db).await {
            Err(RunError::Locked { database, owner, seconds, .. }) => {
                assert_eq!((database.as_str(), owner.as_str(), seconds), ("app", "other-run", 42))
            }
            Err(other) => panic!("not reported as locked: {other}"),
            Ok(_) => panic!("took a lease another run holds"),
        }
    }
}
