//! A DML statement longer than the Data API's call timeout (a backfill), applied exactly once.
//!
//! A call inside a Data API transaction cannot continue after its timeout, and a statement sent
//! outside one commits without its progress write. So such a statement (found when it timed out in
//! its segment's transaction, which rolled back) runs inside a temporary stored procedure that the
//! server runs to its end whatever the client does: `START TRANSACTION`, the session state the
//! statement needs, the statement, the progress write, `COMMIT`. The runner `CALL`s it outside any
//! transaction with `continueAfterTimeout`, like a DDL statement:
//!
//! - Before the call, the history row records the statement in flight with a token naming this
//!   call (`call <procedure> <nonce>`), written only while the row still says the statement is not
//!   applied (an earlier call whose request arrived late may have committed since it was read). The procedure's progress write updates the row only while
//!   it still holds that token, and rolls the statement back otherwise: a call that another run
//!   has given up on (a new token) can never commit.
//! - While it runs, the procedure holds a named lock (`GET_LOCK`), released when it ends (or when
//!   its connection dies). Whoever must know the outcome (this run after a timeout or a lost
//!   answer, or the next run after a crash or a deadline) waits until the lock is free, then
//!   reads the row: applied, or not (the handler records the statement's error there). The call is
//!   never re-sent while it may still run, and is sent again (with a new token) only once it is
//!   known not to have committed.
//! - A call that finds the lock held by an earlier call (one whose request reached the server late,
//!   after the run had found it not committed and recorded the new token) stops at once; the run
//!   waits for that call (it cannot commit any more) and calls again.
//! - The procedure is dropped once the outcome is known (a later call of the same statement drops
//!   a leftover first, and the next run sweeps those a killed run left, wherever they are).
//!
//! It needs the `CREATE ROUTINE`, `ALTER ROUTINE` and `EXECUTE` privileges on the statement's
//! database, and uses only syntax MySQL 8.0 (Aurora MySQL 3) and MariaDB share.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use sha2::{Digest, Sha256};

use crate::apply::db::Db;
use crate::apply::error::{Failure, StepError};
use crate::apply::executor::{ExecError, Executor, ParamValue, Request, Value};
use crate::apply::history::quote_identifier;
use crate::apply::progress::{fail, Recorder};
use crate::apply::retry::{retry, Backoff};
use crate::apply::segment::{Prepared, Segment};
use crate::sql::calls::calls;

/// How an in-flight record of a procedure call starts (a DDL statement's holds a fingerprint).
pub(crate) const CALL_PREFIX: &str = "call ";

/// Pause before calling a procedure again that is known not to have committed.
const RESEND_DELAY: Duration = Duration::from_millis(500);

/// What a call signals when an earlier call of the same statement still holds the lock (a call
/// whose request reached the server late, after the run had found it not committed).
const EARLIER_CALL_RUNS: &str = "aurora-migrate - an earlier call of this statement still runs";

/// The procedure and lock names of one statement of one migration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Names {
    /// The procedure, in the statement's database.
    pub procedure: String,
    /// The named lock it holds while it runs (server-wide, at most 64 characters).
    pub lock: String,
}

/// Names for statement `at` (0-based) of migration `version` in `database`, from the history table's
/// name `history` (so that they are recognisably the runner's, and stay within 64 characters).
pub(crate) fn names(history: &str, database: &str, version: &str, at: usize) -> Names {
    let digest = hex(&Sha256::digest(format!("{version}\0{at}").as_bytes()));
    let procedure = format!("{}{}_{at}", procedure_prefix(history), &digest[..12]);
    let lock = hex(&Sha256::digest(format!("{database}\0{procedure}").as_bytes()));
    Names { procedure, lock: format!("aurora_migrate {}", &lock[..32]) }
}

/// How the names of the procedures of a history table's runs start.
fn procedure_prefix(history: &str) -> String {
    format!("{}_p_", history.chars().take(32).collect::<String>())
}

