//! Online: applying migrations to a database through the [`executor::Executor`] trait. Knows nothing
//! of the AWS SDK, the Lambda or the command line.
//!
//! A command runs database group after database group (top-level scripts first): take the lease
//! ([`lease`]), read the history, plan ([`plan`], pure), apply segment after segment
//! ([`migration`], [`segment`], [`transaction`], [`ddl`]), record progress ([`progress`]), release.
//!
//! A run of statements that are not DDL (at most [`segment::MAX_SEGMENT_STATEMENTS`], and no longer
//! than its time budget, [`segment::time_budget`]) goes into one Data API transaction together with
//! its progress write, so it is applied entirely or not at all. Each DDL statement (MySQL commits it
//! implicitly) runs alone, outside a transaction, with `continueAfterTimeout`; its progress write
//! follows. After a call timeout the runner waits for the statement to finish on the server. A DML
//! statement that outlives the call timeout inside its transaction runs alone, through a temporary
//! stored procedure that commits it with its progress write on the server ([`procedure`]).
//!
//! Session state (`SET foreign_key_checks = 0`, `SET NAMES`, user variables) lives on a connection,
//! and Data API calls outside a transaction may each land on another one. So the session is carried
//! into every segment ([`session`]), and a DDL statement that needs it runs in a transaction of its
//! own (pinning one connection) instead.
//!
//! `USE db` switches the `database` field of the following calls. `LOCK TABLES`, `UNLOCK TABLES` and
//! the script's own transaction control (`START TRANSACTION`, `COMMIT`, `SET autocommit`) are counted
//! but not sent: table locks cannot outlive a call here, and the runner owns transactions.
//!
//! Nothing is applied twice: a progress write is fenced by the lease ([`fence`] inside a
//! transaction) and lands in the same transaction as the statements it counts; a call that may or
//! may not have run is never resent. A run that stops while a statement still runs on the server
//! says so (`still_running` in the report) and leaves it in flight for the next run.

mod db;
mod ddl;
pub mod error;
pub mod executor;
#[cfg(test)]
mod fake;
mod fence;
pub mod fleet;
pub mod history;
mod lease;
mod migration;
pub mod plan;
mod procedure;
mod progress;
pub mod report;
mod retry;
mod segment;
pub mod session;
#[cfg(test)]
mod tests;
mod transaction;

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

pub use error::{MigrationError, RunError};
pub use fleet::{Fleet, FleetError, FleetReport, Selection};
pub use migration::OnEvent;
pub use report::{DatabaseReport, Event, Report, RunText};

use crate::scripts::source::{Migration, Scripts, Version};
use db::Db;
use error::call_error;
use executor::Executor;
use history::{Progress, Tables};
use migration::plan_for;
use plan::{AppliedKind, PlanOptions, State};
use report::describe_steps;

/// How a run behaves. [`RunConfig::default`] holds the defaults every front end starts from.
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
    /// The lease owner, fixed: one logical run that goes on over several processes (a deploy's state
    /// machine invoking the function again) re-takes its own lease at once instead of waiting for
    /// it to expire. `None`: a new owner per runner.
    pub lease_owner: Option<String>,
}

impl RunConfig {
    /// Default wait for another run's lease.
    pub const LOCK_WAIT: Duration = Duration::from_secs(120);
    /// Default lease length.
    pub const LEASE: Duration = Duration::from_secs(60);
    /// Default time transient failures are retried.
    pub const RETRY_FOR: Duration = Duration::from_secs(300);

    /// Stops at `deadline`; waiting for a lock or retrying a paused cluster must not outlast it.
    pub fn until(self, deadline: Instant) -> RunConfig {
        let left = deadline.saturating_duration_since(Instant::now());
        RunConfig {
            lock_wait: self.lock_wait.min(left),
            retry_for: self.retry_for.min(left),
            deadline: Some(deadline),
            ..self
        }
    }
}

