//! Text only, the bottom layer: the one lexer (lex), the mysql-client splitter (split), what a
//! statement is (classify), what a `SET` assigns (session_vars) and the Data API calls a statement
//! becomes (calls). Knows nothing of files, databases, AWS or the command line.

pub mod calls;
pub mod classify;
pub mod lex;
pub mod session_vars;
pub mod split;
