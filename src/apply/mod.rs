//! Online: applying migrations to a database through the [`executor::Executor`] trait. Knows nothing
//! of the AWS SDK, the Lambda or the command line.

pub mod executor;
pub mod history;
pub mod plan;
pub mod runner;
pub mod session;
