//! `RollbackTransaction` (`POST /RollbackTransaction`): rolls back and releases the pinned
//! connection. Commit shares `end`.

use std::sync::Arc;

use mysql_async::prelude::Queryable;

use crate::config::TransactionMode;
use crate::db;
use crate::error::ApiError;
use crate::service::Service;
use crate::transactions::not_found;
use crate::wire::{EndTransactionRequest, TransactionStatusResponse, ROLLBACK_COMPLETE};

pub async fn handle(
    svc: &Arc<Service>,
    req: EndTransactionRequest,
) -> Result<TransactionStatusResponse, ApiError> {
    end(svc, req, "ROLLBACK", ROLLBACK_COMPLETE).await
}

/// Runs `COMMIT` or `ROLLBACK` on the transaction's connection and forgets the transaction.
pub(crate) async fn end(
    svc: &Arc<Service>,
    req: EndTransactionRequest,
    statement: &str,
    status: &str,
) -> Result<TransactionStatusResponse, ApiError> {
    let target = svc.target(req.resource_arn.as_deref(), req.secret_arn.as_deref())?;
    let id = req.transaction_id.as_deref().ok_or_else(|| {
        ApiError::Validation(
            "1 validation error detected: Value null at 'transactionId' failed to satisfy \
             constraint: Member must not be null"
                .into(),
        )
    })?;
    let (_tx, mut guard) = svc.transactions.acquire(id, &target.cluster_arn)?;
    let mut lease = guard.take().ok_or_else(|| not_found(id))?;
    svc.transactions.remove(id);
    drop(guard);
    match lease.conn.query_drop(statement).await {
        Ok(()) => {
            // A pooled connection must be back in autocommit mode before another call gets it.
            if svc.config.transaction_mode == TransactionMode::AutocommitOff
                && lease.conn.query_drop("SET autocommit = 1").await.is_err()
            {
                lease.retire = true;
            }
            svc.pools.checkin(lease);
            Ok(TransactionStatusResponse { transaction_status: status.to_string() })
        }
        Err(e) => svc.pools.after(Err(db::sql_error(e, svc.errors()))),
    }
}
