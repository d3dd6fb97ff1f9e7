//! The Lambda function's logic: a payload and the invocation's deadline in, an answer out. The
//! binary (`src/bin/aurora-migrate-lambda.rs`) only wires this to `lambda_runtime` and logging.
//!
//! # Custom-resource events (CloudFormation, `Custom::AuroraMigrations`)
//!
//! Every event gets exactly one answer PUT to its `ResponseURL` ([`response`]), also when the
//! request is malformed, when the handling panics (the work runs in a task whose panic is caught at
//! the join) and when time runs out: the run gets a deadline `margin` before the Lambda's own
//! ([`ENV_DEADLINE_MARGIN_MS`], default 10 s), at which the runner stops at a statement boundary
//! and records its progress; and if it has still not returned `margin / 3` before the Lambda's
//! deadline (a statement that outlives the margin), the task is dropped and FAILED is answered.
//!
//! The rules, in order:
//! 1. **Delete**: SUCCESS, nothing is read or changed (the schema and its history stay).
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
//!
//! A redelivered event is harmless: the history makes a second migrate apply nothing. The
//! PhysicalResourceId is `aurora-migrate-<LogicalResourceId>` on Create and the one CloudFormation
//! sends afterwards: never derived from the hash, so an Update never replaces the resource.
//! `Data`: [`names::DATA_CURRENT_VERSION`], [`names::DATA_APPLIED`],
//! [`names::DATA_APPLIED_VERSIONS`], [`names::DATA_CONTENT_HASH`]; the whole body stays under
//! 4096 bytes ([`events::CustomResourceResponse::body`]).
//!
//! # Manual commands
//!
//! `{"command": "migrate" | "status" | "validate" | "repair" | "baseline", ...}` ([`events::Command`])
//! returns the same JSON report as the CLI's `--format json`. A bad command, a panic or a run error
//! is an error returned to the invoker (`errorType`, `errorMessage`).
//!
//! # Test hook
//!
//! [`ENV_TEST_PANIC`] = `1` makes the handling of every event panic, so that tests can check the
//! answer to a panic in the real binary. It is read per event, inside the handler only; nothing
//! sets it in a deployment (the CDK construct does not know it).

pub mod events;
pub mod response;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::apply::plan::{PlanOptions, State};
use crate::apply::{Event, Report, RunConfig, RunError, Runner};
use crate::aws::data_api::{DataApi, Target};
use crate::names;
use crate::scripts::source::{discover, Scripts, SourceError, Version};

use events::{Command, CustomResourceRequest, CustomResourceResponse, Payload, RequestType, Status};
use response::Responder;

/// Milliseconds before the Lambda's deadline at which a run stops (default 10000). Tests shorten it.
pub const ENV_DEADLINE_MARGIN_MS: &str = "AURORA_MIGRATE_DEADLINE_MARGIN_MS";
/// Tests only: `1` makes the handler panic on every event (see the module doc).
pub const ENV_TEST_PANIC: &str = "AURORA_MIGRATE_TEST_PANIC";
/// Set by Lambda: the function's name, recorded in the history as who applied a migration.
const ENV_FUNCTION_NAME: &str = "AWS_LAMBDA_FUNCTION_NAME";

/// The function's configuration, read once from the environment. Reading never fails: a missing
/// value is reported in the answer to each event, so that CloudFormation always gets an answer.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Cluster ARN ([`names::ENV_RESOURCE_ARN`]).
    pub resource_arn: Option<String>,
    /// Secret ARN or name ([`names::ENV_SECRET_ARN`]).
    pub secret: Option<String>,
    /// Default database ([`names::ENV_DATABASE`]).
    pub database: Option<String>,
    /// Scripts folder ([`names::ENV_MIGRATIONS_DIR`], default `/opt/migrations`).
    pub migrations_dir: PathBuf,
    /// History table ([`names::ENV_HISTORY_TABLE`]).
    pub history_table: String,
    /// Database of the top-level scripts' history and lock tables ([`names::ENV_HISTORY_DATABASE`];
    /// unset: the default database).
    pub history_database: Option<String>,
    /// Data API endpoint override ([`names::ENV_ENDPOINT_URL`]).
    pub endpoint_url: Option<String>,
    /// Stop this long before the Lambda's deadline ([`ENV_DEADLINE_MARGIN_MS`]).
    pub margin: Duration,
    /// Recorded as `installed_by`.
    pub installed_by: String,
}

