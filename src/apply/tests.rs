//! The runner end to end over the fake Data API: segments, transactions, resumption, retries,
//! refusals and the deadline.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::fake::Fake;
use super::{Report, RunConfig, Runner};
use crate::scripts::source::Scripts;

fn scripts(files: &[(&str, &str)]) -> (tempfile::TempDir, Scripts) {
    let dir = tempfile::tempdir().unwrap();
    for (name, body) in files {
        std::fs::write(dir.path().join(name), body).unwrap();
    }
    let scripts = crate::scripts::source::discover(dir.path()).unwrap();
    (dir, scripts)
}

fn runner(fake: &Arc<Fake>) -> Runner<Fake> {
    let config = RunConfig {
        default_database: Some("app".into()),
        lease: Duration::from_secs(3600),
        retry_for: Duration::from_secs(5),
        ..RunConfig::default()
    };
    Runner::new(fake.clone(), config).unwrap()
}

async fn migrate(fake: &Arc<Fake>, scripts: &Scripts) -> Report {
    runner(fake).migrate(scripts, false, &mut |_| {}).await.unwrap()
}

fn log(fake: &Fake) -> Vec<String> {
    fake.log()
}

#[tokio::test]
async fn ddl_runs_alone_and_dml_runs_in_a_transaction_with_its_progress() {
    let fake = Arc::new(Fake::default());
    let (_d, s) = scripts(&[("V1__a.sql", "CREATE TABLE a (id INT);\nINSERT INTO a VALUES (1);\nUPDATE a SET id = 2;\nCREATE INDEX i ON a (id);")]);
    let report = migrate(&fake, &s).await;
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!(
        log(&fake),
        [
            // A DDL statement is recorded as in flight before it is sent.
            "intent 1 0",
            "exec CREATE TABLE a (id INT) @app cat",
            "progress 1 1",
            "begin t1",
            "exec INSERT INTO a VALUES (1) in t1 @app",
            "exec UPDATE a SET id = 2 in t1 @app",
            // The progress write also records the next (DDL) statement as in flight.
            "intent 1 3 in t1",
            "commit t1",
            "exec CREATE INDEX i ON a (id) @app cat",
            "progress 1 4",
        ]
    );
    assert_eq!(report.applied, 1);
    assert_eq!(report.current_version.as_deref(), Some("1"));
}

#[tokio::test]
async fn a_failing_statement_rolls_back_its_segment_records_progress_and_a_rerun_resumes() {
    let fake = Arc::new(Fake::default());
    let (dir, s) = scripts(&[(
        "V1__a.sql",
        "CREATE TABLE a (id INT);\nINSERT INTO a VALUES (1);\nINSERT FAIL;\nINSERT INTO a VALUES (3);",
    )]);
    let report = migrate(&fake, &s).await;
    assert!(!report.ok);
    assert!(
        report.problems[0].starts_with("V1__a.sql:3: migration 1 failed at statement 3 of 4: Error 1064"),
        "{:?}",
        report.problems
    );
    let first = log(&fake);
    assert!(first.contains(&"rollback t1".to_owned()), "{first:?}");
    let row = report.databases[0].entries[0].history.clone().unwrap();
    assert_eq!((row.applied, row.success, row.failed_at.as_deref()), (1, false, Some("V1__a.sql:3")));

    // Fix the failing statement (after the applied part): the rerun starts at statement 2.
    std::fs::write(dir.path().join("V1__a.sql"), "CREATE TABLE a (id INT);\nINSERT INTO a VALUES (1);\nINSERT INTO a VALUES (2);\nINSERT INTO a VALUES (3);").unwrap();
    let s = crate::scripts::source::discover(dir.path()).unwrap();
    let report = migrate(&fake, &s).await;
    assert!(report.ok, "{:?}", report.problems);
    let second = log(&fake);
    assert!(!second.iter().any(|l| l.contains("CREATE TABLE a")), "applied twice: {second:?}");
    assert_eq!(second.iter().filter(|l| l.starts_with("exec INSERT")).count(), 3, "{second:?}");
    assert_eq!(report.databases[0].entries[0].history.as_ref().unwrap().applied, 4);
}

#[tokio::test]
async fn a_rerun_refuses_when_the_applied_part_changed() {
    let fake = Arc::new(Fake::default());
    let (dir, s) = scripts(&[("V1__a.sql", "CREATE TABLE a (id INT);\nINSERT FAIL;")]);
    migrate(&fake, &s).await;
    std::fs::write(dir.path().join("V1__a.sql"), "CREATE TABLE b (id INT);\nINSERT INTO b VALUES (1);")
        .unwrap();
    let s = crate::scripts::source::discover(dir.path()).unwrap();
    log(&fake);
    let report = migrate(&fake, &s).await;
    assert!(!report.ok);
    assert!(report.problems[0].contains("have changed since"), "{:?}", report.problems);
    assert!(!log(&fake).iter().any(|l| l.starts_with("exec")), "nothing may run");
}

