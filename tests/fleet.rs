//! Fleets against a real, throwaway MariaDB through the Data API emulator, with the official
//! `aws-sdk-rdsdata` client inside the real CLI binary: pattern and list selection, a tenant created
//! between two runs, one failing tenant among good ones, two fleet runs at once, and databases whose
//! turn comes after the deadline.

mod common;

use std::path::Path;
use std::process::{Command, Output};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aurora_migrate::discover;
use aurora_migrate::fleet::Outcome;
use aurora_migrate::names;
use aurora_migrate::{DataApi, Fleet, Operation, RunConfig, Selection};
use data_api_emulator::testing::{MariaDb, Options, TestEmulator};
use data_api_emulator::{FaultKind, FaultRule};

/// Migrations per tenant in [`Env::scripts`] (V1 creates the audit table, V2.. write to it).
const VERSIONS: usize = 4;

struct Env {
    db: MariaDb,
    emulator: TestEmulator,
    scripts: tempfile::TempDir,
}

impl Env {
    /// A server holding `databases`, and audited scripts: each statement of V2.. writes one audit
    /// row, so a statement applied twice shows as a duplicate row.
    fn start(databases: &[&str]) -> Env {
        let db = MariaDb::start().expect("throwaway MariaDB starts");
        let emulator = TestEmulator::start(&db, Options::default()).expect("emulator starts");
        let scripts = tempfile::tempdir().expect("tempdir");
        let write = |name: &str, body: &str| std::fs::write(scripts.path().join(name), body).expect("write");
        write(
            "V1__audit.sql",
            "CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, version INT NOT NULL, step INT NOT NULL);",
        );
        for v in 2..=VERSIONS {
            write(
                &format!("V{v}__step.sql"),
                &format!(
                    "INSERT INTO audit (version, step) VALUES ({v}, 1);\nCREATE TABLE t{v} (id INT);\n\
                     INSERT INTO audit (version, step) VALUES ({v}, 2);\nINSERT INTO t{v} VALUES ({v});\n"
                ),
            );
        }
        let env = Env { db, emulator, scripts };
        for d in databases {
            env.sql(&format!("CREATE DATABASE {d}"));
        }
        env
    }

    fn sql(&self, sql: &str) -> String {
        common::sql(&self.db, sql)
    }

    /// The CLI on the scripts folder: `command`, then `args`, then the folder.
    fn cli(&self, command: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_aurora-migrate"));
        cmd.arg(command).args(args).arg(self.scripts.path());
        common::connect_to(&mut cmd, &self.emulator, "unused_default");
        cmd.env_remove(names::ENV_DATABASES)
            .env_remove(names::ENV_DATABASE_PATTERN)
            .env_remove(names::ENV_PARALLEL);
        cmd
    }

    /// Asserts that `database` holds exactly the scripts' effects: every version applied once, every
    /// audit row once.
    fn assert_fully_applied(&self, database: &str) {
        assert_eq!(
            self.sql(&format!(
                "SELECT COUNT(*) FROM {database}.aurora_migrate_history WHERE success = 1 \
                 AND statements_applied = statements_total"
            )),
            VERSIONS.to_string(),
            "{database}: history"
        );
        assert_eq!(
            self.sql(&format!("SELECT COUNT(*) FROM {database}.audit")),
            (2 * (VERSIONS - 1)).to_string(),
            "{database}: audit rows"
        );
        assert_eq!(
            self.sql(&format!(
                "SELECT COUNT(*) FROM (SELECT version, step FROM {database}.audit GROUP BY version, step \
                 HAVING COUNT(*) > 1) d"
            )),
            "0",
            "{database}: a statement was applied twice"
        );
        assert_eq!(self.sql(&format!("SELECT COUNT(*) FROM {database}.t{VERSIONS}")), "1");
    }

