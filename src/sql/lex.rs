//! The crate's one lexer: where a quoted string or identifier ends, where a comment ends, the words
//! at the head of a statement, whether a statement is compound (a routine, trigger, event or block
//! with inner `;`) and where it ends inside a multi-statement chunk, and what a `SET sql_mode`
//! does to how text is read. The splitter, the checker, the call builder and the runner all read SQL
//! text through these functions, so they agree on what is a string and what is a comment.
//!
//! Two settings of the session change how text is read, and scripts change them themselves
//! (mysqldump files do): under `NO_BACKSLASH_ESCAPES` a backslash escapes nothing, and under
//! `ANSI_QUOTES` it escapes nothing inside double quotes. The mysql client follows them through the
//! server's status flags; [`SqlMode`] carries them here.

/// The parts of the session's `sql_mode` that change where strings end.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SqlMode {
    /// `NO_BACKSLASH_ESCAPES`: a backslash is an ordinary character everywhere.
    pub no_backslash_escapes: bool,
    /// `ANSI_QUOTES` (also implied by `ANSI`, `ORACLE`, ...): `"` quotes identifiers, with no escapes.
    pub ansi_quotes: bool,
}

impl SqlMode {
    /// The mode a comma-separated `sql_mode` list gives.
    pub fn from_list(list: &str) -> SqlMode {
        let mut mode = SqlMode::default();
        for name in list.split(',') {
            match name.trim().to_ascii_uppercase().as_str() {
                "NO_BACKSLASH_ESCAPES" => mode.no_backslash_escapes = true,
                "ANSI_QUOTES" | "ANSI" | "DB2" | "MAXDB" | "MSSQL" | "ORACLE" | "POSTGRESQL" => {
                    mode.ansi_quotes = true
                }
                _ => {}
            }
        }
        mode
    }

    /// Does a backslash escape the next character inside a string opened with `quote`?
    pub fn escapes(self, quote: u8) -> bool {
        match quote {
            b'`' => false,
            b'"' => !self.no_backslash_escapes && !self.ansi_quotes,
            _ => !self.no_backslash_escapes,
        }
    }
}

/// ASCII white space as the client's `my_isspace` sees it.
pub fn is_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | b'\r' | 0x0b | 0x0c)
}

/// The offset just after the quoted string or identifier opening at `bytes[p]` (`'`, `"` or a
/// backtick) under the default sql_mode. See [`quoted_end_in`].
pub fn quoted_end(bytes: &[u8], p: usize) -> Option<usize> {
    quoted_end_in(bytes, p, SqlMode::default())
}

/// The offset just after the quoted string or identifier opening at `bytes[p]`: backslash escapes
/// where `mode` has them, none in backticks; a doubled quote reads as two strings, which is where
/// they end as well. `None` when it never closes.
pub fn quoted_end_in(bytes: &[u8], p: usize, mode: SqlMode) -> Option<usize> {
    let quote = bytes[p];
    let escapes = mode.escapes(quote);
    let mut i = p + 1;
    while i < bytes.len() {
        let b = bytes[i];
        if b == b'\\' && escapes {
            i += 2;
        } else if b == quote {
            return Some(i + 1);
        } else {
            i += 1;
        }
    }
    None
}

/// If a comment that the server skips (`#`, `--` and white space or a line end, `/* */` but not
/// `/*!` or `/*M!`) starts at `bytes[p]`, the offset after it: the `\n` ending a line comment (or
/// the end), just after `*/` (or the end of `bytes` for an unterminated one).
pub fn comment_end(bytes: &[u8], p: usize) -> Option<usize> {
    let rest = &bytes[p..];
    if rest.first() == Some(&b'#') || (rest.starts_with(b"--") && rest.get(2).is_none_or(|&c| is_space(c))) {
        return Some(p + rest.iter().position(|&b| b == b'\n').unwrap_or(rest.len()));
    }
    if rest.starts_with(b"/*") && !rest[2..].starts_with(b"!") && !rest[2..].starts_with(b"M!") {
        return Some(block_comment_close(bytes, p + 2).unwrap_or(bytes.len()));
    }
    None
}

