//! One invocation: tell the payload apart, run its handling in a task (so a panic is caught at the
//! join), bound it by the Lambda's deadline, and answer: custom-resource events at their
//! ResponseURL (exactly once, also on panic, bad input and timeout), manual commands as the
//! invocation's result. Builds the Data API client on first use and the runner per event.

use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde_json::Value;

use crate::apply::plan::PlanOptions;
use crate::apply::{Fleet, RunConfig, Runner};
use crate::aws::data_api::{DataApi, Target};
use crate::aws::step_functions::StepFunctions;
use crate::lambda::command;
use crate::lambda::custom_resource::{self, Ended};
use crate::lambda::error::{with_causes, InvokeError};
use crate::lambda::events::{self, CustomResourceRequest, CustomResourceResponse, Payload};
use crate::lambda::response::Responder;
use crate::lambda::settings::{Settings, ENV_TEST_PANIC};
use crate::lambda::state_machine;
use crate::names;
use crate::scripts::source::{discover, Scripts, SourceError};

/// When the run must stop, and when the answer must go out at the latest.
#[derive(Debug, Clone, Copy)]
struct Deadlines {
    run: Instant,
    hard: Instant,
}

impl Deadlines {
    /// From the invocation's deadline in milliseconds since the epoch: the run stops `margin` before
    /// it, the answer goes out `margin / 3` before it.
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
    sfn: tokio::sync::OnceCell<StepFunctions>,
}

impl Handler {
    /// A handler; cheap, does no I/O.
    pub fn new(settings: Settings) -> Handler {
        Handler {
            settings,
            responder: Responder::new(),
            api: tokio::sync::OnceCell::new(),
            sfn: tokio::sync::OnceCell::new(),
        }
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.settings
    }

    /// Handles one invocation whose deadline is `deadline_ms` (milliseconds since the epoch).
    /// Custom-resource events are answered at their ResponseURL before this returns; the returned
    /// value is the invocation's result.
    pub async fn handle(self: Arc<Self>, payload: Value, deadline_ms: u64) -> Result<Value, InvokeError> {
        let deadlines = Deadlines::new(deadline_ms, self.settings.margin);
        match events::classify(&payload) {
            Payload::Invalid(message) => {
                tracing::error!(error = %message, "rejected the payload");
                Err(InvokeError::InvalidPayload(message))
            }
            Payload::Unusable { mut answer, response_url } => {
                tracing::error!(reason = %answer.reason, "malformed custom-resource request");
                answer.data.insert(names::DATA_VERSION.to_owned(), custom_resource::VERSION.to_owned());
                self.answer(&response_url, &answer).await?;
                Ok(serde_json::to_value(&*answer).unwrap_or(Value::Null))
            }
            Payload::CustomResource(request) => self.custom_resource(*request, &payload, deadlines).await,
            Payload::Step(step) => {
                let slot = state_machine::WorkSlot::default();
                let (me, s) = (self.clone(), slot.clone());
                let task = tokio::spawn(async move {
                    panic_if_asked();
                    state_machine::run(&me, step, deadlines.run, &s).await
                });
                match finish(task, deadlines.hard).await {
                    Ok(result) => result,
                    Err(Stopped::Panicked(message)) => Err(InvokeError::Panic(message)),
                    // A work step dropped at the hard deadline reports what it established.
                    Err(Stopped::TimedOut) => state_machine::dropped(&slot).ok_or(InvokeError::Timeout),
                }
            }
            Payload::Command(command) => {
                let me = self.clone();
                let task = tokio::spawn(async move {
                    panic_if_asked();
                    command::run(&me, command, deadlines.run).await
                });
                match finish(task, deadlines.hard).await {
                    Ok(result) => result,
                    Err(Stopped::Panicked(message)) => Err(InvokeError::Panic(message)),
                    Err(Stopped::TimedOut) => Err(InvokeError::Timeout),
                }
            }
        }
    }

    /// Handles a custom-resource event in a task and answers it at its ResponseURL; or, for a
    /// resource driven by a state machine, starts its execution, which answers later.
    async fn custom_resource(
        self: Arc<Self>,
        request: CustomResourceRequest,
        payload: &Value,
        deadlines: Deadlines,
    ) -> Result<Value, InvokeError> {
        if let Some(arn) = state_machine::arn_for(&self, &request) {
            match state_machine::start(&self, &request, payload, &arn).await {
                Ok(started) => return Ok(started),
                Err(mut answer) => {
                    answer.data.insert(names::DATA_VERSION.to_owned(), custom_resource::VERSION.to_owned());
                    self.answer(&request.response_url, &answer).await?;
                    return Ok(serde_json::to_value(&answer).unwrap_or(Value::Null));
                }
            }
        }
        let started = Instant::now();
        let (me, r) = (self.clone(), request.clone());
        let task = tokio::spawn(async move {
            panic_if_asked();
            custom_resource::answer(&me, &r, deadlines.run).await
        });
        let mut answer = match finish(task, deadlines.hard).await {
            Ok(answer) => answer,
            Err(Stopped::Panicked(message)) => custom_resource::respond(&request, &Ended::Panicked(message)),
            Err(Stopped::TimedOut) => custom_resource::respond(&request, &Ended::TimedOut),
        };
        answer.data.insert(names::DATA_VERSION.to_owned(), custom_resource::VERSION.to_owned());
        let data = |key: &str| answer.data.get(key).map(String::as_str).unwrap_or_default().to_owned();
        tracing::info!(
            request_type = ?request.request_type,
            status = ?answer.status,
            reason = %answer.reason,
            applied = %data(names::DATA_APPLIED),
            current_version = %data(names::DATA_CURRENT_VERSION),
            duration_ms = started.elapsed().as_millis() as u64,
            "custom-resource event handled"
        );
        self.answer(&request.response_url, &answer).await?;
        Ok(serde_json::to_value(&answer).unwrap_or(Value::Null))
    }

