//! The errors a manual invocation returns to its invoker: Lambda reports [`InvokeError::kind`] as
//! `errorType` and the text as `errorMessage`. Custom-resource events never end in one of these
//! (they are answered at their ResponseURL), except when that answer cannot be delivered.

/// Why an invocation failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum InvokeError {
    /// The payload is neither a command nor a custom-resource request, or a command is malformed.
    #[error("{0}")]
    InvalidPayload(String),
    /// The scripts in the migrations folder cannot be used.
    #[error("{0}")]
    InvalidScripts(String),
    /// The Data API client could not be set up (environment, secret).
    #[error("{0}")]
    Setup(String),
    /// Another run holds the migration lock.
    #[error("{0}")]
    Locked(String),
    /// The run failed.
    #[error("{0}")]
    RunFailed(String),
    /// The command ran and its report is not ok (a failed migration, a refused plan, problems
    /// found by `validate`): the message is the JSON report, shortened to fit.
    #[error("{0}")]
    CommandFailed(String),
    /// The command stopped while a statement still runs on the server (not a failure of the
    /// scripts: the next run waits for it): the message is the JSON report, shortened to fit.
    #[error("{0}")]
    StillRunning(String),
    /// The handling panicked.
    #[error("aurora-migrate panicked: {0}")]
    Panic(String),
    /// The handling did not end before the Lambda's deadline.
    #[error("the command did not end before the Lambda's deadline; what ran is recorded in the history")]
    Timeout,
    /// The answer to CloudFormation could not be delivered.
    #[error("{0}")]
    AnswerNotDelivered(String),
}

impl InvokeError {
    /// The short CamelCase name Lambda reports as `errorType`.
    pub fn kind(&self) -> &'static str {
        match self {
            InvokeError::InvalidPayload(_) => "InvalidPayload",
            InvokeError::InvalidScripts(_) => "InvalidScripts",
            InvokeError::Setup(_) => "Setup",
            InvokeError::Locked(_) => "Locked",
            InvokeError::RunFailed(_) => "RunFailed",
            InvokeError::CommandFailed(_) => "CommandFailed",
            InvokeError::StillRunning(_) => "StillRunning",
            InvokeError::Panic(_) => "Panic",
            InvokeError::Timeout => "Timeout",
            InvokeError::AnswerNotDelivered(_) => "AnswerNotDelivered",
        }
    }
}

/// An error with its causes, on one line (a cause already in the text is not repeated).
pub(crate) fn with_causes(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
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
    fn each_error_names_its_kind_for_lambda() {
        assert_eq!(InvokeError::Locked("held".into()).kind(), "Locked");
        assert_eq!(InvokeError::Timeout.kind(), "Timeout");
        assert_eq!(InvokeError::Panic("boom".into()).to_string(), "aurora-migrate panicked: boom");
    }
}
