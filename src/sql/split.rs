//! SQL script text -> statements, exactly as the `mysql`/`mariadb` command-line client cuts them.
//!
//! The RDS Data API runs one statement per call, so scripts written for the mysql client must be cut
//! here the way that client cuts them: a statement ends at the current delimiter found outside quotes
//! and comments; `DELIMITER xx` at the start of a line (when no statement is pending) changes the
//! delimiter; `--` (followed by ASCII white space), `#` and `/* */` comments are skipped; `/*! */` and
//! `/*M! */` version comments are statement text (the server decides), and a delimiter inside them
//! still ends the statement, as in the client. `USE db` is a client command: it becomes a
//! [`StatementKind::Use`] for the runner to turn into the Data API `database` field.
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
//! runs as a multi-statement. The Data API refuses those, so such a chunk is cut at its top-level `;`
//! until a compound statement (routine, trigger, event, `BEGIN ... END` block) starts, which runs to
//! the end of the chunk. [`Statement::chunk`] keeps the client's packet numbering.
//!
//! Positions are 1-based; columns count characters, as sqlparser's do.

use std::fmt;

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
}

/// What the in-statement scan found.
enum ChunkEnd {
    /// Statement text ends at `end`; scanning resumes at `resume`.
    At { end: usize, resume: usize },
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

fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

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
                    let delimiter = delimiter.map_err(|why| (p, SplitErrorKind::BadDelimiter(why)))?;
                    self.delimiter = delimiter;
                    p = next;
                    continue;
                }
                if line.trim() == GOOSE_BEGIN {
                    p = self.goose_block(p, next)?;
                    continue;
                }
                // A client command alone on its line (no delimiter) runs at once, as in the client.
                let head = line.trim_start_matches([' ', '\t']);
                if !line.contains(self.delimiter.as_str()) && !head.starts_with(['#', '-', '/']) {
                    if let Some(kind) = client_command(head, p + (line.len() - head.len()))? {
                        let at = p + (line.len() - head.len());
                        let (l, column) = self.position(at);
                        let text = &self.text[at..at + head.trim_end().len()];
                        let chunk = self.chunk;
                        self.chunk += 1;
                        self.pending.push_back(Statement { text, offset: at, line: l, column, kind, chunk });
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
            } else if let Some(after) = self.comment_end(p)? {
                p = after;
            } else {
                self.pos = p;
                return Ok(Some(p));
            }
        }
        self.pos = p;
        Ok(None)
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
                    let (l, column) = self.position(start);
                    let chunk = self.chunk;
                    self.chunk += 1;
                    let kind = StatementKind::Sql;
                    self.pending.push_back(Statement { text, offset: start, line: l, column, kind, chunk });
                }
                return Ok(next);
            }
            p = next;
        }
        Err((marker, SplitErrorKind::UnclosedGooseBlock))
    }

    /// If a comment that the client strips starts at `p`, the offset just after it.
    fn comment_end(&self, p: usize) -> Result<Option<usize>, (usize, SplitErrorKind)> {
        let rest = &self.text.as_bytes()[p..self.end];
        if rest[0] == b'#' || (rest.starts_with(b"--") && rest.get(2).is_none_or(|&c| is_space(c))) {
            let len = rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len());
            return Ok(Some(p + len));
        }
        if rest.starts_with(b"/*") && !rest[2..].starts_with(b"!") && !rest[2..].starts_with(b"M!") {
            return match find(&rest[2..], b"*/") {
                Some(i) => Ok(Some(p + 2 + i + 2)),
                None => Err((p, SplitErrorKind::UnterminatedComment)),
            };
        }
        Ok(None)
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
            if bytes[p..self.end].starts_with(delimiter) {
                return Ok(ChunkEnd::At { end: p, resume: p + delimiter.len() });
            }
            if b == b'\\' {
                // Outside quotes a backslash starts a one-letter client command; \g and \G send.
                match bytes.get(p + 1) {
                    Some(b'g' | b'G') => return Ok(ChunkEnd::At { end: p, resume: p + 2 }),
                    // \N is NULL; \- is mariadb-dump's "sandbox mode" line (no file access, which
                    // is always so here): both are left in the text, where the server skips them.
                    Some(b'N' | b'-') => p += 2,
                    _ => {
                        let cmd: String = self.text[p..].chars().take(2).collect();
                        return Err((p, SplitErrorKind::ClientCommand(cmd)));
                    }
                }
                continue;
            }
            if let Some(after) = self.comment_end(p)? {
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
        quoted_end(bytes, p).ok_or((p, SplitErrorKind::UnterminatedString(bytes[p] as char)))
    }

    /// Turns one client chunk into statements (pushed to `pending`).
    fn emit_chunk(&mut self, start: usize, end: usize) -> Result<(), (usize, SplitErrorKind)> {
        let chunk = self.chunk;
        self.chunk += 1;
        let text = &self.text[start..end];
        if let Some(kind) = client_command(text, start)? {
            let (line, column) = self.position(start);
            let text = text.trim_end();
            self.pending.push_back(Statement { text, offset: start, line, column, kind, chunk });
            return Ok(());
        }
        let pieces = if self.delimiter == ";" { vec![(start, end)] } else { self.pieces(start, end) };
        for (s, e) in pieces {
            let piece = if self.delimiter == ";" {
                self.text[s..e].trim_end()
            } else {
                trim_statement(&self.text[s..e])
            };
            if piece.is_empty() {
                continue;
            }
            let (line, column) = self.position(s);
            self.pending.push_back(Statement {
                text: piece,
                offset: s,
                line,
                column,
                kind: StatementKind::Sql,
                chunk,
            });
        }
        Ok(())
    }

    /// Cuts a chunk at top-level `;` until a compound statement starts (see the module doc).
    fn pieces(&self, start: usize, end: usize) -> Vec<(usize, usize)> {
        let bytes = self.text.as_bytes();
        let mut pieces = Vec::new();
        let mut s = start;
        loop {
            // Skip white space and comments before the piece.
            while s < end {
                if is_space(bytes[s]) {
                    s += 1;
                } else if let Ok(Some(after)) = self.comment_end(s) {
                    s = after.min(end);
                } else {
                    break;
                }
            }
            if s >= end {
                return pieces;
            }
            if starts_compound(&self.text[s..end]) {
                pieces.push((s, end));
                return pieces;
            }
            match self.top_level_semicolon(s, end) {
                Some(semi) => {
                    pieces.push((s, semi));
                    s = semi + 1;
                }
                None => {
                    pieces.push((s, end));
                    return pieces;
                }
            }
        }
    }

    /// The first `;` in `[s, end)` outside quotes and comments.
    fn top_level_semicolon(&self, mut p: usize, end: usize) -> Option<usize> {
        let bytes = self.text.as_bytes();
        while p < end {
            match bytes[p] {
                b'\'' | b'"' | b'`' => p = self.string_end(p).ok()?,
                b';' => return Some(p),
                _ => match self.comment_end(p) {
                    Ok(Some(after)) => p = after,
                    _ => p += 1,
                },
            }
        }
        None
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
            let ChunkEnd::At { end, resume } = match self.scan_chunk(start) {
                Ok(found) => found,
                Err((at, kind)) => return self.error(at, kind),
            };
            if let Err((at, kind)) = self.emit_chunk(start, end) {
                return self.error(at, kind);
            }
            self.pos = resume;
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
        Some(_) => Ok(arg.split([' ', '\t', '\r']).next().unwrap_or_default().to_owned()),
    };
    Some(parsed.and_then(|d| {
        if d.contains('\\') {
            Err("DELIMITER cannot contain a backslash".to_owned())
        } else {
            Ok(d)
        }
    }))
}