/// The offset just after the `*/` closing a comment whose body starts at `from`, as the client
/// reads it: inside a comment `/*` opens again, so its `*` never closes (`/*/*/` stays open), and
/// after a `/*!` the next `*/` on the same line only ends that one (the client forgets a `/*!` at
/// the end of each line it reads, so `/*/*!` and `*/` on the next line is a whole comment).
pub fn block_comment_close(bytes: &[u8], from: usize) -> Option<usize> {
    let mut i = from;
    let mut version = false;
    while i + 1 < bytes.len() {
        let rest = &bytes[i..];
        if rest[0] == b'\n' {
            version = false;
            i += 1;
            continue;
        }
        if rest.starts_with(b"/*") && !rest[2..].starts_with(b"!") && !rest[2..].starts_with(b"M!") {
            i += 2;
            continue;
        }
        if rest.starts_with(b"*/") && !version {
            return Some(i + 2);
        }
        if rest.starts_with(b"/*!") {
            version = true;
        } else if rest.starts_with(b"*/") {
            version = false;
        }
        i += 1;
    }
    None
}

/// What a `/*!` or `/*M!` version comment starting at `bytes[p]` is to the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VersionComment {
    /// Its content is SQL: skip the marker (`/*!40101`), which ends after this offset.
    Open(usize),
    /// The server skips it whole, like a comment; the offset just after its `*/` (or the end).
    Skipped(usize),
}

/// If a version comment starts at `bytes[p]`, how the server reads it. MariaDB runs `/*!NNNNN` for
/// versions below 5.7 and `/*M!NNNNNN` up to its own version; a version no server of ours has
/// (`/*!99999`, `/*M!999999`) is skipped whole, as MySQL 8 skips versions above its own.
pub fn version_comment(bytes: &[u8], p: usize) -> Option<VersionComment> {
    let rest = &bytes[p..];
    let marker = if rest.starts_with(b"/*!") {
        3
    } else if rest.starts_with(b"/*M!") {
        4
    } else {
        return None;
    };
    let digits = rest[marker..].iter().take_while(|b| b.is_ascii_digit()).count();
    let version: u64 = std::str::from_utf8(&rest[marker..marker + digits]).ok()?.parse().unwrap_or(0);
    let skipped =
        if marker == 3 { (50700..=99999).contains(&version) || version > 999_999 } else { version > 101_199 };
    if skipped {
        // The server skips it like a comment that may hold one nested `/* */` (MariaDB's lexer
        // allows one level of nesting in a version comment it skips).
        let mut i = p + marker + digits;
        let end = loop {
            match bytes.get(i..i + 2) {
                None => break bytes.len(),
                Some(b"*/") => break i + 2,
                Some(b"/*") => match find(&bytes[i + 2..], b"*/") {
                    Some(close) => i += 2 + close + 2,
                    None => break bytes.len(),
                },
                Some(_) => i += 1,
            }
        };
        return Some(VersionComment::Skipped(end));
    }
    Some(VersionComment::Open(p + marker + digits))
}

/// Words of a statement's head (upper-cased), skipping quoted parts, comments and version-comment
/// markers, stopping at a `;`.
pub fn head_words(text: &str, max: usize) -> Vec<String> {
    head_words_in(text, max, SqlMode::default())
}

/// [`head_words`] under `mode`.
pub fn head_words_in(text: &str, max: usize, mode: SqlMode) -> Vec<String> {
    let mut words = Vec::new();
    for token in Tokens::new(text, mode) {
        match token {
            Token::Word(w) => words.push(w.to_ascii_uppercase()),
            Token::Punct(b';') => break,
            Token::Punct(_) => {}
        }
        if words.len() >= max {
            break;
        }
    }
    words
}

/// One significant piece of SQL text for the statement-level scans here.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Token<'a> {
    /// An unquoted word (letters, digits, `_`, `$`).
    Word(&'a str),
    /// Any other single byte outside quotes and comments (quotes themselves read as `'`).
    Punct(u8),
}

/// Tokens of SQL text with their offsets: quoted parts become one `Punct` of their quote,
/// comments and skipped version comments vanish, version-comment markers and their `*/` too.
struct Tokens<'a> {
    text: &'a str,
    p: usize,
    mode: SqlMode,
    open_version: bool,
    /// Offset of the last token returned.
    at: usize,
}

impl<'a> Tokens<'a> {
    fn new(text: &'a str, mode: SqlMode) -> Self {
        Tokens { text, p: 0, mode, open_version: false, at: 0 }
    }
}

impl<'a> Iterator for Tokens<'a> {
    type Item = Token<'a>;

