//! The runner's failures, as types: [`RunError`] stops a whole command; [`MigrationError`] stops one
//! database's migrations and is reported (the run goes on to say what is applied); [`StepError`] is
//! what went wrong inside one segment, carried by [`MigrationError::StatementFailed`] with the
//! statement it happened at.
//!
//! The texts are the ones users read in reports and CloudFormation answers: each names the script,
//! the line, the statement and what to do.

use std::time::Duration;

use crate::apply::executor::ExecError;
use crate::apply::plan::PlanProblem;
use crate::scripts::source::SourceError;
use crate::sql::calls::TooLong;
use crate::sql::split::SplitError;

/// Why a command stopped.
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
        database: String,
        /// The other run.
        owner: String,
        /// Seconds left on its lease.
        seconds: i64,
        /// How long this run waited.
        waited: Duration,
    },
    /// The lease was lost during the run (another run may have taken over).
    #[error("database {0}: the migration lock was lost during the run; nothing more was applied")]
    LeaseLost(String),
    /// No database for the top-level scripts.
    #[error("no default database: set --database (AURORA_MIGRATE_DATABASE) or a `dbname` in the secret")]
    NoDatabase,
    /// The history table name is not a plain identifier.
    #[error("{0}")]
    BadTableName(#[from] crate::apply::history::BadTableName),
    /// `baseline` on a database that already has history.
    #[error(
        "database {database} already has migration history (version {version}): baseline marks a \
         database that has none"
    )]
    HasHistory {
        database: String,
        /// A version in its history.
        version: String,
    },
    /// A script that does not split (shown by `migrate --dry-run`).
    #[error("{script}:{source}")]
    Split {
        script: String,
        /// Where and why.
        #[source]
        source: SplitError,
    },
}

/// Adds what a failed call was for.
pub(crate) fn call_error(what: impl Into<String>) -> impl FnOnce(ExecError) -> RunError {
    let what = what.into();
    move |source| RunError::Call { what, source }
}

/// Why a database's migrations stopped.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum MigrationError {
    /// The plan refused to run (changed checksums, missing scripts, ...).
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Plan(Vec<PlanProblem>),
    /// The history could not be read.
    #[error(transparent)]
    Run(#[from] Box<RunError>),
    /// The script cannot be read.
    #[error(transparent)]
    Source(#[from] SourceError),
    /// The script changed between discovery and the moment it was to run.
    #[error(
        "{script}: the file changed while the run was going on (checksum {planned} when the run \
         started, {now} now); nothing of it was sent: run again once the file is final"
    )]
    ChangedDuringRun {
        script: String,
        /// The checksum the plan was made with.
        planned: String,
        /// The checksum read just before running it.
        now: String,
    },
    /// The script does not split.
    #[error("{script}:{source}: run `aurora-migrate check` first")]
    Split {
        script: String,
        /// Where and why.
        #[source]
        source: SplitError,
    },
    /// The script drops the database that holds the history.
    #[error(
        "{script}:{line}: statement {statement} of {total} drops database {database}, which holds the \
         migration history: keep the history elsewhere with --history-database \
         (AURORA_MIGRATE_HISTORY_DATABASE)"
    )]
    DropsHistory {
        script: String,
        /// Line of the statement.
        line: usize,
        /// Statement number (1-based).
        statement: usize,
        /// Statements in the script.
        total: usize,
        /// The history's database.
        database: String,
    },
    /// A statement that cannot run through aurora-migrate (`ROLLBACK`, `SAVEPOINT`, ...).
    #[error("{script}:{line}: statement {statement} of {total}: {why}")]
    Refused {
        script: String,
        /// Line of the statement.
        line: usize,
        /// Statement number (1-based).
        statement: usize,
        /// Statements in the script.
        total: usize,
        /// Why, and what to do.
        why: &'static str,
    },
    /// Finding out whether a statement left in flight by an earlier run took effect failed.
    #[error("{script}: {source}")]
    InFlight {
        script: String,
        /// What failed.
        #[source]
        source: StepError,
    },
    /// Recording progress outside a segment failed.
    #[error(transparent)]
    Progress(StepError),
    /// The run's deadline came: stopped at a statement boundary.
    #[error(
        "{script} stopped before statement {statement} of {total} ({script}:{line}) because the run's \
         deadline came; progress is recorded and the next run resumes there"
    )]
    Deadline {
        script: String,
        /// The next statement (1-based).
        statement: usize,
        /// Statements in the script.
        total: usize,
        /// Its line.
        line: usize,
    },
    /// The lease was lost between segments.
    #[error("database {0}: the migration lock was lost during the run; nothing more was applied")]
    LeaseLost(String),
    /// The run stopped while a statement it sent may still run on the server; it stays recorded in
    /// flight for the next run.
    #[error("{script}:{line}: migration {version}, statement {statement} of {total}: {source}")]
    StillRunning {
        version: String,
        script: String,
        /// Statement number (1-based).
        statement: usize,
        /// Statements in the script.
        total: usize,
        /// Line of the statement.
        line: usize,
        /// Why the run could not wait for it.
        #[source]
        source: StepError,
    },
    /// A statement failed; its segment was rolled back and the failure recorded.
    #[error(
        "{script}:{line}: migration {version} failed at statement {statement} of {total}: {source}{}",
        applied_note(*.applied)
    )]
    StatementFailed {
        version: String,
        script: String,
        /// Statement number (1-based).
        statement: usize,
        /// Statements in the script.
        total: usize,
        /// Line of the statement.
        line: usize,
        /// Statements applied and recorded before its segment.
        applied: usize,
        /// What went wrong.
        #[source]
        source: StepError,
    },
}

