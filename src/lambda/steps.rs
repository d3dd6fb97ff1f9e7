//! The step payloads of a deploy longer than one invocation, and the answer it ends with: pure data
//! and a pure [`conclude`]; [`super::state_machine`] acts on them.
//!
//! The state machine (the CDK construct's, `cdk/lib/state-machine.ts`) invokes the function with
//! three payloads, told apart by `"step"`, each with `"version": 1` ([`VERSION`]); unknown fields
//! are refused, as in manual commands:
//!
//! - `{"step": "plan", "version": 1, "event": <the custom-resource request>, "budget_seconds": N}`
//!   → a [`Plan`]: the custom-resource rules (`decide`), then the work items (`targets`: the fleet's
//!   databases, or one item for the default database) and what every work step shares (`run`: the
//!   budget's end, `budget_seconds` after now, and the lease owner named after the RequestId). A
//!   decision that needs no work (Delete, a rollback, a mismatch) is the plan's `early` answer.
//! - `{"step": "work", "version": 1, "target": {"database": "t1"}, "run": {...}, "previous":
//!   {...}}` → a [`WorkResult`]: migrates one item until its invocation's deadline or the budget's
//!   end, whichever comes first. `done` when nothing is left to do (ok, or failed for good);
//!   `out_of_budget` when the budget is spent; otherwise the state machine invokes it again with
//!   `previous` set to this result's `progress`. The same lease owner re-takes its own lease at once.
//! - `{"step": "answer", "version": 1, "state": {"event": ..., "plan": ..., "results": [...],
//!   "error": {"Error": ..., "Cause": ...}}}` → PUTs the one answer to the ResponseURL: SUCCESS with
//!   `Data` as a one-invocation deploy would, or FAILED naming what failed or did not finish (a fleet
//!   through [`super::fleet::summary`], within 4096 bytes).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::apply::fleet::{FleetEntry, FleetReport, Outcome};
use crate::lambda::custom_resource::{conclude, Ended};
use crate::lambda::events::{shorten, CustomResourceRequest, CustomResourceResponse, Status};
use crate::names;

/// The version of the step payloads this function speaks.
pub const VERSION: u32 = 1;

/// The longest problem a work result carries, in characters (a fleet's results travel together
/// through the state machine, whose payloads are limited to 256 KiB).
pub const PROBLEM_CHARS: usize = 300;

/// A step of a deploy's state machine.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(tag = "step", rename_all = "kebab-case", deny_unknown_fields)]
pub enum Step {
    /// Decide and list the work.
    Plan {
        /// The payload version ([`VERSION`]).
        version: u32,
        /// The custom-resource request that started the execution.
        event: Box<CustomResourceRequest>,
        /// How long the work may take, from now.
        budget_seconds: u64,
    },
    /// Migrate one item until the invocation's deadline or the budget's end.
    Work {
        /// The payload version.
        version: u32,
        /// Which item.
        target: Target,
        /// What every work step of the run shares.
        run: RunPlan,
        /// The item's progress over earlier invocations.
        #[serde(default)]
        previous: Progress,
    },
    /// Answer CloudFormation.
    Answer {
        /// The payload version.
        version: u32,
        /// The execution's state.
        state: Box<AnswerState>,
    },
}

impl Step {
    /// The payload version the step carries.
    pub fn version(&self) -> u32 {
        match self {
            Step::Plan { version, .. } | Step::Work { version, .. } | Step::Answer { version, .. } => {
                *version
            }
        }
    }
}

/// One work item.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// A tenant of the fleet; `None`: the default database (one database), or the per-database
    /// folders' scripts (a fleet).
    #[serde(default)]
    pub database: Option<String>,
}

/// What every work step of one run shares.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RunPlan {
    /// When the budget ends, in milliseconds since the epoch.
    pub budget_end_ms: u64,
    /// The lease owner of every invocation of this run.
    pub lease_owner: String,
    /// The resource's `Database` property (one database).
    #[serde(default)]
    pub database: Option<String>,
    /// Over a fleet: the selection as the report names it (`databases like 'tenant_%'`).
    #[serde(default)]
    pub fleet: Option<String>,
    /// Over a fleet: how many at once.
    #[serde(default)]
    pub parallel: usize,
    /// The scripts' content hash.
    pub content_hash: String,
}

/// The plan step's result.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Plan {
    /// The payload version.
    pub version: u32,
    /// What the work steps share.
    pub run: RunPlan,
    /// The work items (empty with an early answer).
    pub targets: Vec<Target>,
    /// The answer when no work is needed.
    #[serde(default)]
    pub early: Option<Early>,
}

