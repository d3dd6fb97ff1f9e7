//! Files: discovery of migration scripts and their versions, checksums and the content hash, and the
//! Lambda layer zip. Knows nothing of databases or AWS.

pub mod layer;
pub mod source;