/// A token for one call of `procedure`, unique to this call.
fn token(procedure: &str) -> String {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(0);
    let nonce = nanos ^ (u64::from(std::process::id()) << 32) ^ COUNTER.fetch_add(1, Ordering::SeqCst);
    format!("{CALL_PREFIX}{procedure} {nonce:016x}")
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// A text as a literal that reads the same under every `sql_mode` (`NO_BACKSLASH_ESCAPES`,
/// `ANSI_QUOTES`) and holds no `:` the Data API could take for a parameter.
fn text(value: &str) -> String {
    format!("CONVERT(X'{}' USING utf8mb4)", hex(value.as_bytes()))
}

/// What the procedure of one statement does.
#[derive(Debug)]
pub(crate) struct Body<'a> {
    pub database: &'a str,
    pub names: &'a Names,
    /// The history table, qualified.
    pub history: &'a str,
    pub version: &'a str,
    /// The statement (0-based).
    pub at: usize,
    pub token: &'a str,
    /// The row once the statement is applied: statements applied, whether that is all, their hash.
    pub applied: usize,
    pub success: bool,
    pub prefix: &'a str,
    pub installed_by: &'a str,
    /// Restores the session the statement runs in (the script's `SET`s, `--init-sql`).
    pub session: &'a [String],
    /// Undoes that on the connection before it goes back to the pool.
    pub reset: Option<&'a str>,
    /// The statement as sent.
    pub statement: &'a str,
}

/// The `CREATE PROCEDURE` statement.
pub(crate) fn create_sql(b: &Body<'_>) -> String {
    let lock = text(&b.names.lock);
    let row = format!(
        "`version` = {} AND `inflight_statement` = {} AND `inflight_fingerprint` = {}",
        text(b.version),
        b.at,
        text(b.token)
    );
    let reset = b.reset.map(|r| format!("{r};\n")).unwrap_or_default();
    let session: String = b.session.iter().map(|s| format!("{s};\n")).collect();
    format!(
        "CREATE PROCEDURE {db}.{procedure}()\n\
         BEGIN\n\
         DECLARE v_started DATETIME(6) DEFAULT SYSDATE(6);\n\
         DECLARE v_errno INT DEFAULT 0;\n\
         DECLARE v_message TEXT DEFAULT '';\n\
         DECLARE EXIT HANDLER FOR SQLEXCEPTION\n\
         BEGIN\n\
         GET DIAGNOSTICS CONDITION 1 v_errno = MYSQL_ERRNO, v_message = MESSAGE_TEXT;\n\
         ROLLBACK;\n\
         DO RELEASE_LOCK({lock});\n\
         UPDATE {history} SET `error` = CONCAT('Database error code', CHAR(58), ' ', v_errno, \
         '. Message', CHAR(58), ' ', v_message) WHERE {row};\n\
         {reset}\
         RESIGNAL;\n\
         END;\n\
         IF COALESCE(GET_LOCK({lock}, 0), 0) <> 1 THEN\n\
         SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = '{earlier}';\n\
         END IF;\n\
         {session}\
         START TRANSACTION;\n\
         {statement};\n\
         UPDATE {history} SET `statements_applied` = {applied}, `applied_prefix` = {prefix}, \
         `success` = {success}, `error` = NULL, `failed_statement` = NULL, `failed_at` = NULL, \
         `execution_ms` = `execution_ms` + TIMESTAMPDIFF(MICROSECOND, v_started, SYSDATE(6)) DIV 1000, \
         `installed_by` = {by}, `installed_at` = NOW(6), `inflight_statement` = NULL, \
         `inflight_fingerprint` = NULL WHERE {row};\n\
         IF ROW_COUNT() <> 1 THEN\n\
         SIGNAL SQLSTATE '45000' SET MESSAGE_TEXT = 'aurora-migrate - another run took this statement over';\n\
         END IF;\n\
         {reset}\
         COMMIT;\n\
         DO RELEASE_LOCK({lock});\n\
         END",
        db = quote_identifier(b.database),
        procedure = quote_identifier(&b.names.procedure),
        history = b.history,
        statement = b.statement,
        applied = b.applied,
        prefix = text(b.prefix),
        success = u8::from(b.success),
        by = text(b.installed_by),
        earlier = EARLIER_CALL_RUNS,
    )
}

/// What became of a call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Fate {
    /// The statement and its progress committed.
    Applied,
    /// Nothing committed; with the statement's error when the procedure recorded one.
    NotApplied(Option<String>),
}