/// What to do about an access-denied error (a missing privilege) from a long statement's procedure.
fn privilege_hint(source: &ExecError) -> &'static str {
    // ER_DBACCESS_DENIED_ERROR, ER_TABLEACCESS_DENIED_ERROR, ER_SPECIFIC_ACCESS_DENIED_ERROR,
    // ER_PROCACCESS_DENIED_ERROR.
    if matches!(source, ExecError::Database { code: Some(1044 | 1142 | 1227 | 1370), .. }) {
        "; the database user needs the CREATE ROUTINE, ALTER ROUTINE and EXECUTE privileges on the \
         statement's database"
    } else {
        ""
    }
}

fn applied_note(applied: usize) -> String {
    if applied > 0 {
        format!(" ({applied} statement(s) before it are applied and recorded)")
    } else {
        String::new()
    }
}

/// What went wrong inside a segment (or while resolving a statement left in flight).
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StepError {
    /// The statement failed.
    #[error("{0}")]
    Statement(ExecError),
    /// A statement inside a transaction outlived the call timeout.
    #[error(
        "{0}: a statement inside a transaction must finish within the Data API's call timeout; move it \
         to a migration of its own or make it faster"
    )]
    TimeoutInTransaction(ExecError),
    /// The statement cannot be cut into calls that fit.
    #[error("{0}")]
    TooLong(TooLong),
    /// `BeginTransaction` failed.
    #[error("starting a transaction: {0}")]
    Begin(ExecError),
    /// Restoring the session at the start of a segment failed.
    #[error("replaying session statement `{sql}`: {source}")]
    Replay {
        /// The statement.
        sql: String,
        /// The cause.
        source: ExecError,
    },
    /// Reading back session variables failed.
    #[error("reading back session variables: {0}")]
    ReadBack(ExecError),
    /// The progress write failed.
    #[error("recording progress: {0}")]
    Progress(ExecError),
    /// The in-flight record before a DDL statement failed.
    #[error("recording the statement about to run: {0}")]
    Intent(ExecError),
    /// A progress write found the lease gone.
    #[error("database {0}: the migration lock was lost during the run; nothing more was applied")]
    LeaseLost(String),
    /// The commit failed.
    #[error("committing: {0}")]
    Commit(ExecError),
    /// The commit's answer was lost and the transaction was still open: rolled back.
    #[error("committing: {0}; rolled back")]
    CommitRolledBack(ExecError),
    /// The commit's answer was lost and the transaction's end could not be confirmed.
    #[error("committing: {commit}; then: {then}")]
    CommitUnknown {
        /// The commit's failure.
        commit: ExecError,
        /// The failure while finding out.
        then: ExecError,
    },
    /// Reading the history to find out what landed failed.
    #[error("{0}")]
    History(Box<RunError>),
    /// Asking whether a statement still runs failed.
    #[error("checking whether statement still runs: {0}")]
    StillRunning(ExecError),
    /// Reading the schema fingerprint failed.
    #[error("reading the schema fingerprint: {0}")]
    Fingerprint(ExecError),
    /// A statement outlived its call without a connection to wait for.
    #[error(
        "still running on the server: the statement outlived its call and the Data API gave no \
         connection id to wait for; it stays recorded in flight, and the next run waits for it to \
         finish and records it"
    )]
    NoConnectionId,
    /// The run's deadline came while a statement still ran on the server.
    #[error(
        "still running on the server{}: the run's deadline came first; it stays recorded in flight, and \
         the next run waits for it to finish and records it",
        .0.map(|id| format!(" (connection {id})")).unwrap_or_default()
    )]
    RunningOnServer(Option<i64>),
    /// An earlier call of a long DML statement held its lock past the retry budget.
    #[error(
        "still running on the server: an earlier call of the statement's procedure still ran when the \
         retry budget was spent; it stays recorded in flight, and the next run waits for it to finish \
         and records it"
    )]
    EarlierCallRuns,
    /// An earlier call of a long DML statement that held its lock has ended without committing it:
    /// the statement is called again.
    #[error("an earlier call of the statement's procedure ran when it was called; it is called again")]
    EarlierCallEnded,
    /// Polling the connection that runs the statement failed.
    #[error("waiting for connection {id}: {source}")]
    Waiting {
        /// The connection.
        id: i64,
        /// The cause.
        source: ExecError,
    },
    /// A DDL statement's answer was lost and nothing records what the schema was before it.
    #[error("{0}; and no in-flight record to check it against")]
    LostWithoutRecord(ExecError),
    /// A DML statement outlived the call timeout and cannot run through a stored procedure.
    #[error(
        "the statement outlived the Data API's call timeout inside a transaction, and cannot be \
         applied through a stored procedure because {0}: make it faster or split it"
    )]
    LongStatement(&'static str),
    /// Creating or calling the stored procedure of a long DML statement failed.
    #[error(
        "{what} the stored procedure that applies this statement (it outlived the Data API's call \
         timeout inside a transaction): {source}{}",
        privilege_hint(.source)
    )]
    Procedure {
        /// `creating` or `calling`.
        what: &'static str,
        /// The cause.
        source: ExecError,
    },
    /// A DDL statement's answer was lost and the schema shows it did not run.
    #[error("{0}; it did not take effect")]
    LostNotRun(ExecError),
}

