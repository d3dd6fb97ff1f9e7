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
//! [`client_text`] gives the text the client sends for a statement: comments stripped, CRLF as LF,
//! trailing control characters dropped. Where aurora-migrate deliberately refuses what the client
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

use crate::sql::lex::{
    block_comment_close, is_space, quoted_end_in, sql_mode_after, statement_end, use_argument, SqlMode,
};
pub use crate::sql::lex::{comment_end, head_words, quoted_end, starts_compound};

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
}

/// What the in-statement scan found.
enum ChunkEnd {
    /// Statement text ends at `end`; scanning resumes at `resume`.
    At { end: usize, resume: usize },
    /// `\c`: the client drops what was typed so far; scanning resumes at `resume`.
    Cleared { resume: usize },
}

/// Client commands, with whether they take arguments (mysql.cc `commands[]`). A statement whose first
/// word is one of these is run by the client itself and never reaches the server.
const CLIENT_COMMANDS: &[(&str, bool)] = &[
    ("?", true),
    ("charset", true),
    ("clear", false),
    ("connect", true),
    ("edit", false),
    ("ego", false),
    ("exit", false),
    ("go", false),
    ("help", true),
    ("nopager", false),
    ("notee", false),
    ("nowarning", false),
    ("pager", true),
    ("print", false),
    ("prompt", true),
    ("quit", false),
    ("rehash", false),
    ("resetconnection", false),
    ("source", true),
    ("status", false),
    ("system", true),
    ("tee", true),
    ("use", true),
    ("warnings", false),
];

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
        while p < self.end {
            if self.at_line_start(p) {
                let (line, next) = self.line_at(p);
                if let Some(delimiter) = delimiter_command(line) {
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
                p = after;
            } else if b == b'\\' && matches!(bytes[p + 1..self.end].first(), None | Some(b'\n' | b'\r')) {
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
                return Ok(Some(p));
            }
        }
        self.pos = p;
        Ok(None)
    }

    /// Queues a client command found at `at` (`len` bytes) as a statement of its own chunk.
    fn push_command(&mut self, at: usize, len: usize, kind: StatementKind) {
        let (line, column) = self.position(at);
        let text = &self.text[at..at + len];
        let chunk = self.chunk;
        self.chunk += 1;
        self.pending.push_back(Statement { text, offset: at, line, column, kind, chunk });
    }

    /// Runs the short client command `\d x` (delimiter) or `\u db` (use) at `p`, at the start of a
    /// statement; returns where scanning resumes. Like the client, it takes its argument up to white
    /// space and then drops the rest of the line up to the delimiter (the new one after `\d`).
    fn short_command(&mut self, p: usize) -> Result<usize, (usize, SplitErrorKind)> {
        let (line, next) = self.line_at(p);
        let rest = line[2..].trim_start_matches([' ', '\t']);
        let arg_len = rest.find([' ', '\t']).unwrap_or(rest.len());
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
    fn scan_chunk(&self, start: usize) -> Result<ChunkEnd, (usize, SplitErrorKind)> {
        let bytes = self.text.as_bytes();
        let delimiter = self.delimiter.as_bytes();
        let mut p = start;
        // Where the open version comment started, if any.
        let mut version_comment: Option<usize> = None;
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
                return Ok(ChunkEnd::At { end: p, resume: p + delimiter.len() });
            }
            if let Some(after) = self.comment_end(p)? {
                if version_comment.is_some() && bytes[p] == b'/' {
                    // The client closes the version comment at this comment's `*/` and keeps
                    // reading a comment where the server reads SQL: they cannot agree.
                    return Err((p, SplitErrorKind::CommentInVersionComment));
                }
                p = after;
                continue;
            }
            if bytes[p..].starts_with(b"/*!") || bytes[p..].starts_with(b"/*M!") {
                version_comment = Some(p);
                p += if bytes[p + 2] == b'!' { 3 } else { 4 };
                continue;
            }
            if version_comment.is_some() && bytes[p..].starts_with(b"*/") {
                version_comment = None;
                p += 2;
                continue;
            }
            p += 1;
        }
        if let Some(at) = version_comment {
            return Err((at, SplitErrorKind::UnterminatedVersionComment));
        }
        Ok(ChunkEnd::At { end: self.end, resume: self.end })
    }

    /// The offset just after the quoted string or identifier opening at `p`.
    fn string_end(&self, p: usize) -> Result<usize, (usize, SplitErrorKind)> {
        let bytes = &self.text.as_bytes()[..self.end];
        quoted_end_in(bytes, p, self.mode).ok_or((p, SplitErrorKind::UnterminatedString(bytes[p] as char)))
    }

    /// Turns one client chunk into statements (pushed to `pending`).
    fn emit_chunk(&mut self, start: usize, end: usize, ended: bool) -> Result<(), (usize, SplitErrorKind)> {
        let text = &self.text[start..end];
        if let Some(kind) = client_command(text, start)? {
            self.push_command(start, trim_space(text).len(), kind);
            return Ok(());
        }
        if delimiter_command(text).is_some() && !ended {
            let why = "this DELIMITER follows a statement on its line and no delimiter ends it, so the \
                       mysql client would send it to the server as SQL: put DELIMITER at the start of a line";
            return Err((start, SplitErrorKind::BadDelimiter(why.into())));
        }
        if delimiter_command(text).is_some() {
            // A chunk that is a DELIMITER command runs as one when its delimiter ends it (mysql.cc
            // looks for a command in every chunk it completes). The client adds no line break after
            // the line holding the command, so the next line is glued to it.
            let glued = match text.split_once('\n') {
                Some((first, rest)) => format!("{}{rest}", first.strip_suffix('\r').unwrap_or(first)),
                None => text.to_owned(),
            };
            // The client reads the command from the text it kept: comments already stripped.
            if let Some(delimiter) = delimiter_command(&client_text(&glued)) {
                self.delimiter = delimiter.map_err(|why| (start, SplitErrorKind::BadDelimiter(why)))?;
            }
            return Ok(());
        }
        let chunk = self.chunk;
        self.chunk += 1;
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
            if let Some(rest) = piece.strip_suffix("--") {
                // A `--` that ends a line is a comment (and one before the delimiter is text).
                if self.text.as_bytes()[s + piece.len()..].first().is_none_or(|&c| is_space(c)) {
                    piece = trim_space(rest);
                }
            }
            if let Some(rest) = use_argument(piece) {
                // `/*!*/USE db` is no command for the client, but the server's USE all the same.
                if let Some(kind) = use_database(rest, s)? {
                    self.push_command(s, piece.len(), kind);
                    s = piece_end + 1;
                    continue;
                }
            }
            // A piece that starts with a control character may be nothing but control characters
            // and comments, which the client does not send.
            let sent = !piece.is_empty() && (piece.as_bytes()[0] >= b' ' || !client_text(piece).is_empty());
            if sent {
                let (line, column) = self.position(s);
                let kind = StatementKind::Sql;
                self.pending.push_back(Statement { text: piece, offset: s, line, column, kind, chunk });
                if let Some(mode) = sql_mode_after(piece, self.mode, &mut self.saved_modes) {
                    self.mode = mode;
                }
            }
            s = piece_end + 1;
        }
        Ok(())
    }
}