/// Applies the long DML statement of `seg` through its procedure; `before` is the prefix hash of
/// the statements before it. Calls again (with a new token) while the call is known not to have
/// committed and the failure may pass.
pub(crate) async fn run<E: Executor>(
    rec: &Recorder<'_, E>,
    seg: &Segment<'_, '_>,
    before: &str,
    replay: &[String],
    reset: Option<&str>,
) -> Result<(), Failure> {
    let mut backoff = Backoff::fixed(rec.db.config.retry_for, RESEND_DELAY);
    loop {
        match attempt(rec, seg, before, replay, reset).await {
            // The earlier call it met has ended (its wait had the retry budget): call again now,
            // with the budget anew.
            Err(Failure { error: StepError::EarlierCallEnded, .. }) => {
                tracing::info!(
                    statement = seg.at + 1,
                    "the earlier call ended; calling the long statement's procedure again"
                );
                backoff = Backoff::fixed(rec.db.config.retry_for, RESEND_DELAY);
            }
            Err(failure) if failure.retry => {
                tracing::warn!(error = %failure.error, "calling the long statement's procedure again");
                if !backoff.wait().await {
                    return Err(failure);
                }
            }
            other => return other,
        }
    }
}

/// One call: in flight, create, call, settle, drop.
async fn attempt<E: Executor>(
    rec: &Recorder<'_, E>,
    seg: &Segment<'_, '_>,
    before: &str,
    replay: &[String],
    reset: Option<&str>,
) -> Result<(), Failure> {
    let (p, at, db) = (&seg.statements[0], seg.at, rec.db);
    let Some(database) = p.database.as_deref() else {
        return Err(fail(at, StepError::LongStatement("the script dropped its current database before it")));
    };
    let mut sent = calls(&p.statement.sent()).map_err(|e| fail(at, StepError::TooLong(e)))?;
    let statement = match (sent.pop(), sent.is_empty()) {
        (Some(call), true) if call.params.is_empty() => call.sql,
        _ => {
            return Err(fail(
                at,
                StepError::LongStatement("it is sent as several calls or with bound literals"),
            ))
        }
    };
    let names = names(db.tables.history_name(), database, rec.migration.version.as_str(), at);
    let token = token(&names.procedure);
    let history = db.tables.history_table();
    let body = Body {
        database,
        names: &names,
        history: &history,
        version: rec.migration.version.as_str(),
        at,
        token: &token,
        applied: seg.end,
        success: seg.end == rec.total,
        prefix: seg.prefix,
        installed_by: &db.config.installed_by,
        session: replay,
        reset,
        statement: &statement,
    };
    if !rec.intent_call(at, before, &token).await? {
        tracing::warn!(
            statement = at + 1,
            "an earlier call of the long statement committed late; it is applied"
        );
        return Ok(());
    }
    create(rec, seg, &body, replay, reset).await?;
    let mut call =
        Request::new(format!("CALL {}.{}()", quote_identifier(database), quote_identifier(&names.procedure)))
            .database(Some(database));
    call.continue_after_timeout = true;
    // "The database is unavailable" may come after the call reached the server (a connection that
    // broke mid-call): taken as a lost answer, so the call is not sent again while it may run or
    // may have committed; the row tells.
    let send = || async { db.exec.execute(call.clone()).await.map_err(ExecError::may_have_run) };
    let outcome = match retry(db.config.retry_for, false, send).await {
        Ok(_) => Ok(()),
        // An earlier call (its request reached the server late) still holds the lock: it cannot
        // commit any more (the row holds this call's token), so wait for it to end and call again.
        Err(e) if earlier_call_runs(&e) => {
            tracing::warn!(
                statement = at + 1,
                "an earlier call of the long statement still runs; waiting for it"
            );
            wait_for_earlier(rec, at, &token, &names.lock).await
        }
        // Whatever the answer (a timeout, a lost answer, an error), the row says what committed.
        Err(e) => {
            if matches!(e, ExecError::Timeout { .. }) {
                tracing::info!(statement = at + 1, "the long statement outlived its call; waiting for it");
            }
            match settle(rec, at, &token, &names.lock).await? {
                Fate::Applied => Ok(()),
                Fate::NotApplied(recorded) => Err(not_applied(at, e, recorded)),
            }
        }
    };
    drop_procedure(rec, database, &names).await;
    outcome
}

/// Did the call stop because an earlier call of the statement held the lock?
fn earlier_call_runs(e: &ExecError) -> bool {
    matches!(e, ExecError::Database { message, .. } if message.contains(EARLIER_CALL_RUNS))
}

