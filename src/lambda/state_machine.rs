//! Deploys longer than one invocation: a Create or Update arrives for a resource driven by a state
//! machine ([`names::PROPERTY_STATE_MACHINE_ARN`], else [`names::ENV_STATE_MACHINE_ARN`]), so the
//! function starts an execution named after the RequestId ([`start`]) and returns without answering
//! CloudFormation; the state machine then invokes it with the steps of [`super::steps`]
//! ([`run`]), and its answer step PUTs the one answer. Delete events are answered directly.
//!
//! A redelivered event starts nothing new: the same name with the same input is the same execution
//! to Step Functions, and the same name with another input is refused (`ExecutionAlreadyExists`).

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::apply::fleet::split_scripts;
use crate::apply::plan::{PlanOptions, State};
use crate::apply::{Report, RunError};
use crate::aws::step_functions::{execution_name, Started};
use crate::lambda::custom_resource::{
    self, conclude, decide_for, log_event, newer_in_history, Decision, Ended,
};
use crate::lambda::error::{with_causes, InvokeError};
use crate::lambda::events::{CustomResourceRequest, CustomResourceResponse, RequestType, Status};
use crate::lambda::handler::Handler;
use crate::lambda::steps::{
    conclude_run, short_problem, AnswerState, Early, Plan, Progress, RunPlan, Step, Target, WorkOutcome,
    WorkResult, VERSION,
};
use crate::names;
use crate::scripts::source::Scripts;

/// The state machine that drives `request`, when one does and the event is a Create or Update.
pub(crate) fn arn_for(handler: &Handler, request: &CustomResourceRequest) -> Option<String> {
    if request.request_type == RequestType::Delete {
        return None;
    }
    request
        .property(names::PROPERTY_STATE_MACHINE_ARN, false)
        .filter(|arn| !arn.trim().is_empty())
        .map(str::to_owned)
        .or_else(|| handler.settings().state_machine_arn.clone())
}

/// Starts the execution for `payload` (the raw custom-resource request: the same event gives the same
/// input) on `state_machine`. `Ok`: the invocation's result, and CloudFormation is answered later by
/// the state machine; `Err`: the FAILED answer to send now.
pub(crate) async fn start(
    handler: &Handler,
    request: &CustomResourceRequest,
    payload: &Value,
    state_machine: &str,
) -> Result<Value, CustomResourceResponse> {
    let name = execution_name(&request.request_id);
    let input = json!({ "event": payload }).to_string();
    match handler.step_functions().await.start(state_machine, &name, &input).await {
        Ok(Started::New(execution)) => {
            tracing::info!(execution = %execution, name = %name, "started the deploy's state machine; it answers CloudFormation");
            Ok(json!({"started": execution, "name": name}))
        }
        Ok(Started::AlreadyExists(message)) => {
            tracing::warn!(name = %name, message = %message, "an execution for this request exists already (a redelivered event); nothing started");
            Ok(json!({"already_started": name}))
        }
        Err(e) => {
            tracing::error!(error = %e, "the deploy's state machine did not start");
            Err(CustomResourceResponse::to(request, Status::Failed).because(format!("aurora-migrate: {e}")))
        }
    }
}

/// Runs one step; its result is the invocation's result.
pub(crate) async fn run(
    handler: &Handler,
    step: Step,
    deadline: Instant,
    slot: &WorkSlot,
) -> Result<Value, InvokeError> {
    if step.version() != VERSION {
        return Err(InvokeError::InvalidPayload(format!(
            "step payload version {} is not {VERSION}, the one this function speaks: deploy the function and \
             the state machine of the same release",
            step.version()
        )));
    }
    let value = match step {
        Step::Plan { event, budget_seconds, .. } => {
            serde_json::to_value(plan(handler, &event, budget_seconds, deadline).await)
        }
        Step::Work { target, run, previous, .. } => {
            serde_json::to_value(work(handler, target, &run, previous, deadline, slot).await)
        }
        Step::Answer { state, .. } => return answer(handler, &state).await,
    };
    value.map_err(|e| InvokeError::RunFailed(e.to_string()))
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0)
}

