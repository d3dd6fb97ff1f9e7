//! What a statement is, read from its text: its class for transactions ([`StatementClass`]), what
//! the runner does with it ([`Disposition`]), the one table a DDL statement changes ([`ddl_table`])
//! and the database a `DROP DATABASE` drops ([`dropped_database`]). Text only: the check reports
//! these findings, the runner acts on them; neither re-reads SQL itself.
//!
//! Words are read with the splitter's lexing helpers (`head_words`, `quoted_end`), so quotes,
//! comments and version-comment markers are skipped the same way everywhere.

use serde::Serialize;

use crate::sql::lex::{head_words, quoted_end};
use crate::sql::session_vars::assigned;
use crate::sql::split::{Statement, StatementKind};

/// What a statement does to transactions: the runner keeps DDL out of Data API transactions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StatementClass {
    /// Commits implicitly in MySQL (CREATE, ALTER, DROP, RENAME, TRUNCATE, GRANT, LOCK TABLES, ...).
    Ddl,
    /// Changes rows (INSERT, UPDATE, DELETE, REPLACE, LOAD, CALL).
    Dml,
    /// Starts or ends a transaction itself (START TRANSACTION, BEGIN, COMMIT, ROLLBACK, ...).
    Transaction,
    /// Anything else (SET, SELECT, DO, ...).
    Other,
}

/// Classifies a statement by its first words (version-comment markers skipped).
pub fn classify(text: &str) -> StatementClass {
    let words = head_words(text, 3);
    let word = |i: usize| words.get(i).map(String::as_str).unwrap_or("");
    match word(0) {
        "CREATE" | "ALTER" | "DROP" | "RENAME" | "TRUNCATE" | "GRANT" | "REVOKE" | "ANALYZE" | "OPTIMIZE"
        | "REPAIR" | "FLUSH" | "LOCK" | "UNLOCK" | "INSTALL" | "UNINSTALL" | "CACHE" => StatementClass::Ddl,
        "LOAD" if word(1) == "INDEX" => StatementClass::Ddl,
        "SET" if word(1) == "PASSWORD" => StatementClass::Ddl,
        "INSERT" | "UPDATE" | "DELETE" | "REPLACE" | "LOAD" | "CALL" => StatementClass::Dml,
        "START" | "BEGIN" | "COMMIT" | "ROLLBACK" | "SAVEPOINT" | "RELEASE" | "XA" => {
            StatementClass::Transaction
        }
        "SET" if matches!(word(1), "AUTOCOMMIT" | "TRANSACTION") => StatementClass::Transaction,
        _ => StatementClass::Other,
    }
}