    fn next(&mut self) -> Option<Token<'a>> {
        let bytes = self.text.as_bytes();
        while self.p < bytes.len() {
            let p = self.p;
            let b = bytes[p];
            if b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b >= 0x80 {
                let len = bytes[p..]
                    .iter()
                    .position(|c| !(c.is_ascii_alphanumeric() || *c == b'_' || *c == b'$' || *c >= 0x80))
                    .unwrap_or(bytes.len() - p);
                self.p = p + len;
                self.at = p;
                return Some(Token::Word(&self.text[p..p + len]));
            }
            if is_space(b) {
                self.p += 1;
                continue;
            }
            if b == b'\'' || b == b'"' || b == b'`' {
                self.p = quoted_end_in(bytes, p, self.mode).unwrap_or(bytes.len());
                self.at = p;
                return Some(Token::Punct(b'\''));
            }
            if let Some(end) = comment_end(bytes, p) {
                self.p = end;
                continue;
            }
            if bytes[p..].starts_with(b"--") && bytes.get(p + 2).is_some_and(|&c| c < b' ') {
                // The server also reads `--` before a control character as a comment (the client
                // does not, and sends it).
                self.p = p + bytes[p..].iter().position(|&b| b == b'\n').unwrap_or(bytes.len() - p);
                continue;
            }
            match version_comment(bytes, p) {
                Some(VersionComment::Open(after)) => {
                    self.open_version = true;
                    self.p = after;
                    continue;
                }
                Some(VersionComment::Skipped(end)) => {
                    self.p = end;
                    continue;
                }
                None => {}
            }
            if self.open_version && bytes[p..].starts_with(b"*/") {
                self.open_version = false;
                self.p += 2;
                continue;
            }
            self.p += 1;
            self.at = p;
            return Some(Token::Punct(b));
        }
        None
    }
}

/// If the statement's first word (after comments and version-comment markers) is `USE`, the text
/// after that word.
pub fn use_argument(text: &str) -> Option<&str> {
    let mut tokens = Tokens::new(text, SqlMode::default());
    match tokens.next() {
        // As a USE only when white space or a quoted name follows (`USE/x` is no USE at all).
        Some(Token::Word(w))
            if w.eq_ignore_ascii_case("USE")
                && text.as_bytes().get(tokens.p).is_some_and(|&c| is_space(c) || c == b'`') =>
        {
            Some(text[tokens.p..].trim_start())
        }
        _ => None,
    }
}

/// Words that may open a block whose `END` closes it.
fn is_block_word(word: &str) -> bool {
    ["BEGIN", "IF", "CASE", "LOOP", "WHILE", "REPEAT", "FOR"].iter().any(|w| word.eq_ignore_ascii_case(w))
}

/// Does this statement hold a compound body (a routine, trigger or event, or a `BEGIN ... END`,
/// `IF`, `LOOP`, ... block, possibly labelled), whose inner `;` do not end it?
pub fn starts_compound(text: &str) -> bool {
    starts_compound_in(text, SqlMode::default())
}

/// [`starts_compound`] under `mode`.
pub fn starts_compound_in(text: &str, mode: SqlMode) -> bool {
    let mut tokens = Tokens::new(text, mode);
    let head: Vec<Token<'_>> = tokens.by_ref().take(14).collect();
    let word = |i: usize| match head.get(i) {
        Some(Token::Word(w)) => w.to_ascii_uppercase(),
        _ => String::new(),
    };
    match word(0).as_str() {
        "CREATE" => {
            for i in 1..head.len() {
                match word(i).as_str() {
                    "PROCEDURE" | "FUNCTION" | "TRIGGER" | "EVENT" => return true,
                    "TABLE" | "VIEW" | "INDEX" | "UNIQUE" | "FULLTEXT" | "SPATIAL" | "DATABASE"
                    | "SCHEMA" | "USER" | "ROLE" | "SEQUENCE" | "SERVER" | "TABLESPACE" | "TEMPORARY"
                    | "PACKAGE" => return false,
                    _ => {}
                }
            }
            false
        }
        "ALTER" => word(1) == "EVENT",
        // `BEGIN` alone or `BEGIN WORK` starts a transaction; `BEGIN NOT ATOMIC` a block.
        "BEGIN" => !matches!(word(1).as_str(), "" | "WORK"),
        "IF" | "CASE" | "LOOP" | "WHILE" | "REPEAT" | "FOR" | "DECLARE" => true,
        // A label: `name: BEGIN`, `name: LOOP`, ... (a colon, not `:=`).
        "" => false,
        _ => {
            head.get(1) == Some(&Token::Punct(b':'))
                && head.get(2) != Some(&Token::Punct(b'='))
                && is_block_word(&word(2))
        }
    }
}

