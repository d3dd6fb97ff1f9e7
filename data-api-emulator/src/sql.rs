//! SQL text handling: named `:param` substitution and multi-statement detection.
//!
//! Parameters are bound client-side as escaped literals (like MySQL Connector/J's default
//! client-side prepared statements, which the Data API for MySQL is built on), so every statement
//! runs over the text protocol and the server formats values exactly as MySQL does. Whether a text
//! holds more than one statement is ultimately the server's decision (see `db`); this module only
//! finds top-level `;` outside strings, identifiers and comments.

use std::collections::HashMap;

use crate::error::ApiError;
use crate::wire::{Field, SqlParameter};

/// A statement ready to send: parameters substituted, a trailing `;` removed.
#[derive(Debug, Clone, PartialEq)]
pub struct Prepared {
    pub sql: String,
    /// A top-level `;` is followed by more SQL: either a compound statement (a routine body) or
    /// several statements. The server has to tell which.
    pub semicolon_inside: bool,
}

/// Substitutes `:name` parameters and finds top-level semicolons.
pub fn prepare(sql: &str, params: &[SqlParameter]) -> Result<Prepared, ApiError> {
    let mut literals: HashMap<&str, String> = HashMap::new();
    for p in params {
        let name = p.name.as_deref().unwrap_or("");
        let name = name.strip_prefix(':').unwrap_or(name);
        let value = p
            .value
            .as_ref()
            .ok_or_else(|| ApiError::BadRequest(format!("Parameter '{name}' has no value.")))?;
        literals.insert(name, literal(value, p.type_hint.as_deref())?);
    }

    let bytes = sql.as_bytes();
    let mut out = String::with_capacity(sql.len() + 16);
    let mut i = 0;
    let mut last_semicolon: Option<usize> = None; // index in `out`
    let mut semicolon_inside = false;
    let mut copied = 0; // bytes of `sql` already copied to `out`
    while i < bytes.len() {
        let c = bytes[i];
        match c {
            b'\'' | b'"' | b'`' => {
                if last_semicolon.is_some() {
                    semicolon_inside = true;
                }
                i = skip_quoted(bytes, i, c);
            }
            b'#' => i = skip_line(bytes, i),
            b'-' if bytes.get(i + 1) == Some(&b'-')
                && bytes.get(i + 2).is_none_or(|b| b.is_ascii_whitespace()) =>
            {
                i = skip_line(bytes, i)
            }
            b'/' if bytes.get(i + 1) == Some(&b'*') => {
                let executable = matches!(bytes.get(i + 2), Some(b'!'))
                    || (bytes.get(i + 2) == Some(&b'M') && bytes.get(i + 3) == Some(&b'!'));
                if executable {
                    // `/*! ... */` is code to MySQL: scan inside it.
                    if last_semicolon.is_some() {
                        semicolon_inside = true;
                    }
                    i += 3;
                } else {
                    i = match sql[i + 2..].find("*/") {
                        Some(end) => i + 2 + end + 2,
                        None => bytes.len(),
                    };
                }
            }
            b';' => {
                out.push_str(&sql[copied..i]);
                copied = i;
                if last_semicolon.is_some() {
                    semicolon_inside = true;
                }
                last_semicolon = Some(out.len());
                i += 1;
            }
            b':' if bytes.get(i + 1).is_some_and(|b| b.is_ascii_alphabetic() || *b == b'_')
                && (i == 0 || bytes[i - 1] != b':') =>
            {
                let start = i + 1;
                let mut end = start;
                while end < bytes.len() && (bytes[end].is_ascii_alphanumeric() || bytes[end] == b'_') {
                    end += 1;
                }
                let name = &sql[start..end];
                let lit = literals.get(name).ok_or_else(|| {
                    ApiError::BadRequest(format!("No value specified for parameter: {name}"))
                })?;
                out.push_str(&sql[copied..i]);
                out.push_str(lit);
                copied = end;
                if last_semicolon.is_some() {
                    semicolon_inside = true;
                }
                i = end;
            }
            c if c.is_ascii_whitespace() => i += 1,
            _ => {
                if last_semicolon.is_some() {
                    semicolon_inside = true;
                }
                i += 1;
            }
        }
    }
    out.push_str(&sql[copied..]);
    if let (Some(at), false) = (last_semicolon, semicolon_inside) {
        // Only whitespace and comments follow the last `;`: one statement with a trailing `;`.
        out.truncate(at);
    }
    Ok(Prepared { sql: out, semicolon_inside })
}

