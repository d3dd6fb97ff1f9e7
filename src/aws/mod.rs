//! The only user of the AWS SDK: the Data API executor and the Secrets Manager lookup.

pub mod data_api;
