//! The report of `aurora-migrate list DIR --statements`: every Data API call the scripts would send,
//! in order, with its full text and where it comes from, without any endpoint.
//!
//! It shows what the runner sends, statement by statement: the client's text (comments stripped,
//! CRLF read as LF), cut into calls when a statement is longer than the Data API accepts, a `USE` as
//! the database it switches to, and the statements the runner counts without sending or refuses.
//! The differential fuzzer (`dev/fuzz`) compares this list with what a MariaDB server ran when the
//! same file was piped through the `mariadb` client.

use std::fmt;
use std::path::Path;

use serde::Serialize;

use crate::scripts::source::{discover, Script, SourceError};
use crate::sql::calls::{calls, Param};
use crate::sql::classify::{disposition, Disposition};
use crate::sql::split::Statement;

/// Every statement of every migration of a folder, in the order they apply.
#[derive(Debug, Clone, Serialize)]
pub struct StatementsReport {
    /// The scripts folder.
    pub dir: String,
    /// One entry per migration.
    pub migrations: Vec<MigrationStatements>,
    /// Problems with the files themselves (names, versions, encoding), one line each.
    pub problems: Vec<String>,
}

impl StatementsReport {
    /// True when every file was read and split without error.
    pub fn ok(&self) -> bool {
        self.problems.is_empty() && self.migrations.iter().all(|m| m.error.is_none())
    }
}

/// The statements of one migration.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationStatements {
    /// Version from the file name.
    pub version: String,
    /// Path relative to the scripts folder.
    pub script: String,
    /// Target database folder, `null` for the default database.
    pub database: Option<String>,
    /// The statements before the first split error (all of them when there is none).
    pub statements: Vec<SentStatement>,
    /// The split error that stops this file, as `line:column: message`.
    pub error: Option<String>,
}