impl Settings {
    /// From the process environment.
    pub fn from_env() -> Settings {
        Settings::from_lookup(|name| std::env::var(name).ok())
    }

    /// From any lookup (tests).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Settings {
        let get = |name: &str| get(name).filter(|v| !v.trim().is_empty());
        Settings {
            resource_arn: get(names::ENV_RESOURCE_ARN),
            secret: get(names::ENV_SECRET_ARN),
            database: get(names::ENV_DATABASE),
            migrations_dir: PathBuf::from(
                get(names::ENV_MIGRATIONS_DIR).unwrap_or_else(|| names::DEFAULT_MIGRATIONS_DIR.into()),
            ),
            history_table: get(names::ENV_HISTORY_TABLE)
                .unwrap_or_else(|| names::DEFAULT_HISTORY_TABLE.into()),
            history_database: get(names::ENV_HISTORY_DATABASE),
            endpoint_url: get(names::ENV_ENDPOINT_URL),
            margin: Duration::from_millis(
                get(ENV_DEADLINE_MARGIN_MS).and_then(|v| v.parse().ok()).unwrap_or(10_000),
            ),
            installed_by: format!(
                "aurora-migrate-lambda@{}",
                get(ENV_FUNCTION_NAME).unwrap_or_else(|| "local".into())
            ),
        }
    }
}

/// An error for the invoker of a manual command (Lambda's `errorType` / `errorMessage`).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{kind}: {message}")]
pub struct InvokeError {
    /// A short CamelCase name: `InvalidPayload`, `InvalidScripts`, `Setup`, `Locked`, `RunFailed`,
    /// `Panic`, `Timeout`, `AnswerNotDelivered`.
    pub kind: &'static str,
    /// What happened and what to do.
    pub message: String,
}

impl InvokeError {
    fn new(kind: &'static str, message: impl Into<String>) -> InvokeError {
        InvokeError { kind, message: message.into() }
    }
}

/// When the run must stop, and when the answer must go out at the latest.
#[derive(Debug, Clone, Copy)]
struct Deadlines {
    run: Instant,
    hard: Instant,
}

impl Deadlines {
    /// From the invocation's deadline in milliseconds since the epoch.
    fn new(deadline_ms: u64, margin: Duration) -> Deadlines {
        let now_ms = SystemTime::now().duration_since(UNIX_EPOCH).map(|d| d.as_millis() as u64).unwrap_or(0);
        let left = Duration::from_millis(deadline_ms.saturating_sub(now_ms));
        let now = Instant::now();
        Deadlines { run: now + left.saturating_sub(margin), hard: now + left.saturating_sub(margin / 3) }
    }
}

/// The handler: settings, the response client and the Data API client (built on first use).
pub struct Handler {
    settings: Settings,
    responder: Responder,
    api: tokio::sync::OnceCell<(Arc<DataApi>, Option<String>)>,
}

impl Handler {
    /// A handler; cheap, does no I/O.
    pub fn new(settings: Settings) -> Handler {
        Handler { settings, responder: Responder::new(), api: tokio::sync::OnceCell::new() }
    }

