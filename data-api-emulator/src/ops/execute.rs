//! `ExecuteStatement` (`POST /Execute`): one SQL statement, in a transaction or autocommitted.

use std::sync::Arc;

use crate::convert::{self, ValueOptions};
use crate::error::ApiError;
use crate::service::{check_sql, Done, Service, Work};
use crate::sql;
use crate::wire::{ExecuteStatementRequest, ExecuteStatementResponse, Field};

pub async fn handle(
    svc: &Arc<Service>,
    req: ExecuteStatementRequest,
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
        }
        None => {
            response.number_of_records_updated = outcome.affected_rows;
            response.generated_fields = Some(generated_fields(outcome.last_insert_id));
        }
    }
    Ok(response)
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
