//! The seam between the runner and the database: a small async trait with the four Data API
//! operations the runner needs. `data_api` implements it over `aws-sdk-rdsdata`; unit tests use a
//! fake that records statements and fails on cue.
//!
//! Errors are classified by what the runner may do next, not by where they came from: a SQL error
//! (the statement ran and failed), a timeout (it may still be running on the server), a transient
//! failure that certainly did not run the statement (retry), or an ambiguous one (it may have run:
//! never resend blindly).

use std::future::Future;

use crate::sql::calls::Param;

/// A value in a result row.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    /// SQL NULL.
    Null,
    /// A boolean.
    Bool(bool),
    /// An integer.
    Long(i64),
    /// A floating-point number.
    Double(f64),
    /// Text (also DECIMAL, dates and times as the Data API returns them).
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

impl Value {
    /// The value as an integer, if it is one (or text holding one).
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Value::Long(v) => Some(*v),
            Value::Text(t) => t.parse().ok(),
            Value::Bool(b) => Some(i64::from(*b)),
            _ => None,
        }
    }

    /// The value as text, if it is text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Value::Text(t) => Some(t),
            _ => None,
        }
    }
}

/// A bound parameter value.
#[derive(Debug, Clone, PartialEq)]
pub enum ParamValue {
    /// NULL.
    Null,
    /// An integer.
    Long(i64),
    /// Text.
    Text(String),
    /// Bytes.
    Blob(Vec<u8>),
}

impl From<Param> for ParamValue {
    fn from(p: Param) -> Self {
        match p {
            Param::Blob(b) => ParamValue::Blob(b),
            Param::Text(t) => ParamValue::Text(t),
        }
    }
}

/// One `ExecuteStatement` call.
#[derive(Debug, Clone, PartialEq)]
pub struct Request {
    /// The SQL (one statement).
    pub sql: String,
    /// Named parameters.
    pub params: Vec<(String, ParamValue)>,
    /// The `database` field (never `schema`).
    pub database: Option<String>,
    /// The transaction, if any.
    pub transaction: Option<String>,
    /// Let the statement run on after the call's timeout (outside transactions only).
    pub continue_after_timeout: bool,
}

impl Request {
    /// A request for `sql` with no parameters, outside any transaction.
    pub fn new(sql: impl Into<String>) -> Request {
        Request {
            sql: sql.into(),
            params: Vec::new(),
            database: None,
            transaction: None,
            continue_after_timeout: false,
        }
    }

    /// Adds a parameter.
    pub fn param(mut self, name: &str, value: ParamValue) -> Request {
        self.params.push((name.to_owned(), value));
        self
    }

    /// Sets the database.
    pub fn database(mut self, database: Option<&str>) -> Request {
        self.database = database.map(str::to_owned);
        self
    }

    /// Runs in a transaction.
    pub fn transaction(mut self, transaction: Option<&str>) -> Request {
        self.transaction = transaction.map(str::to_owned);
        self
    }
}

/// The result of a call.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Outcome {
    /// Rows, when the statement returned any.
    pub rows: Vec<Vec<Value>>,
    /// `numberOfRecordsUpdated`.
    pub updated: i64,
}

impl Outcome {
    /// The first column of the first row, if the statement returned one.
    pub fn first_value(&self) -> Option<&Value> {
        self.rows.first().and_then(|r| r.first())
    }
}

/// Why a call failed, by what the caller may do next.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ExecError {
    /// The statement ran and the database refused it (syntax, constraint, ...).
    #[error("{message}")]
    Database {
        /// The MySQL error number (`1146` for a missing table), when the message carries one.
        code: Option<u16>,
        /// The database's message.
        message: String,
    },
    /// The call timed out; the statement may still be running on connection `connection_id`.
    #[error("the statement did not finish within the call timeout{}", .connection_id.map(|c| format!(" (still running on connection {c})")).unwrap_or_default())]
    Timeout {
        /// `dbConnectionId` from `StatementTimeoutException`.
        connection_id: Option<i64>,
    },
    /// The statement certainly did not run (database resuming, throttled, refused before running):
    /// it can be sent again.
    #[error("{message} (retryable)")]
    Transient {
        /// What happened.
        message: String,
    },
    /// The call failed in a way that leaves open whether the statement ran (connection dropped
    /// after sending, 5xx): it must not be resent blindly.
    #[error("{message} (the statement may or may not have run)")]
    Ambiguous {
        /// What happened.
        message: String,
    },
    /// The transaction is gone (expired or unknown).
    #[error("transaction not found: {message}")]
    TransactionGone {
        /// What happened.
        message: String,
    },
    /// Anything else: bad request, access denied, misconfiguration.
    #[error("{message}")]
    Other {
        /// What happened.
        message: String,
    },
}

