//! The history and lock tables: their DDL and every query on them, always with bound parameters.
//!
//! Each database gets its own history table (default `aurora_migrate_history`) and lock table (the
//! history table's name + `_lock`). The lock is a lease: one row with an owner and an expiry,
//! renewed while a run goes on; a crashed run's lease simply expires. Progress writes are fenced by
//! the lease: they insert nothing when the lease is no longer ours, and the runner stops.

use crate::apply::executor::{ExecError, Outcome, ParamValue, Request, Value};
use crate::apply::plan::{Applied, AppliedKind};

/// History rows read per call. A row holds at most a few kilobytes (the failed statement is cut to
/// 2,000 characters), so a page stays well under the Data API's 1 MiB result limit.
pub const HISTORY_PAGE: usize = 100;

/// Names of the two tables of one database.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Tables {
    history: String,
    lock: String,
    /// The database holding both, when names are qualified.
    database: Option<String>,
}

/// A table name that is not a plain identifier.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("history table name {0:?} must be 1-60 characters of letters, digits and _")]
pub struct BadTableName(pub String);

impl Tables {
    /// Tables named after `history`.
    pub fn new(history: &str) -> Result<Tables, BadTableName> {
        let valid = !history.is_empty()
            && history.len() <= 60
            && history.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_');
        if !valid {
            return Err(BadTableName(history.to_owned()));
        }
        Ok(Tables { history: history.to_owned(), lock: format!("{history}_lock"), database: None })
    }

    /// The same tables in `database`: every statement names them `db`.`table`, so they are found
    /// whatever database a connection or transaction is on (a script's `USE` moves those).
    pub fn in_database(&self, database: &str) -> Tables {
        Tables { database: Some(database.to_owned()), ..self.clone() }
    }

    /// The database holding the tables, if set.
    pub fn database(&self) -> Option<&str> {
        self.database.as_deref()
    }

    fn qualified(&self, name: &str) -> String {
        match &self.database {
            Some(db) => format!("{}.`{name}`", quote_identifier(db)),
            None => format!("`{name}`"),
        }
    }

    /// A request on these tables: with the `database` field of the database holding them.
    fn request(&self, sql: String) -> Request {
        Request::new(sql).database(self.database.as_deref())
    }

    fn h(&self) -> String {
        self.qualified(&self.history)
    }

    /// The history table, qualified as in every statement on it (for SQL built elsewhere, such as
    /// the body of a long statement's stored procedure).
    pub(crate) fn history_table(&self) -> String {
        self.h()
    }

    /// The history table's bare name.
    pub(crate) fn history_name(&self) -> &str {
        &self.history
    }

    fn l(&self) -> String {
        self.qualified(&self.lock)
    }

