//! The state shared by all calls, and how one call reaches MySQL: outside a transaction on a
//! pooled connection (autocommit), inside one on the transaction's pinned connection, always
//! under the call timeout.
//!
//! The statement runs in place while the call waits for it, and is handed to a task of its own
//! only if the call stops waiting (a timeout, or the client's connection closing), so it always
//! runs to its end and returns its connection. When the call times out, the client gets
//! `StatementTimeoutException` with the connection id; without `continueAfterTimeout` the
//! statement is stopped with `KILL QUERY`, with it the statement keeps running and its connection
//! goes back to the pool only when it has finished, so other calls never wait for it.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use mysql_async::Conn;

use crate::config::{Config, ErrorStyle, SecretValue};
use crate::db::{self, Outcome, Pools, Target};
use crate::error::ApiError;
use crate::faults::{Counters, Faults};
use crate::sql::Prepared;
use crate::transactions::{not_found, Transactions};

/// The longest `sql` the Data API accepts (`SqlStatement` max length in the model).
pub const MAX_SQL_CHARS: usize = 65_536;
/// The largest request body the Data API accepts (AWS: 4 MiB).
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;
/// The largest response the Data API returns (AWS: 1 MiB; a larger result ends the call).
pub const MAX_RESPONSE_BYTES: usize = 1024 * 1024;

/// How one call is run: its timeout and whether a timeout names the connection. Normally the
/// configured call timeout with `dbConnectionId`; an injected fault can shorten it and leave the id
/// out (AWS does not document that the field is always there).
#[derive(Debug, Clone, Copy)]
pub struct Call {
    pub timeout: std::time::Duration,
    pub report_connection_id: bool,
}

/// A configured cluster, with the call target of every secret key (ARN or name) resolved once, so a
/// call pays two map look-ups and a reference count rather than string copies.
struct ClusterEntry {
    /// `None`: the secret has no `username` and the cluster URL none either.
    targets: HashMap<String, Option<Arc<Target>>>,
}

/// Shared state of one emulator.
pub struct Service {
    pub config: Config,
    clusters: HashMap<String, ClusterEntry>,
    pub pools: Pools,
    pub transactions: Transactions,
    pub faults: Faults,
    pub counters: Counters,
}

/// Work for one call.
pub enum Work {
    One(Prepared),
    Many(Vec<Prepared>),
}

/// What the work produced.
pub enum Done {
    One(Outcome),
    Many(Vec<Outcome>),
}

/// A cluster URL that cannot be used.
#[derive(Debug, thiserror::Error)]
#[error("cluster {arn}: invalid MySQL URL {url:?}")]
pub struct BadClusterUrl {
    pub arn: String,
    pub url: String,
    #[source]
    pub source: mysql_async::UrlError,
}

impl Service {
    pub fn new(config: Config) -> Result<Service, BadClusterUrl> {
        let mut secrets: HashMap<&str, &SecretValue> = HashMap::new();
        for s in &config.secrets {
            secrets.insert(s.arn.as_str(), &s.value);
        }
        for s in &config.secrets {
            if let Some(name) = &s.name {
                secrets.entry(name.as_str()).or_insert(&s.value);
            }
        }
        // Targets with the same server and credentials may use the same connections.
        let mut pool_ids: HashMap<(String, u16, String, String), usize> = HashMap::new();
        let mut clusters = HashMap::new();
        for c in &config.clusters {
            let opts = mysql_async::Opts::from_url(&c.url).map_err(|source| BadClusterUrl {
                arn: c.arn.clone(),
                url: c.url.clone(),
                source,
            })?;
            let mut targets = HashMap::new();
            for (&key, secret) in &secrets {
                let user = secret.username.clone().or_else(|| opts.user().map(str::to_string));
                let target = user.map(|user| {
                    let password = secret
                        .password
                        .clone()
                        .or_else(|| opts.pass().map(str::to_string))
                        .unwrap_or_default();
                    let host = opts.ip_or_hostname().to_string();
                    let port = opts.tcp_port();
                    let default_db = opts.db_name().map(str::to_string);
                    let next = pool_ids.len();
                    let pool =
                        *pool_ids.entry((host.clone(), port, user.clone(), password.clone())).or_insert(next);
                    Arc::new(Target {
                        cluster_arn: c.arn.clone(),
                        host,
                        port,
                        user,
                        password,
                        default_db,
                        pool,
                    })
                });
                targets.insert(key.to_string(), target);
            }
            clusters.insert(c.arn.clone(), ClusterEntry { targets });
        }
        Ok(Service {
            pools: Pools::new(config.max_connections),
            config,
            clusters,
            transactions: Transactions::default(),
            faults: Faults::default(),
            counters: Counters::default(),
        })
    }

    /// How SQL errors are named and worded.
    pub fn errors(&self) -> ErrorStyle {
        ErrorStyle { flavor: self.config.errors, messages: self.config.error_messages }
    }

