//! Fleets: the same top-level scripts applied to many tenant databases, each with its own history
//! and lease, in parallel with a bound. Owns the selection (a list, or a `LIKE` pattern matched on
//! the server's schemas at run time), the bounded fan-out and the [`FleetReport`]; each database is
//! run by an ordinary [`Runner`], so the per-database engine is the same as for one database.
//!
//! Rules:
//! - A pattern is matched when the command runs, on `information_schema.schemata`, so a tenant
//!   created since the last deploy is picked up without a change. System schemas never match.
//! - One database's failure (a failed script, a lock held by another run, a lost connection) is
//!   that database's outcome; the others go on. The fleet is ok only when every database is.
//! - Scripts in per-database folders keep their meaning: they run once, in their own database,
//!   before the tenants, as one entry of the report named by the folders.
//! - `validate` checks the scripts offline once for the whole fleet (their errors are the fleet's
//!   problems, listed once); each database adds only what its history says.
//! - A database whose turn comes after the run's deadline is not started (`not_started`): it costs
//!   no call, and the next run takes it. One already started stops at a statement boundary, as a
//!   single database does.

use std::collections::BTreeSet;
use std::fmt;
use std::future::Future;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde::Serialize;

use crate::apply::error::call_error;
use crate::apply::executor::{Executor, Request};
use crate::apply::report::{Event, Report};
use crate::apply::retry::retry;
use crate::apply::{Operation, RunConfig, RunError, Runner};
use crate::scripts::source::Scripts;
use crate::table::table;

/// Schemas of the server itself: never a tenant, whatever the pattern says.
pub const SYSTEM_SCHEMAS: [&str; 4] = ["information_schema", "mysql", "performance_schema", "sys"];

/// Default number of databases migrated at once.
pub const DEFAULT_PARALLEL: usize = 8;

/// The most databases migrated at once (the CLI's `--parallel`, the Lambda's settings and fields).
pub const MAX_PARALLEL: usize = 1024;

/// Which databases form the fleet.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Selection {
    /// These databases, in this order (duplicates dropped).
    List(Vec<String>),
    /// Every database whose name matches this `LIKE` pattern (`%` any run, `_` one character,
    /// `\` escapes), case-sensitively as schema names are on Linux.
    Pattern(String),
}

/// Why a list or a pattern does not make a fleet.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SelectionError {
    /// Both a list and a pattern.
    #[error("give either a list of databases or a pattern, not both")]
    Both,
    /// A list with no name in it.
    #[error("the list of databases is empty: name at least one, such as tenant_a")]
    EmptyList,
    /// A pattern of nothing but white space.
    #[error("the database pattern is empty: give a LIKE pattern such as tenant_%")]
    EmptyPattern,
    /// A pattern ending in an escape that escapes nothing.
    #[error("the database pattern {0:?} ends with a lone backslash: escape it as \\\\ or remove it")]
    LoneBackslash(String),
}

impl Selection {
    /// The fleet a list and a pattern ask for (`None` when neither is given), with the same rules
    /// for every front end (the CLI, the function's environment and commands, the CDK construct):
    /// not both, a list names at least one database (names trimmed, empty items dropped), a pattern
    /// is not empty and does not end in a lone `\`.
    pub fn new(
        list: Option<Vec<String>>,
        pattern: Option<String>,
    ) -> Result<Option<Selection>, SelectionError> {
        match (list, pattern) {
            (Some(_), Some(_)) => Err(SelectionError::Both),
            (Some(list), None) => {
                let names: Vec<String> =
                    list.iter().map(|d| d.trim()).filter(|d| !d.is_empty()).map(str::to_owned).collect();
                if names.is_empty() {
                    return Err(SelectionError::EmptyList);
                }
                Ok(Some(Selection::List(names)))
            }
            (None, Some(pattern)) => {
                if pattern.trim().is_empty() {
                    return Err(SelectionError::EmptyPattern);
                }
                if pattern.chars().rev().take_while(|c| *c == '\\').count() % 2 == 1 {
                    return Err(SelectionError::LoneBackslash(pattern));
                }
                Ok(Some(Selection::Pattern(pattern)))
            }
            (None, None) => Ok(None),
        }
    }
}

