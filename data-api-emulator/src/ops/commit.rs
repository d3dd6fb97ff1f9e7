//! `CommitTransaction` (`POST /CommitTransaction`): commits and releases the pinned connection.

use std::sync::Arc;

use crate::error::ApiError;
use crate::service::Service;
use crate::wire::{EndTransactionRequest, TransactionStatusResponse, TRANSACTION_COMMITTED};

pub async fn handle(
    svc: &Arc<Service>,
    req: EndTransactionRequest,
) -> Result<TransactionStatusResponse, ApiError> {
    super::rollback::end(svc, req, "COMMIT", TRANSACTION_COMMITTED).await
}
