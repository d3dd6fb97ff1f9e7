//! The per-migration loop: plan one database, then for each migration to apply read and cut its
//! script, resolve a statement an earlier run left in flight, and run segment after segment
//! (`ddl` or `transaction`), carrying the session over and stopping at a statement boundary when
//! the lease is lost or the run's deadline comes. A failure is recorded in the history with the
//! statement, its `file:line` and the error, and ends the database's run.

use std::collections::BTreeSet;
use std::time::Instant;

use crate::apply::db::Db;
use crate::apply::error::{Failure, MigrationError, StepError};
use crate::apply::executor::{Executor, Value};
use crate::apply::lease::Lease;
use crate::apply::plan::{plan, prefix_hash, Applied, Plan, PlanOptions};
use crate::apply::progress::{FailureRecord, Recorder};
use crate::apply::report::{AppliedNow, Event};
use crate::apply::segment::{
    prepare, refusal, segment_end, session_statements, time_budget, PrefixHash, Prepared, Segment,
};
use crate::apply::session::Session;
use crate::apply::{ddl, procedure, transaction};
use crate::scripts::source::{checksum, Migration, Script, SourceError};
use crate::sql::classify::Disposition;
use crate::sql::split::Statement;

/// Receives progress events.
pub type OnEvent<'a> = dyn FnMut(&Event) + Send + 'a;

/// The plan for `migrations` given `history`: prefix hashes of applied parts read from the scripts.
pub(crate) fn plan_for(options: &PlanOptions, migrations: &[Migration], history: &[Applied]) -> Plan {
    plan(migrations, history, options, |m, n| {
        let script = Script::read(&m.path).ok()?;
        let statements: Vec<_> = script.statements().take(n).collect::<Result<_, _>>().ok()?;
        (statements.len() == n).then(|| prefix_hash(statements.iter().map(|s| s.text)))
    })
}

/// Applies what the plan says to one database; stops at the first failure. Returns what was applied
/// and, if it stopped, why.
pub(crate) async fn migrate_database<E: Executor>(
    db: &Db<'_, E>,
    migrations: &[Migration],
    lease: &Lease,
    on_event: &mut OnEvent<'_>,
) -> (Vec<AppliedNow>, Option<MigrationError>) {
    let mut applied = Vec::new();
    let history = match db.read_history().await {
        Ok(h) => h,
        Err(e) => return (applied, Some(MigrationError::Run(Box::new(e)))),
    };
    let in_flight: Vec<String> = history
        .iter()
        .filter_map(|h| h.inflight.as_ref())
        .filter_map(|(_, recorded)| procedure::lock_of(db.name, recorded))
        .map(|names| names.procedure)
        .collect();
    procedure::drop_leftovers(db, &in_flight).await;
    let plan = plan_for(&db.config.plan, migrations, &history);
    if !plan.problems.is_empty() {
        return (applied, Some(MigrationError::Plan(plan.problems)));
    }
    for &(i, from) in &plan.steps {
        let migration = &migrations[i];
        let start = Instant::now();
        let row = history.iter().find(|h| h.version == migration.version.as_str());
        let statements = match apply(db, migration, from, row, lease, on_event).await {
            Ok(statements) => statements,
            Err(e) => return (applied, Some(e)),
        };
        let duration = start.elapsed();
        let (database, version, script) =
            (db.name.to_owned(), migration.version.to_string(), migration.script.clone());
        tracing::info!(
            database,
            version,
            statements,
            duration_ms = duration.as_millis() as u64,
            "migration applied"
        );
        on_event(&Event::Applied {
            database,
            version: version.clone(),
            script: script.clone(),
            statements,
            duration,
        });
        applied.push(AppliedNow { version, script, statements, ms: duration.as_millis() });
    }
    (applied, None)
}

/// Where a migration's run stands between segments.
struct Position {
    /// Next statement.
    at: usize,
    /// Hash of the statements before `at`.
    prefix: PrefixHash,
    session: Session,
    /// The statement at `at` (a DDL one) is already recorded in flight.
    announced: bool,
    /// DML statements that outlived the call timeout in a transaction: each runs alone, through a
    /// stored procedure (see `procedure`).
    long: BTreeSet<usize>,
}

