//! Applying migrations: lease -> read history -> plan -> apply segments -> record progress -> release,
//! for each database in turn.
//!
//! A migration runs as segments (DESIGN §5). A maximal run of statements that are not DDL goes into
//! one Data API transaction together with its progress write, so it is applied entirely or not at
//! all. Each DDL statement (MySQL commits it implicitly) runs alone, outside a transaction with
//! `continueAfterTimeout`; its progress write follows. After a call timeout the runner waits for the
//! statement to finish on the server before going on.
//!
//! Session state (`SET foreign_key_checks = 0`, `SET NAMES`, user variables) lives on a connection,
//! and Data API calls outside a transaction may each land on another one. So the session statements
//! met so far are replayed at the start of every segment, and a DDL statement that needs them runs
//! in a transaction of its own (pinning one connection) instead.
//!
//! `USE db` switches the `database` field of the following calls. `LOCK TABLES`, `UNLOCK TABLES` and
//! the script's own transaction control (`START TRANSACTION`, `COMMIT`, `SET autocommit`) are counted
//! but not sent: table locks cannot outlive a call here, and the runner owns transactions.
//!
//! Nothing is applied twice: a progress write is fenced by the lease and lands in the same
//! transaction as the statements it counts; a call that may or may not have run is never resent.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::apply::executor::{ExecError, Executor, Outcome, ParamValue, Request, Value};
use crate::apply::history::{parse_history, quote_identifier, Progress, Scope, Tables};
use crate::apply::plan::{plan, prefix_hash, Applied, AppliedKind, Entry, PlanOptions, PlanProblem, State};
use crate::apply::session::Session;
use crate::check::{classify, Special, StatementClass};
use crate::scripts::source::{Migration, Script, Scripts, SourceError, Version};
use crate::sql::split::{client_text, Statement, StatementKind};

/// How a run behaves.
#[derive(Debug, Clone)]
pub struct RunConfig {
    /// Database of the scripts at the top of the folder.
    pub default_database: Option<String>,
    /// History table name (the lock table adds `_lock`).
    pub history_table: String,
    /// Keep the top-level scripts' history in this database instead of the default database (for
    /// scripts that drop and re-create their own database).
    pub history_database: Option<String>,
    /// Recorded as `installed_by` and as the lease owner's prefix.
    pub installed_by: String,
    /// How long to wait for another run's lease.
    pub lock_wait: Duration,
    /// Lease length; renewed every third of it.
    pub lease: Duration,
    /// How long transient failures (paused cluster, throttling) are retried.
    pub retry_for: Duration,
    /// Pause between polls while waiting for a statement that outlived its call.
    pub poll_every: Duration,
    /// Stop at a statement boundary once this instant is near (the Lambda's deadline).
    pub deadline: Option<Instant>,
    /// Plan options (target, out-of-order).
    pub plan: PlanOptions,
    /// Statements run at the start of every segment (like the mysql client's `--init-command`).
    pub init_sql: Vec<String>,
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            default_database: None,
            history_table: crate::names::DEFAULT_HISTORY_TABLE.to_owned(),
            history_database: None,
            installed_by: "aurora-migrate".to_owned(),
            lock_wait: Duration::from_secs(120),
            lease: Duration::from_secs(60),
            retry_for: Duration::from_secs(300),
            poll_every: Duration::from_secs(2),
            deadline: None,
            plan: PlanOptions::default(),
            init_sql: Vec::new(),
        }
    }
}

/// Progress events, for a live line per migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A migration starts (at statement `from`).
    Started {
        /// Database.
        database: String,
        /// Version.
        version: String,
        /// Script.
        script: String,
        /// First statement (0-based).
        from: usize,
        /// Statements in the script.
        total: usize,
    },
    /// A migration is fully applied.
    Applied {
        /// Database.
        database: String,
        /// Version.
        version: String,
        /// Script.
        script: String,
        /// Statements run now.
        statements: usize,
        /// Time spent.
        duration: Duration,
    },
    /// A migration stopped on an error.
    Failed {
        /// Database.
        database: String,
        /// Version.
        version: String,
        /// `file:line`.
        at: String,
        /// Statement number (1-based).
        statement: usize,
        /// The error.
        error: String,
    },
}

/// A migration applied in this run.
#[derive(Debug, Clone, Serialize)]
pub struct AppliedNow {
    /// Version.
    pub version: String,
    /// Script.
    pub script: String,
    /// Statements run in this run.
    pub statements: usize,
    /// Milliseconds.
    pub ms: u128,
}

/// One database's part of a report.
#[derive(Debug, Clone, Serialize)]
pub struct DatabaseReport {
    /// The database.
    pub database: String,
    /// Every version and its state (after the run).
    pub entries: Vec<StatusEntry>,
    /// Applied in this run.
    pub applied: Vec<AppliedNow>,
    /// Why this database stopped, if it did.
    pub error: Option<String>,
}

/// A status line.
#[derive(Debug, Clone, Serialize)]
pub struct StatusEntry {
    /// Plan entry.
    #[serde(flatten)]
    pub entry: Entry,
    /// History row, if any.
    pub history: Option<Applied>,
}

/// The report of `migrate` / `status` / `validate` / `repair` / `baseline`.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    /// Which command.
    pub command: String,
    /// Per database, in run order.
    pub databases: Vec<DatabaseReport>,
    /// Migrations applied now.
    pub applied: usize,
    /// Newest applied version of the default database (or the last database).
    pub current_version: Option<String>,
    /// Content hash of the scripts.
    pub content_hash: String,
    /// True when the run did everything it had to.
    pub ok: bool,
    /// Plan problems (validate) or the error that stopped the run.
    pub problems: Vec<String>,
    /// For dry runs: what would run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub would_run: Vec<String>,
}

/// Why a run stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RunError {
    /// The scripts cannot be read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// A call failed for good.
    #[error("{what}: {source}")]
    Call {
        /// What the call was for.
        what: String,
        /// The cause.
        #[source]
        source: ExecError,
    },
    /// Another run holds the lease.
    #[error(
        "database {database}: another run ({owner}) holds the migration lock for {seconds} more \
         second(s); waited {waited:?}. If that run crashed, the lock expires by itself"
    )]
    Locked {
        /// Database.
        database: String,
        /// Holder.
        owner: String,
        /// Seconds left on its lease.
        seconds: i64,
        /// How long we waited.
        waited: Duration,
    },
    /// The lease was lost during the run (another run may have taken over).
    #[error("database {0}: the migration lock was lost during the run; nothing more was applied")]
    LeaseLost(String),
    /// No database for the top-level scripts.
    #[error("no default database: set --database (AURORA_MIGRATE_DATABASE) or a `dbname` in the secret")]
    NoDatabase,
    /// `repair`/`baseline` arguments that do not fit.
    #[error("{0}")]
    Usage(String),
}

fn call_error(what: impl Into<String>) -> impl FnOnce(ExecError) -> RunError {
    let what = what.into();
    move |source| RunError::Call { what, source }
}

/// What the runner does with one statement.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Disposition {
    /// Switch the database.
    Use(String),
    /// Count it, do not send it.
    Skip,
    /// Session state: send, and replay in later segments.
    Session,
    /// Commits implicitly: runs alone.
    Ddl,
    /// Runs in a transaction segment.
    Dml,
    /// Cannot run here: fails the migration with this reason.
    Refused(&'static str),
}

fn disposition(statement: &Statement<'_>) -> Disposition {
    if let StatementKind::Use { database } = &statement.kind {
        return Disposition::Use(database.clone());
    }
    match crate::check::special(statement.text) {
        Some(Special::NotSent(_)) => return Disposition::Skip,
        Some(Special::Refused(why)) => return Disposition::Refused(why),
        None => {}
    }
    match classify(statement.text) {
        StatementClass::Ddl => Disposition::Ddl,
        _ if crate::sql::split::head_words(statement.text, 1).first().is_some_and(|w| w == "SET") => {
            // A global assignment changes the server, not the session: it runs once.
            let global = crate::sql::split::head_words(statement.text, usize::MAX)
                .iter()
                .any(|w| w == "GLOBAL" || w == "PERSIST");
            if global && crate::apply::session::assigned(statement.text).is_none() {
                Disposition::Dml
            } else {
                Disposition::Session
            }
        }
        _ => Disposition::Dml,
    }
}

/// The runner: one executor, one configuration.
pub struct Runner<E> {
    exec: Arc<E>,
    config: RunConfig,
    tables: Tables,
    owner: String,
}

/// The lease on one database, renewed in the background until dropped.
struct Lease {
    lost: Arc<AtomicBool>,
    renewer: tokio::task::JoinHandle<()>,
}

impl Drop for Lease {
    fn drop(&mut self) {
        self.renewer.abort();
    }
}

/// A statement ready to run.
struct Prepared<'a> {
    statement: Statement<'a>,
    disposition: Disposition,
    /// Database in effect for it.
    database: Option<String>,
}

