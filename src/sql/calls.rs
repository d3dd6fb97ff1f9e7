//! From one statement to the Data API calls that run it, within the service's limit of 65,536
//! characters of `sql` per call (AWS `ExecuteStatement`).
//!
//! A statement that fits is one call, its text untouched. A longer plain multi-row `INSERT ...
//! VALUES` is cut into INSERTs of whole rows that fit. A statement (or row) that is long because of
//! a few big literals (a `0x...` image in a data dump, a long text) sends those literals as bound
//! parameters (`blobValue` / `stringValue`): the server receives the same values and the text
//! shrinks to placeholders. Anything else that is too long cannot run through the Data API and is
//! an error naming its size.

use crate::sql::lex::{comment_end, head_words, quoted_end};

/// Largest `sql` the Data API accepts in one call, in characters.
pub const MAX_SQL_CHARS: usize = 65_536;

/// Largest request body the Data API accepts, in bytes (AWS: 4 MiB).
pub const MAX_REQUEST_BYTES: usize = 4 * 1024 * 1024;

/// Room in a request for what is not the statement: the JSON keys, the cluster and secret ARNs,
/// the database, a transaction id.
const REQUEST_OVERHEAD: usize = 4 * 1024;

/// Literals shorter than this stay in the text.
const MIN_PARAMETER_CHARS: usize = 256;

/// A bound parameter taken out of a statement's text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Param {
    /// From a hex literal `0x..` / `X'..'`: sent as `blobValue`.
    Blob(Vec<u8>),
    /// From a single-quoted string literal, unescaped: sent as `stringValue`.
    Text(String),
}

/// One Data API call.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Call {
    /// The SQL text.
    pub sql: String,
    /// Named parameters `(name, value)`, referenced as `:name` in `sql`.
    pub params: Vec<(String, Param)>,
}

/// Why a statement cannot be sent.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TooLong {
    /// The whole statement is too long and cannot be cut.
    #[error(
        "statement is {chars} characters; the Data API accepts at most {MAX_SQL_CHARS} per call: \
         split it into smaller statements"
    )]
    Statement {
        /// Its length in characters.
        chars: usize,
    },
    /// One row of a multi-row INSERT is too long even with its literals as parameters.
    #[error(
        "statement is {chars} characters and its row {row} alone does not fit in the Data API's \
         {MAX_SQL_CHARS} characters: make that row smaller"
    )]
    Row {
        /// The statement's length in characters.
        chars: usize,
        /// 1-based row number.
        row: usize,
    },
    /// A call's request (its text and the literals sent as parameters) is over the Data API's
    /// 4 MiB.
    #[error(
        "statement needs a Data API request of {bytes} bytes (its big literals sent as parameters); \
         the Data API accepts at most {MAX_REQUEST_BYTES} bytes per request: make its values smaller \
         (split a multi-row INSERT, or load big values in parts)"
    )]
    Request {
        /// The request's estimated size.
        bytes: usize,
    },
}

/// How a statement will be sent, for reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shape {
    /// Number of calls.
    pub calls: usize,
    /// Number of literals sent as parameters.
    pub params: usize,
}

/// The calls that run `text`.
pub fn calls(text: &str) -> Result<Vec<Call>, TooLong> {
    let mut calls = fitted_calls(text)?;
    for call in &mut calls {
        if let Some(escaped) = escape_stray_colons(&call.sql, &call.params) {
            call.sql = escaped;
        }
        let bytes = request_bytes(call);
        if bytes > MAX_REQUEST_BYTES {
            return Err(TooLong::Request { bytes });
        }
    }
    Ok(calls)
}

/// The size of the JSON request that sends `call`, within a few bytes: its text and parameters as
/// JSON strings (a blob in base64), plus [`REQUEST_OVERHEAD`].
fn request_bytes(call: &Call) -> usize {
    let json = |s: &str| -> usize {
        s.bytes()
            .map(|b| match b {
                b'"' | b'\\' | b'\n' | b'\r' | b'\t' | 0x08 | 0x0c => 2,
                b if b < 0x20 => 6,
                _ => 1,
            })
            .sum::<usize>()
            + 2
    };
    let params: usize = call
        .params
        .iter()
        .map(|(name, value)| {
            // {"name":"..","value":{"blobValue":".."}}
            40 + name.len()
                + match value {
                    Param::Blob(b) => b.len().div_ceil(3) * 4 + 2,
                    Param::Text(t) => json(t),
                }
        })
        .sum();
    REQUEST_OVERHEAD + json(&call.sql) + params
}