/// One-letter client commands other than `\g`, `\G`, `\c`, `\N` (mysql.cc `commands[]`): they act on
/// the client, so a script that uses them outside quotes cannot run through the Data API.
const SHORT_COMMANDS: &[u8] = b"?rdeqhntPpR#.s!TuCWw";

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

/// If `line` is a `DELIMITER x` command, the new delimiter (mysql.cc `com_delimiter` + `get_arg`).
fn delimiter_command(line: &str) -> Option<Result<String, String>> {
    let trimmed = line.trim_start_matches([' ', '\t']);
    let word_len = trimmed.find([' ', '\t']).unwrap_or(trimmed.len());
    if !trimmed[..word_len].eq_ignore_ascii_case("delimiter") {
        return None;
    }
    let arg = trimmed[word_len..].trim_start_matches([' ', '\t', '\r']);
    let parsed = match arg.chars().next() {
        None => Err("DELIMITER must be followed by a delimiter character or string".to_owned()),
        Some(q @ ('\'' | '"' | '`')) => match arg[1..].find(q) {
            Some(close) if close > 0 => Ok(arg[1..1 + close].to_owned()),
            _ => Err(format!("the quoted delimiter {arg} is empty or not closed")),
        },
        // Unquoted, the client's argument ends at a space only (a tab stays in it).
        Some(_) => Ok(arg.split([' ', '\r']).next().unwrap_or_default().to_owned()),
    };
    Some(parsed.and_then(|d| checked_delimiter(&d)))
}