impl<E: Executor + 'static> Runner<E> {
    /// A runner over `exec`.
    pub fn new(exec: Arc<E>, config: RunConfig) -> Result<Self, RunError> {
        let tables = Tables::new(&config.history_table).map_err(|e| RunError::Usage(e.to_string()))?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let owner = format!("{}#{}-{nanos:08x}", config.installed_by, std::process::id());
        Ok(Runner { exec, config, tables, owner })
    }

    /// The history and lock tables of a database group: in `history_database` for the top-level
    /// scripts when one is set, else in the group's own database.
    fn tables_for(&self, database: &str) -> Tables {
        match &self.config.history_database {
            Some(h) if self.config.default_database.as_deref() == Some(database) => {
                self.tables.in_database(h)
            }
            _ => self.tables.in_database(database),
        }
    }

    /// Calls `f` until it succeeds, fails for good, or transient failures outlast `retry_for`.
    /// Ambiguous failures and timeouts are retried only for idempotent calls.
    async fn retry<T, F, Fut>(&self, idempotent: bool, mut f: F) -> Result<T, ExecError>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<T, ExecError>>,
    {
        let start = Instant::now();
        let mut delay = Duration::from_millis(200);
        loop {
            let result = f().await;
            let retryable = match &result {
                Err(ExecError::Transient { .. }) => true,
                Err(ExecError::Ambiguous { .. } | ExecError::Timeout { .. }) => idempotent,
                _ => false,
            };
            if !retryable || start.elapsed() + delay > self.config.retry_for {
                return result;
            }
            if let Err(e) = &result {
                tracing::warn!(error = %e, delay_ms = delay.as_millis() as u64, "retrying");
            }
            tokio::time::sleep(delay).await;
            delay = (delay * 2).min(Duration::from_secs(10));
        }
    }

    async fn run_idempotent(&self, request: Request) -> Result<Outcome, ExecError> {
        self.retry(true, || self.exec.execute(request.clone())).await
    }

    /// The database groups of the scripts, in run order: top-level scripts first.
    fn groups<'s>(&self, scripts: &'s Scripts) -> Result<Vec<(String, Vec<Migration>)>, RunError> {
        let mut groups: BTreeMap<Option<String>, Vec<Migration>> = BTreeMap::new();
        for m in &scripts.migrations {
            groups.entry(m.database.clone()).or_default().push(m.clone());
        }
        let mut out = Vec::new();
        if let Some(top) = groups.remove(&None) {
            out.push((self.config.default_database.clone().ok_or(RunError::NoDatabase)?, top));
        } else if let Some(db) = &self.config.default_database {
            if groups.is_empty() {
                out.push((db.clone(), Vec::new()));
            }
        }
        for (db, migrations) in groups {
            out.push((db.expect("the None group was taken first"), migrations));
        }
        if out.is_empty() {
            out.push((self.config.default_database.clone().ok_or(RunError::NoDatabase)?, Vec::new()));
        }
        Ok(out)
    }

    async fn ensure_tables(&self, database: &str) -> Result<(), RunError> {
        let tables = self.tables_for(database);
        if tables.database() != Some(database) {
            let create = format!(
                "CREATE DATABASE IF NOT EXISTS {}",
                quote_identifier(tables.database().unwrap_or(database))
            );
            self.run_idempotent(Request::new(create))
                .await
                .map_err(call_error(format!("database {database}: creating the history database")))?;
        }
        for sql in [tables.create_history(), tables.create_lock()] {
            self.run_idempotent(Request::new(sql).database(tables.database()))
                .await
                .map_err(call_error(format!("database {database}: creating the history tables")))?;
        }
        self.run_idempotent(tables.seed_lock())
            .await
            .map_err(call_error(format!("database {database}: creating the lock row")))?;
        Ok(())
    }

    /// Takes the lease of `database`, waiting for another run up to `lock_wait`.
    async fn lock(&self, database: &str) -> Result<Lease, RunError> {
        let seconds = self.config.lease.as_secs().max(1) as i64;
        let start = Instant::now();
        let mut created = false;
        loop {
            let acquire = self.tables_for(database).acquire(&self.owner, seconds);
            match self.run_idempotent(acquire).await {
                Ok(outcome) if outcome.updated == 1 => break,
                Ok(_) if !created => {
                    // No row yet (first run), or held by another run: make sure the row exists.
                    self.ensure_tables(database).await?;
                    created = true;
                    continue;
                }
                Ok(_) => {}
                Err(ExecError::Database { message })
                    if !created && (is_missing_table(&message) || is_missing_database(&message)) =>
                {
                    self.ensure_tables(database).await?;
                    created = true;
                    continue;
                }
                Err(e) => {
                    return Err(call_error(format!("database {database}: taking the migration lock"))(e))
                }
            }
            if start.elapsed() >= self.config.lock_wait {
                let holder = self
                    .run_idempotent(self.tables_for(database).holder())
                    .await
                    .map_err(call_error(format!("database {database}: reading the lock")))?;
                let row = holder.rows.first();
                return Err(RunError::Locked {
                    database: database.to_owned(),
                    owner: row.and_then(|r| r.first()).and_then(|v| v.as_str()).unwrap_or("?").to_owned(),
                    seconds: row.and_then(|r| r.get(1)).and_then(|v| v.as_i64()).unwrap_or(0),
                    waited: start.elapsed(),
                });
            }
            tokio::time::sleep(Duration::from_millis(500).min(self.config.lock_wait)).await;
        }
        tracing::info!(database, owner = %self.owner, "lock taken");
        let lost = Arc::new(AtomicBool::new(false));
        let renewer = {
            let (exec, lost, request) =
                (self.exec.clone(), lost.clone(), self.tables_for(database).renew(&self.owner, seconds));
            let every = self.config.lease / 3;
            tokio::spawn(async move {
                loop {
                    tokio::time::sleep(every).await;
                    match exec.execute(request.clone()).await {
                        Ok(o) if o.updated == 1 => {}
                        Ok(_) => {
                            lost.store(true, Ordering::SeqCst);
                            return;
                        }
                        Err(e) => tracing::warn!(error = %e, "renewing the lock failed; trying again"),
                    }
                }
            })
        };
        Ok(Lease { lost, renewer })
    }

    async fn unlock(&self, database: &str, lease: Lease) {
        drop(lease);
        if let Err(e) = self.run_idempotent(self.tables_for(database).release(&self.owner)).await {
            tracing::warn!(database, error = %e, "releasing the lock failed; it expires by itself");
        }
    }

    async fn read_history(&self, database: &str) -> Result<Vec<Applied>, RunError> {
        match self.run_idempotent(self.tables_for(database).select_history()).await {
            Ok(outcome) => {
                parse_history(&outcome).map_err(call_error(format!("database {database}: reading history")))
            }
            Err(ExecError::Database { message })
                if is_missing_table(&message) || is_missing_database(&message) =>
            {
                Ok(Vec::new())
            }
            Err(e) => Err(call_error(format!("database {database}: reading history"))(e)),
        }
    }

    fn plan_for(&self, migrations: &[Migration], history: &[Applied]) -> crate::apply::plan::Plan {
        plan(migrations, history, &self.config.plan, |m, n| {
            let script = Script::read(&m.path).ok()?;
            let statements: Vec<_> = script.statements().take(n).collect::<Result<_, _>>().ok()?;
            (statements.len() == n).then(|| prefix_hash(statements.iter().map(|s| s.text)))
        })
    }

    fn entries(plan: &crate::apply::plan::Plan, history: &[Applied]) -> Vec<StatusEntry> {
        plan.entries
            .iter()
            .map(|e| StatusEntry {
                entry: e.clone(),
                history: history.iter().find(|h| h.version == e.version).cloned(),
            })
            .collect()
    }

    fn report(&self, command: &str, scripts: &Scripts) -> Report {
        Report {
            command: command.to_owned(),
            databases: Vec::new(),
            applied: 0,
            current_version: None,
            content_hash: scripts.content_hash.clone(),
            ok: true,
            problems: Vec::new(),
            would_run: Vec::new(),
        }
    }

    /// Status of every database, without taking the lock or changing anything.
    pub async fn status(&self, scripts: &Scripts) -> Result<Report, RunError> {
        let mut report = self.report("status", scripts);
        for (database, migrations) in self.groups(scripts)? {
            let history = self.read_history(&database).await?;
            let plan = self.plan_for(&migrations, &history);
            report.problems.extend(plan.problems.iter().map(|p| p.to_string()));
            report.databases.push(DatabaseReport {
                database,
                entries: Self::entries(&plan, &history),
                applied: Vec::new(),
                error: None,
            });
        }
        report.ok = report.problems.is_empty();
        report.current_version = current_version(&report);
        Ok(report)
    }

    /// `validate`: the offline check of every script in `dir` plus the history's view (changed
    /// checksums, missing scripts, failed migrations). `ok` only when nothing needs attention.
    pub async fn validate(&self, scripts: &Scripts, dir: &std::path::Path) -> Result<Report, RunError> {
        let offline = crate::check::report::check_dir(dir)?;
        let mut report = self.status(scripts).await?;
        report.command = "validate".into();
        for db in &report.databases {
            for e in &db.entries {
                if let (State::Resume { from, total }, Some(h)) = (&e.entry.state, &e.history) {
                    report.problems.push(format!(
                        "{}: migration {} failed at statement {} of {total}{}: {}; the next migrate resumes there",
                        e.entry.script,
                        e.entry.version,
                        from + 1,
                        h.failed_at.as_deref().map(|a| format!(" ({a})")).unwrap_or_default(),
                        h.error.as_deref().unwrap_or("interrupted")
                    ));
                }
            }
        }
        for d in offline.diagnostics.iter().filter(|d| d.severity == crate::check::Severity::Error) {
            report.problems.push(d.to_string());
        }
        report.ok = report.problems.is_empty();
        Ok(report)
    }

    /// Applies what the plan says, database after database; stops at the first failure. With
    /// `dry_run`, only says what would run.
    pub async fn migrate(
        &self,
        scripts: &Scripts,
        dry_run: bool,
        on_event: &mut (dyn FnMut(&Event) + Send),
    ) -> Result<Report, RunError> {
        let mut report = self.report(if dry_run { "migrate --dry-run" } else { "migrate" }, scripts);
        let groups = self.groups(scripts)?;
        for (database, migrations) in groups {
            if dry_run || !report.ok {
                let history = self.read_history(&database).await?;
                let plan = self.plan_for(&migrations, &history);
                if dry_run {
                    report.problems.extend(plan.problems.iter().map(|p| p.to_string()));
                    for &(i, from) in &plan.steps {
                        report.would_run.extend(describe_steps(&database, &migrations[i], from)?);
                    }
                }
                report.databases.push(DatabaseReport {
                    database,
                    entries: Self::entries(&plan, &history),
                    applied: Vec::new(),
                    error: None,
                });
                continue;
            }
            let lease = self.lock(&database).await?;
            let outcome = self.migrate_database(&database, &migrations, &lease, on_event).await;
            let history = self.read_history(&database).await;
            self.unlock(&database, lease).await;
            let (applied, error) = match outcome {
                Ok(applied) => (applied, None),
                Err((applied, e)) => (applied, Some(e)),
            };
            // A failed run's own error says more than a failure to read history afterwards.
            let history = match (history, &error) {
                (Ok(history), _) => history,
                (Err(e), None) => return Err(e),
                (Err(_), Some(_)) => Vec::new(),
            };
            let plan = self.plan_for(&migrations, &history);
            report.applied += applied.len();
            if let Some(e) = &error {
                report.ok = false;
                report.problems.push(e.clone());
            }
            report.databases.push(DatabaseReport {
                database,
                entries: Self::entries(&plan, &history),
                applied,
                error,
            });
        }
        if dry_run {
            report.ok = report.problems.is_empty();
        }
        report.current_version = current_version(&report);
        Ok(report)
    }

    async fn migrate_database(
        &self,
        database: &str,
        migrations: &[Migration],
        lease: &Lease,
        on_event: &mut (dyn FnMut(&Event) + Send),
    ) -> Result<Vec<AppliedNow>, (Vec<AppliedNow>, String)> {
        let mut applied = Vec::new();
        let history = match self.read_history(database).await {
            Ok(h) => h,
            Err(e) => return Err((applied, e.to_string())),
        };
        let plan = self.plan_for(migrations, &history);
        if !plan.problems.is_empty() {
            let problems: Vec<String> = plan.problems.iter().map(PlanProblem::to_string).collect();
            return Err((applied, problems.join("\n")));
        }
        for &(i, from) in &plan.steps {
            let migration = &migrations[i];
            let start = Instant::now();
            let row = history.iter().find(|h| h.version == migration.version.as_str());
            match self.apply(database, migration, from, row, lease, on_event).await {
                Ok(statements) => {
                    let duration = start.elapsed();
                    on_event(&Event::Applied {
                        database: database.to_owned(),
                        version: migration.version.to_string(),
                        script: migration.script.clone(),
                        statements,
                        duration,
                    });
                    tracing::info!(database, version = %migration.version, statements, duration_ms = duration.as_millis() as u64, "migration applied");
                    applied.push(AppliedNow {
                        version: migration.version.to_string(),
                        script: migration.script.clone(),
                        statements,
                        ms: duration.as_millis(),
                    });
                }
                Err(e) => return Err((applied, e)),
            }
        }
        Ok(applied)
    }

    /// Applies one migration from statement `from`; returns the number of statements run.
    async fn apply(
        &self,
        database: &str,
        migration: &Migration,
        from: usize,
        row: Option<&Applied>,
        lease: &Lease,
        on_event: &mut (dyn FnMut(&Event) + Send),
    ) -> Result<usize, String> {
        let script = Script::read(&migration.path).map_err(|e| e.to_string())?;
        let statements: Vec<Statement<'_>> = script
            .statements()
            .collect::<Result<_, _>>()
            .map_err(|e| format!("{}:{e}: run `aurora-migrate check` first", migration.script))?;
        let total = statements.len();
        on_event(&Event::Started {
            database: database.to_owned(),
            version: migration.version.to_string(),
            script: migration.script.clone(),
            from,
            total,
        });
        // Database and session state in effect at each statement.
        let mut current = Some(database.to_owned());
        let mut prepared = Vec::with_capacity(total);
        for statement in statements {
            let disposition = disposition(&statement);
            if let Disposition::Use(db) = &disposition {
                current = Some(db.clone());
            }
            let dropped = dropped_database(statement.text);
            prepared.push(Prepared { statement, disposition, database: current.clone() });
            // As in MySQL, dropping the current database leaves the session without one.
            if dropped.is_some() && dropped == current {
                current = None;
            }
        }
        let mut prefix = Sha256::new();
        let mut session = Session::default();
        for p in &prepared[..from.min(total)] {
            prefix.update(p.statement.text.as_bytes());
            prefix.update([0]);
            if p.disposition == Disposition::Session {
                session.ran(&client_text(p.statement.text));
            }
        }
        let mut at = from;
        let mut intent_done = false;
        let context = ApplyContext { database, migration, total, lease };
        let history_database = self.tables_for(database).database().unwrap_or(database).to_owned();
        if let Some((i, _)) = prepared
            .iter()
            .enumerate()
            .skip(from)
            .find(|(_, p)| dropped_database(p.statement.text).is_some_and(|d| d == history_database))
        {
            return Err(format!(
                "{}:{}: statement {} of {total} drops database {history_database}, which holds the migration \
                 history: keep the history elsewhere with --history-database (AURORA_MIGRATE_HISTORY_DATABASE)",
                migration.script,
                prepared[i].statement.line,
                i + 1
            ));
        }
        if let Some((i, why)) =
            prepared.iter().enumerate().skip(from).find_map(|(i, p)| match p.disposition {
                Disposition::Refused(why) => Some((i, why)),
                _ => None,
            })
        {
            return Err(format!(
                "{}:{}: statement {} of {total}: {why}",
                migration.script,
                prepared[i].statement.line,
                i + 1
            ));
        }
        // A crash between a DDL statement and its progress write: did the statement run?
        if let Some((index, recorded)) = row.and_then(|r| r.inflight.as_ref()) {
            if *index == from && from < total {
                let p = &prepared[from];
                let ran = self
                    .inflight_ran(&context, p, recorded)
                    .await
                    .map_err(|e| format!("{}: {e}", migration.script))?;
                tracing::info!(
                    statement = from + 1,
                    ran,
                    "resolved a statement left in flight by an earlier run"
                );
                if ran {
                    prefix.update(p.statement.text.as_bytes());
                    prefix.update([0]);
                    let prefix_text = hex_digest(&prefix);
                    self.write_progress(&context, from + 1, &prefix_text, 0, None, None)
                        .await
                        .map_err(|f| f.error)?;
                    at = from + 1;
                }
            }
        }
        while at < total {
            if lease.lost.load(Ordering::SeqCst) {
                return Err(RunError::LeaseLost(database.to_owned()).to_string());
            }
            if let Some(deadline) = self.config.deadline {
                if Instant::now() >= deadline {
                    let p = &prepared[at].statement;
                    return Err(format!(
                        "{} stopped before statement {} of {total} ({}:{}) because the run's deadline \
                         came; progress is recorded and the next run resumes there",
                        migration.script,
                        at + 1,
                        migration.script,
                        p.line
                    ));
                }
            }
            // The segment: one DDL statement, or a run of other statements in one database.
            let end = if prepared[at].disposition == Disposition::Ddl {
                at + 1
            } else {
                let mut end = at + 1;
                while end < total
                    && prepared[end].disposition != Disposition::Ddl
                    && !matches!(prepared[end].disposition, Disposition::Use(_))
                {
                    end += 1;
                }
                end
            };
            let segment = &prepared[at..end];
            let mut next_prefix = prefix.clone();
            for p in segment {
                next_prefix.update(p.statement.text.as_bytes());
                next_prefix.update([0]);
            }
            let prefix_text = format!(
                "sha256:{}",
                next_prefix.clone().finalize().iter().map(|b| format!("{b:02x}")).collect::<String>()
            );
            let started = Instant::now();
            let before = hex_digest(&prefix);
            // When the next segment is a DDL statement, this segment's progress write also records
            // it as in flight (one call instead of two).
            let announce =
                prepared.get(end).filter(|n| n.disposition == Disposition::Ddl).map(|n| scope(&context, n));
            let result = self
                .run_segment(
                    &context,
                    segment,
                    at,
                    end,
                    &session,
                    &before,
                    &prefix_text,
                    started,
                    intent_done,
                    announce.as_ref(),
                )
                .await;
            intent_done = result.is_ok() && announce.is_some();
            if let Err(failure) = &result {
                let failure =
                    Failure { index: failure.index, error: failure.error.clone(), retry: failure.retry };
                let p = &prepared[failure.index].statement;
                let failed_at = format!("{}:{}", migration.script, p.line);
                on_event(&Event::Failed {
                    database: database.to_owned(),
                    version: migration.version.to_string(),
                    at: failed_at.clone(),
                    statement: failure.index + 1,
                    error: failure.error.clone(),
                });
                tracing::error!(database, version = %migration.version, statement = failure.index + 1, line = p.line, error = %failure.error, "statement failed");
                let prefix_at = format!(
                    "sha256:{}",
                    prefix.clone().finalize().iter().map(|b| format!("{b:02x}")).collect::<String>()
                );
                let shortened: String = p.text.chars().take(2000).collect();
                let record = Progress {
                    success: false,
                    error: Some(&failure.error),
                    failed_statement: Some(&shortened),
                    failed_at: Some(&failed_at),
                    execution_ms: started.elapsed().as_millis() as i64,
                    ..self.progress(&context, at, &prefix_at)
                };
                if let Err(e) =
                    self.run_idempotent(self.tables_for(database).record(&record, &self.owner)).await
                {
                    tracing::error!(error = %e, "recording the failure failed");
                }
                return Err(format!(
                    "{failed_at}: migration {} failed at statement {} of {total}: {}{}",
                    migration.version,
                    failure.index + 1,
                    failure.error,
                    if at > from || at > 0 {
                        format!(" ({at} statement(s) before it are applied and recorded)")
                    } else {
                        String::new()
                    }
                ));
            }
            let sent: Vec<String> = segment
                .iter()
                .filter(|p| p.disposition == Disposition::Session)
                .map(|p| client_text(p.statement.text).into_owned())
                .collect();
            match result {
                Ok(Some((targets, values))) => {
                    session.captured(&targets, &values, sent.iter().map(String::as_str))
                }
                _ => session.append_unread(sent.iter().map(String::as_str)),
            }
            prefix = next_prefix;
            at = end;
        }
        if from == total {
            // Nothing left (a failed record with everything applied): mark it done.
            let prefix_text = format!(
                "sha256:{}",
                prefix.finalize().iter().map(|b| format!("{b:02x}")).collect::<String>()
            );
            self.write_progress(&context, total, &prefix_text, 0, None, None).await.map_err(|e| e.error)?;
        }
        Ok(total - from)
    }

    /// The history row of `c`'s migration with `applied` statements done and nothing else to say.
    fn progress<'a>(&'a self, c: &'a ApplyContext<'_>, applied: usize, prefix: &'a str) -> Progress<'a> {
        Progress {
            version: c.migration.version.as_str(),
            description: &c.migration.description,
            script: &c.migration.script,
            checksum: &c.migration.checksum,
            kind: AppliedKind::Script,
            applied,
            total: c.total,
            prefix,
            success: applied == c.total,
            error: None,
            failed_statement: None,
            failed_at: None,
            execution_ms: 0,
            installed_by: &self.config.installed_by,
            inflight: None,
            inflight_scope: None,
        }
    }

    /// Records `applied` statements done. With `announce`, the same write records the next
    /// statement (a DDL one, at `applied`) as in flight, saving the separate in-flight write.
    async fn write_progress(
        &self,
        c: &ApplyContext<'_>,
        applied: usize,
        prefix: &str,
        ms: i64,
        transaction: Option<&str>,
        announce: Option<&Scope>,
    ) -> Result<(), Failure> {
        let record = Progress {
            execution_ms: ms,
            inflight: announce.map(|_| applied),
            inflight_scope: announce,
            ..self.progress(c, applied, prefix)
        };
        let request = self.tables_for(c.database).record(&record, &self.owner).transaction(transaction);
        let outcome = match transaction {
            Some(_) => self.exec.execute(request).await,
            None => self.run_idempotent(request).await,
        };
        match outcome {
            Ok(o) if o.updated > 0 => Ok(()),
            Ok(_) => Err(Failure {
                index: applied.saturating_sub(1),
                error: RunError::LeaseLost(c.database.to_owned()).to_string(),
                retry: false,
            }),
            Err(e) => Err(Failure {
                index: applied.saturating_sub(1),
                error: format!("recording progress: {e}"),
                retry: matches!(
                    e,
                    ExecError::Transient { .. }
                        | ExecError::Ambiguous { .. }
                        | ExecError::TransactionGone { .. }
                ),
            }),
        }
    }

    /// Records that DDL statement `at` is about to be sent, with the schema fingerprint before it.
    async fn write_intent(
        &self,
        c: &ApplyContext<'_>,
        at: usize,
        prefix: &str,
        scope: &Scope,
    ) -> Result<(), Failure> {
        let record =
            Progress { inflight: Some(at), inflight_scope: Some(scope), ..self.progress(c, at, prefix) };
        match self.run_idempotent(self.tables_for(c.database).record(&record, &self.owner)).await {
            Ok(o) if o.updated > 0 => Ok(()),
            Ok(_) => Err(Failure {
                index: at,
                error: RunError::LeaseLost(c.database.to_owned()).to_string(),
                retry: false,
            }),
            Err(e) => Err(Failure {
                index: at,
                error: format!("recording the statement about to run: {e}"),
                retry: false,
            }),
        }
    }

    /// Whether the DDL statement an earlier run left in flight took effect: waits while it still
    /// runs, then compares the schema fingerprint with the one taken before it was sent.
    async fn inflight_ran(
        &self,
        c: &ApplyContext<'_>,
        p: &Prepared<'_>,
        recorded: &str,
    ) -> Result<bool, String> {
        loop {
            let outcome = self
                .run_idempotent(self.tables.running(&client_text(p.statement.text)))
                .await
                .map_err(|e| format!("checking whether statement still runs: {e}"))?;
            if outcome.rows.first().and_then(|r| r.first()).and_then(|v| v.as_i64()).unwrap_or(0) == 0 {
                break;
            }
            tracing::info!("a statement left by an earlier run is still running; waiting");
            tokio::time::sleep(self.config.poll_every).await;
        }
        let now = self
            .run_idempotent(self.tables.fingerprint(&scope(c, p)))
            .await
            .map_err(|e| format!("reading the schema fingerprint: {e}"))?;
        let now =
            now.rows.first().and_then(|r| r.first()).and_then(|v| v.as_str()).unwrap_or_default().to_owned();
        Ok(now != recorded)
    }

    /// Runs statements `[at, end)` and records progress `end`.
    #[allow(clippy::too_many_arguments)]
    async fn run_segment(
        &self,
        c: &ApplyContext<'_>,
        segment: &[Prepared<'_>],
        at: usize,
        end: usize,
        session: &Session,
        prefix_before: &str,
        prefix: &str,
        started: Instant,
        intent_done: bool,
        announce: Option<&Scope>,
    ) -> Result<Option<Captured>, Failure> {
        let database = segment[0].database.as_deref();
        let mut replay = self.config.init_sql.clone();
        replay.extend(session.replay());
        let sends: Vec<_> = segment
            .iter()
            .filter(|p| matches!(p.disposition, Disposition::Ddl | Disposition::Dml | Disposition::Session))
            .collect();
        let is_ddl = segment[0].disposition == Disposition::Ddl;
        if sends.is_empty() {
            // Only USE / skipped statements: just count them.
            return self.write_progress(c, end, prefix, 0, None, announce).await.map(|()| None);
        }
        if is_ddl {
            // The DDL commits on its own: record it as in flight first, so that a crash before its
            // progress write can be resolved by the next run instead of running it twice.
            if !intent_done {
                self.write_intent(c, at, prefix_before, &scope(c, &segment[0])).await?;
            }
            if replay.is_empty() {
                let deadline = Instant::now() + self.config.retry_for;
                loop {
                    match self
                        .run_ddl(c, &segment[0], at, end, prefix, started, announce)
                        .await
                        .map(|()| None)
                    {
                        Err(failure) if failure.retry && Instant::now() < deadline => {
                            tracing::warn!(error = %failure.error, "sending the DDL statement again");
                            tokio::time::sleep(Duration::from_millis(500)).await;
                        }
                        other => return other,
                    }
                }
            }
        }
        // Read back what the session statements assigned (this segment's, and replayed ones not yet
        // read), so that later segments restore it with one statement.
        let capture = if is_ddl {
            Vec::new()
        } else {
            let sent: Vec<String> = segment
                .iter()
                .filter(|p| p.disposition == Disposition::Session)
                .map(|p| client_text(p.statement.text).into_owned())
                .collect();
            session.to_capture(sent.iter().map(String::as_str))
        };
        let deadline = Instant::now() + self.config.retry_for;
        let mut delay = Duration::from_millis(200);
        loop {
            let attempt = self
                .try_transaction(c, segment, at, end, &replay, &capture, prefix, started, database, announce)
                .await;
            match attempt.map(|values| values.map(|v| (capture.clone(), v))) {
                Err(failure) if failure.retry && Instant::now() + delay < deadline => {
                    tracing::warn!(error = %failure.error, "segment rolled back; running it again");
                    tokio::time::sleep(delay).await;
                    delay = (delay * 2).min(Duration::from_secs(10));
                }
                other => return other,
            }
        }
    }

    #[allow(clippy::too_many_arguments)]
    async fn try_transaction(
        &self,
        c: &ApplyContext<'_>,
        segment: &[Prepared<'_>],
        at: usize,
        end: usize,
        replay: &[String],
        capture: &[String],
        prefix: &str,
        started: Instant,
        database: Option<&str>,
        announce: Option<&Scope>,
    ) -> Result<Option<Vec<Value>>, Failure> {
        let transient = |e: &ExecError| {
            matches!(
                e,
                ExecError::Transient { .. } | ExecError::Ambiguous { .. } | ExecError::TransactionGone { .. }
            )
        };
        let tx = self.retry(true, || self.exec.begin(database)).await.map_err(|e| Failure {
            index: at,
            error: format!("starting a transaction: {e}"),
            retry: transient(&e),
        })?;
        let rollback = || async {
            if let Err(e) = self.exec.rollback(&tx).await {
                tracing::warn!(error = %e, "rollback failed; the transaction expires by itself");
            }
        };
        for sql in replay {
            if let Err(e) =
                self.exec.execute(Request::new(sql.clone()).database(database).transaction(Some(&tx))).await
            {
                rollback().await;
                return Err(Failure {
                    index: at,
                    error: format!("replaying session statement `{sql}`: {e}"),
                    retry: transient(&e),
                });
            }
        }
        for (offset, p) in segment.iter().enumerate() {
            if !matches!(p.disposition, Disposition::Ddl | Disposition::Dml | Disposition::Session) {
                continue;
            }
            let calls = crate::sql::calls::calls(&client_text(p.statement.text)).map_err(|e| Failure {
                index: at + offset,
                error: e.to_string(),
                retry: false,
            });
            let calls = match calls {
                Ok(calls) => calls,
                Err(f) => {
                    rollback().await;
                    return Err(f);
                }
            };
            for call in calls {
                let mut request = Request::new(call.sql).database(database).transaction(Some(&tx));
                request.params = call.params.into_iter().map(|(n, v)| (n, ParamValue::from(v))).collect();
                if let Err(e) = self.exec.execute(request).await {
                    rollback().await;
                    let error = match &e {
                        ExecError::Timeout { .. } => format!("{e}: a statement inside a transaction must finish within the Data API's call timeout; move it to a migration of its own or make it faster"),
                        _ => e.to_string(),
                    };
                    return Err(Failure { index: at + offset, error, retry: transient(&e) });
                }
            }
        }
        let mut captured = None;
        if !capture.is_empty() {
            let read = Request::new(format!("SELECT {}", capture.join(", ")))
                .database(database)
                .transaction(Some(&tx));
            match self.exec.execute(read).await {
                Ok(outcome) => captured = outcome.rows.into_iter().next(),
                Err(e) => {
                    rollback().await;
                    return Err(Failure {
                        index: at,
                        error: format!("reading back session variables: {e}"),
                        retry: transient(&e),
                    });
                }
            }
        }
        if let Err(f) = self
            .write_progress(c, end, prefix, started.elapsed().as_millis() as i64, Some(&tx), announce)
            .await
        {
            rollback().await;
            return Err(f);
        }
        match self.exec.commit(&tx).await {
            Ok(()) => Ok(captured),
            Err(
                e @ (ExecError::Ambiguous { .. } | ExecError::Transient { .. } | ExecError::Timeout { .. }),
            ) => {
                // Did the commit land? First make sure the transaction is over: a rollback that
                // succeeds means it was still open (so nothing was committed, and now nothing will
                // be); "not found" means it ended. Then the progress row written inside it tells.
                tracing::warn!(error = %e, "the answer to a commit was lost; finding out whether it landed");
                let deadline = Instant::now() + self.config.retry_for;
                loop {
                    match self.exec.rollback(&tx).await {
                        Ok(()) => {
                            return Err(Failure {
                                index: at,
                                error: format!("committing: {e}; rolled back"),
                                retry: true,
                            })
                        }
                        Err(ExecError::TransactionGone { .. }) => break,
                        Err(other) if Instant::now() < deadline => {
                            tracing::warn!(error = %other, "waiting for the transaction whose commit answer was lost");
                            tokio::time::sleep(Duration::from_millis(250)).await;
                        }
                        Err(other) => {
                            return Err(Failure {
                                index: at,
                                error: format!("committing: {e}; then: {other}"),
                                retry: false,
                            })
                        }
                    }
                }
                let history = self.read_history(c.database).await.map_err(|r| Failure {
                    index: at,
                    error: r.to_string(),
                    retry: false,
                })?;
                let done = history.iter().any(|h| {
                    h.version == c.migration.version.as_str() && h.applied >= end && h.prefix == prefix
                });
                if done {
                    Ok(captured)
                } else {
                    Err(Failure { index: at, error: format!("committing: {e}"), retry: true })
                }
            }
            Err(e) => Err(Failure {
                index: at,
                error: format!("committing: {e}"),
                retry: matches!(e, ExecError::TransactionGone { .. }),
            }),
        }
    }

    /// One DDL statement outside a transaction, with `continueAfterTimeout`.
    #[allow(clippy::too_many_arguments)]
    async fn run_ddl(
        &self,
        c: &ApplyContext<'_>,
        p: &Prepared<'_>,
        at: usize,
        end: usize,
        prefix: &str,
        started: Instant,
        announce: Option<&Scope>,
    ) -> Result<(), Failure> {
        let calls = crate::sql::calls::calls(&client_text(p.statement.text)).map_err(|e| Failure {
            index: at,
            error: e.to_string(),
            retry: false,
        })?;
        for call in calls {
            let mut request = Request::new(call.sql).database(p.database.as_deref());
            request.params = call.params.into_iter().map(|(n, v)| (n, ParamValue::from(v))).collect();
            request.continue_after_timeout = true;
            match self.retry(false, || self.exec.execute(request.clone())).await {
                Ok(_) => {}
                Err(ExecError::Timeout { connection_id }) => {
                    tracing::info!(
                        statement = at + 1,
                        connection_id,
                        "statement outlived its call; waiting for it to finish"
                    );
                    self.wait_for(connection_id).await.map_err(|error| Failure {
                        index: at,
                        error,
                        retry: false,
                    })?;
                }
                Err(e @ ExecError::Ambiguous { .. }) => {
                    // Lost answer: the fingerprint recorded before sending tells whether it ran.
                    let history = self.read_history(c.database).await.map_err(|r| Failure {
                        index: at,
                        error: r.to_string(),
                        retry: false,
                    })?;
                    let recorded = history
                        .iter()
                        .find(|h| h.version == c.migration.version.as_str())
                        .and_then(|h| h.inflight.clone())
                        .filter(|(index, _)| *index == at)
                        .map(|(_, fingerprint)| fingerprint);
                    let ran = match recorded {
                        Some(fingerprint) => self
                            .inflight_ran(c, p, &fingerprint)
                            .await
                            .map_err(|error| Failure { index: at, error, retry: false })?,
                        None => {
                            return Err(Failure {
                                index: at,
                                error: format!("{e}; and no in-flight record to check it against"),
                                retry: false,
                            })
                        }
                    };
                    tracing::warn!(
                        statement = at + 1,
                        ran,
                        "the answer to a DDL statement was lost; checked the schema"
                    );
                    if !ran {
                        return Err(Failure {
                            index: at,
                            error: format!("{e}; it did not take effect"),
                            retry: true,
                        });
                    }
                }
                Err(e) => return Err(Failure { index: at, error: e.to_string(), retry: false }),
            }
        }
        self.write_progress(c, end, prefix, started.elapsed().as_millis() as i64, None, announce).await
    }

    /// Waits until connection `id` no longer runs a statement.
    async fn wait_for(&self, id: Option<i64>) -> Result<(), String> {
        let Some(id) = id else {
            return Err(
                "the statement outlived its call and the Data API gave no connection id to wait for".into()
            );
        };
        loop {
            if let Some(deadline) = self.config.deadline {
                if Instant::now() >= deadline {
                    return Err(format!("the run's deadline came while statement on connection {id} was still running; wait for it to finish before the next run"));
                }
            }
            let request = Request::new(
                // The poll itself may land on that very connection once it is free again: not itself.
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
                 WHERE ID = :id AND ID <> CONNECTION_ID() AND COMMAND <> 'Sleep'",
            )
            .param("id", ParamValue::Long(id));
            let outcome = self
                .run_idempotent(request)
                .await
                .map_err(|e| format!("waiting for connection {id}: {e}"))?;
            let running = outcome.rows.first().and_then(|r| r.first()).and_then(|v| v.as_i64()).unwrap_or(0);
            tracing::debug!(connection_id = id, running, "polled the statement that outlived its call");

            if running == 0 {
                return Ok(());
            }
            tokio::time::sleep(self.config.poll_every).await;
        }
    }

    /// Clears failed records, and with `accept_checksums` records the current checksum of changed
    /// applied scripts.
    pub async fn repair(&self, scripts: &Scripts, accept_checksums: bool) -> Result<Report, RunError> {
        let mut report = self.report("repair", scripts);
        for (database, migrations) in self.groups(scripts)? {
            let lease = self.lock(&database).await?;
            let result = async {
                let removed = self
                    .run_idempotent(self.tables_for(&database).delete_failed(&self.owner))
                    .await
                    .map_err(call_error(format!("database {database}: removing failed records")))?;
                let mut notes = Vec::new();
                if removed.updated > 0 {
                    notes.push(format!("database {database}: removed {} failed record(s)", removed.updated));
                }
                if accept_checksums {
                    let history = self.read_history(&database).await?;
                    for h in history.iter().filter(|h| h.success && h.kind == AppliedKind::Script) {
                        if let Some(m) = migrations
                            .iter()
                            .find(|m| m.version.as_str() == h.version && m.checksum != h.checksum)
                        {
                            self.run_idempotent(self.tables_for(&database).set_checksum(
                                &h.version,
                                &m.checksum,
                                &self.owner,
                            ))
                            .await
                            .map_err(call_error(format!("database {database}: updating a checksum")))?;
                            notes.push(format!(
                                "database {database}: {} now recorded with checksum {}",
                                m.script, m.checksum
                            ));
                        }
                    }
                }
                Ok::<_, RunError>(notes)
            }
            .await;
            let history = self.read_history(&database).await;
            self.unlock(&database, lease).await;
            report.problems.extend(result?);
            let history = history?;
            let plan = self.plan_for(&migrations, &history);
            report.databases.push(DatabaseReport {
                database,
                entries: Self::entries(&plan, &history),
                applied: Vec::new(),
                error: None,
            });
        }
        report.current_version = current_version(&report);
        Ok(report)
    }

    /// Records `version` as the baseline of `database` (default: the default database): scripts up
    /// to it count as applied and never run.
    pub async fn baseline(
        &self,
        scripts: &Scripts,
        version: &Version,
        database: Option<&str>,
    ) -> Result<Report, RunError> {
        let mut report = self.report("baseline", scripts);
        let database = database
            .map(str::to_owned)
            .or_else(|| self.config.default_database.clone())
            .ok_or(RunError::NoDatabase)?;
        let lease = self.lock(&database).await?;
        let result = async {
            let history = self.read_history(&database).await?;
            if let Some(h) = history.iter().find(|h| h.kind == AppliedKind::Script) {
                return Err(RunError::Usage(format!(
                    "database {database} already has migration history (version {}): baseline marks a database that has none",
                    h.version
                )));
            }
            let record = Progress {
                version: version.as_str(),
                description: "baseline",
                script: "",
                checksum: "",
                kind: AppliedKind::Baseline,
                applied: 0,
                total: 0,
                prefix: "",
                success: true,
                error: None,
                failed_statement: None,
                failed_at: None,
                execution_ms: 0,
                installed_by: &self.config.installed_by,
                inflight: None,
                inflight_scope: None,
            };
            let outcome = self
                .run_idempotent(self.tables_for(&database).record(&record, &self.owner))
                .await
                .map_err(call_error(format!("database {database}: recording the baseline")))?;
            if outcome.updated == 0 {
                return Err(RunError::LeaseLost(database.clone()));
            }
            Ok(())
        }
        .await;
        let history = self.read_history(&database).await;
        self.unlock(&database, lease).await;
        result?;
        let history = history?;
        let migrations: Vec<Migration> = scripts
            .migrations
            .iter()
            .filter(|m| m.database.as_deref().unwrap_or(&database) == database)
            .cloned()
            .collect();
        let plan = self.plan_for(&migrations, &history);
        report.databases.push(DatabaseReport {
            database,
            entries: Self::entries(&plan, &history),
            applied: Vec::new(),
            error: None,
        });
        report.current_version = current_version(&report);
        Ok(report)
    }
}

/// Session variables read back after a segment: the expressions and their values.
type Captured = (Vec<String>, Vec<Value>);

struct ApplyContext<'a> {
    database: &'a str,
    migration: &'a Migration,
    total: usize,
    #[allow(dead_code)]
    lease: &'a Lease,
}

