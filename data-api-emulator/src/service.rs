//! The state shared by all calls, and how one call reaches MySQL: outside a transaction on a
//! pooled connection (autocommit), inside one on the transaction's pinned connection, always
//! under the call timeout.
//!
//! The statement runs in its own task. When the call times out, the client gets
//! `StatementTimeoutException` with the connection id; without `continueAfterTimeout` the
//! statement is stopped with `KILL QUERY`, with it the statement keeps running and its connection
//! goes back to the pool only when it has finished, so other calls never wait for it.

use std::collections::HashMap;
use std::sync::Arc;

use mysql_async::Conn;
use tokio::sync::oneshot;

use crate::config::{Config, ErrorFlavor, SecretValue};
use crate::db::{self, Outcome, Pools, Target};
use crate::error::ApiError;
use crate::faults::{Counters, Faults};
use crate::sql::Prepared;
use crate::transactions::{not_found, Transactions};

/// The longest `sql` the Data API accepts (`SqlStatement` max length in the model).
pub const MAX_SQL_CHARS: usize = 65_536;

struct ClusterAddr {
    host: String,
    port: u16,
    user: Option<String>,
    password: Option<String>,
    db: Option<String>,
}

/// Shared state of one emulator.
pub struct Service {
    pub config: Config,
    clusters: HashMap<String, ClusterAddr>,
    secrets: HashMap<String, SecretValue>,
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
        let mut clusters = HashMap::new();
        for c in &config.clusters {
            let opts = mysql_async::Opts::from_url(&c.url).map_err(|source| BadClusterUrl {
                arn: c.arn.clone(),
                url: c.url.clone(),
                source,
            })?;
            clusters.insert(
                c.arn.clone(),
                ClusterAddr {
                    host: opts.ip_or_hostname().to_string(),
                    port: opts.tcp_port(),
                    user: opts.user().map(str::to_string),
                    password: opts.pass().map(str::to_string),
                    db: opts.db_name().map(str::to_string),
                },
            );
        }
        let mut secrets = HashMap::new();
        for s in &config.secrets {
            secrets.insert(s.arn.clone(), s.value.clone());
            if let Some(name) = &s.name {
                secrets.entry(name.clone()).or_insert_with(|| s.value.clone());
            }
        }
        Ok(Service {
            config,
            clusters,
            secrets,
            pools: Pools::default(),
            transactions: Transactions::default(),
            faults: Faults::default(),
            counters: Counters::default(),
        })
    }

    pub fn flavor(&self) -> ErrorFlavor {
        self.config.errors
    }

    /// Resolves the cluster and secret of a call.
    pub fn target(&self, resource_arn: Option<&str>, secret_arn: Option<&str>) -> Result<Target, ApiError> {
        let resource_arn = required(resource_arn, "resourceArn")?;
        let secret_arn = required(secret_arn, "secretArn")?;
        let cluster = self
            .clusters
            .get(resource_arn)
            .ok_or_else(|| ApiError::BadRequest(format!("Invalid cluster arn: {resource_arn}")))?;
        let secret = self.secrets.get(secret_arn).ok_or_else(|| {
            ApiError::SecretsError(format!(
                "Secrets Manager can't find the specified secret. (Service: SecretsManager, \
                 Status Code: 400, Error Code: ResourceNotFoundException): {secret_arn}"
            ))
        })?;
        let user = secret.username.clone().or_else(|| cluster.user.clone()).ok_or_else(|| {
            ApiError::InvalidSecret(format!("The secret {secret_arn} has no username"))
        })?;
        let password = secret.password.clone().or_else(|| cluster.password.clone()).unwrap_or_default();
        Ok(Target {
            cluster_arn: resource_arn.to_string(),
            host: cluster.host.clone(),
            port: cluster.port,
            user,
            password,
            default_db: cluster.db.clone(),
        })
    }

    /// Runs `work` for one call: in transaction `tx_id` if given, else on a pooled connection
    /// with `database` as default database.
    pub async fn dispatch(
        self: &Arc<Self>,
        target: Target,
        tx_id: Option<&str>,
        database: Option<&str>,
        continue_after_timeout: bool,
        work: Work,
    ) -> Result<Done, ApiError> {
        let flavor = self.flavor();
        let (send, recv) = oneshot::channel();
        let connection_id;
        match tx_id {
            None => {
                let mut lease = self.pools.checkout(&target, database, flavor).await?;
                connection_id = lease.id();
                let svc = Arc::clone(self);
                tokio::spawn(async move {
                    let (result, reusable) = perform(&mut lease.conn, &work, flavor).await;
                    if reusable {
                        svc.pools.checkin(lease);
                    }
                    let _ = send.send(result);
                });
            }
            Some(id) => {
                let (tx, mut guard) = self.transactions.acquire(id, &target.cluster_arn)?;
                connection_id = tx.connection_id;
                let id = id.to_string();
                tokio::spawn(async move {
                    let result = match guard.as_mut() {
                        Some(lease) => perform(&mut lease.conn, &work, flavor).await.0,
                        None => Err(not_found(&id)),
                    };
                    tx.touch();
                    drop(guard);
                    let _ = send.send(result);
                });
            }
        }
        match tokio::time::timeout(self.config.timeouts.call, recv).await {
            Ok(Ok(result)) => result,
            Ok(Err(_)) => Err(ApiError::Internal("the statement's task ended without an answer".into())),
            Err(_) => {
                if !continue_after_timeout {
                    self.pools.kill(&target, connection_id, false).await;
                }
                Err(ApiError::StatementTimeout {
                    message: "The statement execution timed out".into(),
                    db_connection_id: u64::from(connection_id),
                })
            }
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

/// Runs the work on one connection. The flag says whether the connection may be reused.
async fn perform(conn: &mut Conn, work: &Work, flavor: ErrorFlavor) -> (Result<Done, ApiError>, bool) {
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
        // `USE` changes the default database the pool keys the connection by.
        if p.sql.trim_start().get(..4).is_some_and(|w| w.eq_ignore_ascii_case("use ")) {
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