    /// `CREATE TABLE IF NOT EXISTS` for the history table.
    pub fn create_history(&self) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {} (\n\
             `version` VARCHAR(100) NOT NULL,\n\
             `description` VARCHAR(500) NOT NULL,\n\
             `script` VARCHAR(1000) NOT NULL,\n\
             `checksum` VARCHAR(100) NOT NULL,\n\
             `kind` VARCHAR(20) NOT NULL,\n\
             `statements_applied` INT NOT NULL,\n\
             `statements_total` INT NOT NULL,\n\
             `applied_prefix` VARCHAR(100) NOT NULL,\n\
             `success` TINYINT(1) NOT NULL,\n\
             `error` TEXT NULL,\n\
             `failed_statement` TEXT NULL,\n\
             `failed_at` VARCHAR(1100) NULL,\n\
             `execution_ms` BIGINT NOT NULL DEFAULT 0,\n\
             `inflight_statement` INT NULL,\n\
             `inflight_fingerprint` VARCHAR(400) NULL,\n\
             `installed_by` VARCHAR(200) NOT NULL,\n\
             `installed_at` DATETIME(6) NOT NULL DEFAULT CURRENT_TIMESTAMP(6),\n\
             PRIMARY KEY (`version`)\n\
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
            self.h()
        )
    }

    /// `CREATE TABLE IF NOT EXISTS` for the lock table.
    pub fn create_lock(&self) -> String {
        format!(
            "CREATE TABLE IF NOT EXISTS {} (\n\
             `id` TINYINT NOT NULL,\n\
             `owner` VARCHAR(200) NOT NULL,\n\
             `acquired_at` DATETIME(6) NOT NULL,\n\
             `expires_at` DATETIME(6) NOT NULL,\n\
             PRIMARY KEY (`id`)\n\
             ) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4",
            self.l()
        )
    }

    /// Makes sure the lock row exists (an expired, unowned lease).
    pub fn seed_lock(&self) -> Request {
        self.request(format!(
            "INSERT IGNORE INTO {} (`id`, `owner`, `acquired_at`, `expires_at`) \
             VALUES (1, '', NOW(6), NOW(6) - INTERVAL 1 SECOND)",
            self.l()
        ))
    }

    /// Takes (or renews) the lease for `seconds` if it is free, expired, or ours: 1 row updated
    /// means we hold it.
    pub fn acquire(&self, owner: &str, seconds: i64) -> Request {
        self.request(format!(
            "UPDATE {} SET `owner` = :owner, `acquired_at` = NOW(6), \
             `expires_at` = NOW(6) + INTERVAL :seconds SECOND \
             WHERE `id` = 1 AND (`expires_at` < NOW(6) OR `owner` = :owner)",
            self.l()
        ))
        .param("owner", ParamValue::Text(owner.to_owned()))
        .param("seconds", ParamValue::Long(seconds))
    }

    /// Extends the lease if it is still ours: 1 row updated means it is.
    pub fn renew(&self, owner: &str, seconds: i64) -> Request {
        self.request(format!(
            "UPDATE {} SET `expires_at` = NOW(6) + INTERVAL :seconds SECOND \
             WHERE `id` = 1 AND `owner` = :owner AND `expires_at` >= NOW(6)",
            self.l()
        ))
        .param("owner", ParamValue::Text(owner.to_owned()))
        .param("seconds", ParamValue::Long(seconds))
    }

    /// Gives the lease up.
    pub fn release(&self, owner: &str) -> Request {
        self.request(format!(
            "UPDATE {} SET `expires_at` = NOW(6) - INTERVAL 1 SECOND WHERE `id` = 1 AND `owner` = :owner",
            self.l()
        ))
        .param("owner", ParamValue::Text(owner.to_owned()))
    }

    /// The connection a transaction runs on (the first call inside it).
    pub fn connection_id(&self) -> Request {
        self.request("SELECT CONNECTION_ID()".to_owned())
    }

    /// Outside a transaction, while `owner` holds the lease: the fence row (row 2 of the lock table)
    /// names `registration` ([`registration`]), the connection of the transaction about to claim it.
    /// Rows updated: 0 means the lease was lost.
    pub fn register(&self, owner: &str, registration: &str) -> Request {
        self.request(format!(
            "INSERT INTO {l} (`id`, `owner`, `acquired_at`, `expires_at`) \
             SELECT 2, :registration, NOW(6), NOW(6) FROM {l} \
             WHERE `id` = 1 AND `owner` = :owner AND `expires_at` >= NOW(6) \
             ON DUPLICATE KEY UPDATE `owner` = VALUES(`owner`), `acquired_at` = VALUES(`acquired_at`)",
            l = self.l()
        ))
        .param("registration", ParamValue::Text(registration.to_owned()))
        .param("owner", ParamValue::Text(owner.to_owned()))
    }

    /// Inside the transaction: locks the fence row until the transaction ends, if it still names
    /// `registration` (1 row counted; 0 means another run took the lease over).
    pub fn claim(&self, registration: &str) -> Request {
        self.request(format!(
            "SELECT COUNT(*) FROM {} WHERE `id` = 2 AND `owner` = :registration FOR UPDATE",
            self.l()
        ))
        .param("registration", ParamValue::Text(registration.to_owned()))
    }

    /// Outside a transaction: the fence row's registration, failing at once (lock wait error) while
    /// a transaction holds it.
    pub fn probe_fence(&self) -> Request {
        self.request(format!("SELECT `owner` FROM {} WHERE `id` = 2 FOR UPDATE NOWAIT", self.l()))
    }

    /// The fence row's registration, without locking.
    pub fn read_fence(&self) -> Request {
        self.request(format!("SELECT `owner` FROM {} WHERE `id` = 2", self.l()))
    }

    /// Makes the fence row `owner`'s after taking the lease over: a transaction of the previous
    /// holder that has not claimed it yet no longer can.
    pub fn take_fence(&self, owner: &str) -> Request {
        self.request(format!(
            "UPDATE {} SET `owner` = :owner, `acquired_at` = NOW(6) WHERE `id` = 2",
            self.l()
        ))
        .param("owner", ParamValue::Text(owner.to_owned()))
    }

    /// Who holds the lease and for how many more seconds.
    pub fn holder(&self) -> Request {
        self.request(format!(
            "SELECT `owner`, TIMESTAMPDIFF(SECOND, NOW(6), `expires_at`) FROM {} WHERE `id` = 1",
            self.l()
        ))
    }

    /// The history rows after version `after` (in the column's order; `""` for the first page), at
    /// most [`HISTORY_PAGE`] of them: the Data API refuses a result over 1 MiB, and a row can hold
    /// an error text and a failed statement.
    pub fn select_history(&self, after: &str) -> Request {
        self.request(format!(
            "SELECT `version`, `description`, `script`, `checksum`, `kind`, `statements_applied`, \
             `statements_total`, `applied_prefix`, `success`, `error`, `failed_at`, `installed_by`, \
             CAST(`installed_at` AS CHAR), `execution_ms`, `inflight_statement`, `inflight_fingerprint` \
             FROM {} WHERE `version` > :after ORDER BY `version` LIMIT {HISTORY_PAGE}",
            self.h()
        ))
        .param("after", ParamValue::Text(after.to_owned()))
    }

    /// Writes a row (insert or update), only while `owner` holds the lease. Rows updated: 0 means the
    /// lease was lost and nothing was written. For writes outside a transaction: the lease row is
    /// read with a shared lock, held only for the statement.
    pub fn record(&self, row: &Progress<'_>, owner: &str) -> Request {
        self.record_where(row, "`id` = 1 AND `owner` = :owner AND `expires_at` >= NOW(6)", owner)
    }

    /// Records call `row.inflight_call` of statement `row.applied` in flight on the existing row,
    /// only while the row still has `row.applied` statements applied and `owner` holds the lease: a
    /// compare-and-swap, so that an earlier call of the statement that committed after the row was
    /// read (a late request) is never undone. Rows updated: 0 when the row is missing, has moved on,
    /// or the lease was lost.
    pub fn swap_call(&self, row: &Progress<'_>, owner: &str) -> Request {
        let text = |s: &str| ParamValue::Text(s.to_owned());
        self.request(format!(
            "UPDATE {h} SET `description` = :description, `script` = :script, `checksum` = :checksum, \
             `statements_total` = :total, `applied_prefix` = :prefix, `success` = :success, \
             `error` = NULL, `failed_statement` = NULL, `failed_at` = NULL, `installed_by` = :by, \
             `installed_at` = NOW(6), `inflight_statement` = :inflight, \
             `inflight_fingerprint` = :inflight_call \
             WHERE `version` = :version AND `statements_applied` = :applied AND EXISTS \
             (SELECT 1 FROM {l} WHERE `id` = 1 AND `owner` = :owner AND `expires_at` >= NOW(6))",
            h = self.h(),
            l = self.l(),
        ))
        .param("description", text(row.description))
        .param("script", text(row.script))
        .param("checksum", text(row.checksum))
        .param("total", ParamValue::Long(row.total as i64))
        .param("prefix", text(row.prefix))
        .param("success", ParamValue::Long(i64::from(row.success)))
        .param("by", text(row.installed_by))
        .param("inflight", ParamValue::Long(row.applied as i64))
        .param("inflight_call", text(row.inflight_call.unwrap_or_default()))
        .param("version", text(row.version))
        .param("applied", ParamValue::Long(row.applied as i64))
        .param("owner", text(owner))
    }

    /// Writes a row inside a transaction that claimed the fence row as `registration` (see
    /// [`Tables::claim`]): fenced by that row, which the transaction holds anyway, never by the
    /// lease row, so that no lease acquire or renewal waits on an open transaction.
    pub fn record_claimed(&self, row: &Progress<'_>, registration: &str) -> Request {
        self.record_where(row, "`id` = 2 AND `owner` = :owner", registration)
    }

    fn record_where(&self, row: &Progress<'_>, fence: &str, owner: &str) -> Request {
        let text = |s: &str| ParamValue::Text(s.to_owned());
        let opt = |s: Option<&str>| s.map_or(ParamValue::Null, |s| ParamValue::Text(s.to_owned()));
        let request = self.request(format!(
            "INSERT INTO {h} (`version`, `description`, `script`, `checksum`, `kind`, \
             `statements_applied`, `statements_total`, `applied_prefix`, `success`, `error`, \
             `failed_statement`, `failed_at`, `execution_ms`, `installed_by`, `installed_at`, \
             `inflight_statement`, `inflight_fingerprint`) \
             SELECT :version, :description, :script, :checksum, :kind, :applied, :total, :prefix, \
             :success, :error, :failed_statement, :failed_at, :ms, :by, NOW(6), {inflight} FROM {l} \
             WHERE {fence} \
             ON DUPLICATE KEY UPDATE `description` = VALUES(`description`), `script` = VALUES(`script`), \
             `checksum` = VALUES(`checksum`), `kind` = VALUES(`kind`), \
             `statements_applied` = VALUES(`statements_applied`), \
             `statements_total` = VALUES(`statements_total`), `applied_prefix` = VALUES(`applied_prefix`), \
             `success` = VALUES(`success`), `error` = VALUES(`error`), \
             `failed_statement` = VALUES(`failed_statement`), `failed_at` = VALUES(`failed_at`), \
             `execution_ms` = `execution_ms` + VALUES(`execution_ms`), `installed_by` = VALUES(`installed_by`), \
             `installed_at` = VALUES(`installed_at`), `inflight_statement` = VALUES(`inflight_statement`), \
             `inflight_fingerprint` = VALUES(`inflight_fingerprint`)",
            h = self.h(),
            l = self.l(),
            inflight = match (row.inflight, row.inflight_scope, row.inflight_call) {
                (Some(_), _, Some(_)) => ":inflight, :inflight_call".to_owned(),
                (Some(_), Some(scope), None) => {
                    format!(":inflight, ({})", fingerprint_sql(scope, None))
                }
                _ => "NULL, NULL".to_owned(),
            }
        ))
        .param("version", text(row.version))
        .param("description", text(row.description))
        .param("script", text(row.script))
        .param("checksum", text(row.checksum))
        .param("kind", text(match row.kind {
            AppliedKind::Script => "script",
            AppliedKind::Baseline => "baseline",
        }))
        .param("applied", ParamValue::Long(row.applied as i64))
        .param("total", ParamValue::Long(row.total as i64))
        .param("prefix", text(row.prefix))
        .param("success", ParamValue::Long(i64::from(row.success)))
        .param("error", opt(row.error))
        .param("failed_statement", opt(row.failed_statement))
        .param("failed_at", opt(row.failed_at))
        .param("ms", ParamValue::Long(row.execution_ms))
        .param("by", text(row.installed_by))
        .param("owner", text(owner));
        match (row.inflight, row.inflight_scope, row.inflight_call) {
            (Some(index), _, Some(call)) => request
                .param("inflight", ParamValue::Long(index as i64))
                .param("inflight_call", ParamValue::Text(call.to_owned())),
            (Some(index), Some(scope), None) => {
                scoped(request.param("inflight", ParamValue::Long(index as i64)), scope)
            }
            _ => request,
        }
    }

    /// The schema fingerprint of `scope` now, in the form of the `recorded` in-flight one it is to
    /// be compared with.
    pub fn fingerprint(&self, scope: &Scope, recorded: &str) -> Request {
        // No `database` field: the database may just have been dropped.
        scoped(Request::new(format!("SELECT {}", fingerprint_sql(scope, Some(recorded)))), scope)
    }

    /// How many other connections are running exactly `sql` right now.
    pub fn running(&self, sql: &str) -> Request {
        Request::new(
            "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
             WHERE INFO = :sql AND ID <> CONNECTION_ID() AND COMMAND <> 'Sleep'",
        )
        .param("sql", ParamValue::Text(sql.to_owned()))
    }

    /// Deletes failed rows (`repair`), while `owner` holds the lease.
    pub fn delete_failed(&self, owner: &str) -> Request {
        self.request(format!(
            "DELETE FROM {h} WHERE `success` = 0 AND EXISTS (SELECT 1 FROM {l} WHERE `id` = 1 \
             AND `owner` = :owner AND `expires_at` >= NOW(6))",
            h = self.h(),
            l = self.l()
        ))
        .param("owner", ParamValue::Text(owner.to_owned()))
    }

    /// Records a new checksum for an applied migration (`repair`).
    pub fn set_checksum(&self, version: &str, checksum: &str, owner: &str) -> Request {
        self.request(format!(
            "UPDATE {h} SET `checksum` = :checksum WHERE `version` = :version AND `success` = 1 \
             AND EXISTS (SELECT 1 FROM {l} WHERE `id` = 1 AND `owner` = :owner AND `expires_at` >= NOW(6))",
            h = self.h(),
            l = self.l()
        ))
        .param("checksum", ParamValue::Text(checksum.to_owned()))
        .param("version", ParamValue::Text(version.to_owned()))
        .param("owner", ParamValue::Text(owner.to_owned()))
    }
}