/// If the chunk is a mysql client command, `Use` or an error; `None` for SQL.
fn client_command(chunk: &str, at: usize) -> Result<Option<StatementKind>, (usize, SplitErrorKind)> {
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
    let (database, after) = client_argument(rest);
    if database.is_empty() {
        return Ok(None);
    }
    let after = strip_comments(after);
    if !after.is_empty() {
        return Err((at, SplitErrorKind::TextAfterUse(after.chars().take(40).collect())));
    }
    Ok(Some(StatementKind::Use { database }))
}

/// The client's first-argument rule (`get_arg`): quoted with ' " or `, or up to white space.
fn client_argument(rest: &str) -> (String, &str) {
    match rest.chars().next() {
        Some(q @ ('\'' | '"' | '`')) => match rest[1..].find(q) {
            Some(close) => (rest[1..1 + close].to_owned(), &rest[2 + close..]),
            None => (String::new(), ""),
        },
        _ => {
            let len = rest.find(|c: char| c.is_ascii_whitespace()).unwrap_or(rest.len());
            (rest[..len].to_owned(), &rest[len..])
        }
    }
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

/// A piece's text as sent: trailing white space and a trailing `;` removed.
fn trim_statement(piece: &str) -> &str {
    let t = piece.trim_end();
    t.strip_suffix(';').map_or(t, str::trim_end)
}

/// Words of a statement's head, skipping quoted parts, comments and version-comment markers.
pub(crate) fn head_words(text: &str, max: usize) -> Vec<String> {
    let bytes = text.as_bytes();
    let mut words = Vec::new();
    let mut p = 0;
    while p < bytes.len() && words.len() < max {
        let b = bytes[p];
        if b.is_ascii_alphabetic() || b == b'_' {
            let len = bytes[p..]
                .iter()
                .position(|c| !(c.is_ascii_alphanumeric() || *c == b'_' || *c == b'$'))
                .unwrap_or(bytes.len() - p);
            words.push(text[p..p + len].to_ascii_uppercase());
            p += len;
        } else if b == b'\'' || b == b'"' || b == b'`' {
            let close = bytes[p + 1..].iter().position(|&c| c == b).map_or(bytes.len(), |i| p + 2 + i);
            p = close;
        } else if bytes[p..].starts_with(b"/*!") || bytes[p..].starts_with(b"/*M!") {
            p += 3;
            while p < bytes.len() && (bytes[p].is_ascii_digit() || bytes[p] == b'!') {
                p += 1;
            }
        } else if bytes[p..].starts_with(b"/*") {
            p = find(&bytes[p + 2..], b"*/").map_or(bytes.len(), |i| p + 2 + i + 2);
        } else if b == b'#' || bytes[p..].starts_with(b"-- ") {
            p = bytes[p..].iter().position(|&c| c == b'\n').map_or(bytes.len(), |i| p + i);
        } else if b == b';' {
            break;
        } else {
            p += 1;
        }
    }
    words
}

/// Does this statement hold a compound body (`BEGIN ... END` with inner `;`)?
pub(crate) fn starts_compound(text: &str) -> bool {
    let words = head_words(text, 12);
    let Some(first) = words.first() else { return false };
    match first.as_str() {
        "CREATE" => {
            for word in &words[1..] {
                match word.as_str() {
                    "PROCEDURE" | "FUNCTION" | "TRIGGER" | "EVENT" => return true,
                    "TABLE" | "VIEW" | "INDEX" | "UNIQUE" | "FULLTEXT" | "SPATIAL" | "DATABASE"
                    | "SCHEMA" | "USER" | "ROLE" | "SEQUENCE" | "SERVER" | "TABLESPACE" | "TEMPORARY"
                    | "PACKAGE" => return false,
                    _ => {}
                }
            }
            false
        }
        "ALTER" => words.get(1).is_some_and(|w| w == "EVENT"),
        "BEGIN" => !matches!(words.get(1).map(String::as_str), None | Some("WORK")),
        "IF" | "CASE" | "LOOP" | "WHILE" | "REPEAT" | "FOR" | "DECLARE" => true,
        _ => words.get(1).is_some_and(|w| w == "BEGIN") && text.contains(':'),
    }
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
    let mut p = 0;
    while p < bytes.len() {
        match bytes[p] {
            b'\'' | b'"' | b'`' => p = quoted_end(bytes, p).unwrap_or(bytes.len()),
            b'/' if bytes[p..].starts_with(b"/*!") || bytes[p..].starts_with(b"/*M!") => p += 3,
            _ => match comment_end(bytes, p) {
                Some(end) => {
                    out.push_str(&text[copied..p]);
                    changed = true;
                    let block = bytes[p] == b'/';
                    let end = if block { end } else { end.min(bytes.len()) };
                    if block
                        && bytes.get(end).is_some_and(|c| !is_space(*c))
                        && !out.ends_with(|c: char| c.is_ascii_whitespace())
                    {
                        out.push(' ');
                    }
                    copied = end;
                    p = end;
                }
                None => p += 1,
            },
        }
    }
    if !changed {
        return std::borrow::Cow::Borrowed(text);
    }
    out.push_str(&text[copied..]);
    let trimmed = out.trim_end().len();
    out.truncate(trimmed);
    std::borrow::Cow::Owned(out)
}

/// The offset just after the quoted string or identifier opening at `bytes[p]` (`'`, `"` or a
/// backtick): backslash escapes in strings, none in backticks, doubled quotes read as two strings.
pub(crate) fn quoted_end(bytes: &[u8], p: usize) -> Option<usize> {
    let quote = bytes[p];
    let mut i = p + 1;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\\' && quote != b'`' {
            i += 2;
        } else if b == quote {
            return Some(i + 1);
        } else {
            i += 1;
        }
    }
    None
}

/// If a comment that the server skips (`#`, `-- `, `/* */` but not `/*!`) starts at `bytes[p]`, the
/// offset after it (the end of `bytes` for an unterminated one).
pub(crate) fn comment_end(bytes: &[u8], p: usize) -> Option<usize> {
    let rest = &bytes[p..];
    if rest.first() == Some(&b'#') || (rest.starts_with(b"--") && rest.get(2).is_none_or(|&c| is_space(c))) {
        return Some(p + rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len()));
    }
    if rest.starts_with(b"/*") && !rest[2..].starts_with(b"!") && !rest[2..].starts_with(b"M!") {
        return Some(find(&rest[2..], b"*/").map_or(bytes.len(), |i| p + 2 + i + 2));
    }
    None
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
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
            ("  DeLiMiTeR   \"💩💩\"\nSELECT '💩💩' 💩💩SELECT 2", &["SELECT '💩💩'", "SELECT 2"]),
            ("DELIMITER $$ -- cool\nSELECT 1$$", &["SELECT 1"]),
            ("DELIMITER $$\r\nSELECT 1$$\r\n", &["SELECT 1"]),
            // Not at a line start, or with a statement pending: SQL, not a command.
            ("SELECT 1\nDELIMITER $$\n;", &["SELECT 1\nDELIMITER $$"]),
            // A comment before DELIMITER on its line hides the command, as in the client.
            ("/* x */ DELIMITER $$\n;", &["DELIMITER $$"]),
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
}
