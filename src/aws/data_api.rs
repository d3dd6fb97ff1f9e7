//! [`Executor`] over the RDS Data API (`aws-sdk-rdsdata`), and the Secrets Manager lookup of a
//! secret given by name. The only module that knows the AWS SDK.
//!
//! The SDK's own retries are turned off: it would resend a statement after a 5xx, which may have
//! run. The runner retries what is safe to retry, knowing which calls are idempotent. Errors are
//! classified by their modeled name (the SDK reads `x-amzn-ErrorType`), never by HTTP status:
//! `DatabaseErrorException` (v2) and `BadRequestException: Database error code ...` (v1) are SQL
//! errors; `DatabaseResumingException`, `DatabaseUnavailableException`, throttling and v1's
//! "Communications link failure" mean the statement did not run; 5xx and lost responses may have.

use aws_sdk_rdsdata::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_rdsdata::primitives::Blob;
use aws_sdk_rdsdata::types::{Field, SqlParameter};

use crate::apply::executor::{ExecError, Executor, Outcome, ParamValue, Request, Value};

/// The Data API client for one cluster and secret.
#[derive(Debug, Clone)]
pub struct DataApi {
    client: aws_sdk_rdsdata::Client,
    resource_arn: String,
    secret_arn: String,
}

/// Why the Data API client could not be set up.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SetupError {
    /// Looking up the secret failed.
    #[error("cannot read secret {secret}: {message}")]
    Secret {
        /// Name or ARN given.
        secret: String,
        /// Why.
        message: String,
    },
}

/// Where to connect.
#[derive(Debug, Clone, Default)]
pub struct Target {
    /// Cluster ARN.
    pub resource_arn: String,
    /// Secret ARN or name.
    pub secret: String,
    /// Endpoint override (the local emulator).
    pub endpoint_url: Option<String>,
}

impl DataApi {
    /// A client from an SDK config (credentials, region, endpoint already set).
    pub fn new(config: &aws_config::SdkConfig, resource_arn: &str, secret_arn: &str) -> DataApi {
        let conf = aws_sdk_rdsdata::config::Builder::from(config)
            .retry_config(aws_sdk_rdsdata::config::retry::RetryConfig::disabled())
            .build();
        DataApi {
            client: aws_sdk_rdsdata::Client::from_conf(conf),
            resource_arn: resource_arn.to_owned(),
            secret_arn: secret_arn.to_owned(),
        }
    }

    /// A client for a local Data API (the project's emulator) at `endpoint_url`, with fixed
    /// test credentials and region: such a server accepts any signature, and no AWS account or
    /// environment is involved.
    pub fn local(endpoint_url: &str, resource_arn: &str, secret_arn: &str) -> DataApi {
        use aws_sdk_rdsdata::config::{BehaviorVersion, Credentials, Region, SharedCredentialsProvider};
        let config = aws_config::SdkConfig::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(SharedCredentialsProvider::new(Credentials::new(
                "local", "local", None, None, "local",
            )))
            .endpoint_url(endpoint_url)
            .build();
        DataApi::new(&config, resource_arn, secret_arn)
    }

    /// Loads the standard AWS configuration (environment, profile, IMDS / Lambda role), resolves a
    /// secret given by name to its ARN, and returns the client with the secret's `dbname` if it has
    /// one (read only when `need_dbname`, or when the secret is not an ARN).
    pub async fn connect(
        target: &Target,
        need_dbname: bool,
    ) -> Result<(DataApi, Option<String>), SetupError> {
        let mut loader = aws_config::defaults(aws_config::BehaviorVersion::latest());
        if let Some(url) = &target.endpoint_url {
            loader = loader.endpoint_url(url);
        }
        let config = loader.load().await;
        let mut secret_arn = target.secret.clone();
        let mut dbname = None;
        if need_dbname || !secret_arn.starts_with("arn:") {
            let sm = aws_sdk_secretsmanager::Client::new(&config);
            let value = sm.get_secret_value().secret_id(&target.secret).send().await.map_err(|e| {
                SetupError::Secret {
                    secret: target.secret.clone(),
                    message: e.into_service_error().meta().message().unwrap_or("request failed").to_owned(),
                }
            })?;
            if let Some(arn) = value.arn() {
                secret_arn = arn.to_owned();
            }
            dbname = value
                .secret_string()
                .and_then(|s| serde_json::from_str::<serde_json::Value>(s).ok())
                .and_then(|v| v.get("dbname").and_then(|d| d.as_str()).map(str::to_owned));
        }
        Ok((DataApi::new(&config, &target.resource_arn, &secret_arn), dbname))
    }
}

fn field(value: &ParamValue) -> Field {
    match value {
        ParamValue::Null => Field::IsNull(true),
        ParamValue::Long(v) => Field::LongValue(*v),
        ParamValue::Text(t) => Field::StringValue(t.clone()),
        ParamValue::Blob(b) => Field::BlobValue(Blob::new(b.clone())),
    }
}