fn fitted_calls(text: &str) -> Result<Vec<Call>, TooLong> {
    let chars = text.chars().count();
    if chars <= MAX_SQL_CHARS {
        return Ok(vec![Call { sql: text.to_owned(), params: Vec::new() }]);
    }
    if let Some((prefix_end, rows)) = insert_rows(text) {
        return cut_insert(text, chars, prefix_end, &rows);
    }
    with_parameters(text).ok_or(TooLong::Statement { chars }).map(|call| vec![call])
}

/// The Data API reads `:name` outside quotes as a named parameter, but in MySQL a colon before a
/// word is also a label (`proc:BEGIN ... END`). A space after such a colon means the same to MySQL
/// and is no parameter to the Data API. Returns the text with those spaces, if any were needed.
fn escape_stray_colons(sql: &str, params: &[(String, Param)]) -> Option<String> {
    let bytes = sql.as_bytes();
    let mut out: Option<String> = None;
    let mut copied = 0;
    let mut p = 0;
    while p < bytes.len() {
        match bytes[p] {
            b'\'' | b'"' | b'`' => p = quoted_end(bytes, p).unwrap_or(bytes.len()),
            b':' if bytes.get(p + 1).is_some_and(|c| c.is_ascii_alphabetic() || *c == b'_')
                && (p == 0 || bytes[p - 1] != b':') =>
            {
                let len =
                    bytes[p + 1..].iter().take_while(|c| c.is_ascii_alphanumeric() || **c == b'_').count();
                let name = &sql[p + 1..p + 1 + len];
                if !params.iter().any(|(n, _)| n == name) {
                    let out = out.get_or_insert_with(|| String::with_capacity(sql.len() + 8));
                    out.push_str(&sql[copied..=p]);
                    out.push(' ');
                    copied = p + 1;
                }
                p += 1 + len;
            }
            _ => p += 1,
        }
    }
    out.map(|mut out| {
        out.push_str(&sql[copied..]);
        out
    })
}

/// Like [`calls`], but only counts.
pub fn shape(text: &str) -> Result<Shape, TooLong> {
    let calls = calls(text)?;
    Ok(Shape { calls: calls.len(), params: calls.iter().map(|c| c.params.len()).sum() })
}

fn cut_insert(
    text: &str,
    chars: usize,
    prefix_end: usize,
    rows: &[std::ops::Range<usize>],
) -> Result<Vec<Call>, TooLong> {
    let prefix = &text[..prefix_end];
    let prefix_chars = prefix.chars().count();
    let mut out = Vec::new();
    let mut current = Call { sql: String::new(), params: Vec::new() };
    let mut current_chars = 0;
    for (n, range) in rows.iter().enumerate() {
        let row = &text[range.clone()];
        let mut row_chars = row.chars().count();
        let mut row_call = None;
        if prefix_chars + row_chars > MAX_SQL_CHARS {
            // The row alone is too long: send its big literals as parameters, in a call of its own.
            let call =
                with_parameters(&format!("{prefix}{row}")).ok_or(TooLong::Row { chars, row: n + 1 })?;
            row_chars = call.sql.chars().count();
            row_call = Some(call);
        }
        if let Some(call) = row_call {
            if !current.sql.is_empty() {
                out.push(std::mem::replace(&mut current, Call { sql: String::new(), params: Vec::new() }));
            }
            debug_assert!(row_chars <= MAX_SQL_CHARS);
            out.push(call);
            continue;
        }
        if !current.sql.is_empty() && current_chars + 1 + row_chars > MAX_SQL_CHARS {
            out.push(std::mem::replace(&mut current, Call { sql: String::new(), params: Vec::new() }));
        }
        if current.sql.is_empty() {
            current.sql.push_str(prefix);
            current_chars = prefix_chars;
        } else {
            current.sql.push(',');
            current_chars += 1;
        }
        current.sql.push_str(row);
        current_chars += row_chars;
    }
    if !current.sql.is_empty() {
        out.push(current);
    }
    Ok(out)
}

