//! The CloudFormation custom-resource rules, as two pure functions tested on tables: [`decide`]
//! what an event calls for before the database is touched, and [`conclude`] the answer from how the
//! run ended. [`answer`] acts on them.
//!
//! The rules, in order:
//! 1. **Delete**: SUCCESS, nothing is read or changed (the schema and its history stay).
//!    **`ExpectedVersion`** present and not this function's version ([`VERSION`]): FAILED naming
//!    both (a stale layer or code asset never runs silently).
//! 2. The scripts in the migrations folder are read and hashed. Unreadable or misnamed files:
//!    FAILED naming them. No `ContentHash` property: FAILED.
//! 3. **The event's `ContentHash` differs from the hash of the scripts in the folder**:
//!    - an Update whose `OldResourceProperties.ContentHash` equals the folder's hash is a **stack
//!      rollback** that reached this resource while the function still carries the layer of the
//!      update being rolled back: SUCCESS, nothing is run (migrations cannot be undone, and running
//!      the newer scripts would be the opposite of a rollback);
//!    - anything else (a Create, or an Update matching neither hash) means the layer does not hold
//!      the scripts the template was built from: FAILED naming both hashes. It is never ignored.
//! 4. **The hashes match**:
//!    - an Update when the history holds versions newer than every script in the folder
//!      (`newer-in-history`: the layer was rolled back to older scripts): SUCCESS, nothing is run,
//!      even if older scripts are pending (they would be out of order; that stays refused outside
//!      rollbacks);
//!    - otherwise (Create, ordinary Update) migrate: SUCCESS with `Data` when everything applied,
//!      FAILED with a Reason naming the migration, `file:line` and the database error otherwise.
//!    - with a fleet configured ([`crate::names::ENV_DATABASES`] or
//!      [`crate::names::ENV_DATABASE_PATTERN`]), every database of the fleet is migrated (the
//!      Update's check for newer versions covers each of them); the answer is SUCCESS only when every
//!      database is ok, and its Reason summarises the fleet within the 4096-byte limit
//!      ([`fleet::summary`]).
//! 5. A run that panics, or is still going when the Lambda's deadline is near: FAILED.
//!
//! Every answer carries the function's version in `Data` ([`names::DATA_VERSION`]).

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use crate::apply::fleet::{Fleet, OnFleetEvent};
use crate::apply::plan::{PlanOptions, State};
use crate::apply::{Event, FleetReport, Operation, Report};
use crate::aws::data_api::DataApi;
use crate::lambda::error::with_causes;
use crate::lambda::events::{CustomResourceRequest, CustomResourceResponse, RequestType, Status};
use crate::lambda::fleet;
use crate::lambda::handler::Handler;
use crate::lambda::settings::FleetChoice;
use crate::names;
use crate::scripts::source::Scripts;

/// This function's aurora-migrate version.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");

/// What is known about an event before the database is touched.
#[derive(Debug, Clone, Copy)]
pub struct Received<'a> {
    pub request_type: RequestType,
    /// The event's `ContentHash` property.
    pub wanted: Option<&'a str>,
    /// `OldResourceProperties.ContentHash` (Updates).
    pub old: Option<&'a str>,
    /// The `ExpectedVersion` property.
    pub expected_version: Option<&'a str>,
    /// The hash of the scripts in the folder, or why they cannot be used.
    pub scripts: Result<&'a str, &'a str>,
    /// The folder, for messages.
    pub dir: &'a str,
}

/// What an event calls for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Answer SUCCESS without touching the database.
    Succeed(String),
    /// Answer FAILED.
    Fail(String),
    /// A stack rollback: SUCCESS without running anything (with the current version as `Data`).
    Rollback(String),
    /// Migrate; for an Update, first check that the history holds nothing newer than the scripts.
    Migrate {
        /// Check the history for versions newer than the scripts (a rollback) first.
        check_newer: bool,
    },
}

