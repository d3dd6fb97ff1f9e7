//! The MySQL side: a small connection pool per (cluster, credentials, database), running one
//! statement per call, the multi-statement check, `KILL`, and mapping MySQL errors to Data API
//! errors.
//!
//! The pool is ours rather than `mysql_async::Pool` so that the default database is part of the
//! key (the `database` field of each call) and no reset round trip is paid per call.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use mysql_async::prelude::Queryable;
use mysql_async::{Column, Conn, Opts, OptsBuilder, Row};

use crate::config::{ErrorFlavor, ErrorMessages, ErrorStyle};
use crate::error::ApiError;
use crate::sql::Prepared;

/// MySQL's `ER_PARSE_ERROR`.
const ER_PARSE_ERROR: u16 = 1064;
/// Idle connections kept per key.
const MAX_IDLE: usize = 64;

/// Where and as whom to connect: a cluster plus a secret's credentials.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    pub cluster_arn: String,
    pub host: String,
    pub port: u16,
    pub user: String,
    pub password: String,
    /// The database of the cluster URL, used when a call names none.
    pub default_db: Option<String>,
    /// The pool its connections live in: the same for targets with the same server, credentials
    /// and database, so the pool key is a number, not five strings to hash and copy per call.
    pub pool: usize,
}

/// The pool and the default database.
type Key = (usize, Option<String>);

/// A connection checked out for one call, remembering where it goes back.
pub struct Lease {
    pub conn: Conn,
    key: Key,
    /// Set when the connection may have lost its default database (`USE`, `DROP DATABASE` in a
    /// transaction): it is closed instead of pooled when the transaction ends.
    pub retire: bool,
}

impl Lease {
    pub fn id(&self) -> u32 {
        self.conn.id()
    }
}

/// Idle connections by target and default database.
#[derive(Default)]
pub struct Pools {
    idle: Mutex<HashMap<Key, Vec<Conn>>>,
}

impl Pools {
    /// Closes every idle connection: after `DROP DATABASE` any of them may sit on a database that
    /// no longer exists (MariaDB leaves such a session without a default database).
    pub fn clear_idle(&self) {
        if let Ok(mut idle) = self.idle.lock() {
            idle.clear();
        }
    }

    /// An idle connection or a new one, with `database` (or the cluster's) as default database.
    pub async fn checkout(
        &self,
        target: &Target,
        database: Option<&str>,
        errors: ErrorStyle,
    ) -> Result<Lease, ApiError> {
        let db = database.map(str::to_string).or_else(|| target.default_db.clone());
        let key = (target.pool, db);
        let idle = self.idle.lock().ok().and_then(|mut m| m.get_mut(&key).and_then(Vec::pop));
        if let Some(conn) = idle {
            return Ok(Lease { conn, key, retire: false });
        }
        let opts = OptsBuilder::default()
            .ip_or_hostname(target.host.clone())
            .tcp_port(target.port)
            .user(Some(target.user.clone()))
            .pass(Some(target.password.clone()))
            .db_name(key.1.clone())
            .prefer_socket(false)
            .tcp_nodelay(true)
            .stmt_cache_size(0)
            .init(vec!["SET NAMES utf8mb4"]);
        let conn = Conn::new(Opts::from(opts)).await.map_err(|e| connect_error(e, target, errors))?;
        Ok(Lease { conn, key, retire: false })
    }

    /// Returns a connection after a call that left it in a clean state.
    pub fn checkin(&self, lease: Lease) {
        if lease.retire {
            return;
        }
        if let Ok(mut idle) = self.idle.lock() {
            let list = idle.entry(lease.key).or_default();
            if list.len() < MAX_IDLE {
                list.push(lease.conn);
            }
        }
    }

    /// Sends `KILL QUERY id` (or `KILL id`) on another connection of the same target.
    pub async fn kill(&self, target: &Target, connection_id: u32, whole_connection: bool) {
        let sql = if whole_connection {
            format!("KILL {connection_id}")
        } else {
            format!("KILL QUERY {connection_id}")
        };
        match self.checkout(target, None, ErrorStyle::default()).await {
            Ok(mut lease) => match lease.conn.query_drop(&sql).await {
                Ok(()) => self.checkin(lease),
                // The connection may already be gone: nothing left to kill.
                Err(e) => tracing::debug!(%e, connection_id, "kill failed"),
            },
            Err(e) => tracing::warn!(%e, connection_id, "no connection to send KILL"),
        }
    }
}

/// What one statement produced.
#[derive(Debug, Default)]
pub struct Outcome {
    pub columns: Option<Arc<[Column]>>,
    pub rows: Vec<Row>,
    pub affected_rows: u64,
    pub last_insert_id: Option<u64>,
}

/// Runs one statement over the text protocol. Only the first result set is kept (a `CALL` may
/// produce several); the rest are read and dropped.
pub async fn run(conn: &mut Conn, sql: &str) -> Result<Outcome, mysql_async::Error> {
    let mut result = conn.query_iter(sql).await?;
    let columns = result.columns().filter(|c| !c.is_empty());
    let rows: Vec<Row> = if columns.is_some() { result.collect().await? } else { Vec::new() };
    let affected_rows = result.affected_rows();
    let last_insert_id = result.last_insert_id();
    result.drop_result().await?;
    Ok(Outcome { columns, rows, affected_rows, last_insert_id })
}

/// The v2 service answers several statements in one call with `ValidationException`. Text that
/// has a `;` followed by more SQL is either a compound statement (a routine or trigger body) or
/// several statements; MySQL's prepare protocol takes exactly one statement, so it decides without
/// running anything.
pub async fn check_single_statement(conn: &mut Conn, prepared: &Prepared) -> Result<(), ApiError> {
    if !prepared.semicolon_inside {
        return Ok(());
    }
    match conn.prep(prepared.sql.as_str()).await {
        Ok(stmt) => {
            let _ = conn.close(stmt).await;
            Ok(())
        }
        Err(mysql_async::Error::Server(e)) if e.code == ER_PARSE_ERROR => {
            Err(ApiError::Validation("Multistatements aren't supported.".into()))
        }
        // Some statements cannot be prepared (ER_UNSUPPORTED_PS) or fail for other reasons: they
        // are single statements, and running them reports any real error.
        Err(_) => Ok(()),
    }
}

/// A MySQL error as the Data API reports it.
pub fn sql_error(e: mysql_async::Error, errors: ErrorStyle) -> ApiError {
    match e {
        mysql_async::Error::Server(s) => {
            let message = match errors.messages {
                ErrorMessages::DatabaseErrorCode => {
                    format!("Database error code: {}. Message: {}", s.code, s.message)
                }
                ErrorMessages::SqlState => {
                    format!("{}; Error code: {}; SQLState: {}", s.message, s.code, s.state)
                }
            };
            match errors.flavor {
                ErrorFlavor::V2 => ApiError::DatabaseError(message),
                ErrorFlavor::V1 => ApiError::BadRequest(message),
            }
        }
        mysql_async::Error::Io(_) | mysql_async::Error::Driver(_) => {
            ApiError::DatabaseUnavailable(format!("Communications link failure: {e}"))
        }
        other => ApiError::Internal(other.to_string()),
    }
}

fn connect_error(e: mysql_async::Error, target: &Target, errors: ErrorStyle) -> ApiError {
    match e {
        e @ mysql_async::Error::Server(_) => sql_error(e, errors),
        other => ApiError::DatabaseUnavailable(format!(
            "Communications link failure: cannot reach {}:{}: {other}",
            target.host, target.port
        )),
    }
}