impl Default for RunConfig {
    fn default() -> Self {
        RunConfig {
            default_database: None,
            history_table: crate::names::DEFAULT_HISTORY_TABLE.to_owned(),
            history_database: None,
            installed_by: "aurora-migrate".to_owned(),
            lock_wait: RunConfig::LOCK_WAIT,
            lease: RunConfig::LEASE,
            retry_for: RunConfig::RETRY_FOR,
            poll_every: Duration::from_secs(2),
            deadline: None,
            plan: PlanOptions::default(),
            init_sql: Vec::new(),
            lease_owner: None,
        }
    }
}

/// What to do: the online commands, shared by the command line and the Lambda.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Operation {
    /// Apply what the plan says (with `dry_run`, only say what would run).
    Migrate { dry_run: bool },
    /// Every migration's state, changing nothing.
    Status,
    /// The offline check plus the history's view; `ok` only when nothing needs attention.
    Validate,
    /// Remove failed records (and with `accept_checksums` record changed checksums).
    Repair { accept_checksums: bool },
    /// Mark `database` (default: the default database) as being at `version`.
    Baseline { version: Version, database: Option<String> },
}

/// The runner: one executor, one configuration.
pub struct Runner<E> {
    exec: Arc<E>,
    config: RunConfig,
    tables: Tables,
    owner: String,
}