/// Replaces the largest literals by `:_amN` parameters until the text fits; `None` if it cannot.
fn with_parameters(text: &str) -> Option<Call> {
    let mut literals = literals(text);
    literals.sort_by_key(|l| std::cmp::Reverse(l.range.len()));
    let mut chars = text.chars().count();
    let mut chosen = Vec::new();
    for literal in literals {
        if chars <= MAX_SQL_CHARS {
            break;
        }
        let name_len = 4 + chosen.len().to_string().len();
        chars = chars - text[literal.range.clone()].chars().count() + name_len;
        chosen.push(literal);
    }
    if chars > MAX_SQL_CHARS {
        return None;
    }
    chosen.sort_by_key(|l| l.range.start);
    let mut sql = String::with_capacity(text.len());
    let mut params = Vec::new();
    let mut at = 0;
    for (i, literal) in chosen.into_iter().enumerate() {
        let name = format!("_am{i}");
        sql.push_str(&text[at..literal.range.start]);
        sql.push(':');
        sql.push_str(&name);
        at = literal.range.end;
        params.push((name, literal.value));
    }
    sql.push_str(&text[at..]);
    Some(Call { sql, params })
}

struct Literal {
    range: std::ops::Range<usize>,
    value: Param,
}

/// Long literals outside comments and version comments that can become parameters.
fn literals(text: &str) -> Vec<Literal> {
    let bytes = text.as_bytes();
    let mut out = Vec::new();
    let mut p = 0;
    while p < bytes.len() {
        let b = bytes[p];
        let word_boundary =
            p == 0 || !(bytes[p - 1].is_ascii_alphanumeric() || bytes[p - 1] == b'_' || bytes[p - 1] == b'$');
        if b == b'\'' || b == b'"' || b == b'`' {
            let Some(mut end) = quoted_end(bytes, p) else { return out };
            // A doubled quote continues the same literal.
            while bytes.get(end) == Some(&b) {
                let Some(next) = quoted_end(bytes, end) else { return out };
                end = next;
            }
            let introduced = p > 0 && (bytes[p - 1].is_ascii_alphanumeric() || bytes[p - 1] == b'_');
            if b == b'\'' && !introduced && end - p >= MIN_PARAMETER_CHARS {
                // X'..' hex strings are handled below; an introducer (_binary'..') changes meaning.
                out.push(Literal { range: p..end, value: Param::Text(unescape(&text[p + 1..end - 1])) });
            }
            p = end;
        } else if word_boundary && (b == b'x' || b == b'X') && bytes.get(p + 1) == Some(&b'\'') {
            let Some(end) = quoted_end(bytes, p + 1) else { return out };
            if end - p >= MIN_PARAMETER_CHARS {
                if let Some(blob) = decode_hex(&text[p + 2..end - 1]) {
                    out.push(Literal { range: p..end, value: Param::Blob(blob) });
                }
            }
            p = end;
        } else if word_boundary && b == b'0' && matches!(bytes.get(p + 1), Some(b'x')) {
            let len = 2 + bytes[p + 2..].iter().take_while(|c| c.is_ascii_hexdigit()).count();
            let ends_word = bytes.get(p + len).is_none_or(|c| !(c.is_ascii_alphanumeric() || *c == b'_'));
            if ends_word && len >= MIN_PARAMETER_CHARS {
                if let Some(blob) = decode_hex(&text[p + 2..p + len]) {
                    out.push(Literal { range: p..p + len, value: Param::Blob(blob) });
                }
            }
            p += len;
        } else if bytes[p..].starts_with(b"/*!") || bytes[p..].starts_with(b"/*M!") {
            // Text inside a version comment runs only on some servers: leave it alone.
            p = bytes[p..].windows(2).position(|w| w == b"*/").map_or(bytes.len(), |i| p + i + 2);
        } else if let Some(after) = comment_end(bytes, p) {
            p = after;
        } else {
            p += 1;
        }
    }
    out
}

fn decode_hex(hex: &str) -> Option<Vec<u8>> {
    // An odd number of digits has an implied leading zero (MySQL).
    let padded;
    let hex = if hex.len() % 2 == 1 {
        padded = format!("0{hex}");
        &padded
    } else {
        hex
    };
    (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).ok()).collect()
}

/// The value of a single-quoted MySQL string body (default sql_mode: backslash escapes on).
fn unescape(body: &str) -> String {
    let mut out = String::with_capacity(body.len());
    let mut chars = body.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('0') => out.push('\0'),
                Some('b') => out.push('\u{8}'),
                Some('n') => out.push('\n'),
                Some('r') => out.push('\r'),
                Some('t') => out.push('\t'),
                Some('Z') => out.push('\u{1a}'),
                Some(c @ ('%' | '_')) => {
                    out.push('\\');
                    out.push(c)
                }
                Some(c) => out.push(c),
                None => out.push('\\'),
            },
            '\'' => {
                // A doubled quote stands for one.
                chars.next();
                out.push('\'');
            }
            c => out.push(c),
        }
    }
    out
}

