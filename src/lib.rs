//! aurora-migrate: versioned SQL migrations for Amazon Aurora MySQL through the RDS Data API.
//!
//! The rooms, from the text up (dependencies point down this list, never up):
//! - `sql`: text only: the mysql-client splitter, statement classes, what a `SET` assigns, the Data
//!   API calls a statement becomes;
//! - `scripts`: files: discovery and versions, checksums and the content hash, the layer zip;
//! - `check`: the offline check of every statement and its report;
//! - `apply`: online, through the [`Executor`] trait only: plan, lease, segments, transactions,
//!   DDL in flight, progress, the report;
//! - `aws`: the only user of the AWS SDK (the Data API behind [`Executor`], Secrets Manager);
//! - `lambda`: the function's handler and the custom-resource rules;
//! - [`names`]: the strings shared with the CDK code.
//!
//! The binaries (`src/bin`) are thin: they parse arguments or events, build clients and call what is
//! re-exported here.

mod apply;
mod aws;
mod check;
mod lambda;
pub mod names;
mod scripts;
mod sql;
mod table;

pub use apply::executor::{ExecError, Executor, Outcome, ParamValue, Request, Value};
pub use apply::fleet;
pub use apply::plan::PlanOptions;
pub use apply::{
    Event, Fleet, FleetError, FleetReport, MigrationError, Operation, Report, RunConfig, RunError, RunText,
    Runner, Selection,
};
pub use aws::data_api::{DataApi, Target};
pub use check::report::{check_dir, CheckReport, ListReport};
pub use check::statements::{list_statements, StatementsReport};
pub use check::{check_migration, Diagnostic, Severity};
pub use lambda::{Handler, InvokeError, Settings};
pub use scripts::layer::write_layer_zip;
pub use scripts::source::{
    checksum, content_hash, discover, hash_dir, up_section, Migration, Script, Scripts, SourceError, Version,
};
pub use sql::calls::calls;
pub use sql::classify::{classify, StatementClass};
pub use sql::split::{split, Statement, StatementKind};