/// Applies one migration from statement `from`; returns the number of statements run.
async fn apply<E: Executor>(
    db: &Db<'_, E>,
    migration: &Migration,
    from: usize,
    row: Option<&Applied>,
    lease: &Lease,
    on_event: &mut OnEvent<'_>,
) -> Result<usize, MigrationError> {
    // Read again: refused when it is no longer the file the plan was made from, since the history
    // must record the checksum of what runs.
    let path = &migration.path;
    let bytes = std::fs::read(path).map_err(|source| SourceError::Io { path: path.clone(), source })?;
    let now = checksum(&bytes);
    if now != migration.checksum {
        return Err(MigrationError::ChangedDuringRun {
            script: migration.script.clone(),
            planned: migration.checksum.clone(),
            now,
        });
    }
    let script = Script::from_bytes(&path.to_string_lossy(), bytes)?;
    let statements: Vec<Statement<'_>> = script
        .statements()
        .collect::<Result<_, _>>()
        .map_err(|source| MigrationError::Split { script: migration.script.clone(), source })?;
    let total = statements.len();
    on_event(&Event::Started {
        database: db.name.to_owned(),
        version: migration.version.to_string(),
        script: migration.script.clone(),
        from,
        total,
    });
    let prepared = prepare(statements, db.name);
    let history_database = db.tables.database().unwrap_or(db.name);
    if let Some(refused) = refusal(migration, &prepared, from, history_database) {
        return Err(refused);
    }
    let rec = Recorder { db, migration, total };
    let mut position = applied_part(&prepared, from);
    resolve_inflight(&rec, &prepared, row, &mut position).await?;
    while position.at < total {
        if lease.is_lost() {
            return Err(MigrationError::LeaseLost(db.name.to_owned()));
        }
        if db.config.deadline.is_some_and(|deadline| Instant::now() >= deadline) {
            return Err(MigrationError::Deadline {
                script: migration.script.clone(),
                statement: position.at + 1,
                total,
                line: prepared[position.at].statement.line,
            });
        }
        step(&rec, &prepared, &mut position, on_event).await?;
    }
    if from == total {
        // Nothing left (a failed record with everything applied): mark it done.
        rec.write(total, &position.prefix.hex(), None, None, None)
            .await
            .map_err(|f| MigrationError::Progress(f.error))?;
    }
    Ok(total - from)
}

