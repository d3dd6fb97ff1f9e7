//! SQL script text -> statements, exactly as the `mysql`/`mariadb` command-line client cuts them.
//!
//! The RDS Data API runs one statement per call, so scripts written for the mysql client must be cut
//! here the way that client cuts them (its `read_and_execute` / `add_line`, described in words on each
//! rule below and checked against the real client by `dev/fuzz`):
//! - a statement ends at the current delimiter outside quotes and comments; `\g` and `\G` end one
//!   too, `\c` drops what precedes it;
//! - `DELIMITER xx` (or `\d xx`) at the start of a line when no statement is pending, or as a whole
//!   statement that the delimiter ends, changes the delimiter;
//! - `#`, `--` followed by white space (at the start of a statement, any `--`) and `/* */` comments
//!   are not sent; `/*! */` and `/*M! */` version comments are statement text (the server decides);
//! - `USE db` (or `\u db`) is a client command: a [`StatementKind::Use`] for the runner to turn into
//!   the Data API `database` field; other client commands cannot run here and are errors;
//! - the script's own `SET sql_mode` (`NO_BACKSLASH_ESCAPES`, `ANSI_QUOTES`) changes where strings
//!   end from the next statement on, as the client follows the server's status flags.
//!
//! [`Statement::sent`] gives the text the client sends for a statement: comments stripped, CRLF as
//! LF, trailing control characters dropped, read under the script's sql_mode. Where aurora-migrate deliberately refuses what the client
//! would run, the README says so.
//!
//! Why a scanner modelled on the client and not sqlparser's tokenizer: the client is the reference the
//! scripts were written against, and the tokenizer disagrees with it where it matters for boundaries:
//! it takes `--` followed by any Unicode space (U+3000) as a comment, reads `$$ ... $$` as a
//! dollar-quoted string, and reads `END$$` as one word. sqlparser's tokenizer and parser run on every
//! statement afterwards (`check`), on that statement's text only, so memory stays bounded by the
//! largest statement and never by the file.
//!
//! A client "chunk" (what the client sends in one packet) under a custom delimiter may hold several
//! statements (`DROP PROCEDURE IF EXISTS p; CREATE PROCEDURE p() BEGIN ... END$$`), which the server
//! runs as a multi-statement. The Data API refuses those, so such a chunk is cut where the server's
//! parser ends each statement ([`crate::sql::lex::statement_end`]). [`Statement::chunk`] keeps the
//! client's packet numbering.
//!
//! Positions are 1-based; columns count characters, as sqlparser's do.

use std::fmt;

use commands::{
    checked_delimiter, client_command, delimiter_command, server_database, server_use, SHORT_COMMANDS,
};

use crate::sql::lex::{self, comment_end};
use crate::sql::lex::{
    block_comment_close, is_space, quoted_end_in, sql_mode_after, statement_end, use_argument, SqlMode,
};

/// One statement of a script, borrowed from the script's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Statement<'a> {
    /// The exact original text: no leading white space or comments, no trailing delimiter.
    pub text: &'a str,
    /// Byte offset of `text` in the script.
    pub offset: usize,
    /// 1-based line of the first character.
    pub line: usize,
    /// 1-based column (in characters) of the first character.
    pub column: usize,
    /// What the runner does with it.
    pub kind: StatementKind,
    /// 0-based index of the client packet (chunk) the statement belongs to.
    pub chunk: usize,
    /// The sql_mode the client read the statement under (it decides where a backslash escapes).
    mode: SqlMode,
    /// A `/* */` comment closed before the statement on its line: the client owes a space before
    /// the next character it keeps, which it pays after a leading `\x` (see [`client_text_in`]).
    owed_space: bool,
}

impl<'a> Statement<'a> {
    /// The text the client sends for this statement (see [`client_text_in`]), read under the sql_mode
    /// the script had set when the client read it.
    pub fn sent(&self) -> std::borrow::Cow<'a, str> {
        sent_text(self.text, self.mode, self.owed_space)
    }
}

/// What a statement is to the runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StatementKind {
    /// SQL sent to the server as it is.
    Sql,
    /// The client command `USE db`: switches the database of the following statements.
    Use {
        /// The database named, without quotes.
        database: String,
    },
}

/// Why a script cannot be cut into statements.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{line}:{column}: {kind}")]
pub struct SplitError {
    /// 1-based line where the offending construct starts.
    pub line: usize,
    /// 1-based column (characters).
    pub column: usize,
    /// What is wrong.
    pub kind: SplitErrorKind,
}