/// A delimiter the client can match, or why not.
fn checked_delimiter(d: &str) -> Result<String, String> {
    if d.is_empty() {
        Err("DELIMITER must be followed by a delimiter character or string".to_owned())
    } else if d.contains('\\') {
        Err("DELIMITER cannot contain a backslash".to_owned())
    } else if d.contains('\t') {
        Err(format!(
            "the delimiter {d:?} holds a tab, which the mysql client keeps in it: use a space or nothing"
        ))
    } else if !d.is_ascii() && !d.as_bytes()[0].is_ascii() {
        // The client copies a multibyte character whole before it looks for the delimiter, so a
        // delimiter starting with one never ends a statement.
        Err(format!("the delimiter {d:?} starts with a multibyte character, which the mysql client never matches: use ASCII"))
    } else if d.len() > 15 {
        Err(format!("the delimiter {d:?} is longer than the 15 bytes the mysql client keeps: shorten it"))
    } else {
        Ok(d.to_owned())
    }
}

/// If the chunk is a mysql client command, `Use` or an error; `None` for SQL.
fn client_command(chunk: &str, at: usize) -> Result<Option<StatementKind>, (usize, SplitErrorKind)> {
    if chunk.len() > 4 && chunk.as_bytes()[..4].eq_ignore_ascii_case(b"use`") {
        // No command for the client (no space after USE), but the server's USE all the same.
        return use_database(&chunk[3..], at);
    }
    let word_len = chunk.find(|c: char| c.is_ascii_whitespace() || c == ';').unwrap_or(chunk.len());
    let word = &chunk[..word_len];
    let rest = chunk[word_len..].trim();
    let Some(&(name, takes_args)) = CLIENT_COMMANDS.iter().find(|(n, _)| n.eq_ignore_ascii_case(word)) else {
        return Ok(None);
    };
    if !takes_args && !rest.is_empty() {
        return Ok(None);
    }
    if name != "use" {
        return Err((at, SplitErrorKind::ClientCommand(chunk.trim_end().chars().take(60).collect())));
    }
    use_database(rest, at)
}

/// `Use` for the argument of a USE, or an error when text follows it.
fn use_database(rest: &str, at: usize) -> Result<Option<StatementKind>, (usize, SplitErrorKind)> {
    let (database, after) = client_argument(rest);
    if database.is_empty() {
        // The client complains and sends nothing.
        return Err((at, SplitErrorKind::ClientCommand(format!("USE {rest}").trim_end().to_owned())));
    }
    let after = strip_comments(after);
    if !after.is_empty() {
        return Err((at, SplitErrorKind::TextAfterUse(after.chars().take(40).collect())));
    }
    Ok(Some(StatementKind::Use { database }))
}

/// The client's first-argument rule (`get_arg`): quoted with ' " or ` (a doubled quote stands for
/// one), or up to white space; a backslash takes the next character as it is.
fn client_argument(rest: &str) -> (String, &str) {
    let quote = rest.chars().next().filter(|c| matches!(c, '\'' | '"' | '`'));
    let body = if quote.is_some() { &rest[1..] } else { rest };
    let mut out = String::new();
    let mut chars = body.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match (c, quote) {
            ('\\', _) if chars.peek().is_some() => out.extend(chars.next().map(|(_, c)| c)),
            (c, Some(q)) if c == q => {
                if chars.peek().is_some_and(|(_, n)| *n == q) {
                    chars.next();
                    out.push(q);
                } else {
                    return (out, &body[i + 1..]);
                }
            }
            (c, None) if c.is_ascii_whitespace() => return (out, &body[i..]),
            (c, _) => out.push(c),
        }
    }
    if quote.is_some() {
        return (String::new(), "");
    }
    (out, "")
}

/// `text` without `#`, `-- ` and `/* */` comments at its start, trimmed.
fn strip_comments(mut text: &str) -> &str {
    loop {
        text = text.trim_start();
        if text.starts_with('#') || text.starts_with("-- ") || text == "--" {
            text = text.find('\n').map_or("", |i| &text[i..]);
        } else if text.starts_with("/*") && !text.starts_with("/*!") && !text.starts_with("/*M!") {
            text = text.find("*/").map_or("", |i| &text[i + 2..]);
        } else {
            return text;
        }
    }
}