/// Waits for an earlier call that held the lock when call `token` of statement `at` came, for the
/// retry budget (and within the run's deadline); past them the statement is still running. Then
/// reads the row: applied only if that call committed (nothing else can), else
/// [`StepError::EarlierCallEnded`], to call again.
async fn wait_for_earlier<E: Executor>(
    rec: &Recorder<'_, E>,
    at: usize,
    token: &str,
    lock: &str,
) -> Result<(), Failure> {
    let config = &rec.db.config;
    let budget = std::time::Instant::now() + config.retry_for;
    let until = config.deadline.map_or(budget, |deadline| deadline.min(budget));
    if !wait_for_lock(rec, at, lock, Some(until)).await? {
        let deadline_first = config.deadline.is_some_and(|deadline| deadline <= budget);
        let error =
            if deadline_first { StepError::RunningOnServer(None) } else { StepError::EarlierCallRuns };
        return Err(fail(at, error));
    }
    match fate(rec, at, token).await? {
        Fate::Applied => Ok(()),
        Fate::NotApplied(_) => Err(fail(at, StepError::EarlierCallEnded)),
    }
}

/// The failure for a call that did not commit.
fn not_applied(at: usize, e: ExecError, recorded: Option<String>) -> Failure {
    match (e, recorded) {
        (e @ ExecError::Database { code: Some(1044 | 1142 | 1227 | 1370), .. }, _) => {
            fail(at, StepError::Procedure { what: "calling", source: e })
        }
        (e @ ExecError::Database { .. }, _) => fail(at, StepError::Statement(e)),
        // It failed on the server after the call stopped waiting: the procedure said why.
        (_, Some(message)) => fail(at, StepError::Statement(ExecError::database(message))),
        (e @ (ExecError::Ambiguous { .. } | ExecError::Timeout { .. }), None) => {
            Failure { index: at, error: StepError::LostNotRun(e), retry: true }
        }
        (e, None) => fail(at, StepError::Statement(e)),
    }
}

/// Drops a leftover of the same statement and creates the procedure, in the statement's session
/// when it has one (a procedure keeps the `sql_mode` and character set it was created under).
/// Dropping and creating again is harmless, so a lost answer just repeats both.
async fn create<E: Executor>(
    rec: &Recorder<'_, E>,
    seg: &Segment<'_, '_>,
    body: &Body<'_>,
    replay: &[String],
    reset: Option<&str>,
) -> Result<(), Failure> {
    let db = rec.db;
    let database = Some(body.database);
    let drop = drop_sql(body.database, body.names);
    let create = create_sql(body);
    let mut backoff = Backoff::doubling(db.config.retry_for);
    loop {
        let result = if replay.is_empty() {
            match db.exec.execute(Request::new(drop.clone()).database(database)).await {
                Ok(_) => db.exec.execute(Request::new(create.clone()).database(database)).await.map(|_| ()),
                Err(e) => Err(e),
            }
        } else {
            in_session(rec, seg, &[&drop, &create], replay, reset).await
        };
        match result {
            Ok(()) => return Ok(()),
            Err(
                e @ (ExecError::Transient { .. } | ExecError::Ambiguous { .. } | ExecError::Timeout { .. }),
            ) => {
                let Some(delay) = backoff.next_delay() else {
                    return Err(fail(seg.at, StepError::Procedure { what: "creating", source: e }));
                };
                tracing::warn!(error = %e, "creating the long statement's procedure again");
                tokio::time::sleep(delay).await;
            }
            Err(e) => return Err(fail(seg.at, StepError::Procedure { what: "creating", source: e })),
        }
    }
}

/// Runs `statements` in a transaction that first restores the session (the transaction pins one
/// connection; the DDL commits by itself), then undoes it and ends the transaction.
async fn in_session<E: Executor>(
    rec: &Recorder<'_, E>,
    seg: &Segment<'_, '_>,
    statements: &[&str],
    replay: &[String],
    reset: Option<&str>,
) -> Result<(), ExecError> {
    let exec = rec.db.exec;
    let tx = exec.begin(seg.database()).await?;
    let mut result = Ok(());
    for sql in replay.iter().map(String::as_str).chain(statements.iter().copied()) {
        let request = Request::new(sql.to_owned()).database(seg.database()).transaction(Some(&tx));
        if let Err(e) = exec.execute(request).await {
            result = Err(e);
            break;
        }
    }
    if let Some(sql) = reset {
        if let Err(e) = exec.execute(Request::new(sql.to_owned()).transaction(Some(&tx))).await {
            tracing::debug!(error = %e, "resetting the session after creating a procedure failed");
        }
    }
    if let Err(e) = exec.rollback(&tx).await {
        tracing::debug!(error = %e, "ending the transaction that created a procedure failed");
    }
    result
}