/// The kinds of [`SplitError`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum SplitErrorKind {
    /// A quoted string or identifier that never closes.
    UnterminatedString(char),
    /// A `/* ... */` comment that never closes.
    UnterminatedComment,
    /// A `/*! ... */` or `/*M! ... */` version comment that never closes.
    UnterminatedVersionComment,
    /// `DELIMITER` without a usable argument.
    BadDelimiter(String),
    /// A mysql client command that has no meaning over the Data API (`source`, `system`, ...).
    ClientCommand(String),
    /// `USE db` followed by more text in the same statement: the client runs only the `USE`.
    TextAfterUse(String),
    /// `-- +goose StatementBegin` without its `-- +goose StatementEnd`.
    UnclosedGooseBlock,
    /// A `/* */` comment inside a `/*! */` version comment.
    CommentInVersionComment,
    /// `--` before a control character (a comment for the server, text for the client) with a
    /// quote after it on its line.
    QuoteAfterServerComment,
}

impl fmt::Display for SplitErrorKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::UnterminatedString(q) => {
                let what = if *q == '`' { "quoted identifier" } else { "string" };
                write!(f, "unterminated {what} (opened with {q} here): close it")
            }
            Self::UnterminatedComment => write!(f, "unterminated /* comment: close it with */"),
            Self::UnterminatedVersionComment => {
                write!(f, "unterminated /*! version comment: close it with */")
            }
            Self::BadDelimiter(why) => write!(f, "bad DELIMITER command: {why}"),
            Self::ClientCommand(cmd) => write!(
                f,
                "`{cmd}` is a mysql client command, not SQL, and cannot run through the Data API: \
                 remove it (for `source`, copy the file's statements into a migration)"
            ),
            Self::CommentInVersionComment => write!(
                f,
                "a /* comment inside a /*! version comment: the mysql client ends the version comment at \
                 this comment's */ while the server does not; remove the inner comment"
            ),
            Self::QuoteAfterServerComment => write!(
                f,
                "`--` before a control character starts a comment for the server but not for the mysql \
                 client, which reads the quote after it on this line as a string, so they would end \
                 statements in different places: put a space after `--` or remove the control character"
            ),
            Self::UnclosedGooseBlock => {
                write!(f, "`{GOOSE_BEGIN}` is never closed: add a `{GOOSE_END}` line")
            }
            Self::TextAfterUse(rest) => write!(
                f,
                "`USE` is followed by `{rest}` without a delimiter; the mysql client would run only \
                 the USE and drop the rest: end the USE with a delimiter"
            ),
        }
    }
}

/// Cuts `text` into statements. See [`split_range`].
pub fn split(text: &str) -> Splitter<'_> {
    split_range(text, 0..text.len())
}

/// Cuts `text[range]` into statements; positions stay relative to the whole `text` (so a section of a
/// dbmate or goose file keeps its file line numbers). The range must lie on character boundaries.
pub fn split_range(text: &str, range: std::ops::Range<usize>) -> Splitter<'_> {
    let line = 1 + text.as_bytes()[..range.start].iter().filter(|&&b| b == b'\n').count();
    let line_start = text[..range.start].rfind('\n').map_or(0, |i| i + 1);
    Splitter {
        text,
        end: range.end,
        pos: range.start,
        line,
        line_start,
        delimiter: ";".to_owned(),
        chunk: 0,
        pending: std::collections::VecDeque::new(),
        done: false,
        mode: SqlMode::default(),
        saved_modes: Vec::new(),
        client_version: None,
        owed_space: false,
    }
}

/// Iterator over the statements of a script; stops after the first error.
#[derive(Debug)]
pub struct Splitter<'a> {
    text: &'a str,
    end: usize,
    pos: usize,
    /// Line number of `line_start` (1-based).
    line: usize,
    /// Byte offset of the start of the line holding `pos` (or a line before it; see `advance_lines`).
    line_start: usize,
    delimiter: String,
    chunk: usize,
    pending: std::collections::VecDeque<Statement<'a>>,
    done: bool,
    /// The session's sql_mode as the script has set it so far (the client follows it too).
    mode: SqlMode,
    /// Modes saved in user variables (`SET @OLD_SQL_MODE=@@SQL_MODE`).
    saved_modes: Vec<(String, SqlMode)>,
    /// Where the `/*!` the client still holds open at the last delimiter started (see
    /// [`Splitter::client_version_open`]).
    client_version: Option<usize>,
    /// A `/* */` comment closed before the statement start on its line (see [`Statement::sent`]).
    owed_space: bool,
}

/// What the in-statement scan found.
enum ChunkEnd {
    /// Statement text ends at `end`; scanning resumes at `resume`.
    At { end: usize, resume: usize },
    /// `\c`: the client drops what was typed so far; scanning resumes at `resume`.
    Cleared { resume: usize },
}

const GOOSE_BEGIN: &str = "-- +goose StatementBegin";
const GOOSE_END: &str = "-- +goose StatementEnd";

impl<'a> Splitter<'a> {
    /// The delimiter in force where the scan stopped.
    pub fn delimiter(&self) -> &str {
        &self.delimiter
    }

