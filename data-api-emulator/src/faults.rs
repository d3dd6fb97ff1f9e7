//! Fault injection and per-operation call counters, driven through the control endpoint.
//!
//! A fault rule says what the next N calls (optionally only of some operations) get instead of
//! their normal answer: `DatabaseResumingException`, a 503 `ServiceUnavailableError`,
//! `SecretsErrorException` (Secrets Manager throttled or unreachable), a dropped connection before
//! or after the statement ran, a delay before running (the request reaching the service late: the
//! call timeout starts after it), or a `StatementTimeoutException` without
//! `dbConnectionId` after `delay_ms` while the statement goes on as after any call timeout. Rules are consumed
//! in the order they were added. Counters count every call that reached an operation, faulted or
//! not.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use serde::{Deserialize, Serialize};

/// The five Data API operations the emulator serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Operation {
    ExecuteStatement,
    BatchExecuteStatement,
    BeginTransaction,
    CommitTransaction,
    RollbackTransaction,
}

impl Operation {
    pub const ALL: [Operation; 5] = [
        Operation::ExecuteStatement,
        Operation::BatchExecuteStatement,
        Operation::BeginTransaction,
        Operation::CommitTransaction,
        Operation::RollbackTransaction,
    ];

    /// The operation's name in the service model.
    pub fn name(self) -> &'static str {
        match self {
            Operation::ExecuteStatement => "ExecuteStatement",
            Operation::BatchExecuteStatement => "BatchExecuteStatement",
            Operation::BeginTransaction => "BeginTransaction",
            Operation::CommitTransaction => "CommitTransaction",
            Operation::RollbackTransaction => "RollbackTransaction",
        }
    }

    /// The operation served at an HTTP path (`requestUri` in the model).
    pub fn from_path(path: &str) -> Option<Operation> {
        Some(match path {
            "/Execute" => Operation::ExecuteStatement,
            "/BatchExecute" => Operation::BatchExecuteStatement,
            "/BeginTransaction" => Operation::BeginTransaction,
            "/CommitTransaction" => Operation::CommitTransaction,
            "/RollbackTransaction" => Operation::RollbackTransaction,
            _ => return None,
        })
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// What a faulted call gets.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FaultKind {
    /// `DatabaseResumingException` (400), nothing runs.
    Resuming,
    /// `ServiceUnavailableError` (503), nothing runs.
    Unavailable,
    /// The TCP connection is closed without an answer; nothing runs.
    DropBefore,
    /// The call runs on the database, then the connection is closed without an answer.
    DropAfter,
    /// The call runs on the database, then answers `DatabaseUnavailableException` (504): as when the
    /// connection to the database broke after the statement reached it (a restart, a failover).
    UnavailableAfter,
    /// The call waits `delay_ms` before it runs, then runs with the whole call timeout and answers
    /// normally: the request reached the service late (the delay does not count toward the call
    /// timeout). Tests use a delay longer than the call timeout to hold a statement back and play
    /// what happens meanwhile (a late call, a kill), so it must still run after the delay.
    Delay,
    /// `SecretsErrorException` (400), nothing runs: the service could not read the secret.
    SecretsError,
    /// The call's timeout is `delay_ms` for this call and its `StatementTimeoutException` has no
    /// `dbConnectionId`; the statement runs on (with `continueAfterTimeout`) or is stopped, as
    /// after any timeout.
    TimeoutWithoutConnectionId,
}

/// A rule as posted to `POST /_emulator/faults`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FaultRule {
    pub fault: FaultKind,
    /// How many calls it applies to (default 1).
    #[serde(default = "one")]
    pub count: u32,
    /// For `delay` and `timeout_without_connection_id`.
    #[serde(default)]
    pub delay_ms: u64,
    /// Only calls of these operations (model names, e.g. `ExecuteStatement`); all when absent.
    #[serde(default)]
    pub operations: Option<Vec<String>>,
}

fn one() -> u32 {
    1
}

/// A rule and when it applies: after `skip` matching calls have passed unharmed (a fault at call
/// position N of a run is `skip: N`), and only to calls whose request body contains `body_contains`
/// (e.g. a piece of one statement's SQL, as it appears JSON-escaped). What `POST /_emulator/faults`
/// takes and `GET /_emulator/faults` lists.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
#[serde(from = "PostedFault", into = "PostedFault")]
pub struct ScheduledFault {
    pub rule: FaultRule,
    pub skip: u32,
    pub body_contains: Option<String>,
}