fn scoped(request: Request, scope: &Scope) -> Request {
    let request = request.param("fp_db", ParamValue::Text(scope.database.clone()));
    match &scope.table {
        Some(table) => request.param("fp_table", ParamValue::Text(table.clone())),
        None => request,
    }
}

/// The fence row's text for a transaction of `owner` on `connection`: `"<connection> <owner>"`,
/// within the column's 200 characters (the owner's end, which makes it unique, is kept).
pub fn registration(connection: i64, owner: &str) -> String {
    fence_text(&format!("{connection} "), owner)
}

/// The fence row's text once `owner` took the lease over: names no connection.
pub fn taken_over(owner: &str) -> String {
    fence_text("taken by ", owner)
}

fn fence_text(prefix: &str, owner: &str) -> String {
    let room = 200usize.saturating_sub(prefix.chars().count());
    let skip = owner.chars().count().saturating_sub(room);
    format!("{prefix}{}", owner.chars().skip(skip).collect::<String>())
}

/// The connection named by a fence row's text.
pub fn registered_connection(registration: &str) -> Option<i64> {
    registration.split_once(' ').and_then(|(id, _)| id.parse().ok()).filter(|id| *id > 0)
}

/// `name` as a backtick-quoted identifier.
pub fn quote_identifier(name: &str) -> String {
    format!("`{}`", name.replace('`', "``"))
}