/// What the runner does with one statement (and what the check says about it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Disposition {
    /// `USE db`: switches the database of the following calls.
    Use(String),
    /// Counted, not sent (table locks, the script's own transaction control); the text says why.
    Skip(&'static str),
    /// Session state: sent, and carried over to later segments.
    Session,
    /// Commits implicitly: runs alone.
    Ddl,
    /// Runs in a transaction segment.
    Dml,
    /// Cannot run through aurora-migrate: fails the migration; the text says why.
    Refused(&'static str),
}

const SKIP_LOCK: &str =
    "table locks cannot outlive a Data API call, so aurora-migrate counts this statement without sending it";
const SKIP_TRANSACTION: &str =
    "aurora-migrate runs statements in transactions of its own, so it counts this statement without sending it";
const REFUSED_TRANSACTION: &str = "aurora-migrate runs each run of statements in a transaction of its own, \
     which this statement would break: remove it (a failing statement already rolls its segment back)";

/// What the runner does with `statement`.
pub fn disposition(statement: &Statement<'_>) -> Disposition {
    if let StatementKind::Use { database } = &statement.kind {
        return Disposition::Use(database.clone());
    }
    let words = head_words(statement.text, 1);
    let first = words.first().map(String::as_str).unwrap_or("");
    match (first, classify(statement.text)) {
        ("LOCK" | "UNLOCK", _) => Disposition::Skip(SKIP_LOCK),
        ("START" | "BEGIN" | "COMMIT" | "SET", StatementClass::Transaction) => {
            Disposition::Skip(SKIP_TRANSACTION)
        }
        ("ROLLBACK" | "SAVEPOINT" | "RELEASE" | "XA", _) => Disposition::Refused(REFUSED_TRANSACTION),
        (_, StatementClass::Ddl) => Disposition::Ddl,
        ("SET", _) => {
            // A global assignment changes the server, not the session: it runs once. (Only a SET
            // is read to its end: an INSERT may be megabytes long.)
            let global =
                head_words(statement.text, usize::MAX).iter().any(|w| w == "GLOBAL" || w == "PERSIST");
            if global && assigned(statement.text).is_none() {
                Disposition::Dml
            } else {
                Disposition::Session
            }
        }
        _ => Disposition::Dml,
    }
}

/// The one table a `CREATE TABLE`, `ALTER TABLE`, `DROP TABLE`, `CREATE INDEX ... ON` or
/// `DROP INDEX ... ON` statement changes, as (database if qualified, table).
pub fn ddl_table(text: &str) -> Option<(Option<String>, String)> {
    let text = text.trim();
    let text = match text.strip_prefix("/*!").and_then(|t| t.strip_suffix("*/")) {
        Some(inner) => inner.trim_start_matches(|c: char| c.is_ascii_digit()),
        None => text,
    };
    let tokens = identifier_tokens(text, 14);
    let upper: Vec<String> = tokens.iter().map(|t| t.to_ascii_uppercase()).collect();
    let word = |i: usize| upper.get(i).map(String::as_str).unwrap_or("");
    let skip_if_exists = |mut i: usize| {
        while matches!(word(i), "IF" | "NOT" | "EXISTS") {
            i += 1;
        }
        i
    };
    // [IF [NOT] EXISTS] index ON table
    let on_table = |i: usize| -> Option<usize> {
        let i = skip_if_exists(i);
        (word(i + 1) == "ON").then_some(i + 2)
    };
    let name_at = match word(0) {
        "CREATE" => {
            let i = if word(1) == "OR" && word(2) == "REPLACE" { 3 } else { 1 };
            match word(i) {
                "TEMPORARY" if word(i + 1) == "TABLE" => Some(i + 2),
                "TABLE" => Some(i + 1),
                "UNIQUE" | "FULLTEXT" | "SPATIAL" if word(i + 1) == "INDEX" => on_table(i + 2),
                "INDEX" => on_table(i + 1),
                _ => None,
            }
        }
        "ALTER" => (1..4).find(|&k| word(k) == "TABLE").map(|k| k + 1),
        "DROP" if word(1) == "TABLE" => Some(2),
        "DROP" if word(1) == "INDEX" => on_table(2),
        _ => None,
    }?;
    let k = skip_if_exists(name_at);
    let name = tokens.get(k)?;
    if tokens.get(k + 1).is_some_and(|t| t == ",") {
        return None;
    }
    match name.split_once('.') {
        Some((db, table)) => Some((Some(unquote(db)), unquote(table))),
        None => Some((None, unquote(name))),
    }
}

/// The first `max` identifier-like tokens: words (with `.` joins) and backticked names kept whole;
/// `,` as its own token; everything else ends a token.
fn identifier_tokens(text: &str, max: usize) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut p = 0;
    while p < bytes.len() && out.len() < max {
        let start = p;
        loop {
            match bytes.get(p) {
                Some(b'`') => p = quoted_end(bytes, p).unwrap_or(bytes.len()),
                Some(c) if c.is_ascii_alphanumeric() || *c == b'_' || *c == b'$' || *c == b'.' => p += 1,
                _ => break,
            }
        }
        if p > start {
            out.push(text[start..p].to_owned());
        } else {
            if bytes[p] == b',' {
                out.push(",".to_owned());
            }
            p += 1;
        }
    }
    out
}

fn unquote(name: &str) -> String {
    name.strip_prefix('`')
        .and_then(|n| n.strip_suffix('`'))
        .map_or_else(|| name.to_owned(), |n| n.replace("``", "`"))
}