/// A segment's failure: which statement, why, and whether running the segment again is safe.
struct Failure {
    index: usize,
    error: String,
    retry: bool,
}

fn hex_digest(hasher: &Sha256) -> String {
    format!("sha256:{}", hasher.clone().finalize().iter().map(|b| format!("{b:02x}")).collect::<String>())
}

fn describe_steps(database: &str, migration: &Migration, from: usize) -> Result<Vec<String>, RunError> {
    let script = Script::read(&migration.path)?;
    let mut out = vec![format!("database {database}: {} (from statement {})", migration.script, from + 1)];
    for (i, s) in script.statements().enumerate().skip(from) {
        let s = s.map_err(|e| RunError::Usage(format!("{}:{e}", migration.script)))?;
        let first_line: String = s.text.lines().next().unwrap_or("").chars().take(100).collect();
        out.push(format!("  {}:{}: [{}] {first_line}", migration.script, s.line, i + 1));
    }
    Ok(out)
}

fn current_version(report: &Report) -> Option<String> {
    report.databases.first().and_then(|d| {
        d.entries
            .iter()
            .filter(|e| {
                matches!(
                    e.entry.state,
                    State::Applied | State::Baseline | State::BelowBaseline | State::NewerInHistory
                )
            })
            .filter_map(|e| Version::parse(&e.entry.version))
            .max()
            .map(|v| v.to_string())
    })
}