/// An answer decided at the plan.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Early {
    pub status: Status,
    #[serde(default)]
    pub reason: String,
    #[serde(default)]
    pub data: BTreeMap<String, String>,
}

/// An item's progress over the invocations so far.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Progress {
    /// Work invocations so far.
    #[serde(default)]
    pub invocations: u32,
    /// Migrations applied so far.
    #[serde(default)]
    pub applied: usize,
    /// Their versions (one database only; a fleet's answer does not list them).
    #[serde(default)]
    pub applied_versions: Vec<String>,
    /// One database: the migrations applied before the run's first work step (`database` NUL
    /// `version`), so that what the run applied is counted from the history, also when an
    /// invocation ended without reporting (its deadline, a crash).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before: Option<Vec<String>>,
    /// A fleet's item: how many were applied before (a count, to keep the payloads small).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_count: Option<usize>,
}

/// How an item stands after a work step.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum WorkOutcome {
    /// Everything applied.
    Ok,
    /// A migration failed, or the plan refused.
    Failed,
    /// Another run holds the lease.
    Locked,
    /// The step could not run (or the function failed: the state machine's catch).
    #[default]
    Error,
    /// Stopped at a deadline with more to do (a statement may still run on the server).
    Unfinished,
}

/// A work step's result; also what the state machine records for an item whose work step failed
/// (then only `target`, `progress` and `failure` are set).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WorkResult {
    #[serde(default)]
    pub version: u32,
    pub target: Target,
    /// Nothing is left to do: the item is ok or failed for good.
    #[serde(default)]
    pub done: bool,
    /// The budget is spent.
    #[serde(default)]
    pub out_of_budget: bool,
    #[serde(default)]
    pub outcome: WorkOutcome,
    #[serde(default)]
    pub current_version: Option<String>,
    /// Why it is not ok (shortened to [`PROBLEM_CHARS`]).
    #[serde(default)]
    pub problem: Option<String>,
    #[serde(default)]
    pub progress: Progress,
    /// The work step itself failed (the state machine's catch: `Error` and `Cause`).
    #[serde(default)]
    pub failure: Option<TaskFailure>,
}

/// A failed task as Step Functions reports it.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "PascalCase")]
pub struct TaskFailure {
    #[serde(default)]
    pub error: String,
    #[serde(default)]
    pub cause: String,
}

/// The execution's state when the answer step runs.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnswerState {
    /// The custom-resource request.
    pub event: CustomResourceRequest,
    #[serde(default)]
    pub plan: Option<Plan>,
    #[serde(default)]
    pub results: Option<Vec<WorkResult>>,
    /// The plan or the fan-out failed (the state machine's catch).
    #[serde(default)]
    pub error: Option<TaskFailure>,
}

/// The answer to CloudFormation for how the execution went (without the function's version, which
/// the handler adds to every answer).
pub fn conclude_run(state: &AnswerState) -> CustomResourceResponse {
    let request = &state.event;
    let failed = |reason: String| CustomResourceResponse::to(request, Status::Failed).because(reason);
    if let Some(error) = &state.error {
        return failed(format!("aurora-migrate: the deploy's state machine stopped: {}", describe(error)));
    }
    let Some(plan) = &state.plan else {
        return failed("aurora-migrate: the deploy's state machine answered without a plan".into());
    };
    if let Some(early) = &plan.early {
        let mut answer = CustomResourceResponse::to(request, early.status);
        answer.reason = early.reason.clone();
        answer.data = early.data.clone();
        return answer;
    }
    let results = state.results.as_deref().unwrap_or_default();
    if results.len() != plan.targets.len() {
        return failed(format!(
            "aurora-migrate: the deploy's state machine returned {} result(s) for {} work item(s)",
            results.len(),
            plan.targets.len()
        ));
    }
    let ended = match (&plan.run.fleet, results.first()) {
        (None, None) => Ended::Error("the deploy's state machine ran no work".into()),
        (None, Some(result)) => one_database(result, &plan.run),
        (Some(selection), _) => {
            let entries = results.iter().map(entry).collect();
            Ended::FleetMigrated(FleetReport::from_entries(
                "migrate",
                selection,
                plan.run.parallel,
                &plan.run.content_hash,
                entries,
            ))
        }
    };
    let (status, reason, data) = conclude(&ended);
    let mut answer = CustomResourceResponse::to(request, status);
    answer.reason = reason;
    answer.data = data;
    answer
}