/// Rules 1 to 4 before the database: see the module doc.
pub fn decide(event: &Received<'_>) -> Decision {
    if event.request_type == RequestType::Delete {
        return Decision::Succeed(
            "Delete: nothing changed; the schema and its migration history stay in the database".into(),
        );
    }
    if let Some(expected) = event.expected_version.filter(|v| *v != VERSION) {
        return Decision::Fail(format!(
            "version mismatch: the resource expects aurora-migrate {expected} ({}) but the function is \
             {VERSION}; deploy the function (or layer) of the same release as the construct",
            names::PROPERTY_EXPECTED_VERSION
        ));
    }
    let hash = match event.scripts {
        Ok(hash) => hash,
        Err(why) => return Decision::Fail(why.to_owned()),
    };
    let Some(wanted) = event.wanted else {
        return Decision::Fail(format!(
            "the resource has no {} property (the content hash of the scripts)",
            names::PROPERTY_CONTENT_HASH
        ));
    };
    let update = event.request_type == RequestType::Update;
    if wanted == hash {
        return Decision::Migrate { check_newer: update };
    }
    if update && event.old == Some(hash) {
        return Decision::Rollback(format!(
            "rollback: nothing applied (the layer still holds the scripts {hash} of the update being rolled \
             back; applied migrations are never undone)"
        ));
    }
    Decision::Fail(format!(
        "content hash mismatch: the resource's {} is {wanted} but the scripts in {} hash to {hash}; the layer \
         does not hold the scripts the template was built from",
        names::PROPERTY_CONTENT_HASH,
        event.dir
    ))
}

/// How a run for an event ended.
#[derive(Debug, Clone)]
pub enum Ended {
    /// An Update found versions in history newer than every script: nothing ran.
    NewerInHistory(Report),
    /// The migrate command returned its report.
    Migrated(Report),
    /// A fleet's Update found versions in history newer than every script in these databases
    /// (`database:version`): nothing ran.
    FleetNewerInHistory(FleetReport, Vec<String>),
    /// A fleet's migrate returned its report.
    FleetMigrated(FleetReport),
    /// A run over several invocations (a deploy's state machine) applied everything; its `Data`.
    Succeeded(BTreeMap<String, String>),
    /// The run stopped with an error before reporting.
    Error(String),
    /// The handling panicked.
    Panicked(String),
    /// The handling was still going when the answer had to go out.
    TimedOut,
}

/// Rules 4 and 5 after the run: the status, the reason and the `Data` of the answer.
pub fn conclude(ended: &Ended) -> (Status, String, BTreeMap<String, String>) {
    let fail = |reason: String| (Status::Failed, reason, BTreeMap::new());
    match ended {
        Ended::NewerInHistory(status) => {
            let newer = newer_in_history(status);
            let reason = format!(
                "rollback: nothing applied; the database has migrations newer than these scripts ({}), which \
                 are never undone",
                newer.join(", ")
            );
            (Status::Success, reason, data(status))
        }
        Ended::Migrated(report) if report.ok => (Status::Success, String::new(), data(report)),
        Ended::Migrated(report) if report.still_running => fail(format!(
            "aurora-migrate: still running on the server: {}; the next deployment waits for it to \
             finish, records it and goes on",
            report.problems.join("; ")
        )),
        Ended::Migrated(report) => {
            fail(format!("aurora-migrate: migration failed: {}", report.problems.join("; ")))
        }
        Ended::FleetNewerInHistory(status, newer) => {
            let reason = format!(
                "rollback: nothing applied; databases of the fleet have migrations newer than these scripts \
                 ({}), which are never undone",
                newer.join(", ")
            );
            (Status::Success, reason, fleet::data(status))
        }
        Ended::FleetMigrated(report) if report.ok => {
            (Status::Success, fleet::summary(report), fleet::data(report))
        }
        Ended::FleetMigrated(report) => {
            (Status::Failed, format!("aurora-migrate: {}", fleet::summary(report)), fleet::data(report))
        }
        Ended::Succeeded(data) => (Status::Success, String::new(), data.clone()),
        Ended::Error(e) => fail(format!("aurora-migrate: {e}")),
        Ended::Panicked(message) => fail(format!("aurora-migrate panicked: {message}")),
        Ended::TimedOut => fail(
            "aurora-migrate: the run did not end before the Lambda's deadline (a statement outlived the \
             safety margin); what ran is recorded in the history and the next run resumes there"
                .into(),
        ),
    }
}