/// Where the first statement of a multi-statement chunk ends: the offset of the `;` that ends it,
/// or `None` when it runs to the end of `text`. Outside a compound statement that is the first `;`
/// outside quotes and comments; inside one (see [`starts_compound`]) it is the first such `;` after
/// every `BEGIN`, `CASE`, `IF`, `LOOP`, `WHILE`, `REPEAT` or `FOR` block has met its `END`, as the
/// server's parser reads it.
pub fn statement_end(text: &str, mode: SqlMode) -> Option<usize> {
    let compound = starts_compound_in(text, mode);
    let mut tokens = Tokens::new(text, mode);
    let mut depth = 0usize;
    // The previous token: `None` at the start, `Some(";")`-like markers as upper-cased words.
    let mut previous: Option<Token<'_>> = None;
    while let Some(token) = tokens.next() {
        let at = tokens.at;
        match token {
            Token::Punct(b';') if depth == 0 => return Some(at),
            Token::Word(w) if compound => {
                let upper = w.to_ascii_uppercase();
                let statement_start = match previous {
                    None | Some(Token::Punct(b';' | b':' | b')')) => true,
                    Some(Token::Word(p)) => {
                        ["BEGIN", "THEN", "ELSE", "DO", "LOOP", "REPEAT", "ROW"]
                            .iter()
                            .any(|s| p.eq_ignore_ascii_case(s))
                            || (p.eq_ignore_ascii_case("ATOMIC"))
                    }
                    _ => false,
                };
                match upper.as_str() {
                    "END" if depth > 0 => {
                        depth -= 1;
                        // `END IF`, `END CASE`, ...: the word names the block, it opens nothing.
                        let rest = &text.as_bytes()[tokens.p..];
                        let skip = rest.iter().take_while(|b| is_space(**b)).count();
                        let after = &text[tokens.p + skip..];
                        let len = after
                            .bytes()
                            .position(|c| !(c.is_ascii_alphanumeric() || c == b'_'))
                            .unwrap_or(after.len());
                        if is_block_word(&after[..len]) {
                            tokens.p += skip + len;
                        }
                    }
                    "CASE" => depth += 1,
                    "BEGIN" => {
                        let after = text[tokens.p..].trim_start();
                        let work = after.len() >= 4
                            && after.as_bytes()[..4].eq_ignore_ascii_case(b"WORK")
                            && !after
                                .as_bytes()
                                .get(4)
                                .is_some_and(|c| c.is_ascii_alphanumeric() || *c == b'_');
                        let qualified = matches!(previous, Some(Token::Punct(b'.')));
                        if !work && !qualified && !after.starts_with(';') && !after.is_empty() {
                            depth += 1;
                        }
                    }
                    "IF" | "LOOP" | "WHILE" | "REPEAT" | "FOR" if statement_start => depth += 1,
                    _ => {}
                }
            }
            _ => {}
        }
        previous = Some(token);
    }
    None
}