impl fmt::Display for Selection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Selection::List(names) => write!(f, "databases {}", names.join(",")),
            Selection::Pattern(p) => write!(f, "databases like '{p}'"),
        }
    }
}

/// Why a fleet command could not start (a database's own failure is in the report instead).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FleetError {
    /// `--databases` named no database.
    #[error("--databases names no database: give a comma-separated list such as tenant_a,tenant_b")]
    EmptyList,
    /// `--parallel 0`.
    #[error("--parallel must be at least 1 (got 0)")]
    NoParallelism,
    /// The server's list of schemas could not be read.
    #[error("listing the server's databases to match '{pattern}'")]
    Schemas {
        /// The pattern.
        pattern: String,
        /// The cause.
        #[source]
        source: RunError,
    },
    /// The scripts of the per-database folders failed before the tenants ran.
    #[error("the per-database folders")]
    Folders(#[source] RunError),
    /// The scripts could not be read for the offline check of `validate`.
    #[error("checking the scripts")]
    Check(#[source] RunError),
}

/// `name LIKE pattern` as MySQL evaluates it, byte for byte (no collation folding).
pub fn like(pattern: &str, name: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let n: Vec<char> = name.chars().collect();
    // Iterative matcher with backtracking to the last `%`: linear in practice, no recursion.
    let (mut pi, mut ni) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while ni < n.len() {
        let (token, width) = match p.get(pi) {
            Some('\\') if pi + 1 < p.len() => (Some(Token::Char(p[pi + 1])), 2),
            Some('%') => (Some(Token::Any), 1),
            Some('_') => (Some(Token::One), 1),
            Some(&c) => (Some(Token::Char(c)), 1),
            None => (None, 0),
        };
        match token {
            Some(Token::Any) => {
                star = Some((pi + 1, ni));
                pi += 1;
                continue;
            }
            Some(Token::One) => {
                pi += width;
                ni += 1;
                continue;
            }
            Some(Token::Char(c)) if c == n[ni] => {
                pi += width;
                ni += 1;
                continue;
            }
            _ => {}
        }
        match star {
            Some((sp, sn)) => {
                pi = sp;
                ni = sn + 1;
                star = Some((sp, sn + 1));
            }
            None => return false,
        }
    }
    p[pi..].iter().all(|&c| c == '%')
}

enum Token {
    Any,
    One,
    Char(char),
}

/// The fleet's databases: the list as given, or the server's schemas matching the pattern (sorted,
/// system schemas left out).
pub fn select(selection: &Selection, server_schemas: &[String]) -> Vec<String> {
    match selection {
        Selection::List(names) => {
            let mut seen = BTreeSet::new();
            names.iter().filter(|n| seen.insert(n.as_str())).cloned().collect()
        }
        Selection::Pattern(pattern) => {
            let mut out: Vec<String> = server_schemas
                .iter()
                .filter(|s| !SYSTEM_SCHEMAS.contains(&s.to_ascii_lowercase().as_str()))
                .filter(|s| like(pattern, s))
                .cloned()
                .collect();
            out.sort();
            out.dedup();
            out
        }
    }
}

/// Runs `work` on every item with at most `parallel` at once, and returns the results in the
/// items' order. The bound holds for the work itself, not only for its start, and the items start
/// in their order (a database later in the list never goes before an earlier one, so a deadline
/// leaves the end of the list for the next run).
pub async fn bounded<T, R, F, Fut>(items: Vec<T>, parallel: usize, work: F) -> Vec<R>
where
    T: Send + 'static,
    R: Send + 'static,
    F: Fn(T) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = R> + Send + 'static,
{
    let gate = Arc::new(tokio::sync::Semaphore::new(parallel.max(1)));
    let mut tasks = tokio::task::JoinSet::new();
    let count = items.len();
    for (i, item) in items.into_iter().enumerate() {
        // Taken here, before the item's task exists, so that items start in order.
        let permit = Arc::clone(&gate).acquire_owned().await.expect("the semaphore is never closed");
        let future = work(item);
        tasks.spawn(async move {
            let _permit = permit;
            (i, future.await)
        });
    }
    let mut out: Vec<Option<R>> = (0..count).map(|_| None).collect();
    while let Some(done) = tasks.join_next().await {
        match done {
            Ok((i, r)) => out[i] = Some(r),
            // A panicking database's task must not hide the others' results; re-raise it after.
            Err(e) if e.is_panic() => std::panic::resume_unwind(e.into_panic()),
            Err(_) => {}
        }
    }
    out.into_iter().flatten().collect()
}

/// Lists the server's schemas (through the Data API, like every other call); a read, so failures
/// that may be retried are, for `retry_for`.
pub async fn list_schemas<E: Executor>(exec: &E, retry_for: Duration) -> Result<Vec<String>, RunError> {
    let request = Request::new("SELECT `SCHEMA_NAME` FROM `information_schema`.`SCHEMATA`");
    let outcome = retry(retry_for, true, || exec.execute(request.clone()))
        .await
        .map_err(call_error("listing databases"))?;
    Ok(outcome.rows.iter().filter_map(|row| row.first()?.as_str().map(str::to_owned)).collect())
}

/// How one database of the fleet ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Everything the command had to do is done.
    Ok,
    /// A migration failed, or the plan or the validation found problems.
    Failed,
    /// Another run held the database's lease for longer than the lock wait.
    Locked,
    /// The command could not run on this database (a call failed, the scripts could not be read).
    Error,
    /// Its turn came after the run's deadline: nothing was sent to it; the next run takes it.
    NotStarted,
}