    /// Handles one invocation whose deadline is `deadline_ms` (milliseconds since the epoch).
    /// Custom-resource events are answered at their ResponseURL before this returns; the returned
    /// value is the invocation's result.
    pub async fn handle(self: Arc<Self>, payload: Value, deadline_ms: u64) -> Result<Value, InvokeError> {
        let deadlines = Deadlines::new(deadline_ms, self.settings.margin);
        match events::classify(&payload) {
            Payload::Invalid(message) => {
                tracing::error!(error = %message, "rejected the payload");
                Err(InvokeError::new("InvalidPayload", message))
            }
            Payload::Unusable { answer, response_url } => {
                tracing::error!(reason = %answer.reason, "malformed custom-resource request");
                self.answer(&response_url, &answer).await?;
                Ok(serde_json::to_value(&*answer).unwrap_or(Value::Null))
            }
            Payload::CustomResource(request) => {
                let started = Instant::now();
                let (me, r) = (self.clone(), request.clone());
                let task = tokio::spawn(async move { me.custom_resource(&r, deadlines.run).await });
                let answer = match finish(task, deadlines.hard).await {
                    Ok(answer) => answer,
                    Err(Ended::Panicked(message)) => {
                        CustomResourceResponse::to(&request, Status::Failed).because(format!("aurora-migrate panicked: {message}"))
                    }
                    Err(Ended::TimedOut) => CustomResourceResponse::to(&request, Status::Failed).because(
                        "aurora-migrate: the run did not end before the Lambda's deadline (a statement outlived the \
                         safety margin); what ran is recorded in the history and the next run resumes there",
                    ),
                };
                tracing::info!(
                    request_type = ?request.request_type,
                    status = ?answer.status,
                    reason = %answer.reason,
                    applied = answer.data.get(names::DATA_APPLIED).map(String::as_str).unwrap_or("0"),
                    current_version = answer.data.get(names::DATA_CURRENT_VERSION).map(String::as_str).unwrap_or(""),
                    duration_ms = started.elapsed().as_millis() as u64,
                    "custom-resource event handled"
                );
                self.answer(&request.response_url, &answer).await?;
                Ok(serde_json::to_value(&answer).unwrap_or(Value::Null))
            }
            Payload::Command(command) => {
                let me = self.clone();
                let task = tokio::spawn(async move { me.command(command, deadlines.run).await });
                match finish(task, deadlines.hard).await {
                    Ok(result) => result,
                    Err(Ended::Panicked(message)) => Err(InvokeError::new("Panic", format!("aurora-migrate panicked: {message}"))),
                    Err(Ended::TimedOut) => Err(InvokeError::new(
                        "Timeout",
                        "the command did not end before the Lambda's deadline; what ran is recorded in the history",
                    )),
                }
            }
        }
    }

    async fn answer(&self, url: &str, answer: &CustomResourceResponse) -> Result<(), InvokeError> {
        let body = answer.body();
        self.responder.put(url, &body).await.map(drop).map_err(|e| {
            tracing::error!(error = %e, "the answer to CloudFormation was not delivered");
            InvokeError::new("AnswerNotDelivered", e.to_string())
        })
    }

    fn panic_if_asked() {
        if std::env::var(ENV_TEST_PANIC).as_deref() == Ok("1") {
            panic!("{ENV_TEST_PANIC}=1: panicking on purpose (a test hook)");
        }
    }

    /// The Data API client, built once per process.
    async fn api(&self) -> Result<&(Arc<DataApi>, Option<String>), String> {
        let s = &self.settings;
        let (Some(resource_arn), Some(secret)) = (&s.resource_arn, &s.secret) else {
            return Err(format!(
                "the function's environment lacks {} or {}",
                names::ENV_RESOURCE_ARN,
                names::ENV_SECRET_ARN
            ));
        };
        self.api
            .get_or_try_init(|| async {
                let target = Target {
                    resource_arn: resource_arn.clone(),
                    secret: secret.clone(),
                    endpoint_url: s.endpoint_url.clone(),
                };
                let (api, dbname) =
                    DataApi::connect(&target, s.database.is_none()).await.map_err(|e| e.to_string())?;
                Ok((Arc::new(api), dbname))
            })
            .await
    }

    /// A runner for `database` (else the configured or the secret's default database), stopping at
    /// `deadline`.
    async fn runner(
        &self,
        database: Option<&str>,
        deadline: Instant,
        plan: PlanOptions,
    ) -> Result<Runner<DataApi>, String> {
        let (api, dbname) = self.api().await?;
        let left = deadline.saturating_duration_since(Instant::now());
        let defaults = RunConfig::default();
        let config = RunConfig {
            default_database: database
                .map(str::to_owned)
                .or_else(|| self.settings.database.clone())
                .or_else(|| dbname.clone()),
            history_table: self.settings.history_table.clone(),
            history_database: self.settings.history_database.clone(),
            installed_by: self.settings.installed_by.clone(),
            // Waiting for a lock or retrying a paused cluster must not outlast the invocation.
            lock_wait: defaults.lock_wait.min(left),
            retry_for: defaults.retry_for.min(left),
            deadline: Some(deadline),
            plan,
            ..defaults
        };
        Runner::new(api.clone(), config).map_err(|e| e.to_string())
    }

