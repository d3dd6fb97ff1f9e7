//! The Lambda function's logic: a payload and the invocation's deadline in, an answer out. The
//! binary (`src/bin/aurora-migrate-lambda.rs`) only wires this to `lambda_runtime` and logging.
//!
//! - [`settings`]: the configuration from the environment.
//! - [`events`]: the payloads (custom-resource requests and responses, manual commands), pure.
//! - [`handler`]: one invocation; runs the handling in a task so that a panic is caught, and bounds
//!   it by the deadline: the run gets a deadline `margin` before the Lambda's own
//!   ([`settings::ENV_DEADLINE_MARGIN_MS`], default 10 s), at which the runner stops at a statement
//!   boundary and records its progress; if it has still not returned `margin / 3` before the
//!   Lambda's deadline, the task is dropped and FAILED is answered.
//! - [`custom_resource`]: the CloudFormation rules, as a pure `decide()` and `conclude()`.
//! - [`command`]: manual commands (`{"command": "migrate" | "status" | "validate" | "repair" |
//!   "baseline", ...}`), which return the same JSON report as the CLI's `--format json`; a bad
//!   command, a panic or a run error is an error returned to the invoker ([`error::InvokeError`]).
//! - [`fleet`]: which databases a fleet runs on, and the custom resource's summary of a fleet.
//! - [`response`]: the one PUT of the answer to CloudFormation.
//! - [`state_machine`] and [`steps`]: deploys longer than one invocation; the event starts the
//!   resource's state machine, which invokes the function with `plan`, `work` and `answer` steps,
//!   and the answer step PUTs the one answer.
//!
//! A redelivered event is harmless: the history makes a second migrate apply nothing. The
//! PhysicalResourceId is `aurora-migrate-<LogicalResourceId>` on Create and the one CloudFormation
//! sends afterwards: never derived from the hash, so an Update never replaces the resource. The
//! whole answer stays under 4096 bytes ([`events::CustomResourceResponse::body`]).
//!
//! Test hook: [`settings::ENV_TEST_PANIC`] = `1` makes the handling of every event panic, so that
//! tests can check the answer to a panic in the real binary. It is read per event, inside the
//! handling task only; nothing sets it in a deployment (the CDK construct does not know it).

pub mod command;
pub mod custom_resource;
pub mod error;
pub mod events;
pub mod fleet;
pub mod handler;
pub mod response;
pub mod settings;
pub mod state_machine;
pub mod steps;

pub use error::InvokeError;
pub use handler::Handler;
pub use settings::Settings;