/// The plan: the custom-resource rules, then the work items.
async fn plan(
    handler: &Handler,
    request: &CustomResourceRequest,
    budget_seconds: u64,
    deadline: Instant,
) -> Plan {
    let scripts = handler.scripts();
    let content_hash = scripts.as_ref().map(|s| s.content_hash.clone()).unwrap_or_default();
    let mut run = RunPlan {
        budget_end_ms: now_ms() + budget_seconds * 1000,
        lease_owner: format!(
            "{}#deploy-{}",
            handler.settings().installed_by,
            execution_name(&request.request_id)
        ),
        database: request.property(names::PROPERTY_DATABASE, false).map(str::to_owned),
        fleet: None,
        parallel: 0,
        content_hash,
    };
    let early = |status: Status, reason: String| Early { status, reason, data: Default::default() };
    let answer_now =
        |run: RunPlan, early: Early| Plan { version: VERSION, run, targets: Vec::new(), early: Some(early) };
    let (check_newer, scripts) = match (decide_for(handler, request, &scripts), &scripts) {
        (Decision::Migrate { check_newer }, Ok(scripts)) => (check_newer, scripts),
        (Decision::Succeed(reason), _) => return answer_now(run, early(Status::Success, reason)),
        (Decision::Rollback(reason), Ok(scripts)) => {
            let database = run.database.clone();
            let data = custom_resource::rollback_data(handler, scripts, database.as_deref(), deadline).await;
            return answer_now(run, Early { data, ..early(Status::Success, reason) });
        }
        (Decision::Fail(reason), _) => {
            return answer_now(run, early(Status::Failed, format!("aurora-migrate: {reason}")));
        }
        (_, Err(why)) => return answer_now(run, early(Status::Failed, format!("aurora-migrate: {why}"))),
    };
    let failed =
        |run: RunPlan, why: String| answer_now(run, early(Status::Failed, format!("aurora-migrate: {why}")));
    let choice = match handler.settings().fleet() {
        Ok(choice) => choice,
        Err(why) => return failed(run, why),
    };
    let Some(choice) = choice else {
        if check_newer {
            match newer_one(handler, scripts, run.database.as_deref(), deadline).await {
                Ok(Some(ended)) => return concluded(run, &ended),
                Ok(None) => {}
                Err(why) => return failed(run, why),
            }
        }
        return Plan { version: VERSION, run, targets: vec![Target::default()], early: None };
    };
    let fleet = match handler.fleet(deadline, PlanOptions::default(), choice.parallel).await {
        Ok(fleet) => fleet,
        Err(why) => return failed(run, why),
    };
    if check_newer {
        match custom_resource::fleet_newer_in_history(&fleet, &choice, scripts, handler).await {
            Ok(Some(ended)) => return concluded(run, &ended),
            Ok(None) => {}
            Err(why) => return failed(run, why),
        }
    }
    let databases = match fleet.databases(&choice.selection).await {
        Ok(databases) => databases,
        Err(e) => return failed(run, with_causes(&e)),
    };
    let (_, folders) = split_scripts(scripts);
    let mut targets = Vec::new();
    if !folders.migrations.is_empty() {
        targets.push(Target { database: None });
    }
    targets.extend(databases.into_iter().map(|d| Target { database: Some(d) }));
    run.fleet = Some(choice.selection.to_string());
    run.parallel = choice.parallel;
    Plan { version: VERSION, run, targets, early: None }
}

/// A plan that answers with how `ended` concludes.
fn concluded(run: RunPlan, ended: &Ended) -> Plan {
    let (status, reason, data) = conclude(ended);
    Plan { version: VERSION, run, targets: Vec::new(), early: Some(Early { status, reason, data }) }
}

