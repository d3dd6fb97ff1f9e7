//! aurora-migrate: versioned SQL migrations for Amazon Aurora MySQL through the RDS Data API.
//!
//! The rooms, from the text up: [`sql`] cuts a script into statements as the mysql client does,
//! [`scripts`] finds the files, their versions and checksums, [`check`] verifies every statement before
//! anything runs, [`apply`] runs migrations through the `Executor` trait, [`aws`] is the Data API
//! behind it, [`lambda`] the function's handler, and [`names`] holds the strings shared with the CDK
//! code.

pub mod apply;
pub mod aws;
pub mod check;
pub mod lambda;
pub mod names;
pub mod scripts;
pub mod sql;
mod table;

pub use check::{check_migration, Diagnostic, Severity};
pub use scripts::source::{content_hash, discover, Migration, Scripts, SourceError, Version};
pub use sql::split::{split, Statement, StatementKind};