    /// Line and column of byte offset `at` (at or after the last position handed out).
    fn position(&mut self, at: usize) -> (usize, usize) {
        let bytes = self.text.as_bytes();
        if at < self.line_start {
            // Asked for an earlier position (an error behind the cursor): count from the top.
            self.line = 1;
            self.line_start = 0;
        }
        // Advance the line cursor up to `at`; positions are mostly asked for in increasing order.
        if let Some(rel) = memrchr_newline(&bytes[self.line_start..at]) {
            self.line +=
                bytes[self.line_start..self.line_start + rel].iter().filter(|&&b| b == b'\n').count() + 1;
            self.line_start += rel + 1;
        }
        let column = 1 + self.text[self.line_start..at].chars().count();
        (self.line, column)
    }

    fn error(&mut self, at: usize, kind: SplitErrorKind) -> Option<Result<Statement<'a>, SplitError>> {
        self.done = true;
        let (line, column) = self.position(at);
        Some(Err(SplitError { line, column, kind }))
    }

    fn at_line_start(&self, p: usize) -> bool {
        p == 0 || self.text.as_bytes()[p - 1] == b'\n'
    }

    /// The line starting at `p`, without its `\n` (and `\r`).
    fn line_at(&self, p: usize) -> (&'a str, usize) {
        let bytes = &self.text.as_bytes()[p..self.end];
        let len = bytes.iter().position(|&b| b == b'\n').unwrap_or(bytes.len());
        let next = p + len + usize::from(p + len < self.end);
        let mut line = &self.text[p..p + len];
        line = line.strip_suffix('\r').unwrap_or(line);
        (line, next)
    }

    /// Skips white space and comments before a statement, handling line commands (`DELIMITER`).
    /// Returns the start of the statement text, or `None` at the end of the range.
    fn skip_to_statement(&mut self) -> Result<Option<usize>, (usize, SplitErrorKind)> {
        let bytes = self.text.as_bytes();
        let mut p = self.pos;
        // A `/* */` comment closed on the line so far (the client then owes a space).
        let mut owed = false;
        while p < self.end {
            if self.at_line_start(p) {
                owed = false;
                let (line, next) = self.line_at(p);
                // A line holding `\g` is never a command line for the client: it goes to the server.
                if let Some(delimiter) = delimiter_command(line).filter(|_| !line.contains("\\g")) {
                    self.delimiter = delimiter.map_err(|why| (p, SplitErrorKind::BadDelimiter(why)))?;
                    p = next;
                    continue;
                }
                if line.trim() == GOOSE_BEGIN {
                    p = self.goose_block(p, next)?;
                    continue;
                }
                // A client command alone on its line (no delimiter, no `\g`) runs at once, as in the
                // client.
                let head = line.trim_start_matches([' ', '\t']);
                if !line.contains(self.delimiter.as_str())
                    && !line.contains("\\g")
                    && !head.starts_with(['#', '-', '/'])
                {
                    let at = p + (line.len() - head.len());
                    if let Some(kind) = client_command(head, at)? {
                        self.push_command(at, head.trim_end().len(), kind);
                        self.pos = next;
                        return Ok(None);
                    }
                }
            }
            let b = bytes[p];
            if self.text[p..self.end].starts_with(self.delimiter.as_str()) {
                // An empty statement: the client skips it.
                p += self.delimiter.len();
            } else if is_space(b) {
                p += 1;
            } else if bytes[p..self.end].starts_with(b"--") {
                // At the start of a statement the client reads `--` as a comment even with no space
                // after it (mysql.cc keeps that for scripts written for mysqltest).
                p += bytes[p..self.end].iter().position(|&c| c == b'\n').unwrap_or(self.end - p);
            } else if let Some(after) = self.comment_end(p)? {
                if b == b'/' && self.client_version_open(self.client_version, p) {
                    return Err((p, SplitErrorKind::CommentInVersionComment));
                }
                // Closed on this line (opened here or before): the client owes a space.
                owed = b == b'/';
                p = after;
            } else if b == b'\\'
                && (matches!(bytes[p + 1..self.end].first(), None | Some(b'\n'))
                    || bytes[p + 1..self.end].starts_with(b"\r\n"))
            {
                // A backslash at the end of a line: the client drops it (and with nothing typed yet,
                // the line is empty).
                p += 1;
            } else if b == b'\\' && matches!(bytes.get(p + 1), Some(b'd' | b'u')) && p + 1 < self.end {
                p = self.short_command(p)?;
                if !self.pending.is_empty() {
                    self.pos = p;
                    return Ok(None);
                }
            } else {
                self.pos = p;
                self.owed_space = owed;
                return Ok(Some(p));
            }
        }
        self.pos = p;
        Ok(None)
    }

    /// Queues a client command found at `at` (`len` bytes) as a statement of its own chunk.
    fn push_command(&mut self, at: usize, len: usize, kind: StatementKind) {
        let chunk = self.chunk;
        self.chunk += 1;
        self.push(at, len, kind, chunk, self.mode);
    }

    /// Queues the statement found at `at` (`len` bytes), the first of its chunk when the client
    /// owes it a space.
    fn push_first(&mut self, at: usize, len: usize, chunk: usize, mode: SqlMode, owed_space: bool) {
        self.push(at, len, StatementKind::Sql, chunk, mode);
        if let Some(statement) = self.pending.back_mut() {
            statement.owed_space = owed_space;
        }
    }

    /// Queues the statement found at `at` (`len` bytes).
    fn push(&mut self, at: usize, len: usize, kind: StatementKind, chunk: usize, mode: SqlMode) {
        let (line, column) = self.position(at);
        let text = &self.text[at..at + len];
        let owed_space = false;
        self.pending.push_back(Statement { text, offset: at, line, column, kind, chunk, mode, owed_space });
    }

    /// Runs the short client command `\d x` (delimiter) or `\u db` (use) at `p`, at the start of a
    /// statement; returns where scanning resumes. Like the client, it takes its argument up to white
    /// space and then drops the rest of the line up to the delimiter (the new one after `\d`).
    fn short_command(&mut self, p: usize) -> Result<usize, (usize, SplitErrorKind)> {
        let (line, next) = self.line_at(p);
        // The client skips any white space before the argument (`my_isspace`: also a CR).
        let rest = line[2..].trim_start_matches(|c: char| c.is_ascii() && is_space(c as u8));
        // Unquoted, the client's argument ends at a space only (as after DELIMITER).
        let arg_len = rest.find(' ').unwrap_or(rest.len());
        let arg = &rest[..arg_len];
        let args_start = p + 2;
        if line.as_bytes()[1] == b'd' {
            self.delimiter = checked_delimiter(arg).map_err(|why| (p, SplitErrorKind::BadDelimiter(why)))?;
        } else {
            if arg.is_empty() {
                return Err((p, SplitErrorKind::ClientCommand("\\u".into())));
            }
            let len = 2 + (line.len() - 2 - rest.len()) + arg_len;
            self.push_command(p, len, StatementKind::Use { database: arg.to_owned() });
        }
        // The parameters run to the (new) delimiter, or to the end of the line.
        let line_end = p + line.len();
        Ok(match self.text[args_start..line_end].find(self.delimiter.as_str()) {
            Some(i) => args_start + i + self.delimiter.len(),
            None => next.min(self.end),
        })
    }

    /// Emits the goose `StatementBegin` ... `StatementEnd` block whose marker line starts at `marker`
    /// as one statement; returns where scanning resumes.
    fn goose_block(&mut self, marker: usize, body: usize) -> Result<usize, (usize, SplitErrorKind)> {
        let mut p = body;
        while p < self.end {
            let (line, next) = self.line_at(p);
            if line.trim() == GOOSE_END {
                let start = body + (self.text[body..p].len() - self.text[body..p].trim_start().len());
                let text = trim_statement(&self.text[start..p]);
                if !text.is_empty() {
                    self.push_command(start, text.len(), StatementKind::Sql);
                }
                return Ok(next);
            }
            p = next;
        }
        Err((marker, SplitErrorKind::UnclosedGooseBlock))
    }

    /// If a comment that the client strips starts at `p`, the offset just after it.
    fn comment_end(&self, p: usize) -> Result<Option<usize>, (usize, SplitErrorKind)> {
        let bytes = &self.text.as_bytes()[..self.end];
        match comment_end(bytes, p) {
            Some(_) if bytes[p] == b'/' && block_comment_close(bytes, p + 2).is_none() => {
                Err((p, SplitErrorKind::UnterminatedComment))
            }
            found => Ok(found),
        }
    }

    /// Scans a statement starting at `start` up to its delimiter (or the end of the range).
    fn scan_chunk(&mut self, start: usize) -> Result<ChunkEnd, (usize, SplitErrorKind)> {
        let bytes = self.text.as_bytes();
        let delimiter = self.delimiter.as_bytes();
        let mut p = start;
        // Where the open version comment started, if any.
        let mut version_comment: Option<usize> = None;
        // Where the `/*!` the client keeps open started (it may come from the chunk before).
        let mut client_version = self.client_version.take();
        while p < self.end {
            let b = bytes[p];
            if b == b'\'' || b == b'"' || b == b'`' {
                p = self.string_end(p)?;
                continue;
            }
            if b == b'\\' {
                // Outside quotes a backslash starts a one-letter client command (mysql.cc
                // `commands[]`); `\g` and `\G` send, `\c` clears what was typed so far.
                match bytes[p + 1..self.end].first() {
                    // At the end of a line the client drops it.
                    None | Some(b'\n') => p += 1,
                    Some(b'\r') if bytes.get(p + 2) == Some(&b'\n') => p += 1,
                    Some(b'g' | b'G') => return Ok(ChunkEnd::At { end: p, resume: p + 2 }),
                    Some(b'c') => return Ok(ChunkEnd::Cleared { resume: p + 2 }),
                    Some(c) if SHORT_COMMANDS.contains(c) => {
                        let cmd: String = self.text[p..].chars().take(2).collect();
                        return Err((p, SplitErrorKind::ClientCommand(cmd)));
                    }
                    // \N is NULL; an unknown command is left in the text with the character after
                    // it (the client complains and sends both).
                    Some(_) => {
                        let next = self.text[p + 1..].chars().next().map_or(1, char::len_utf8);
                        p += 1 + next;
                    }
                }
                continue;
            }
            if bytes[p..self.end].starts_with(delimiter) {
                self.client_version = client_version;
                return Ok(ChunkEnd::At { end: p, resume: p + delimiter.len() });
            }
            if let Some(after) = self.comment_end(p)? {
                if bytes[p] == b'/' && self.client_version_open(client_version, p) {
                    // The client closes the version comment at this comment's `*/` and keeps
                    // reading a comment where the server reads SQL: they cannot agree.
                    return Err((p, SplitErrorKind::CommentInVersionComment));
                }
                p = after;
                continue;
            }
            if b == b'-'
                && bytes.get(p + 1) == Some(&b'-')
                && bytes.get(p + 2).is_some_and(|&c| c < b' ' && !is_space(c))
            {
                // The server reads `--` before a control character as a comment (to the line end);
                // the client reads on, so a quote there opens a string for it and not for the server.
                let line = &bytes[p + 2..self.end];
                let line = &line[..line.iter().position(|&c| c == b'\n').unwrap_or(line.len())];
                if line.iter().any(|c| matches!(c, b'\'' | b'"' | b'`')) {
                    return Err((p, SplitErrorKind::QuoteAfterServerComment));
                }
            }
            if bytes[p..].starts_with(b"/*!") || bytes[p..].starts_with(b"/*M!") {
                version_comment = Some(p);
                if bytes[p + 2] == b'!' {
                    client_version = Some(p);
                }
                p += if bytes[p + 2] == b'!' { 3 } else { 4 };
                continue;
            }
            if (version_comment.is_some() || client_version.is_some()) && bytes[p..].starts_with(b"*/") {
                // The client reads the `*` alone, so the `/` may begin a delimiter (`/*!*//` under
                // `//`).
                client_version = None;
                version_comment = None;
            }
            p += 1;
        }
        if let Some(at) = version_comment {
            return Err((at, SplitErrorKind::UnterminatedVersionComment));
        }
        Ok(ChunkEnd::At { end: self.end, resume: self.end })
    }

    /// Does the client still read a `/*!` opened at `at` as open at `p`? It forgets one at the end of
    /// each line it reads (and at its `*/`), also when the `/*!` lies in the chunk before the
    /// delimiter: `/*!50003 SET a=1; SET b=2 */` leaves it open for the second statement.
    fn client_version_open(&self, at: Option<usize>, p: usize) -> bool {
        at.is_some_and(|at| !self.text.as_bytes()[at..p].contains(&b'\n'))
    }

    /// The offset just after the quoted string or identifier opening at `p`.
    fn string_end(&self, p: usize) -> Result<usize, (usize, SplitErrorKind)> {
        let bytes = &self.text.as_bytes()[..self.end];
        quoted_end_in(bytes, p, self.mode).ok_or((p, SplitErrorKind::UnterminatedString(bytes[p] as char)))
    }

    /// Where the line comment that ends `piece` (itself ending with `--`) starts.
    fn trailing_comment(&self, piece: &str) -> usize {
        let bytes = piece.as_bytes();
        let mut q = piece.rfind('\n').map_or(0, |i| i + 1);
        while q < bytes.len() {
            match bytes[q] {
                b'\'' | b'"' | b'`' => q = quoted_end_in(bytes, q, self.mode).unwrap_or(bytes.len()),
                b'/' => q = comment_end(bytes, q).unwrap_or(q + 1),
                b'#' => return q,
                // A backslash takes the next character into a client command (`\-` takes a dash).
                b'\\' => q += 2,
                b'-' if q + 2 == bytes.len() || comment_end(bytes, q).is_some() => return q,
                _ => q += 1,
            }
        }
        // The final `--` was no comment: a backslash took its first dash (`\--`).
        bytes.len()
    }

    /// Turns one client chunk into statements (pushed to `pending`).
    fn emit_chunk(&mut self, start: usize, end: usize, ended: bool) -> Result<(), (usize, SplitErrorKind)> {
        let text = &self.text[start..end];
        if let Some(kind) = client_command(text, start)? {
            let len = trim_space(text).len();
            match kind {
                // Not ended by the delimiter (`\g`, the end of the file), a USE goes to the server as
                // SQL: a USE of the name the server reads there, or SQL it refuses (a control
                // character or a backslash in the name, ...).
                StatementKind::Use { .. } if !ended => {
                    let chunk = self.chunk;
                    self.chunk += 1;
                    let kind = match server_database(&client_text_in(text, self.mode)[3..]) {
                        Some(database) => StatementKind::Use { database },
                        None => StatementKind::Sql,
                    };
                    self.push(start, len, kind, chunk, self.mode);
                }
                kind => self.push_command(start, len, kind),
            }
            return Ok(());
        }
        let command = delimiter_command(text).is_some();
        if command && !ended {
            let why = "this DELIMITER follows a statement on its line and no delimiter ends it, so the \
                       mysql client would send it to the server as SQL: put DELIMITER at the start of a line";
            return Err((start, SplitErrorKind::BadDelimiter(why.into())));
        }
        if command {
            // A chunk that is a DELIMITER command runs as one when its delimiter ends it (mysql.cc
            // looks for a command in every chunk it completes). The client adds no line break after
            // the line holding the command, so the next line is glued to it.
            // A `/* */` comment closed before it on its line, with nothing but white space and
            // delimiters after, leaves the client about to put a space before the next character it
            // keeps: the kept line no longer starts with the command word, so the line break stays.
            let line_start = self.text[..start].rfind('\n').map_or(0, |i| i + 1);
            let comment_before = comment_closes_before(&self.text[line_start..start], &self.delimiter);
            let glued = match text.split_once('\n') {
                Some((first, _)) if comment_before || !starts_like_delimiter(first.as_bytes()) => {
                    let why = "a comment on the line of a DELIMITER that follows a statement makes the mysql \
                               client take the line break into the delimiter: put DELIMITER on a line of its own";
                    return Err((start, SplitErrorKind::BadDelimiter(why.into())));
                }
                Some((first, rest)) => format!("{}{rest}", first.strip_suffix('\r').unwrap_or(first)),
                None => text.to_owned(),
            };
            // The client reads the command from the text it kept: comments already stripped.
            let kept = client_text_in(&glued, self.mode);
            if kept.contains("\\g") {
                // Before it runs a chunk as a command the client looks for `\g` anywhere in it, also
                // inside quotes, and sends a chunk holding one to the server, which refuses it.
                let why =
                    "this DELIMITER command holds `\\g` (in a string or name too), so the mysql client \
                           sends it to the server as SQL: put DELIMITER on a line of its own without `\\g`";
                return Err((start, SplitErrorKind::BadDelimiter(why.into())));
            }
            if let Some(delimiter) = delimiter_command(&kept) {
                self.delimiter = delimiter.map_err(|why| (start, SplitErrorKind::BadDelimiter(why)))?;
            }
            return Ok(());
        }
        let chunk = self.chunk;
        self.chunk += 1;
        // The client read the whole chunk under the mode in force before it; the server reads each
        // statement of it under the mode the ones before it set.
        let client_mode = self.mode;
        let mut s = start;
        while s < end {
            // White space and comments before the piece.
            let bytes = self.text.as_bytes();
            if is_space(bytes[s]) {
                s += 1;
                continue;
            }
            if let Some(after) = comment_end(&bytes[..end], s) {
                s = after;
                continue;
            }
            let piece_end = if self.delimiter == ";" {
                end
            } else {
                statement_end(&self.text[s..end], self.mode).map_or(end, |i| s + i)
            };
            let mut piece = trim_space(&self.text[s..piece_end]);
            if piece.ends_with("--")
                && self.text.as_bytes()[s + piece.len()..].first().is_none_or(|&c| is_space(c))
            {
                // A `--` that ends a line is a comment (one before the delimiter is text), and the
                // comment may start earlier on that line (`x -- --`).
                piece = trim_space(&piece[..self.trailing_comment(piece)]);
            }
            if piece.ends_with('\\') {
                // A backslash before white space on its line is an unknown client command that the
                // client keeps (it trims the white space only when it sends the chunk): keep one
                // character of it, so that the backslash does not read as ending a line.
                let after = &self.text.as_bytes()[s + piece.len()..piece_end];
                if after.first().is_some_and(|&c| c != b'\n') && !after.starts_with(b"\r\n") {
                    piece = &self.text[s..s + piece.len() + 1];
                }
            }
            // `/*!*/USE db` is no command for the client, but the server's USE all the same (when
            // what follows is a name for the server: `USE --x` is SQL it refuses).
            let server_name = |rest: &str| {
                rest.bytes().next().is_some_and(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, b'_' | b'$' | b'`') || c >= 0x80
                })
            };
            if let Some(rest) = use_argument(piece).filter(|rest| server_name(rest)) {
                if let Some(kind) = server_use(rest, s)? {
                    self.push(s, piece.len(), kind, chunk, client_mode);
                    s = piece_end + 1;
                    continue;
                }
            } else if piece.len() > 3 && piece.as_bytes()[..3].eq_ignore_ascii_case(b"use") {
                // `use\` + line break is no command for the client either (the word is `use\`), but
                // it drops the backslash and the server reads `use\n db`: a USE.
                let sent = client_text_in(piece, client_mode);
                if let Some(kind) = use_argument(&sent).map(|rest| server_use(rest, s)).transpose()?.flatten()
                {
                    self.push(s, piece.len(), kind, chunk, client_mode);
                    s = piece_end + 1;
                    continue;
                }
            }
            // A piece that starts with a control character may be nothing but control characters
            // and comments, which the client does not send.
            // So may one that starts with a backslash the client drops at a line end.
            let plain = piece.as_bytes().first().is_some_and(|&c| c > b' ' && c != b'\\');
            let sent = !piece.is_empty() && (plain || !sent_text(piece, client_mode, false).is_empty());
            if sent {
                let owed_space = s == start && self.owed_space;
                self.push_first(s, piece.len(), chunk, client_mode, owed_space);
                if let Some(mode) = sql_mode_after(piece, self.mode, &mut self.saved_modes) {
                    self.mode = mode;
                }
            }
            s = piece_end + 1;
        }
        Ok(())
    }
}

