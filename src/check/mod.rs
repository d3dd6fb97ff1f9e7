//! Checking statements before anything runs: the Data API's size limit (with the cut of long
//! multi-row INSERTs into several INSERTs of whole rows), a parse of every statement with sqlparser's
//! `MySqlDialect`, and lints (a file mixing DDL and DML cannot be atomic). Reports compiler-style
//! [`Diagnostic`]s; never touches a database.
//!
//! sqlparser does not know all of MySQL (routine bodies, `DEFINER=`, partitioning, ...). A statement
//! it cannot read for such a reason is a *note* ("not verified"), an ordinary syntax error is an
//! *error*: see [`unsupported_reason`].

pub mod report;
pub mod statements;

pub use report::check_dir;

use std::fmt;

use serde::Serialize;
use sqlparser::dialect::MySqlDialect;
use sqlparser::parser::{Parser, ParserError};
use sqlparser::tokenizer::Tokenizer;

use crate::scripts::source::Script;
use crate::sql::calls::MAX_SQL_CHARS;
use crate::sql::classify::{classify, disposition, Disposition, StatementClass};
use crate::sql::lex::starts_compound;
use crate::sql::split::{Statement, StatementKind};

/// How bad a diagnostic is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Information: e.g. a statement sqlparser could not verify.
    Note,
    /// Works, but probably not as the author thinks.
    Warning,
    /// Must be fixed before the scripts can run.
    Error,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Note => "note",
            Severity::Warning => "warning",
            Severity::Error => "error",
        })
    }
}

/// One finding, printed `script:line:col: severity: message`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    /// How bad it is.
    pub severity: Severity,
    /// Script path (relative to the scripts folder).
    pub script: String,
    /// 1-based line, when known.
    pub line: Option<usize>,
    /// 1-based column in characters, when known.
    pub column: Option<usize>,
    /// What is wrong and what to do.
    pub message: String,
}

impl fmt::Display for Diagnostic {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.script)?;
        if let Some(line) = self.line {
            write!(f, ":{line}")?;
            if let Some(column) = self.column {
                write!(f, ":{column}")?;
            }
        }
        write!(f, ": {}: {}", self.severity, self.message)
    }
}

/// The result of checking one script.
#[derive(Debug, Clone, Default, Serialize)]
pub struct FileCheck {
    /// Statements the script holds (Data API calls before any INSERT cut).
    pub statements: usize,
    /// Client packets (what the mysql client would send).
    pub chunks: usize,
    /// Findings, in file order.
    pub diagnostics: Vec<Diagnostic>,
}

/// Checks one script: split, size, parse, lints.
pub fn check_migration(script_name: &str, script: &Script) -> FileCheck {
    let mut out = FileCheck::default();
    let mut first_ddl: Option<(usize, String)> = None;
    let mut first_dml: Option<(usize, String)> = None;
    let mut chunks = 0;
    for statement in script.statements() {
        let statement = match statement {
            Ok(statement) => statement,
            Err(e) => {
                out.diagnostics.push(Diagnostic {
                    severity: Severity::Error,
                    script: script_name.to_owned(),
                    line: Some(e.line),
                    column: Some(e.column),
                    message: e.kind.to_string(),
                });
                break;
            }
        };
        out.statements += 1;
        chunks = chunks.max(statement.chunk + 1);
        if statement.kind != StatementKind::Sql {
            continue;
        }
        let class = classify(statement.text);
        let head = || crate::sql::lex::head_words(statement.text, 2).join(" ");
        match class {
            StatementClass::Ddl if first_ddl.is_none() => first_ddl = Some((statement.line, head())),
            StatementClass::Dml if first_dml.is_none() => first_dml = Some((statement.line, head())),
            _ => {}
        }
        let (severity, why) = match disposition(&statement) {
            Disposition::Skip(why) => (Severity::Note, why),
            Disposition::Refused(why) => (Severity::Error, why),
            _ => {
                check_statement(script_name, &statement, &mut out.diagnostics);
                continue;
            }
        };
        out.diagnostics.push(Diagnostic {
            severity,
            script: script_name.to_owned(),
            line: Some(statement.line),
            column: Some(statement.column),
            message: why.to_owned(),
        });
    }
    out.chunks = chunks;
    if let (Some((ddl_line, ddl)), Some((dml_line, dml))) = (first_ddl, first_dml) {
        out.diagnostics.push(Diagnostic {
            severity: Severity::Warning,
            script: script_name.to_owned(),
            line: Some(ddl_line.min(dml_line)),
            column: None,
            message: format!(
                "the file mixes DDL ({ddl} at line {ddl_line}) and DML ({dml} at line {dml_line}): \
                 MySQL commits each DDL statement implicitly, so the file cannot be applied \
                 atomically; if it fails halfway, the statements before the failure stay applied \
                 (aurora-migrate records how far it got). Put DDL and DML in separate migrations \
                 to make each part all-or-nothing"
            ),
        });
    }
    out.diagnostics.sort_by_key(|d| (d.line, d.column));
    out
}