    /// PUTs `answer` to `url`.
    pub(crate) async fn answer(&self, url: &str, answer: &CustomResourceResponse) -> Result<(), InvokeError> {
        let body = answer.body();
        self.responder.put(url, &body).await.map(drop).map_err(|e| {
            tracing::error!(error = %e, "the answer to CloudFormation was not delivered");
            InvokeError::AnswerNotDelivered(e.to_string())
        })
    }

    /// The Step Functions client, built once per process.
    pub(crate) async fn step_functions(&self) -> &StepFunctions {
        self.sfn.get_or_init(StepFunctions::from_env).await
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
    pub(crate) async fn runner(
        &self,
        database: Option<&str>,
        deadline: Instant,
        plan: PlanOptions,
    ) -> Result<Runner<DataApi>, String> {
        let (api, dbname) = self.api().await?;
        let config = RunConfig {
            default_database: database
                .map(str::to_owned)
                .or_else(|| self.settings.database.clone())
                .or_else(|| dbname.clone()),
            ..self.config(plan)
        };
        Runner::new(api.clone(), config.until(deadline)).map_err(|e| e.to_string())
    }

    /// A runner for one work step of a deploy's state machine: `database` (else the configured or
    /// the secret's default database), the history database overridden when `history_database` is
    /// `Some` (a tenant keeps its history in itself), and the run's fixed lease owner.
    pub(crate) async fn step_runner(
        &self,
        database: Option<String>,
        history_database: Option<Option<String>>,
        deadline: Instant,
        lease_owner: &str,
    ) -> Result<Runner<DataApi>, String> {
        let (api, dbname) = self.api().await?;
        let base = self.config(PlanOptions::default());
        let config = RunConfig {
            default_database: database.or_else(|| self.settings.database.clone()).or_else(|| dbname.clone()),
            history_database: history_database.unwrap_or(base.history_database.clone()),
            lease_owner: Some(lease_owner.to_owned()),
            ..base
        };
        Runner::new(api.clone(), config.until(deadline)).map_err(|e| e.to_string())
    }

    /// A fleet of `parallel` databases at once, each stopping at `deadline`.
    pub(crate) async fn fleet(
        &self,
        deadline: Instant,
        plan: PlanOptions,
        parallel: usize,
    ) -> Result<Fleet<DataApi>, String> {
        let (api, _) = self.api().await?;
        Fleet::new(api.clone(), self.config(plan).until(deadline), parallel).map_err(|e| e.to_string())
    }

    /// The run configuration from the settings, without a default database.
    fn config(&self, plan: PlanOptions) -> RunConfig {
        RunConfig {
            history_table: self.settings.history_table.clone(),
            history_database: self.settings.history_database.clone(),
            installed_by: self.settings.installed_by.clone(),
            plan,
            ..RunConfig::default()
        }
    }

    /// The scripts in the migrations folder, or why they cannot be used.
    pub(crate) fn scripts(&self) -> Result<Scripts, String> {
        let dir = &self.settings.migrations_dir;
        discover(dir).map_err(|e| match e {
            SourceError::Invalid(problems) => format!(
                "the scripts in {} are not usable: {}",
                dir.display(),
                problems.iter().map(ToString::to_string).collect::<Vec<_>>().join("; ")
            ),
            other => format!("{}: {}", dir.display(), with_causes(&other)),
        })
    }
}

/// The test hook of [`ENV_TEST_PANIC`]: read per event, inside the handling task only.
fn panic_if_asked() {
    if std::env::var(ENV_TEST_PANIC).as_deref() == Ok("1") {
        panic!("{ENV_TEST_PANIC}=1: panicking on purpose (a test hook)");
    }
}

/// How a spawned handling ended when it did not return.
#[derive(Debug)]
enum Stopped {
    Panicked(String),
    TimedOut,
}

/// Awaits `task` until `hard`; a panic or the deadline become [`Stopped`].
async fn finish<T: Send + 'static>(
    mut task: tokio::task::JoinHandle<T>,
    hard: Instant,
) -> Result<T, Stopped> {
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
            Err(Stopped::Panicked(message))
        }
        Ok(Err(_)) => Err(Stopped::Panicked("the handling task was cancelled".into())),
        Err(_) => {
            task.abort();
            tracing::error!("the handler did not return before the Lambda's deadline; answering FAILED");
            Err(Stopped::TimedOut)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
            Err(Stopped::Panicked(m)) => assert_eq!(m, "boom 7"),
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
            Err(Stopped::TimedOut)
        ));
        // The sender is dropped with the aborted task.
        assert!(rx.await.is_err());
    }
}
