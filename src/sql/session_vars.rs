//! What a `SET` statement assigns: the session and user variables it changes, as expressions that
//! read them back. Text only; the runner's session carry-over (`apply::session`) decides what to do
//! with them.

use crate::sql::lex::quoted_end;

/// The variables a session `SET` assigns, as expressions that read them back (`@@SESSION.x`,
/// `` @`x` ``). `None` when the statement is not a `SET` this module understands.
pub fn assigned(text: &str) -> Option<Vec<String>> {
    let body = strip_version_comment(text.trim());
    let rest = strip_word(body, "SET")?;
    let mut out = Vec::new();
    for assignment in top_level_split(rest, b',') {
        let a = assignment.trim();
        if let Some(after) = strip_word(a, "NAMES")
            .or_else(|| strip_word(a, "CHARSET"))
            .or_else(|| strip_word(a, "CHARACTER").and_then(|r| strip_word(r, "SET")))
        {
            let _ = after;
            for name in [
                "character_set_client",
                "character_set_results",
                "character_set_connection",
                "collation_connection",
            ] {
                push_unique(&mut out, format!("@@SESSION.{name}"));
            }
            continue;
        }
        let target_end = a.find([':', '=']).unwrap_or(a.len());
        let target = a[..target_end].trim();
        if target_end == a.len() {
            return None;
        }
        push_unique(&mut out, target_expression(target)?);
    }
    (!out.is_empty()).then_some(out)
}

pub(crate) fn push_unique(out: &mut Vec<String>, target: String) {
    if !out.contains(&target) {
        out.push(target);
    }
}

/// `@x`, `` @`x` ``, `@'x'` -> `` @`x` ``; `x`, `SESSION x`, `LOCAL x`, `@@x`, `@@SESSION.x`,
/// `@@LOCAL.x` -> `@@SESSION.x`; globals and anything else -> `None`.
fn target_expression(target: &str) -> Option<String> {
    if let Some(user) = target.strip_prefix('@').filter(|t| !t.starts_with('@')) {
        let name = user.trim_matches(|c| c == '`' || c == '\'' || c == '"');
        return (!name.is_empty()).then(|| format!("@`{}`", name.replace('`', "``")));
    }
    let upper = target.to_ascii_uppercase();
    let name = if let Some(system) = target.strip_prefix("@@") {
        let upper = upper[2..].to_owned();
        if upper.starts_with("GLOBAL.") {
            return None;
        }
        match upper.split_once('.') {
            Some(("SESSION" | "LOCAL", _)) => &system[system.find('.')? + 1..],
            Some(_) => return None,
            None => system,
        }
    } else if let Some(name) = strip_word(target, "SESSION").or_else(|| strip_word(target, "LOCAL")) {
        name
    } else if strip_word(target, "GLOBAL").is_some() || strip_word(target, "PERSIST").is_some() {
        return None;
    } else {
        target
    };
    let name = name.trim();
    valid_name(name).then(|| format!("@@SESSION.{name}"))
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'$' || b == b'.')
}

/// `word` at the start of `text` (case-insensitive, then white space or end): the rest.
fn strip_word<'a>(text: &'a str, word: &str) -> Option<&'a str> {
    let head = text.get(..word.len())?;
    let next = text.as_bytes().get(word.len());
    (head.eq_ignore_ascii_case(word) && next.is_none_or(|c| c.is_ascii_whitespace()))
        .then(|| text[word.len()..].trim_start())
}

/// `/*!40101 SET x = 1 */` -> `SET x = 1`.
fn strip_version_comment(text: &str) -> &str {
    let Some(inner) = text.strip_prefix("/*!").or_else(|| text.strip_prefix("/*M!")) else { return text };
    let Some(inner) = inner.strip_suffix("*/") else { return text };
    inner.trim_start_matches(|c: char| c.is_ascii_digit()).trim()
}

/// Splits at `sep` outside quotes and parentheses.
fn top_level_split(text: &str, sep: u8) -> Vec<&str> {
    let bytes = text.as_bytes();
    let (mut out, mut start, mut depth, mut p) = (Vec::new(), 0, 0usize, 0);
    while p < bytes.len() {
        match bytes[p] {
            b'\'' | b'"' | b'`' => {
                p = quoted_end(bytes, p).unwrap_or(bytes.len());
                continue;
            }
            b'(' => depth += 1,
            b')' => depth = depth.saturating_sub(1),
            c if c == sep && depth == 0 => {
                out.push(&text[start..p]);
                start = p + 1;
            }
            _ => {}
        }
        p += 1;
    }
    out.push(&text[start..]);
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn assigned_variables_are_read_from_set_statements() {
        let cases: &[(&str, Option<&[&str]>)] = &[
            ("SET foreign_key_checks = 0", Some(&["@@SESSION.foreign_key_checks"])),
            (
                "SET @OLD_UNIQUE_CHECKS=@@UNIQUE_CHECKS, UNIQUE_CHECKS=0",
                Some(&["@`OLD_UNIQUE_CHECKS`", "@@SESSION.UNIQUE_CHECKS"]),
            ),
            ("/*!40101 SET @saved_cs_client     = @@character_set_client */", Some(&["@`saved_cs_client`"])),
            (
                "SET SESSION sql_mode = 'A,B', @@LOCAL.time_zone := '+00:00'",
                Some(&["@@SESSION.sql_mode", "@@SESSION.time_zone"]),
            ),
            (
                "/*!40101 SET NAMES utf8mb4 */",
                Some(&[
                    "@@SESSION.character_set_client",
                    "@@SESSION.character_set_results",
                    "@@SESSION.character_set_connection",
                    "@@SESSION.collation_connection",
                ]),
            ),
            ("SET @x = CONCAT('a,b', (SELECT 1)), @`y z` = 2", Some(&["@`x`", "@`y z`"])),
            ("SET GLOBAL max_connections = 10", None),
            ("SET @@GLOBAL.x = 1", None),
            ("SET TRANSACTION ISOLATION LEVEL READ COMMITTED", None),
            ("SELECT 1", None),
        ];
        for (sql, want) in cases {
            let got = assigned(sql);
            assert_eq!(
                got.as_deref(),
                want.map(|w| w.iter().map(|s| s.to_string()).collect::<Vec<_>>()).as_deref(),
                "{sql}"
            );
        }
    }
}
