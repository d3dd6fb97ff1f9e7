//! Configuration: clusters (resource ARN → MySQL server URL), secrets (ARN and name → a JSON
//! secret in the shape RDS stores in Secrets Manager), durations and the error flavour.
//!
//! Like the real Data API, a call connects to the *cluster's* host and port with the *secret's*
//! `username` and `password`; the secret's `host`, `port` and `dbname` are informative only.

use std::time::Duration;

use serde::Deserialize;

/// Everything a server needs to run.
#[derive(Debug, Clone)]
pub struct Config {
    pub clusters: Vec<Cluster>,
    pub secrets: Vec<Secret>,
    pub timeouts: Timeouts,
    pub errors: ErrorFlavor,
    /// The shape of SQL error messages.
    pub error_messages: ErrorMessages,
    /// What `BeginTransaction` runs on the pinned connection.
    pub transaction_mode: TransactionMode,
    /// Serve the `/_emulator/...` control routes (fault injection, counters).
    pub control: bool,
    /// Added to every Data API call before it is served: the real service costs several
    /// milliseconds a round trip, so benchmarks see what the number of calls and parallelism cost.
    pub latency: Duration,
    /// The most MySQL connections the emulator holds at once, over every cluster and database
    /// (idle, in a call, pinned by a transaction, or finishing a statement that outlived its call).
    pub max_connections: usize,
}

/// Default of [`Config::max_connections`]: below MySQL's default `max_connections` (151), leaving
/// room for other clients.
pub const DEFAULT_MAX_CONNECTIONS: usize = 100;

/// A DB cluster: its resource ARN and the MySQL server behind it.
#[derive(Debug, Clone)]
pub struct Cluster {
    pub arn: String,
    /// `mysql://[user[:pass]@]host[:port][/db]`; user and password come from the secret.
    pub url: String,
}

/// A Secrets Manager secret, found by ARN or by name.
#[derive(Debug, Clone)]
pub struct Secret {
    pub arn: String,
    pub name: Option<String>,
    pub value: SecretValue,
}

/// The JSON an RDS database secret holds.
#[derive(Debug, Clone, Default, Deserialize, PartialEq)]
pub struct SecretValue {
    pub username: Option<String>,
    pub password: Option<String>,
    #[serde(default)]
    pub host: Option<String>,
    #[serde(default)]
    pub port: Option<serde_json::Value>,
    #[serde(default)]
    pub dbname: Option<String>,
    #[serde(default)]
    pub engine: Option<String>,
}

/// The three durations of the Data API.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// A call answers `StatementTimeoutException` after this (AWS: 45 s).
    pub call: Duration,
    /// A transaction without a call for this long is rolled back (AWS: 3 min).
    pub transaction_idle: Duration,
    /// A transaction is rolled back after this long in any case (AWS: 24 h).
    pub transaction_max: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            call: Duration::from_secs(45),
            transaction_idle: Duration::from_secs(180),
            transaction_max: Duration::from_secs(24 * 3600),
        }
    }
}

/// How SQL errors are reported.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorFlavor {
    /// Aurora Serverless v2 / provisioned: `DatabaseErrorException`.
    #[default]
    V2,
    /// Aurora Serverless v1: `BadRequestException`.
    V1,
}

/// The text of a SQL error's `message`. AWS documents both; which one a cluster answers with
/// depends on the engine generation, so a client must read both.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum ErrorMessages {
    /// `Database error code: 1146. Message: Table 'app.t' doesn't exist`.
    #[default]
    DatabaseErrorCode,
    /// `Table 'app.t' doesn't exist; Error code: 1146; SQLState: 42S02` (the JDBC driver's form).
    SqlState,
}

/// How a Data API transaction is opened on its pinned connection.
///
/// The difference shows after a DDL statement (which commits implicitly in MySQL): after
/// `START TRANSACTION` the connection is back in autocommit mode, so later calls in the
/// "transaction" commit one by one and `RollbackTransaction` undoes nothing; with `autocommit=0`
/// (what a JDBC-based service does with `setAutoCommit(false)`) a new transaction starts at once
/// and `RollbackTransaction` undoes everything since the DDL.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TransactionMode {
    /// `START TRANSACTION`.
    #[default]
    StartTransaction,
    /// `SET autocommit = 0`; restored to 1 when the transaction ends.
    AutocommitOff,
}

/// How SQL errors are reported: the error name (by flavour) and the message text.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ErrorStyle {
    pub flavor: ErrorFlavor,
    pub messages: ErrorMessages,
}

/// A configuration value that could not be read.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    #[error("expected KEY=VALUE, got {0:?}")]
    NotAPair(String),
    #[error("secret {key}: cannot read {path}")]
    ReadSecret {
        key: String,
        path: String,
        #[source]
        source: std::io::Error,
    },
    #[error("secret {key}: not a JSON object with username and password")]
    SecretJson {
        key: String,
        #[source]
        source: serde_json::Error,
    },
}

impl SecretValue {
    /// Parses a secret's JSON text.
    pub fn from_json(key: &str, text: &str) -> Result<SecretValue, ConfigError> {
        serde_json::from_str(text).map_err(|source| ConfigError::SecretJson { key: key.to_string(), source })
    }
}

/// Splits `KEY=VALUE` at the first `=` that follows the key (ARNs contain no `=`).
pub fn split_pair(text: &str) -> Result<(String, String), ConfigError> {
    match text.split_once('=') {
        Some((k, v)) if !k.is_empty() => Ok((k.to_string(), v.to_string())),
        _ => Err(ConfigError::NotAPair(text.to_string())),
    }
}

/// Reads `ARN_OR_NAME=JSON` or `ARN_OR_NAME=@file.json` into a secret. A key that is an ARN
/// (`arn:...:secret:NAME-xxxxxx`) is also reachable by `NAME`.
pub fn parse_secret(text: &str) -> Result<Secret, ConfigError> {
    let (key, value) = split_pair(text)?;
    let json = match value.strip_prefix('@') {
        Some(path) => std::fs::read_to_string(path).map_err(|source| ConfigError::ReadSecret {
            key: key.clone(),
            path: path.to_string(),
            source,
        })?,
        None => value,
    };
    let value = SecretValue::from_json(&key, &json)?;
    let name = secret_name_of_arn(&key);
    Ok(Secret { arn: key, name, value })
}

/// `arn:aws:secretsmanager:REGION:ACCOUNT:secret:NAME-abcdef` → `NAME` (Secrets Manager appends a
/// dash and six random characters to the name).
pub fn secret_name_of_arn(arn: &str) -> Option<String> {
    let rest = arn.strip_prefix("arn:")?;
    let name = rest.split(':').nth(5)?;
    match name.rsplit_once('-') {
        Some((base, suffix)) if suffix.len() == 6 => Some(base.to_string()),
        _ => Some(name.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_secret_arn_is_also_known_by_its_name() {
        let s = parse_secret(
            r#"arn:aws:secretsmanager:us-east-1:123456789012:secret:db-admin-AbCdEf={"username":"u","password":"p","engine":"mysql"}"#,
        )
        .expect("parses");
        assert_eq!(s.name.as_deref(), Some("db-admin"));
        assert_eq!(s.value.username.as_deref(), Some("u"));
    }

    #[test]
    fn a_secret_that_is_not_json_is_an_error() {
        assert!(matches!(parse_secret("x=nope"), Err(ConfigError::SecretJson { .. })));
        assert!(matches!(parse_secret("nope"), Err(ConfigError::NotAPair(_))));
    }
}