/// How one database's run ended, as a one-invocation deploy would have seen it.
fn one_database(result: &WorkResult, run: &RunPlan) -> Ended {
    let problem = problem(result);
    if result.outcome != WorkOutcome::Ok {
        return Ended::Error(problem);
    }
    let data: BTreeMap<String, String> = [
        (names::DATA_CURRENT_VERSION.to_owned(), result.current_version.clone().unwrap_or_default()),
        (names::DATA_APPLIED.to_owned(), result.progress.applied.to_string()),
        (names::DATA_APPLIED_VERSIONS.to_owned(), result.progress.applied_versions.join(",")),
        (names::DATA_CONTENT_HASH.to_owned(), run.content_hash.clone()),
    ]
    .into();
    Ended::Succeeded(data)
}

/// A fleet entry for one item's result.
fn entry(result: &WorkResult) -> FleetEntry {
    let outcome = match (result.failure.is_some(), result.outcome) {
        (true, _) => Outcome::Error,
        (false, WorkOutcome::Ok) => Outcome::Ok,
        (false, WorkOutcome::Failed) => Outcome::Failed,
        (false, WorkOutcome::Locked) => Outcome::Locked,
        (false, WorkOutcome::Error | WorkOutcome::Unfinished) => Outcome::Error,
    };
    FleetEntry {
        database: result.target.database.clone().unwrap_or_else(|| "per-database folders".into()),
        outcome,
        applied: result.progress.applied,
        current_version: result.current_version.clone(),
        problems: if outcome == Outcome::Ok { Vec::new() } else { vec![problem(result)] },
        ms: 0,
        report: None,
    }
}

/// Why an item is not ok, in words.
fn problem(result: &WorkResult) -> String {
    let text = result.problem.clone().unwrap_or_default();
    let invocations = result.progress.invocations;
    match (&result.failure, result.outcome) {
        (Some(failure), _) => {
            format!("the work step failed after {invocations} invocation(s): {}", describe(failure))
        }
        (None, WorkOutcome::Unfinished) | (None, WorkOutcome::Locked) if result.out_of_budget => format!(
            "not finished when the deploy's time (maxDuration) ran out, after {invocations} invocation(s): \
             {text}; what ran is recorded in the history and the next deployment goes on from there"
        ),
        (None, WorkOutcome::Failed) => format!("migration failed: {text}"),
        _ => text,
    }
}

/// A task failure in one line, shortened.
fn describe(failure: &TaskFailure) -> String {
    shorten(&format!("{}: {}", failure.error, failure.cause), 1000)
}