    fn scripts(&self) -> Result<Scripts, String> {
        let dir = &self.settings.migrations_dir;
        discover(dir).map_err(|e| match e {
            SourceError::Invalid(problems) => format!(
                "the scripts in {} are not usable: {}",
                dir.display(),
                problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
            ),
            other => format!("{}: {other}{}", dir.display(), source_chain(&other)),
        })
    }

    async fn custom_resource(
        &self,
        request: &CustomResourceRequest,
        deadline: Instant,
    ) -> CustomResourceResponse {
        Self::panic_if_asked();
        let ok = || CustomResourceResponse::to(request, Status::Success);
        let failed = |reason: String| {
            CustomResourceResponse::to(request, Status::Failed).because(format!("aurora-migrate: {reason}"))
        };
        if request.request_type == RequestType::Delete {
            return ok().because(
                "Delete: nothing changed; the schema and its migration history stay in the database",
            );
        }
        let scripts = match self.scripts() {
            Ok(s) => s,
            Err(e) => return failed(e),
        };
        let hash = scripts.content_hash.as_str();
        let Some(wanted) = request.property(names::PROPERTY_CONTENT_HASH, false) else {
            return failed(format!(
                "the resource has no {} property (the content hash of the scripts)",
                names::PROPERTY_CONTENT_HASH
            ));
        };
        let database = request.property(names::PROPERTY_DATABASE, false);
        let update = request.request_type == RequestType::Update;
        if wanted != hash {
            if update && request.property(names::PROPERTY_CONTENT_HASH, true) == Some(hash) {
                tracing::warn!(
                    wanted,
                    found = hash,
                    "Update back to older scripts while the layer holds the newer ones: a rollback"
                );
                let mut answer = ok().because(format!(
                    "rollback: nothing applied (the layer still holds the scripts {hash} of the update being rolled back; \
                     applied migrations are never undone)"
                ));
                answer.data = self.rollback_data(&scripts, database, deadline).await;
                return answer;
            }
            return failed(format!(
                "content hash mismatch: the resource's {} is {wanted} but the scripts in {} hash to {hash}; the layer \
                 does not hold the scripts the template was built from",
                names::PROPERTY_CONTENT_HASH,
                self.settings.migrations_dir.display()
            ));
        }
        let runner = match self.runner(database, deadline, PlanOptions::default()).await {
            Ok(r) => r,
            Err(e) => return failed(e),
        };
        if update {
            let status = match runner.status(&scripts).await {
                Ok(s) => s,
                Err(e) => return failed(run_error(&e)),
            };
            let newer = newer_in_history(&status);
            if !newer.is_empty() {
                tracing::warn!(newer = %newer.join(","), "the history holds versions newer than the scripts: a rollback");
                let mut answer = ok().because(format!(
                    "rollback: nothing applied; the database has migrations newer than these scripts ({}), which are \
                     never undone",
                    newer.join(", ")
                ));
                answer.data = data(&status);
                return answer;
            }
        }
        let mut log = log_event;
        match runner.migrate(&scripts, false, &mut log).await {
            Ok(report) if report.ok => {
                let mut answer = ok();
                answer.data = data(&report);
                answer
            }
            Ok(report) => failed(format!("migration failed: {}", report.problems.join("; "))),
            Err(e) => failed(run_error(&e)),
        }
    }

