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
use crate::sql::session_vars::{assigned, push_unique};

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