impl<'a> Iterator for Splitter<'a> {
    type Item = Result<Statement<'a>, SplitError>;

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            if let Some(statement) = self.pending.pop_front() {
                return Some(Ok(statement));
            }
            if self.done {
                return None;
            }
            let start = match self.skip_to_statement() {
                Ok(Some(start)) => start,
                Ok(None) if !self.pending.is_empty() => continue,
                Ok(None) => {
                    self.done = true;
                    return None;
                }
                Err((at, kind)) => return self.error(at, kind),
            };
            match self.scan_chunk(start) {
                Ok(ChunkEnd::At { end, resume }) => {
                    // Ended by the delimiter (not by `\g`, which sends the chunk as it is).
                    let ended = self.text[end..].starts_with(self.delimiter.as_str());
                    if let Err((at, kind)) = self.emit_chunk(start, end, ended) {
                        return self.error(at, kind);
                    }
                    self.pos = resume;
                }
                Ok(ChunkEnd::Cleared { resume }) => self.pos = resume,
                Err((at, kind)) => return self.error(at, kind),
            }
        }
    }
}

/// A piece's text: trailing white space and a trailing `;` removed.
fn trim_statement(piece: &str) -> &str {
    let t = trim_space(piece);
    t.strip_suffix(';').map_or(t, trim_space)
}