/// What a DDL statement's fingerprint covers: its database, and its table when it names one.
fn scope(c: &ApplyContext<'_>, p: &Prepared<'_>) -> Scope {
    let current = p.database.as_deref().unwrap_or(c.database).to_owned();
    match ddl_table(p.statement.text) {
        Some((database, table)) => Scope { database: database.unwrap_or(current), table: Some(table) },
        None => Scope { database: current, table: None },
    }
}

/// The one table a `CREATE TABLE`, `ALTER TABLE`, `DROP TABLE`, `CREATE INDEX ... ON` or
/// `DROP INDEX ... ON` statement changes, as (database if qualified, table).
fn ddl_table(text: &str) -> Option<(Option<String>, String)> {
    let text = text.trim();
    let text = match text.strip_prefix("/*!").and_then(|t| t.strip_suffix("*/")) {
        Some(inner) => inner.trim_start_matches(|c: char| c.is_ascii_digit()),
        None => text,
    };
    let tokens = identifier_tokens(text, 14);
    let upper: Vec<String> = tokens.iter().map(|t| t.to_ascii_uppercase()).collect();
    let word = |i: usize| upper.get(i).map(String::as_str).unwrap_or("");
    let mut i = 0;
    let on_table = |mut i: usize| -> Option<usize> {
        // [IF [NOT] EXISTS] index ON table
        while matches!(word(i), "IF" | "NOT" | "EXISTS") {
            i += 1;
        }
        (word(i + 1) == "ON").then_some(i + 2)
    };
    let name_at = match word(0) {
        "CREATE" => {
            i += 1;
            if word(i) == "OR" && word(i + 1) == "REPLACE" {
                i += 2;
            }
            match word(i) {
                "TEMPORARY" if word(i + 1) == "TABLE" => Some(i + 2),
                "TABLE" => Some(i + 1),
                "UNIQUE" | "FULLTEXT" | "SPATIAL" if word(i + 1) == "INDEX" => on_table(i + 2),
                "INDEX" => on_table(i + 1),
                _ => None,
            }
        }
        "ALTER" => (1..4).find(|&k| word(k) == "TABLE").map(|k| k + 1),
        "DROP" if word(1) == "TABLE" => Some(2),
        "DROP" if word(1) == "INDEX" => on_table(2),
        _ => None,
    }?;
    let mut k = name_at;
    while matches!(word(k), "IF" | "NOT" | "EXISTS") {
        k += 1;
    }
    let name = tokens.get(k)?;
    if tokens.get(k + 1).is_some_and(|t| t == ",") {
        return None;
    }
    match name.split_once('.') {
        Some((db, table)) => Some((Some(unquote(db)), unquote(table))),
        None => Some((None, unquote(name))),
    }
}

