//! Fleets in the function: which databases a command or an event runs on ([`choose`]), and the
//! custom resource's answer for a fleet ([`summary`], [`data`]): counts and the first databases that
//! are not ok by name, cut to a budget with a count of the rest, so that the answer stays within
//! CloudFormation's 4096 bytes whatever the fleet's size. The full report goes to the log.
//!
//! Where the fleet comes from:
//! - a custom-resource event: the function's environment ([`names::ENV_DATABASES`] or
//!   [`names::ENV_DATABASE_PATTERN`], and [`names::ENV_PARALLEL`]);
//! - a manual `migrate`, `status` or `validate`: its own `databases` (a list) or `database_pattern`
//!   fields, and `parallel`; without them the environment's fleet, unless the command names a
//!   `database` (then that one database). `repair` and `baseline` always act on one database.

use std::collections::BTreeMap;

use crate::apply::fleet::{FleetEntry, FleetReport, Outcome};
use crate::lambda::error::InvokeError;
use crate::lambda::events::{shorten, Command};
use crate::lambda::settings::{FleetChoice, Settings};
use crate::names;
use crate::scripts::source::Version;

/// The longest Reason a fleet answer carries, in bytes of JSON (the rest of the answer, IDs and
/// `Data`, takes well under the remaining 1 KiB of CloudFormation's 4096).
pub const REASON_BUDGET: usize = 2800;
/// The longest problem quoted for one database, in characters.
const PROBLEM_CHARS: usize = 200;

/// The fleet `command` runs on, `None` for one database.
pub fn choose(command: &Command, settings: &Settings) -> Result<Option<FleetChoice>, InvokeError> {
    let invalid = |why: String| InvokeError::InvalidPayload(format!("invalid command: {why}"));
    // `repair` and `baseline` act on one database, whatever the environment's fleet.
    let Some((list, pattern, parallel)) = command.fleet_fields() else { return Ok(None) };
    if command.database().is_some() && (list.is_some() || pattern.is_some()) {
        return Err(invalid(
            "\"database\" names one database, \"databases\" and \"database_pattern\" a fleet: give one of them"
                .into(),
        ));
    }
    if list.is_some() || pattern.is_some() {
        let parallel = match parallel {
            Some(n) => n,
            None => settings.parallel().map_err(InvokeError::Setup)?,
        };
        return FleetChoice::new(list.map(<[String]>::to_vec), pattern.map(str::to_owned), parallel)
            .map_err(invalid);
    }
    if command.database().is_some() {
        return match parallel {
            Some(_) => Err(invalid("\"parallel\" applies to a fleet, not to one \"database\"".into())),
            None => Ok(None),
        };
    }
    let from_env = settings.fleet().map_err(InvokeError::Setup)?;
    match (from_env, parallel) {
        (Some(choice), Some(n)) => FleetChoice::new_parallel(choice, n).map(Some).map_err(invalid),
        (None, Some(_)) => Err(invalid(format!(
            "\"parallel\" applies to a fleet: add \"databases\" or \"database_pattern\" (the function's \
             environment sets neither {} nor {})",
            names::ENV_DATABASES,
            names::ENV_DATABASE_PATTERN
        ))),
        (choice, None) => Ok(choice),
    }
}

/// The Reason of a fleet answer: what ran, the counts, and the databases that are not ok with their
/// first problem, as many as fit in [`REASON_BUDGET`], then how many more there are.
pub fn summary(report: &FleetReport) -> String {
    let mut head = report.counts();
    if let Some(problem) = report.problems.first() {
        head.push_str(&format!("; {}", shorten(problem, PROBLEM_CHARS)));
    }
    let failures: Vec<&FleetEntry> = report.failures().collect();
    if failures.is_empty() {
        return head;
    }
    let mut text = format!("{head}; not ok: ");
    let json_len = |t: &str| serde_json::to_string(t).map(|j| j.len()).unwrap_or(usize::MAX);
    for (i, entry) in failures.iter().enumerate() {
        let item = format!("{}{}", if i == 0 { "" } else { "; " }, describe(entry));
        let left = failures.len() - i - 1;
        let tail = if left == 0 { String::new() } else { rest(left) };
        if json_len(&format!("{text}{item}{tail}")) > REASON_BUDGET {
            let rest = rest(failures.len() - i);
            // The first one always goes in, shortened if need be.
            if i == 0 {
                let room = REASON_BUDGET.saturating_sub(json_len(&text) + json_len(&rest));
                text.push_str(&shorten(&item, room / 2));
            }
            text.push_str(&rest);
            return text;
        }
        text.push_str(&item);
    }
    text
}

