//! A local RDS Data API over MySQL/MariaDB, for development and tests.
//!
//! It speaks the Data API's restJson1 wire protocol (the five operations `ExecuteStatement`,
//! `BatchExecuteStatement`, `BeginTransaction`, `CommitTransaction`, `RollbackTransaction`) and
//! executes on a real MySQL or MariaDB server, with the service's error names, status codes,
//! transaction pinning, expiry and call timeout. Official AWS SDK clients talk to it unchanged.
//! See the README for configuration, the type mapping and the control endpoint.
//!
//! Start one with [`serve`] on a bound listener; [`testing`] starts a throwaway MariaDB and an
//! in-process emulator for tests.

mod config;
mod convert;
mod db;
mod error;
mod faults;
mod ops;
mod server;
mod service;
mod sql;
mod transactions;
mod wire;

pub mod testing;

pub use config::{
    parse_secret, split_pair, Cluster, Config, ConfigError, ErrorFlavor, ErrorMessages, ErrorStyle, Secret,
    SecretValue, Timeouts, TransactionMode, DEFAULT_MAX_CONNECTIONS,
};
pub use error::ApiError;
pub use faults::{FaultKind, FaultRule, Operation, ScheduledFault};
pub use server::{serve, ServeError};
pub use service::{BadClusterUrl, MAX_REQUEST_BYTES, MAX_RESPONSE_BYTES, MAX_SQL_CHARS};