/// What a statement does to the session's `sql_mode`, given the mode before it and the values
/// saved by earlier statements (`SET @OLD_SQL_MODE=@@SQL_MODE`, as mysqldump writes): the new mode,
/// or `None` when it does not assign `sql_mode` (or assigns what cannot be known from the text, in
/// which case the mode stays as it was).
pub fn sql_mode_after(text: &str, mode: SqlMode, saved: &mut Vec<(String, SqlMode)>) -> Option<SqlMode> {
    let words = head_words(text, 1);
    if words.first().map(String::as_str) != Some("SET") {
        return None;
    }
    let bytes = text.as_bytes();
    let mut result = None;
    // Walk the assignments: `name = value` separated by top-level commas.
    let mut p = 0;
    let mut global = false;
    while p < bytes.len() {
        let b = bytes[p];
        if b == b'\'' || b == b'"' || b == b'`' {
            p = quoted_end_in(bytes, p, mode).unwrap_or(bytes.len());
            continue;
        }
        if b.is_ascii_alphabetic() || b == b'@' || b == b'_' {
            let len = bytes[p..]
                .iter()
                .position(|c| !(c.is_ascii_alphanumeric() || matches!(c, b'_' | b'@' | b'.' | b'$')))
                .unwrap_or(bytes.len() - p);
            let name = text[p..p + len].to_ascii_uppercase();
            p += len;
            if name == "GLOBAL" || name == "@@GLOBAL.SQL_MODE" {
                global = true;
            }
            if name == "SESSION" || name == "LOCAL" {
                global = false;
            }
            let rest = text[p..].trim_start();
            let value = rest.strip_prefix(":=").or_else(|| rest.strip_prefix('=')).map(str::trim_start);
            let Some(value) = value else { continue };
            let is_mode = matches!(
                name.as_str(),
                "SQL_MODE" | "@@SQL_MODE" | "@@SESSION.SQL_MODE" | "@@LOCAL.SQL_MODE" | "@@GLOBAL.SQL_MODE"
            );
            let value_bytes = value.as_bytes();
            let current = result.unwrap_or(mode);
            let new = if let Some(q @ (b'\'' | b'"')) = value_bytes.first().copied() {
                quoted_end_in(value_bytes, 0, current).map(|end| {
                    let _ = q;
                    SqlMode::from_list(&value[1..end - 1])
                })
            } else if value.len() >= 10 && value.as_bytes()[..10].eq_ignore_ascii_case(b"@@SQL_MODE") {
                Some(current)
            } else if value.starts_with('@') && !value.starts_with("@@") {
                let len = value
                    .bytes()
                    .position(|c| !(c.is_ascii_alphanumeric() || matches!(c, b'_' | b'@')))
                    .unwrap_or(value.len());
                let var = value[..len].to_ascii_uppercase();
                saved.iter().rev().find(|(n, _)| *n == var).map(|(_, m)| *m)
            } else if value.len() >= 7 && value.as_bytes()[..7].eq_ignore_ascii_case(b"DEFAULT") {
                Some(SqlMode::default())
            } else {
                None
            };
            if is_mode && !global && !name.starts_with("@@GLOBAL") {
                if let Some(new) = new {
                    result = Some(new);
                }
            } else if name.starts_with('@') && !name.starts_with("@@") {
                if let Some(new) = new {
                    saved.push((name, new));
                }
            }
            p = text.len() - value.len();
            continue;
        }
        p += 1;
    }
    result
}

/// The first occurrence of `needle` in `haystack`.
pub fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[cfg(test)]
mod tests {
    use super::*;

    const NO_BACKSLASH: SqlMode = SqlMode { no_backslash_escapes: true, ansi_quotes: false };
    const ANSI: SqlMode = SqlMode { no_backslash_escapes: false, ansi_quotes: true };

    #[test]
    fn a_backslash_escapes_only_where_the_sql_mode_says_so() {
        let text = br#"'a\'b' "a\"b" `a\`"#;
        assert_eq!(quoted_end(text, 0), Some(6));
        assert_eq!(quoted_end(text, 7), Some(13));
        assert_eq!(quoted_end(text, 14), Some(18), "no escapes in backticks");
        assert_eq!(quoted_end_in(text, 0, NO_BACKSLASH), Some(4));
        assert_eq!(quoted_end_in(text, 7, ANSI), Some(11));
        assert_eq!(quoted_end_in(text, 0, ANSI), Some(6), "ANSI_QUOTES leaves single quotes alone");
    }

    #[test]
    fn the_server_skips_version_comments_for_versions_it_does_not_have() {
        assert_eq!(version_comment(b"/*!40101 SET x */", 0), Some(VersionComment::Open(8)));
        assert_eq!(version_comment(b"/*! SET x */", 0), Some(VersionComment::Open(3)));
        assert_eq!(version_comment(b"/*M!100101 x */", 0), Some(VersionComment::Open(10)));
        assert_eq!(version_comment(b"/*!99999 ; */ x", 0), Some(VersionComment::Skipped(13)));
        assert_eq!(version_comment(b"/*M!999999 ; */", 0), Some(VersionComment::Skipped(15)));
        // One nested comment inside a skipped one, as MariaDB's lexer allows.
        assert_eq!(version_comment(b"/*!99999 a/*!99999 ;*/ ; */ x", 0), Some(VersionComment::Skipped(27)));
        assert_eq!(version_comment(b"/* x */", 0), None);
    }