/// A piece's text: trailing white space and a trailing `;` removed.
fn trim_statement(piece: &str) -> &str {
    let t = trim_space(piece);
    t.strip_suffix(';').map_or(t, trim_space)
}

/// Without trailing ASCII white space (a statement's text keeps control characters, which decide
/// whether a `--` before them starts a comment; [`client_text`] removes them).
fn trim_space(text: &str) -> &str {
    text.trim_end_matches(|c: char| c.is_ascii() && is_space(c as u8))
}

/// Without the trailing white space and control characters (a Ctrl-Z at the end of a DOS file) that
/// the client removes before it sends a chunk (mysql.cc `remove_cntrl`).
fn trim_sent(text: &str) -> &str {
    text.trim_end_matches(|c: char| c <= ' ' || c == '\x7f')
}

/// A statement's text as the mysql client sends it by default (`--skip-comments`): `--`, `#` and
/// `/* */` comments removed (a removed `/* */` leaves one space where words would otherwise join),
/// line breaks kept, `/*! */` and `/*M! */` version comments kept. So routine and trigger bodies are
/// stored exactly as the client would store them.
pub fn client_text(text: &str) -> std::borrow::Cow<'_, str> {
    let stripped = strip_comments_as_sent(text);
    // The client reads its input line by line and drops the CR of every CRLF line end, inside
    // strings and routine bodies too: a CRLF checkout must send what its LF twin sends.
    if !stripped.contains('\r') {
        return stripped;
    }
    std::borrow::Cow::Owned(stripped.replace("\r\n", "\n"))
}