#[tokio::test]
async fn session_statements_are_replayed_in_each_segment_and_use_switches_database() {
    let fake = Arc::new(Fake::default());
    let (_d, s) = scripts(&[(
        "V1__a.sql",
        "SET foreign_key_checks = 0;\nLOCK TABLES a WRITE;\nINSERT INTO a VALUES (1);\nUNLOCK TABLES;\nCREATE TABLE b (id INT);\nUSE other;\nINSERT INTO c VALUES (1);\nCOMMIT;",
    )]);
    assert!(migrate(&fake, &s).await.ok);
    assert_eq!(
        log(&fake),
        [
            "begin t1",
            "exec SET foreign_key_checks = 0 in t1 @app",
            "exec INSERT INTO a VALUES (1) in t1 @app",
            // The value is read back, and later segments restore it with one statement.
            "exec SELECT @@SESSION.foreign_key_checks in t1 @app",
            // Each transaction undoes the session on its connection before it goes back to the pool.
            "exec SET @@SESSION.foreign_key_checks = DEFAULT in t1 @app",
            "intent 1 4 in t1",
            "commit t1",
            // The DDL statement gets its session through a transaction that only pins the
            // connection: the SET, the statement (committed by MySQL itself), then the transaction
            // is ended and progress written outside it, so the statement is never part of a
            // segment that a retry would run again.
            "begin t2",
            "exec SET @@SESSION.foreign_key_checks = 0 in t2 @app",
            "exec CREATE TABLE b (id INT) in t2 @app",
            "exec SET @@SESSION.foreign_key_checks = DEFAULT in t2",
            "rollback t2",
            "progress 1 5",
            // USE starts the next segment, whose calls go to the new database.
            "begin t3",
            "exec SET @@SESSION.foreign_key_checks = 0 in t3 @other",
            "exec INSERT INTO c VALUES (1) in t3 @other",
            "exec SET @@SESSION.foreign_key_checks = DEFAULT in t3 @other",
            "progress 1 8 in t3",
            "commit t3",
        ]
    );
}

#[tokio::test]
async fn transient_failures_are_retried_without_applying_twice() {
    let fake = Arc::new(Fake::default());
    fake.state.lock().unwrap().flaky = 2;
    let (_d, s) = scripts(&[("V1__a.sql", "INSERT INTO a VALUES (1);\nINSERT INTO FLAKY VALUES (2);")]);
    let report = migrate(&fake, &s).await;
    assert!(report.ok, "{:?}", report.problems);
    let l = log(&fake);
    assert_eq!(l.iter().filter(|x| x.starts_with("commit")).count(), 1, "{l:?}");
    assert_eq!(l.iter().filter(|x| x.starts_with("rollback")).count(), 2, "{l:?}");
}

#[tokio::test]
async fn applied_migrations_are_not_run_again() {
    let fake = Arc::new(Fake::default());
    let (_d, s) =
        scripts(&[("V1__a.sql", "CREATE TABLE a (id INT);"), ("V2__b.sql", "CREATE TABLE b (id INT);")]);
    assert_eq!(migrate(&fake, &s).await.applied, 2);
    log(&fake);
    let report = migrate(&fake, &s).await;
    assert_eq!(report.applied, 0);
    assert!(!log(&fake).iter().any(|l| l.starts_with("exec")));
    assert_eq!(report.current_version.as_deref(), Some("2"));
}

#[tokio::test]
async fn a_script_dropping_the_history_database_is_refused_before_anything_runs() {
    let fake = Arc::new(Fake::default());
    let (_d, s) =
        scripts(&[("V1__a.sql", "CREATE TABLE a (id INT);\nDROP SCHEMA IF EXISTS app;\nCREATE SCHEMA app;")]);
    let report = migrate(&fake, &s).await;
    assert!(!report.ok);
    assert!(
        report.problems[0].contains("V1__a.sql:2: statement 2 of 3 drops database app"),
        "{:?}",
        report.problems
    );
    assert!(!log(&fake).iter().any(|l| l.starts_with("exec")));
}

#[tokio::test]
async fn a_deadline_stops_at_a_statement_boundary() {
    let fake = Arc::new(Fake::default());
    let (_d, s) = scripts(&[("V1__a.sql", "CREATE TABLE a (id INT);")]);
    let config = RunConfig {
        default_database: Some("app".into()),
        deadline: Some(Instant::now()),
        ..RunConfig::default()
    };
    let report = Runner::new(fake.clone(), config).unwrap().migrate(&s, false, &mut |_| {}).await.unwrap();
    assert!(!report.ok);
    assert!(report.problems[0].contains("deadline"), "{:?}", report.problems);
    assert!(!log(&fake).iter().any(|l| l.starts_with("exec")));
}

#[tokio::test]
async fn a_script_changed_after_discovery_is_refused_before_anything_of_it_is_sent() {
    let fake = Arc::new(Fake::default());
    let (dir, s) = scripts(&[
        ("V1__a.sql", "CREATE TABLE a (id INT);"),
        ("V2__b.sql", "INSERT INTO a VALUES (1);\nINSERT INTO a VALUES (2);"),
    ]);
    // Edited between discovery (the plan, the checksum to record) and the moment it runs.
    std::fs::write(dir.path().join("V2__b.sql"), "INSERT INTO a VALUES (3);").unwrap();
    let report = migrate(&fake, &s).await;
    assert!(!report.ok);
    let problem = &report.problems[0];
    assert!(
        problem.starts_with("V2__b.sql: the file changed while the run was going on")
            && problem.contains(&s.migrations[1].checksum)
            && problem.contains("run again"),
        "{problem}"
    );
    let log = log(&fake);
    assert!(log.iter().any(|l| l == "exec CREATE TABLE a (id INT) @app cat"), "{log:?}");
    assert!(!log.iter().any(|l| l.contains("INSERT INTO a")), "sent from the changed file: {log:?}");
    assert!(!log.iter().any(|l| l.starts_with("progress 2") || l.starts_with("intent 2")), "{log:?}");
}