    #[test]
    fn the_server_ends_a_compound_statement_after_its_last_end() {
        let cases: &[(&str, Option<&str>)] = &[
            ("SELECT 1; SELECT 2", Some("SELECT 1")),
            ("CREATE PROCEDURE p() BEGIN SELECT 1; END; SELECT 2", Some("CREATE PROCEDURE p() BEGIN SELECT 1; END")),
            ("CREATE PROCEDURE p() SELECT 'one;'; SELECT 2", Some("CREATE PROCEDURE p() SELECT 'one;'")),
            ("CREATE FUNCTION f() RETURNS INT RETURN 1; SELECT 2", Some("CREATE FUNCTION f() RETURNS INT RETURN 1")),
            ("BEGIN NOT ATOMIC IF 1 THEN SELECT 1; END IF; END; DO 2", Some("BEGIN NOT ATOMIC IF 1 THEN SELECT 1; END IF; END")),
            ("lbl: BEGIN NOT ATOMIC SELECT 1; END lbl; DO 2", Some("lbl: BEGIN NOT ATOMIC SELECT 1; END lbl")),
            (
                "CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW BEGIN SET @a = CASE WHEN 1 THEN 2 END; END; DO 1",
                Some("CREATE TRIGGER t BEFORE INSERT ON x FOR EACH ROW BEGIN SET @a = CASE WHEN 1 THEN 2 END; END"),
            ),
            ("SELECT begin FROM (SELECT 1 AS `begin`) t WHERE ':' = ':'; SELECT 2", Some("SELECT begin FROM (SELECT 1 AS `begin`) t WHERE ':' = ':'")),
            ("SELECT 1 /*!99999 ; SELECT 2 */", None),
            ("CREATE PROCEDURE p() BEGIN SELECT 1; END", None),
        ];
        for (text, want) in cases {
            let got = statement_end(text, SqlMode::default()).map(|end| &text[..end]);
            assert_eq!(got, *want, "{text}");
        }
    }

    #[test]
    fn inside_a_comment_the_client_reads_an_opening_again() {
        let close = |text: &str| comment_end(text.as_bytes(), 0);
        assert_eq!(close("/* a */ b"), Some(7));
        assert_eq!(close("/**/"), Some(4));
        assert_eq!(close("/*/*/ x"), Some(7), "the `*` of a second `/*` does not close");
        assert_eq!(close("/* /*! */ x */"), Some(14), "a `*/` after `/*!` ends only that");
        assert_eq!(close("/*/*!\n*/ x"), Some(8), "a `/*!` is forgotten at the end of its line");
    }

    #[test]
    fn labels_need_a_colon_right_after_the_first_word() {
        assert!(starts_compound("lbl: BEGIN SELECT 1; END"));
        assert!(starts_compound("lbl:LOOP LEAVE lbl; END LOOP"));
        assert!(!starts_compound("SELECT begin FROM (SELECT 1 AS `begin`) t WHERE ':' = ':'"));
        assert!(!starts_compound("SET @a := 1"));
    }

    #[test]
    fn a_script_changes_how_the_client_reads_strings_with_set_sql_mode() {
        let mut saved = Vec::new();
        let d = SqlMode::default();
        assert_eq!(
            sql_mode_after("SET sql_mode = 'NO_BACKSLASH_ESCAPES'", d, &mut saved),
            Some(NO_BACKSLASH)
        );
        assert_eq!(sql_mode_after("set @@SESSION.sql_mode='ANSI'", d, &mut saved), Some(ANSI));
        assert_eq!(sql_mode_after("SET GLOBAL sql_mode = 'ANSI'", d, &mut saved), None);
        assert_eq!(sql_mode_after("SELECT 'sql_mode = ANSI'", d, &mut saved), None);
        let dump = "/*!40101 SET @OLD_SQL_MODE=@@SQL_MODE, SQL_MODE='NO_AUTO_VALUE_ON_ZERO' */";
        assert_eq!(sql_mode_after(dump, ANSI, &mut saved), Some(d));
        assert_eq!(sql_mode_after("/*!40101 SET SQL_MODE=@OLD_SQL_MODE */", d, &mut saved), Some(ANSI));
        assert_eq!(sql_mode_after("SET sql_mode = DEFAULT", ANSI, &mut saved), Some(d));
    }
}
