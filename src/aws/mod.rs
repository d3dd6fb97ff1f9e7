//! The only user of the AWS SDK: the Data API executor, the Secrets Manager lookup and the start of
//! a deploy's state machine.

pub mod data_api;
pub mod step_functions;