impl<E: Executor + 'static> Runner<E> {
    /// A runner over `exec`.
    pub fn new(exec: Arc<E>, config: RunConfig) -> Result<Self, RunError> {
        let tables = Tables::new(&config.history_table)?;
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.subsec_nanos())
            .unwrap_or(0);
        let owner = match &config.lease_owner {
            Some(owner) => owner.clone(),
            None => format!("{}#{}-{nanos:08x}", config.installed_by, std::process::id()),
        };
        Ok(Runner { exec, config, tables, owner })
    }

    /// Runs `operation` over `scripts`, read from `dir` (the offline check of `validate` reads it).
    pub async fn run(
        &self,
        operation: &Operation,
        scripts: &Scripts,
        dir: &Path,
        on_event: &mut OnEvent<'_>,
    ) -> Result<Report, RunError> {
        match operation {
            Operation::Migrate { dry_run } => self.migrate(scripts, *dry_run, on_event).await,
            Operation::Status => self.status(scripts).await,
            Operation::Validate => self.validate(scripts, dir).await,
            Operation::Repair { accept_checksums } => self.repair(scripts, *accept_checksums).await,
            Operation::Baseline { version, database } => {
                self.baseline(scripts, version, database.as_deref()).await
            }
        }
    }

    /// The runner's handle on `database`: its history and lock tables are in `history_database` for
    /// the top-level scripts when one is set, else in the group's own database.
    fn db<'r>(&'r self, database: &'r str) -> Db<'r, E> {
        let tables = match &self.config.history_database {
            Some(h) if self.config.default_database.as_deref() == Some(database) => {
                self.tables.in_database(h)
            }
            _ => self.tables.in_database(database),
        };
        Db {
            exec: &self.exec,
            config: &self.config,
            owner: &self.owner,
            name: database,
            tables,
            server: &self.tables,
            left_open: Default::default(),
        }
    }

    /// The database groups of the scripts, in run order: top-level scripts first.
    fn groups(&self, scripts: &Scripts) -> Result<Vec<(String, Vec<Migration>)>, RunError> {
        let mut groups: BTreeMap<Option<String>, Vec<Migration>> = BTreeMap::new();
        for m in &scripts.migrations {
            groups.entry(m.database.clone()).or_default().push(m.clone());
        }
        let default = || self.config.default_database.clone().ok_or(RunError::NoDatabase);
        let mut out = Vec::new();
        if let Some(top) = groups.remove(&None) {
            out.push((default()?, top));
        } else if let Some(db) = &self.config.default_database {
            if groups.is_empty() {
                out.push((db.clone(), Vec::new()));
            }
        }
        out.extend(groups.into_iter().filter_map(|(db, migrations)| Some((db?, migrations))));
        if out.is_empty() {
            out.push((default()?, Vec::new()));
        }
        Ok(out)
    }

    /// The state of `database` without changing anything.
    async fn look(
        &self,
        database: String,
        migrations: &[Migration],
    ) -> Result<(DatabaseReport, plan::Plan), RunError> {
        let history = self.db(&database).read_history().await?;
        let plan = plan_for(&self.config.plan, migrations, &history);
        Ok((DatabaseReport::new(database, &plan, &history, Vec::new(), None), plan))
    }

    /// Status of every database, without taking the lock or changing anything.
    pub async fn status(&self, scripts: &Scripts) -> Result<Report, RunError> {
        let mut report = Report::new("status", &scripts.content_hash);
        for (database, migrations) in self.groups(scripts)? {
            let (database, plan) = self.look(database, &migrations).await?;
            report.problems.extend(plan.problems.iter().map(|p| p.to_string()));
            report.databases.push(database);
        }
        report.ok = report.problems.is_empty();
        report.set_current_version();
        Ok(report)
    }

    /// `validate`: the offline check of every script in `dir` plus the history's view (changed
    /// checksums, missing scripts, failed migrations). `ok` only when nothing needs attention.
    pub async fn validate(&self, scripts: &Scripts, dir: &Path) -> Result<Report, RunError> {
        let offline = crate::check::check_dir(dir)?;
        let mut report = self.validate_history(scripts).await?;
        for d in offline.diagnostics.iter().filter(|d| d.severity == crate::check::Severity::Error) {
            report.problems.push(d.to_string());
        }
        report.ok = report.problems.is_empty();
        Ok(report)
    }

    /// The history's part of `validate` (a fleet makes the offline check once for all databases).
    pub(crate) async fn validate_history(&self, scripts: &Scripts) -> Result<Report, RunError> {
        let mut report = self.status(scripts).await?;
        report.command = "validate".into();
        for e in report.databases.iter().flat_map(|db| &db.entries) {
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
        report.ok = report.problems.is_empty();
        Ok(report)
    }

    /// Applies what the plan says, database after database; stops at the first failure. With
    /// `dry_run`, only says what would run.
    pub async fn migrate(
        &self,
        scripts: &Scripts,
        dry_run: bool,
        on_event: &mut OnEvent<'_>,
    ) -> Result<Report, RunError> {
        let mut report =
            Report::new(if dry_run { "migrate --dry-run" } else { "migrate" }, &scripts.content_hash);
        for (database, migrations) in self.groups(scripts)? {
            if dry_run || !report.ok {
                let (entry, plan) = self.look(database, &migrations).await?;
                if dry_run {
                    report.problems.extend(plan.problems.iter().map(|p| p.to_string()));
                    for &(i, from) in &plan.steps {
                        report.would_run.extend(describe_steps(&entry.database, &migrations[i], from)?);
                    }
                }
                report.databases.push(entry);
                continue;
            }
            let entry = self.migrate_database(database, &migrations, on_event).await?;
            report.applied += entry.applied.len();
            report.still_running |= entry.still_running;
            report.unfinished |= entry.unfinished;
            if let Some(e) = &entry.error {
                report.ok = false;
                report.problems.push(e.clone());
            }
            report.databases.push(entry);
        }
        if dry_run {
            report.ok = report.problems.is_empty();
        }
        report.set_current_version();
        Ok(report)
    }

    /// Applies the migrations of one database under its lease.
    async fn migrate_database(
        &self,
        database: String,
        migrations: &[Migration],
        on_event: &mut OnEvent<'_>,
    ) -> Result<DatabaseReport, RunError> {
        let db = self.db(&database);
        let lease = lease::take(&db).await?;
        let (applied, error) = migration::migrate_database(&db, migrations, &lease, on_event).await;
        let history = db.read_history().await;
        lease::release(&db, lease).await;
        // A failed run's own error says more than a failure to read history afterwards.
        let history = match (history, &error) {
            (Ok(history), _) => history,
            (Err(e), None) => return Err(e),
            (Err(_), Some(_)) => Vec::new(),
        };
        let plan = plan_for(&self.config.plan, migrations, &history);
        let still_running = error.as_ref().is_some_and(MigrationError::still_running);
        let unfinished = matches!(error, Some(MigrationError::Deadline { .. }));
        let error = error.map(|e| e.to_string());
        let mut entry = DatabaseReport::new(database.clone(), &plan, &history, applied, error);
        entry.still_running = still_running;
        entry.unfinished = unfinished;
        Ok(entry)
    }

    /// Clears failed records, and with `accept_checksums` records the current checksum of changed
    /// applied scripts.
    pub async fn repair(&self, scripts: &Scripts, accept_checksums: bool) -> Result<Report, RunError> {
        let mut report = Report::new("repair", &scripts.content_hash);
        for (database, migrations) in self.groups(scripts)? {
            let db = self.db(&database);
            let lease = lease::take(&db).await?;
            let result = repair_database(&db, &migrations, accept_checksums).await;
            let history = db.read_history().await;
            lease::release(&db, lease).await;
            report.notes.extend(result?);
            let history = history?;
            let plan = plan_for(&self.config.plan, &migrations, &history);
            report.databases.push(DatabaseReport::new(database.clone(), &plan, &history, Vec::new(), None));
        }
        report.set_current_version();
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
        let mut report = Report::new("baseline", &scripts.content_hash);
        let database = database
            .map(str::to_owned)
            .or_else(|| self.config.default_database.clone())
            .ok_or(RunError::NoDatabase)?;
        let db = self.db(&database);
        let lease = lease::take(&db).await?;
        let result = record_baseline(&db, version).await;
        let history = db.read_history().await;
        lease::release(&db, lease).await;
        result?;
        let history = history?;
        let migrations: Vec<Migration> = scripts
            .migrations
            .iter()
            .filter(|m| m.database.as_deref().unwrap_or(&database) == database)
            .cloned()
            .collect();
        let plan = plan_for(&self.config.plan, &migrations, &history);
        report.databases.push(DatabaseReport::new(database.clone(), &plan, &history, Vec::new(), None));
        report.set_current_version();
        Ok(report)
    }
}