/// Without trailing ASCII white space (a statement's text keeps control characters, which decide
/// whether a `--` before them starts a comment; [`client_text_in`] removes them).
fn trim_space(text: &str) -> &str {
    text.trim_end_matches(|c: char| c.is_ascii() && is_space(c as u8))
}

/// Without the trailing white space and control characters (a Ctrl-Z at the end of a DOS file) that
/// the client removes before it sends a chunk (mysql.cc `remove_cntrl`).
fn trim_sent(text: &str) -> &str {
    text.trim_end_matches(|c: char| c <= ' ' || c == '\x7f')
}

/// [`client_text_in`] under the default sql_mode.
#[cfg(test)]
pub fn client_text(text: &str) -> std::borrow::Cow<'_, str> {
    client_text_in(text, SqlMode::default())
}

/// A statement's text as the mysql client sends it by default (`--skip-comments`), reading it under
/// `mode` (which decides where a backslash escapes inside quotes): `--`, `#` and `/* */` comments
/// removed (a removed `/* */` leaves one space where words would otherwise join), line breaks kept,
/// `/*! */` and `/*M! */` version comments kept. So routine and trigger bodies are stored exactly as
/// the client would store them.
pub fn client_text_in(text: &str, mode: SqlMode) -> std::borrow::Cow<'_, str> {
    sent_text(text, mode, false)
}