    /// Resolves the cluster and secret of a call.
    pub fn target(
        &self,
        resource_arn: Option<&str>,
        secret_arn: Option<&str>,
    ) -> Result<Arc<Target>, ApiError> {
        let resource_arn = required(resource_arn, "resourceArn")?;
        let secret_arn = required(secret_arn, "secretArn")?;
        let cluster = self
            .clusters
            .get(resource_arn)
            .ok_or_else(|| ApiError::BadRequest(format!("Invalid cluster arn: {resource_arn}")))?;
        match cluster.targets.get(secret_arn) {
            Some(Some(target)) => Ok(Arc::clone(target)),
            Some(None) => Err(ApiError::InvalidSecret(format!("The secret {secret_arn} has no username"))),
            None => Err(ApiError::SecretsError(format!(
                "Secrets Manager can't find the specified secret. (Service: SecretsManager, \
                 Status Code: 400, Error Code: ResourceNotFoundException): {secret_arn}"
            ))),
        }
    }

    /// Runs `work` for one call: in transaction `tx_id` if given, else on a pooled connection
    /// with `database` as default database.
    pub async fn dispatch(
        self: &Arc<Self>,
        target: Arc<Target>,
        tx_id: Option<&str>,
        database: Option<&str>,
        continue_after_timeout: bool,
        call: Call,
        work: Work,
    ) -> Result<Done, ApiError> {
        let flavor = self.errors();
        let connection_id;
        // The statement's future owns its connection and work, so it can outlive the call: polled
        // in place while the caller waits (no task spawn and hand-off per call), and spawned to
        // finish on its own when the caller stops waiting (timeout, or the HTTP connection went).
        let mut statement: Detachable<Result<Done, ApiError>> = match tx_id {
            None => {
                let mut lease = self.pools.checkout(&target, database, flavor).await?;
                connection_id = lease.id();
                let svc = Arc::clone(self);
                Detachable::new(async move {
                    let (result, reusable) = perform(&mut lease.conn, &work, flavor).await;
                    if drops_database(&work) {
                        svc.pools.clear_idle();
                    }
                    if reusable {
                        svc.pools.checkin(lease);
                    }
                    svc.pools.after(result)
                })
            }
            Some(id) => {
                let (tx, mut guard) = self.transactions.acquire(id, &target.cluster_arn)?;
                connection_id = tx.connection_id;
                let id = id.to_string();
                let svc = Arc::clone(self);
                Detachable::new(async move {
                    let result = match guard.as_mut() {
                        Some(lease) => {
                            let (result, reusable) = perform(&mut lease.conn, &work, flavor).await;
                            lease.retire |= !reusable;
                            svc.pools.after(result)
                        }
                        None => Err(not_found(&id)),
                    };
                    if drops_database(&work) {
                        svc.pools.clear_idle();
                    }
                    tx.touch();
                    drop(guard);
                    result
                })
            }
        };
        match tokio::time::timeout(call.timeout, &mut statement).await {
            Ok(result) => result,
            Err(_) => {
                // Keeps running (and returns its connection, or releases its transaction, when it
                // ends) whatever happens to this call from now on.
                statement.detach();
                if !continue_after_timeout {
                    self.pools.kill(&target, connection_id, false).await;
                }
                Err(ApiError::StatementTimeout {
                    message: "The statement execution timed out".into(),
                    db_connection_id: call.report_connection_id.then_some(u64::from(connection_id)),
                })
            }
        }
    }
}

/// A statement's future, run in place by whoever polls it; if it is dropped or detached before it
/// has finished, it is spawned onto the runtime and finishes on its own (its result discarded).
struct Detachable<T: Send + 'static> {
    future: Option<Pin<Box<dyn Future<Output = T> + Send>>>,
}

impl<T: Send + 'static> Detachable<T> {
    fn new(future: impl Future<Output = T> + Send + 'static) -> Self {
        Detachable { future: Some(Box::pin(future)) }
    }

    /// Lets the statement finish on its own, now.
    fn detach(&mut self) {
        if let Some(future) = self.future.take() {
            match tokio::runtime::Handle::try_current() {
                Ok(runtime) => {
                    runtime.spawn(async move {
                        let _ = future.await;
                    });
                }
                // Only when the runtime itself is going away; its connections close with it.
                Err(_) => tracing::debug!("statement dropped outside a runtime"),
            }
        }
    }
}

impl<T: Send + 'static> Future for Detachable<T> {
    type Output = T;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T> {
        let Some(future) = self.future.as_mut() else {
            // Polled after it finished or was detached; `dispatch` never does.
            return Poll::Pending;
        };
        let result = future.as_mut().poll(cx);
        if result.is_ready() {
            self.future = None;
        }
        result
    }
}