impl StepError {
    /// Whether a DDL statement that failed with this error may have taken effect (or may still be
    /// running): its fate is then for the next run to settle from the in-flight record, which the
    /// failure record must not erase.
    pub(crate) fn ddl_fate_unknown(&self) -> bool {
        match self {
            StepError::Statement(e) => matches!(e, ExecError::Ambiguous { .. } | ExecError::Timeout { .. }),
            StepError::Progress(_)
            | StepError::History(_)
            | StepError::StillRunning(_)
            | StepError::Fingerprint(_)
            | StepError::NoConnectionId
            | StepError::RunningOnServer(_)
            | StepError::EarlierCallRuns
            | StepError::Waiting { .. }
            | StepError::LostWithoutRecord(_) => true,
            _ => false,
        }
    }
}

impl StepError {
    /// The run stopped while the statement may still run on the server.
    pub(crate) fn still_running(&self) -> bool {
        matches!(self, StepError::RunningOnServer(_) | StepError::EarlierCallRuns | StepError::NoConnectionId)
    }
}

impl MigrationError {
    /// The run stopped while a statement may still run on the server: not a failure of the script;
    /// the next run waits for it.
    pub fn still_running(&self) -> bool {
        match self {
            MigrationError::StillRunning { .. } => true,
            MigrationError::InFlight { source, .. } => source.still_running(),
            _ => false,
        }
    }
}

/// A segment's failure: which statement, why, and whether running the segment again is safe.
#[derive(Debug)]
pub(crate) struct Failure {
    /// 0-based statement index.
    pub index: usize,
    pub error: StepError,
    /// Running the whole segment again cannot apply anything twice.
    pub retry: bool,
}
