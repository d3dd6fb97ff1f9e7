//! Manual commands (`aws lambda invoke --payload '{"command": "status"}'`): a [`Command`] becomes the
//! runner's [`Operation`] and plan options ([`operation`], pure), runs on one database or on a fleet
//! ([`fleet::choose`]), and returns the same JSON report as the CLI's `--format json` (a fleet's
//! report for a fleet), with the function's `"version"`. A report that is not ok
//! ends the invocation with a function error ([`InvokeError::CommandFailed`]) whose message is the
//! report, so that `aws lambda invoke` and Terraform's `aws_lambda_invocation` fail loudly.

use std::sync::Arc;
use std::time::Instant;

use serde_json::Value;

use crate::apply::plan::PlanOptions;
use crate::apply::{Operation, RunError};
use crate::lambda::custom_resource::{log_event, VERSION};
use crate::lambda::error::{with_causes, InvokeError};
use crate::lambda::events::{shorten, Command};
use crate::lambda::fleet;
use crate::lambda::handler::Handler;
use crate::scripts::source::Version;

/// The operation and plan options a command asks for.
pub fn operation(command: &Command) -> Result<(Operation, PlanOptions), InvokeError> {
    let version = |text: &str, what: &str| {
        Version::parse(text)
            .ok_or_else(|| InvokeError::InvalidPayload(format!("{what} {text:?} is not a version")))
    };
    let mut plan = PlanOptions::default();
    let operation = match command {
        Command::Migrate { target, out_of_order, dry_run, .. } => {
            plan.out_of_order = *out_of_order;
            plan.target = target.as_deref().map(|t| version(t, "target")).transpose()?;
            Operation::Migrate { dry_run: *dry_run }
        }
        Command::Status(_) => Operation::Status,
        Command::Validate(_) => Operation::Validate,
        Command::Repair { accept_checksums, .. } => Operation::Repair { accept_checksums: *accept_checksums },
        Command::Baseline { version: v, database } => {
            Operation::Baseline { version: version(v, "version")?, database: database.clone() }
        }
    };
    Ok((operation, plan))
}

/// Runs `command`; the report as JSON, or an error for the invoker.
pub(crate) async fn run(
    handler: &Handler,
    command: Command,
    deadline: Instant,
) -> Result<Value, InvokeError> {
    tracing::info!(?command, "manual command");
    let scripts = handler.scripts().map_err(InvokeError::InvalidScripts)?;
    let (operation, plan) = operation(&command)?;
    let fleet = fleet::choose(&command, handler.settings())?;
    let dir = &handler.settings().migrations_dir;
    // `still_running`: not ok only because statements still run on the server, nothing failed.
    let (mut json, ok, still_running) = match fleet {
        Some(choice) => {
            let fleet = handler.fleet(deadline, plan, choice.parallel).await.map_err(InvokeError::Setup)?;
            let report = fleet
                .run(&operation, &choice.selection, &scripts, dir, Arc::new(log_event))
                .await
                .map_err(|e| InvokeError::RunFailed(with_causes(&e)))?;
            (serde_json::to_value(&report), report.ok, report.only_still_running())
        }
        None => {
            let runner =
                handler.runner(command.database(), deadline, plan).await.map_err(InvokeError::Setup)?;
            let report = match runner.run(&operation, &scripts, dir, &mut log_event).await {
                Ok(report) => report,
                Err(e @ RunError::Locked { .. }) => return Err(InvokeError::Locked(e.to_string())),
                Err(e) => return Err(InvokeError::RunFailed(with_causes(&e))),
            };
            (serde_json::to_value(&report), report.ok, report.still_running)
        }
    };
    let json = json.as_mut().map_err(|e| InvokeError::RunFailed(e.to_string()))?;
    json["version"] = Value::from(VERSION);
    if ok {
        return Ok(json.take());
    }
    // A function error, so that `aws lambda invoke` and Terraform's `aws_lambda_invocation` fail; the
    // whole report is logged, and carried in the error message as far as it fits.
    let text = json.to_string();
    if still_running {
        tracing::warn!(report = %text, "a statement still runs on the server; the next run waits for it");
        return Err(InvokeError::StillRunning(shorten(&text, MAX_ERROR_MESSAGE_CHARS)));
    }
    tracing::error!(report = %text, "the command's report is not ok");
    Err(InvokeError::CommandFailed(shorten(&text, MAX_ERROR_MESSAGE_CHARS)))
}

/// The longest error message carrying a report, in characters. Lambda's response to a synchronous
/// invoke is at most 6 MB; the message is escaped once more inside the error's JSON, so it stays far
/// below that (the full report is in the function's logs).
pub const MAX_ERROR_MESSAGE_CHARS: usize = 256 * 1024;

#[cfg(test)]
mod tests {
    use super::*;

    fn command(json: serde_json::Value) -> Command {
        serde_json::from_value(json).expect("a command")
    }

    #[test]
    fn a_migrate_command_carries_its_target_and_out_of_order_into_the_plan() {
        let (operation, plan) = operation(&command(
            serde_json::json!({"command": "migrate", "target": "2", "out_of_order": true, "dry_run": true}),
        ))
        .expect("valid");
        assert_eq!(operation, Operation::Migrate { dry_run: true });
        assert_eq!(plan.target, Version::parse("2"));
        assert!(plan.out_of_order);
    }

    #[test]
    fn a_baseline_command_keeps_its_database() {
        let (operation, _) = operation(&command(
            serde_json::json!({"command": "baseline", "version": "3", "database": "shop"}),
        ))
        .expect("valid");
        let want = Operation::Baseline {
            version: Version::parse("3").expect("a version"),
            database: Some("shop".into()),
        };
        assert_eq!(operation, want);
    }

    #[test]
    fn a_target_that_is_not_a_version_is_an_invalid_payload() {
        let e = operation(&command(serde_json::json!({"command": "migrate", "target": "x.y"})))
            .expect_err("refused");
        assert_eq!(e, InvokeError::InvalidPayload("target \"x.y\" is not a version".into()));
    }
}
