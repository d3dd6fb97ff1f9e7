//! `ExecuteStatement` (`POST /Execute`): one SQL statement, in a transaction or autocommitted.
//!
//! A result larger than the service returns (1 MiB) is an error, and inside a transaction it also
//! ends the transaction (rolled back), as the service does: a client must page its reads.

use std::sync::Arc;

use crate::config::ErrorFlavor;
use crate::convert::{self, ValueOptions};
use crate::error::ApiError;
use crate::service::{check_sql, Call, Done, Service, Work, MAX_RESPONSE_BYTES};
use crate::sql;
use crate::wire::{EndTransactionRequest, ExecuteStatementRequest, ExecuteStatementResponse, Field};

pub async fn handle(
    svc: &Arc<Service>,
    req: ExecuteStatementRequest,
    call: Call,
) -> Result<ExecuteStatementResponse, ApiError> {
    let sql_text = check_sql(req.sql.as_deref(), req.schema.as_deref())?;
    let target = svc.target(req.resource_arn.as_deref(), req.secret_arn.as_deref())?;
    if let Some(f) = req.format_records_as.as_deref() {
        if f != "NONE" && f != "JSON" {
            return Err(ApiError::Validation(format!(
                "1 validation error detected: Value '{f}' at 'formatRecordsAs' failed to satisfy \
                 constraint: Member must satisfy enum value set: [NONE, JSON]"
            )));
        }
    }
    let prepared = sql::prepare(&sql_text, &req.parameters)?;
    let done = svc
        .dispatch(
            target,
            req.transaction_id.as_deref(),
            req.database.as_deref(),
            req.continue_after_timeout,
            call,
            Work::One(prepared),
        )
        .await?;
    let Done::One(outcome) = done else {
        return Err(ApiError::Internal("expected one result".into()));
    };
    let opts = ValueOptions::from_wire(req.result_set_options.as_ref());
    let mut response = ExecuteStatementResponse::default();
    match outcome.columns {
        Some(columns) => {
            let records: Vec<Vec<Field>> = outcome
                .rows
                .into_iter()
                .map(|row| {
                    columns.iter().zip(row.unwrap()).map(|(c, v)| convert::field(c, v, opts)).collect()
                })
                .collect();
            if req.format_records_as.as_deref() == Some("JSON") {
                response.formatted_records = Some(convert::formatted_records(&columns, &records));
            } else {
                if req.include_result_metadata {
                    response.column_metadata = Some(columns.iter().map(convert::metadata).collect());
                }
                response.records = Some(records);
            }
            let size = serde_json::to_vec(&response).map_or(0, |body| body.len());
            if size > MAX_RESPONSE_BYTES {
                return Err(too_large(svc, &req).await);
            }
        }
        None => {
            response.number_of_records_updated = outcome.affected_rows;
            response.generated_fields = Some(generated_fields(outcome.last_insert_id));
        }
    }
    Ok(response)
}

/// The error for a result over the response limit; ends the call's transaction, if any.
async fn too_large(svc: &Arc<Service>, req: &ExecuteStatementRequest) -> ApiError {
    if let Some(id) = &req.transaction_id {
        let end = EndTransactionRequest {
            resource_arn: req.resource_arn.clone(),
            secret_arn: req.secret_arn.clone(),
            transaction_id: Some(id.clone()),
        };
        // The transaction is gone whatever the rollback answers.
        let _ = super::rollback::handle(svc, end).await;
    }
    match svc.errors().flavor {
        ErrorFlavor::V2 => ApiError::DatabaseError("Database response exceeded size limit".into()),
        ErrorFlavor::V1 => {
            ApiError::BadRequest("Database returned more than the allowed response size limit".into())
        }
    }
}

/// `generatedFields`: the AUTO_INCREMENT value the statement generated, if any.
pub fn generated_fields(last_insert_id: Option<u64>) -> Vec<Field> {
    match last_insert_id {
        Some(id) if id > 0 => vec![match i64::try_from(id) {
            Ok(n) => Field::LongValue(n),
            Err(_) => Field::StringValue(id.to_string()),
        }],
        _ => Vec::new(),
    }
}