    /// `Data` for a rollback answer: the current version if the database can be read, the
    /// folder's hash in any case.
    async fn rollback_data(
        &self,
        scripts: &Scripts,
        database: Option<&str>,
        deadline: Instant,
    ) -> std::collections::BTreeMap<String, String> {
        let status = match self.runner(database, deadline, PlanOptions::default()).await {
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

    async fn command(&self, command: Command, deadline: Instant) -> Result<Value, InvokeError> {
        Self::panic_if_asked();
        tracing::info!(?command, "manual command");
        let scripts = self.scripts().map_err(|e| InvokeError::new("InvalidScripts", e))?;
        let mut plan = PlanOptions::default();
        if let Command::Migrate { target, out_of_order, .. } = &command {
            plan.out_of_order = *out_of_order;
            plan.target = match target {
                Some(t) => Some(Version::parse(t).ok_or_else(|| {
                    InvokeError::new("InvalidPayload", format!("target {t:?} is not a version"))
                })?),
                None => None,
            };
        }
        let runner = self
            .runner(command.database(), deadline, plan)
            .await
            .map_err(|e| InvokeError::new("Setup", e))?;
        let result = match &command {
            Command::Migrate { dry_run, .. } => {
                let mut log = log_event;
                runner.migrate(&scripts, *dry_run, &mut log).await
            }
            Command::Status { .. } => runner.status(&scripts).await,
            Command::Validate { .. } => runner.validate(&scripts, &self.settings.migrations_dir).await,
            Command::Repair { accept_checksums, .. } => runner.repair(&scripts, *accept_checksums).await,
            Command::Baseline { version, database } => {
                let v = Version::parse(version).ok_or_else(|| {
                    InvokeError::new("InvalidPayload", format!("version {version:?} is not a version"))
                })?;
                runner.baseline(&scripts, &v, database.as_deref()).await
            }
        };
        match result {
            Ok(report) => {
                serde_json::to_value(&report).map_err(|e| InvokeError::new("RunFailed", e.to_string()))
            }
            Err(e @ RunError::Locked { .. }) => Err(InvokeError::new("Locked", e.to_string())),
            Err(e) => Err(InvokeError::new("RunFailed", run_error(&e))),
        }
    }
}

/// How a spawned handling ended when it did not return.
enum Ended {
    Panicked(String),
    TimedOut,
}

/// Awaits `task` until `hard`; a panic or the deadline become [`Ended`].
async fn finish<T: Send + 'static>(mut task: tokio::task::JoinHandle<T>, hard: Instant) -> Result<T, Ended> {
    match tokio::time::timeout_at(hard.into(), &mut task).await {
        Ok(Ok(value)) => Ok(value),
        Ok(Err(e)) if e.is_panic() => {
            let payload = e.into_panic();
            let message = payload
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| payload.downcast_ref::<&str>().map(|s| (*s).to_owned()))
                .unwrap_or_else(|| "a panic without a message".into());
            tracing::error!(panic = %message, "the handler panicked");
            Err(Ended::Panicked(message))
        }
        Ok(Err(_)) => Err(Ended::Panicked("the handling task was cancelled".into())),
        Err(_) => {
            task.abort();
            tracing::error!("the handler did not return before the Lambda's deadline; answering FAILED");
            Err(Ended::TimedOut)
        }
    }
}

/// The progress events as log lines (the runner logs each applied migration and failed statement).
fn log_event(event: &Event) {
    if let Event::Started { database, version, script, from, total } = event {
        tracing::info!(database = %database, version = %version, script = %script, from_statement = from + 1, statements = total, "migration started");
    }
}

/// Versions in history that are newer than every script (a rollback's signature).
pub fn newer_in_history(report: &Report) -> Vec<String> {
    report
        .databases
        .iter()
        .flat_map(|d| {
            d.entries
                .iter()
                .filter(|e| e.entry.state == State::NewerInHistory)
                .map(move |e| format!("{}:{}", d.database, e.entry.version))
        })
        .collect()
}

