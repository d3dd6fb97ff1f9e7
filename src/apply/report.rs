//! What the runner tells: progress [`Event`]s while it goes, and the [`Report`] of a command
//! (`Serialize` for JSON, [`RunText`] for people: a status table per database, then problems and
//! notes).

use std::fmt;
use std::time::Duration;

use serde::Serialize;

use crate::apply::plan::{Applied, Entry, Plan, State};
use crate::scripts::source::{Migration, Script, Version};
use crate::table::table;

/// Progress events, for a live line per migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Event {
    /// A migration starts (at statement `from`).
    Started {
        database: String,
        version: String,
        script: String,
        /// First statement to run (0-based).
        from: usize,
        /// Statements in the script.
        total: usize,
    },
    /// A migration is fully applied.
    Applied {
        database: String,
        version: String,
        script: String,
        /// Statements run now.
        statements: usize,
        duration: Duration,
    },
    /// A migration stopped on an error.
    Failed {
        database: String,
        version: String,
        /// `file:line`.
        at: String,
        /// Statement number (1-based).
        statement: usize,
        error: String,
    },
}

/// A migration applied in this run.
#[derive(Debug, Clone, Serialize)]
pub struct AppliedNow {
    pub version: String,
    pub script: String,
    /// Statements run in this run.
    pub statements: usize,
    /// Milliseconds.
    pub ms: u128,
}

/// One database's part of a report.
#[derive(Debug, Clone, Serialize)]
pub struct DatabaseReport {
    pub database: String,
    /// Every version and its state (after the run).
    pub entries: Vec<StatusEntry>,
    /// Applied in this run.
    pub applied: Vec<AppliedNow>,
    /// Why this database stopped, if it did.
    pub error: Option<String>,
    /// It stopped while a statement may still run on the server (the next run waits for it).
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub still_running: bool,
    /// It stopped at the run's deadline between statements, with nothing failed: the next run goes
    /// on where it stopped.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unfinished: bool,
}

impl DatabaseReport {
    /// The state of `plan` over `history`, with what this run applied and why it stopped.
    pub(crate) fn new(
        database: String,
        plan: &Plan,
        history: &[Applied],
        applied: Vec<AppliedNow>,
        error: Option<String>,
    ) -> DatabaseReport {
        let entries = plan
            .entries
            .iter()
            .map(|e| StatusEntry {
                entry: e.clone(),
                history: history.iter().find(|h| h.version == e.version).cloned(),
            })
            .collect();
        DatabaseReport { database, entries, applied, error, still_running: false, unfinished: false }
    }
}

/// A status line.
#[derive(Debug, Clone, Serialize)]
pub struct StatusEntry {
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
    /// Not ok because a statement may still run on the server: not a failure; the next run waits
    /// for it and records it.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub still_running: bool,
    /// Not ok only because the run's deadline came between statements: the next run goes on.
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    pub unfinished: bool,
    /// Plan problems (validate) or the error that stopped the run.
    pub problems: Vec<String>,
    /// What went well and is worth saying (`repair`'s removed records and accepted checksums).
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// For dry runs: what would run.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub would_run: Vec<String>,
}

impl Report {
    /// An empty report of `command` over scripts with `content_hash`.
    pub(crate) fn new(command: &str, content_hash: &str) -> Report {
        Report {
            command: command.to_owned(),
            databases: Vec::new(),
            applied: 0,
            current_version: None,
            content_hash: content_hash.to_owned(),
            ok: true,
            still_running: false,
            unfinished: false,
            problems: Vec::new(),
            notes: Vec::new(),
            would_run: Vec::new(),
        }
    }

    /// Sets the current version: the newest applied one of the first database.
    pub(crate) fn set_current_version(&mut self) {
        self.current_version = self.databases.first().and_then(|d| {
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
        });
    }
}

/// The dry-run lines for `migration` from statement `from`.
pub(crate) fn describe_steps(
    database: &str,
    migration: &Migration,
    from: usize,
) -> Result<Vec<String>, crate::apply::RunError> {
    let script = Script::read(&migration.path)?;
    let mut out = vec![format!("database {database}: {} (from statement {})", migration.script, from + 1)];
    for (i, s) in script.statements().enumerate().skip(from) {
        let s =
            s.map_err(|source| crate::apply::RunError::Split { script: migration.script.clone(), source })?;
        let first_line: String = s.text.lines().next().unwrap_or("").chars().take(100).collect();
        out.push(format!("  {}:{}: [{}] {first_line}", migration.script, s.line, i + 1));
    }
    Ok(out)
}

/// Text rendering of a runner [`Report`]: a status table per database.
pub struct RunText<'a>(pub &'a Report);

impl fmt::Display for RunText<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let report = self.0;
        for line in &report.would_run {
            writeln!(f, "{line}")?;
        }
        for db in &report.databases {
            writeln!(f, "database {}", db.database)?;
            let rows: Vec<[String; 5]> = db.entries.iter().map(status_row).collect();
            table(f, "  ", ["VERSION", "STATE", "STATEMENTS", "INSTALLED AT", "SCRIPT"], &rows)?;
            if let Some(error) = &db.error {
                writeln!(f, "  stopped: {error}")?;
            }
        }
        for problem in &report.problems {
            writeln!(f, "problem: {problem}")?;
        }
        for note in &report.notes {
            writeln!(f, "note: {note}")?;
        }
        write!(
            f,
            "{}: {} migration(s) applied now; current version {}; content hash {}",
            report.command,
            report.applied,
            report.current_version.as_deref().unwrap_or("none"),
            report.content_hash
        )
    }
}

fn status_row(e: &StatusEntry) -> [String; 5] {
    let state = serde_json::to_value(&e.entry).ok();
    let state = state.as_ref().and_then(|v| v["state"].as_str()).unwrap_or("?").to_owned();
    let (statements, at) = match &e.history {
        Some(h) => (format!("{}/{}", h.applied, h.total), h.installed_at.clone()),
        None => ("-".into(), "-".into()),
    };
    [e.entry.version.clone(), state, statements, at, e.entry.script.clone()]
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notes_are_printed_as_notes_not_problems() {
        let mut report = Report::new("repair", "sha256:00");
        report.notes.push("database app: removed 1 failed record(s)".into());
        let text = RunText(&report).to_string();
        assert!(text.contains("note: database app: removed 1 failed record(s)"), "{text}");
        assert!(!text.contains("problem:"), "{text}");
    }
}