/// The answer to `request` for how its handling ended.
pub fn respond(request: &CustomResourceRequest, ended: &Ended) -> CustomResourceResponse {
    let (status, reason, data) = conclude(ended);
    let mut answer = CustomResourceResponse::to(request, status);
    if !reason.is_empty() {
        answer = answer.because(reason);
    }
    answer.data = data;
    answer
}

/// Handles a custom-resource event (rules 1 to 4; rule 5 is the handler's).
pub(crate) async fn answer(
    handler: &Handler,
    request: &CustomResourceRequest,
    deadline: Instant,
) -> CustomResourceResponse {
    let scripts = handler.scripts();
    let decision = decide_for(handler, request, &scripts);
    let failed = |reason: String| {
        CustomResourceResponse::to(request, Status::Failed).because(format!("aurora-migrate: {reason}"))
    };
    let ok = |reason: String| CustomResourceResponse::to(request, Status::Success).because(reason);
    let database = request.property(names::PROPERTY_DATABASE, false);
    match (decision, &scripts) {
        (Decision::Succeed(reason), _) => ok(reason),
        (Decision::Fail(reason), _) => failed(reason),
        (Decision::Rollback(reason), Ok(scripts)) => {
            tracing::warn!(found = %scripts.content_hash, "Update back to older scripts while the layer holds the newer ones: a rollback");
            let mut answer = ok(reason);
            answer.data = rollback_data(handler, scripts, database, deadline).await;
            answer
        }
        (Decision::Migrate { check_newer }, Ok(scripts)) => match handler.settings().fleet() {
            Err(why) => failed(why),
            Ok(Some(choice)) => {
                let ended = migrate_fleet(handler, scripts, &choice, deadline, check_newer).await;
                respond(request, &ended)
            }
            Ok(None) => {
                let ended = migrate(handler, scripts, database, deadline, check_newer).await;
                respond(request, &ended)
            }
        },
        (_, Err(why)) => failed(why.clone()),
    }
}

/// Rules 1 to 4 before the database for `request` over the scripts of the function's folder.
pub(crate) fn decide_for(
    handler: &Handler,
    request: &CustomResourceRequest,
    scripts: &Result<Scripts, String>,
) -> Decision {
    let dir = handler.settings().migrations_dir.display().to_string();
    decide(&Received {
        request_type: request.request_type,
        wanted: request.property(names::PROPERTY_CONTENT_HASH, false),
        old: request.property(names::PROPERTY_CONTENT_HASH, true),
        expected_version: request.property(names::PROPERTY_EXPECTED_VERSION, false),
        scripts: scripts.as_ref().map(|s| s.content_hash.as_str()).map_err(String::as_str),
        dir: &dir,
    })
}

/// Rule 4: migrate, unless an Update finds versions in history newer than the scripts.
pub(crate) async fn migrate(
    handler: &Handler,
    scripts: &Scripts,
    database: Option<&str>,
    deadline: Instant,
    check_newer: bool,
) -> Ended {
    let runner = match handler.runner(database, deadline, PlanOptions::default()).await {
        Ok(r) => r,
        Err(e) => return Ended::Error(e),
    };
    if check_newer {
        let status = match runner.status(scripts).await {
            Ok(s) => s,
            Err(e) => return Ended::Error(with_causes(&e)),
        };
        let newer = newer_in_history(&status);
        if !newer.is_empty() {
            tracing::warn!(newer = %newer.join(","), "the history holds versions newer than the scripts: a rollback");
            return Ended::NewerInHistory(status);
        }
    }
    match runner.migrate(scripts, false, &mut log_event).await {
        Ok(report) => Ended::Migrated(report),
        Err(e) => Ended::Error(with_causes(&e)),
    }
}