/// MySQL error numbers the runner acts on.
pub mod codes {
    /// `ER_NO_SUCH_TABLE`.
    pub const NO_SUCH_TABLE: u16 = 1146;
    /// `ER_BAD_DB_ERROR`: unknown database.
    pub const BAD_DB: u16 = 1049;
    /// `ER_NO_DB_ERROR`: no database selected.
    pub const NO_DB: u16 = 1046;
    /// `ER_LOCK_WAIT_TIMEOUT`: a row lock was not granted within `innodb_lock_wait_timeout`.
    pub const LOCK_WAIT_TIMEOUT: u16 = 1205;
    /// `ER_WARN_I_S_SKIPPED_TABLE`: an `information_schema` read met a table that concurrent DDL
    /// is changing. A warning to a `SELECT`, an error to an `INSERT ... SELECT` in strict mode; the
    /// statement changed nothing, and the same read a moment later succeeds.
    pub const SKIPPED_BY_CONCURRENT_DDL: u16 = 1684;
}

impl ExecError {
    /// For a statement that must not run twice (a DDL statement): a transient failure is taken as
    /// ambiguous. "The database is unavailable" may come after the statement reached the server (a
    /// connection that broke mid-statement, as in a restart or failover, is reported so), so the
    /// schema must tell whether it ran before it is sent again.
    pub fn may_have_run(self) -> ExecError {
        match self {
            ExecError::Transient { message } => ExecError::Ambiguous { message },
            other => other,
        }
    }

    /// A SQL error from the database's message, with the error number read from either form the
    /// Data API documents: `Database error code: 1146. Message: ...` or
    /// `...; Error code: 1146; SQLState: 42S02` (the JDBC driver's). An `information_schema` read
    /// that met concurrent DDL ([`codes::SKIPPED_BY_CONCURRENT_DDL`]) changed nothing and succeeds
    /// a moment later: it is [`ExecError::Transient`], classified here once for every caller.
    pub fn database(message: impl Into<String>) -> ExecError {
        let message = message.into();
        let number = |rest: &str| rest.split(|c: char| !c.is_ascii_digit()).next()?.parse().ok();
        let code = message
            .strip_prefix("Database error code: ")
            .and_then(number)
            .or_else(|| message.rsplit_once("Error code: ").and_then(|(_, rest)| number(rest)));
        if code == Some(codes::SKIPPED_BY_CONCURRENT_DDL) {
            return ExecError::Transient { message };
        }
        ExecError::Database { code, message }
    }

    /// Whether a message is a SQL error in one of the Data API's forms (v1 sends them as
    /// `BadRequestException`, beside malformed requests).
    pub fn is_sql_error_message(message: &str) -> bool {
        message.starts_with("Database error code: ") || message.contains("; SQLState: ")
    }

    /// A row lock was not granted in time: another transaction holds it.
    pub fn is_lock_wait(&self) -> bool {
        matches!(self, ExecError::Database { code: Some(codes::LOCK_WAIT_TIMEOUT), .. })
    }

    /// The database said the table or its database does not exist (yet).
    pub fn is_missing_table(&self) -> bool {
        matches!(
            self,
            ExecError::Database { code: Some(codes::NO_SUCH_TABLE | codes::BAD_DB | codes::NO_DB), .. }
        )
    }
}

/// The four Data API operations the runner needs.
pub trait Executor: Send + Sync {
    /// `ExecuteStatement`.
    fn execute(&self, request: Request) -> impl Future<Output = Result<Outcome, ExecError>> + Send;
    /// `BeginTransaction`; returns the transaction id.
    fn begin(&self, database: Option<&str>) -> impl Future<Output = Result<String, ExecError>> + Send;
    /// `CommitTransaction`.
    fn commit(&self, transaction: &str) -> impl Future<Output = Result<(), ExecError>> + Send;
    /// `RollbackTransaction`.
    fn rollback(&self, transaction: &str) -> impl Future<Output = Result<(), ExecError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_error_number_is_read_from_the_data_api_message() {
        let e = ExecError::database("Database error code: 1146. Message: Table 'a.b' doesn't exist");
        assert!(matches!(e, ExecError::Database { code: Some(1146), .. }), "{e:?}");
        assert!(e.is_missing_table());
        assert!(ExecError::database("Database error code: 1049. Message: Unknown database 'x'")
            .is_missing_table());
        let syntax = ExecError::database("Database error code: 1064. Message: You have an error");
        assert!(!syntax.is_missing_table());
        assert!(matches!(ExecError::database("no code here"), ExecError::Database { code: None, .. }));
    }

    #[test]
    fn the_error_number_is_read_from_the_sqlstate_form_too() {
        let message = "Table 'a.b' doesn't exist; Error code: 1146; SQLState: 42S02";
        assert!(ExecError::is_sql_error_message(message));
        assert!(ExecError::database(message).is_missing_table());
        let wait = ExecError::database("Lock wait timeout exceeded; Error code: 1205; SQLState: HY000");
        assert!(wait.is_lock_wait());
        assert!(ExecError::database("Database error code: 1205. Message: Lock wait timeout").is_lock_wait());
        assert!(!ExecError::is_sql_error_message("Invalid cluster arn: x"));
    }

    #[test]
    fn a_read_that_met_concurrent_ddl_is_a_transient_failure_in_either_message_form() {
        for message in [
            "Database error code: 1684. Message: Table 't'.'x' was skipped since its definition is being modified by concurrent DDL statement",
            "Table 't'.'x' was skipped since its definition is being modified; Error code: 1684; SQLState: HY000",
        ] {
            assert!(matches!(ExecError::database(message), ExecError::Transient { .. }), "{message}");
        }
    }
}