/// One statement of a script and what the runner does with it.
#[derive(Debug, Clone, Serialize)]
pub struct SentStatement {
    /// 1-based line of its first character.
    pub line: usize,
    /// 1-based column (characters).
    pub column: usize,
    /// 0-based index of the mysql-client packet it belongs to.
    pub chunk: usize,
    /// `sql`, or `use` for the client command that switches the database.
    pub kind: &'static str,
    /// `send`, `use` (sets the `database` of later calls), `skip` (counted, not sent) or `refuse`.
    pub action: &'static str,
    /// For `use`: the database named.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub database: Option<String>,
    /// The client's text of the statement (comments stripped, CRLF as LF).
    pub text: String,
    /// The Data API calls that run it (empty unless `action` is `send`).
    pub calls: Vec<SentCall>,
    /// Why it cannot be sent (too long, refused).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

/// One Data API call.
#[derive(Debug, Clone, Serialize)]
pub struct SentCall {
    /// The `sql` field.
    pub sql: String,
    /// Bound parameters as `(name, kind, size)`: kind `blob` (bytes) or `text` (characters).
    pub params: Vec<(String, &'static str, usize)>,
}

/// Lists the statements of every migration in `dir`. `Err` only for I/O errors.
pub fn list_statements(dir: &Path) -> Result<StatementsReport, SourceError> {
    let mut report =
        StatementsReport { dir: dir.display().to_string(), migrations: Vec::new(), problems: Vec::new() };
    let scripts = match discover(dir) {
        Ok(scripts) => scripts,
        Err(SourceError::Invalid(problems)) => {
            report.problems = problems
                .into_iter()
                .map(|p| match p.line {
                    Some(line) => format!("{}:{line}: {}", dir.join(&p.script).display(), p.message),
                    None => format!("{}: {}", dir.join(&p.script).display(), p.message),
                })
                .collect();
            return Ok(report);
        }
        Err(e) => return Err(e),
    };
    for migration in &scripts.migrations {
        let script = Script::read(&migration.path)?;
        let mut entry = MigrationStatements {
            version: migration.version.to_string(),
            script: migration.script.clone(),
            database: migration.database.clone(),
            statements: Vec::new(),
            error: None,
        };
        for statement in script.statements() {
            match statement {
                Ok(statement) => entry.statements.push(sent(&statement)),
                Err(e) => {
                    entry.error = Some(e.to_string());
                    break;
                }
            }
        }
        report.migrations.push(entry);
    }
    Ok(report)
}

/// What the runner does with one statement.
fn sent(statement: &Statement<'_>) -> SentStatement {
    let text = statement.sent().into_owned();
    let mut out = SentStatement {
        line: statement.line,
        column: statement.column,
        chunk: statement.chunk,
        kind: "sql",
        action: "send",
        database: None,
        text,
        calls: Vec::new(),
        error: None,
    };
    match disposition(statement) {
        Disposition::Use(database) => {
            out.kind = "use";
            out.action = "use";
            out.database = Some(database);
        }
        Disposition::Skip(_) => out.action = "skip",
        Disposition::Refused(why) => {
            out.action = "refuse";
            out.error = Some(why.to_owned());
        }
        Disposition::Session | Disposition::Ddl | Disposition::Dml => match calls(&out.text) {
            Ok(calls) => out.calls = calls.into_iter().map(sent_call).collect(),
            Err(e) => out.error = Some(e.to_string()),
        },
    }
    out
}

fn sent_call(call: crate::sql::calls::Call) -> SentCall {
    let params = call
        .params
        .into_iter()
        .map(|(name, value)| match value {
            Param::Blob(bytes) => (name, "blob", bytes.len()),
            Param::Text(text) => (name, "text", text.chars().count()),
        })
        .collect();
    SentCall { sql: call.sql, params }
}

impl fmt::Display for StatementsReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for problem in &self.problems {
            writeln!(f, "error: {problem}")?;
        }
        let mut calls = 0;
        for m in &self.migrations {
            let path = Path::new(&self.dir).join(&m.script);
            let path = path.display();
            for s in &m.statements {
                let database = s.database.as_deref().unwrap_or_default();
                match s.action {
                    "use" => writeln!(f, "{path}:{}:{}: use database {database}", s.line, s.column)?,
                    "skip" => writeln!(f, "{path}:{}:{}: not sent: {}", s.line, s.column, s.text)?,
                    _ if s.error.is_some() => {
                        let error = s.error.as_deref().unwrap_or_default();
                        writeln!(f, "{path}:{}:{}: error: {error}", s.line, s.column)?;
                    }
                    _ => {
                        for (n, call) in s.calls.iter().enumerate() {
                            calls += 1;
                            let part = if s.calls.len() > 1 {
                                format!(" (call {} of {})", n + 1, s.calls.len())
                            } else {
                                String::new()
                            };
                            let params = if call.params.is_empty() {
                                String::new()
                            } else {
                                format!(" with {} bound parameter(s)", call.params.len())
                            };
                            writeln!(f, "{path}:{}:{}:{part}{params}\n{}\n", s.line, s.column, call.sql)?;
                        }
                    }
                }
            }
            if let Some(error) = &m.error {
                writeln!(f, "{path}:{error}")?;
            }
        }
        write!(f, "{calls} Data API call(s) in {} migration(s)", self.migrations.len())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn folder(files: &[(&str, &str)]) -> tempfile::TempDir {
        let dir = tempfile::tempdir().expect("temp dir");
        for (name, text) in files {
            std::fs::write(dir.path().join(name), text).expect("write");
        }
        dir
    }

    #[test]
    fn lists_every_call_with_its_position_and_the_client_text() {
        let dir = folder(&[
            ("V1__a.sql", "USE shop;\r\n-- note\r\nSELECT 1 /* x */, 'a\r\nb';\r\nLOCK TABLES t WRITE;\r\n"),
            ("V2__b.sql", "SELECT 'open"),
        ]);
        let report = list_statements(dir.path()).expect("lists");
        let first = &report.migrations[0];
        let got: Vec<_> = first.statements.iter().map(|s| (s.line, s.action, s.text.as_str())).collect();
        assert_eq!(
            got,
            [(1, "use", "USE shop"), (3, "send", "SELECT 1  , 'a\nb'"), (5, "skip", "LOCK TABLES t WRITE")]
        );
        assert_eq!(first.statements[0].database.as_deref(), Some("shop"));
        assert_eq!(first.statements[1].calls[0].sql, "SELECT 1  , 'a\nb'");
        assert!(report.migrations[1].error.as_deref().is_some_and(|e| e.starts_with("1:8: unterminated")));
        assert!(!report.ok());
        let text = report.to_string();
        assert!(text.contains("V1__a.sql:3:1:\nSELECT 1  , 'a\nb'\n"), "{text}");
        assert!(text.contains("V2__b.sql:1:8: unterminated string"), "{text}");
    }
}