/// The first `max` identifier-like tokens: words (with `.` joins) and backticked names kept whole;
/// `,` as its own token; everything else ends a token.
fn identifier_tokens(text: &str, max: usize) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut p = 0;
    while p < bytes.len() && out.len() < max {
        let start = p;
        loop {
            match bytes.get(p) {
                Some(b'`') => p = crate::sql::split::quoted_end(bytes, p).unwrap_or(bytes.len()),
                Some(c) if c.is_ascii_alphanumeric() || *c == b'_' || *c == b'$' || *c == b'.' => p += 1,
                _ => break,
            }
        }
        if p > start {
            out.push(text[start..p].to_owned());
        } else {
            if bytes[p] == b',' {
                out.push(",".to_owned());
            }
            p += 1;
        }
    }
    out
}

fn unquote(name: &str) -> String {
    name.strip_prefix('`')
        .and_then(|n| n.strip_suffix('`'))
        .map_or_else(|| name.to_owned(), |n| n.replace("``", "`"))
}

/// The database a `DROP DATABASE|SCHEMA [IF EXISTS] name` statement drops.
fn dropped_database(text: &str) -> Option<String> {
    let words = crate::sql::split::head_words(text, 4);
    if words.first().map(String::as_str) != Some("DROP")
        || !matches!(words.get(1).map(String::as_str), Some("DATABASE" | "SCHEMA"))
    {
        return None;
    }
    let upper = text.to_ascii_uppercase();
    let at = upper.find(words[1].as_str())? + words[1].len();
    let mut rest = text[at..].trim_start();
    if rest.to_ascii_uppercase().starts_with("IF EXISTS") {
        rest = rest[9..].trim_start();
    }
    let name = match rest.strip_prefix('`') {
        Some(quoted) => quoted.split('`').next()?.to_owned(),
        None => rest.split(|c: char| c.is_whitespace() || c == ';').next()?.to_owned(),
    };
    (!name.is_empty()).then_some(name)
}