    /// Tables of `database`.
    fn tables(&self, database: &str) -> String {
        self.sql(&format!("SELECT COUNT(*) FROM information_schema.tables WHERE table_schema = '{database}'"))
    }
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "{e}: stdout {} stderr {}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

/// `(database, outcome, applied)` of every database in a JSON fleet report.
fn outcomes(report: &serde_json::Value) -> Vec<(String, String, u64)> {
    report["databases"]
        .as_array()
        .expect("databases")
        .iter()
        .map(|d| {
            (
                d["database"].as_str().expect("name").to_owned(),
                d["outcome"].as_str().expect("outcome").to_owned(),
                d["applied"].as_u64().expect("applied"),
            )
        })
        .collect()
}

fn row(database: &str, outcome: &str, applied: usize) -> (String, String, u64) {
    (database.to_owned(), outcome.to_owned(), applied as u64)
}

#[test]
fn a_pattern_selects_matching_tenants_and_the_next_run_picks_up_a_new_one() {
    let env = Env::start(&["tenant_a", "tenant_b", "tenantxx", "other"]);
    let out =
        env.cli("migrate", &["--format", "json", "--database-pattern", "tenant\\_%"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let report = json(&out);
    assert_eq!(outcomes(&report), [row("tenant_a", "ok", VERSIONS), row("tenant_b", "ok", VERSIONS)]);
    env.assert_fully_applied("tenant_a");
    env.assert_fully_applied("tenant_b");
    // `_` escaped: tenantxx does not match; nor does anything else on the server.
    assert_eq!(env.tables("tenantxx"), "0");
    assert_eq!(env.tables("other"), "0");

    env.sql("CREATE DATABASE tenant_c");
    let out =
        env.cli("migrate", &["--format", "json", "--database-pattern", "tenant\\_%"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(
        outcomes(&json(&out)),
        [row("tenant_a", "ok", 0), row("tenant_b", "ok", 0), row("tenant_c", "ok", VERSIONS)]
    );
    for t in ["tenant_a", "tenant_b", "tenant_c"] {
        env.assert_fully_applied(t);
    }

    let out = env.cli("status", &["--database-pattern", "tenant\\_%"]).output().expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}");
    assert!(text.contains("3 database(s): 3 ok, 0 failed"), "{text}");
}

#[test]
fn a_list_from_the_environment_selects_exactly_the_named_databases() {
    let env = Env::start(&["alpha", "beta", "gamma"]);
    let out = env
        .cli("migrate", &["--format", "json"])
        .env(names::ENV_DATABASES, "gamma,alpha")
        .env(names::ENV_PARALLEL, "1")
        .output()
        .expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    let report = json(&out);
    assert_eq!(report["parallel"], 1);
    assert_eq!(outcomes(&report), [row("gamma", "ok", VERSIONS), row("alpha", "ok", VERSIONS)]);
    env.assert_fully_applied("alpha");
    env.assert_fully_applied("gamma");
    assert_eq!(env.tables("beta"), "0");
}

#[test]
fn one_failing_tenant_fails_alone_is_named_and_the_others_are_fully_applied() {
    let env = Env::start(&["tenant_a", "tenant_b", "tenant_c", "tenant_d"]);
    // tenant_b already has the table V3 creates: its V3 fails there, and nowhere else.
    env.sql("CREATE TABLE tenant_b.t3 (id INT)");
    let out =
        env.cli("migrate", &["--database-pattern", "tenant_%", "--parallel", "2"]).output().expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert!(text.contains("problem: tenant_b: "), "{text}");
    assert!(text.contains("V3__step.sql"), "{text}");
    assert!(text.contains("4 database(s): 3 ok, 1 failed"), "{text}");
    for t in ["tenant_a", "tenant_c", "tenant_d"] {
        env.assert_fully_applied(t);
    }
    // tenant_b: V1 and V2 applied, V3 stopped after its first statement, V4 not started.
    assert_eq!(
        env.sql(
            "SELECT version, statements_applied, statements_total, success FROM \
             tenant_b.aurora_migrate_history ORDER BY installed_at, version"
        ),
        "1\t1\t1\t1\n2\t4\t4\t1\n3\t1\t4\t0"
    );
    assert_eq!(env.sql("SELECT COUNT(*) FROM tenant_b.audit WHERE version = 4"), "0");

    let out =
        env.cli("validate", &["--format", "json", "--database-pattern", "tenant_%"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(1));
    let report = json(&out);
    assert_eq!(
        outcomes(&report),
        [
            row("tenant_a", "ok", 0),
            row("tenant_b", "failed", 0),
            row("tenant_c", "ok", 0),
            row("tenant_d", "ok", 0)
        ]
    );
    assert_eq!(report["summary"]["failed"], 1);
}

#[test]
fn two_fleet_runs_at_once_never_apply_anything_twice() {
    let tenants: Vec<String> = (1..=6).map(|i| format!("tenant_{i}")).collect();
    let env = Env::start(&tenants.iter().map(String::as_str).collect::<Vec<_>>());
    let runs: Vec<_> = (0..2)
        .map(|_| {
            env.cli("migrate", &["--format", "json", "--database-pattern", "tenant_%", "--parallel", "3"])
                .stdout(std::process::Stdio::piped())
                .stderr(std::process::Stdio::piped())
                .spawn()
                .expect("starts")
        })
        .collect();
    let mut applied = 0;
    for run in runs {
        let out = run.wait_with_output().expect("finishes");
        assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
        applied += json(&out)["summary"]["applied"].as_u64().expect("applied");
    }
    // Between them the two runs applied each migration of each tenant exactly once.
    assert_eq!(applied, (tenants.len() * VERSIONS) as u64);
    for t in &tenants {
        env.assert_fully_applied(t);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_library_fleet_reports_a_missing_listed_database_as_an_error_of_its_own() {
    let env = Env::start(&["one"]);
    let api = DataApi::local(&env.emulator.endpoint, &env.emulator.cluster_arn, &env.emulator.secret_arn);
    let fleet = Fleet::new(Arc::new(api), RunConfig::default(), 4).expect("fleet");
    let scripts = discover(env.scripts.path()).expect("scripts");
    let selection = Selection::List(vec!["one".into(), "missing".into()]);
    let report = fleet
        .run(
            &Operation::Migrate { dry_run: false },
            &selection,
            &scripts,
            Path::new(env.scripts.path()),
            Arc::new(|_| {}),
        )
        .await
        .expect("the fleet runs");
    assert!(!report.ok);
    assert_eq!(report.databases[0].outcome, Outcome::Ok);
    assert_eq!(report.databases[1].database, "missing");
    assert_ne!(report.databases[1].outcome, Outcome::Ok);
    assert!(report.databases[1].problems.iter().any(|p| p.contains("missing")), "{:?}", report.databases[1]);
    env.assert_fully_applied("one");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn databases_whose_turn_comes_after_the_deadline_are_not_started_and_the_next_run_takes_them() {
    let names = ["late_a", "late_b", "late_c"];
    let env = Env::start(&names);
    let scripts = discover(env.scripts.path()).expect("scripts");
    let selection = Selection::List(names.iter().map(|n| n.to_string()).collect());
    let run = |config: RunConfig| {
        let api = DataApi::local(&env.emulator.endpoint, &env.emulator.cluster_arn, &env.emulator.secret_arn);
        let fleet = Fleet::new(Arc::new(api), config, 1).expect("fleet");
        let (scripts, selection, dir) = (scripts.clone(), selection.clone(), env.scripts.path().to_owned());
        async move {
            let migrate = Operation::Migrate { dry_run: false };
            fleet.run(&migrate, &selection, &scripts, &dir, Arc::new(|_| {})).await.expect("the fleet runs")
        }
    };

    // A deadline already past: nothing is started, not one call is made.
    env.emulator.reset_counters().expect("counters reset");
    let report = run(RunConfig::default().until(Instant::now())).await;
    assert!(!report.ok);
    assert_eq!(report.summary.not_started, 3, "{report}");
    assert!(report.databases.iter().all(|d| d.outcome == Outcome::NotStarted && d.applied == 0), "{report}");
    assert_eq!(env.emulator.counters().expect("counters").values().sum::<u64>(), 0);
    assert!(report.to_string().contains("3 database(s): 0 ok, 0 failed, 0 locked, 0 error, 3 not started"));
    for d in names {
        assert_eq!(env.tables(d), "0", "{d} was left alone");
    }

    // One at a time, the first database's first call held past the deadline: the first was started
    // before the deadline (and stops at a statement boundary), the other two are not started.
    let held = FaultRule { fault: FaultKind::Delay, count: 1, delay_ms: 800, operations: None };
    env.emulator.inject_where(&held, "late_a").expect("injects");
    let report = run(RunConfig::default().until(Instant::now() + Duration::from_millis(300))).await;
    env.emulator.clear_faults().expect("clears");
    let outcomes: Vec<Outcome> = report.databases.iter().map(|d| d.outcome).collect();
    assert_ne!(outcomes[0], Outcome::NotStarted, "{report}");
    assert_eq!(outcomes[1..], [Outcome::NotStarted, Outcome::NotStarted], "{report}");
    assert_eq!(env.tables("late_b"), "0");

    // The next run, without a deadline, takes them all, each statement once.
    let report = run(RunConfig::default()).await;
    assert!(report.ok, "{report}");
    for d in names {
        env.assert_fully_applied(d);
    }
}

#[test]
fn the_cli_with_max_time_leaves_databases_whose_turn_comes_after_it_not_started_and_says_so() {
    let env = Env::start(&["late_x", "late_y", "late_z"]);
    // One at a time; the first database's first call is held past the 1-second limit.
    let held = FaultRule { fault: FaultKind::Delay, count: 1, delay_ms: 1500, operations: None };
    env.emulator.inject_where(&held, "late_x").expect("injects");
    let args = ["--format", "json", "--database-pattern", "late\\_%", "--parallel", "1", "--max-time", "1"];
    let out = env.cli("migrate", &args).output().expect("runs");
    env.emulator.clear_faults().expect("clears");
    assert_eq!(out.status.code(), Some(1), "{}", String::from_utf8_lossy(&out.stderr));
    let report = json(&out);
    let outcomes = outcomes(&report);
    assert_ne!(outcomes[0].1, "not_started", "{report}");
    assert_eq!(outcomes[1..], [row("late_y", "not_started", 0), row("late_z", "not_started", 0)]);
    assert_eq!(report["summary"]["not_started"], 2, "{report}");
    assert_eq!(env.tables("late_y"), "0");

    // The text report counts them; the next run takes them.
    let out = env.cli("migrate", &["--database-pattern", "late\\_%"]).output().expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(0), "{text}{}", String::from_utf8_lossy(&out.stderr));
    for d in ["late_x", "late_y", "late_z"] {
        env.assert_fully_applied(d);
    }
}

#[test]
fn validate_over_a_fleet_checks_the_scripts_once_and_names_the_error_once() {
    let env = Env::start(&["tenant_a", "tenant_b", "tenant_c"]);
    let out = env.cli("migrate", &["--database-pattern", "tenant_%"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    // A script the offline check refuses: the same file for every tenant, so one problem.
    std::fs::write(
        env.scripts.path().join("V5__undo.sql"),
        "INSERT INTO audit (version, step) VALUES (5, 1);\nROLLBACK;\n",
    )
    .expect("write");
    let out = env.cli("validate", &["--database-pattern", "tenant_%"]).output().expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(1), "{text}");
    assert_eq!(text.matches("V5__undo.sql").count(), 1, "{text}");
    assert!(text.contains("problem: scripts: "), "{text}");
    let out =
        env.cli("validate", &["--format", "json", "--database-pattern", "tenant_%"]).output().expect("runs");
    let report = json(&out);
    assert_eq!(report["ok"], false);
    let problems = report["problems"].as_array().expect("fleet problems");
    assert_eq!(problems.len(), 1, "{problems:?}");
    assert!(problems[0].as_str().expect("text").contains("V5__undo.sql:2"), "{problems:?}");
    // Each tenant's history is fine: the script's error is not repeated as theirs.
    assert_eq!(
        outcomes(&report),
        [row("tenant_a", "ok", 0), row("tenant_b", "ok", 0), row("tenant_c", "ok", 0)]
    );
    for d in report["databases"].as_array().expect("databases") {
        assert!(d.get("problems").is_none(), "{d}");
    }
    // Nothing was applied by validate.
    assert_eq!(env.sql("SELECT COUNT(*) FROM tenant_a.audit WHERE version = 5"), "0");
}

/// A fleet whose only trouble is statements still running on the server exits 4, like one
/// database: a slow DDL whose call times out without a connection id to wait for, in both tenants;
/// the next run waits for both and records them once.
#[test]
fn a_fleet_whose_only_trouble_is_statements_still_running_exits_4_and_the_next_run_records_them() {
    let env = Env::start(&["tenant_a", "tenant_b"]);
    std::fs::write(env.scripts.path().join("V9__slow.sql"), "CREATE TABLE slow AS SELECT SLEEP(2) AS x;")
        .expect("writes");
    let rule = data_api_emulator::FaultRule {
        fault: data_api_emulator::FaultKind::TimeoutWithoutConnectionId,
        count: 2,
        delay_ms: 300,
        operations: None,
    };
    env.emulator.inject_where(&rule, "CREATE TABLE slow").expect("injects");
    let out = env.cli("migrate", &["--databases", "tenant_a,tenant_b"]).output().expect("runs");
    let text = String::from_utf8_lossy(&out.stdout);
    assert_eq!(out.status.code(), Some(4), "{text}{}", String::from_utf8_lossy(&out.stderr));
    assert!(text.contains("still running on the server"), "{text}");
    let out = env.cli("migrate", &["--databases", "tenant_a,tenant_b"]).output().expect("runs");
    assert_eq!(out.status.code(), Some(0), "{}", String::from_utf8_lossy(&out.stderr));
    for t in ["tenant_a", "tenant_b"] {
        let applied = format!(
            "SELECT COUNT(*) FROM {t}.aurora_migrate_history WHERE success = 1 \
             AND statements_applied = statements_total"
        );
        assert_eq!(env.sql(&applied), (VERSIONS + 1).to_string(), "{t}: history");
        assert_eq!(env.sql(&format!("SELECT COUNT(*) FROM {t}.slow")), "1", "{t}");
    }
}

/// The CLI builds a fleet by the function's and the construct's rules: a list and a pattern
/// together (here one from the environment), or a pattern ending in a lone backslash, are refused
/// before anything runs.
#[test]
fn the_cli_refuses_a_list_with_a_pattern_and_a_pattern_ending_in_a_lone_backslash() {
    let env = Env::start(&["tenant_a"]);
    let both = env
        .cli("migrate", &["--database-pattern", "tenant_%"])
        .env(names::ENV_DATABASES, "tenant_a")
        .output()
        .expect("runs");
    let stderr = String::from_utf8_lossy(&both.stderr);
    assert_eq!(both.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("not both") || stderr.contains("cannot be used with"), "{stderr}");
    let lone = env.cli("migrate", &["--database-pattern", "tenant\\"]).output().expect("runs");
    let stderr = String::from_utf8_lossy(&lone.stderr);
    assert_eq!(lone.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("ends with a lone backslash"), "{stderr}");
    assert_eq!(env.tables("tenant_a"), "0", "nothing ran");
}
