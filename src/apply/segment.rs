//! Cutting a migration into segments, without I/O.
//!
//! A segment is one DDL statement (MySQL commits it implicitly, so it runs alone, outside a
//! transaction), one DML statement too long for a transaction call (run through a stored
//! procedure), or a run of other statements in one database, at most [`MAX_SEGMENT_STATEMENTS`]
//! (they run in one Data API transaction with their progress write; the run stops taking
//! statements once its [`time_budget`] is spent). `USE db` starts a new segment: the following
//! calls go to `db`. Before anything runs, a migration is refused when a remaining statement cannot run here or
//! drops the database that holds the history.
//!
//! The prefix hash ([`PrefixHash`]) of the statements applied so far is recorded with each progress
//! write, so a rerun can tell whether the applied part of a script changed.

use std::collections::BTreeSet;

use sha2::{Digest, Sha256};

use crate::apply::error::MigrationError;
use crate::apply::history::Scope;
use crate::scripts::source::Migration;
use crate::sql::classify::{ddl_table, disposition, dropped_database, Disposition};
use crate::sql::split::Statement;

/// A statement ready to run.
#[derive(Debug)]
pub(crate) struct Prepared<'a> {
    pub statement: Statement<'a>,
    pub disposition: Disposition,
    /// Database in effect for it (`None` after the script dropped its current database).
    pub database: Option<String>,
}

impl Prepared<'_> {
    /// Is it sent to the database (not only counted)?
    pub fn is_sent(&self) -> bool {
        matches!(self.disposition, Disposition::Ddl | Disposition::Dml | Disposition::Session)
    }

    pub fn is_ddl(&self) -> bool {
        self.disposition == Disposition::Ddl
    }

    /// What its schema fingerprint covers: its database, and its table when it names one.
    pub fn scope(&self, default_database: &str) -> Scope {
        let current = self.database.as_deref().unwrap_or(default_database).to_owned();
        match ddl_table(self.statement.text) {
            Some((database, table)) => Scope { database: database.unwrap_or(current), table: Some(table) },
            None => Scope { database: current, table: None },
        }
    }
}

/// One segment about to run: statements `[at, end)` of the script.
pub(crate) struct Segment<'s, 'a> {
    pub statements: &'s [Prepared<'a>],
    pub at: usize,
    pub end: usize,
    /// The prefix hash once the segment is applied.
    pub prefix: &'s str,
    pub started: std::time::Instant,
    /// The next statement, a DDL one, to record as in flight with this segment's progress write.
    pub announce: Option<&'s Scope>,
    /// The hash of the statements before the segment.
    pub before: &'s PrefixHash,
    /// A run of DML statements takes no more statements once this instant has passed (see
    /// [`time_budget`]); it commits what it ran, and the next segment goes on from there.
    pub cut_at: Option<std::time::Instant>,
}

impl Segment<'_, '_> {
    /// The database its calls go to.
    pub fn database(&self) -> Option<&str> {
        self.statements[0].database.as_deref()
    }
}

/// Each statement with what the runner does with it and the database in effect at it.
pub(crate) fn prepare<'a>(statements: Vec<Statement<'a>>, database: &str) -> Vec<Prepared<'a>> {
    let mut current = Some(database.to_owned());
    let mut prepared = Vec::with_capacity(statements.len());
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
    prepared
}

/// Most statements in one transaction: a long series of statements commits its progress as it goes,
/// so that a run stopped by its deadline (checked between segments) keeps what it did, and the
/// series converges over several runs.
pub(crate) const MAX_SEGMENT_STATEMENTS: usize = 100;

/// The longest a run of DML statements keeps taking statements without a deadline: a third of the
/// Data API's 45-second call timeout. It bounds the work a rollback can lose and how long the
/// segment's row locks are held.
pub(crate) const MAX_SEGMENT_TIME: std::time::Duration = std::time::Duration::from_secs(15);

/// How long a run of DML statements starting `now` keeps taking statements: [`MAX_SEGMENT_TIME`],
/// and at most half the time left before the run's deadline, so that each segment commits its
/// progress well before the deadline (the rest of the time goes to the statement running when the
/// budget ends, the progress write and the commit). Every segment runs at least one statement.
pub(crate) fn time_budget(
    now: std::time::Instant,
    deadline: Option<std::time::Instant>,
) -> std::time::Duration {
    match deadline {
        Some(deadline) => MAX_SEGMENT_TIME.min(deadline.saturating_duration_since(now) / 2),
        None => MAX_SEGMENT_TIME,
    }
}