fn value(field: &Field) -> Value {
    match field {
        Field::IsNull(_) => Value::Null,
        Field::BooleanValue(b) => Value::Bool(*b),
        Field::LongValue(v) => Value::Long(*v),
        Field::DoubleValue(v) => Value::Double(*v),
        Field::StringValue(s) => Value::Text(s.clone()),
        Field::BlobValue(b) => Value::Blob(b.as_ref().to_vec()),
        other => Value::Text(format!("{other:?}")),
    }
}

/// Maps an SDK error by its modeled name. `connection_id` reads `dbConnectionId` of a timeout.
fn classify<E, R>(error: SdkError<E, R>, connection_id: impl Fn(&E) -> Option<i64>) -> ExecError
where
    E: ProvideErrorMetadata + std::error::Error + Send + Sync + 'static,
    R: std::fmt::Debug,
{
    match error {
        SdkError::ServiceError(service) => {
            let err = service.err();
            let code = err.code().unwrap_or("").to_owned();
            let message = err.message().unwrap_or("").to_owned();
            let named = format!("{code}: {message}");
            match code.as_str() {
                "DatabaseErrorException" => ExecError::database(message),
                "BadRequestException" if message.contains("Communications link failure") => {
                    ExecError::Transient { message: named }
                }
                "BadRequestException" if message.starts_with("Database error code") => {
                    ExecError::database(message)
                }
                "StatementTimeoutException" => ExecError::Timeout { connection_id: connection_id(err) },
                "DatabaseResumingException"
                | "DatabaseUnavailableException"
                | "ThrottlingException"
                | "TooManyRequestsException" => ExecError::Transient { message: named },
                "ServiceUnavailableError" | "InternalServerErrorException" => {
                    ExecError::Ambiguous { message: named }
                }
                "TransactionNotFoundException" | "NotFoundException" => {
                    ExecError::TransactionGone { message }
                }
                _ => ExecError::Other { message: named },
            }
        }
        SdkError::ConstructionFailure(e) => {
            ExecError::Other { message: format!("building the request: {e:?}") }
        }
        SdkError::DispatchFailure(e) => {
            // Refused before anything was sent: safe to send again. Otherwise it may have run.
            let connect =
                e.as_connector_error().is_some_and(|c| c.is_io() && format!("{c:?}").contains("Connect"));
            if connect {
                ExecError::Transient { message: format!("cannot reach the Data API: {e:?}") }
            } else {
                ExecError::Ambiguous { message: format!("the request failed in flight: {e:?}") }
            }
        }
        SdkError::TimeoutError(_) => ExecError::Ambiguous { message: "the request timed out".into() },
        other => ExecError::Ambiguous { message: format!("no usable response: {other:?}") },
    }
}

impl Executor for DataApi {
    async fn execute(&self, request: Request) -> Result<Outcome, ExecError> {
        let params: Vec<SqlParameter> = request
            .params
            .iter()
            .map(|(name, v)| SqlParameter::builder().name(name).value(field(v)).build())
            .collect();
        let output = self
            .client
            .execute_statement()
            .resource_arn(&self.resource_arn)
            .secret_arn(&self.secret_arn)
            .sql(&request.sql)
            .set_parameters((!params.is_empty()).then_some(params))
            .set_database(request.database.clone())
            .set_transaction_id(request.transaction.clone())
            .set_continue_after_timeout(request.continue_after_timeout.then_some(true))
            .send()
            .await
            .map_err(|e| {
                classify(e, |err| match err {
                    aws_sdk_rdsdata::operation::execute_statement::ExecuteStatementError::StatementTimeoutException(t) => {
                        Some(t.db_connection_id())
                    }
                    _ => None,
                })
            })?;
        Ok(Outcome {
            rows: output.records().iter().map(|r| r.iter().map(value).collect()).collect(),
            updated: output.number_of_records_updated(),
        })
    }

    async fn begin(&self, database: Option<&str>) -> Result<String, ExecError> {
        let output = self
            .client
            .begin_transaction()
            .resource_arn(&self.resource_arn)
            .secret_arn(&self.secret_arn)
            .set_database(database.map(str::to_owned))
            .send()
            .await
            .map_err(|e| classify(e, |_| None))?;
        output
            .transaction_id()
            .map(str::to_owned)
            .ok_or_else(|| ExecError::Other { message: "BeginTransaction returned no transactionId".into() })
    }

    async fn commit(&self, transaction: &str) -> Result<(), ExecError> {
        self.client
            .commit_transaction()
            .resource_arn(&self.resource_arn)
            .secret_arn(&self.secret_arn)
            .transaction_id(transaction)
            .send()
            .await
            .map_err(|e| classify(e, |_| None))?;
        Ok(())
    }

    async fn rollback(&self, transaction: &str) -> Result<(), ExecError> {
        self.client
            .rollback_transaction()
            .resource_arn(&self.resource_arn)
            .secret_arn(&self.secret_arn)
            .transaction_id(transaction)
            .send()
            .await
            .map_err(|e| classify(e, |_| None))?;
        Ok(())
    }
}