/// The database a `DROP DATABASE|SCHEMA [IF EXISTS] name` statement drops.
pub fn dropped_database(text: &str) -> Option<String> {
    let words = head_words(text, 4);
    if words.first().map(String::as_str) != Some("DROP")
        || !matches!(words.get(1).map(String::as_str), Some("DATABASE" | "SCHEMA"))
    {
        return None;
    }
    let upper = text.to_ascii_uppercase();
    let at = upper.find(words[1].as_str())? + words[1].len();
    let mut rest = text[at..].trim_start();
    if rest.to_ascii_uppercase().starts_with("IF EXISTS") {
        rest = rest[9..].trim_start();
    }
    let name = match rest.strip_prefix('`') {
        Some(quoted) => quoted.split('`').next()?.to_owned(),
        None => rest.split(|c: char| c.is_whitespace() || c == ';').next()?.to_owned(),
    };
    (!name.is_empty()).then_some(name)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn disposition_of(text: &str) -> Disposition {
        let statement = crate::sql::split::split(text).next().expect("one statement").expect("splits");
        disposition(&statement)
    }

    #[test]
    fn statements_are_classified_for_transactions() {
        let cases = [
            ("CREATE TABLE a (id int)", StatementClass::Ddl),
            ("/*!40000 ALTER TABLE a DISABLE KEYS */", StatementClass::Ddl),
            ("LOCK TABLES a WRITE", StatementClass::Ddl),
            ("insert into a values (1)", StatementClass::Dml),
            ("UPDATE a SET x = 1", StatementClass::Dml),
            ("START TRANSACTION", StatementClass::Transaction),
            ("COMMIT", StatementClass::Transaction),
            ("SET autocommit=0", StatementClass::Transaction),
            ("SET NAMES utf8mb4", StatementClass::Other),
            ("SELECT 1", StatementClass::Other),
        ];
        for (sql, class) in cases {
            assert_eq!(classify(sql), class, "{sql}");
        }
    }

    #[test]
    fn each_statement_gets_what_the_runner_does_with_it() {
        let cases = [
            ("USE shop", Disposition::Use("shop".into())),
            ("LOCK TABLES a WRITE", Disposition::Skip(SKIP_LOCK)),
            ("UNLOCK TABLES", Disposition::Skip(SKIP_LOCK)),
            ("START TRANSACTION", Disposition::Skip(SKIP_TRANSACTION)),
            ("SET autocommit = 0", Disposition::Skip(SKIP_TRANSACTION)),
            ("ROLLBACK", Disposition::Refused(REFUSED_TRANSACTION)),
            ("SAVEPOINT s", Disposition::Refused(REFUSED_TRANSACTION)),
            ("CREATE TABLE a (id INT)", Disposition::Ddl),
            ("SET foreign_key_checks = 0", Disposition::Session),
            ("SET GLOBAL max_connections = 10", Disposition::Dml),
            ("INSERT INTO a VALUES (1)", Disposition::Dml),
            ("SELECT 1", Disposition::Dml),
        ];
        for (sql, want) in cases {
            assert_eq!(disposition_of(sql), want, "{sql}");
        }
    }

    #[test]
    fn ddl_statements_name_the_table_they_change() {
        let t = |db: Option<&str>, table: &str| Some((db.map(str::to_owned), table.to_owned()));
        assert_eq!(ddl_table("CREATE TABLE a (id INT)"), t(None, "a"));
        assert_eq!(
            ddl_table("create temporary table if not exists `odd name` (id int)"),
            t(None, "odd name")
        );
        assert_eq!(ddl_table("ALTER TABLE shop.orders ADD COLUMN x INT"), t(Some("shop"), "orders"));
        assert_eq!(ddl_table("ALTER ONLINE IGNORE TABLE `s`.`o` ADD x INT"), t(Some("s"), "o"));
        assert_eq!(ddl_table("CREATE UNIQUE INDEX i ON orders (x)"), t(None, "orders"));
        assert_eq!(ddl_table("CREATE INDEX IF NOT EXISTS i ON orders (x)"), t(None, "orders"));
        assert_eq!(ddl_table("DROP INDEX i ON orders"), t(None, "orders"));
        assert_eq!(ddl_table("DROP TABLE IF EXISTS a"), t(None, "a"));
        assert_eq!(ddl_table("/*!40000 ALTER TABLE `a` DISABLE KEYS */"), t(None, "a"));
        assert_eq!(ddl_table("DROP TABLE a, b"), None);
        assert_eq!(ddl_table("CREATE VIEW v AS SELECT 1"), None);
        assert_eq!(ddl_table("RENAME TABLE a TO b"), None);
    }

    #[test]
    fn dropped_databases_are_read_from_drop_statements() {
        assert_eq!(dropped_database("DROP SCHEMA IF EXISTS sakila").as_deref(), Some("sakila"));
        assert_eq!(dropped_database("drop database `odd name`").as_deref(), Some("odd name"));
        assert_eq!(dropped_database("DROP TABLE sakila"), None);
        assert_eq!(dropped_database("CREATE DATABASE x"), None);
    }
}