/// For `INSERT|REPLACE ... VALUES (..), (..)` with nothing after the rows: the end of the text up
/// to and including `VALUES` and its white space, and the byte range of each row.
fn insert_rows(text: &str) -> Option<(usize, Vec<std::ops::Range<usize>>)> {
    let bytes = text.as_bytes();
    if !matches!(head_words(text, 1).first().map(String::as_str), Some("INSERT" | "REPLACE")) {
        return None;
    }
    let mut p = 0;
    let mut depth = 0usize;
    let values_end = loop {
        let b = *bytes.get(p)?;
        match b {
            b'\'' | b'"' | b'`' => p = quoted_end(bytes, p)?,
            b'(' => {
                depth += 1;
                p += 1
            }
            b')' => {
                depth = depth.checked_sub(1)?;
                p += 1
            }
            _ if b.is_ascii_alphabetic() => {
                let len = bytes[p..]
                    .iter()
                    .position(|c| !(c.is_ascii_alphanumeric() || *c == b'_'))
                    .unwrap_or(bytes.len() - p);
                let word = &text[p..p + len];
                p += len;
                if depth == 0 && (word.eq_ignore_ascii_case("VALUES") || word.eq_ignore_ascii_case("VALUE")) {
                    break p;
                }
                if depth == 0 && word.eq_ignore_ascii_case("SELECT") {
                    return None;
                }
            }
            _ => p = comment_end(bytes, p).unwrap_or(p + 1),
        }
    };
    let skip_space = |mut p: usize| {
        while p < bytes.len() && bytes[p].is_ascii_whitespace() {
            p += 1;
        }
        p
    };
    let prefix_end = skip_space(values_end);
    let mut p = prefix_end;
    let mut rows = Vec::new();
    loop {
        if bytes.get(p) != Some(&b'(') {
            return None;
        }
        let start = p;
        let mut depth = 0usize;
        loop {
            match *bytes.get(p)? {
                b'\'' | b'"' | b'`' => p = quoted_end(bytes, p)?,
                b'(' => {
                    depth += 1;
                    p += 1
                }
                b')' => {
                    depth -= 1;
                    p += 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => p = comment_end(bytes, p).unwrap_or(p + 1),
            }
        }
        rows.push(start..p);
        // Between rows only a comma; anything else (ON DUPLICATE KEY ...) is not a plain INSERT.
        p = skip_space(p);
        match bytes.get(p) {
            None => return Some((prefix_end, rows)),
            Some(b',') => p = skip_space(p + 1),
            Some(_) => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn big_insert(rows: usize, width: usize) -> String {
        let row = |i: usize| format!("({i}, 'x{}')", "x".repeat(width));
        format!("INSERT INTO t (id, v) VALUES {}", (0..rows).map(row).collect::<Vec<_>>().join(",\n"))
    }

    #[test]
    fn a_call_whose_request_would_exceed_four_mib_is_refused_with_its_size() {
        // A text literal sent as a parameter: 3 MB fits, 4.5 MB does not.
        let fits = format!("INSERT INTO t VALUES ('{}')", "x".repeat(3_000_000));
        assert_eq!(calls(&fits).expect("fits").len(), 1);
        let over = format!("INSERT INTO t VALUES ('{}')", "x".repeat(4_500_000));
        match calls(&over) {
            Err(TooLong::Request { bytes }) => assert!(bytes > MAX_REQUEST_BYTES, "{bytes}"),
            other => panic!("not refused: {:?}", other.map(|c| c.len())),
        }
        // A blob grows by a third in base64: 3.3 MB of bytes (6.6 M hex digits) is over.
        let blob = format!("INSERT INTO t VALUES (0x{})", "ab".repeat(3_300_000));
        assert!(matches!(calls(&blob), Err(TooLong::Request { .. })));
        let small_blob = format!("INSERT INTO t VALUES (0x{})", "ab".repeat(2_900_000));
        assert!(calls(&small_blob).is_ok());
        // Quotes and backslashes count twice in JSON.
        let call = Call { sql: "\"\\".into(), params: vec![] };
        assert_eq!(request_bytes(&call), REQUEST_OVERHEAD + 6);
    }

    #[test]
    fn a_statement_that_fits_is_one_call_unchanged() {
        assert_eq!(calls("SELECT 1").unwrap(), [Call { sql: "SELECT 1".into(), params: vec![] }]);
    }

    #[test]
    fn long_multi_row_inserts_are_cut_into_whole_rows_that_fit() {
        let text = big_insert(3000, 60);
        assert!(text.len() > MAX_SQL_CHARS);
        let calls = calls(&text).unwrap();
        assert!(calls.len() >= 3);
        let mut rows = 0;
        for call in &calls {
            assert!(call.sql.chars().count() <= MAX_SQL_CHARS);
            assert!(call.sql.starts_with("INSERT INTO t (id, v) VALUES ("));
            assert!(call.params.is_empty());
            rows += call.sql.matches("'xx").count();
        }
        assert_eq!(rows, 3000);
        // The rows, in order, are exactly the original rows.
        let joined: Vec<String> = calls
            .iter()
            .map(|c| c.sql.trim_start_matches("INSERT INTO t (id, v) VALUES ").to_owned())
            .collect();
        assert_eq!(
            joined.join(",").replace(",\n", ","),
            text.trim_start_matches("INSERT INTO t (id, v) VALUES ").replace(",\n", ",")
        );
    }

    #[test]
    fn a_row_with_a_huge_hex_literal_sends_it_as_a_blob_parameter() {
        let image = "89504E47".repeat(10_000);
        let text = format!("INSERT INTO staff VALUES (1,'Mike',0x{image},'it''s'),(2,'Jon',NULL,'x')");
        let calls = calls(&text).unwrap();
        assert_eq!(calls.len(), 2, "{calls:?}");
        assert_eq!(calls[0].sql, "INSERT INTO staff VALUES (1,'Mike',:_am0,'it''s')");
        assert_eq!(
            calls[0].params,
            [("_am0".to_owned(), Param::Blob([0x89, 0x50, 0x4E, 0x47].repeat(10_000)))]
        );
        assert_eq!(calls[1].sql, "INSERT INTO staff VALUES (2,'Jon',NULL,'x')");
    }

    #[test]
    fn a_long_string_literal_becomes_a_text_parameter_with_its_escapes_undone() {
        let body = "a\\'b''c\\\\d\\n".repeat(7_000);
        let text = format!("UPDATE t SET v = '{body}' WHERE id = 1");
        let calls = calls(&text).unwrap();
        assert_eq!(calls[0].sql, "UPDATE t SET v = :_am0 WHERE id = 1");
        assert_eq!(calls[0].params[0].1, Param::Text("a'b'c\\d\n".repeat(7_000)));
    }

    #[test]
    fn literals_in_comments_or_with_introducers_stay_and_then_it_is_too_long() {
        let long = "ab".repeat(40_000);
        for text in [
            format!("UPDATE t SET v = _binary'{long}'"),
            format!("UPDATE t SET v = 1 /* '{long}' */"),
            format!("UPDATE t SET v = /*!50705 0x{long}*/ 1"),
        ] {
            assert!(matches!(calls(&text), Err(TooLong::Statement { .. })), "{}", &text[..30]);
        }
    }

    #[test]
    fn labels_are_not_taken_for_parameters() {
        let sql = "CREATE PROCEDURE p() proc:BEGIN SELECT ':x', `a:b`; SET @v:=1; LEAVE proc; END";
        assert_eq!(
            calls(sql).unwrap()[0].sql,
            "CREATE PROCEDURE p() proc: BEGIN SELECT ':x', `a:b`; SET @v:=1; LEAVE proc; END"
        );
        assert_eq!(calls("SELECT 1").unwrap()[0].sql, "SELECT 1");
        let image = "ab".repeat(40_000);
        let call = &calls(&format!("UPDATE t SET v = 0x{image} WHERE k = 'a:b'")).unwrap()[0];
        assert_eq!(call.sql, "UPDATE t SET v = :_am0 WHERE k = 'a:b'");
    }

    #[test]
    fn upserts_are_not_cut() {
        let upsert = format!("{} ON DUPLICATE KEY UPDATE v = 'a'", big_insert(3000, 60));
        assert!(matches!(calls(&upsert), Err(TooLong::Statement { .. })));
    }

    #[test]
    fn a_row_too_long_even_as_parameters_is_named() {
        let cells = (0..300).map(|_| format!("'{}'", "q".repeat(250))).collect::<Vec<_>>().join(",");
        let text = format!("INSERT INTO t VALUES (1),({cells})");
        assert_eq!(calls(&text), Err(TooLong::Row { chars: text.chars().count(), row: 2 }));
    }
}
