//! Session state across Data API calls.
//!
//! A script's `SET` statements (`SET foreign_key_checks = 0`, `SET NAMES utf8mb4`,
//! `SET @saved = @@character_set_client`) change the connection they run on, and each segment of a
//! migration may run on another connection. So the runner carries the state over: after a segment
//! that ran such statements it reads back the values of every variable they assigned (in the same
//! transaction), and starts each later segment with one `SET` that assigns those values. That costs
//! one call per segment whatever the number of `SET`s met so far (mysqldump files have hundreds),
//! and is exact: the values are the ones the server computed, not a replay of expressions.
//!
//! A `SET` this module cannot read (or one assigning a global variable) is replayed as written.

use crate::apply::executor::Value;
use crate::sql::split::quoted_end;

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

fn push_unique(out: &mut Vec<String>, target: String) {
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

/// A value read back, as a SQL literal.
pub fn literal(value: &Value) -> String {
    match value {
        Value::Null => "NULL".into(),
        Value::Bool(b) => u8::from(*b).to_string(),
        Value::Long(v) => v.to_string(),
        Value::Double(v) => format!("{v:?}"),
        Value::Text(t) => format!("'{}'", t.replace('\\', "\\\\").replace('\'', "''")),
        Value::Blob(b) => format!("X'{}'", b.iter().map(|x| format!("{x:02X}")).collect::<String>()),
    }
}

/// The session state of a migration: captured values, and statements still replayed as written.
#[derive(Debug, Clone, Default)]
pub struct Session {
    /// `(target, literal)` in first-assignment order.
    values: Vec<(String, String)>,
    /// Statements replayed as written (not yet read back, or not understood).
    raw: Vec<(String, Option<Vec<String>>)>,
}

impl Session {
    /// Notes a session statement that ran (or will run before the next capture).
    pub fn ran(&mut self, sent: &str) {
        self.raw.push((sent.to_owned(), assigned(sent)));
    }

    /// The statements that restore the state at the start of a segment.
    pub fn replay(&self) -> Vec<String> {
        let mut out = Vec::new();
        if !self.values.is_empty() {
            let assignments: Vec<String> = self.values.iter().map(|(t, v)| format!("{t} = {v}")).collect();
            out.push(format!("SET {}", assignments.join(", ")));
        }
        out.extend(self.raw.iter().map(|(sql, _)| sql.clone()));
        out
    }

    /// The variables to read back after a segment that also ran `segment` session statements.
    pub fn to_capture<'a>(&self, segment: impl IntoIterator<Item = &'a str>) -> Vec<String> {
        let mut targets = Vec::new();
        let understood = self.raw.iter().filter_map(|(_, t)| t.clone()).flatten();
        let mine = segment.into_iter().filter_map(assigned).flatten();
        for t in understood.chain(mine) {
            push_unique(&mut targets, t);
        }
        targets
    }

    /// Records values read back for `targets`, after a segment that ran `segment` session
    /// statements; understood statements are no longer replayed as written.
    pub fn captured<'a>(
        &mut self,
        targets: &[String],
        values: &[Value],
        segment: impl IntoIterator<Item = &'a str>,
    ) {
        for (target, value) in targets.iter().zip(values) {
            let literal = literal(value);
            match self.values.iter_mut().find(|(t, _)| t == target) {
                Some(slot) => slot.1 = literal,
                None => self.values.push((target.clone(), literal)),
            }
        }
        self.raw.retain(|(_, t)| t.is_none());
        for sent in segment {
            if assigned(sent).is_none() {
                self.raw.push((sent.to_owned(), None));
            }
        }
    }

    /// Adds statements from a segment that was not read back (kept as written).
    pub fn append_unread<'a>(&mut self, segment: impl IntoIterator<Item = &'a str>) {
        for sent in segment {
            self.ran(sent);
        }
    }
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

    #[test]
    fn literals_round_trip_the_values_the_server_returned() {
        assert_eq!(literal(&Value::Null), "NULL");
        assert_eq!(literal(&Value::Long(-3)), "-3");
        assert_eq!(literal(&Value::Text("it's a\\b".into())), "'it''s a\\\\b'");
        assert_eq!(literal(&Value::Blob(vec![0xAB, 1])), "X'AB01'");
    }

    #[test]
    fn replay_is_one_set_of_captured_values_plus_what_was_not_understood() {
        let mut s = Session::default();
        s.ran("SET @saved = @@character_set_client");
        s.ran("SET GLOBAL x = 1");
        assert_eq!(s.replay(), ["SET @saved = @@character_set_client", "SET GLOBAL x = 1"]);
        let targets = s.to_capture(["SET foreign_key_checks = 0"]);
        assert_eq!(targets, ["@`saved`", "@@SESSION.foreign_key_checks"]);
        s.captured(
            &targets,
            &[Value::Text("utf8mb4".into()), Value::Long(0)],
            ["SET foreign_key_checks = 0"],
        );
        assert_eq!(
            s.replay(),
            ["SET @`saved` = 'utf8mb4', @@SESSION.foreign_key_checks = 0", "SET GLOBAL x = 1"]
        );
        // A later capture updates values in place: the replay stays one statement.
        s.captured(
            &["@@SESSION.foreign_key_checks".to_owned()],
            &[Value::Long(1)],
            ["SET foreign_key_checks = 1"],
        );
        assert_eq!(s.replay()[0], "SET @`saved` = 'utf8mb4', @@SESSION.foreign_key_checks = 1");
    }
}