/// `repair` of one database under its lease; returns what it did.
async fn repair_database<E: Executor>(
    db: &Db<'_, E>,
    migrations: &[Migration],
    accept_checksums: bool,
) -> Result<Vec<String>, RunError> {
    let database = db.name;
    let removed = db
        .idempotent(db.tables.delete_failed(db.owner))
        .await
        .map_err(call_error(format!("database {database}: removing failed records")))?;
    let mut notes = Vec::new();
    if removed.updated > 0 {
        notes.push(format!("database {database}: removed {} failed record(s)", removed.updated));
    }
    if !accept_checksums {
        return Ok(notes);
    }
    let history = db.read_history().await?;
    for h in history.iter().filter(|h| h.success && h.kind == AppliedKind::Script) {
        let Some(m) = migrations.iter().find(|m| m.version.as_str() == h.version && m.checksum != h.checksum)
        else {
            continue;
        };
        db.idempotent(db.tables.set_checksum(&h.version, &m.checksum, db.owner))
            .await
            .map_err(call_error(format!("database {database}: updating a checksum")))?;
        notes.push(format!("database {database}: {} now recorded with checksum {}", m.script, m.checksum));
    }
    Ok(notes)
}

/// `baseline` of one database under its lease.
async fn record_baseline<E: Executor>(db: &Db<'_, E>, version: &Version) -> Result<(), RunError> {
    let history = db.read_history().await?;
    if let Some(h) = history.iter().find(|h| h.kind == AppliedKind::Script) {
        return Err(RunError::HasHistory { database: db.name.to_owned(), version: h.version.clone() });
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
        installed_by: &db.config.installed_by,
        inflight: None,
        inflight_scope: None,
        inflight_call: None,
    };
    let outcome = db
        .idempotent(db.tables.record(&record, db.owner))
        .await
        .map_err(call_error(format!("database {}: recording the baseline", db.name)))?;
    if outcome.updated == 0 {
        return Err(RunError::LeaseLost(db.name.to_owned()));
    }
    Ok(())
}
