//! The MySQL side: one bounded connection pool for the whole emulator, running one statement per
//! call, the multi-statement check, `KILL`, and mapping MySQL errors to Data API errors.
//!
//! The pool is ours rather than `mysql_async::Pool` so that the default database is part of what
//! a call asks for (the `database` field) and no reset round trip is paid per call. Its bound is
//! on every connection the emulator holds, whatever it does: idle, running a call, pinned by a
//! transaction, or finishing a statement that outlived its call (`continueAfterTimeout`). So
//! hundreds of databases never need hundreds of connections:
//! - a call takes an idle connection already on its database if there is one;
//! - else a new connection while under the bound;
//! - else an idle connection on another database of the same server and credentials, switched
//!   with `USE` (one round trip; never for a call that must have no default database);
//! - else an idle connection of another kind, closed to make room;
//! - else it waits until a connection comes back, and fails like MySQL's "Too many connections"
//!   after [`CONNECTION_WAIT`] (every connection is busy or pinned by a transaction).

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use mysql_async::prelude::Queryable;
use mysql_async::{Column, Conn, Opts, OptsBuilder, Row};
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

use crate::config::{ErrorFlavor, ErrorMessages, ErrorStyle};
use crate::error::ApiError;
use crate::sql::Prepared;

/// MySQL's `ER_PARSE_ERROR`.
const ER_PARSE_ERROR: u16 = 1064;
/// MySQL's `ER_CON_COUNT_ERROR`.
const ER_CON_COUNT_ERROR: u16 = 1040;
/// How long a call waits for a connection when all of them are in use.
pub const CONNECTION_WAIT: Duration = Duration::from_secs(30);

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
    /// Which connections it may use: the same for targets with the same server and credentials,
    /// so the key is a number, not four strings to hash and copy per call.
    pub pool: usize,
}

/// The server and credentials, and the default database.
type Key = (usize, Option<String>);

/// A connection checked out for one call, remembering where it goes back.
pub struct Lease {
    pub conn: Conn,
    key: Key,
    /// Set when the connection may have lost its default database (`USE`, `DROP DATABASE` in a
    /// transaction): it is closed instead of pooled when the transaction ends.
    pub retire: bool,
    /// Its place under the bound, given back when the connection is closed.
    permit: Option<OwnedSemaphorePermit>,
}

impl Lease {
    pub fn id(&self) -> u32 {
        self.conn.id()
    }
}

/// An idle connection with its place under the bound.
struct Idle {
    conn: Conn,
    permit: OwnedSemaphorePermit,
}

/// Every connection of the emulator, under one bound.
pub struct Pools {
    idle: Mutex<HashMap<Key, Vec<Idle>>>,
    /// One permit per connection the emulator may hold.
    permits: Arc<Semaphore>,
    /// Signalled when a connection goes back idle (a closed one gives its permit back instead).
    returned: Notify,
    max: usize,
}

impl Pools {
    /// A pool of at most `max` connections (at least 1).
    pub fn new(max: usize) -> Pools {
        let max = max.max(1);
        Pools {
            idle: Mutex::new(HashMap::new()),
            permits: Arc::new(Semaphore::new(max)),
            returned: Notify::new(),
            max,
        }
    }

    /// Closes every idle connection: after `DROP DATABASE` any of them may sit on a database that
    /// no longer exists (MariaDB leaves such a session without a default database).
    pub fn clear_idle(&self) {
        let closed = self.idle.lock().map(|mut idle| std::mem::take(&mut *idle)).unwrap_or_default();
        drop(closed);
        self.returned.notify_waiters();
    }