/// The position after the statements already applied: their hash and the session they set.
fn applied_part(prepared: &[Prepared<'_>], from: usize) -> Position {
    let mut position = Position {
        at: from,
        prefix: PrefixHash::default(),
        session: Session::default(),
        announced: false,
        long: BTreeSet::new(),
    };
    for p in &prepared[..from.min(prepared.len())] {
        position.prefix.add(p.statement.text);
        if p.disposition == Disposition::Session {
            position.session.ran(&p.statement.sent());
        }
    }
    position
}

/// A crash between a DDL statement and its progress write: did the statement run? If so, record it.
async fn resolve_inflight<E: Executor>(
    rec: &Recorder<'_, E>,
    prepared: &[Prepared<'_>],
    row: Option<&Applied>,
    position: &mut Position,
) -> Result<(), MigrationError> {
    let from = position.at;
    let Some((index, recorded)) = row.and_then(|r| r.inflight.as_ref()) else { return Ok(()) };
    if *index != from || from >= prepared.len() {
        return Ok(());
    }
    let p = &prepared[from];
    if recorded.starts_with(procedure::CALL_PREFIX) {
        return resolve_call(rec, p, recorded, position).await;
    }
    let ran = ddl::inflight_ran(rec, p, recorded)
        .await
        .map_err(|source| MigrationError::InFlight { script: rec.migration.script.clone(), source })?;
    tracing::info!(statement = from + 1, ran, "resolved a statement left in flight by an earlier run");
    if ran {
        position.prefix.add(p.statement.text);
        rec.write(from + 1, &position.prefix.hex(), None, None, None)
            .await
            .map_err(|f| MigrationError::Progress(f.error))?;
        position.at = from + 1;
    }
    Ok(())
}

/// A long DML statement an earlier run left in flight as a stored procedure call: waits while that
/// call runs, then goes on after it if it committed (its progress write is in the row already), or
/// applies it again through a new call.
async fn resolve_call<E: Executor>(
    rec: &Recorder<'_, E>,
    p: &Prepared<'_>,
    recorded: &str,
    position: &mut Position,
) -> Result<(), MigrationError> {
    let at = position.at;
    let database = p.database.as_deref().unwrap_or(rec.db.name);
    let in_flight = |source| MigrationError::InFlight { script: rec.migration.script.clone(), source };
    let Some(names) = procedure::lock_of(database, recorded) else {
        return Err(in_flight(StepError::LongStatement("its in-flight record names no procedure")));
    };
    let fate = procedure::settle(rec, at, recorded, &names.lock).await.map_err(|f| in_flight(f.error))?;
    tracing::info!(statement = at + 1, ?fate, "resolved a long statement left in flight by an earlier run");
    procedure::drop_procedure(rec, database, &names).await;
    match fate {
        procedure::Fate::Applied => {
            position.prefix.add(p.statement.text);
            position.at = at + 1;
        }
        procedure::Fate::NotApplied(_) => {
            position.long.insert(at);
        }
    }
    Ok(())
}

/// Runs the segment at `position` and moves past it; on failure records it and says why.
async fn step<E: Executor>(
    rec: &Recorder<'_, E>,
    prepared: &[Prepared<'_>],
    position: &mut Position,
    on_event: &mut OnEvent<'_>,
) -> Result<(), MigrationError> {
    let at = position.at;
    let end = segment_end(prepared, at, &position.long);
    let next_prefix = position.prefix.with(&prepared[at..end]);
    let prefix_text = next_prefix.hex();
    // When the next segment is a DDL statement, this segment's progress write also records it as in
    // flight (one call instead of two).
    let announce = prepared
        .get(end)
        .filter(|n| n.is_ddl() && !position.long.contains(&end))
        .map(|n| n.scope(rec.db.name));
    let started = Instant::now();
    let seg = Segment {
        statements: &prepared[at..end],
        at,
        end,
        prefix: &prefix_text,
        started,
        announce: announce.as_ref(),
        before: &position.prefix,
        cut_at: Some(started + time_budget(started, rec.db.config.deadline)),
    };
    let result = run_segment(rec, &seg, position).await;
    // Where the segment really ended: a run of DML statements may stop early (its time budget).
    let end = match &result {
        Ok((_, ran_to)) => *ran_to,
        Err(_) => end,
    };
    let whole = end == seg.end;
    position.announced = result.is_ok() && announce.is_some() && whole;
    let captured = match result {
        Ok((captured, _)) => captured,
        // A DML statement too long for a transaction call: rolled back with its segment; the
        // segment is cut again, that statement alone, applied through a stored procedure.
        Err(Failure { index, error: StepError::TimeoutInTransaction(e), .. })
            if procedure::may_take(&prepared[index]) && !position.long.contains(&index) =>
        {
            tracing::warn!(
                statement = index + 1,
                error = %e,
                "a statement outlived the call timeout in its transaction; applying it through a stored procedure"
            );
            position.long.insert(index);
            return Ok(());
        }
        Err(failure) => return Err(failed(rec, prepared, position, &seg, failure, on_event).await),
    };
    let sent = session_statements(&prepared[at..end]);
    let sent = sent.iter().map(String::as_str);
    match captured {
        Some((targets, values)) => position.session.captured(&targets, &values, sent),
        None => position.session.append_unread(sent),
    }
    position.prefix = if whole { next_prefix } else { position.prefix.with(&prepared[at..end]) };
    position.at = end;
    Ok(())
}

/// Session variables read back after a segment: the expressions and their values.
type Captured = (Vec<String>, Vec<Value>);

/// Runs one segment: a DDL statement alone (recorded in flight first), anything else in a
/// transaction with the session restored. Returns what it read back and where it ended (a run of
/// DML statements may end before `seg.end`, when its time budget is spent).
async fn run_segment<E: Executor>(
    rec: &Recorder<'_, E>,
    seg: &Segment<'_, '_>,
    position: &Position,
) -> Result<(Option<Captured>, usize), Failure> {
    let whole = |r: Result<(), Failure>| r.map(|()| (None, seg.end));
    let mut replay = rec.db.config.init_sql.clone();
    replay.extend(position.session.replay());
    if !seg.statements.iter().any(Prepared::is_sent) {
        // Only USE / skipped statements: just count them.
        return whole(rec.write(seg.end, seg.prefix, None, None, seg.announce).await);
    }
    let first = &seg.statements[0];
    if position.long.contains(&seg.at) {
        let reset = position.session.reset(&[]);
        let before = position.prefix.hex();
        return whole(procedure::run(rec, seg, &before, &replay, reset.as_deref()).await);
    }
    if first.is_ddl() {
        // The DDL commits on its own: record it as in flight first, so that a crash before its
        // progress write can be resolved by the next run instead of running it twice.
        if !position.announced {
            rec.intent(seg.at, &position.prefix.hex(), &first.scope(rec.db.name)).await?;
        }
        // With session state to restore, the SETs and the statement share one pinned connection.
        if replay.is_empty() {
            return whole(ddl::run(rec, seg).await);
        }
        let reset = position.session.reset(&[]);
        return whole(ddl::run_with_session(rec, seg, &replay, reset.as_deref()).await);
    }
    // Read back what the session statements assigned (this segment's, and replayed ones not yet
    // read), so that later segments restore it with one statement.
    let sent = session_statements(seg.statements);
    let capture = position.session.to_capture(sent.iter().map(String::as_str));
    let reset = position.session.reset(&capture);
    let session = transaction::SessionWork { replay: &replay, capture: &capture, reset: reset.as_deref() };
    let (values, end) = transaction::run(rec, seg, &session).await?;
    Ok((values.map(|v| (capture, v)), end))
}

/// Reports and records a failed segment; the error that ends the migration.
async fn failed<E: Executor>(
    rec: &Recorder<'_, E>,
    prepared: &[Prepared<'_>],
    position: &Position,
    seg: &Segment<'_, '_>,
    failure: Failure,
    on_event: &mut OnEvent<'_>,
) -> MigrationError {
    let (migration, database) = (rec.migration, rec.db.name);
    let p = &prepared[failure.index].statement;
    let failed_at = format!("{}:{}", migration.script, p.line);
    let error = failure.error.to_string();
    on_event(&Event::Failed {
        database: database.to_owned(),
        version: migration.version.to_string(),
        at: failed_at.clone(),
        statement: failure.index + 1,
        error: error.clone(),
    });
    tracing::error!(database, version = %migration.version, statement = failure.index + 1, line = p.line, error = %error, "statement failed");
    let shortened: String = p.text.chars().take(2000).collect();
    let prefix = position.prefix.hex();
    let in_flight = prepared[failure.index].is_ddl() || position.long.contains(&failure.index);
    if in_flight && failure.error.ddl_fate_unknown() {
        // The row still says the statement is in flight: the next run waits for it, looks at the
        // schema and records it, instead of sending it again.
        tracing::warn!(
            database,
            statement = failure.index + 1,
            "left the DDL statement in flight for the next run"
        );
    } else {
        rec.failure(&FailureRecord {
            applied: seg.at,
            prefix: &prefix,
            error: &error,
            statement: &shortened,
            at: &failed_at,
            started: seg.started,
        })
        .await;
    }
    if failure.error.still_running() {
        return MigrationError::StillRunning {
            version: migration.version.to_string(),
            script: migration.script.clone(),
            statement: failure.index + 1,
            total: rec.total,
            line: p.line,
            source: failure.error,
        };
    }
    MigrationError::StatementFailed {
        version: migration.version.to_string(),
        script: migration.script.clone(),
        statement: failure.index + 1,
        total: rec.total,
        line: p.line,
        applied: seg.at,
        source: failure.error,
    }
}