fn drop_sql(database: &str, names: &Names) -> String {
    format!("DROP PROCEDURE IF EXISTS {}.{}", quote_identifier(database), quote_identifier(&names.procedure))
}

/// Drops the procedure once its call is settled; a failure leaves it for the next call of the
/// same statement to drop.
pub(crate) async fn drop_procedure<E: Executor>(rec: &Recorder<'_, E>, database: &str, names: &Names) {
    let request = Request::new(drop_sql(database, names)).database(Some(database));
    if let Err(e) = rec.db.idempotent(request).await {
        tracing::warn!(error = %e, procedure = names.procedure, "dropping the long statement's procedure failed");
    }
}

/// Drops procedures of long statements that an earlier run left: one killed after its call
/// committed but before it dropped the procedure (the row then says applied and names no call).
/// A procedure lives in its statement's database, which a script's `USE` may have moved away from
/// the group's, and once the call committed nothing records which: so the sweep looks in every
/// database for procedures of the history table's prefix whose body writes this group's history
/// table (each one's progress write names it; the definer, this runner's user, can read the body).
/// That also leaves alone a procedure of another group (another history table, under its own
/// lease) in this group's database; only where the body cannot be read (another definer) does the
/// group's database still count as proof. Under the lease, so no other run of the group is creating
/// one; a procedure named by an in-flight record (`in_flight`) is left to be settled, since its
/// call may still run. A failure only leaves them for the next run.
pub(crate) async fn drop_leftovers<E: Executor>(db: &Db<'_, E>, in_flight: &[String]) {
    let prefix = procedure_prefix(db.tables.history_name());
    let request = Request::new(
        "SELECT ROUTINE_SCHEMA, ROUTINE_NAME FROM information_schema.ROUTINES \
         WHERE ROUTINE_TYPE = 'PROCEDURE' AND LEFT(ROUTINE_NAME, :n) = :prefix \
         AND (LOCATE(:history, COALESCE(ROUTINE_DEFINITION, '')) > 0 \
         OR (ROUTINE_SCHEMA = :db AND ROUTINE_DEFINITION IS NULL))",
    )
    .param("db", ParamValue::Text(db.name.to_owned()))
    .param("n", ParamValue::Long(prefix.chars().count() as i64))
    .param("prefix", ParamValue::Text(prefix))
    .param("history", ParamValue::Text(format!("UPDATE {} SET", db.tables.history_table())));
    let found = match db.idempotent(request).await {
        Ok(found) => found,
        Err(e) => {
            tracing::warn!(error = %e, "listing procedures left by an earlier run failed");
            return;
        }
    };
    for row in &found.rows {
        let (Some(database), Some(name)) =
            (row.first().and_then(Value::as_str), row.get(1).and_then(Value::as_str))
        else {
            continue;
        };
        if in_flight.iter().any(|p| p == name) {
            continue;
        }
        tracing::info!(
            database,
            procedure = name,
            "dropping a long statement's procedure an earlier run left"
        );
        let sql =
            format!("DROP PROCEDURE IF EXISTS {}.{}", quote_identifier(database), quote_identifier(name));
        if let Err(e) = db.idempotent(Request::new(sql)).await {
            tracing::warn!(error = %e, procedure = name, "dropping a leftover procedure failed");
        }
    }
}

/// Waits until no call of the statement runs (its lock is free; the run's deadline first ends the
/// wait as "still running"), then reads what committed for call `token` of statement `at`.
pub(crate) async fn settle<E: Executor>(
    rec: &Recorder<'_, E>,
    at: usize,
    token: &str,
    lock: &str,
) -> Result<Fate, Failure> {
    if !wait_for_lock(rec, at, lock, rec.db.config.deadline).await? {
        return Err(fail(at, StepError::RunningOnServer(None)));
    }
    fate(rec, at, token).await
}