fn check_statement(script: &str, statement: &Statement<'_>, out: &mut Vec<Diagnostic>) {
    let at = |line: usize, column: usize, severity, message: String| Diagnostic {
        severity,
        script: script.to_owned(),
        line: Some(line),
        column: Some(column),
        message,
    };
    match crate::sql::calls::shape(statement.text) {
        Ok(shape) if shape.calls == 1 && shape.params == 0 => {}
        Ok(shape) => out.push(at(
            statement.line,
            statement.column,
            Severity::Note,
            format!(
                "statement is {} characters, over the Data API's {MAX_SQL_CHARS}: it will be sent as \
                 {} call(s){}",
                statement.text.chars().count(),
                shape.calls,
                if shape.params > 0 {
                    format!(", with {} long literal(s) as bound parameters", shape.params)
                } else {
                    " of whole rows".to_owned()
                }
            ),
        )),
        Err(too_long) => {
            out.push(at(statement.line, statement.column, Severity::Error, too_long.to_string()))
        }
    }
    if let Err(failure) = parse(statement.text) {
        let (line, column) = match failure.position {
            Some((1, c)) => (statement.line, statement.column + c - 1),
            Some((l, c)) => (statement.line + l - 1, c),
            None => (statement.line, statement.column),
        };
        match unsupported_reason(statement.text, &failure.message) {
            Some(reason) => out.push(at(
                statement.line,
                statement.column,
                Severity::Note,
                format!("not verified by the parser ({reason}); the server will check it"),
            )),
            None => out.push(at(line, column, Severity::Error, format!("syntax error: {}", failure.message))),
        }
    }
}

/// A parse failure: sqlparser's message and its position inside the statement.
#[derive(Debug)]
struct ParseFailure {
    message: String,
    position: Option<(usize, usize)>,
}

/// Parses one statement with sqlparser's MySQL dialect.
fn parse(text: &str) -> Result<(), ParseFailure> {
    let dialect = MySqlDialect {};
    let tokens =
        Tokenizer::new(&dialect, text).with_unescape(false).tokenize_with_location().map_err(|e| {
            ParseFailure {
                message: e.message.clone(),
                position: Some((e.location.line as usize, e.location.column as usize)),
            }
        })?;
    let parsed = Parser::new(&dialect).with_tokens_with_locations(tokens).parse_statements();
    match parsed {
        Ok(statements) if statements.len() <= 1 => Ok(()),
        Ok(statements) => Err(ParseFailure {
            message: format!("sqlparser reads {} statements here, expected one", statements.len()),
            position: None,
        }),
        Err(ParserError::ParserError(message) | ParserError::TokenizerError(message)) => {
            let position = error_position(&message);
            let message = message.split(" at Line: ").next().unwrap_or(&message).to_owned();
            Err(ParseFailure { message, position })
        }
        Err(ParserError::RecursionLimitExceeded) => {
            Err(ParseFailure { message: "statement nests too deeply for the parser".into(), position: None })
        }
    }
}

/// `... at Line: 3, Column: 7` -> (3, 7).
fn error_position(message: &str) -> Option<(usize, usize)> {
    let (_, tail) = message.rsplit_once(" at Line: ")?;
    let (line, column) = tail.split_once(", Column: ")?;
    let column: String = column.chars().take_while(char::is_ascii_digit).collect();
    Some((line.trim().parse().ok()?, column.parse().ok()?))
}

