//! The mysql client's own commands as the splitter meets them: `DELIMITER` and its argument,
//! `USE` and its argument (`get_arg` in mysql.cc), and the commands that cannot run through the Data
//! API.

use super::{SplitErrorKind, StatementKind};
use crate::sql::lex::is_space;

/// Client commands, with whether they take arguments (mysql.cc `commands[]`). A statement whose first
/// word is one of these is run by the client itself and never reaches the server.
pub(super) const CLIENT_COMMANDS: &[(&str, bool)] = &[
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

/// One-letter client commands other than `\g`, `\G`, `\c`, `\N` (mysql.cc `commands[]`): they act on
/// the client, so a script that uses them outside quotes cannot run through the Data API. (`\-`, the
/// `sandbox` command mariadb-dump writes at the top of its dumps, only drops out of the text sent.)
pub(super) const SHORT_COMMANDS: &[u8] = b"?rdeqhntPpR#.s!TuCWw";

/// If `line` is a `DELIMITER x` command, the new delimiter (mysql.cc `com_delimiter` + `get_arg`).
pub(super) fn delimiter_command(line: &str) -> Option<Result<String, String>> {
    let trimmed = line.trim_start_matches([' ', '\t']);
    let word_len = trimmed.find([' ', '\t']).unwrap_or(trimmed.len());
    if !trimmed[..word_len].eq_ignore_ascii_case("delimiter") {
        return None;
    }
    // The client skips any white space before the argument (`my_isspace`: also a CR, a vertical tab).
    let arg = trimmed[word_len..].trim_start_matches(|c: char| c.is_ascii() && is_space(c as u8));
    let parsed = match arg.chars().next() {
        None => Err("DELIMITER must be followed by a delimiter character or string".to_owned()),
        Some(q @ ('\'' | '"' | '`')) => match arg[1..].find(q) {
            Some(close) if close > 0 => Ok(arg[1..1 + close].to_owned()),
            _ => Err(format!("the quoted delimiter {arg} is empty or not closed")),
        },
        // Unquoted, the client's argument ends at a space only: a tab or a CR (one not part of the
        // line's CRLF end, which the client drops with the LF) stays in it.
        Some(_) => Ok(arg.split(' ').next().unwrap_or_default().to_owned()),
    };
    Some(parsed.and_then(|d| checked_delimiter(&d)))
}

/// A delimiter the client can match, or why not.
pub(super) fn checked_delimiter(d: &str) -> Result<String, String> {
    if d.is_empty() {
        Err("DELIMITER must be followed by a delimiter character or string".to_owned())
    } else if d.contains('\\') {
        Err("DELIMITER cannot contain a backslash".to_owned())
    } else if d.contains(|c: char| c.is_ascii_control()) {
        Err(format!(
            "the delimiter {d:?} holds a tab or another control character, which the mysql client keeps \
             in it: end the delimiter with a space or the line end"
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
pub(super) fn client_command(
    chunk: &str,
    at: usize,
) -> Result<Option<StatementKind>, (usize, SplitErrorKind)> {
    if chunk.len() > 4 && chunk.as_bytes()[..4].eq_ignore_ascii_case(b"use`") {
        // No command for the client (no space after USE), but the server's USE all the same.
        return use_database(&chunk[3..], at);
    }
    let word_len = chunk.find(|c: char| c.is_ascii_whitespace() || c == ';').unwrap_or(chunk.len());
    let word = &chunk[..word_len];
    // The argument keeps trailing white space other than spaces (`use db<TAB>;` names `db<TAB>`).
    let rest = chunk[word_len..].trim_start().trim_end_matches(' ');
    let Some(&(name, takes_args)) = CLIENT_COMMANDS.iter().find(|(n, _)| n.eq_ignore_ascii_case(word)) else {
        return Ok(None);
    };
    if !takes_args && !rest.trim().is_empty() {
        return Ok(None);
    }
    if name != "use" {
        return Err((at, SplitErrorKind::ClientCommand(chunk.trim_end().chars().take(60).collect())));
    }
    use_database(rest, at)
}

/// `Use` for the argument of a USE, or an error when text follows it.
pub(super) fn use_database(rest: &str, at: usize) -> Result<Option<StatementKind>, (usize, SplitErrorKind)> {
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

/// The database the server reads from `rest` (the text after `USE` in SQL it runs): letters,
/// digits, `_`, `$` and non-ASCII characters, or a name in backticks (a doubled backtick stands
/// for one), with nothing but white space around it and trailing `;` (which the server drops from
/// the end of every query). `None` when it reads no name there and refuses the statement.
pub(super) fn server_database(rest: &str) -> Option<String> {
    let rest = rest
        .trim_start_matches(|c: char| c.is_ascii() && is_space(c as u8))
        .trim_end_matches(|c: char| c == ';' || (c.is_ascii() && is_space(c as u8)));
    let bytes = rest.as_bytes();
    match bytes.first() {
        None => None,
        Some(b'`') => {
            let mut i = 1;
            while i < bytes.len() {
                match (bytes[i], bytes.get(i + 1)) {
                    (b'`', Some(b'`')) => i += 2,
                    (b'`', _) if i + 1 == bytes.len() => return Some(rest[1..i].replace("``", "`")),
                    (b'`', _) => return None,
                    _ => i += 1,
                }
            }
            None
        }
        Some(_) => bytes
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'$') || c >= 0x80)
            .then(|| rest.to_owned()),
    }
}

/// `Use` for the text after a USE that reaches the server as SQL (`/*!*/USE db`): one name as the
/// server reads it (see [`server_database`]), or an error when text follows it (the server refuses
/// such a statement).
pub(super) fn server_use(rest: &str, at: usize) -> Result<Option<StatementKind>, (usize, SplitErrorKind)> {
    let bytes = rest.as_bytes();
    let len = if bytes.first() == Some(&b'`') {
        let mut i = 1;
        loop {
            match (bytes.get(i), bytes.get(i + 1)) {
                (Some(b'`'), Some(b'`')) => i += 2,
                (Some(b'`'), _) => break i + 1,
                (Some(_), _) => i += 1,
                (None, _) => break bytes.len(),
            }
        }
    } else {
        let name = |c: &u8| c.is_ascii_alphanumeric() || matches!(c, b'_' | b'$') || *c >= 0x80;
        bytes.iter().position(|c| !name(c)).unwrap_or(bytes.len())
    };
    let Some(database) = server_database(&rest[..len]) else {
        return use_database(rest, at);
    };
    let after = strip_comments(&rest[len..]);
    if !after.is_empty() {
        return Err((at, SplitErrorKind::TextAfterUse(after.chars().take(40).collect())));
    }
    Ok(Some(StatementKind::Use { database }))
}

/// The client's first-argument rule (`get_arg`): quoted with ' " or ` (a doubled quote stands for
/// one), or up to a space (a tab or a line break stays in it); a backslash takes the next character
/// as it is.
pub(super) fn client_argument(rest: &str) -> (String, &str) {
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
            (' ', None) => return (out, &body[i..]),
            (c, _) => out.push(c),
        }
    }
    if quote.is_some() {
        return (String::new(), "");
    }
    (out, "")
}

/// `text` without `#`, `-- ` and `/* */` comments at its start, trimmed.
pub(super) fn strip_comments(mut text: &str) -> &str {
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