/// An Update's rollback check over a fleet: a fleet-wide `status`, and the rollback's end when any
/// database's history holds versions newer than the scripts.
pub(crate) async fn fleet_newer_in_history(
    fleet: &Fleet<DataApi>,
    choice: &FleetChoice,
    scripts: &Scripts,
    handler: &Handler,
) -> Result<Option<Ended>, String> {
    let dir = &handler.settings().migrations_dir;
    let status = fleet
        .run(&Operation::Status, &choice.selection, scripts, dir, Arc::new(log_event))
        .await
        .map_err(|e| with_causes(&e))?;
    let newer: Vec<String> =
        status.databases.iter().filter_map(|d| d.report.as_ref()).flat_map(newer_in_history).collect();
    if newer.is_empty() {
        return Ok(None);
    }
    tracing::warn!(newer = %newer.join(","), "the history holds versions newer than the scripts: a rollback");
    Ok(Some(Ended::FleetNewerInHistory(status, newer)))
}

/// Rule 4 over a fleet: migrate every database, unless an Update finds versions in history newer
/// than the scripts in any of them. The full report goes to the log; the answer summarises it.
pub(crate) async fn migrate_fleet(
    handler: &Handler,
    scripts: &Scripts,
    choice: &FleetChoice,
    deadline: Instant,
    check_newer: bool,
) -> Ended {
    let fleet = match handler.fleet(deadline, PlanOptions::default(), choice.parallel).await {
        Ok(fleet) => fleet,
        Err(e) => return Ended::Error(e),
    };
    let dir = &handler.settings().migrations_dir;
    let on_event: Arc<OnFleetEvent> = Arc::new(log_event);
    if check_newer {
        match fleet_newer_in_history(&fleet, choice, scripts, handler).await {
            Ok(Some(ended)) => return ended,
            Ok(None) => {}
            Err(why) => return Ended::Error(why),
        }
    }
    let migrate = Operation::Migrate { dry_run: false };
    match fleet.run(&migrate, &choice.selection, scripts, dir, on_event).await {
        Ok(report) => {
            let full = serde_json::to_string(&report).unwrap_or_default();
            tracing::info!(ok = report.ok, report = %full, "fleet report");
            Ended::FleetMigrated(report)
        }
        Err(e) => Ended::Error(with_causes(&e)),
    }
}

/// `Data` for a rollback answer: the current version if the database can be read, the folder's hash
/// in any case.
pub(crate) async fn rollback_data(
    handler: &Handler,
    scripts: &Scripts,
    database: Option<&str>,
    deadline: Instant,
) -> BTreeMap<String, String> {
    let status = match handler.runner(database, deadline, PlanOptions::default()).await {
        Ok(runner) => runner.status(scripts).await.ok(),
        Err(_) => None,
    };
    match status {
        Some(status) => data(&status),
        None => [
            (names::DATA_CURRENT_VERSION.to_owned(), String::new()),
            (names::DATA_APPLIED.to_owned(), "0".to_owned()),
            (names::DATA_CONTENT_HASH.to_owned(), scripts.content_hash.clone()),
        ]
        .into(),
    }
}

/// The progress events as log lines (the runner logs each applied migration and failed statement).
pub(crate) fn log_event(event: &Event) {
    if let Event::Started { database, version, script, from, total } = event {
        tracing::info!(database = %database, version = %version, script = %script, from_statement = from + 1, statements = total, "migration started");
    }
}

/// Versions in history that are newer than every script (a rollback's signature).
pub fn newer_in_history(report: &Report) -> Vec<String> {
    versions_in(report, State::NewerInHistory, ":")
}

/// `database` `separator` `version` of each entry of `report` in `state`, in report order.
pub(crate) fn versions_in(report: &Report, state: State, separator: &str) -> Vec<String> {
    report
        .databases
        .iter()
        .flat_map(|d| {
            d.entries
                .iter()
                .filter(|e| e.entry.state == state)
                .map(move |e| format!("{}{separator}{}", d.database, e.entry.version))
        })
        .collect()
}

