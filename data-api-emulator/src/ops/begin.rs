//! `BeginTransaction` (`POST /BeginTransaction`): pins a connection and starts a transaction.

use std::sync::Arc;

use mysql_async::prelude::Queryable;

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
    let mut lease = svc.pools.checkout(&target, req.database.as_deref(), svc.flavor()).await?;
    lease.conn.query_drop("START TRANSACTION").await.map_err(|e| db::sql_error(e, svc.flavor()))?;
    let transaction_id = svc.transactions.open(target, lease);
    Ok(BeginTransactionResponse { transaction_id })
}
