//! Text only, the bottom layer: the mysql-client splitter and the Data API calls a statement becomes.
//! Knows nothing of files, databases, AWS or the command line.

pub mod calls;
pub mod lex;
pub mod split;