/// `Data` of a SUCCESS answer.
fn data(report: &Report) -> std::collections::BTreeMap<String, String> {
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

/// A run error with its causes, on one line.
fn run_error(e: &RunError) -> String {
    format!("{e}{}", source_chain(e))
}

fn source_chain(e: &dyn std::error::Error) -> String {
    let mut out = String::new();
    let mut source = e.source();
    while let Some(cause) = source {
        let text = cause.to_string();
        if !out.contains(&text) {
            out.push_str(": ");
            out.push_str(&text);
        }
        source = cause.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settings_default_to_the_layer_folder_and_a_ten_second_margin() {
        let s = Settings::from_lookup(|_| None);
        assert_eq!(s.migrations_dir, PathBuf::from("/opt/migrations"));
        assert_eq!(s.history_table, "aurora_migrate_history");
        assert_eq!(s.margin, Duration::from_secs(10));
        assert_eq!(s.resource_arn, None);
        assert_eq!(s.history_database, None);
        assert_eq!(s.installed_by, "aurora-migrate-lambda@local");
    }

    #[test]
    fn settings_read_the_names_shared_with_the_cdk_code() {
        let s = Settings::from_lookup(|name| {
            Some(match name {
                "AURORA_MIGRATE_RESOURCE_ARN" => "arn:cluster".into(),
                "AURORA_MIGRATE_SECRET_ARN" => "secret".into(),
                "AURORA_MIGRATE_DATABASE" => "shop".into(),
                "AURORA_MIGRATE_MIGRATIONS_DIR" => "/tmp/m".into(),
                "AURORA_MIGRATE_HISTORY_DATABASE" => "migrations".into(),
                "AURORA_MIGRATE_DEADLINE_MARGIN_MS" => "1500".into(),
                "AWS_LAMBDA_FUNCTION_NAME" => "fn".into(),
                _ => return None,
            })
        });
        assert_eq!(s.resource_arn.as_deref(), Some("arn:cluster"));
        assert_eq!(s.database.as_deref(), Some("shop"));
        assert_eq!(s.migrations_dir, PathBuf::from("/tmp/m"));
        assert_eq!(s.history_database.as_deref(), Some("migrations"));
        assert_eq!(s.margin, Duration::from_millis(1500));
        assert_eq!(s.installed_by, "aurora-migrate-lambda@fn");
    }

    #[test]
    fn the_run_stops_a_margin_before_the_deadline_and_the_answer_goes_out_before_it() {
        let now_ms =
            SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_millis() as u64;
        let start = Instant::now();
        let d = Deadlines::new(now_ms + 30_000, Duration::from_secs(9));
        let run = d.run.duration_since(start).as_millis() as i64;
        let hard = d.hard.duration_since(start).as_millis() as i64;
        assert!((run - 21_000).abs() < 200, "run deadline {run} ms");
        assert!((hard - 27_000).abs() < 200, "hard deadline {hard} ms");
        let past = Deadlines::new(now_ms.saturating_sub(5_000), Duration::from_secs(9));
        assert!(past.run <= Instant::now() && past.hard <= Instant::now());
    }

    #[tokio::test]
    async fn a_panicking_task_ends_as_panicked_with_its_message() {
        let task = tokio::spawn(async { panic!("boom {}", 7) });
        match finish::<()>(task, Instant::now() + Duration::from_secs(5)).await {
            Err(Ended::Panicked(m)) => assert_eq!(m, "boom 7"),
            _ => panic!("not reported as a panic"),
        }
    }

    #[tokio::test]
    async fn a_task_that_outlives_the_hard_deadline_is_dropped() {
        let (tx, rx) = tokio::sync::oneshot::channel::<()>();
        let task = tokio::spawn(async move {
            let _tx = tx;
            tokio::time::sleep(Duration::from_secs(60)).await;
        });
        assert!(matches!(
            finish(task, Instant::now() + Duration::from_millis(50)).await,
            Err(Ended::TimedOut)
        ));
        // The sender is dropped with the aborted task.
        assert!(rx.await.is_err());
    }

    fn entry(version: &str, state: State) -> crate::apply::StatusEntry {
        crate::apply::StatusEntry {
            entry: crate::apply::plan::Entry {
                version: version.into(),
                script: format!("V{version}__x.sql"),
                state,
            },
            history: None,
        }
    }

    #[test]
    fn only_versions_newer_in_history_count_as_a_rollback() {
        let mut report = Report {
            command: "status".into(),
            databases: vec![crate::apply::DatabaseReport {
                database: "app".into(),
                entries: vec![entry("1", State::Applied), entry("2", State::Pending)],
                applied: Vec::new(),
                error: None,
            }],
            applied: 0,
            current_version: Some("1".into()),
            content_hash: "sha256:00".into(),
            ok: true,
            problems: Vec::new(),
            notes: Vec::new(),
            would_run: Vec::new(),
        };
        assert!(newer_in_history(&report).is_empty());
        report.databases[0].entries.push(entry("3", State::NewerInHistory));
        assert_eq!(newer_in_history(&report), vec!["app:3".to_owned()]);
        let d = data(&report);
        assert_eq!(d[names::DATA_CURRENT_VERSION], "1");
        assert_eq!(d[names::DATA_APPLIED], "0");
        assert_eq!(d[names::DATA_CONTENT_HASH], "sha256:00");
    }
}