/// MySQL features sqlparser 0.63 does not read (found by running it over real scripts): a statement
/// using one of them and failing to parse is "not verified", not wrong.
const UNSUPPORTED_FEATURES: &[(&str, &str)] = &[
    ("DEFINER", "DEFINER clause"),
    ("PARTITION", "partitioning"),
    ("ZEROFILL", "ZEROFILL"),
    ("FULLTEXT", "FULLTEXT index"),
    ("SPATIAL", "SPATIAL index"),
    ("CONVERT", "CONVERT TO CHARACTER SET"),
    ("ENGINE", "table options"),
    ("ROW_FORMAT", "table options"),
    ("ALGORITHM", "ALGORITHM/LOCK options"),
    ("LOCK", "ALGORITHM/LOCK options"),
    ("GENERATED", "generated columns"),
    ("VIRTUAL", "generated columns"),
    ("PERSISTENT", "generated columns"),
    ("STORED", "generated columns"),
    ("INVISIBLE", "invisible columns"),
    ("SYSTEM", "system versioning"),
    ("SEQUENCE", "sequences"),
    ("EVENT", "events"),
    ("USER", "account management"),
    ("IDENTIFIED", "account management"),
    ("GRANT", "account management"),
    ("REVOKE", "account management"),
    ("SRID", "spatial reference"),
    ("COMPRESSED", "column compression"),
    ("CHECK", "CHECK constraints"),
    ("CONSTRAINT", "constraints"),
    ("FOREIGN", "foreign keys"),
    ("REFERENCES", "foreign keys"),
    ("COLLATE", "collations"),
    ("CHARSET", "character sets"),
    ("CHARACTER", "character sets"),
    ("DESC", "descending index parts"),
    ("IGNORED", "ignored indexes"),
    ("KEY_BLOCK_SIZE", "index options"),
    ("USING", "index options"),
    ("COMMENT", "comments on objects"),
    ("DEFAULT", "default expressions"),
    ("UNSIGNED", "numeric attributes"),
    ("SIGNED", "numeric attributes"),
    ("INTERVAL", "intervals"),
    ("AUTO_INCREMENT", "table options"),
    ("STATS_PERSISTENT", "table options"),
    ("INSERT_METHOD", "table options"),
];

/// Why sqlparser could not read a statement that may well be right, or `None` for a plain syntax
/// error. The rule: compound statements, version comments and the MySQL-only features above are
/// notes; everything else that fails to parse is an error.
pub fn unsupported_reason(text: &str, message: &str) -> Option<String> {
    if starts_compound(text) {
        return Some("routine, trigger or event bodies are beyond sqlparser".into());
    }
    if text.contains("/*!") || text.contains("/*M!") {
        return Some("version comments /*! */ are read only in part by sqlparser".into());
    }
    let words = statement_words(text);
    let first = words.first().map(String::as_str).unwrap_or("");
    if matches!(first, "UPDATE" | "DELETE") && message.contains("found: ,") {
        return Some("multi-table UPDATE/DELETE".into());
    }
    // The token sqlparser stopped at, and the words of the statement.
    let found = message
        .split_once("found: ")
        .map(|(_, f)| f.trim().trim_matches('`').to_ascii_uppercase())
        .unwrap_or_default();
    // `SET @v := ...` and `SELECT @v := ...` are valid MySQL that sqlparser 0.63 does not read.
    if found == ":=" {
        return Some("the := assignment, which sqlparser does not read".into());
    }
    for (feature, reason) in UNSUPPORTED_FEATURES {
        if found == *feature || (found.is_empty() && words.iter().any(|w| w == feature)) {
            return Some(format!("{reason}: sqlparser stops at {found}"));
        }
    }
    // The parser reached a MySQL-only feature that it names in the words of the statement.
    if matches!(first, "CREATE" | "ALTER") {
        for (feature, reason) in UNSUPPORTED_FEATURES.iter().take(20) {
            if words.iter().any(|w| w == feature) {
                return Some(format!("{reason}, which sqlparser does not fully support"));
            }
        }
    }
    None
}