/// An Update's check of one database for versions newer than the scripts (a rollback).
async fn newer_one(
    handler: &Handler,
    scripts: &Scripts,
    database: Option<&str>,
    deadline: Instant,
) -> Result<Option<Ended>, String> {
    let runner = handler.runner(database, deadline, PlanOptions::default()).await?;
    let status = runner.status(scripts).await.map_err(|e| with_causes(&e))?;
    Ok((!newer_in_history(&status).is_empty()).then_some(Ended::NewerInHistory(status)))
}

/// What a work step has established so far (its progress with the baseline, and the budget's end):
/// the invocation's result when the step has to be dropped at the hard deadline (a statement outlived
/// the margin), so that the loop goes on with what is known instead of failing the item.
pub(crate) type WorkSlot = Arc<Mutex<Option<(WorkResult, u64)>>>;

/// The result of a work step dropped at the hard deadline, if it got far enough to have one.
pub(crate) fn dropped(slot: &WorkSlot) -> Option<Value> {
    let (mut result, budget_end_ms) = slot.lock().ok()?.clone()?;
    result.outcome = WorkOutcome::Unfinished;
    result.done = false;
    result.out_of_budget = now_ms() + 1000 >= budget_end_ms;
    result.problem = Some(
        "the invocation ended while a statement still ran (it outlived the deadline's margin); the next \
         invocation settles it"
            .into(),
    );
    tracing::warn!("the work step did not return before the hard deadline; reporting it unfinished");
    serde_json::to_value(result).ok()
}

/// One work step: migrates `target` until the invocation's deadline or the budget's end.
async fn work(
    handler: &Handler,
    target: Target,
    run: &RunPlan,
    previous: Progress,
    deadline: Instant,
    slot: &WorkSlot,
) -> WorkResult {
    let left = Duration::from_millis(run.budget_end_ms.saturating_sub(now_ms()));
    let deadline = deadline.min(Instant::now() + left);
    let mut result = WorkResult {
        version: VERSION,
        target: target.clone(),
        progress: Progress { invocations: previous.invocations + 1, ..previous },
        ..WorkResult::default()
    };
    let finish = |mut result: WorkResult| {
        result.out_of_budget = !result.done && now_ms() + 1000 >= run.budget_end_ms;
        result
    };
    let scripts = match handler.scripts() {
        Ok(scripts) => scripts,
        Err(why) => {
            result.done = true;
            result.problem = Some(short_problem(&why));
            return finish(result);
        }
    };
    let (top, folders) = split_scripts(&scripts);
    // One database: every group of the scripts. A fleet: a tenant gets the top-level scripts; the
    // item without a database, the per-database folders.
    let (scripts, database, history_database) = match (&run.fleet, &target.database) {
        (None, _) => (scripts, target.database.clone().or_else(|| run.database.clone()), None),
        (Some(_), Some(tenant)) => (top, Some(tenant.clone()), Some(None)),
        (Some(_), None) => (folders, None, Some(None)),
    };
    let runner = match handler.step_runner(database, history_database, deadline, &run.lease_owner).await {
        Ok(runner) => runner,
        Err(why) => {
            result.done = true;
            result.problem = Some(short_problem(&why));
            return finish(result);
        }
    };
    // What was applied before the run, read once at the item's first work step and kept in the slot
    // before anything is applied, so that a step dropped at the hard deadline still passes it on.
    let first = result.progress.before.is_none() && result.progress.before_count.is_none();
    if first {
        if let Ok(status) = runner.status(&scripts).await {
            let applied = applied_keys(&status);
            match run.fleet {
                None => result.progress.before = Some(applied),
                Some(_) => result.progress.before_count = Some(applied.len()),
            }
        }
    }
    if let Ok(mut slot) = slot.lock() {
        *slot = Some((result.clone(), run.budget_end_ms));
    }
    match runner.migrate(&scripts, false, &mut log_event).await {
        Ok(report) => {
            result.current_version = report.current_version.clone();
            let now = applied_keys(&report);
            let progress = &mut result.progress;
            match (&progress.before, progress.before_count) {
                (Some(before), _) => {
                    let new: Vec<&String> = now.iter().filter(|k| !before.contains(k)).collect();
                    progress.applied = new.len();
                    progress.applied_versions =
                        new.iter().map(|k| k.rsplit('\0').next().unwrap_or(k).to_owned()).collect();
                }
                (None, Some(count)) => progress.applied = now.len().saturating_sub(count),
                (None, None) => {
                    progress.applied += report.applied;
                    if run.fleet.is_none() {
                        let versions = report.databases.iter().flat_map(|d| d.applied.iter());
                        progress.applied_versions.extend(versions.map(|a| a.version.clone()));
                    }
                }
            }
            result.problem = report.problems.first().map(|p| short_problem(p));
            (result.outcome, result.done) = if report.ok {
                (WorkOutcome::Ok, true)
            } else if report.unfinished || report.still_running {
                (WorkOutcome::Unfinished, false)
            } else {
                (WorkOutcome::Failed, true)
            };
        }
        // Another run holds the lease: wait for it over the following invocations, within the budget.
        Err(e @ RunError::Locked { .. }) => {
            result.outcome = WorkOutcome::Locked;
            result.problem = Some(short_problem(&e.to_string()));
        }
        Err(e) => {
            result.outcome = WorkOutcome::Error;
            result.done = true;
            result.problem = Some(short_problem(&with_causes(&e)));
        }
    }
    tracing::info!(
        database = target.database.as_deref().unwrap_or(""),
        outcome = ?result.outcome,
        done = result.done,
        invocations = result.progress.invocations,
        "work step ended"
    );
    finish(result)
}

