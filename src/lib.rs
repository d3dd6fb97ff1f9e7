//! aurora-migrate: versioned SQL migrations for Amazon Aurora MySQL through the RDS Data API.
//!
//! The rooms, from the files inward: [`source`] finds the scripts and their checksums, [`split`]
//! cuts a script into statements as the mysql client does, [`check`] verifies every statement before
//! anything runs, and [`names`] holds the strings shared with the CDK code.

pub mod calls;
pub mod check;
pub mod data_api;
pub mod executor;
pub mod history;
pub mod lambda;
pub mod layer;
pub mod names;
pub mod plan;
pub mod report;
pub mod runner;
pub mod session;
pub mod source;
pub mod split;

pub use check::{check_migration, Diagnostic, Severity};
pub use source::{content_hash, discover, Migration, Scripts, SourceError, Version};
pub use split::{split, Statement, StatementKind};