/// One database of the fleet.
#[derive(Debug, Clone, Serialize)]
pub struct FleetEntry {
    pub database: String,
    pub outcome: Outcome,
    /// Migrations applied now.
    pub applied: usize,
    /// Newest applied version after the run.
    pub current_version: Option<String>,
    /// Why it is not ok.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    /// Wall time of this database, milliseconds.
    pub ms: u128,
    /// The database's own report (absent when the command could not run on it).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub report: Option<Report>,
}

impl FleetEntry {
    fn from_result(database: String, result: Result<Report, RunError>, started: Instant) -> FleetEntry {
        let ms = started.elapsed().as_millis();
        match result {
            Ok(report) => FleetEntry {
                outcome: if report.ok { Outcome::Ok } else { Outcome::Failed },
                applied: report.applied,
                current_version: report.current_version.clone(),
                problems: report.problems.clone(),
                database,
                ms,
                report: Some(report),
            },
            Err(e) => FleetEntry {
                outcome: if matches!(e, RunError::Locked { .. }) { Outcome::Locked } else { Outcome::Error },
                applied: 0,
                current_version: None,
                problems: vec![error_chain(&e)],
                database,
                ms,
                report: None,
            },
        }
    }
}

impl FleetEntry {
    /// A database left alone because its turn came after the deadline.
    fn not_started(database: String) -> FleetEntry {
        FleetEntry {
            database,
            outcome: Outcome::NotStarted,
            applied: 0,
            current_version: None,
            problems: vec![
                "not started: the run's deadline came before its turn; the next run takes it".into()
            ],
            ms: 0,
            report: None,
        }
    }
}

/// An error and its causes on one line.
fn error_chain(e: &dyn std::error::Error) -> String {
    let mut text = e.to_string();
    let mut source = e.source();
    while let Some(cause) = source {
        text.push_str(&format!(": {cause}"));
        source = cause.source();
    }
    text
}

/// Counts over the fleet.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct FleetSummary {
    pub databases: usize,
    pub ok: usize,
    pub failed: usize,
    pub locked: usize,
    pub error: usize,
    /// Databases whose turn came after the deadline.
    pub not_started: usize,
    /// Migrations applied now, over all databases.
    pub applied: usize,
}