/// A progress write.
#[derive(Debug, Clone)]
pub struct Progress<'a> {
    pub version: &'a str,
    pub description: &'a str,
    /// Script path.
    pub script: &'a str,
    pub checksum: &'a str,
    /// Script or baseline.
    pub kind: AppliedKind,
    /// Statements applied.
    pub applied: usize,
    /// Statements in the script.
    pub total: usize,
    /// Prefix hash of the applied statements.
    pub prefix: &'a str,
    /// All applied.
    pub success: bool,
    /// Error of the failed statement.
    pub error: Option<&'a str>,
    /// Text of the failed statement (shortened).
    pub failed_statement: Option<&'a str>,
    /// `file:line` of the failed statement.
    pub failed_at: Option<&'a str>,
    /// Milliseconds spent in this write's part.
    pub execution_ms: i64,
    /// Who applies.
    pub installed_by: &'a str,
    /// A DDL statement about to be sent (0-based): records the schema fingerprint with it.
    pub inflight: Option<usize>,
    /// What that statement changes (for the fingerprint).
    pub inflight_scope: Option<&'a Scope>,
    /// Instead of a fingerprint: the token of the stored procedure call that applies a long DML
    /// statement (see `apply::procedure`), recorded as it is.
    pub inflight_call: Option<&'a str>,
}