fn skip_quoted(bytes: &[u8], start: usize, quote: u8) -> usize {
    let mut i = start + 1;
    while i < bytes.len() {
        let c = bytes[i];
        if c == b'\\' && quote != b'`' {
            i += 2;
        } else if c == quote {
            if bytes.get(i + 1) == Some(&quote) {
                i += 2;
            } else {
                return i + 1;
            }
        } else {
            i += 1;
        }
    }
    bytes.len()
}

fn skip_line(bytes: &[u8], start: usize) -> usize {
    bytes[start..].iter().position(|&b| b == b'\n').map_or(bytes.len(), |p| start + p + 1)
}

/// The SQL literal for one parameter value.
pub fn literal(value: &Field, type_hint: Option<&str>) -> Result<String, ApiError> {
    let hinted = |s: &str| -> Result<String, ApiError> {
        match type_hint {
            None | Some("JSON") | Some("UUID") => Ok(quote(s)),
            Some("DECIMAL") => {
                if is_decimal(s) {
                    Ok(s.to_string())
                } else {
                    Err(ApiError::BadRequest(format!("Invalid DECIMAL value: {s}")))
                }
            }
            Some(kind @ ("DATE" | "TIME" | "TIMESTAMP")) => {
                if is_temporal(kind, s) {
                    Ok(format!("{kind} {}", quote(s)))
                } else {
                    Err(ApiError::BadRequest(format!(
                        "Invalid {kind} value: {s}. The accepted format is {}.",
                        match kind {
                            "DATE" => "YYYY-MM-DD",
                            "TIME" => "HH:MM:SS[.FFF]",
                            _ => "YYYY-MM-DD HH:MM:SS[.FFF]",
                        }
                    )))
                }
            }
            Some(other) => Err(ApiError::Validation(format!(
                "1 validation error detected: Value '{other}' at 'typeHint' failed to satisfy \
                 constraint: Member must satisfy enum value set: [JSON, UUID, TIMESTAMP, DATE, TIME, DECIMAL]"
            ))),
        }
    };
    match value {
        Field::IsNull(_) => Ok("NULL".into()),
        Field::BooleanValue(b) => Ok(if *b { "TRUE" } else { "FALSE" }.into()),
        Field::LongValue(n) => Ok(n.to_string()),
        Field::DoubleValue(d) if d.is_finite() => Ok(format!("{d:e}")),
        Field::DoubleValue(d) => Err(ApiError::BadRequest(format!("Invalid double value: {d}"))),
        Field::StringValue(s) => hinted(s),
        Field::BlobValue(b) => Ok(hex_literal(b)),
        Field::ArrayValue(_) => Err(ApiError::BadRequest("Array parameters are not supported.".into())),
    }
}

/// A string literal that means the same whatever `sql_mode` says about backslashes.
fn quote(s: &str) -> String {
    if s.bytes().any(|b| b == b'\\' || b < 0x20) {
        // `_utf8mb4 X'..'` needs no escaping at all.
        format!("_utf8mb4 {}", hex_literal(s.as_bytes()))
    } else {
        format!("'{}'", s.replace('\'', "''"))
    }
}

fn hex_literal(bytes: &[u8]) -> String {
    let mut s = String::with_capacity(bytes.len() * 2 + 3);
    s.push_str("X'");
    for b in bytes {
        s.push_str(&format!("{b:02X}"));
    }
    s.push('\'');
    s
}

fn is_decimal(s: &str) -> bool {
    let s = s.trim();
    let s = s.strip_prefix(['-', '+']).unwrap_or(s);
    let (mantissa, exponent) = match s.find(['e', 'E']) {
        Some(p) => (&s[..p], Some(&s[p + 1..])),
        None => (s, None),
    };
    let mut parts = mantissa.splitn(2, '.');
    let int = parts.next().unwrap_or("");
    let frac = parts.next().unwrap_or("");
    let digits = |t: &str| t.bytes().all(|b| b.is_ascii_digit());
    (!int.is_empty() || !frac.is_empty())
        && digits(int)
        && digits(frac)
        && exponent.is_none_or(|e| {
            let e = e.strip_prefix(['-', '+']).unwrap_or(e);
            !e.is_empty() && digits(e)
        })
}