/// The report of a fleet command: every database with its outcome, and the counts.
#[derive(Debug, Clone, Serialize)]
pub struct FleetReport {
    /// Which command.
    pub command: String,
    /// Which databases (the list or the pattern).
    pub selection: String,
    /// How many ran at once.
    pub parallel: usize,
    /// Content hash of the scripts.
    pub content_hash: String,
    /// True when every database is ok and the fleet has no problem of its own.
    pub ok: bool,
    /// Problems of the whole fleet rather than of one database: the offline check's errors of
    /// `validate`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub problems: Vec<String>,
    pub summary: FleetSummary,
    /// The per-database folders first, then the tenants in name (or list) order.
    pub databases: Vec<FleetEntry>,
}

impl FleetReport {
    fn new(command: &str, selection: &Selection, parallel: usize, scripts: &Scripts) -> FleetReport {
        FleetReport::from_entries(
            command,
            &selection.to_string(),
            parallel,
            &scripts.content_hash,
            Vec::new(),
        )
    }

    /// The report of `command` over `selection` from entries gathered elsewhere (a deploy's state
    /// machine runs each database in its own invocations), with the counts made here.
    pub fn from_entries(
        command: &str,
        selection: &str,
        parallel: usize,
        content_hash: &str,
        entries: Vec<FleetEntry>,
    ) -> FleetReport {
        let mut report = FleetReport {
            command: command.to_owned(),
            selection: selection.to_owned(),
            parallel,
            content_hash: content_hash.to_owned(),
            ok: true,
            problems: Vec::new(),
            summary: FleetSummary::default(),
            databases: Vec::new(),
        };
        for entry in entries {
            report.push(entry);
        }
        report
    }

    fn push(&mut self, entry: FleetEntry) {
        let s = &mut self.summary;
        s.databases += 1;
        s.applied += entry.applied;
        match entry.outcome {
            Outcome::Ok => s.ok += 1,
            Outcome::Failed => s.failed += 1,
            Outcome::Locked => s.locked += 1,
            Outcome::Error => s.error += 1,
            Outcome::NotStarted => s.not_started += 1,
        }
        self.ok &= entry.outcome == Outcome::Ok;
        self.databases.push(entry);
    }

    /// Not ok only because statements still run on the server (nothing failed): every database
    /// that is not ok stopped with `still_running`, and the fleet has no problem of its own.
    pub fn only_still_running(&self) -> bool {
        !self.ok
            && self.problems.is_empty()
            && self.failures().all(|entry| entry.report.as_ref().is_some_and(|r| r.still_running))
    }

    /// What ran over which databases, and the counts of outcomes (`not started` only when there
    /// are some).
    pub fn counts(&self) -> String {
        let s = &self.summary;
        let not_started =
            if s.not_started > 0 { format!(", {} not started", s.not_started) } else { String::new() };
        format!(
            "{} over {} ({} at once): {} database(s): {} ok, {} failed, {} locked, {} error{not_started}; \
             {} migration(s) applied now",
            self.command,
            self.selection,
            self.parallel,
            s.databases,
            s.ok,
            s.failed,
            s.locked,
            s.error,
            s.applied
        )
    }

    /// The databases that are not ok, in report order.
    pub fn failures(&self) -> impl Iterator<Item = &FleetEntry> {
        self.databases.iter().filter(|d| d.outcome != Outcome::Ok)
    }
}

impl fmt::Display for FleetReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows: Vec<[String; 5]> = self
            .databases
            .iter()
            .map(|d| {
                let outcome = serde_json::to_value(d.outcome).ok();
                [
                    d.database.clone(),
                    outcome.as_ref().and_then(|v| v.as_str()).unwrap_or("?").to_owned(),
                    d.applied.to_string(),
                    d.current_version.clone().unwrap_or_else(|| "-".into()),
                    format!("{:.1}s", d.ms as f64 / 1000.0),
                ]
            })
            .collect();
        table(f, "", ["DATABASE", "OUTCOME", "APPLIED", "VERSION", "TIME"], &rows)?;
        for p in &self.problems {
            writeln!(f, "problem: scripts: {p}")?;
        }
        for d in self.failures() {
            for p in &d.problems {
                writeln!(f, "problem: {}: {p}", d.database)?;
            }
        }
        write!(f, "{}; content hash {}", self.counts(), self.content_hash)
    }
}

