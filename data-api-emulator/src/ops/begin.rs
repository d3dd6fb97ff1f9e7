//! `BeginTransaction` (`POST /BeginTransaction`): pins a connection and starts a transaction, with
//! `START TRANSACTION` or `SET autocommit = 0` as configured (see `TransactionMode`).

use std::sync::Arc;

use mysql_async::prelude::Queryable;

use crate::config::TransactionMode;
use crate::db;
use crate::error::ApiError;
use crate::service::Service;
use crate::wire::{BeginTransactionRequest, BeginTransactionResponse};

pub async fn handle(
    svc: &Arc<Service>,
    req: BeginTransactionRequest,
) -> Result<BeginTransactionResponse, ApiError> {
    if req.schema.is_some() {
        return Err(ApiError::Validation("The schema parameter isn't supported.".into()));
    }
    let target = svc.target(req.resource_arn.as_deref(), req.secret_arn.as_deref())?;
    let mut lease = svc.pools.checkout(&target, req.database.as_deref(), svc.errors()).await?;
    let start = match svc.config.transaction_mode {
        TransactionMode::StartTransaction => "START TRANSACTION",
        TransactionMode::AutocommitOff => "SET autocommit = 0",
    };
    svc.pools.after(lease.conn.query_drop(start).await.map_err(|e| db::sql_error(e, svc.errors())))?;
    let transaction_id = svc.transactions.open(target, lease);
    Ok(BeginTransactionResponse { transaction_id })
}