/// [`client_text_in`], with the space the client owes after a `/* */` comment just before `text`.
fn sent_text(text: &str, mode: SqlMode, owed_space: bool) -> std::borrow::Cow<'_, str> {
    // The client reads its input line by line and drops the CR of every CRLF line end, inside
    // strings and routine bodies too: a CRLF checkout must send what its LF twin sends. Only the
    // file's own line ends: a CR before a stripped `--` comment stays (`+\r--\n` sends `+\r\n`).
    if !text.contains('\r') {
        return strip_comments_as_sent(text, mode, owed_space);
    }
    let lf = text.replace("\r\n", "\n");
    std::borrow::Cow::Owned(strip_comments_as_sent(&lf, mode, owed_space).into_owned())
}

fn strip_comments_as_sent(text: &str, mode: SqlMode, owed_space: bool) -> std::borrow::Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    // After a `/* */` comment the client puts one space before the next character unless that is
    // white space (so `SELECT/* x */1` stays two words). It copies an unknown client command or
    // `\N` without paying it, so the space goes after those (`/**/\N,` sends `\N ,`). Owed
    // before the text itself, it matters only there: the server drops leading white space.
    let mut need_space = owed_space && text.starts_with('\\');
    let mut changed = need_space;
    // Where the last comment ended.
    let mut comment_end_at = 0;
    let flush = |out: &mut String, mut from: usize, to: usize, need_space: &mut bool| {
        while *need_space && from + 1 < to && bytes[from] == b'\\' {
            let len = 1 + text[from + 1..].chars().next().map_or(0, char::len_utf8);
            out.push_str(&text[from..from + len]);
            from += len;
        }
        if from < to {
            if *need_space && !is_space(bytes[from]) {
                out.push(' ');
            }
            *need_space = false;
            out.push_str(&text[from..to]);
        }
    };
    let mut p = 0;
    while p < bytes.len() {
        match bytes[p] {
            b'\'' | b'"' | b'`' => {
                let end = quoted_end_in(bytes, p, mode).unwrap_or(bytes.len());
                // A backslash at the end of a line inside a string: the client drops it too, where
                // a backslash escapes (not in backticks, nor under NO_BACKSLASH_ESCAPES, nor in
                // double quotes under ANSI_QUOTES: there it is a plain character).
                let mut i = p + 1;
                while mode.escapes(bytes[p]) && i < end {
                    if bytes[i] == b'\\' {
                        if bytes[i + 1..].starts_with(b"\n") || bytes[i + 1..].starts_with(b"\r\n") {
                            flush(&mut out, copied, i, &mut need_space);
                            changed = true;
                            copied = i + 1;
                        }
                        i += 2;
                    } else {
                        i += 1;
                    }
                }
                p = end;
            }
            b'/' if bytes[p..].starts_with(b"/*!") || bytes[p..].starts_with(b"/*M!") => p += 3,
            // The client adds no line break after a line that starts like a DELIMITER command
            // (mysql.cc `is_delimiter_command` on every line), even inside a statement. It looks at
            // what it kept of the line since its last comment: after a comment that ends on the
            // line (opened there or on a line before), nothing it keeps starts like one.
            b'\n'
                if {
                    let line_start = text[..p].rfind('\n').map_or(0, |i| i + 1);
                    comment_end_at <= line_start && starts_with_delimiter_word(&bytes[line_start..p])
                } =>
            {
                let end = if p > 0 && bytes[p - 1] == b'\r' { p - 1 } else { p };
                flush(&mut out, copied, end, &mut need_space);
                changed = true;
                copied = p + 1;
                p += 1;
            }
            b'\\' => {
                let rest = &bytes[p + 1..];
                if rest.is_empty() || rest[0] == b'\n' || rest.starts_with(b"\r\n") {
                    // A backslash at the end of a line: the client drops it.
                    flush(&mut out, copied, p, &mut need_space);
                    changed = true;
                    copied = p + 1;
                    p += 1;
                } else if rest[0] == b'-' {
                    // `\-` is the client's sandbox command (mariadb-dump writes it): it runs it and
                    // sends the text around it.
                    flush(&mut out, copied, p, &mut need_space);
                    changed = true;
                    copied = p + 2;
                    p += 2;
                } else {
                    // An escape outside quotes (`\N`, an unknown command): both characters are text.
                    p += 1 + text[p + 1..].chars().next().map_or(0, char::len_utf8);
                }
            }
            // A statement's text never ends with a `--` comment (the splitter leaves it out), so
            // one there was followed by the delimiter: text for the client.
            b'-' if p + 2 == bytes.len() && bytes[p + 1] == b'-' => p += 2,
            _ => match comment_end(bytes, p) {
                Some(end) => {
                    flush(&mut out, copied, p, &mut need_space);
                    changed = true;
                    need_space = bytes[p] == b'/';
                    comment_end_at = end;
                    copied = end;
                    p = end;
                }
                None => p += 1,
            },
        }
    }
    if !changed {
        return std::borrow::Cow::Borrowed(trim_sent(text));
    }
    flush(&mut out, copied, text.len(), &mut need_space);
    let trimmed = trim_sent(&out).len();
    out.truncate(trimmed);
    std::borrow::Cow::Owned(out)
}