fn is_missing_table(message: &str) -> bool {
    message.contains("1146") || message.contains("doesn't exist")
}

fn is_missing_database(message: &str) -> bool {
    message.contains("1049") || message.contains("Unknown database") || message.contains("1046")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::executor::Value;
    use std::sync::Mutex;

    /// A fake Data API: understands the history and lock queries, records every other statement
    /// with its transaction and database, fails statements containing `FAIL`, and answers
    /// `Transient` to the first `flaky` calls of statements containing `FLAKY`.
    #[derive(Default)]
    struct Fake {
        state: Mutex<FakeState>,
    }

    #[derive(Default)]
    struct FakeState {
        log: Vec<String>,
        rows: BTreeMap<String, Vec<Value>>,
        pending: BTreeMap<String, Vec<(String, Vec<Value>)>>,
        next_tx: u32,
        flaky: u32,
    }

    fn text(p: &[(String, ParamValue)], name: &str) -> Value {
        match p.iter().find(|(n, _)| n == name).map(|(_, v)| v) {
            Some(ParamValue::Text(t)) => Value::Text(t.clone()),
            Some(ParamValue::Long(l)) => Value::Long(*l),
            _ => Value::Null,
        }
    }

    impl Executor for Fake {
        async fn execute(&self, r: Request) -> Result<Outcome, ExecError> {
            let mut s = self.state.lock().unwrap();
            let sql = r.sql.clone();
            if sql.contains("_lock` SET")
                || sql.starts_with("INSERT IGNORE")
                || (sql.starts_with("CREATE TABLE IF NOT EXISTS") && sql.contains("`aurora_migrate_history"))
            {
                return Ok(Outcome { rows: vec![], updated: 1 });
            }
            if sql.starts_with("SELECT `version`") {
                let rows = s.rows.values().cloned().collect();
                return Ok(Outcome { rows, updated: 0 });
            }
            if sql.starts_with("INSERT INTO `app`.`aurora_migrate_history`") {
                let p = &r.params;
                let row = [
                    "version",
                    "description",
                    "script",
                    "checksum",
                    "kind",
                    "applied",
                    "total",
                    "prefix",
                    "success",
                    "error",
                    "failed_at",
                    "by",
                ]
                .iter()
                .map(|n| text(p, n))
                .chain([Value::Text("now".into()), Value::Long(0)])
                .collect::<Vec<_>>();
                let version = row[0].as_str().unwrap().to_owned();
                let applied = row[5].as_i64().unwrap();
                let what = if p.iter().any(|(n, _)| n == "inflight") { "intent" } else { "progress" };
                s.log.push(format!(
                    "{what} {version} {applied}{}",
                    r.transaction.as_ref().map(|t| format!(" in {t}")).unwrap_or_default()
                ));
                match &r.transaction {
                    Some(tx) => s.pending.entry(tx.clone()).or_default().push((version, row)),
                    None => {
                        s.rows.insert(version, row);
                    }
                }
                return Ok(Outcome { rows: vec![], updated: 1 });
            }
            if sql.contains("FLAKY") && s.flaky > 0 {
                s.flaky -= 1;
                return Err(ExecError::Transient { message: "DatabaseResumingException".into() });
            }
            let where_ = format!(
                "{}{}{}",
                r.transaction.as_ref().map(|t| format!(" in {t}")).unwrap_or_default(),
                r.database.as_ref().map(|d| format!(" @{d}")).unwrap_or_default(),
                if r.continue_after_timeout { " cat" } else { "" }
            );
            s.log.push(format!("exec {sql}{where_}"));
            if sql.contains("FAIL") {
                return Err(ExecError::Database { message: "Error 1064: syntax".into() });
            }
            if let Some(list) = sql.strip_prefix("SELECT @") {
                let n = list.split(", ").count();
                return Ok(Outcome { rows: vec![vec![Value::Long(0); n]], updated: 0 });
            }
            Ok(Outcome::default())
        }
        async fn begin(&self, _database: Option<&str>) -> Result<String, ExecError> {
            let mut s = self.state.lock().unwrap();
            s.next_tx += 1;
            let tx = format!("t{}", s.next_tx);
            s.log.push(format!("begin {tx}"));
            Ok(tx)
        }
        async fn commit(&self, tx: &str) -> Result<(), ExecError> {
            let mut s = self.state.lock().unwrap();
            s.log.push(format!("commit {tx}"));
            for (v, row) in s.pending.remove(tx).unwrap_or_default() {
                s.rows.insert(v, row);
            }
            Ok(())
        }
        async fn rollback(&self, tx: &str) -> Result<(), ExecError> {
            let mut s = self.state.lock().unwrap();
            s.log.push(format!("rollback {tx}"));
            s.pending.remove(tx);
            Ok(())
        }
    }

    fn scripts(files: &[(&str, &str)]) -> (tempfile::TempDir, Scripts) {
        let dir = tempfile::tempdir().unwrap();
        for (name, body) in files {
            std::fs::write(dir.path().join(name), body).unwrap();
        }
        let scripts = crate::scripts::source::discover(dir.path()).unwrap();
        (dir, scripts)
    }

    fn runner(fake: &Arc<Fake>) -> Runner<Fake> {
        let config = RunConfig {
            default_database: Some("app".into()),
            lease: Duration::from_secs(3600),
            retry_for: Duration::from_secs(5),
            ..RunConfig::default()
        };
        Runner::new(fake.clone(), config).unwrap()
    }

    async fn migrate(fake: &Arc<Fake>, scripts: &Scripts) -> Report {
        runner(fake).migrate(scripts, false, &mut |_| {}).await.unwrap()
    }

    fn log(fake: &Fake) -> Vec<String> {
        std::mem::take(&mut fake.state.lock().unwrap().log)
    }

    #[tokio::test]
    async fn ddl_runs_alone_and_dml_runs_in_a_transaction_with_its_progress() {
        let fake = Arc::new(Fake::default());
        let (_d, s) = scripts(&[("V1__a.sql", "CREATE TABLE a (id INT);\nINSERT INTO a VALUES (1);\nUPDATE a SET id = 2;\nCREATE INDEX i ON a (id);")]);
        let report = migrate(&fake, &s).await;
        assert!(report.ok, "{:?}", report.problems);
        assert_eq!(
            log(&fake),
            [
                // A DDL statement is recorded as in flight before it is sent.
                "intent 1 0",
                "exec CREATE TABLE a (id INT) @app cat",
                "progress 1 1",
                "begin t1",
                "exec INSERT INTO a VALUES (1) in t1 @app",
                "exec UPDATE a SET id = 2 in t1 @app",
                // The progress write also records the next (DDL) statement as in flight.
                "intent 1 3 in t1",
                "commit t1",
                "exec CREATE INDEX i ON a (id) @app cat",
                "progress 1 4",
            ]
        );
        assert_eq!(report.applied, 1);
        assert_eq!(report.current_version.as_deref(), Some("1"));
    }

    #[tokio::test]
    async fn a_failing_statement_rolls_back_its_segment_records_progress_and_a_rerun_resumes() {
        let fake = Arc::new(Fake::default());
        let (dir, s) = scripts(&[(
            "V1__a.sql",
            "CREATE TABLE a (id INT);\nINSERT INTO a VALUES (1);\nINSERT FAIL;\nINSERT INTO a VALUES (3);",
        )]);
        let report = migrate(&fake, &s).await;
        assert!(!report.ok);
        assert!(
            report.problems[0].starts_with("V1__a.sql:3: migration 1 failed at statement 3 of 4: Error 1064"),
            "{:?}",
            report.problems
        );
        let first = log(&fake);
        assert!(first.contains(&"rollback t1".to_owned()), "{first:?}");
        let row = report.databases[0].entries[0].history.clone().unwrap();
        assert_eq!((row.applied, row.success, row.failed_at.as_deref()), (1, false, Some("V1__a.sql:3")));

        // Fix the failing statement (after the applied part): the rerun starts at statement 2.
        std::fs::write(dir.path().join("V1__a.sql"), "CREATE TABLE a (id INT);\nINSERT INTO a VALUES (1);\nINSERT INTO a VALUES (2);\nINSERT INTO a VALUES (3);").unwrap();
        let s = crate::scripts::source::discover(dir.path()).unwrap();
        let report = migrate(&fake, &s).await;
        assert!(report.ok, "{:?}", report.problems);
        let second = log(&fake);
        assert!(!second.iter().any(|l| l.contains("CREATE TABLE a")), "applied twice: {second:?}");
        assert_eq!(second.iter().filter(|l| l.starts_with("exec INSERT")).count(), 3, "{second:?}");
        assert_eq!(report.databases[0].entries[0].history.as_ref().unwrap().applied, 4);
    }

    #[tokio::test]
    async fn a_rerun_refuses_when_the_applied_part_changed() {
        let fake = Arc::new(Fake::default());
        let (dir, s) = scripts(&[("V1__a.sql", "CREATE TABLE a (id INT);\nINSERT FAIL;")]);
        migrate(&fake, &s).await;
        std::fs::write(dir.path().join("V1__a.sql"), "CREATE TABLE b (id INT);\nINSERT INTO b VALUES (1);")
            .unwrap();
        let s = crate::scripts::source::discover(dir.path()).unwrap();
        log(&fake);
        let report = migrate(&fake, &s).await;
        assert!(!report.ok);
        assert!(report.problems[0].contains("have changed since"), "{:?}", report.problems);
        assert!(!log(&fake).iter().any(|l| l.starts_with("exec")), "nothing may run");
    }

    #[tokio::test]
    async fn session_statements_are_replayed_in_each_segment_and_use_switches_database() {
        let fake = Arc::new(Fake::default());
        let (_d, s) = scripts(&[(
            "V1__a.sql",
            "SET foreign_key_checks = 0;\nLOCK TABLES a WRITE;\nINSERT INTO a VALUES (1);\nUNLOCK TABLES;\nCREATE TABLE b (id INT);\nUSE other;\nINSERT INTO c VALUES (1);\nCOMMIT;",
        )]);
        assert!(migrate(&fake, &s).await.ok);
        assert_eq!(
            log(&fake),
            [
                "begin t1",
                "exec SET foreign_key_checks = 0 in t1 @app",
                "exec INSERT INTO a VALUES (1) in t1 @app",
                // The value is read back, and later segments restore it with one statement.
                "exec SELECT @@SESSION.foreign_key_checks in t1 @app",
                "intent 1 4 in t1",
                "commit t1",
                "begin t2",
                "exec SET @@SESSION.foreign_key_checks = 0 in t2 @app",
                "exec CREATE TABLE b (id INT) in t2 @app",
                "progress 1 5 in t2",
                "commit t2",
                // USE starts the next segment, whose calls go to the new database.
                "begin t3",
                "exec SET @@SESSION.foreign_key_checks = 0 in t3 @other",
                "exec INSERT INTO c VALUES (1) in t3 @other",
                "progress 1 8 in t3",
                "commit t3",
            ]
        );
    }

    #[tokio::test]
    async fn transient_failures_are_retried_without_applying_twice() {
        let fake = Arc::new(Fake::default());
        fake.state.lock().unwrap().flaky = 2;
        let (_d, s) = scripts(&[("V1__a.sql", "INSERT INTO a VALUES (1);\nINSERT INTO FLAKY VALUES (2);")]);
        let report = migrate(&fake, &s).await;
        assert!(report.ok, "{:?}", report.problems);
        let l = log(&fake);
        assert_eq!(l.iter().filter(|x| x.starts_with("commit")).count(), 1, "{l:?}");
        assert_eq!(l.iter().filter(|x| x.starts_with("rollback")).count(), 2, "{l:?}");
    }

    #[tokio::test]
    async fn applied_migrations_are_not_run_again() {
        let fake = Arc::new(Fake::default());
        let (_d, s) =
            scripts(&[("V1__a.sql", "CREATE TABLE a (id INT);"), ("V2__b.sql", "CREATE TABLE b (id INT);")]);
        assert_eq!(migrate(&fake, &s).await.applied, 2);
        log(&fake);
        let report = migrate(&fake, &s).await;
        assert_eq!(report.applied, 0);
        assert!(!log(&fake).iter().any(|l| l.starts_with("exec")));
        assert_eq!(report.current_version.as_deref(), Some("2"));
    }

    #[test]
    fn ddl_statements_name_the_table_they_change() {
        let t = |db: Option<&str>, table: &str| Some((db.map(str::to_owned), table.to_owned()));
        assert_eq!(ddl_table("CREATE TABLE a (id INT)"), t(None, "a"));
        assert_eq!(
            ddl_table("create temporary table if not exists `odd name` (id int)"),
            t(None, "odd name")
        );
        assert_eq!(ddl_table("ALTER TABLE shop.orders ADD COLUMN x INT"), t(Some("shop"), "orders"));
        assert_eq!(ddl_table("ALTER ONLINE IGNORE TABLE `s`.`o` ADD x INT"), t(Some("s"), "o"));
        assert_eq!(ddl_table("CREATE UNIQUE INDEX i ON orders (x)"), t(None, "orders"));
        assert_eq!(ddl_table("CREATE INDEX IF NOT EXISTS i ON orders (x)"), t(None, "orders"));
        assert_eq!(ddl_table("DROP INDEX i ON orders"), t(None, "orders"));
        assert_eq!(ddl_table("DROP TABLE IF EXISTS a"), t(None, "a"));
        assert_eq!(ddl_table("/*!40000 ALTER TABLE `a` DISABLE KEYS */"), t(None, "a"));
        assert_eq!(ddl_table("DROP TABLE a, b"), None);
        assert_eq!(ddl_table("CREATE VIEW v AS SELECT 1"), None);
        assert_eq!(ddl_table("RENAME TABLE a TO b"), None);
    }

    #[test]
    fn dropped_databases_are_read_from_drop_statements() {
        assert_eq!(dropped_database("DROP SCHEMA IF EXISTS sakila").as_deref(), Some("sakila"));
        assert_eq!(dropped_database("drop database `odd name`").as_deref(), Some("odd name"));
        assert_eq!(dropped_database("DROP TABLE sakila"), None);
        assert_eq!(dropped_database("CREATE DATABASE x"), None);
    }

    #[tokio::test]
    async fn a_script_dropping_the_history_database_is_refused_before_anything_runs() {
        let fake = Arc::new(Fake::default());
        let (_d, s) = scripts(&[(
            "V1__a.sql",
            "CREATE TABLE a (id INT);\nDROP SCHEMA IF EXISTS app;\nCREATE SCHEMA app;",
        )]);
        let report = migrate(&fake, &s).await;
        assert!(!report.ok);
        assert!(
            report.problems[0].contains("V1__a.sql:2: statement 2 of 3 drops database app"),
            "{:?}",
            report.problems
        );
        assert!(!log(&fake).iter().any(|l| l.starts_with("exec")));
    }

    #[tokio::test]
    async fn a_deadline_stops_at_a_statement_boundary() {
        let fake = Arc::new(Fake::default());
        let (_d, s) = scripts(&[("V1__a.sql", "CREATE TABLE a (id INT);")]);
        let config = RunConfig {
            default_database: Some("app".into()),
            deadline: Some(Instant::now()),
            ..RunConfig::default()
        };
        let report =
            Runner::new(fake.clone(), config).unwrap().migrate(&s, false, &mut |_| {}).await.unwrap();
        assert!(!report.ok);
        assert!(report.problems[0].contains("deadline"), "{:?}", report.problems);
        assert!(!log(&fake).iter().any(|l| l.starts_with("exec")));
    }
}
