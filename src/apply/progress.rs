//! The history row of the migration being applied, and the writes that move it on: progress after a
//! segment (inside its transaction, or after a DDL statement), the in-flight record before a DDL
//! statement, and the failure record. Every write is fenced by the lease: a write that updates
//! nothing means another run holds the lock now.

use std::time::Instant;

use crate::apply::db::Db;
use crate::apply::error::{Failure, StepError};
use crate::apply::executor::{ExecError, Executor};
use crate::apply::history::{Progress, Scope};
use crate::apply::plan::{Applied, AppliedKind};
use crate::apply::retry::segment_may_rerun;
use crate::scripts::source::Migration;

/// Writes the history row of one migration.
pub(crate) struct Recorder<'a, E> {
    pub db: &'a Db<'a, E>,
    pub migration: &'a Migration,
    /// Statements in the script.
    pub total: usize,
}

/// A failure to record, written after the failing segment was rolled back.
pub(crate) struct FailureRecord<'a> {
    /// Statements applied before the failing segment.
    pub applied: usize,
    /// The prefix hash of those.
    pub prefix: &'a str,
    pub error: &'a str,
    /// The failing statement's text (shortened).
    pub statement: &'a str,
    /// `file:line` of the failing statement.
    pub at: &'a str,
    /// When the failing segment started.
    pub started: Instant,
}