fn rest(count: usize) -> String {
    format!("; and {count} more not ok (the function's log holds the full report)")
}

fn describe(entry: &FleetEntry) -> String {
    let outcome = match entry.outcome {
        Outcome::Ok => "ok",
        Outcome::Failed => "failed",
        Outcome::Locked => "locked",
        Outcome::Error => "error",
        Outcome::NotStarted => "not started",
    };
    match entry.problems.first() {
        Some(problem) => format!("{} ({outcome}): {}", entry.database, shorten(problem, PROBLEM_CHARS)),
        None => format!("{} ({outcome})", entry.database),
    }
}

/// `Data` of a fleet answer: migrations applied now over all databases, the lowest current version
/// (every database is at least there; empty when one has none), the number of databases and of
/// those not ok, the content hash.
pub fn data(report: &FleetReport) -> BTreeMap<String, String> {
    let versions: Vec<Option<Version>> =
        report.databases.iter().map(|d| d.current_version.as_deref().and_then(Version::parse)).collect();
    let lowest = if versions.iter().any(Option::is_none) {
        String::new()
    } else {
        versions.into_iter().flatten().min().map(|v| v.to_string()).unwrap_or_default()
    };
    let s = &report.summary;
    [
        (names::DATA_CURRENT_VERSION.to_owned(), lowest),
        (names::DATA_APPLIED.to_owned(), s.applied.to_string()),
        (names::DATA_DATABASES.to_owned(), s.databases.to_string()),
        (names::DATA_NOT_OK.to_owned(), (s.databases - s.ok).to_string()),
        (names::DATA_CONTENT_HASH.to_owned(), report.content_hash.clone()),
    ]
    .into()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::apply::fleet::FleetSummary;
    use crate::lambda::events::{classify, CustomResourceResponse, Payload, Status, MAX_RESPONSE_BYTES};
    use serde_json::json;

    fn entry(database: &str, outcome: Outcome, version: Option<&str>, problem: Option<String>) -> FleetEntry {
        FleetEntry {
            database: database.into(),
            outcome,
            applied: usize::from(outcome == Outcome::Ok),
            current_version: version.map(str::to_owned),
            problems: problem.into_iter().collect(),
            ms: 5,
            report: None,
        }
    }

    fn report(entries: Vec<FleetEntry>) -> FleetReport {
        let count = |outcome: Outcome| entries.iter().filter(|e| e.outcome == outcome).count();
        let summary = FleetSummary {
            databases: entries.len(),
            ok: count(Outcome::Ok),
            failed: count(Outcome::Failed),
            locked: count(Outcome::Locked),
            error: count(Outcome::Error),
            not_started: count(Outcome::NotStarted),
            applied: entries.iter().map(|e| e.applied).sum(),
        };
        FleetReport {
            command: "migrate".into(),
            selection: "databases like 'tenant_%'".into(),
            parallel: 8,
            content_hash: "sha256:aa".into(),
            ok: summary.ok == summary.databases,
            summary,
            databases: entries,
            problems: Vec::new(),
        }
    }

    fn answer_with(reason: String, data: BTreeMap<String, String>) -> Vec<u8> {
        let request = json!({
            "RequestType": "Create",
            "ResponseURL": "https://example.com/x",
            "StackId": format!("arn:aws:cloudformation:eu-west-1:123456789012:stack/{}/abc", "s".repeat(120)),
            "RequestId": "5d478078-13e9-baf0-464a-7ef285ecc786",
            "LogicalResourceId": "MigrationsResourceWithALongLogicalIdForTheWorstCase",
            "ResourceProperties": {}
        });
        let Payload::CustomResource(r) = classify(&request) else { panic!("not a custom resource") };
        let mut answer = CustomResourceResponse::to(&r, Status::Failed).because(reason);
        answer.data = data;
        answer.body()
    }

    #[test]
    fn hundreds_of_failing_databases_are_named_first_and_counted_within_4096_bytes() {
        let problem = |i: usize| {
            format!("V3__add_index.sql:12: migration 3 failed at statement 2 of 4: Duplicate key name 'ix_{i}' \"q\"")
        };
        let mut entries: Vec<FleetEntry> =
            (0..200).map(|i| entry(&format!("tenant_{i:04}"), Outcome::Ok, Some("10"), None)).collect();
        entries.extend(
            (200..700)
                .map(|i| entry(&format!("tenant_{i:04}"), Outcome::Failed, Some("2"), Some(problem(i)))),
        );
        entries.push(entry("tenant_locked", Outcome::Locked, None, Some("held by another run".into())));
        let r = report(entries);
        let reason = summary(&r);
        assert!(
            reason.starts_with(
                "migrate over databases like 'tenant_%' (8 at once): 701 database(s): 200 ok, 500 failed, 1 \
                 locked, 0 error; 200 migration(s) applied now; not ok: tenant_0200 (failed): V3__add_index.sql:12"
            ),
            "{reason}"
        );
        let named = (200..700).filter(|i| reason.contains(&format!("tenant_{i:04} (failed)"))).count();
        assert!(named >= 10, "only {named} named: {reason}");
        // The named ones are the first ones, in report order, and the rest is counted exactly.
        assert!((200..200 + named).all(|i| reason.contains(&format!("tenant_{i:04} "))));
        assert!(reason.ends_with(&format!(
            "; and {} more not ok (the function's log holds the full report)",
            501 - named
        )));
        assert!(serde_json::to_string(&reason).expect("json").len() <= REASON_BUDGET);
        let body = answer_with(format!("aurora-migrate: {reason}"), data(&r));
        assert!(body.len() <= MAX_RESPONSE_BYTES, "{} bytes", body.len());
        let parsed: Value = serde_json::from_slice(&body).expect("JSON");
        assert_eq!(parsed["Reason"], format!("aurora-migrate: {reason}"), "the reason was cut again");
        assert_eq!(parsed["Data"]["Databases"], "701");
        assert_eq!(parsed["Data"]["NotOk"], "501");
        assert_eq!(parsed["Data"]["CurrentVersion"], "", "a database without any version");
    }

    #[test]
    fn one_huge_problem_is_shortened_and_a_few_failures_are_all_named() {
        let r = report(vec![
            entry("a", Outcome::Failed, Some("1"), Some(format!("V2__x.sql:1: {}", "x".repeat(50_000)))),
            entry("b", Outcome::Error, Some("1"), Some("listing: boom".into())),
            entry("c", Outcome::Ok, Some("2"), None),
        ]);
        let reason = summary(&r);
        assert!(reason.contains("a (failed): V2__x.sql:1: xxx"), "{reason}");
        assert!(reason.contains("; b (error): listing: boom"), "{reason}");
        assert!(!reason.contains("more not ok"), "{reason}");
        assert!(reason.len() < 600, "{reason}");
        assert_eq!(data(&r)[names::DATA_CURRENT_VERSION], "1");
    }

    #[test]
    fn an_ok_fleet_is_summarised_by_counts_and_its_lowest_version() {
        let r = report(vec![
            entry("t1", Outcome::Ok, Some("10"), None),
            entry("t2", Outcome::Ok, Some("9"), None),
            entry("t3", Outcome::Ok, Some("1.5"), None),
        ]);
        assert_eq!(
            summary(&r),
            "migrate over databases like 'tenant_%' (8 at once): 3 database(s): 3 ok, 0 failed, 0 locked, 0 \
             error; 3 migration(s) applied now"
        );
        let d = data(&r);
        assert_eq!((d["CurrentVersion"].as_str(), d["Applied"].as_str()), ("1.5", "3"));
        assert_eq!((d["Databases"].as_str(), d["NotOk"].as_str()), ("3", "0"));
    }

    #[test]
    fn a_problem_of_the_whole_fleet_is_in_the_summary_once() {
        let mut r = report(vec![entry("t1", Outcome::Ok, Some("1"), None)]);
        r.problems.push("scripts: V2__b.sql:3: unterminated string".into());
        let text = summary(&r);
        assert!(text.ends_with("; scripts: V2__b.sql:3: unterminated string"), "{text}");
        assert_eq!(text.matches("unterminated").count(), 1, "{text}");
    }

    fn settings(env: &[(&str, &str)]) -> Settings {
        let env: Vec<(String, String)> = env.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect();
        Settings::from_lookup(move |name| env.iter().find(|(k, _)| k == name).map(|(_, v)| v.clone()))
    }

    fn command(v: Value) -> Command {
        serde_json::from_value(v).expect("a command")
    }

    use crate::apply::Selection;
    use serde_json::Value;

    #[test]
    fn a_commands_own_fields_win_over_the_environment_and_a_database_means_one() {
        let env =
            settings(&[("AURORA_MIGRATE_DATABASE_PATTERN", "tenant_%"), ("AURORA_MIGRATE_PARALLEL", "4")]);
        let pick = |v: Value| choose(&command(v), &env);
        let pattern = |p: &str, n| Some(FleetChoice { selection: Selection::Pattern(p.into()), parallel: n });
        assert_eq!(pick(json!({"command": "migrate"})), Ok(pattern("tenant_%", 4)));
        assert_eq!(pick(json!({"command": "status", "parallel": 2})), Ok(pattern("tenant_%", 2)));
        assert_eq!(
            pick(json!({"command": "validate", "database_pattern": "eu\\_%"})),
            Ok(pattern("eu\\_%", 4))
        );
        assert_eq!(
            pick(json!({"command": "migrate", "databases": ["b", "a"], "parallel": 16})),
            Ok(Some(FleetChoice { selection: Selection::List(vec!["b".into(), "a".into()]), parallel: 16 }))
        );
        assert_eq!(pick(json!({"command": "migrate", "database": "shop"})), Ok(None));
        assert_eq!(pick(json!({"command": "repair"})), Ok(None));
        assert_eq!(choose(&command(json!({"command": "migrate"})), &settings(&[])), Ok(None));
    }

    #[test]
    fn contradictory_or_out_of_range_fleet_fields_are_errors_naming_the_field() {
        let env = settings(&[]);
        let cases = [
            (json!({"command": "migrate", "databases": ["a"], "database_pattern": "t%"}), "not both"),
            (json!({"command": "migrate", "database": "a", "databases": ["b"]}), "\"database\""),
            (json!({"command": "migrate", "databases": []}), "empty"),
            (
                json!({"command": "migrate", "databases": ["a"], "parallel": 0}),
                "parallel must be from 1 to 1024",
            ),
            (json!({"command": "status", "database_pattern": "t\\"}), "lone backslash"),
            (json!({"command": "status", "database_pattern": ""}), "pattern is empty"),
            (json!({"command": "migrate", "parallel": 3}), "add \"databases\" or \"database_pattern\""),
            (json!({"command": "migrate", "database": "a", "parallel": 3}), "not to one \"database\""),
        ];
        for (payload, named) in cases {
            match choose(&command(payload.clone()), &env) {
                Err(InvokeError::InvalidPayload(m)) => assert!(m.contains(named), "{payload}: {m}"),
                other => panic!("{payload}: {other:?}"),
            }
        }
        for (env, named) in [
            (settings(&[("AURORA_MIGRATE_PARALLEL", "0")]), "AURORA_MIGRATE_PARALLEL=\"0\""),
            (
                settings(&[("AURORA_MIGRATE_DATABASES", "a"), ("AURORA_MIGRATE_DATABASE_PATTERN", "t%")]),
                "not both",
            ),
        ] {
            match choose(&command(json!({"command": "migrate"})), &env) {
                Err(InvokeError::Setup(m)) => assert!(m.contains(named), "{m}"),
                other => panic!("{other:?}"),
            }
        }
    }

    #[test]
    fn fleet_fields_are_refused_on_commands_without_a_fleet() {
        for payload in [
            json!({"command": "repair", "databases": ["a"]}),
            json!({"command": "baseline", "version": "1", "parallel": 2}),
        ] {
            assert!(
                matches!(classify(&payload), Payload::Invalid(m) if m.contains("unknown field")),
                "{payload}"
            );
        }
    }
}