/// `Data` of a SUCCESS answer.
fn data(report: &Report) -> BTreeMap<String, String> {
    let versions: Vec<&str> =
        report.databases.iter().flat_map(|d| d.applied.iter().map(|a| a.version.as_str())).collect();
    [
        (names::DATA_CURRENT_VERSION.to_owned(), report.current_version.clone().unwrap_or_default()),
        (names::DATA_APPLIED.to_owned(), report.applied.to_string()),
        (names::DATA_APPLIED_VERSIONS.to_owned(), versions.join(",")),
        (names::DATA_CONTENT_HASH.to_owned(), report.content_hash.clone()),
    ]
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::plan::Entry;
    use crate::apply::report::{DatabaseReport, StatusEntry};

    const NEW: &str = "sha256:new";
    const OLD: &str = "sha256:old";

    fn event(
        request_type: RequestType,
        wanted: Option<&'static str>,
        old: Option<&'static str>,
    ) -> Received<'static> {
        Received {
            request_type,
            wanted,
            old,
            expected_version: None,
            scripts: Ok(NEW),
            dir: "/opt/migrations",
        }
    }

    fn fails_with(decision: Decision, text: &str) -> bool {
        matches!(decision, Decision::Fail(reason) if reason.contains(text))
    }

    #[test]
    fn a_delete_succeeds_without_reading_anything_even_with_unusable_scripts() {
        let delete = Received { scripts: Err("misnamed"), ..event(RequestType::Delete, None, None) };
        assert!(matches!(decide(&delete), Decision::Succeed(r) if r.starts_with("Delete: nothing changed")));
    }

    #[test]
    fn a_create_whose_hash_matches_the_scripts_migrates() {
        assert_eq!(
            decide(&event(RequestType::Create, Some(NEW), None)),
            Decision::Migrate { check_newer: false }
        );
    }

    #[test]
    fn an_update_whose_hash_matches_migrates_after_checking_for_newer_history() {
        assert_eq!(
            decide(&event(RequestType::Update, Some(NEW), Some(OLD))),
            Decision::Migrate { check_newer: true }
        );
    }

    #[test]
    fn a_rollback_update_back_to_the_hash_of_older_scripts_succeeds_without_running() {
        let rollback = decide(&event(RequestType::Update, Some(OLD), Some(NEW)));
        assert!(matches!(rollback, Decision::Rollback(r) if r.starts_with("rollback: nothing applied")));
    }

    #[test]
    fn a_hash_mismatch_on_create_fails_naming_both_hashes() {
        let d = decide(&event(RequestType::Create, Some(OLD), None));
        assert!(fails_with(d, "content hash mismatch: the resource's ContentHash is sha256:old but the scripts in /opt/migrations hash to sha256:new"));
    }

    #[test]
    fn an_update_matching_neither_hash_fails() {
        assert!(fails_with(
            decide(&event(RequestType::Update, Some(OLD), Some("sha256:other"))),
            "content hash mismatch"
        ));
    }

    #[test]
    fn an_expected_version_other_than_the_functions_fails_naming_both() {
        let stale =
            Received { expected_version: Some("0.0.0-old"), ..event(RequestType::Create, Some(NEW), None) };
        assert!(fails_with(
            decide(&stale),
            &format!("expects aurora-migrate 0.0.0-old (ExpectedVersion) but the function is {VERSION}")
        ));
        let same =
            Received { expected_version: Some(VERSION), ..event(RequestType::Update, Some(NEW), Some(OLD)) };
        assert_eq!(decide(&same), Decision::Migrate { check_newer: true });
        let delete =
            Received { expected_version: Some("0.0.0-old"), ..event(RequestType::Delete, None, None) };
        assert!(matches!(decide(&delete), Decision::Succeed(_)), "a Delete is never blocked");
    }

    #[test]
    fn an_event_without_a_content_hash_fails() {
        assert!(fails_with(decide(&event(RequestType::Create, None, None)), "has no ContentHash property"));
    }

    #[test]
    fn unusable_scripts_fail_with_why() {
        let e = Received {
            scripts: Err("the scripts in /opt are not usable: x.sql"),
            ..event(RequestType::Create, Some(NEW), None)
        };
        assert!(fails_with(decide(&e), "not usable: x.sql"));
    }

    #[test]
    fn a_malformed_event_with_a_response_url_gets_a_failed_answer() {
        let payload = serde_json::json!({"RequestType": "Explode", "ResponseURL": "http://x", "LogicalResourceId": "M"});
        match crate::lambda::events::classify(&payload) {
            crate::lambda::events::Payload::Unusable { answer, .. } => {
                assert_eq!(answer.status, Status::Failed);
                assert!(answer.reason.contains("malformed"), "{}", answer.reason);
            }
            other => panic!("not answered FAILED: {other:?}"),
        }
    }

    fn report(ok: bool, states: &[(&str, State)]) -> Report {
        let entries = states
            .iter()
            .map(|(v, state)| StatusEntry {
                entry: Entry { version: (*v).into(), script: format!("V{v}__x.sql"), state: state.clone() },
                history: None,
            })
            .collect();
        Report {
            command: "migrate".into(),
            databases: vec![DatabaseReport {
                database: "app".into(),
                entries,
                applied: Vec::new(),
                error: None,
                still_running: false,
                unfinished: false,
            }],
            applied: 0,
            current_version: Some("1".into()),
            content_hash: NEW.into(),
            ok,
            still_running: false,
            unfinished: false,
            problems: if ok {
                Vec::new()
            } else {
                vec!["V2__x.sql:3: migration 2 failed at statement 1 of 1: boom".into()]
            },
            notes: Vec::new(),
            would_run: Vec::new(),
        }
    }

    #[test]
    fn a_successful_migration_answers_success_with_data() {
        let (status, reason, data) = conclude(&Ended::Migrated(report(true, &[("1", State::Applied)])));
        assert_eq!((status, reason.as_str()), (Status::Success, ""));
        assert_eq!(data[names::DATA_CURRENT_VERSION], "1");
        assert_eq!(data[names::DATA_CONTENT_HASH], NEW);
    }

    #[test]
    fn a_failed_migration_answers_failed_naming_the_statement() {
        let (status, reason, _) = conclude(&Ended::Migrated(report(false, &[])));
        assert_eq!(status, Status::Failed);
        assert_eq!(
            reason,
            "aurora-migrate: migration failed: V2__x.sql:3: migration 2 failed at statement 1 of 1: boom"
        );
    }

    #[test]
    fn a_run_stopped_while_a_statement_runs_on_the_server_answers_failed_saying_so() {
        let mut report = report(false, &[]);
        report.still_running = true;
        report.problems =
            vec!["V2__x.sql:3: migration 2, statement 1 of 1: still running on the server (connection 7)"
                .into()];
        let (status, reason, _) = conclude(&Ended::Migrated(report));
        assert_eq!(status, Status::Failed);
        assert!(reason.starts_with("aurora-migrate: still running on the server: V2__x.sql:3:"), "{reason}");
        assert!(reason.contains("the next deployment waits for it"), "{reason}");
    }

    #[test]
    fn an_update_with_newer_versions_in_history_succeeds_as_a_rollback() {
        let status = report(true, &[("1", State::Applied), ("3", State::NewerInHistory)]);
        let (status, reason, data) = conclude(&Ended::NewerInHistory(status));
        assert_eq!(status, Status::Success);
        assert!(reason.contains("newer than these scripts (app:3)"), "{reason}");
        assert_eq!(data[names::DATA_APPLIED], "0");
    }

    #[test]
    fn only_versions_newer_in_history_count_as_a_rollback() {
        assert!(newer_in_history(&report(true, &[("1", State::Applied), ("2", State::Pending)])).is_empty());
    }

    #[test]
    fn a_run_past_the_deadline_answers_failed_saying_the_next_run_resumes() {
        let (status, reason, _) = conclude(&Ended::TimedOut);
        assert_eq!(status, Status::Failed);
        assert!(
            reason.contains("did not end before the Lambda's deadline") && reason.contains("resumes"),
            "{reason}"
        );
    }

    #[test]
    fn a_panic_answers_failed_with_its_message() {
        let (status, reason, _) = conclude(&Ended::Panicked("boom".into()));
        assert_eq!((status, reason.as_str()), (Status::Failed, "aurora-migrate panicked: boom"));
    }

    #[test]
    fn a_run_error_answers_failed_with_the_error() {
        let (status, reason, _) = conclude(&Ended::Error("no default database".into()));
        assert_eq!((status, reason.as_str()), (Status::Failed, "aurora-migrate: no default database"));
    }
}
