//! One file per Data API operation: decode the request, check it as the service does, run it,
//! encode the response.

pub mod batch;
pub mod begin;
pub mod commit;
pub mod execute;
pub mod rollback;