/// Progress events from every database at once.
pub type OnFleetEvent = dyn Fn(&Event) + Send + Sync;

/// Runs `operation` (migrate, status, validate) over a fleet of databases.
pub struct Fleet<E> {
    exec: Arc<E>,
    config: RunConfig,
    parallel: usize,
}

impl<E: Executor + 'static> Fleet<E> {
    /// A fleet over `exec`; `config` is each database's (its default database is replaced by the
    /// tenant's name), `parallel` the most databases migrated at once.
    pub fn new(exec: Arc<E>, config: RunConfig, parallel: usize) -> Result<Self, FleetError> {
        if parallel == 0 {
            return Err(FleetError::NoParallelism);
        }
        Ok(Fleet { exec, config, parallel })
    }

    /// The databases `selection` stands for now.
    pub async fn databases(&self, selection: &Selection) -> Result<Vec<String>, FleetError> {
        let schemas = match selection {
            Selection::List(names) if names.is_empty() => return Err(FleetError::EmptyList),
            Selection::List(_) => Vec::new(),
            Selection::Pattern(pattern) => list_schemas(self.exec.as_ref(), self.config.retry_for)
                .await
                .map_err(|source| FleetError::Schemas { pattern: pattern.clone(), source })?,
        };
        Ok(select(selection, &schemas))
    }

    /// Runs `operation` on the per-database folders' scripts (once each), then on every database of
    /// `selection` with the top-level scripts, at most `parallel` at once.
    pub async fn run(
        &self,
        operation: &Operation,
        selection: &Selection,
        scripts: &Scripts,
        dir: &Path,
        on_event: Arc<OnFleetEvent>,
    ) -> Result<FleetReport, FleetError> {
        let tenants = self.databases(selection).await?;
        let (top, folders) = split_scripts(scripts);
        let command = match operation {
            Operation::Migrate { dry_run: true } => "migrate --dry-run",
            Operation::Migrate { .. } => "migrate",
            Operation::Status => "status",
            Operation::Validate => "validate",
            Operation::Repair { .. } => "repair",
            Operation::Baseline { .. } => "baseline",
        };
        let mut report = FleetReport::new(command, selection, self.parallel, scripts);
        if *operation == Operation::Validate {
            let offline = crate::check::check_dir(dir).map_err(|e| FleetError::Check(e.into()))?;
            let errors = offline.diagnostics.iter().filter(|d| d.severity == crate::check::Severity::Error);
            report.problems.extend(errors.map(|d| d.to_string()));
            report.ok = report.problems.is_empty();
        }
        if !folders.migrations.is_empty() {
            let config = RunConfig { default_database: None, ..self.config.clone() };
            let runner = Runner::new(self.exec.clone(), config).map_err(FleetError::Folders)?;
            let started = Instant::now();
            let mut events = |e: &Event| on_event(e);
            let result = run_one(&runner, operation, &folders, dir, &mut events).await;
            let folder_report = result.map_err(FleetError::Folders)?;
            // One entry for the folders' run: the runner's report does not attribute plan problems
            // to a database, so splitting it would lose or misplace them.
            let names: Vec<&str> = folder_report.databases.iter().map(|d| d.database.as_str()).collect();
            report.push(FleetEntry::from_result(names.join(","), Ok(folder_report.clone()), started));
        }
        let top = Arc::new(top);
        let (exec, config, operation, dir) =
            (self.exec.clone(), self.config.clone(), operation.clone(), PathBuf::from(dir));
        let entries = bounded(tenants, self.parallel, move |database: String| {
            let (exec, top, operation, dir, on_event) =
                (exec.clone(), top.clone(), operation.clone(), dir.clone(), on_event.clone());
            let config = RunConfig {
                default_database: Some(database.clone()),
                history_database: None,
                ..config.clone()
            };
            async move {
                // The same rule as between two statements: at the deadline, nothing new starts.
                if config.deadline.is_some_and(|deadline| Instant::now() >= deadline) {
                    return FleetEntry::not_started(database);
                }
                let started = Instant::now();
                let mut events = |e: &Event| on_event(e);
                let result = match Runner::new(exec, config) {
                    Ok(runner) => run_one(&runner, &operation, &top, &dir, &mut events).await,
                    Err(e) => Err(e),
                };
                FleetEntry::from_result(database, result, started)
            }
        })
        .await;
        for entry in entries {
            report.push(entry);
        }
        Ok(report)
    }
}