impl Default for FaultRule {
    fn default() -> Self {
        FaultRule { fault: FaultKind::DropAfter, count: 1, delay_ms: 0, operations: None }
    }
}

/// The JSON of a [`ScheduledFault`]: one flat object, unknown keys refused (serde's `flatten`
/// would accept any key).
#[derive(Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
struct PostedFault {
    fault: FaultKind,
    #[serde(default = "one")]
    count: u32,
    #[serde(default)]
    delay_ms: u64,
    #[serde(default)]
    skip: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    body_contains: Option<String>,
    #[serde(default)]
    operations: Option<Vec<String>>,
}

impl From<PostedFault> for ScheduledFault {
    fn from(p: PostedFault) -> Self {
        let rule =
            FaultRule { fault: p.fault, count: p.count, delay_ms: p.delay_ms, operations: p.operations };
        ScheduledFault { rule, skip: p.skip, body_contains: p.body_contains }
    }
}

impl From<ScheduledFault> for PostedFault {
    fn from(s: ScheduledFault) -> Self {
        let FaultRule { fault, count, delay_ms, operations } = s.rule;
        PostedFault { fault, count, delay_ms, skip: s.skip, body_contains: s.body_contains, operations }
    }
}

/// A fault that applies to one call.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fault {
    Resuming,
    Unavailable,
    DropBefore,
    DropAfter,
    UnavailableAfter,
    Delay(Duration),
    SecretsError,
    TimeoutWithoutConnectionId(Duration),
}

/// Pending fault rules.
#[derive(Debug, Default)]
pub struct Faults {
    rules: Mutex<Vec<ScheduledFault>>,
}

impl Faults {
    pub fn add(&self, rule: ScheduledFault) {
        if let Ok(mut rules) = self.rules.lock() {
            rules.push(rule);
        }
    }

    pub fn clear(&self) {
        if let Ok(mut rules) = self.rules.lock() {
            rules.clear();
        }
    }

    pub fn pending(&self) -> Vec<ScheduledFault> {
        self.rules.lock().map(|r| r.clone()).unwrap_or_default()
    }