/// Waits until no call holds `lock`; false when `until` would come first.
async fn wait_for_lock<E: Executor>(
    rec: &Recorder<'_, E>,
    at: usize,
    lock: &str,
    until: Option<std::time::Instant>,
) -> Result<bool, Failure> {
    let db = rec.db;
    loop {
        let request =
            Request::new("SELECT IS_USED_LOCK(:lock)").param("lock", ParamValue::Text(lock.to_owned()));
        let outcome = db.idempotent(request).await.map_err(|e| fail(at, StepError::StillRunning(e)))?;
        match outcome.first_value() {
            None | Some(Value::Null) => return Ok(true),
            Some(_) => {}
        }
        if until.is_some_and(|until| std::time::Instant::now() + db.config.poll_every >= until) {
            return Ok(false);
        }
        tracing::info!(statement = at + 1, "the long statement still runs on the server; waiting");
        tokio::time::sleep(db.config.poll_every).await;
    }
}

/// What committed for call `token` of statement `at`, once no call of it runs.
async fn fate<E: Executor>(rec: &Recorder<'_, E>, at: usize, token: &str) -> Result<Fate, Failure> {
    let row = rec.current(at).await?;
    Ok(match row {
        Some(h) if h.applied > at => Fate::Applied,
        Some(h) if h.inflight.as_ref().is_some_and(|(i, t)| *i == at && t == token) => {
            Fate::NotApplied(h.error)
        }
        _ => Fate::NotApplied(None),
    })
}

/// The lock of the call an in-flight record names: the procedure is in the record.
pub(crate) fn lock_of(database: &str, recorded: &str) -> Option<Names> {
    let rest = recorded.strip_prefix(CALL_PREFIX)?;
    let (procedure, _) = rest.split_once(' ')?;
    let lock = hex(&Sha256::digest(format!("{database}\0{procedure}").as_bytes()));
    Some(Names { procedure: procedure.to_owned(), lock: format!("aurora_migrate {}", &lock[..32]) })
}

/// Is statement `p` one the procedure path may take (DML; the rest keeps its own rules)?
pub(crate) fn may_take(p: &Prepared<'_>) -> bool {
    p.disposition == crate::sql::classify::Disposition::Dml
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_fit_mysql_limits_and_differ_per_statement_and_database() {
        let long = "h".repeat(60);
        let a = names(&long, "app", "1.2", 0);
        assert!(a.procedure.len() <= 64 && a.lock.len() <= 64, "{a:?}");
        assert!(a.procedure.starts_with(&"h".repeat(32)));
        assert_ne!(a, names(&long, "app", "1.2", 1));
        assert_ne!(a.lock, names(&long, "other", "1.2", 0).lock);
        assert_eq!(a.procedure, names(&long, "other", "1.2", 0).procedure);
    }

    #[test]
    fn the_in_flight_record_of_a_call_names_its_procedure_and_lock() {
        let n = names("aurora_migrate_history", "app", "3", 4);
        let t = token(&n.procedure);
        assert!(t.starts_with(CALL_PREFIX));
        assert_ne!(t, token(&n.procedure), "every call has its own token");
        assert_eq!(lock_of("app", &t), Some(n));
        assert_eq!(lock_of("app", "3/12:1/5"), None, "a DDL fingerprint names no call");
    }

    #[test]
    fn the_procedure_holds_no_colon_and_writes_progress_only_under_its_token() {
        let n = names("aurora_migrate_history", "app", "2", 0);
        let body = Body {
            database: "app",
            names: &n,
            history: "`app`.`aurora_migrate_history`",
            version: "2",
            at: 0,
            token: "call x 1",
            applied: 1,
            success: true,
            prefix: "sha256:ab",
            installed_by: "it's me: \\",
            session: &["SET @x = 1".to_owned()],
            reset: Some("SET @x = NULL"),
            statement: "UPDATE c SET n = n + 1",
        };
        let sql = create_sql(&body);
        // Only the statement's text may hold what the Data API reads as a parameter.
        assert!(!sql.contains(':'), "{sql}");
        assert!(!sql.contains("it's"), "values are hex literals");
        let start = sql.find("START TRANSACTION").expect("a transaction");
        let statement = sql.find("UPDATE c SET n = n + 1").expect("the statement");
        let progress = sql.rfind("`statements_applied` = 1").expect("the progress write");
        let commit = sql.rfind("COMMIT").expect("a commit");
        assert!(sql.find("SET @x = 1;").is_some_and(|s| s < start));
        assert!(start < statement && statement < progress && progress < commit);
        assert!(sql[progress..].contains(&format!("`inflight_fingerprint` = {}", text("call x 1"))));
        assert!(sql[progress..commit].contains("ROW_COUNT() <> 1"));
    }
}