/// Does this line start with the word the client checks for a DELIMITER command (any case, any
/// characters after it), with no comment on it? (A comment makes the client set aside what it kept
/// of the line, and then the check sees no DELIMITER.)
fn starts_like_delimiter(line: &[u8]) -> bool {
    starts_with_delimiter_word(line)
        && !line.contains(&b'#')
        && lex::find(line, b"--").is_none()
        && lex::find(line, b"/*").is_none()
}

/// Does this line start with the word the client checks for a DELIMITER command (any case, any
/// characters after it)?
fn starts_with_delimiter_word(line: &[u8]) -> bool {
    line.len() >= 9 && line[..9].eq_ignore_ascii_case(b"delimiter")
}

/// Does `before` (the start of a line) end with a `/* */` comment's close, followed by nothing but
/// white space and delimiters?
fn comment_closes_before(before: &str, delimiter: &str) -> bool {
    let mut t = before;
    loop {
        t = trim_space(t);
        match t.strip_suffix(delimiter) {
            Some(rest) if !delimiter.is_empty() => t = rest,
            _ => break,
        }
    }
    let Some(body) = t.strip_suffix("*/") else { return false };
    // A version comment's `*/` is text the client keeps; a comment's is not.
    body.rfind("/*")
        .is_none_or(|open| !body[open + 2..].starts_with('!') && !body[open + 2..].starts_with("M!"))
}

fn memrchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().rposition(|&b| b == b'\n')
}

mod commands;
#[cfg(test)]
mod tests;
