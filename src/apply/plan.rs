//! What to apply: a pure function of the scripts on disk, the history rows of one database and the
//! target. No I/O, so every rule is a table-driven test.
//!
//! Rules:
//! - an applied migration whose checksum changed is an error naming the file and both checksums
//!   (fix the file back, or `repair` to accept the new one);
//! - applied migrations missing on disk and newer than every local script are reported, not an
//!   error: that is what a CloudFormation rollback (old scripts in the layer) looks like; one missing
//!   in the middle is an error;
//! - a failed migration resumes at its first unapplied statement if the statements it applied are
//!   unchanged; otherwise it is refused with what happened and what to do;
//! - a pending script older than the newest applied one is an error unless out-of-order is allowed;
//! - a baseline row marks every script up to its version as applied without running it;
//! - `target` stops at a version; a target below what is applied is nothing to do.

use serde::Serialize;

use crate::scripts::source::{Migration, Version};

/// What kind of history row.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AppliedKind {
    /// A script that ran (or began to).
    Script,
    /// A `baseline` marker: everything up to this version counts as applied.
    Baseline,
}

/// One history row.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Applied {
    /// Version as written in the file name.
    pub version: String,
    pub description: String,
    /// Script path relative to the scripts folder.
    pub script: String,
    /// Checksum of the script when it ran.
    pub checksum: String,
    /// Statements applied so far.
    pub applied: usize,
    /// Statements in the script.
    pub total: usize,
    /// Hash of the texts of the applied statements (see [`prefix_hash`]).
    pub prefix: String,
    /// True once every statement is applied.
    pub success: bool,
    /// The error of the failed statement.
    pub error: Option<String>,
    /// `file:line` of the failed statement.
    pub failed_at: Option<String>,
    /// Script or baseline.
    pub kind: AppliedKind,
    /// Who or what applied it.
    pub installed_by: String,
    /// When (server time, `YYYY-MM-DD HH:MM:SS.ffffff`).
    pub installed_at: String,
    /// Milliseconds spent.
    pub execution_ms: i64,
    /// A DDL statement (0-based index) that was sent but whose outcome was not recorded yet,
    /// with the schema fingerprint taken just before it (see `history::Tables::fingerprint`).
    pub inflight: Option<(usize, String)>,
}

/// Hash identifying the first statements of a script: SHA-256 over each statement text followed by
/// NUL. Used to tell whether a failed migration's applied part changed.
pub fn prefix_hash<'a>(statements: impl IntoIterator<Item = &'a str>) -> String {
    use sha2::{Digest, Sha256};
    let mut hasher = Sha256::new();
    for text in statements {
        hasher.update(text.as_bytes());
        hasher.update([0]);
    }
    let digest = hasher.finalize();
    format!("sha256:{}", digest.iter().map(|b| format!("{b:02x}")).collect::<String>())
}

/// The state of one version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "kebab-case")]
pub enum State {
    /// Applied and unchanged.
    Applied,
    /// Will run.
    Pending,
    /// Failed earlier; resumes at statement `from` (0-based) of `total`.
    Resume {
        /// First statement to run.
        from: usize,
        /// Statements in the script.
        total: usize,
    },
    /// Not applied and beyond the target.
    AboveTarget,
    /// Covered by a baseline: counts as applied, never runs.
    BelowBaseline,
    /// The baseline marker itself.
    Baseline,
    /// In history, not on disk, newer than every local script (a rollback): left alone.
    NewerInHistory,
    /// Pending but older than an applied version, and out-of-order is allowed.
    OutOfOrder,
    /// Refused: see the plan's problems.
    Refused,
}

/// One line of the plan / status.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Entry {
    /// The version.
    pub version: String,
    /// Script path, when on disk (else from history).
    pub script: String,
    /// What happens to it.
    #[serde(flatten)]
    pub state: State,
}