/// Upper-cased bare words of a statement (outside quotes and comments).
fn statement_words(text: &str) -> Vec<String> {
    crate::sql::lex::head_words(text, usize::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_colon_equals_assignment_is_a_note_not_an_error() {
        let d = check("SET @batch := 'b7';\nSELECT @n := @n + 1;\n").diagnostics;
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!((d[0].severity, d[0].line), (Severity::Note, Some(1)), "{d:?}");
        assert!(d[0].message.contains(":="), "{d:?}");
    }

    fn check(text: &str) -> FileCheck {
        let script = Script::from_bytes("V1__t.sql", text.as_bytes().to_vec()).unwrap();
        check_migration("V1__t.sql", &script)
    }

    fn severities(text: &str) -> Vec<(Severity, Option<usize>, Option<usize>)> {
        check(text).diagnostics.iter().map(|d| (d.severity, d.line, d.column)).collect()
    }

    #[test]
    fn ordinary_statements_pass() {
        let sql = "CREATE TABLE a (id INT PRIMARY KEY, name VARCHAR(10) NOT NULL);\n\
                   CREATE INDEX a_name ON a (name);\nCREATE VIEW v AS SELECT id FROM a;\n";
        assert_eq!(severities(sql), []);
    }

    #[test]
    fn syntax_errors_are_errors_at_the_file_position() {
        let sql = "CREATE TABLE a (id INT);\n\nCREATE TABLE b (\n  id INT,,\n  x INT);\n";
        let diagnostics = check(sql).diagnostics;
        assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
        let d = &diagnostics[0];
        assert_eq!((d.severity, d.line, d.column), (Severity::Error, Some(4), Some(10)), "{d}");
        assert!(d.to_string().starts_with("V1__t.sql:4:10: error: syntax error:"), "{d}");

        let diagnostics = check("SELECT 1;\n  SELEC 2;").diagnostics;
        assert_eq!((diagnostics[0].line, diagnostics[0].column), (Some(2), Some(3)), "{diagnostics:?}");
    }

    #[test]
    fn routines_and_definers_are_notes_not_errors() {
        let sql = "DELIMITER $$\nCREATE DEFINER=`root`@`%` PROCEDURE p()\nBEGIN\n  DECLARE x INT;\n  SET x = 1;\nEND$$\n";
        let diagnostics = check(sql).diagnostics;
        assert_eq!(diagnostics.len(), 1);
        assert_eq!(diagnostics[0].severity, Severity::Note);
        assert!(diagnostics[0].message.contains("not verified by the parser"));
    }

    #[test]
    fn mixing_ddl_and_dml_is_a_warning_once() {
        let sql = "CREATE TABLE a (id INT);\nINSERT INTO a VALUES (1);\nINSERT INTO a VALUES (2);\n";
        let warnings: Vec<_> =
            check(sql).diagnostics.into_iter().filter(|d| d.severity == Severity::Warning).collect();
        assert_eq!(warnings.len(), 1);
        assert!(warnings[0].message.contains("commits each DDL statement implicitly"));
        assert!(check("INSERT INTO a VALUES (1);\nUPDATE a SET id = 2;").diagnostics.is_empty());
    }

    #[test]
    fn split_errors_are_reported_and_stop_the_file() {
        let d = check("SELECT 1;\nSELECT 'oops;\n").diagnostics;
        assert_eq!(d.len(), 1);
        assert_eq!((d[0].severity, d[0].line, d[0].column), (Severity::Error, Some(2), Some(8)));
    }

    #[test]
    fn locks_and_transaction_control_are_notes_and_rollback_is_an_error() {
        let d = check("LOCK TABLES a WRITE;\nINSERT INTO a VALUES (1);\nUNLOCK TABLES;\nSTART TRANSACTION;\nCOMMIT;\nSET autocommit=0;").diagnostics;
        let notes: Vec<_> =
            d.iter().filter(|d| d.severity == Severity::Note).map(|d| d.line.unwrap()).collect();
        assert_eq!(notes, [1, 3, 4, 5, 6], "{d:?}");
        let d = check("INSERT INTO a VALUES (1);\nROLLBACK;").diagnostics;
        assert_eq!((d[0].severity, d[0].line), (Severity::Error, Some(2)), "{d:?}");
    }

    #[test]
    fn long_statements_are_notes_when_they_can_be_sent_and_errors_otherwise() {
        let rows: Vec<String> = (0..3000).map(|i| format!("({i}, '{}')", "x".repeat(60))).collect();
        let insert = format!("INSERT INTO t (id, v) VALUES {};", rows.join(","));
        let d = check(&insert).diagnostics;
        assert_eq!(d.len(), 1, "{d:?}");
        assert_eq!(d[0].severity, Severity::Note);
        assert!(d[0].message.contains("will be sent as 4 call(s) of whole rows"), "{}", d[0].message);
        let update = format!("UPDATE t SET v = CONCAT({})", vec!["'y'"; 20_000].join(","));
        let d = check(&update).diagnostics;
        assert_eq!(d.len(), 1);
        assert_eq!(d[0].severity, Severity::Error);
        assert!(d[0].message.contains("statement is 80024 characters"), "{}", d[0].message);
    }
}