/// The migrations a report shows applied, as `database` NUL `version`, in report order.
fn applied_keys(report: &Report) -> Vec<String> {
    custom_resource::versions_in(report, State::Applied, "\0")
}

/// The answer step: the one PUT to CloudFormation.
async fn answer(handler: &Handler, state: &AnswerState) -> Result<Value, InvokeError> {
    let mut answer = conclude_run(state);
    answer.data.insert(names::DATA_VERSION.to_owned(), custom_resource::VERSION.to_owned());
    tracing::info!(status = ?answer.status, reason = %answer.reason, "the deploy's state machine answers CloudFormation");
    handler.answer(&state.event.response_url, &answer).await?;
    Ok(serde_json::to_value(&answer).unwrap_or(Value::Null))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_work_step_dropped_before_its_baseline_is_a_plain_timeout_and_after_it_an_unfinished_result() {
        let slot = WorkSlot::default();
        assert_eq!(dropped(&slot), None, "nothing established: the error (and the retry) of a timeout");
        let result = WorkResult {
            target: Target { database: Some("t1".into()) },
            progress: Progress {
                invocations: 2,
                before: Some(vec!["t1\u{0}1".into()]),
                ..Progress::default()
            },
            ..WorkResult::default()
        };
        *slot.lock().expect("lock") = Some((result, now_ms() + 60_000));
        let value = dropped(&slot).expect("a result");
        let back: WorkResult = serde_json::from_value(value).expect("a work result");
        assert_eq!((back.outcome, back.done, back.out_of_budget), (WorkOutcome::Unfinished, false, false));
        assert_eq!(back.progress.before, Some(vec!["t1\u{0}1".to_owned()]), "the baseline is passed on");
        assert_eq!(back.progress.invocations, 2);
        *slot.lock().expect("lock") = Some((back, now_ms()));
        let spent: WorkResult =
            serde_json::from_value(dropped(&slot).expect("a result")).expect("a work result");
        assert!(spent.out_of_budget, "a step dropped at the budget's end ends the loop");
    }
}