/// What the plan found wrong; the run refuses to start while there are any.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, thiserror::Error)]
#[serde(tag = "problem", rename_all = "kebab-case")]
#[non_exhaustive]
pub enum PlanProblem {
    /// An applied script changed.
    #[error(
        "{script}: applied migration {version} has changed since it ran (applied checksum {applied}, \
         file now {local}): restore the file, or if the change is intended and already reflected in \
         the database, run `repair` to record the new checksum"
    )]
    ChangedChecksum {
        version: String,
        script: String,
        /// Checksum in history.
        applied: String,
        /// Checksum on disk.
        local: String,
    },
    /// A failed script changed in the part that was already applied.
    #[error(
        "{script}: migration {version} failed at statement {} of {total}{} with \"{error}\", and \
         the {applied} statement(s) it had applied have changed since: make the database match \
         the script by hand, then run `repair` (which clears the failed record) and migrate again",
        applied + 1, failed_at.as_deref().map(|a| format!(" ({a})")).unwrap_or_default()
    )]
    FailedAndChanged {
        version: String,
        script: String,
        /// Statements applied.
        applied: usize,
        /// Statements in the script then.
        total: usize,
        /// The error then.
        error: String,
        /// Where it failed.
        failed_at: Option<String>,
    },
    /// A failed script is gone.
    #[error(
        "{script}: migration {version} failed at statement {} and its script is no longer in the \
         scripts folder: restore it, or run `repair` to remove the failed record",
        applied + 1
    )]
    FailedMissing {
        version: String,
        /// Script from history.
        script: String,
        /// Statements applied.
        applied: usize,
    },
    /// An applied script is gone, and it is not a rollback (newer local scripts exist).
    #[error(
        "{script}: applied migration {version} is missing from the scripts folder while newer \
         scripts are there: restore the file"
    )]
    Missing {
        version: String,
        /// Script from history.
        script: String,
    },
    /// A pending script is older than the newest applied one.
    #[error(
        "{script}: migration {version} is pending but {newest} is already applied: give it a \
         version after {newest}, or allow out-of-order migrations"
    )]
    OutOfOrder {
        version: String,
        script: String,
        /// Newest applied version.
        newest: String,
    },
}

/// The plan for one database.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct Plan {
    /// Every version known, local or in history, in version order.
    pub entries: Vec<Entry>,
    /// Reasons to refuse.
    pub problems: Vec<PlanProblem>,
    /// What to run, in order: (index into the local migrations, first statement).
    #[serde(skip)]
    pub steps: Vec<(usize, usize)>,
}

/// Options of a plan.
#[derive(Debug, Clone, Default)]
pub struct PlanOptions {
    /// Stop after this version.
    pub target: Option<Version>,
    /// Apply pending scripts older than the newest applied one instead of refusing.
    pub out_of_order: bool,
}

/// Decides what to apply. `prefix` gives the [`prefix_hash`] of the first `n` statements of a local
/// migration (asked only for failed migrations); `None` if the script cannot be split that far.
pub fn plan(
    local: &[Migration],
    history: &[Applied],
    options: &PlanOptions,
    mut prefix: impl FnMut(&Migration, usize) -> Option<String>,
) -> Plan {
    let parse = |v: &str| Version::parse(v);
    let baseline =
        history.iter().filter(|h| h.kind == AppliedKind::Baseline).filter_map(|h| parse(&h.version)).max();
    let newest_applied = history
        .iter()
        .filter(|h| h.kind == AppliedKind::Script && h.success)
        .filter_map(|h| parse(&h.version))
        .chain(baseline.clone())
        .max();
    let cx = Context {
        local,
        options,
        newest_applied,
        newest_local: local.iter().map(|m| m.version.clone()).max(),
        baseline,
    };

    // Every version, from both sides, in order.
    let mut versions: Vec<Version> = local.iter().map(|m| m.version.clone()).collect();
    for v in history.iter().filter_map(|h| parse(&h.version)) {
        if !versions.contains(&v) {
            versions.push(v);
        }
    }
    versions.sort();

    let mut out = Plan::default();
    for version in versions {
        let local_index = local.iter().position(|m| m.version == version);
        let row = history.iter().find(|h| parse(&h.version).as_ref() == Some(&version));
        let script = local_index
            .map(|i| local[i].script.clone())
            .or_else(|| row.map(|r| r.script.clone()))
            .unwrap_or_default();
        let at = At { version: &version, script: &script };
        let verdict = match (local_index, row) {
            (_, Some(h)) if h.kind == AppliedKind::Baseline => Verdict::state(State::Baseline),
            (Some(i), Some(h)) => cx.in_history(&at, i, h, &mut prefix),
            (None, Some(h)) => cx.only_in_history(&at, h),
            (Some(i), None) => cx.only_local(&at, i),
            (None, None) => unreachable!("every version comes from one side or the other"),
        };
        out.entries.push(Entry { version: version.to_string(), script, state: verdict.state });
        out.problems.extend(verdict.problem);
        out.steps.extend(verdict.step);
    }
    out
}