/// The end (exclusive) of the segment that starts at `at`. Statements in `alone` (long DML statements
/// applied through a stored procedure) are segments of their own, like DDL statements.
pub(crate) fn segment_end(prepared: &[Prepared<'_>], at: usize, alone: &BTreeSet<usize>) -> usize {
    if prepared[at].is_ddl() || alone.contains(&at) {
        return at + 1;
    }
    let mut end = at + 1;
    while end < prepared.len()
        && end - at < MAX_SEGMENT_STATEMENTS
        && !prepared[end].is_ddl()
        && !alone.contains(&end)
        && !matches!(prepared[end].disposition, Disposition::Use(_))
    {
        end += 1;
    }
    end
}

/// Why the statements from `from` on cannot run, if they cannot: one drops the database holding the
/// history, or one is refused (the script's own `ROLLBACK`, ...).
pub(crate) fn refusal(
    migration: &Migration,
    prepared: &[Prepared<'_>],
    from: usize,
    history_database: &str,
) -> Option<MigrationError> {
    let total = prepared.len();
    let remaining = || prepared.iter().enumerate().skip(from);
    if let Some((i, p)) =
        remaining().find(|(_, p)| dropped_database(p.statement.text).is_some_and(|d| d == history_database))
    {
        return Some(MigrationError::DropsHistory {
            script: migration.script.clone(),
            line: p.statement.line,
            statement: i + 1,
            total,
            database: history_database.to_owned(),
        });
    }
    remaining().find_map(|(i, p)| match p.disposition {
        Disposition::Refused(why) => Some(MigrationError::Refused {
            script: migration.script.clone(),
            line: p.statement.line,
            statement: i + 1,
            total,
            why,
        }),
        _ => None,
    })
}

/// The session statements of a segment, as sent.
pub(crate) fn session_statements(segment: &[Prepared<'_>]) -> Vec<String> {
    segment
        .iter()
        .filter(|p| p.disposition == Disposition::Session)
        .map(|p| p.statement.sent().into_owned())
        .collect()
}

/// The hash of the statements applied so far: `sha256:<hex>` over each text and a NUL.
#[derive(Debug, Clone, Default)]
pub(crate) struct PrefixHash(Sha256);

impl PrefixHash {
    pub fn add(&mut self, text: &str) {
        self.0.update(text.as_bytes());
        self.0.update([0]);
    }

    /// The hash with the statements of `segment` added.
    pub fn with(&self, segment: &[Prepared<'_>]) -> PrefixHash {
        let mut next = self.clone();
        for p in segment {
            next.add(p.statement.text);
        }
        next
    }

    pub fn hex(&self) -> String {
        format!("sha256:{}", self.0.clone().finalize().iter().map(|b| format!("{b:02x}")).collect::<String>())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepared(text: &str) -> Vec<Prepared<'_>> {
        let statements = crate::sql::split::split(text).collect::<Result<Vec<_>, _>>().expect("splits");
        prepare(statements, "app")
    }

    fn segments(text: &str) -> Vec<(usize, usize)> {
        segments_with(text, &BTreeSet::new())
    }

    fn segments_with(text: &str, alone: &BTreeSet<usize>) -> Vec<(usize, usize)> {
        let p = prepared(text);
        let mut out = Vec::new();
        let mut at = 0;
        while at < p.len() {
            let end = segment_end(&p, at, alone);
            out.push((at, end));
            at = end;
        }
        out
    }

    #[test]
    fn a_long_run_of_dml_is_cut_every_max_segment_statements() {
        let text: String = (0..250).map(|i| format!("INSERT INTO t VALUES ({i});\n")).collect();
        let text = format!("{text}CREATE TABLE u (id INT);\nINSERT INTO u VALUES (1);\n");
        let n = MAX_SEGMENT_STATEMENTS;
        assert_eq!(segments(&text), [(0, n), (n, 2 * n), (2 * n, 250), (250, 251), (251, 252)]);
    }

    fn migration() -> Migration {
        crate::scripts::source::Migration {
            version: crate::scripts::source::Version::parse("1").expect("a version"),
            description: "a".into(),
            script: "V1__a.sql".into(),
            path: "V1__a.sql".into(),
            database: None,
            checksum: "sha256:00".into(),
            scheme: crate::scripts::source::Scheme::Flyway,
        }
    }

    #[test]
    fn a_segment_takes_statements_for_a_third_of_the_call_timeout_or_half_the_time_left() {
        use std::time::{Duration, Instant};
        let now = Instant::now();
        let s = Duration::from_secs;
        for (left, budget) in [
            (None, s(15)),
            (Some(s(3600)), s(15)),
            (Some(s(30)), s(15)),
            (Some(s(10)), s(5)),
            (Some(Duration::from_millis(300)), Duration::from_millis(150)),
            (Some(s(0)), s(0)),
        ] {
            assert_eq!(time_budget(now, left.map(|l| now + l)), budget, "{left:?} left");
        }
        // A deadline already past leaves no time: the segment runs its first statement only.
        assert_eq!(time_budget(now + s(5), Some(now)), s(0));
    }

    #[test]
    fn a_long_dml_statement_is_a_segment_of_its_own() {
        let text =
            "INSERT INTO a VALUES (1);\nUPDATE a SET id = 2;\nINSERT INTO a VALUES (3);\nDELETE FROM a;";
        assert_eq!(segments(text), [(0, 4)]);
        assert_eq!(segments_with(text, &BTreeSet::from([1])), [(0, 1), (1, 2), (2, 4)]);
        assert_eq!(segments_with(text, &BTreeSet::from([0, 3])), [(0, 1), (1, 3), (3, 4)]);
    }

    #[test]
    fn a_ddl_statement_is_a_segment_of_its_own() {
        let text = "CREATE TABLE a (id INT);\nINSERT INTO a VALUES (1);\nUPDATE a SET id = 2;\nCREATE INDEX i ON a (id);";
        assert_eq!(segments(text), [(0, 1), (1, 3), (3, 4)]);
    }

    #[test]
    fn use_starts_a_segment_whose_statements_run_in_the_new_database() {
        let text =
            "SET foreign_key_checks = 0;\nINSERT INTO a VALUES (1);\nUSE other;\nINSERT INTO c VALUES (1);";
        assert_eq!(segments(text), [(0, 2), (2, 4)]);
        let p = prepared(text);
        assert_eq!(p[1].database.as_deref(), Some("app"));
        assert_eq!(p[3].database.as_deref(), Some("other"));
    }

    #[test]
    fn dropping_the_current_database_leaves_the_statements_after_it_without_one() {
        let p = prepared("USE shop;\nDROP DATABASE shop;\nCREATE DATABASE shop;");
        let databases: Vec<_> = p.iter().map(|p| p.database.as_deref()).collect();
        assert_eq!(databases, [Some("shop"), Some("shop"), None]);
    }

    #[test]
    fn a_script_dropping_the_history_database_or_rolling_back_is_refused() {
        let p = prepared("CREATE TABLE a (id INT);\nDROP SCHEMA IF EXISTS app;");
        let refused = refusal(&migration(), &p, 0, "app").map(|e| e.to_string());
        assert!(refused.is_some_and(|e| e.starts_with("V1__a.sql:2: statement 2 of 2 drops database app")));
        assert!(refusal(&migration(), &p, 0, "history").is_none());
        let p = prepared("INSERT INTO a VALUES (1);\nROLLBACK;");
        let refused = refusal(&migration(), &p, 0, "app").map(|e| e.to_string());
        assert!(refused.is_some_and(|e| e.starts_with("V1__a.sql:2: statement 2 of 2: aurora-migrate runs")));
        // Only what is still to run counts.
        assert!(refusal(&migration(), &p, 2, "app").is_none());
    }

    #[test]
    fn the_prefix_hash_covers_each_statement_and_its_boundary() {
        let p = prepared("SELECT 1;\nSELECT 2;");
        let both = PrefixHash::default().with(&p).hex();
        let mut one_by_one = PrefixHash::default();
        one_by_one.add("SELECT 1");
        one_by_one.add("SELECT 2");
        assert_eq!(both, one_by_one.hex());
        let mut joined = PrefixHash::default();
        joined.add("SELECT 1SELECT 2");
        assert_ne!(both, joined.hex());
        assert_eq!(both, crate::apply::plan::prefix_hash(["SELECT 1", "SELECT 2"]));
    }
}