    /// The fault for the next call of `op` with request `body`, if any; consumes one count (or one
    /// skip) of the first matching rule.
    pub fn take(&self, op: Operation, body: &[u8]) -> Option<Fault> {
        let mut rules = self.rules.lock().ok()?;
        if rules.is_empty() {
            return None;
        }
        let at = rules.iter().position(|r| {
            r.rule.count > 0
                && r.rule.operations.as_ref().is_none_or(|ops| ops.iter().any(|o| o == op.name()))
                && r.body_contains.as_ref().is_none_or(|needle| contains(body, needle.as_bytes()))
        })?;
        let scheduled = &mut rules[at];
        if scheduled.skip > 0 {
            scheduled.skip -= 1;
            return None;
        }
        let rule = &mut scheduled.rule;
        rule.count -= 1;
        let fault = match rule.fault {
            FaultKind::Resuming => Fault::Resuming,
            FaultKind::Unavailable => Fault::Unavailable,
            FaultKind::DropBefore => Fault::DropBefore,
            FaultKind::DropAfter => Fault::DropAfter,
            FaultKind::UnavailableAfter => Fault::UnavailableAfter,
            FaultKind::Delay => Fault::Delay(Duration::from_millis(rule.delay_ms)),
            FaultKind::SecretsError => Fault::SecretsError,
            FaultKind::TimeoutWithoutConnectionId => {
                Fault::TimeoutWithoutConnectionId(Duration::from_millis(rule.delay_ms))
            }
        };
        if rule.count == 0 {
            rules.remove(at);
        }
        Some(fault)
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// Calls per operation.
#[derive(Debug, Default)]
pub struct Counters {
    calls: [AtomicU64; 5],
}

impl Counters {
    pub fn count(&self, op: Operation) {
        self.calls[op.index()].fetch_add(1, Ordering::Relaxed);
    }

    pub fn get(&self, op: Operation) -> u64 {
        self.calls[op.index()].load(Ordering::Relaxed)
    }

    pub fn reset(&self) {
        for c in &self.calls {
            c.store(0, Ordering::Relaxed);
        }
    }

    /// `{"ExecuteStatement": n, ...}`.
    pub fn to_json(&self) -> serde_json::Value {
        let map: serde_json::Map<String, serde_json::Value> = Operation::ALL
            .iter()
            .map(|op| (op.name().to_string(), serde_json::Value::from(self.get(*op))))
            .collect();
        serde_json::Value::Object(map)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_apply_to_the_next_n_matching_calls_in_order() {
        let faults = Faults::default();
        faults.add(now(FaultRule {
            fault: FaultKind::Resuming,
            count: 2,
            delay_ms: 0,
            operations: Some(vec!["BeginTransaction".into()]),
        }));
        faults.add(now(FaultRule { fault: FaultKind::Unavailable, count: 1, delay_ms: 0, operations: None }));
        assert_eq!(faults.take(Operation::ExecuteStatement, b""), Some(Fault::Unavailable));
        assert_eq!(faults.take(Operation::ExecuteStatement, b""), None);
        assert_eq!(faults.take(Operation::BeginTransaction, b""), Some(Fault::Resuming));
        assert_eq!(faults.take(Operation::BeginTransaction, b""), Some(Fault::Resuming));
        assert_eq!(faults.take(Operation::BeginTransaction, b""), None);
    }

    #[test]
    fn a_rule_with_skip_lets_that_many_matching_calls_pass_first() {
        let faults = Faults::default();
        let posted = r#"{"fault":"drop_after","skip":2,"operations":["ExecuteStatement"]}"#;
        faults.add(serde_json::from_str(posted).expect("valid"));
        assert_eq!(faults.take(Operation::BeginTransaction, b""), None, "not counted: another operation");
        assert_eq!(faults.take(Operation::ExecuteStatement, b""), None);
        assert_eq!(faults.take(Operation::ExecuteStatement, b""), None);
        assert_eq!(faults.take(Operation::ExecuteStatement, b""), Some(Fault::DropAfter));
        assert_eq!(faults.take(Operation::ExecuteStatement, b""), None);
    }

    #[test]
    fn a_rule_can_be_limited_to_calls_whose_body_contains_a_text() {
        let faults = Faults::default();
        let posted = r#"{"fault":"drop_after","body_contains":"ADD INDEX"}"#;
        faults.add(serde_json::from_str(posted).expect("valid"));
        assert_eq!(faults.take(Operation::ExecuteStatement, br#"{"sql":"SET @x = 1"}"#), None);
        let alter = br#"{"sql":"ALTER TABLE t ADD INDEX (a)"}"#;
        assert_eq!(faults.take(Operation::ExecuteStatement, alter), Some(Fault::DropAfter));
        assert_eq!(faults.take(Operation::ExecuteStatement, alter), None, "used up");
    }

    #[test]
    fn a_rule_posts_as_json_with_defaults() {
        let rule: FaultRule = serde_json::from_str(r#"{"fault":"drop_after"}"#).expect("valid");
        assert_eq!((rule.fault, rule.count), (FaultKind::DropAfter, 1));
        assert!(serde_json::from_str::<FaultRule>(r#"{"fault":"x"}"#).is_err());
        let rule: FaultRule =
            serde_json::from_str(r#"{"fault":"timeout_without_connection_id","delay_ms":50}"#)
                .expect("valid");
        assert_eq!(rule.fault, FaultKind::TimeoutWithoutConnectionId);
        let faults = Faults::default();
        faults.add(now(rule));
        assert_eq!(
            faults.take(Operation::ExecuteStatement, b""),
            Some(Fault::TimeoutWithoutConnectionId(Duration::from_millis(50)))
        );
        let rule: FaultRule = serde_json::from_str(r#"{"fault":"secrets_error"}"#).expect("valid");
        assert_eq!(rule.fault, FaultKind::SecretsError);
        let posted: ScheduledFault = serde_json::from_str(r#"{"fault":"resuming"}"#).expect("valid");
        assert_eq!((posted.skip, posted.rule.count), (0, 1));
        assert!(serde_json::from_str::<ScheduledFault>(r#"{"fault":"resuming","skp":1}"#).is_err());
    }

    fn now(rule: FaultRule) -> ScheduledFault {
        ScheduledFault { rule, ..ScheduledFault::default() }
    }
}
