//! Open transactions: each pins one MySQL connection until commit, rollback or expiry.
//!
//! A transaction is busy while a call runs on it; a second call then fails at once (AWS v2:
//! "Transaction is still running a query"). A sweeper rolls back transactions idle longer than
//! the idle timeout (AWS: 3 minutes) and kills those older than the maximum (AWS: 24 hours), even
//! when busy.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use mysql_async::prelude::Queryable;
use tokio::sync::OwnedMutexGuard;

use crate::config::Timeouts;
use crate::db::{Lease, Pools, Target};
use crate::error::ApiError;

/// One open transaction.
pub struct Transaction {
    pub id: String,
    pub target: Arc<Target>,
    pub connection_id: u32,
    /// `None` once the transaction has ended.
    pub conn: Arc<tokio::sync::Mutex<Option<Lease>>>,
    created: Instant,
    last_used: Mutex<Instant>,
}

impl Transaction {
    pub fn touch(&self) {
        if let Ok(mut t) = self.last_used.lock() {
            *t = Instant::now();
        }
    }

    fn idle_since(&self) -> Instant {
        self.last_used.lock().map(|t| *t).unwrap_or_else(|_| Instant::now())
    }
}

/// The registry of open transactions.
#[derive(Default)]
pub struct Transactions {
    open: Mutex<HashMap<String, Arc<Transaction>>>,
    counter: AtomicU64,
}

pub fn not_found(id: &str) -> ApiError {
    ApiError::TransactionNotFound(format!("Transaction {id} is not found"))
}

pub fn still_running() -> ApiError {
    ApiError::DatabaseError("Transaction is still running a query".into())
}

impl Transactions {
    /// Registers a connection on which `START TRANSACTION` has run; returns the new id.
    pub fn open(&self, target: Arc<Target>, lease: Lease) -> String {
        let id = self.new_id();
        let tx = Arc::new(Transaction {
            id: id.clone(),
            target,
            connection_id: lease.id(),
            conn: Arc::new(tokio::sync::Mutex::new(Some(lease))),
            created: Instant::now(),
            last_used: Mutex::new(Instant::now()),
        });
        if let Ok(mut open) = self.open.lock() {
            open.insert(id.clone(), tx);
        }
        id
    }

    /// The transaction `id` on `cluster_arn`, locked for one call.
    pub fn acquire(
        &self,
        id: &str,
        cluster_arn: &str,
    ) -> Result<(Arc<Transaction>, OwnedMutexGuard<Option<Lease>>), ApiError> {
        let tx = self
            .open
            .lock()
            .ok()
            .and_then(|open| open.get(id).cloned())
            .filter(|tx| tx.target.cluster_arn == cluster_arn)
            .ok_or_else(|| not_found(id))?;
        let guard = tx.conn.clone().try_lock_owned().map_err(|_| still_running())?;
        if guard.is_none() {
            return Err(not_found(id));
        }
        tx.touch();
        Ok((tx, guard))
    }

    /// Forgets a transaction (after commit or rollback).
    pub fn remove(&self, id: &str) {
        if let Ok(mut open) = self.open.lock() {
            open.remove(id);
        }
    }

    /// Ends every transaction past its idle or maximum age.
    pub async fn sweep(&self, timeouts: Timeouts, pools: &Pools) {
        let now = Instant::now();
        let candidates: Vec<Arc<Transaction>> = match self.open.lock() {
            Ok(open) => open.values().cloned().collect(),
            Err(_) => return,
        };
        for tx in candidates {
            let too_old = now.duration_since(tx.created) >= timeouts.transaction_max;
            match tx.conn.clone().try_lock_owned() {
                Ok(mut guard) => {
                    if too_old || now.duration_since(tx.idle_since()) >= timeouts.transaction_idle {
                        self.remove(&tx.id);
                        if let Some(mut lease) = guard.take() {
                            tracing::info!(connection_id = tx.connection_id, "transaction expired");
                            // Rolled back and closed, like the Data API does; never reused.
                            let _ = lease.conn.query_drop("ROLLBACK").await;
                            let _ = lease.conn.disconnect().await;
                        }
                    }
                }
                Err(_) if too_old => {
                    self.remove(&tx.id);
                    pools.kill(&tx.target, tx.connection_id, true).await;
                }
                Err(_) => {}
            }
        }
    }

    /// An opaque id in the style of AWS's (long, base64).
    fn new_id(&self) -> String {
        use std::hash::{BuildHasher, Hasher};
        let n = self.counter.fetch_add(1, Ordering::Relaxed);
        let nanos = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_nanos()).unwrap_or(0);
        let mut bytes = Vec::with_capacity(48);
        for salt in 0..6u64 {
            let mut h = std::collections::hash_map::RandomState::new().build_hasher();
            h.write_u64(n);
            h.write_u128(nanos);
            h.write_u64(salt);
            bytes.extend_from_slice(&h.finish().to_be_bytes());
        }
        base64::engine::general_purpose::STANDARD.encode(bytes)
    }
}