    /// Passes `result` on; when it is a broken link (`DatabaseUnavailable`), first closes every idle
    /// connection: the server most likely went away (a restart, a failover) and they broke with it.
    /// Handed out one by one, each would fail one more call, so a client retrying through a restart
    /// would meet as many failures as there were idle connections.
    pub fn after<T>(&self, result: Result<T, ApiError>) -> Result<T, ApiError> {
        if matches!(result, Err(ApiError::DatabaseUnavailable(_))) {
            self.clear_idle();
        }
        result
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
        let deadline = tokio::time::Instant::now() + CONNECTION_WAIT;
        loop {
            // Registered before looking, so a connection returned meanwhile is not missed.
            let returned = self.returned.notified();
            tokio::pin!(returned);
            returned.as_mut().enable();
            let permit = match self.take(&key) {
                Take::Same(idle) => return Ok(idle.lease(key)),
                Take::Switch(mut idle) => {
                    let db = key.1.as_deref().unwrap_or_default();
                    // On failure (an unknown database) the connection is closed with its permit.
                    let used = idle.conn.query_drop(format!("USE `{}`", db.replace('`', "``"))).await;
                    self.after(used.map_err(|e| sql_error(e, errors)))?;
                    return Ok(idle.lease(key));
                }
                Take::New(permit) => permit,
                Take::Wait => tokio::select! {
                    // A connection closed: its permit comes here first come, first served.
                    permit = Arc::clone(&self.permits).acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => continue,
                    },
                    // A connection went back idle: look again.
                    () = returned => continue,
                    () = tokio::time::sleep_until(deadline) => {
                        return Err(sql_error(too_many_connections(self.max), errors));
                    }
                },
            };
            let conn = connect(target, key.1.as_deref(), errors).await?;
            return Ok(Lease { conn, key, retire: false, permit: Some(permit) });
        }
    }

    /// The best connection for `key` there is now, in the order the module describes.
    fn take(&self, key: &Key) -> Take {
        let Ok(mut idle) = self.idle.lock() else { return Take::Wait };
        if let Some(found) = idle.get_mut(key).and_then(Vec::pop) {
            return Take::Same(found);
        }
        if let Ok(permit) = Arc::clone(&self.permits).try_acquire_owned() {
            return Take::New(permit);
        }
        // `USE` can set a default database, never remove one.
        if key.1.is_some() {
            let other = idle.iter_mut().find(|((pool, _), list)| *pool == key.0 && !list.is_empty());
            if let Some(found) = other.and_then(|(_, list)| list.pop()) {
                return Take::Switch(found);
            }
        }
        let any = idle.values_mut().find(|list| !list.is_empty()).and_then(Vec::pop);
        match any {
            // Closed; its permit makes room for the new one.
            Some(closed) => Take::New(closed.permit),
            None => Take::Wait,
        }
    }

    /// Returns a connection after a call that left it in a clean state.
    pub fn checkin(&self, lease: Lease) {
        // A retired connection, or one opened outside the bound, is closed (its permit goes back).
        let Lease { conn, key, retire: false, permit: Some(permit) } = lease else { return };
        if let Ok(mut idle) = self.idle.lock() {
            idle.entry(key).or_default().push(Idle { conn, permit });
        }
        self.returned.notify_one();
    }

    /// Sends `KILL QUERY id` (or `KILL id`) on another connection of the same target: an idle one,
    /// or one opened for it outside the bound (a kill must not wait behind the calls it ends).
    pub async fn kill(&self, target: &Target, connection_id: u32, whole_connection: bool) {
        let sql = if whole_connection {
            format!("KILL {connection_id}")
        } else {
            format!("KILL QUERY {connection_id}")
        };
        let idle = self.idle.lock().ok().and_then(|mut idle| {
            let (key, list) =
                idle.iter_mut().find(|((pool, _), list)| *pool == target.pool && !list.is_empty())?;
            let key = key.clone();
            list.pop().map(|i| i.lease(key))
        });
        let mut lease = match idle {
            Some(lease) => lease,
            None => match connect(target, None, ErrorStyle::default()).await {
                // Closed after the kill: it holds no place under the bound.
                Ok(conn) => Lease { conn, key: (target.pool, None), retire: true, permit: None },
                Err(e) => return tracing::warn!(%e, connection_id, "no connection to send KILL"),
            },
        };
        match lease.conn.query_drop(&sql).await {
            Ok(()) => self.checkin(lease),
            // The connection may already be gone: nothing left to kill.
            Err(e) => tracing::debug!(%e, connection_id, "kill failed"),
        }
    }
}

impl Idle {
    fn lease(self, key: Key) -> Lease {
        Lease { conn: self.conn, key, retire: false, permit: Some(self.permit) }
    }
}

/// What [`Pools::take`] found.
enum Take {
    /// An idle connection on the database asked for.
    Same(Idle),
    /// Room for a new connection.
    New(OwnedSemaphorePermit),
    /// An idle connection to switch to the database asked for.
    Switch(Idle),
    /// Nothing: every connection is in use.
    Wait,
}

/// A new connection with `db` as default database.
async fn connect(target: &Target, db: Option<&str>, errors: ErrorStyle) -> Result<Conn, ApiError> {
    let opts = OptsBuilder::default()
        .ip_or_hostname(target.host.clone())
        .tcp_port(target.port)
        .user(Some(target.user.clone()))
        .pass(Some(target.password.clone()))
        .db_name(db.map(str::to_owned))
        .prefer_socket(false)
        .tcp_nodelay(true)
        .stmt_cache_size(0)
        .init(vec!["SET NAMES utf8mb4"]);
    Conn::new(Opts::from(opts)).await.map_err(|e| connect_error(e, target, errors))
}

/// The error MySQL gives a client beyond `max_connections`.
fn too_many_connections(max: usize) -> mysql_async::Error {
    mysql_async::Error::Server(mysql_async::ServerError {
        code: ER_CON_COUNT_ERROR,
        message: format!(
            "Too many connections (all {max} of the emulator's connections stayed busy for {}s)",
            CONNECTION_WAIT.as_secs()
        ),
        state: "08004".into(),
    })
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