/// A fingerprint of a database's schema (and of the list of databases): counts and CRC sums over
/// information_schema. A DDL statement that took effect changes it; used to tell, after a crash
/// between a DDL statement and its progress write, whether that statement ran.
///
/// Two forms, told apart by their number of parts:
/// - A statement that names the one table it changes (`CREATE`/`ALTER`/`DROP TABLE`, `CREATE`/`DROP
///   INDEX`: [`Scope::table`]) can change only the database's list of tables and that table's own
///   definition, so its fingerprint is those: the names of the database's tables, and the table's
///   row, columns, indexes and constraints ([`TABLE_PARTS`] parts). Reading only these keeps the cost
///   of a DDL statement flat however many databases the server holds (the list of databases is a
///   directory listing; routines, triggers, views and events are read from every table or from
///   system tables) — what a fleet of hundreds of tenant databases on one server needs.
/// - Any other DDL statement: the list of databases, the database's tables, routines, triggers,
///   views and events, and, when the statement names a table, that table's parts (ten parts).
///   Records written before the first form existed are all of this form, and keep being compared
///   with it.
///
/// Reading the columns and indexes of every table opens each table's definition, which takes
/// milliseconds on a large schema; so when the statement names the table it changes (`:fp_table`),
/// the per-table parts look at that table only.
fn fingerprint_sql(scope: &Scope, recorded: Option<&str>) -> String {
    let table_scoped = scope.table.is_some();
    let lean = table_scoped && recorded.is_none_or(|r| r.split(':').count() == TABLE_PARTS);
    let scope = if table_scoped { " AND TABLE_NAME = :fp_table" } else { "" };
    let part = |expr: &str, from: &str, schema_column: &str, scoped: bool| {
        format!(
            "(SELECT CONCAT(COUNT(*), '/', COALESCE(SUM(CRC32({expr})), 0)) FROM information_schema.{from} \
             WHERE {schema_column} = :fp_db{})",
            if scoped { scope } else { "" }
        )
    };
    let schemata =
        "(SELECT CONCAT(COUNT(*), '/', COALESCE(SUM(CRC32(SCHEMA_NAME)), 0)) FROM information_schema.SCHEMATA)".to_owned();
    let table_names = part("TABLE_NAME", "TABLES", "TABLE_SCHEMA", false);
    let table = [
        part("CONCAT_WS('|', TABLE_NAME, TABLE_TYPE, ENGINE, TABLE_COLLATION, CREATE_OPTIONS, TABLE_COMMENT)", "TABLES", "TABLE_SCHEMA", true),
        part(
            "CONCAT_WS('|', TABLE_NAME, COLUMN_NAME, ORDINAL_POSITION, COLUMN_TYPE, IS_NULLABLE, COLUMN_DEFAULT, EXTRA, COLLATION_NAME, COLUMN_COMMENT)",
            "COLUMNS",
            "TABLE_SCHEMA",
            true,
        ),
        part("CONCAT_WS('|', TABLE_NAME, INDEX_NAME, SEQ_IN_INDEX, COLUMN_NAME, NON_UNIQUE, INDEX_TYPE)", "STATISTICS", "TABLE_SCHEMA", true),
        part("CONCAT_WS('|', TABLE_NAME, CONSTRAINT_NAME, CONSTRAINT_TYPE)", "TABLE_CONSTRAINTS", "TABLE_SCHEMA", true),
    ];
    let parts: Vec<String> = if lean {
        std::iter::once(table_names).chain(table).collect()
    } else {
        let others = [
            part(
                "CONCAT_WS('|', ROUTINE_NAME, ROUTINE_TYPE, ROUTINE_DEFINITION)",
                "ROUTINES",
                "ROUTINE_SCHEMA",
                false,
            ),
            // A trigger lives in its table's schema; filtering on that column (not TRIGGER_SCHEMA)
            // lets the server read one database's tables instead of every database's.
            part(
                "CONCAT_WS('|', TRIGGER_NAME, EVENT_OBJECT_TABLE, ACTION_STATEMENT)",
                "TRIGGERS",
                "EVENT_OBJECT_SCHEMA",
                false,
            ),
            part("CONCAT_WS('|', TABLE_NAME, VIEW_DEFINITION)", "VIEWS", "TABLE_SCHEMA", false),
            part("CONCAT_WS('|', EVENT_NAME, EVENT_DEFINITION, STATUS)", "EVENTS", "EVENT_SCHEMA", false),
        ];
        [schemata, table_names].into_iter().chain(table).chain(others).collect()
    };
    format!("CONCAT_WS(':', {})", parts.join(", "))
}