fn is_temporal(kind: &str, s: &str) -> bool {
    let digits = |t: &str, n: usize| t.len() == n && t.bytes().all(|b| b.is_ascii_digit());
    let date = |t: &str| {
        let p: Vec<&str> = t.split('-').collect();
        p.len() == 3 && digits(p[0], 4) && digits(p[1], 2) && digits(p[2], 2)
    };
    let time = |t: &str| {
        let (hms, frac) = match t.split_once('.') {
            Some((a, f)) => (a, Some(f)),
            None => (t, None),
        };
        let p: Vec<&str> = hms.split(':').collect();
        p.len() == 3
            && p[0].len() >= 2
            && p[0].bytes().all(|b| b.is_ascii_digit())
            && digits(p[1], 2)
            && digits(p[2], 2)
            && frac.is_none_or(|f| !f.is_empty() && f.len() <= 9 && f.bytes().all(|b| b.is_ascii_digit()))
    };
    match kind {
        "DATE" => date(s),
        "TIME" => time(s),
        _ => s.split_once(' ').is_some_and(|(d, t)| date(d) && time(t)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn param(name: &str, value: Field, hint: Option<&str>) -> SqlParameter {
        SqlParameter { name: Some(name.into()), value: Some(value), type_hint: hint.map(Into::into) }
    }

    #[test]
    fn named_parameters_become_literals_outside_strings_and_comments() {
        let p = prepare(
            "SELECT :a, ':a', `:a`, @x := :b -- :a\n, /* :a */ :c",
            &[
                param("a", Field::StringValue("it's".into()), None),
                param("b", Field::LongValue(-3), None),
                param("c", Field::BlobValue(vec![0xAB]), None),
            ],
        )
        .expect("prepares");
        assert_eq!(p.sql, "SELECT 'it''s', ':a', `:a`, @x := -3 -- :a\n, /* :a */ X'AB'");
        assert!(!p.semicolon_inside);
    }

    #[test]
    fn a_missing_parameter_is_a_bad_request() {
        assert!(matches!(prepare("SELECT :nope", &[]), Err(ApiError::BadRequest(_))));
    }

    #[test]
    fn a_trailing_semicolon_is_dropped_and_more_sql_is_flagged() {
        assert_eq!(prepare("SELECT 1; -- done\n", &[]).expect("ok").sql, "SELECT 1");
        assert!(!prepare("SELECT 1;", &[]).expect("ok").semicolon_inside);
        assert!(prepare("SELECT 1; SELECT 2", &[]).expect("ok").semicolon_inside);
        assert!(!prepare("SELECT ';' ; ", &[]).expect("ok").semicolon_inside);
        assert!(prepare("CREATE PROCEDURE p() BEGIN SELECT 1; END", &[]).expect("ok").semicolon_inside);
    }

    #[test]
    fn type_hints_produce_typed_literals_and_reject_bad_formats() {
        let s = |v: &str| Field::StringValue(v.into());
        assert_eq!(literal(&s("2024-01-31"), Some("DATE")).expect("ok"), "DATE '2024-01-31'");
        assert_eq!(literal(&s("12:30:00.5"), Some("TIME")).expect("ok"), "TIME '12:30:00.5'");
        assert_eq!(
            literal(&s("2024-01-31 12:30:00"), Some("TIMESTAMP")).expect("ok"),
            "TIMESTAMP '2024-01-31 12:30:00'"
        );
        assert_eq!(literal(&s("-12.50"), Some("DECIMAL")).expect("ok"), "-12.50");
        assert!(literal(&s("1; DROP TABLE t"), Some("DECIMAL")).is_err());
        assert!(literal(&s("31/01/2024"), Some("DATE")).is_err());
        assert_eq!(literal(&s("a\\b"), None).expect("ok"), "_utf8mb4 X'615C62'");
        assert_eq!(literal(&Field::DoubleValue(1.5), None).expect("ok"), "1.5e0");
    }
}
