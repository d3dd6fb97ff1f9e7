//! `BatchExecuteStatement` (`POST /BatchExecute`): one statement run once per parameter set, on
//! one connection, each run autocommitted unless the call is in a transaction.

use std::sync::Arc;

use crate::error::ApiError;
use crate::ops::execute::generated_fields;
use crate::service::{check_sql, Call, Done, Service, Work};
use crate::sql;
use crate::wire::{BatchExecuteStatementRequest, BatchExecuteStatementResponse, UpdateResult};

pub async fn handle(
    svc: &Arc<Service>,
    req: BatchExecuteStatementRequest,
    call: Call,
) -> Result<BatchExecuteStatementResponse, ApiError> {
    let sql_text = check_sql(req.sql.as_deref(), req.schema.as_deref())?;
    let target = svc.target(req.resource_arn.as_deref(), req.secret_arn.as_deref())?;
    let statements =
        req.parameter_sets.iter().map(|set| sql::prepare(&sql_text, set)).collect::<Result<Vec<_>, _>>()?;
    if statements.is_empty() {
        return Ok(BatchExecuteStatementResponse::default());
    }
    let done = svc
        .dispatch(
            target,
            req.transaction_id.as_deref(),
            req.database.as_deref(),
            false,
            call,
            Work::Many(statements),
        )
        .await?;
    let Done::Many(outcomes) = done else {
        return Err(ApiError::Internal("expected several results".into()));
    };
    Ok(BatchExecuteStatementResponse {
        update_results: outcomes
            .into_iter()
            .map(|o| UpdateResult { generated_fields: generated_fields(o.last_insert_id) })
            .collect(),
    })
}