impl<T: Send + 'static> Drop for Detachable<T> {
    fn drop(&mut self) {
        self.detach();
    }
}

#[cfg(test)]
mod default_database_tests {
    use super::changes_default_database;

    #[test]
    fn use_and_drop_database_retire_the_connection() {
        for sql in [
            "USE shop",
            "use `shop`",
            "DROP DATABASE shop",
            "drop schema if exists sakila",
            "  DROP  SCHEMA x",
        ] {
            assert!(changes_default_database(sql), "{sql}");
        }
        for sql in ["SELECT 1", "DROP TABLE t", "CREATE DATABASE x", "INSERT INTO used VALUES (1)"] {
            assert!(!changes_default_database(sql), "{sql}");
        }
    }
}

fn required<'a>(value: Option<&'a str>, member: &str) -> Result<&'a str, ApiError> {
    value.ok_or_else(|| {
        ApiError::Validation(format!(
            "1 validation error detected: Value null at '{member}' failed to satisfy constraint: \
             Member must not be null"
        ))
    })
}

/// Checks the common constraints on `sql` and `schema`.
pub fn check_sql(sql: Option<&str>, schema: Option<&str>) -> Result<String, ApiError> {
    if schema.is_some() {
        return Err(ApiError::Validation("The schema parameter isn't supported.".into()));
    }
    let sql = required(sql, "sql")?;
    let chars = sql.chars().count();
    if chars > MAX_SQL_CHARS {
        return Err(ApiError::Validation(format!(
            "1 validation error detected: Value at 'sql' failed to satisfy constraint: Member must \
             have length less than or equal to {MAX_SQL_CHARS} (it has {chars})"
        )));
    }
    Ok(sql.to_string())
}

/// Whether `sql` may change or remove a connection's default database (`USE`, `DROP DATABASE`,
/// `DROP SCHEMA`), found by its words outside quotes.
fn changes_default_database(sql: &str) -> bool {
    let upper = sql.to_ascii_uppercase();
    let mut words = upper.split(|c: char| !(c.is_ascii_alphanumeric() || c == '_')).filter(|w| !w.is_empty());
    match words.next() {
        Some("USE") => true,
        Some("DROP") => matches!(words.next(), Some("DATABASE" | "SCHEMA")),
        _ => false,
    }
}

/// Whether the work drops a database (then no pooled connection can be trusted to have its default
/// database any more).
fn drops_database(work: &Work) -> bool {
    let statements: &[Prepared] = match work {
        Work::One(p) => std::slice::from_ref(p),
        Work::Many(ps) => ps,
    };
    statements.iter().any(|p| {
        changes_default_database(&p.sql)
            && !p.sql.trim_start().get(..3).is_some_and(|w| w.eq_ignore_ascii_case("use"))
    })
}

/// Runs the work on one connection. The flag says whether the connection may be reused.
async fn perform(conn: &mut Conn, work: &Work, flavor: ErrorStyle) -> (Result<Done, ApiError>, bool) {
    let statements: &[Prepared] = match work {
        Work::One(p) => std::slice::from_ref(p),
        Work::Many(ps) => ps,
    };
    let mut outcomes = Vec::with_capacity(statements.len());
    let mut reusable = true;
    for p in statements {
        if let Err(e) = db::check_single_statement(conn, p).await {
            return (Err(e), true);
        }
        // `USE` changes the default database the pool keys the connection by, and dropping a
        // database leaves connections on it without one (and with its old character set if it is
        // created again): such a connection is not handed out again.
        if changes_default_database(&p.sql) {
            reusable = false;
        }
        match db::run(conn, &p.sql).await {
            Ok(o) => outcomes.push(o),
            Err(e) => {
                let alive = matches!(e, mysql_async::Error::Server(_));
                return (Err(db::sql_error(e, flavor)), reusable && alive);
            }
        }
    }
    let done = match work {
        Work::One(_) => Done::One(outcomes.pop().unwrap_or_default()),
        Work::Many(_) => Done::Many(outcomes),
    };
    (Ok(done), reusable)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[tokio::test]
    async fn a_statement_the_caller_stops_waiting_for_still_runs_to_its_end() {
        let (finished, ended) = tokio::sync::oneshot::channel::<()>();
        let mut statement = Detachable::new(async move {
            tokio::time::sleep(Duration::from_millis(50)).await;
            let _ = finished.send(());
        });
        assert!(tokio::time::timeout(Duration::from_millis(1), &mut statement).await.is_err());
        drop(statement);
        let done = tokio::time::timeout(Duration::from_secs(5), ended).await;
        assert!(matches!(done, Ok(Ok(()))), "the dropped statement was not finished");
    }

    #[tokio::test]
    async fn a_statement_waited_for_answers_in_place() {
        let statement = Detachable::new(async { 7 });
        assert_eq!(statement.await, 7);
    }
}