fn strip_comments_as_sent(text: &str) -> std::borrow::Cow<'_, str> {
    let bytes = text.as_bytes();
    let mut out = String::new();
    let mut copied = 0;
    let mut changed = false;
    // After a `/* */` comment the client puts one space before the next character unless that is
    // white space (so `SELECT/* x */1` stays two words).
    let mut need_space = false;
    let flush = |out: &mut String, from: usize, to: usize, need_space: &mut bool| {
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
                let end = quoted_end(bytes, p).unwrap_or(bytes.len());
                // A backslash at the end of a line inside a string: the client drops it too.
                let mut i = p + 1;
                while bytes[p] != b'`' && i < end {
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
            // (mysql.cc `is_delimiter_command` on every line), even inside a statement.
            b'\n' if starts_like_delimiter(&bytes[text[..p].rfind('\n').map_or(0, |i| i + 1)..p]) => {
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
                } else {
                    // An escape outside quotes (`\N`, an unknown command): both characters are text.
                    p += 1 + text[p + 1..].chars().next().map_or(0, char::len_utf8);
                }
            }
            // A statement's text never ends with a `--` comment (the splitter leaves it out), so
            // one there was followed by the delimiter: text for the client.
            b'-' if p + 2 == bytes.len() => p += 2,
            _ => match comment_end(bytes, p) {
                Some(end) => {
                    flush(&mut out, copied, p, &mut need_space);
                    changed = true;
                    need_space = bytes[p] == b'/';
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
/// characters after it)?
fn starts_like_delimiter(line: &[u8]) -> bool {
    line.len() >= 9 && line[..9].eq_ignore_ascii_case(b"delimiter")
}

fn memrchr_newline(bytes: &[u8]) -> Option<usize> {
    bytes.iter().rposition(|&b| b == b'\n')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(sql: &str) -> Vec<String> {
        split(sql).map(|s| s.expect("splits").text.to_owned()).collect()
    }

    fn err(sql: &str) -> SplitError {
        split(sql).find_map(Result::err).expect("an error")
    }

    #[test]
    fn splits_like_the_mysql_client() {
        let cases: &[(&str, &[&str])] = &[
            ("SELECT 1; SELECT 2;", &["SELECT 1", "SELECT 2"]),
            ("SELECT 1;\nSELECT 2", &["SELECT 1", "SELECT 2"]),
            ("  \n\n", &[]),
            (";;;", &[]),
            ("SELECT ';' ; SELECT \"a;b\"", &["SELECT ';'", "SELECT \"a;b\""]),
            ("SELECT 'it\\'s;' ; SELECT 2", &["SELECT 'it\\'s;'", "SELECT 2"]),
            ("SELECT 'it''s;'; SELECT 2", &["SELECT 'it''s;'", "SELECT 2"]),
            ("SELECT `a;``b`; SELECT 2", &["SELECT `a;``b`", "SELECT 2"]),
            ("SELECT `a\\`; SELECT 2", &["SELECT `a\\`", "SELECT 2"]),
            ("-- c;\nSELECT 1; # c;\nSELECT 2", &["SELECT 1", "SELECT 2"]),
            ("SELECT 1 --x;\n;", &["SELECT 1 --x"]),
            ("SELECT 1 -- x;\n, 2;", &["SELECT 1 -- x;\n, 2"]),
            ("SELECT 1 --\u{3000}x; SELECT 2", &["SELECT 1 --\u{3000}x", "SELECT 2"]),
            ("SELECT 1 --\t;\n;", &["SELECT 1 --\t;"]),
            ("/* a; */ SELECT /* ; */ 1;", &["SELECT /* ; */ 1"]),
            ("/*!40101 SET NAMES utf8 */;", &["/*!40101 SET NAMES utf8 */"]),
            ("/*M!100101 SET x=1 */;\n", &["/*M!100101 SET x=1 */"]),
            ("/*!50003 SET a=1; SET b=2 */;", &["/*!50003 SET a=1", "SET b=2 */"]),
            ("SELECT 1\r\n;\r\nSELECT 2;\r\n", &["SELECT 1", "SELECT 2"]),
            ("SELECT 1\\g SELECT 2", &["SELECT 1", "SELECT 2"]),
            ("SELECT \\N;", &["SELECT \\N"]),
        ];
        for (sql, want) in cases {
            assert_eq!(texts(sql), *want, "input: {sql:?}");
        }
    }

    #[test]
    fn delimiter_changes_like_the_mysql_client() {
        let cases: &[(&str, &[&str])] = &[
            (
                "DELIMITER $$\nCREATE PROCEDURE p() BEGIN SELECT 1; END$$\nDELIMITER ;\nSELECT 2;",
                &["CREATE PROCEDURE p() BEGIN SELECT 1; END", "SELECT 2"],
            ),
            (
                "delimiter //\nCREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW BEGIN SET @a=1; END //\ndelimiter ;",
                &["CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW BEGIN SET @a=1; END"],
            ),
            ("DELIMITER ;;\nSELECT 1;;\nSELECT 2 ;;\n", &["SELECT 1", "SELECT 2"]),
            ("  DeLiMiTeR   \"x💩\"\nSELECT 'x💩' x💩SELECT 2", &["SELECT 'x💩'", "SELECT 2"]),
            ("DELIMITER $$ -- cool\nSELECT 1$$", &["SELECT 1"]),
            ("DELIMITER $$\r\nSELECT 1$$\r\n", &["SELECT 1"]),
            // Not at a line start, or with a statement pending: SQL, not a command.
            ("SELECT 1\nDELIMITER $$\n;", &["SELECT 1\nDELIMITER $$"]),
            // A chunk that is a DELIMITER command runs when the delimiter ends it, glued to the next
            // line as the client glues it.
            ("/* x */ DELIMITER $$\n;SELECT 1$$", &["SELECT 1"]),
            ("SELECT 1; delimiter $$\n SELECT 2;SELECT 3$$", &["SELECT 1", "SELECT 3"]),
            ("SELECT 1; delimiter //\nSELECT 2;SELECT 3//", &["SELECT 1", "SELECT 3//"]),
        ];
        for (sql, want) in cases {
            assert_eq!(texts(sql), *want, "input: {sql:?}");
        }
    }

    #[test]
    fn a_custom_delimiter_chunk_is_cut_into_data_api_statements() {
        let sql = "DELIMITER $$\nDROP PROCEDURE IF EXISTS p; CREATE PROCEDURE p()\nBEGIN\n  SELECT 1; SELECT 2;\nEND$$\nSELECT 1; SELECT 2$$\n";
        let statements: Vec<_> = split(sql).map(Result::unwrap).collect();
        let got: Vec<_> = statements.iter().map(|s| (s.text, s.chunk, s.line)).collect();
        assert_eq!(
            got,
            [
                ("DROP PROCEDURE IF EXISTS p", 0, 2),
                ("CREATE PROCEDURE p()\nBEGIN\n  SELECT 1; SELECT 2;\nEND", 0, 2),
                ("SELECT 1", 1, 6),
                ("SELECT 2", 1, 6)
            ]
        );
    }

    #[test]
    fn compound_statements_are_recognised_through_definers_and_version_comments() {
        for sql in [
            "CREATE PROCEDURE p() BEGIN END",
            "create definer=`root`@`%` procedure p() begin end",
            "CREATE OR REPLACE DEFINER = CURRENT_USER() FUNCTION f() RETURNS int RETURN 1",
            "/*!50003 CREATE*/ /*!50017 DEFINER=`root`@`localhost`*/ /*!50003 TRIGGER t BEFORE INSERT ON x FOR EACH ROW BEGIN END */",
            "CREATE EVENT e ON SCHEDULE EVERY 1 DAY DO BEGIN END",
            "BEGIN NOT ATOMIC SELECT 1; END",
            "lbl: BEGIN SELECT 1; END",
        ] {
            assert!(starts_compound(sql), "{sql}");
        }
        for sql in [
            "CREATE TABLE event (id int)",
            "BEGIN",
            "BEGIN WORK",
            "CREATE TABLE `trigger` (a int)",
            "SELECT 1",
        ] {
            assert!(!starts_compound(sql), "{sql}");
        }
    }

    #[test]
    fn positions_are_lines_and_character_columns() {
        let sql = "-- head\n  SELECT 'é';  SELECT 2;\n\n\tSELECT\n3";
        let got: Vec<_> =
            split(sql).map(|s| s.map(|s| (s.line, s.column, s.offset))).collect::<Result<_, _>>().unwrap();
        assert_eq!(got, [(2, 3, 10), (2, 16, 24), (4, 2, 36)]);
    }

    #[test]
    fn use_is_a_client_command() {
        let statements: Vec<_> = split("USE sakila;\nuse `odd db` ;\nSELECT 1").map(Result::unwrap).collect();
        assert_eq!(statements[0].kind, StatementKind::Use { database: "sakila".into() });
        assert_eq!(statements[1].kind, StatementKind::Use { database: "odd db".into() });
        assert_eq!(statements[2].kind, StatementKind::Sql);
        // A column named `user` or a `USER()` call is SQL, not a command.
        assert_eq!(split("user_table").next().unwrap().unwrap().kind, StatementKind::Sql);
    }

    #[test]
    fn errors_point_at_where_the_construct_starts() {
        let cases: &[(&str, usize, usize, &str)] = &[
            ("SELECT 1;\nSELECT 'abc;\n", 2, 8, "unterminated string"),
            ("SELECT \"abc", 1, 8, "unterminated string"),
            ("SELECT `abc", 1, 8, "unterminated quoted identifier"),
            ("SELECT 1; /* x\n\n", 1, 11, "unterminated /* comment"),
            ("SELECT /* x", 1, 8, "unterminated /* comment"),
            ("SELECT /*!40101 x", 1, 8, "unterminated /*! version"),
            ("DELIMITER\nSELECT 1", 1, 1, "bad DELIMITER"),
            ("DELIMITER \\\\\n", 1, 1, "backslash"),
            ("SELECT 1;\n  source load.dump ;\n", 2, 3, "`source load.dump` is a mysql client command"),
            ("/* hello */ USE product # c\nCREATE TABLE t (a int);", 1, 13, "USE` is followed by `CREATE"),
            ("SELECT 1 \\q", 1, 10, "`\\q` is a mysql client command"),
        ];
        for (sql, line, column, message) in cases {
            let e = err(sql);
            assert_eq!((e.line, e.column), (*line, *column), "input {sql:?}: {e}");
            assert!(e.to_string().contains(message), "input {sql:?}: {e}");
        }
    }

    #[test]
    fn client_text_drops_comments_like_the_mysql_client() {
        let cases = [
            ("SELECT 1", "SELECT 1"),
            ("SELECT 1 -- one\n, 2 # two\n", "SELECT 1 \n, 2"),
            ("SELECT/* x */1", "SELECT 1"),
            ("SELECT /* x */ 1", "SELECT  1"),
            ("SELECT '-- no', \"# no\", `/* no */`", "SELECT '-- no', \"# no\", `/* no */`"),
            ("SELECT /*!40101 1 */ /*M!100101 2 */", "SELECT /*!40101 1 */ /*M!100101 2 */"),
            ("BEGIN\n  -- Complex logic\n  SET x = 1;\nEND", "BEGIN\n  \n  SET x = 1;\nEND"),
            ("SELECT 1 --x", "SELECT 1 --x"),
        ];
        for (text, sent) in cases {
            assert_eq!(client_text(text), sent, "{text:?}");
        }
    }

    #[test]
    fn goose_statement_blocks_are_one_statement() {
        let sql = "SELECT 1;\n-- +goose StatementBegin\nCREATE PROCEDURE p() BEGIN SELECT 1; END;\n-- +goose StatementEnd\nSELECT 2;";
        assert_eq!(texts(sql), ["SELECT 1", "CREATE PROCEDURE p() BEGIN SELECT 1; END", "SELECT 2"]);
        assert!(err("-- +goose StatementBegin\nSELECT 1;").to_string().contains("never closed"));
    }

    #[test]
    fn a_use_line_without_delimiter_runs_at_once() {
        let statements: Vec<_> = split("USE shop\nSELECT 1;").map(Result::unwrap).collect();
        assert_eq!(statements.len(), 2);
        assert_eq!(statements[0].kind, StatementKind::Use { database: "shop".into() });
        assert_eq!(statements[1].text, "SELECT 1");
    }

    #[test]
    fn the_last_statement_needs_no_delimiter_or_newline() {
        assert_eq!(texts("SELECT 1;\nSELECT 2"), ["SELECT 1", "SELECT 2"]);
        assert_eq!(texts("DELIMITER $$\nSELECT 1$$\nSELECT 2"), ["SELECT 1", "SELECT 2"]);
    }

    #[test]
    fn a_range_keeps_file_positions() {
        let text = "-- up\nSELECT 1;\n-- down\nSELECT 2;\n";
        let end = text.find("-- down").unwrap();
        let statements: Vec<_> = split_range(text, 6..end).map(Result::unwrap).collect();
        assert_eq!(statements.len(), 1);
        assert_eq!((statements[0].text, statements[0].line, statements[0].offset), ("SELECT 1", 2, 6));
    }

    #[test]
    fn at_the_start_of_a_statement_the_client_reads_dashes_without_a_space_as_a_comment() {
        assert_eq!(texts("SELECT 1;\n--note; see below\nSELECT 2;\n"), ["SELECT 1", "SELECT 2"]);
        assert_eq!(texts("SELECT 1; --note;\n  --x\n/* c */--y\nSELECT 2"), ["SELECT 1", "SELECT 2"]);
        // Inside a statement `--x` is text, as the client keeps it.
        assert_eq!(texts("SELECT 1\n--x\n;"), ["SELECT 1\n--x"]);
        // `--` before white space or a line end is a comment, before the delimiter it is text.
        let sent =
            |sql: &str| split(sql).map(|s| client_text(s.unwrap().text).into_owned()).collect::<Vec<_>>();
        assert_eq!(sent("SELECT 1 --\t\n;"), ["SELECT 1"]);
        assert_eq!(sent("SELECT 1 --;"), ["SELECT 1 --"]);
    }

    #[test]
    fn the_client_drops_the_cr_of_every_crlf_it_sends() {
        let sql = "INSERT INTO t VALUES ('line one\r\nline two');\r\nSELECT `a\r\nb`;\r\n";
        let sent: Vec<_> = split(sql).map(|s| client_text(s.unwrap().text).into_owned()).collect();
        assert_eq!(sent, ["INSERT INTO t VALUES ('line one\nline two')", "SELECT `a\nb`"]);
    }

    #[test]
    fn the_client_runs_a_delimiter_command_that_a_delimiter_ends_anywhere_on_a_line() {
        assert_eq!(texts("/* c */ DELIMITER $$;\nSELECT 1; SELECT 2$$"), ["SELECT 1", "SELECT 2"]);
        assert_eq!(texts("SELECT 0; DELIMITER $$;\nSELECT 1$$"), ["SELECT 0", "SELECT 1"]);
        // Not ended by a delimiter, the client would send it to the server as SQL: refused.
        assert!(err("SELECT 1; DELIMITER $$\nSELECT 2$$").to_string().contains("DELIMITER"));
    }

    #[test]
    fn the_server_ends_a_routine_at_its_last_end_inside_a_custom_delimiter_chunk() {
        let sql = "DELIMITER $$\nCREATE PROCEDURE p() BEGIN SELECT 1; END; SELECT 2$$\n\
                   CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW SET @a = 1; SELECT 3$$\n\
                   BEGIN NOT ATOMIC SELECT 4; END; SELECT 5$$\n\
                   SELECT begin FROM (SELECT 1 AS `begin`) t WHERE ':' = ':'; SELECT 6$$";
        assert_eq!(
            texts(sql),
            [
                "CREATE PROCEDURE p() BEGIN SELECT 1; END",
                "SELECT 2",
                "CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW SET @a = 1",
                "SELECT 3",
                "BEGIN NOT ATOMIC SELECT 4; END",
                "SELECT 5",
                "SELECT begin FROM (SELECT 1 AS `begin`) t WHERE ':' = ':'",
                "SELECT 6",
            ]
        );
    }

    #[test]
    fn the_server_skips_a_version_comment_for_a_newer_server_whole() {
        assert_eq!(
            texts("DELIMITER $$\nSELECT 1 /*!99999 ; SELECT 2 */$$"),
            ["SELECT 1 /*!99999 ; SELECT 2 */"]
        );
    }

    #[test]
    fn the_client_follows_the_scripts_own_sql_mode_for_backslashes() {
        assert_eq!(
            texts("SET sql_mode='NO_BACKSLASH_ESCAPES'; SELECT 'a\\'; SELECT 2;"),
            ["SET sql_mode='NO_BACKSLASH_ESCAPES'", "SELECT 'a\\'", "SELECT 2"]
        );
        assert_eq!(
            texts("SET sql_mode='ANSI_QUOTES'; SELECT \"a\\\"; SELECT 'b\\';'; SET sql_mode=''; SELECT 'c\\';';"),
            ["SET sql_mode='ANSI_QUOTES'", "SELECT \"a\\\"", "SELECT 'b\\';'", "SET sql_mode=''", "SELECT 'c\\';'"]
        );
    }

    #[test]
    fn the_client_knows_the_short_forms_of_use_delimiter_and_clear() {
        let statements: Vec<_> = split("\\u shop\n\\d $$\nSELECT 1; SELECT 2$$\nSELECT 3 \\c SELECT 4$$")
            .map(Result::unwrap)
            .collect();
        assert_eq!(statements[0].kind, StatementKind::Use { database: "shop".into() });
        let texts: Vec<_> = statements[1..].iter().map(|s| s.text).collect();
        assert_eq!(texts, ["SELECT 1", "SELECT 2", "SELECT 4"]);
        assert!(err("SELECT 1 \\u db;").to_string().contains("`\\u` is a mysql client command"));
    }

    #[test]
    fn the_client_strips_trailing_control_characters_and_a_backslash_ending_a_line() {
        assert_eq!(texts("SELECT 1;\n\x1a"), ["SELECT 1"]);
        let sent: Vec<_> = split("SELECT 1 \\\n+ 1;\nSELECT 2\x1a")
            .map(|s| client_text(s.unwrap().text).into_owned())
            .collect();
        assert_eq!(sent, ["SELECT 1 \n+ 1", "SELECT 2"]);
        // Nor after a line that starts like a DELIMITER command, even inside a statement.
        let sent: Vec<_> = split("SELECT 1,\ndelimiter_col\r\nFROM t;\nSELECT 'a\ndelimiter'\n;")
            .map(|s| client_text(s.unwrap().text).into_owned())
            .collect();
        assert_eq!(sent, ["SELECT 1,\ndelimiter_colFROM t", "SELECT 'a\ndelimiter'"]);
        // An unknown one-letter command stays in the text with its character, even a delimiter.
        assert_eq!(texts("SELECT 1 \\; SELECT 2;"), ["SELECT 1 \\; SELECT 2"]);
    }

    #[test]
    fn delimiters_the_client_cannot_match_are_refused() {
        assert!(err("DELIMITER 💩\n").to_string().contains("multibyte"));
        assert!(err("DELIMITER 0123456789abcdef\n").to_string().contains("15 bytes"));
    }

    #[test]
    fn use_reads_its_argument_as_the_client_does() {
        let kinds: Vec<_> = split("USE `fz``q`;\nuse shop\\g\nUSE`x`;").map(|s| s.unwrap().kind).collect();
        assert_eq!(
            kinds,
            [
                StatementKind::Use { database: "fz`q".into() },
                StatementKind::Use { database: "shop".into() },
                StatementKind::Use { database: "x".into() },
            ]
        );
    }
}
