//! The runner's handle on one database: the executor, the configuration, this run's lease owner and
//! the history and lock tables of the database group. Reading the history and creating the tables
//! live here, because every other room needs them.

use std::sync::atomic::AtomicBool;
use std::sync::Arc;

use crate::apply::error::{call_error, RunError};
use crate::apply::executor::{ExecError, Executor, Outcome, Request};
use crate::apply::history::{parse_history, quote_identifier, Tables, HISTORY_PAGE};
use crate::apply::plan::Applied;
use crate::apply::retry::retry;
use crate::apply::RunConfig;

/// One database group as the runner's rooms see it.
pub(crate) struct Db<'r, E> {
    pub exec: &'r Arc<E>,
    pub config: &'r RunConfig,
    /// This run's lease owner (also fences progress writes).
    pub owner: &'r str,
    /// The database the group's scripts apply to.
    pub name: &'r str,
    /// The group's history and lock tables (qualified with the database holding them).
    pub tables: Tables,
    /// The tables unqualified: for server-wide queries (processlist, schema fingerprints).
    pub server: &'r Tables,
    /// A transaction of this run may still be open (its rollback was refused until given up): its
    /// lock on the fence row would make the next registration wait, so that one ends it first.
    pub left_open: AtomicBool,
}

impl<E: Executor> Db<'_, E> {
    /// Runs a request that may be sent again safely (reads, lock and history writes keyed by owner).
    pub async fn idempotent(&self, request: Request) -> Result<Outcome, ExecError> {
        retry(self.config.retry_for, true, || self.exec.execute(request.clone())).await
    }

    /// The group's history, read page by page; empty when the tables do not exist yet.
    pub async fn read_history(&self) -> Result<Vec<Applied>, RunError> {
        let what = || format!("database {}: reading history", self.name);
        let mut history: Vec<Applied> = Vec::new();
        loop {
            let after = history.last().map_or("", |h| h.version.as_str());
            let page = match self.idempotent(self.tables.select_history(after)).await {
                Ok(outcome) => parse_history(&outcome).map_err(call_error(what()))?,
                Err(e) if e.is_missing_table() => return Ok(Vec::new()),
                Err(e) => return Err(call_error(what())(e)),
            };
            let full = page.len() >= HISTORY_PAGE;
            history.extend(page);
            if !full {
                return Ok(history);
            }
        }
    }

    /// Creates the history database (when kept apart), the two tables and the lock row.
    pub async fn ensure_tables(&self) -> Result<(), RunError> {
        let database = self.name;
        let holder = self.tables.database().unwrap_or(database);
        if holder != database {
            let create = format!("CREATE DATABASE IF NOT EXISTS {}", quote_identifier(holder));
            self.idempotent(Request::new(create))
                .await
                .map_err(call_error(format!("database {database}: creating the history database")))?;
        }
        for sql in [self.tables.create_history(), self.tables.create_lock()] {
            self.idempotent(Request::new(sql).database(self.tables.database()))
                .await
                .map_err(call_error(format!("database {database}: creating the history tables")))?;
        }
        self.idempotent(self.tables.seed_lock())
            .await
            .map_err(call_error(format!("database {database}: creating the lock row")))?;
        Ok(())
    }
}
