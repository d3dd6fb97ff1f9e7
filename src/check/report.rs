//! Reports of the offline commands (`check`, `list`): `Display` for people, `Serialize` for JSON.
//! Building them reads files one at a time, so memory stays bounded by the largest script.

use std::fmt;
use std::path::Path;

use serde::Serialize;

use crate::check::{check_migration, Diagnostic, Severity};
use crate::scripts::source::{discover, Script, SourceError};
use crate::table::table;

/// One migration as `check` and `list` see it.
#[derive(Debug, Clone, Serialize)]
pub struct MigrationSummary {
    /// Version from the file name.
    pub version: String,
    /// Description from the file name.
    pub description: String,
    /// Path relative to the scripts folder.
    pub script: String,
    /// Target database folder, `null` for the default database.
    pub database: Option<String>,
    /// `sha256:<hex>`.
    pub checksum: String,
    /// Statements (Data API statements, `USE` included).
    pub statements: usize,
}

/// The result of `check` (and the basis of `list`).
#[derive(Debug, Clone, Serialize)]
pub struct CheckReport {
    /// The scripts folder.
    pub dir: String,
    /// Migrations in the order they apply (empty when the files themselves are invalid).
    pub migrations: Vec<MigrationSummary>,
    /// `.down.sql` files skipped on purpose.
    pub ignored: Vec<String>,
    /// Every finding, by file then position.
    pub diagnostics: Vec<Diagnostic>,
    /// Content hash of the folder, when the files are valid.
    pub content_hash: Option<String>,
    /// Number of errors.
    pub errors: usize,
    /// Number of warnings.
    pub warnings: usize,
    /// Number of notes.
    pub notes: usize,
}

impl CheckReport {
    /// True when nothing stops these scripts from running.
    pub fn ok(&self) -> bool {
        self.errors == 0
    }
}

/// Discovers and checks every migration in `dir`. `Err` only for I/O errors; naming problems and
/// SQL problems are diagnostics in the report.
pub fn check_dir(dir: &Path) -> Result<CheckReport, SourceError> {
    let display = |script: &str| dir.join(script).display().to_string();
    let mut report = CheckReport {
        dir: dir.display().to_string(),
        migrations: Vec::new(),
        ignored: Vec::new(),
        diagnostics: Vec::new(),
        content_hash: None,
        errors: 0,
        warnings: 0,
        notes: 0,
    };
    match discover(dir) {
        Err(SourceError::Invalid(problems)) => {
            report.diagnostics = problems
                .into_iter()
                .map(|p| Diagnostic {
                    severity: Severity::Error,
                    script: display(&p.script),
                    line: p.line,
                    column: None,
                    message: p.message,
                })
                .collect();
        }
        Err(e) => return Err(e),
        Ok(scripts) => {
            for migration in &scripts.migrations {
                let script = Script::read(&migration.path)?;
                let checked = check_migration(&display(&migration.script), &script);
                report.diagnostics.extend(checked.diagnostics);
                report.migrations.push(MigrationSummary {
                    version: migration.version.to_string(),
                    description: migration.description.clone(),
                    script: migration.script.clone(),
                    database: migration.database.clone(),
                    checksum: migration.checksum.clone(),
                    statements: checked.statements,
                });
            }
            report.ignored = scripts.ignored;
            report.content_hash = Some(scripts.content_hash);
        }
    }
    for d in &report.diagnostics {
        match d.severity {
            Severity::Error => report.errors += 1,
            Severity::Warning => report.warnings += 1,
            Severity::Note => report.notes += 1,
        }
    }
    Ok(report)
}

impl fmt::Display for CheckReport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for d in &self.diagnostics {
            writeln!(f, "{d}")?;
        }
        let statements: usize = self.migrations.iter().map(|m| m.statements).sum();
        write!(
            f,
            "checked {} migration(s), {statements} statement(s) in {}: {} error(s), {} warning(s), {} note(s)",
            self.migrations.len(),
            self.dir,
            self.errors,
            self.warnings,
            self.notes
        )
    }
}

/// The `list` view of a [`CheckReport`].
#[derive(Debug, Clone, Serialize)]
pub struct ListReport<'a>(pub &'a CheckReport);

impl fmt::Display for ListReport<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let rows: Vec<[String; 6]> = self
            .0
            .migrations
            .iter()
            .map(|m| {
                [
                    m.database.clone().unwrap_or_else(|| "-".into()),
                    m.version.clone(),
                    m.statements.to_string(),
                    m.checksum.chars().take(19).collect(),
                    m.script.clone(),
                    m.description.clone(),
                ]
            })
            .collect();
        table(f, "", ["DATABASE", "VERSION", "STATEMENTS", "CHECKSUM", "SCRIPT", "DESCRIPTION"], &rows)?;
        for ignored in &self.0.ignored {
            writeln!(f, "(ignored: {ignored})")?;
        }
        Ok(())
    }
}