/// The parts of a fingerprint of a statement that names the one table it changes.
const TABLE_PARTS: usize = 5;

/// What a fingerprint covers: a database, and the one table a statement changes when it names one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Scope {
    /// The database.
    pub database: String,
    /// The table, when the statement names the one it changes.
    pub table: Option<String>,
}

/// Turns the rows of [`Tables::select_history`] into [`Applied`]s.
pub fn parse_history(outcome: &Outcome) -> Result<Vec<Applied>, ExecError> {
    let bad = |what: &str| ExecError::Other { message: format!("unexpected history row: {what}") };
    outcome
        .rows
        .iter()
        .map(|row| {
            let text = |i: usize| -> Result<String, ExecError> {
                match row.get(i) {
                    Some(Value::Text(t)) => Ok(t.clone()),
                    Some(Value::Null) => Ok(String::new()),
                    Some(other) => Ok(format!("{}", other.as_i64().ok_or_else(|| bad("not text"))?)),
                    None => Err(bad("missing column")),
                }
            };
            let number = |i: usize| row.get(i).and_then(Value::as_i64).ok_or_else(|| bad("not a number"));
            let optional = |i: usize| match row.get(i) {
                Some(Value::Text(t)) => Some(t.clone()),
                _ => None,
            };
            Ok(Applied {
                version: text(0)?,
                description: text(1)?,
                script: text(2)?,
                checksum: text(3)?,
                kind: if text(4)? == "baseline" { AppliedKind::Baseline } else { AppliedKind::Script },
                applied: number(5)? as usize,
                total: number(6)? as usize,
                prefix: text(7)?,
                success: number(8)? != 0,
                error: optional(9),
                failed_at: optional(10),
                installed_by: text(11)?,
                installed_at: text(12)?,
                execution_ms: number(13)?,
                inflight: match (row.get(14).and_then(Value::as_i64), optional(15)) {
                    (Some(index), Some(fingerprint)) => Some((index as usize, fingerprint)),
                    _ => None,
                },
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_statement_naming_its_table_is_fingerprinted_by_that_table_and_the_list_of_tables_only() {
        let table = Scope { database: "app".into(), table: Some("t".into()) };
        let database = Scope { database: "app".into(), table: None };
        let parts = |sql: &str| sql.matches("(SELECT CONCAT(COUNT(*)").count();
        // A new record of a table statement: the lean form, no list of databases, no routines.
        let lean = fingerprint_sql(&table, None);
        assert_eq!(parts(&lean), TABLE_PARTS);
        assert!(!lean.contains("SCHEMATA") && !lean.contains("ROUTINES") && !lean.contains("TRIGGERS"));
        assert!(lean
            .contains("information_schema.COLUMNS WHERE TABLE_SCHEMA = :fp_db AND TABLE_NAME = :fp_table"));
        // Compared with a lean record: the lean form again.
        assert_eq!(fingerprint_sql(&table, Some("3/1:1/2:2/3:1/4:1/5")), lean);
        // A record of the ten-part form (every record written before the lean form existed) is
        // compared with that form, table parts scoped as they were.
        let full = fingerprint_sql(&table, Some("9/1:3/2:1/3:2/4:1/5:1/6:0/0:0/0:0/0:0/0"));
        assert_eq!(parts(&full), 10);
        assert!(full.contains("SCHEMATA") && full.contains("AND TABLE_NAME = :fp_table"));
        // A statement that names no table: always the ten parts.
        assert_eq!(parts(&fingerprint_sql(&database, None)), 10);
        assert_eq!(fingerprint_sql(&database, Some("3/1:1/2:2/3:1/4:1/5")), fingerprint_sql(&database, None));
    }

    #[test]
    fn table_names_are_plain_identifiers() {
        assert!(Tables::new("aurora_migrate_history").is_ok());
        for bad in ["", "a-b", "x`; DROP TABLE y; --", &"a".repeat(61)] {
            assert!(Tables::new(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_registration_names_the_connection_and_keeps_the_owners_unique_end_within_200_characters() {
        assert_eq!(registration(42, "aurora-migrate@host#7-0a"), "42 aurora-migrate@host#7-0a");
        assert_eq!(registered_connection("42 aurora-migrate@host#7-0a"), Some(42));
        let long = format!("{}#7-0000beef", "é".repeat(300));
        let r = registration(9_000_000_000, &long);
        assert_eq!(r.chars().count(), 200);
        assert!(r.starts_with("9000000000 é") && r.ends_with("#7-0000beef"), "{r}");
        assert_eq!(registered_connection(&r), Some(9_000_000_000));
        // The row of a run that took the lease over names no connection, whatever its owner.
        assert_eq!(taken_over(&long).chars().count(), 200);
        for text in [&taken_over("12 x#7-0a"), "", "0 x", "-3 x"] {
            assert_eq!(registered_connection(text), None, "{text}");
        }
    }

    #[test]
    fn every_value_is_a_bound_parameter() {
        let t = Tables::new("h").unwrap();
        let progress = Progress {
            version: "1'; DROP TABLE x; --",
            description: "d",
            script: "s",
            checksum: "c",
            kind: AppliedKind::Script,
            applied: 1,
            total: 2,
            prefix: "p",
            success: false,
            error: Some("e"),
            failed_statement: None,
            failed_at: None,
            execution_ms: 3,
            installed_by: "me",
            inflight: None,
            inflight_scope: None,
            inflight_call: None,
        };
        let request = t.record(&progress, "owner");
        assert!(!request.sql.contains("DROP TABLE x"));
        assert_eq!(request.params.len(), 15);
        for (name, _) in &request.params {
            assert!(request.sql.contains(&format!(":{name}")), "{name}");
        }
    }
}