impl<E: Executor> Recorder<'_, E> {
    /// The row with `applied` statements done and nothing else to say.
    pub fn row<'r>(&'r self, applied: usize, prefix: &'r str) -> Progress<'r> {
        let m = self.migration;
        Progress {
            version: m.version.as_str(),
            description: &m.description,
            script: &m.script,
            checksum: &m.checksum,
            kind: AppliedKind::Script,
            applied,
            total: self.total,
            prefix,
            success: applied == self.total,
            error: None,
            failed_statement: None,
            failed_at: None,
            execution_ms: 0,
            installed_by: &self.db.config.installed_by,
            inflight: None,
            inflight_scope: None,
            inflight_call: None,
        }
    }

    /// Records `applied` statements done, inside `transaction` when given (its id and the fence
    /// registration it claimed). With `announce`, the same write records the next statement (a DDL
    /// one, at `applied`) as in flight, saving a call.
    pub async fn write(
        &self,
        applied: usize,
        prefix: &str,
        started: Option<Instant>,
        transaction: Option<(&str, &str)>,
        announce: Option<&Scope>,
    ) -> Result<(), Failure> {
        let record = Progress {
            execution_ms: started.map_or(0, |s| s.elapsed().as_millis() as i64),
            inflight: announce.map(|_| applied),
            inflight_scope: announce,
            ..self.row(applied, prefix)
        };
        let outcome = match transaction {
            // Inside a transaction a failed call ends the attempt; the segment is retried whole.
            Some((tx, registration)) => {
                let request = self.db.tables.record_claimed(&record, registration).transaction(Some(tx));
                self.db.exec.execute(request).await
            }
            None => self.db.idempotent(self.db.tables.record(&record, self.db.owner)).await,
        };
        let index = applied.saturating_sub(1);
        match outcome {
            Ok(o) if o.updated > 0 => Ok(()),
            Ok(_) => Err(self.lease_lost(index)),
            Err(e) => Err(Failure { index, retry: segment_may_rerun(&e), error: StepError::Progress(e) }),
        }
    }

    /// Records that DDL statement `at` is about to be sent, with the schema fingerprint before it.
    pub async fn intent(&self, at: usize, prefix: &str, scope: &Scope) -> Result<(), Failure> {
        let record = Progress { inflight: Some(at), inflight_scope: Some(scope), ..self.row(at, prefix) };
        match self.db.idempotent(self.db.tables.record(&record, self.db.owner)).await {
            Ok(o) if o.updated > 0 => Ok(()),
            Ok(_) => Err(self.lease_lost(at)),
            Err(e) => Err(Failure { index: at, error: StepError::Intent(e), retry: false }),
        }
    }

    /// Records that DML statement `at` is about to be applied by the stored procedure call `token`
    /// (see `procedure`): only a procedure whose token the row still holds may record it applied.
    /// False when an earlier call committed the statement after the row was last read (its request
    /// arrived late): it is applied, and the row is left as that call wrote it.
    pub async fn intent_call(&self, at: usize, prefix: &str, token: &str) -> Result<bool, Failure> {
        let record = Progress { inflight: Some(at), inflight_call: Some(token), ..self.row(at, prefix) };
        let intent = |e| Failure { index: at, error: StepError::Intent(e), retry: false };
        let swap = self.db.tables.swap_call(&record, self.db.owner);
        if self.db.idempotent(swap).await.map_err(intent)?.updated > 0 {
            return Ok(true);
        }
        match self.current(at).await? {
            // No row yet: no call of the statement can have been made.
            None => match self.db.idempotent(self.db.tables.record(&record, self.db.owner)).await {
                Ok(o) if o.updated > 0 => Ok(true),
                Ok(_) => Err(self.lease_lost(at)),
                Err(e) => Err(intent(e)),
            },
            Some(h) if h.applied > at => Ok(false),
            Some(_) => Err(self.lease_lost(at)),
        }
    }

    /// This migration's history row as it is now.
    pub async fn current(&self, index: usize) -> Result<Option<Applied>, Failure> {
        let history = self.db.read_history().await.map_err(|r| Failure {
            index,
            error: StepError::History(Box::new(r)),
            retry: false,
        })?;
        Ok(history.into_iter().find(|h| h.version == self.migration.version.as_str()))
    }

    /// Records a failed statement; a failure to record is logged (the run's answer says it all).
    pub async fn failure(&self, f: &FailureRecord<'_>) {
        let record = Progress {
            success: false,
            error: Some(f.error),
            failed_statement: Some(f.statement),
            failed_at: Some(f.at),
            execution_ms: f.started.elapsed().as_millis() as i64,
            ..self.row(f.applied, f.prefix)
        };
        if let Err(e) = self.db.idempotent(self.db.tables.record(&record, self.db.owner)).await {
            tracing::error!(error = %e, "recording the failure failed");
        }
    }

    fn lease_lost(&self, index: usize) -> Failure {
        Failure { index, error: StepError::LeaseLost(self.db.name.to_owned()), retry: false }
    }

    /// Has a progress write for `end` statements with `prefix` landed? (After a lost commit answer.)
    pub async fn landed(&self, index: usize, end: usize, prefix: &str) -> Result<bool, Failure> {
        let history = self.db.read_history().await.map_err(|r| Failure {
            index,
            error: StepError::History(Box::new(r)),
            retry: false,
        })?;
        let version = self.migration.version.as_str();
        Ok(history.iter().any(|h| h.version == version && h.applied >= end && h.prefix == prefix))
    }

    /// The in-flight fingerprint recorded for statement `at`, if any.
    pub async fn recorded_fingerprint(&self, at: usize) -> Result<Option<String>, Failure> {
        let history = self.db.read_history().await.map_err(|r| Failure {
            index: at,
            error: StepError::History(Box::new(r)),
            retry: false,
        })?;
        Ok(history
            .iter()
            .find(|h| h.version == self.migration.version.as_str())
            .and_then(|h| h.inflight.clone())
            .filter(|(index, _)| *index == at)
            .map(|(_, fingerprint)| fingerprint))
    }
}

/// A Data API error with the statement it happened at, for errors that end a segment for good.
pub(crate) fn fail(index: usize, error: StepError) -> Failure {
    Failure { index, error, retry: false }
}

/// An executor error that ends a segment; may it run again?
pub(crate) fn exec_failure(index: usize, e: ExecError, wrap: impl FnOnce(ExecError) -> StepError) -> Failure {
    let retry = segment_may_rerun(&e);
    Failure { index, error: wrap(e), retry }
}