/// Runs `operation` on one database of the fleet; `validate` without the offline check, which the
/// fleet makes once.
async fn run_one<E: Executor + 'static>(
    runner: &Runner<E>,
    operation: &Operation,
    scripts: &Scripts,
    dir: &Path,
    on_event: &mut crate::apply::migration::OnEvent<'_>,
) -> Result<Report, RunError> {
    match operation {
        Operation::Validate => runner.validate_history(scripts).await,
        other => runner.run(other, scripts, dir, on_event).await,
    }
}

/// The top-level scripts (the tenants' scripts) and those of the per-database folders.
pub fn split_scripts(scripts: &Scripts) -> (Scripts, Scripts) {
    let (top, folders): (Vec<_>, Vec<_>) =
        scripts.migrations.iter().cloned().partition(|m| m.database.is_none());
    (Scripts { migrations: top, ..scripts.clone() }, Scripts { migrations: folders, ..scripts.clone() })
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

    #[test]
    fn a_selection_is_a_list_or_a_pattern_never_both_and_never_empty() {
        let list = |names: &[&str]| Some(names.iter().map(|n| n.to_string()).collect::<Vec<_>>());
        let pattern = |p: &str| Some(p.to_owned());
        assert_eq!(Selection::new(None, None), Ok(None));
        assert_eq!(
            Selection::new(list(&[" a ", "", "b"]), None),
            Ok(Some(Selection::List(vec!["a".into(), "b".into()])))
        );
        assert_eq!(Selection::new(None, pattern("t\\_%")), Ok(Some(Selection::Pattern("t\\_%".into()))));
        assert_eq!(Selection::new(None, pattern("t\\\\")), Ok(Some(Selection::Pattern("t\\\\".into()))));
        assert_eq!(Selection::new(list(&["a"]), pattern("t%")), Err(SelectionError::Both));
        assert_eq!(Selection::new(list(&[" ", ""]), None), Err(SelectionError::EmptyList));
        assert_eq!(Selection::new(None, pattern("  ")), Err(SelectionError::EmptyPattern));
        assert_eq!(Selection::new(None, pattern("t\\")), Err(SelectionError::LoneBackslash("t\\".into())));
        assert_eq!(
            Selection::new(None, pattern("t\\")).map_err(|e| e.to_string()),
            Err(r#"the database pattern "t\\" ends with a lone backslash: escape it as \\ or remove it"#
                .into())
        );
    }

    #[test]
    fn like_follows_mysql_wildcards_and_escapes() {
        let cases = [
            ("tenant_%", "tenant_a", true),
            ("tenant_%", "tenant_", true),
            ("tenant_%", "tenant", false),
            ("tenant\\_%", "tenantXa", false),
            ("tenant\\_%", "tenant_a", true),
            ("tenant_%", "tenantXa", true),
            ("%_prod", "eu_prod", true),
            ("%_prod", "eu_prod_old", false),
            ("t%a%z", "tXaYaZz", true),
            ("t%a%z", "tXaYaZ", false),
            ("%", "", true),
            ("", "", true),
            ("", "a", false),
            ("a_c", "abc", true),
            ("a_c", "ac", false),
            ("Tenant_%", "tenant_a", false),
            ("100\\%", "100%", true),
            ("100\\%", "1000", false),
            ("münchen_%", "münchen_1", true),
        ];
        for (pattern, name, expected) in cases {
            assert_eq!(like(pattern, name), expected, "{name:?} LIKE {pattern:?}");
        }
    }

    #[test]
    fn a_pattern_selects_matching_schemas_sorted_without_system_schemas() {
        let server: Vec<String> =
            ["tenant_b", "mysql", "sys", "tenant_a", "app", "information_schema", "performance_schema"]
                .map(String::from)
                .to_vec();
        assert_eq!(select(&Selection::Pattern("tenant_%".into()), &server), ["tenant_a", "tenant_b"]);
        assert_eq!(select(&Selection::Pattern("%".into()), &server), ["app", "tenant_a", "tenant_b"]);
        assert!(select(&Selection::Pattern("%s%".into()), &server).is_empty());
    }

    #[test]
    fn a_list_keeps_its_order_and_drops_repeats() {
        let list = Selection::List(["b", "a", "b", "c"].map(String::from).to_vec());
        assert_eq!(select(&list, &[]), ["b", "a", "c"]);
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bounded_never_runs_more_than_the_bound_and_keeps_the_order() {
        for parallel in [1, 3, 8] {
            let now = Arc::new(AtomicUsize::new(0));
            let most = Arc::new(AtomicUsize::new(0));
            let (n, m) = (now.clone(), most.clone());
            let out = bounded((0..20).collect(), parallel, move |i: u32| {
                let (now, most) = (n.clone(), m.clone());
                async move {
                    let running = now.fetch_add(1, SeqCst) + 1;
                    most.fetch_max(running, SeqCst);
                    tokio::time::sleep(std::time::Duration::from_millis(5)).await;
                    now.fetch_sub(1, SeqCst);
                    i * 2
                }
            })
            .await;
            assert_eq!(out, (0..20).map(|i| i * 2).collect::<Vec<_>>());
            assert_eq!(most.load(SeqCst), parallel, "parallel {parallel}");
        }
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn bounded_starts_the_items_in_their_order() {
        for parallel in [1, 2, 5] {
            let started = Arc::new(std::sync::Mutex::new(Vec::new()));
            let s = started.clone();
            bounded((0..40).collect(), parallel, move |i: u32| {
                let s = s.clone();
                // Later items finish first, so a free place goes to whoever asks first.
                let pause = std::time::Duration::from_micros(u64::from(40 - i) * 50);
                async move {
                    s.lock().expect("lock").push(i);
                    tokio::time::sleep(pause).await
                }
            })
            .await;
            let started = started.lock().expect("lock").clone();
            // One at a time: exactly in order. More: items given a place together may begin in
            // either order, but none begins before an item `parallel` places earlier.
            for (position, &item) in started.iter().enumerate() {
                assert!(position.abs_diff(item as usize) < parallel, "parallel {parallel}: {started:?}");
            }
        }
    }

    #[test]
    fn the_text_report_names_each_failed_database_and_counts() {
        let scripts = Scripts {
            dir: PathBuf::from("s"),
            migrations: Vec::new(),
            ignored: Vec::new(),
            content_hash: "sha256:00".into(),
        };
        let mut report = FleetReport::new("migrate", &Selection::Pattern("tenant_%".into()), 8, &scripts);
        let started = Instant::now();
        let mut ok = Report::new("migrate", "sha256:00");
        ok.applied = 2;
        report.push(FleetEntry::from_result("tenant_a".into(), Ok(ok), started));
        let mut failed = Report::new("migrate", "sha256:00");
        failed.ok = false;
        failed.problems.push("V2__b.sql:1: statement 1 of 1: boom".into());
        report.push(FleetEntry::from_result("tenant_b".into(), Ok(failed), started));
        report.push(FleetEntry::from_result("tenant_c".into(), Err(RunError::NoDatabase), started));
        assert!(!report.ok);
        assert_eq!(
            report.summary,
            FleetSummary { databases: 3, ok: 1, failed: 1, locked: 0, error: 1, not_started: 0, applied: 2 }
        );
        let text = report.to_string();
        assert!(text.contains("problem: tenant_b: V2__b.sql:1: statement 1 of 1: boom"), "{text}");
        assert!(text.contains("problem: tenant_c: no default database"), "{text}");
        assert!(text.contains("3 database(s): 1 ok, 1 failed, 0 locked, 1 error; 2 migration(s)"), "{text}");
        let json = serde_json::to_value(&report).expect("serializes");
        assert_eq!(json["databases"][1]["outcome"], "failed");
        assert_eq!(json["summary"]["failed"], 1);
    }
}