/// What the plan knows beyond one version.
struct Context<'a> {
    local: &'a [Migration],
    options: &'a PlanOptions,
    baseline: Option<Version>,
    newest_applied: Option<Version>,
    newest_local: Option<Version>,
}

/// The version being decided and its script.
struct At<'a> {
    version: &'a Version,
    script: &'a str,
}

/// One version's outcome: its state, what is wrong with it, and the step that runs it.
struct Verdict {
    state: State,
    problem: Option<PlanProblem>,
    step: Option<(usize, usize)>,
}

impl Verdict {
    fn state(state: State) -> Verdict {
        Verdict { state, problem: None, step: None }
    }

    fn run(state: State, step: (usize, usize)) -> Verdict {
        Verdict { state, problem: None, step: Some(step) }
    }

    fn refused(problem: PlanProblem) -> Verdict {
        Verdict { state: State::Refused, problem: Some(problem), step: None }
    }
}

impl Context<'_> {
    fn beyond_target(&self, version: &Version) -> bool {
        self.options.target.as_ref().is_some_and(|t| version > t)
    }

    /// A local script with a history row: applied (unless changed), or failed earlier and resumed
    /// if what it applied is unchanged.
    fn in_history(
        &self,
        at: &At<'_>,
        i: usize,
        h: &Applied,
        prefix: &mut impl FnMut(&Migration, usize) -> Option<String>,
    ) -> Verdict {
        let (version, script, m) = (at.version.to_string(), at.script.to_owned(), &self.local[i]);
        if h.success {
            if h.checksum == m.checksum {
                return Verdict::state(State::Applied);
            }
            let (applied, local) = (h.checksum.clone(), m.checksum.clone());
            return Verdict::refused(PlanProblem::ChangedChecksum { version, script, applied, local });
        }
        let unchanged = h.checksum == m.checksum || prefix(m, h.applied).is_some_and(|p| p == h.prefix);
        if !unchanged {
            return Verdict::refused(PlanProblem::FailedAndChanged {
                version,
                script,
                applied: h.applied,
                total: h.total,
                error: h.error.clone().unwrap_or_default(),
                failed_at: h.failed_at.clone(),
            });
        }
        if self.beyond_target(at.version) {
            return Verdict::state(State::AboveTarget);
        }
        Verdict::run(State::Resume { from: h.applied, total: h.total }, (i, h.applied))
    }

    /// A history row without its script: a failed one is refused; an applied one is a rollback when
    /// newer than every script, else missing.
    fn only_in_history(&self, at: &At<'_>, h: &Applied) -> Verdict {
        let (version, script) = (at.version.to_string(), at.script.to_owned());
        if !h.success {
            return Verdict::refused(PlanProblem::FailedMissing { version, script, applied: h.applied });
        }
        if self.newest_local.as_ref().is_none_or(|n| at.version > n) {
            return Verdict::state(State::NewerInHistory);
        }
        Verdict::refused(PlanProblem::Missing { version, script })
    }

    /// A script not in history: below the baseline, beyond the target, out of order, or pending.
    fn only_local(&self, at: &At<'_>, i: usize) -> Verdict {
        if self.baseline.as_ref().is_some_and(|b| at.version <= b) {
            return Verdict::state(State::BelowBaseline);
        }
        if self.beyond_target(at.version) {
            return Verdict::state(State::AboveTarget);
        }
        match self.newest_applied.as_ref().filter(|n| at.version < *n) {
            Some(_) if self.options.out_of_order => Verdict::run(State::OutOfOrder, (i, 0)),
            Some(newest) => Verdict::refused(PlanProblem::OutOfOrder {
                version: at.version.to_string(),
                script: at.script.to_owned(),
                newest: newest.to_string(),
            }),
            None => Verdict::run(State::Pending, (i, 0)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scripts::source::Scheme;

    fn local(version: &str, checksum: &str) -> Migration {
        Migration {
            version: Version::parse(version).unwrap(),
            description: String::new(),
            script: format!("V{version}__x.sql"),
            database: None,
            checksum: checksum.into(),
            scheme: Scheme::Flyway,
            path: Default::default(),
        }
    }

    fn row(version: &str, checksum: &str, applied: usize, total: usize, success: bool) -> Applied {
        Applied {
            version: version.into(),
            description: String::new(),
            script: format!("V{version}__x.sql"),
            checksum: checksum.into(),
            applied,
            total,
            prefix: format!("prefix-{version}-{applied}"),
            success,
            error: (!success).then(|| "Duplicate column name 'x'".to_owned()),
            failed_at: (!success).then(|| format!("V{version}__x.sql:3")),
            kind: AppliedKind::Script,
            installed_by: "test".into(),
            installed_at: String::new(),
            execution_ms: 0,
            inflight: None,
        }
    }

    fn baseline(version: &str) -> Applied {
        Applied { kind: AppliedKind::Baseline, ..row(version, "", 0, 0, true) }
    }

    /// Prefix function for tests: the recorded prefix matches when the local checksum ends in "same".
    fn prefixes(m: &Migration, n: usize) -> Option<String> {
        m.checksum.ends_with("same").then(|| format!("prefix-{}-{n}", m.version))
    }

    /// States by version, problems as text, steps.
    type Outcome = (Vec<(String, State)>, Vec<String>, Vec<(usize, usize)>);

    fn run(local: &[Migration], history: &[Applied], options: PlanOptions) -> Outcome {
        let p = plan(local, history, &options, prefixes);
        let states = p.entries.iter().map(|e| (e.version.clone(), e.state.clone())).collect();
        let problems = p.problems.iter().map(|p| p.to_string()).collect();
        (states, problems, p.steps)
    }

    fn s(v: &str, state: State) -> (String, State) {
        (v.to_owned(), state)
    }

    #[test]
    fn pending_scripts_run_in_version_order_after_applied_ones() {
        let (states, problems, steps) = run(
            &[local("1", "a"), local("1.10", "c"), local("1.9", "b")],
            &[row("1", "a", 2, 2, true)],
            PlanOptions::default(),
        );
        assert!(problems.is_empty());
        assert_eq!(states, [s("1", State::Applied), s("1.9", State::Pending), s("1.10", State::Pending)]);
        assert_eq!(steps, [(2, 0), (1, 0)]);
    }

    #[test]
    fn plan_refuses_a_changed_checksum() {
        let (states, problems, steps) =
            run(&[local("1", "new")], &[row("1", "old", 1, 1, true)], PlanOptions::default());
        assert_eq!(states, [s("1", State::Refused)]);
        assert!(problems[0].contains("V1__x.sql: applied migration 1 has changed"), "{problems:?}");
        assert!(problems[0].contains("old") && problems[0].contains("new") && problems[0].contains("repair"));
        assert!(steps.is_empty());
    }

    #[test]
    fn newer_applied_scripts_missing_on_disk_are_a_rollback_not_an_error() {
        let history = [row("1", "a", 1, 1, true), row("2", "b", 1, 1, true), row("3", "c", 1, 1, true)];
        let (states, problems, steps) =
            run(&[local("1", "a"), local("2", "b")], &history, PlanOptions::default());
        assert!(problems.is_empty(), "{problems:?}");
        assert_eq!(states[2], s("3", State::NewerInHistory));
        assert!(steps.is_empty());
    }

    #[test]
    fn an_applied_script_missing_in_the_middle_is_an_error() {
        let history = [row("1", "a", 1, 1, true), row("2", "b", 1, 1, true)];
        let (_, problems, _) = run(&[local("1", "a"), local("3", "c")], &history, PlanOptions::default());
        assert_eq!(problems.len(), 1);
        assert!(problems[0].contains("applied migration 2 is missing"), "{problems:?}");
    }

    #[test]
    fn a_failed_migration_resumes_when_its_applied_part_is_unchanged() {
        // Same checksum (transient failure) or a fix after the failed statement.
        for checksum in ["a", "fixed-same"] {
            let (states, problems, steps) =
                run(&[local("1", checksum)], &[row("1", "a", 3, 9, false)], PlanOptions::default());
            assert!(problems.is_empty(), "{problems:?}");
            assert_eq!(states, [s("1", State::Resume { from: 3, total: 9 })]);
            assert_eq!(steps, [(0, 3)]);
        }
    }

    #[test]
    fn a_failed_migration_whose_applied_part_changed_is_refused_with_what_to_do() {
        let (_, problems, steps) =
            run(&[local("1", "rewritten")], &[row("1", "a", 3, 9, false)], PlanOptions::default());
        assert!(steps.is_empty());
        assert!(problems[0].contains("failed at statement 4 of 9 (V1__x.sql:3)"), "{problems:?}");
        assert!(problems[0].contains("Duplicate column name"));
        assert!(problems[0].contains("run `repair`"));
    }

    #[test]
    fn a_failed_migration_without_its_script_is_refused() {
        let (_, problems, _) = run(&[], &[row("1", "a", 1, 2, false)], PlanOptions::default());
        assert!(problems[0].contains("no longer in the scripts folder"), "{problems:?}");
    }

    #[test]
    fn out_of_order_scripts_are_refused_unless_allowed() {
        let history = [row("1", "a", 1, 1, true), row("3", "c", 1, 1, true)];
        let locals = [local("1", "a"), local("2", "b"), local("3", "c")];
        let (_, problems, steps) = run(&locals, &history, PlanOptions::default());
        assert!(problems[0].contains("migration 2 is pending but 3 is already applied"), "{problems:?}");
        assert!(steps.is_empty());
        let (states, problems, steps) =
            run(&locals, &history, PlanOptions { out_of_order: true, ..Default::default() });
        assert!(problems.is_empty());
        assert_eq!(states[1], s("2", State::OutOfOrder));
        assert_eq!(steps, [(1, 0)]);
    }

    #[test]
    fn a_target_stops_the_plan_and_a_lower_target_does_nothing() {
        let locals = [local("1", "a"), local("2", "b"), local("3", "c")];
        let target = |v| PlanOptions { target: Version::parse(v), ..Default::default() };
        let (states, _, steps) = run(&locals, &[], target("2"));
        assert_eq!(steps, [(0, 0), (1, 0)]);
        assert_eq!(states[2], s("3", State::AboveTarget));
        let (_, problems, steps) =
            run(&locals, &[row("1", "a", 1, 1, true), row("2", "b", 1, 1, true)], target("1"));
        assert!(problems.is_empty() && steps.is_empty());
    }

    #[test]
    fn a_baseline_covers_older_scripts() {
        let locals = [local("1", "a"), local("2", "b"), local("3", "c")];
        let (states, problems, steps) = run(&locals, &[baseline("2")], PlanOptions::default());
        assert!(problems.is_empty());
        assert_eq!(states, [s("1", State::BelowBaseline), s("2", State::Baseline), s("3", State::Pending)]);
        assert_eq!(steps, [(2, 0)]);
    }

    #[test]
    fn prefix_hashes_depend_on_every_statement_and_its_boundaries() {
        assert_eq!(prefix_hash(["a", "b"]), prefix_hash(["a", "b"]));
        assert_ne!(prefix_hash(["a", "b"]), prefix_hash(["ab"]));
        assert_ne!(prefix_hash(["a"]), prefix_hash(["a", "b"]));
    }
}
