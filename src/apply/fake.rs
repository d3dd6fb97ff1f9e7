//! A fake Data API for the runner's unit tests (see [`Fake`]).

use std::collections::BTreeMap;
use std::sync::Mutex;

use crate::apply::executor::{ExecError, Executor, Outcome, ParamValue, Request, Value};

/// A fake Data API: understands the history and lock queries, records every other statement
/// with its transaction and database, fails statements containing `FAIL`, and answers
/// `Transient` to the first `flaky` calls of statements containing `FLAKY`.
#[derive(Default)]
pub(crate) struct Fake {
    pub(crate) state: Mutex<FakeState>,
}

#[derive(Default)]
pub(crate) struct FakeState {
    pub(crate) log: Vec<String>,
    rows: BTreeMap<String, Vec<Value>>,
    pending: BTreeMap<String, Vec<(String, Vec<Value>)>>,
    next_tx: u32,
    pub(crate) flaky: u32,
    /// Another run's lease: its owner and seconds left.
    held_by: Option<(String, i64)>,
}

impl Fake {
    /// Makes the lease another run's.
    pub(crate) fn hold_lock(&self, owner: &str, seconds: i64) {
        self.state.lock().expect("not poisoned").held_by = Some((owner.to_owned(), seconds));
    }

    /// The calls logged since the last look.
    pub(crate) fn log(&self) -> Vec<String> {
        std::mem::take(&mut self.state.lock().expect("not poisoned").log)
    }
}

fn text(p: &[(String, ParamValue)], name: &str) -> Value {
    match p.iter().find(|(n, _)| n == name).map(|(_, v)| v) {
        Some(ParamValue::Text(t)) => Value::Text(t.clone()),
        Some(ParamValue::Long(l)) => Value::Long(*l),
        _ => Value::Null,
    }
}

impl Executor for Fake {
    async fn execute(&self, r: Request) -> Result<Outcome, ExecError> {
        let mut s = self.state.lock().unwrap();
        let sql = r.sql.clone();
        // The transaction fence: connection 7, registered and claimed; no earlier transaction open.
        if sql == "SELECT CONNECTION_ID()" {
            return Ok(Outcome { rows: vec![vec![Value::Long(7)]], updated: 0 });
        }
        if sql.contains("_lock` (`id`") {
            return Ok(Outcome { rows: vec![], updated: if s.held_by.is_some() { 0 } else { 1 } });
        }
        if sql.starts_with("SELECT") && sql.contains("_lock` WHERE `id` = 2") {
            let rows = if sql.starts_with("SELECT COUNT(*)") { vec![vec![Value::Long(1)]] } else { vec![] };
            return Ok(Outcome { rows, updated: 0 });
        }
        if let Some((owner, seconds)) = &s.held_by {
            if sql.contains("_lock` SET") {
                return Ok(Outcome { rows: vec![], updated: 0 });
            }
            if sql.starts_with("SELECT `owner`") {
                return Ok(Outcome {
                    rows: vec![vec![Value::Text(owner.clone()), Value::Long(*seconds)]],
                    updated: 0,
                });
            }
        }
        if sql.contains("_lock` SET")
            || sql.starts_with("INSERT IGNORE")
            || (sql.starts_with("CREATE TABLE IF NOT EXISTS") && sql.contains("`aurora_migrate_history"))
        {
            return Ok(Outcome { rows: vec![], updated: 1 });
        }
        // No procedure of a long statement is ever left here.
        if sql.starts_with("SELECT ROUTINE_SCHEMA, ROUTINE_NAME FROM information_schema.ROUTINES") {
            return Ok(Outcome::default());
        }
        if sql.starts_with("SELECT `version`") {
            let rows = s.rows.values().cloned().collect();
            return Ok(Outcome { rows, updated: 0 });
        }
        if sql.starts_with("INSERT INTO `app`.`aurora_migrate_history`") {
            let p = &r.params;
            let row = [
                "version",
                "description",
                "script",
                "checksum",
                "kind",
                "applied",
                "total",
                "prefix",
                "success",
                "error",
                "failed_at",
                "by",
            ]
            .iter()
            .map(|n| text(p, n))
            .chain([Value::Text("now".into()), Value::Long(0)])
            .collect::<Vec<_>>();
            let version = row[0].as_str().unwrap().to_owned();
            let applied = row[5].as_i64().unwrap();
            let what = if p.iter().any(|(n, _)| n == "inflight") { "intent" } else { "progress" };
            s.log.push(format!(
                "{what} {version} {applied}{}",
                r.transaction.as_ref().map(|t| format!(" in {t}")).unwrap_or_default()
            ));
            match &r.transaction {
                Some(tx) => s.pending.entry(tx.clone()).or_default().push((version, row)),
                None => {
                    s.rows.insert(version, row);
                }
            }
            return Ok(Outcome { rows: vec![], updated: 1 });
        }
        if sql.contains("FLAKY") && s.flaky > 0 {
            s.flaky -= 1;
            return Err(ExecError::Transient { message: "DatabaseResumingException".into() });
        }
        let where_ = format!(
            "{}{}{}",
            r.transaction.as_ref().map(|t| format!(" in {t}")).unwrap_or_default(),
            r.database.as_ref().map(|d| format!(" @{d}")).unwrap_or_default(),
            if r.continue_after_timeout { " cat" } else { "" }
        );
        s.log.push(format!("exec {sql}{where_}"));
        if sql.contains("FAIL") {
            return Err(ExecError::database("Error 1064: syntax"));
        }
        if let Some(list) = sql.strip_prefix("SELECT @") {
            let n = list.split(", ").count();
            return Ok(Outcome { rows: vec![vec![Value::Long(0); n]], updated: 0 });
        }
        Ok(Outcome::default())
    }
    async fn begin(&self, _database: Option<&str>) -> Result<String, ExecError> {
        let mut s = self.state.lock().unwrap();
        s.next_tx += 1;
        let tx = format!("t{}", s.next_tx);
        s.log.push(format!("begin {tx}"));
        Ok(tx)
    }
    async fn commit(&self, tx: &str) -> Result<(), ExecError> {
        let mut s = self.state.lock().unwrap();
        s.log.push(format!("commit {tx}"));
        for (v, row) in s.pending.remove(tx).unwrap_or_default() {
            s.rows.insert(v, row);
        }
        Ok(())
    }
    async fn rollback(&self, tx: &str) -> Result<(), ExecError> {
        let mut s = self.state.lock().unwrap();
        s.log.push(format!("rollback {tx}"));
        s.pending.remove(tx);
        Ok(())
    }
}
