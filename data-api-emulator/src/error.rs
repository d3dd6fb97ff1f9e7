//! The errors the emulator answers with, named and coded as in the AWS service model.
//!
//! restJson1 puts the error's shape name in the `x-amzn-ErrorType` header; the body is
//! `{"message": ..., "code": ...}` (plus `dbConnectionId` for `StatementTimeoutException`).
//! HTTP status codes come from the model's `error.httpStatusCode`.

use serde_json::json;

/// An error answered to a Data API client.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// SQL error, v2 (`DatabaseErrorException`, 400).
    #[error("{0}")]
    DatabaseError(String),
    /// v1 SQL errors and malformed calls (`BadRequestException`, 400).
    #[error("{0}")]
    BadRequest(String),
    /// Input constraint violations and multi-statements, as the v2 service answers
    /// (`ValidationException`, 400; not in the model, so clients raise their generic error).
    #[error("{0}")]
    Validation(String),
    /// Body is not valid JSON (`SerializationException`, 400).
    #[error("{0}")]
    Serialization(String),
    /// The call ran longer than the call timeout (`StatementTimeoutException`, 400). The id is
    /// `None` only under the fault that leaves it out.
    #[error("{message}")]
    StatementTimeout { message: String, db_connection_id: Option<u64> },
    /// The request body is larger than the service accepts (HTTP 413). What AWS puts in the body
    /// is not documented; its front end answers 413 before any operation runs.
    #[error("{0}")]
    RequestTooLarge(String),
    /// Unknown or expired transaction (`TransactionNotFoundException`, 404).
    #[error("{0}")]
    TransactionNotFound(String),
    /// The secret is unknown (`SecretsErrorException`, 400).
    #[error("{0}")]
    SecretsError(String),
    /// The secret is not a usable database secret (`InvalidSecretException`, 400).
    #[error("{0}")]
    InvalidSecret(String),
    /// The paused cluster is resuming (`DatabaseResumingException`, 400).
    #[error("{0}")]
    DatabaseResuming(String),
    /// The database server cannot be reached (`DatabaseUnavailableException`, 504).
    #[error("{0}")]
    DatabaseUnavailable(String),
    /// `ServiceUnavailableError`, 503.
    #[error("{0}")]
    ServiceUnavailable(String),
    /// `InternalServerErrorException`, 500.
    #[error("{0}")]
    Internal(String),
    /// Unknown route (`UnknownOperationException`, 404).
    #[error("{0}")]
    UnknownOperation(String),
}

impl ApiError {
    /// The shape name that goes into `x-amzn-ErrorType` and the body's `code`.
    pub fn code(&self) -> &'static str {
        match self {
            ApiError::DatabaseError(_) => "DatabaseErrorException",
            ApiError::BadRequest(_) => "BadRequestException",
            ApiError::Validation(_) => "ValidationException",
            ApiError::Serialization(_) => "SerializationException",
            ApiError::StatementTimeout { .. } => "StatementTimeoutException",
            ApiError::TransactionNotFound(_) => "TransactionNotFoundException",
            ApiError::SecretsError(_) => "SecretsErrorException",
            ApiError::InvalidSecret(_) => "InvalidSecretException",
            ApiError::DatabaseResuming(_) => "DatabaseResumingException",
            ApiError::DatabaseUnavailable(_) => "DatabaseUnavailableException",
            ApiError::ServiceUnavailable(_) => "ServiceUnavailableError",
            ApiError::Internal(_) => "InternalServerErrorException",
            ApiError::UnknownOperation(_) => "UnknownOperationException",
            ApiError::RequestTooLarge(_) => "RequestEntityTooLargeException",
        }
    }

    /// The HTTP status code from the service model.
    pub fn status(&self) -> u16 {
        match self {
            ApiError::TransactionNotFound(_) | ApiError::UnknownOperation(_) => 404,
            ApiError::DatabaseUnavailable(_) => 504,
            ApiError::RequestTooLarge(_) => 413,
            ApiError::ServiceUnavailable(_) => 503,
            ApiError::Internal(_) => 500,
            _ => 400,
        }
    }

    /// The JSON body.
    pub fn body(&self) -> serde_json::Value {
        match self {
            ApiError::StatementTimeout { message, db_connection_id: Some(id) } => json!({
                "message": message,
                "code": self.code(),
                "dbConnectionId": id,
            }),
            other => json!({"message": other.to_string(), "code": other.code()}),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn statement_timeout_carries_the_connection_id() {
        let e = ApiError::StatementTimeout { message: "t".into(), db_connection_id: Some(42) };
        assert_eq!(e.status(), 400);
        assert_eq!(e.body()["dbConnectionId"], 42);
        assert_eq!(e.body()["code"], "StatementTimeoutException");
    }

    #[test]
    fn a_statement_timeout_without_a_connection_id_has_no_such_member() {
        let e = ApiError::StatementTimeout { message: "t".into(), db_connection_id: None };
        assert!(e.body().get("dbConnectionId").is_none(), "{}", e.body());
    }

    #[test]
    fn status_codes_follow_the_model() {
        assert_eq!(ApiError::TransactionNotFound(String::new()).status(), 404);
        assert_eq!(ApiError::ServiceUnavailable(String::new()).status(), 503);
        assert_eq!(ApiError::DatabaseError(String::new()).status(), 400);
        assert_eq!(ApiError::RequestTooLarge(String::new()).status(), 413);
    }
}
