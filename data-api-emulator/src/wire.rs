//! The JSON shapes of the RDS Data API (restJson1), as the AWS service model defines them
//! (`botocore/data/rds-data/2018-08-01/service-2.json`).
//!
//! Requests are deserialized leniently: a missing optional key means its default, unknown keys are
//! ignored. Responses leave out what AWS leaves out (`None` fields are not serialized).

use serde::{Deserialize, Serialize};

/// The `Field` union: exactly one member is set.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub enum Field {
    IsNull(bool),
    BooleanValue(bool),
    LongValue(i64),
    DoubleValue(f64),
    StringValue(String),
    /// Base64 on the wire.
    BlobValue(#[serde(with = "b64")] Vec<u8>),
    ArrayValue(serde_json::Value),
}

mod b64 {
    use base64::Engine as _;
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&base64::engine::general_purpose::STANDARD.encode(bytes))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let text = String::deserialize(d)?;
        base64::engine::general_purpose::STANDARD.decode(text.as_bytes()).map_err(serde::de::Error::custom)
    }
}

/// `SqlParameter`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SqlParameter {
    #[serde(default)]
    pub name: Option<String>,
    #[serde(default)]
    pub value: Option<Field>,
    #[serde(default)]
    pub type_hint: Option<String>,
}

/// `ResultSetOptions`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ResultSetOptions {
    #[serde(default)]
    pub decimal_return_type: Option<String>,
    #[serde(default)]
    pub long_return_type: Option<String>,
}

/// `ExecuteStatementRequest`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecuteStatementRequest {
    pub resource_arn: Option<String>,
    pub secret_arn: Option<String>,
    pub sql: Option<String>,
    #[serde(default)]
    pub database: Option<String>,
    #[serde(default)]
    pub schema: Option<String>,
    #[serde(default)]
    pub parameters: Vec<SqlParameter>,
    #[serde(default)]
    pub transaction_id: Option<String>,
    #[serde(default)]
    pub include_result_metadata: bool,
    #[serde(default)]
    pub continue_after_timeout: bool,
    #[serde(default)]
    pub result_set_options: Option<ResultSetOptions>,
    #[serde(default)]
    pub format_records_as: Option<String>,
}

/// `BatchExecuteStatementRequest`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchExecuteStatementRequest {
    pub resource_arn: Option<String>,
    pub secret_arn: Option<String>,
    pub sql: Option<String>,
    #[serde(default)]
    pub database: Option<String>,
    #[serde(default)]
    pub schema: Option<String>,
    #[serde(default)]
    pub parameter_sets: Vec<Vec<SqlParameter>>,
    #[serde(default)]
    pub transaction_id: Option<String>,
}

/// `BeginTransactionRequest`.
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BeginTransactionRequest {
    pub resource_arn: Option<String>,
    pub secret_arn: Option<String>,
    #[serde(default)]
    pub database: Option<String>,
    #[serde(default)]
    pub schema: Option<String>,
}

/// `CommitTransactionRequest` and `RollbackTransactionRequest` (same members).
#[derive(Debug, Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct EndTransactionRequest {
    pub resource_arn: Option<String>,
    pub secret_arn: Option<String>,
    pub transaction_id: Option<String>,
}

/// `ColumnMetadata`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ColumnMetadata {
    pub name: String,
    #[serde(rename = "type")]
    pub type_code: i32,
    pub type_name: String,
    pub label: String,
    pub schema_name: String,
    pub table_name: String,
    pub is_auto_increment: bool,
    pub is_signed: bool,
    pub is_currency: bool,
    pub is_case_sensitive: bool,
    pub nullable: i32,
    pub precision: i32,
    pub scale: i32,
    pub array_base_column_type: i32,
}

/// `ExecuteStatementResponse`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecuteStatementResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub records: Option<Vec<Vec<Field>>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub column_metadata: Option<Vec<ColumnMetadata>>,
    pub number_of_records_updated: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub generated_fields: Option<Vec<Field>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub formatted_records: Option<String>,
}

/// `UpdateResult`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UpdateResult {
    pub generated_fields: Vec<Field>,
}

/// `BatchExecuteStatementResponse`.
#[derive(Debug, Clone, Default, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BatchExecuteStatementResponse {
    pub update_results: Vec<UpdateResult>,
}

/// `BeginTransactionResponse`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct BeginTransactionResponse {
    pub transaction_id: String,
}

/// `CommitTransactionResponse` and `RollbackTransactionResponse`.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct TransactionStatusResponse {
    pub transaction_status: String,
}

/// What AWS answers for a commit (`CommitTransactionResponse.transactionStatus`).
pub const TRANSACTION_COMMITTED: &str = "Transaction Committed";
/// What AWS answers for a rollback (`RollbackTransactionResponse.transactionStatus`).
pub const ROLLBACK_COMPLETE: &str = "Rollback Complete";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn field_union_round_trips_in_the_aws_shape() {
        let json = r#"[{"isNull":true},{"longValue":7},{"blobValue":"AAE="},{"stringValue":"x"}]"#;
        let fields: Vec<Field> = serde_json::from_str(json).expect("valid fields");
        assert_eq!(fields[2], Field::BlobValue(vec![0, 1]));
        assert_eq!(serde_json::to_string(&fields).expect("serializes"), json);
    }

    #[test]
    fn execute_request_defaults_missing_optional_keys() {
        let req: ExecuteStatementRequest =
            serde_json::from_str(r#"{"resourceArn":"a","secretArn":"b","sql":"SELECT 1"}"#)
                .expect("valid request");
        assert!(!req.include_result_metadata && !req.continue_after_timeout);
        assert!(req.parameters.is_empty() && req.transaction_id.is_none());
    }
}
