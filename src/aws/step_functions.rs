//! Starting the state machine of a deploy longer than one invocation (`aws-sdk-sfn`,
//! `StartExecution`). The client is built from the standard AWS configuration, without the Data
//! API's endpoint override, so that `AWS_ENDPOINT_URL_SFN` (or `AWS_ENDPOINT_URL`) points it at a
//! local stand-in in tests.
//!
//! An execution is named after the custom-resource RequestId ([`execution_name`]). Step Functions
//! treats a second `StartExecution` with the same name and input as the same call (AWS: "idempotent
//! ... if the execution name and input are the same"), and answers `ExecutionAlreadyExists` to the
//! same name with another input; both mean the run for this request is already under way.

use aws_sdk_sfn::error::{DisplayErrorContext, ProvideErrorMetadata, SdkError};
use sha2::{Digest, Sha256};

/// The longest execution name (AWS: 1 to 80 characters).
pub const MAX_EXECUTION_NAME: usize = 80;

/// How a start ended when it did not fail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Started {
    /// A new execution (or the same one again, for the same name and input).
    New(String),
    /// An execution of this name already exists with another input: a redelivered event.
    AlreadyExists(String),
}

/// Why an execution could not be started.
#[derive(Debug, thiserror::Error)]
#[error("starting an execution of {state_machine}: {kind}: {message}")]
pub struct StartError {
    /// The state machine's ARN.
    pub state_machine: String,
    /// The error's name (`AccessDeniedException`, `StateMachineDoesNotExist`, ...).
    pub kind: String,
    /// Its message.
    pub message: String,
}

/// The Step Functions client.
#[derive(Debug, Clone)]
pub struct StepFunctions {
    client: aws_sdk_sfn::Client,
}

impl StepFunctions {
    /// A client from the standard AWS configuration (environment, Lambda role); honours
    /// `AWS_ENDPOINT_URL_SFN` and `AWS_ENDPOINT_URL`.
    pub async fn from_env() -> StepFunctions {
        let config = aws_config::defaults(aws_config::BehaviorVersion::latest()).load().await;
        StepFunctions { client: aws_sdk_sfn::Client::new(&config) }
    }

    /// Starts `state_machine` with `input` as the execution `name`.
    pub async fn start(&self, state_machine: &str, name: &str, input: &str) -> Result<Started, StartError> {
        let sent = self
            .client
            .start_execution()
            .state_machine_arn(state_machine)
            .name(name)
            .input(input)
            .send()
            .await;
        match sent {
            Ok(out) => Ok(Started::New(out.execution_arn().to_owned())),
            Err(e) => {
                let (kind, message) = match &e {
                    SdkError::ServiceError(s) => (
                        s.err().code().unwrap_or("ServiceError").to_owned(),
                        s.err().message().unwrap_or_default().to_owned(),
                    ),
                    other => ("RequestFailed".to_owned(), DisplayErrorContext(other).to_string()),
                };
                if kind == "ExecutionAlreadyExists" {
                    return Ok(Started::AlreadyExists(message));
                }
                Err(StartError { state_machine: state_machine.to_owned(), kind, message })
            }
        }
    }
}

/// The execution name for a RequestId: the id itself when it is a valid name (a UUID always is);
/// otherwise every character Step Functions refuses (white space, `<>{}[]?*"#%\^|~`$&,;:/` and
/// control characters) becomes `-`, and an id that is too long or had to change keeps its first
/// characters and gets a hash of the whole id, so two requests never share a name.
pub fn execution_name(request_id: &str) -> String {
    let refused = |c: char| c.is_whitespace() || c.is_control() || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(c);
    let clean: String = request_id.chars().map(|c| if refused(c) { '-' } else { c }).collect();
    if clean == request_id && !clean.is_empty() && clean.chars().count() <= MAX_EXECUTION_NAME {
        return clean;
    }
    let hash = Sha256::digest(request_id.as_bytes());
    let suffix: String = hash.iter().take(8).map(|b| format!("{b:02x}")).collect();
    let head: String = clean.chars().take(MAX_EXECUTION_NAME - suffix.len() - 1).collect();
    format!("{head}-{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_uuid_request_id_is_the_execution_name_as_it_is() {
        let id = "5d478078-13e9-baf0-464a-7ef285ecc786";
        assert_eq!(execution_name(id), id);
    }

    #[test]
    fn refused_characters_and_long_ids_give_a_valid_distinct_name() {
        let a = execution_name("cfn: a/b {x} #1");
        let b = execution_name("cfn- a-b -x- -1");
        assert!(a.starts_with("cfn--a-b--x---1-"), "{a}");
        assert_ne!(a, b, "two ids that clean to the same text get different names");
        let long = execution_name(&"r".repeat(200));
        assert_eq!(long.chars().count(), MAX_EXECUTION_NAME);
        assert_ne!(long, execution_name(&"r".repeat(201)));
        for name in [&a, &b, &long, &execution_name("")] {
            assert!(!name.is_empty() && name.chars().count() <= MAX_EXECUTION_NAME, "{name}");
            assert!(
                !name.chars().any(|c| c.is_whitespace() || "<>{}[]?*\"#%\\^|~`$&,;:/".contains(c)),
                "{name}"
            );
        }
    }
}