/// `text` shortened for a work result.
pub fn short_problem(text: &str) -> String {
    shorten(text, PROBLEM_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::lambda::events::{classify, Payload};
    use serde_json::{json, Value};

    fn event() -> Value {
        json!({
            "RequestType": "Create",
            "ResponseURL": "https://example.com/r",
            "StackId": "arn:aws:cloudformation:eu-west-1:123456789012:stack/s/1",
            "RequestId": "5d478078-13e9-baf0-464a-7ef285ecc786",
            "LogicalResourceId": "Migrations",
            "ResourceProperties": {"ContentHash": "sha256:aa"}
        })
    }

    fn run(fleet: Option<&str>) -> Value {
        json!({"budget_end_ms": 1, "lease_owner": "me", "fleet": fleet, "parallel": 4, "content_hash": "sha256:aa"})
    }

    fn state(v: Value) -> AnswerState {
        serde_json::from_value(v).expect("an answer state")
    }

    #[test]
    fn the_three_steps_parse_and_unknown_fields_or_steps_are_refused_by_name() {
        let plan = json!({"step": "plan", "version": 1, "event": event(), "budget_seconds": 600});
        assert!(matches!(classify(&plan), Payload::Step(Step::Plan { budget_seconds: 600, .. })));
        let work = json!({"step": "work", "version": 1, "target": {"database": "t1"}, "run": run(None), "previous": {}});
        let Payload::Step(Step::Work { target, previous, .. }) = classify(&work) else {
            panic!("not a work step")
        };
        assert_eq!((target.database.as_deref(), previous), (Some("t1"), Progress::default()));
        let answer = json!({"step": "answer", "version": 1, "state": {"event": event(), "error": {"Error": "E", "Cause": "c"}}});
        assert!(matches!(classify(&answer), Payload::Step(Step::Answer { .. })));
        for (payload, named) in [
            (
                json!({"step": "plan", "version": 1, "event": event(), "budget_seconds": 1, "extra": 1}),
                "extra",
            ),
            (json!({"step": "work", "version": 1, "target": {"db": "x"}, "run": run(None)}), "db"),
            (json!({"step": "dance", "version": 1}), "dance"),
            (json!({"step": "answer", "version": 1, "state": {"event": event(), "resluts": []}}), "resluts"),
        ] {
            match classify(&payload) {
                Payload::Invalid(m) => assert!(m.contains(named), "{payload}: {m}"),
                other => panic!("{payload} accepted: {other:?}"),
            }
        }
    }

    #[test]
    fn a_failed_plan_or_fan_out_answers_failed_naming_the_error() {
        let a = conclude_run(&state(
            json!({"event": event(), "error": {"Error": "Lambda.Unknown", "Cause": "boom"}}),
        ));
        assert_eq!(a.status, Status::Failed);
        assert!(a.reason.contains("state machine stopped: Lambda.Unknown: boom"), "{}", a.reason);
        assert_eq!(a.request_id, "5d478078-13e9-baf0-464a-7ef285ecc786");
    }

    #[test]
    fn one_database_done_answers_success_with_the_data_of_one_invocation() {
        let plan = json!({"version": 1, "run": run(None), "targets": [{}]});
        let result = json!({"version": 1, "target": {}, "done": true, "outcome": "ok", "current_version": "3",
                            "progress": {"invocations": 4, "applied": 3, "applied_versions": ["1", "2", "3"]}});
        let a = conclude_run(&state(json!({"event": event(), "plan": plan, "results": [result]})));
        assert_eq!(a.status, Status::Success, "{a:?}");
        assert_eq!(a.data[names::DATA_CURRENT_VERSION], "3");
        assert_eq!(a.data[names::DATA_APPLIED], "3");
        assert_eq!(a.data[names::DATA_APPLIED_VERSIONS], "1,2,3");
        assert_eq!(a.data[names::DATA_CONTENT_HASH], "sha256:aa");
    }

    #[test]
    fn an_item_out_of_budget_answers_failed_saying_the_time_ran_out() {
        let plan = json!({"version": 1, "run": run(None), "targets": [{}]});
        let result = json!({"target": {}, "done": false, "out_of_budget": true, "outcome": "unfinished",
                            "problem": "V2__x.sql stopped before statement 3", "progress": {"invocations": 5}});
        let a = conclude_run(&state(json!({"event": event(), "plan": plan, "results": [result]})));
        assert_eq!(a.status, Status::Failed);
        assert!(
            a.reason.contains("ran out, after 5 invocation(s): V2__x.sql stopped before statement 3"),
            "{}",
            a.reason
        );
    }

    #[test]
    fn a_fleet_answer_counts_every_item_and_names_the_failing_ones() {
        let plan = json!({"version": 1, "run": run(Some("databases like 't%'")), "targets": [{"database": "t1"}, {"database": "t2"}, {"database": "t3"}]});
        let results = json!([
            {"target": {"database": "t1"}, "done": true, "outcome": "ok", "current_version": "2", "progress": {"applied": 2}},
            {"target": {"database": "t2"}, "done": true, "outcome": "failed", "current_version": "1", "problem": "V2__b.sql:1: no"},
            {"target": {"database": "t3"}, "failure": {"Error": "Lambda.Unknown", "Cause": "gone"}},
        ]);
        let a = conclude_run(&state(json!({"event": event(), "plan": plan, "results": results})));
        assert_eq!(a.status, Status::Failed);
        assert!(a.reason.contains("3 database(s): 1 ok, 1 failed, 0 locked, 1 error"), "{}", a.reason);
        assert!(a.reason.contains("t2 (failed): migration failed: V2__b.sql:1: no"), "{}", a.reason);
        assert!(a.reason.contains("t3 (error): the work step failed"), "{}", a.reason);
        assert_eq!(a.data[names::DATA_NOT_OK], "2");
    }

    #[test]
    fn an_early_answer_of_the_plan_is_the_answer() {
        let plan = json!({"version": 1, "run": run(None), "targets": [],
                          "early": {"status": "FAILED", "reason": "aurora-migrate: content hash mismatch"}});
        let a = conclude_run(&state(json!({"event": event(), "plan": plan, "results": []})));
        assert_eq!((a.status, a.reason.as_str()), (Status::Failed, "aurora-migrate: content hash mismatch"));
    }
}
