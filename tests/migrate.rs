//! Migration runs against a real, throwaway MariaDB through the project's Data API emulator, with the
//! official `aws-sdk-rdsdata` client: failure paths with the emulator's fault injection, resume,
//! the lock, long DDL, and the real CLI killed mid-run or started four times at once.

mod common;

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use std::sync::atomic::Ordering::SeqCst;

use aurora_migrate::discover;
use aurora_migrate::DataApi;
use aurora_migrate::{ExecError, Executor, Outcome, Request};
use aurora_migrate::{Report, RunConfig, Runner};
use data_api_emulator::testing::{MariaDb, Options, TestEmulator};
use data_api_emulator::{FaultKind, FaultRule};

struct Env {
    db: MariaDb,
    emulator: TestEmulator,
    scripts: tempfile::TempDir,
}

impl Env {
    fn start(options: Options) -> Env {
        let _ = tracing_subscriber::fmt()
            .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
            .with_test_writer()
            .try_init();
        let db = MariaDb::start().expect("throwaway MariaDB starts");
        let emulator = TestEmulator::start(&db, options).expect("emulator starts");
        let env = Env { db, emulator, scripts: tempfile::tempdir().expect("tempdir") };
        env.sql("CREATE DATABASE app");
        env
    }

    /// Runs SQL with the mariadb client, straight on the server (not through the Data API).
    fn sql(&self, sql: &str) -> String {
        common::sql(&self.db, sql)
    }

    fn write(&self, name: &str, body: &str) {
        std::fs::write(self.scripts.path().join(name), body).expect("write script");
    }

    fn api(&self) -> DataApi {
        DataApi::local(&self.emulator.endpoint, &self.emulator.cluster_arn, &self.emulator.secret_arn)
    }

    fn runner(&self, config: RunConfig) -> Runner<DataApi> {
        Runner::new(Arc::new(self.api()), config).expect("runner")
    }

    async fn migrate(&self, config: RunConfig) -> Report {
        let scripts = discover(self.scripts.path()).expect("scripts");
        self.runner(config).migrate(&scripts, false, &mut |_| {}).await.expect("run completes")
    }

    /// The CLI binary with the connection in its environment.
    fn cli(&self, args: &[&str]) -> Command {
        self.cli_for(self.scripts.path(), "app", args)
    }

    /// The CLI on another scripts folder and default database.
    fn cli_for(&self, dir: &Path, database: &str, args: &[&str]) -> Command {
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_aurora-migrate"));
        cmd.args(args).arg(dir);
        common::connect_to(&mut cmd, &self.emulator, database);
        cmd
    }

    fn history(&self) -> String {
        self.sql("SELECT version, statements_applied, statements_total, success FROM app.aurora_migrate_history ORDER BY installed_at, version")
    }
}

fn config() -> RunConfig {
    RunConfig {
        default_database: Some("app".into()),
        lease: Duration::from_secs(5),
        lock_wait: Duration::from_secs(30),
        retry_for: Duration::from_secs(30),
        poll_every: Duration::from_millis(200),
        ..RunConfig::default()
    }
}

fn short_timeouts() -> Options {
    Options::with_timeouts(Duration::from_secs(1), Duration::from_secs(2), Duration::from_secs(600))
}

/// Ten migrations, each creating a table and writing one audit row per statement.
fn audited_scripts(env: &Env, count: usize) {
    env.write(
        "V0__audit.sql",
        "CREATE TABLE audit (id INT AUTO_INCREMENT PRIMARY KEY, version INT NOT NULL, step INT NOT NULL);",
    );
    for v in 1..=count {
        env.write(
            &format!("V{v}__step.sql"),
            &format!(
                "INSERT INTO audit (version, step) VALUES ({v}, 1);\nCREATE TABLE t{v} (id INT);\nINSERT INTO audit (version, step) VALUES ({v}, 2);\nINSERT INTO t{v} VALUES ({v});\n"
            ),
        );
    }
}

fn assert_audit_exact(env: &Env, count: usize) {
    let duplicates = env.sql("SELECT COUNT(*) FROM (SELECT version, step FROM app.audit GROUP BY version, step HAVING COUNT(*) > 1) d");
    assert_eq!(duplicates, "0", "a statement was applied twice");
    assert_eq!(env.sql("SELECT COUNT(*) FROM app.audit"), (2 * count).to_string());
    assert_eq!(
        env.sql("SELECT COUNT(*) FROM app.aurora_migrate_history WHERE success = 1"),
        (count + 1).to_string()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_resuming_database_is_waited_for_and_the_run_succeeds() {
    let env = Env::start(Options::default());
    env.write("V1__a.sql", "CREATE TABLE a (id INT);\nINSERT INTO a VALUES (1);");
    env.emulator
        .inject(&FaultRule { fault: FaultKind::Resuming, count: 4, delay_ms: 0, operations: None })
        .unwrap();
    let report = env.migrate(config()).await;
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!(env.sql("SELECT COUNT(*) FROM app.a"), "1");
    assert_eq!(env.history(), "1\t2\t2\t1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_dml_statement_rolls_back_its_segment_and_a_rerun_after_the_fix_completes() {
    let env = Env::start(Options::default());
    env.write("V1__a.sql", "CREATE TABLE a (id INT PRIMARY KEY);\nINSERT INTO a VALUES (1);\nINSERT INTO a VALUES (1);\nINSERT INTO a VALUES (3);");
    let report = env.migrate(config()).await;
    assert!(!report.ok);
    assert!(
        report.problems[0].contains("V1__a.sql:3: migration 1 failed at statement 3 of 4"),
        "{:?}",
        report.problems
    );
    assert!(report.problems[0].contains("Duplicate entry"), "{:?}", report.problems);
    // The DML segment (statements 2-4) was rolled back; the DDL before it stays, and history says so.
    assert_eq!(env.sql("SELECT COUNT(*) FROM app.a"), "0");
    assert_eq!(
        env.sql("SELECT statements_applied, success, failed_at FROM app.aurora_migrate_history"),
        "1\t0\tV1__a.sql:3"
    );

    env.write("V1__a.sql", "CREATE TABLE a (id INT PRIMARY KEY);\nINSERT INTO a VALUES (1);\nINSERT INTO a VALUES (2);\nINSERT INTO a VALUES (3);");
    let report = env.migrate(config()).await;
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!(env.sql("SELECT GROUP_CONCAT(id ORDER BY id) FROM app.a"), "1,2,3");
    assert_eq!(env.history(), "1\t4\t4\t1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_ddl_statement_is_recorded_and_a_rerun_resumes_at_it() {
    let env = Env::start(Options::default());
    env.write("V1__a.sql", "CREATE TABLE a (id INT);\nINSERT INTO a VALUES (1);\nALTER TABLE a ADD COLUMN id INT;\nCREATE TABLE b (id INT);");
    let report = env.migrate(config()).await;
    assert!(!report.ok);
    assert!(
        report.problems[0].contains("V1__a.sql:3:") && report.problems[0].contains("Duplicate column"),
        "{:?}",
        report.problems
    );
    assert_eq!(env.sql("SELECT statements_applied, success FROM app.aurora_migrate_history"), "2\t0");

    env.write("V1__a.sql", "CREATE TABLE a (id INT);\nINSERT INTO a VALUES (1);\nALTER TABLE a ADD COLUMN name INT;\nCREATE TABLE b (id INT);");
    let report = env.migrate(config()).await;
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!(env.sql("SELECT COUNT(*) FROM app.a"), "1", "the INSERT before the failure ran once");
    assert_eq!(env.history(), "1\t4\t4\t1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_changed_applied_script_is_refused_with_the_file_named() {
    let env = Env::start(Options::default());
    env.write("V1__a.sql", "CREATE TABLE a (id INT);");
    assert!(env.migrate(config()).await.ok);
    env.write("V1__a.sql", "CREATE TABLE a (id BIGINT);");
    env.write("V2__b.sql", "CREATE TABLE b (id INT);");
    let report = env.migrate(config()).await;
    assert!(!report.ok);
    assert!(
        report.problems[0].contains("V1__a.sql: applied migration 1 has changed"),
        "{:?}",
        report.problems
    );
    assert_eq!(
        env.sql(
            "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'app' AND TABLE_NAME = 'b'"
        ),
        "0"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ddl_that_outlives_the_call_timeout_is_waited_for_before_going_on() {
    let env = Env::start(short_timeouts());
    // Takes about 2.5 s against a 1 s call timeout.
    env.write("V1__slow.sql", "CREATE TABLE slow AS SELECT SLEEP(2.5) AS s;\nCREATE TABLE after_slow AS SELECT COUNT(*) AS n FROM slow;");
    let start = Instant::now();
    let report = env.migrate(config()).await;
    assert!(report.ok, "{:?}", report.problems);
    assert!(start.elapsed() >= Duration::from_millis(2400));
    assert_eq!(
        env.sql("SELECT n FROM app.after_slow"),
        "1",
        "the second statement saw the first one's result"
    );
    assert_eq!(env.history(), "1\t2\t2\t1");
}

/// 500 short INSERTs (one migration) under a deadline too short for all of them: each run commits
/// whole segments with their progress and stops at its deadline; repeated runs converge, with every
/// row exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn five_hundred_inserts_under_a_short_deadline_converge_over_runs_with_every_row_once() {
    let env = Env::start(Options::default());
    env.write("V1__t.sql", "CREATE TABLE t (id INT NOT NULL);");
    let rows: String = (0..500).map(|i| format!("INSERT INTO t VALUES ({i});\n")).collect();
    env.write("V2__rows.sql", &rows);
    let applied = || {
        env.sql(
            "SELECT COALESCE(MAX(statements_applied), 0) FROM app.aurora_migrate_history WHERE version = '2'",
        )
    };
    let mut runs = Vec::new();
    loop {
        let report = env.migrate(config().until(Instant::now() + Duration::from_millis(1500))).await;
        let now: usize = applied().parse().expect("a number");
        runs.push(now);
        if report.ok {
            break;
        }
        assert!(report.problems[0].contains("deadline came"), "{:?}", report.problems);
        assert!(runs.len() < 60, "no convergence: statements applied after each run {runs:?}");
        // What a run applied is committed: never lost by the next one.
        assert!(runs.windows(2).all(|w| w[0] <= w[1]), "{runs:?}");
    }
    eprintln!("statements applied after each run: {runs:?}");
    assert_eq!(runs.last(), Some(&500));
    assert_eq!(env.sql("SELECT CONCAT(COUNT(*), '/', COUNT(DISTINCT id)) FROM app.t"), "500/500");
}

/// Thirty statements of about 0.3 s each (9 s together, far fewer than a segment's 100) under a
/// 3-second deadline: a segment stops taking statements once it has used half the time left, so
/// every run commits some and ends near its deadline, and the runs converge with every row once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn slow_statements_under_a_short_deadline_commit_some_in_every_run_and_converge_with_every_row_once() {
    let env = Env::start(Options::default());
    env.write("V1__t.sql", "CREATE TABLE t (id INT NOT NULL);");
    let rows: String =
        (0..30).map(|i| format!("INSERT INTO t SELECT {i} FROM DUAL WHERE SLEEP(0.3) = 0;\n")).collect();
    env.write("V2__rows.sql", &rows);
    let applied = || {
        env.sql(
            "SELECT COALESCE(MAX(statements_applied), 0) FROM app.aurora_migrate_history WHERE version = '2'",
        )
        .parse::<usize>()
        .expect("a number")
    };
    let mut runs = Vec::new();
    loop {
        let deadline = Instant::now() + Duration::from_secs(3);
        let report = env.migrate(config().until(deadline)).await;
        let overrun = Instant::now().saturating_duration_since(deadline);
        let now = applied();
        // Each run commits some: never the same count twice.
        assert!(runs.last().is_none_or(|&before| now > before), "runs {runs:?}, then {now}");
        runs.push(now);
        assert!(
            overrun < Duration::from_millis(1500),
            "a run ended {overrun:?} after its deadline: {runs:?}"
        );
        if report.ok {
            break;
        }
        assert!(report.problems[0].contains("deadline came"), "{:?}", report.problems);
        assert!(runs.len() < 20, "no convergence: statements applied after each run {runs:?}");
    }
    eprintln!("statements applied after each run: {runs:?}");
    assert!(runs.len() >= 2, "one run applied everything: the deadline did not bound it {runs:?}");
    assert_eq!(env.sql("SELECT CONCAT(COUNT(*), '/', COUNT(DISTINCT id)) FROM app.t"), "30/30");
}

/// A run whose deadline comes while its DDL statement still runs on the server (past a 1 s call
/// timeout) reports "still running", keeps the statement in flight; a run whose own deadline comes
/// while it waits for that statement says the same; the next run waits for it and records it, and
/// the statement ran once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_during_a_running_ddl_reports_still_running_and_the_next_run_records_it_once() {
    let env = Env::start(short_timeouts());
    env.write("V1__slow.sql", "CREATE TABLE slow AS SELECT SLEEP(8) AS x;\nINSERT INTO slow VALUES (1);");
    let history = "SELECT CONCAT_WS(',', statements_applied, success, inflight_statement) FROM app.aurora_migrate_history";
    for seconds in [3, 2] {
        let report = env.migrate(config().until(Instant::now() + Duration::from_secs(seconds))).await;
        assert!(!report.ok && report.still_running, "{report:?}");
        assert!(report.problems[0].contains("still running on the server"), "{:?}", report.problems);
        assert!(report.databases[0].still_running);
        assert_eq!(env.sql(history), "0,0,0", "the statement is no longer recorded in flight");
    }
    let report = env.migrate(config()).await;
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!(env.sql(history), "2,1");
    // Sent twice, the CREATE would have failed ("already exists") and the run with it.
    assert_eq!(env.sql("SELECT COUNT(*) FROM app.slow"), "2");
}

/// A run whose deadline comes while a long DML statement (past the call timeout, so applied
/// through a stored procedure) still runs on the server reports "still running" and keeps it in
/// flight; the next run waits for that call, finds it committed with its progress, and the
/// non-idempotent update ran exactly once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_deadline_during_a_long_dml_statement_reports_still_running_and_the_next_run_records_it_once() {
    let env = Env::start(Options::with_timeouts(
        Duration::from_secs(2),
        Duration::from_secs(180),
        Duration::from_secs(600),
    ));
    env.write(
        "V1__c.sql",
        "CREATE TABLE c (id INT PRIMARY KEY, n INT NOT NULL);\nINSERT INTO c VALUES (1, 0), (2, 0), (3, 0);",
    );
    env.write("V2__backfill.sql", "UPDATE c SET n = n + 1 WHERE SLEEP(2) = 0;");
    let history = "SELECT CONCAT_WS(',', statements_applied, success, inflight_statement) \
                   FROM app.aurora_migrate_history WHERE version = '2'";
    // 2 s in the transaction (timed out, rolled back), then the call: past its 2 s timeout the
    // procedure still runs when the deadline comes.
    let report = env.migrate(config().until(Instant::now() + Duration::from_millis(5500))).await;
    assert!(!report.ok && report.still_running, "{report:?}");
    assert!(report.problems[0].contains("still running on the server"), "{:?}", report.problems);
    assert_eq!(env.sql(history), "0,0,0", "the statement is no longer recorded in flight");
    let report = env.migrate(config()).await;
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!(env.sql(history), "1,1");
    assert_eq!(env.sql("SELECT GROUP_CONCAT(n ORDER BY id) FROM app.c"), "1,1,1");
    assert_eq!(env.sql("SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'app'"), "0");
}

/// A history whose rows together are over the Data API's 1 MiB result limit (600 rows of 4 kB
/// errors, as failed migrations leave them) is read page by page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_history_over_the_one_mib_result_limit_is_read_in_pages() {
    let env = Env::start(Options::default());
    env.write("V1__a.sql", "CREATE TABLE a (id INT);");
    assert!(env.migrate(config()).await.ok);
    // The sequence engine's tables exist in any database.
    env.sql("CREATE DATABASE seq");
    env.sql(
        "INSERT INTO app.aurora_migrate_history (version, description, script, checksum, kind, \
         statements_applied, statements_total, applied_prefix, success, error, installed_by) \
         SELECT CONCAT('1', LPAD(seq, 4, '0')), 'old', 'V_old.sql', 'sha256:00', 'script', 1, 2, 'sha256:00', 0, \
         REPEAT('e', 4000), 'someone' FROM seq.seq_1_to_600",
    );
    let scripts = discover(env.scripts.path()).expect("scripts");
    let report = env.runner(config()).status(&scripts).await.expect("status reads the whole history");
    let entries = &report.databases[0].entries;
    assert_eq!(entries.len(), 601, "every history row and the script");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_commit_answer_is_resolved_from_history_without_applying_twice() {
    let env = Env::start(Options::default());
    env.write("V1__a.sql", "CREATE TABLE a (id INT);\nINSERT INTO a VALUES (1);\nINSERT INTO a VALUES (2);");
    // The commit runs on the database, then the answer is lost.
    env.emulator
        .inject(&FaultRule {
            fault: FaultKind::DropAfter,
            count: 1,
            delay_ms: 0,
            operations: Some(vec!["CommitTransaction".into()]),
        })
        .unwrap();
    let report = env.migrate(config()).await;
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!(env.sql("SELECT COUNT(*) FROM app.a"), "2");
    assert_eq!(env.history(), "1\t3\t3\t1");
}

/// A segment's rollback refused for longer than the runner sends it again leaves its transaction
/// open, holding the fence row, until the Data API's idle timeout (3 minutes here, as on AWS). The
/// run's next transaction must end it rather than wait on it (each registration timing out after
/// the 1 s call timeout, long before the 50 s lock wait error) until its retries or its lease run out.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_left_open_by_a_refused_rollback_is_ended_by_the_runs_next_transaction() {
    let env = Env::start(Options::with_timeouts(
        Duration::from_secs(1),
        Duration::from_secs(180),
        Duration::from_secs(600),
    ));
    env.write(
        "V1__a.sql",
        "CREATE TABLE a (id INT);\nINSERT INTO a VALUES (1);\nINSERT INTO a VALUES (2);\n",
    );
    // The second INSERT fails without running (a 503): the segment is rolled back and run again.
    let unavailable = FaultRule { fault: FaultKind::Unavailable, ..FaultRule::default() };
    env.emulator.inject_where(&unavailable, "VALUES (2)").unwrap();
    // Its rollback is refused every time for the 10 s the runner keeps sending it.
    let refused = FaultRule {
        count: 1000,
        operations: Some(vec!["RollbackTransaction".into()]),
        ..unavailable.clone()
    };
    env.emulator.inject(&refused).unwrap();
    let started = Instant::now();
    let report = env.migrate(config()).await;
    assert!(report.ok, "{:?}", report.problems);
    assert!(started.elapsed() < Duration::from_secs(25), "took {:?}", started.elapsed());
    assert_eq!(env.sql("SELECT GROUP_CONCAT(id ORDER BY id) FROM app.a"), "1,2");
    assert_eq!(env.history(), "1\t3\t3\t1");
    // The refused rollback was sent for its 10 s, and the transaction it left was ended, not
    // waited out: nothing holds the fence row now.
    assert!(env.emulator.calls(data_api_emulator::Operation::RollbackTransaction).unwrap() >= 40);
    assert_eq!(
        env.sql("SELECT COUNT(*) FROM information_schema.innodb_trx"),
        "0",
        "a transaction is still open"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_lock_makes_a_second_run_wait_then_fail_naming_the_holder() {
    let env = Env::start(Options::default());
    env.write("V1__a.sql", "CREATE TABLE a (id INT);");
    assert!(env.migrate(config()).await.ok);
    env.sql("UPDATE app.aurora_migrate_history_lock SET owner = 'deploy-42', expires_at = NOW(6) + INTERVAL 1 HOUR");
    let out = env.cli(&["migrate", "--lock-wait", "1"]).output().unwrap();
    assert_eq!(out.status.code(), Some(3), "{}", String::from_utf8_lossy(&out.stderr));
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("another run (deploy-42) holds the migration lock"), "{stderr}");
    // An expired lease is taken over.
    env.sql("UPDATE app.aurora_migrate_history_lock SET expires_at = NOW(6) - INTERVAL 1 SECOND");
    env.write("V2__b.sql", "CREATE TABLE b (id INT);");
    let out = env.cli(&["migrate", "--lock-wait", "1"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

#[test]
fn the_cli_killed_mid_run_leaves_exact_progress_and_the_next_run_completes() {
    let env = Env::start(short_timeouts());
    audited_scripts(&env, 10);
    // Slow every call down so that the kill lands in the middle of the run.
    env.emulator
        .inject(&FaultRule { fault: FaultKind::Delay, count: 10_000, delay_ms: 60, operations: None })
        .unwrap();
    let mut child =
        env.cli(&["migrate", "--lease", "2"]).stdout(Stdio::null()).stderr(Stdio::null()).spawn().unwrap();
    let start = Instant::now();
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let applied: usize = env
            .sql("SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'app' AND TABLE_NAME LIKE 't%'")
            .parse()
            .unwrap();
        if applied >= 3 || start.elapsed() > Duration::from_secs(60) {
            break;
        }
    }
    // SAFETY: kill(2) on our own child's pid.
    unsafe { libc::kill(child.id() as i32, libc::SIGKILL) };
    let status = child.wait().unwrap();
    assert!(!status.success(), "the run was killed, not finished");
    env.emulator.clear_faults().unwrap();
    let done: usize =
        env.sql("SELECT COUNT(*) FROM app.aurora_migrate_history WHERE success = 1").parse().unwrap();
    assert!(done < 11, "the kill came too late to test anything ({done} done)");

    let out = env.cli(&["migrate", "--lease", "2", "--lock-wait", "30"]).output().unwrap();
    assert!(
        out.status.success(),
        "{}\n{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    assert_audit_exact(&env, 10);
}

#[test]
fn four_runs_started_at_once_apply_every_migration_exactly_once() {
    let env = Env::start(Options::default());
    audited_scripts(&env, 10);
    let children: Vec<_> = (0..4)
        .map(|_| {
            env.cli(&["migrate", "--lock-wait", "60"])
                .stdout(Stdio::null())
                .stderr(Stdio::piped())
                .spawn()
                .unwrap()
        })
        .collect();
    for child in children {
        let out = child.wait_with_output().unwrap();
        assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    }
    assert_audit_exact(&env, 10);
}

/// The real Data API client, except that the first call whose SQL starts with `prefix` fails with
/// a lost connection, either after the server ran it (`runs`) or before it reached the server: the
/// emulator's connection faults, aimed at one statement.
struct LoseAnswer {
    inner: DataApi,
    prefix: &'static str,
    runs: bool,
    armed: std::sync::atomic::AtomicBool,
}

impl Executor for LoseAnswer {
    async fn execute(&self, request: Request) -> Result<Outcome, ExecError> {
        if !(request.sql.starts_with(self.prefix) && self.armed.swap(false, SeqCst)) {
            return self.inner.execute(request).await;
        }
        if self.runs {
            let _ = self.inner.execute(request).await;
        }
        Err(ExecError::Ambiguous { message: "connection closed before the answer".into() })
    }
    async fn begin(&self, database: Option<&str>) -> Result<String, ExecError> {
        self.inner.begin(database).await
    }
    async fn commit(&self, transaction: &str) -> Result<(), ExecError> {
        self.inner.commit(transaction).await
    }
    async fn rollback(&self, transaction: &str) -> Result<(), ExecError> {
        self.inner.rollback(transaction).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_answer_to_a_ddl_statement_is_resolved_from_the_schema_not_resent() {
    let env = Env::start(Options::default());
    env.write("V1__a.sql", "CREATE TABLE a (id INT);\nCREATE TABLE b (id INT);\nINSERT INTO b VALUES (1);");
    let lossy = LoseAnswer { inner: env.api(), prefix: "CREATE TABLE b", runs: true, armed: true.into() };
    let scripts = discover(env.scripts.path()).unwrap();
    let report =
        Runner::new(Arc::new(lossy), config()).unwrap().migrate(&scripts, false, &mut |_| {}).await.unwrap();
    // Resending would fail with "Table 'b' already exists"; the schema showed it had run.
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!(env.sql("SELECT COUNT(*) FROM app.b"), "1");
    assert_eq!(env.history(), "1\t3\t3\t1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_ddl_statement_whose_request_was_lost_before_running_is_sent_again() {
    let env = Env::start(Options::default());
    env.write("V1__a.sql", "CREATE TABLE a (id INT);\nINSERT INTO a VALUES (1);");
    let lossy = LoseAnswer { inner: env.api(), prefix: "CREATE TABLE a", runs: false, armed: true.into() };
    let scripts = discover(env.scripts.path()).unwrap();
    let runner = Runner::new(Arc::new(lossy), config()).unwrap();
    let mut on_event = |_: &aurora_migrate::Event| {};
    let report = runner.migrate(&scripts, false, &mut on_event).await.unwrap();
    // The schema showed the statement had not run, so it was sent again.
    assert!(report.ok, "{:?}", report.problems);
    assert_eq!(env.sql("SELECT COUNT(*) FROM app.a"), "1");
    assert_eq!(env.history(), "1\t2\t2\t1");
}

#[test]
fn per_database_folders_run_after_the_top_level_scripts() {
    let env = Env::start(Options::default());
    env.write("V1__create_inventory.sql", "CREATE DATABASE inventory;");
    std::fs::create_dir(env.scripts.path().join("inventory")).unwrap();
    std::fs::write(
        env.scripts.path().join("inventory/V1__items.sql"),
        "CREATE TABLE items (id INT);\nINSERT INTO items VALUES (7);",
    )
    .unwrap();
    let out = env.cli(&["migrate"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(env.sql("SELECT id FROM inventory.items"), "7");
    assert_eq!(env.sql("SELECT COUNT(*) FROM inventory.aurora_migrate_history WHERE success = 1"), "1");
    assert_eq!(env.sql("SELECT COUNT(*) FROM app.aurora_migrate_history WHERE success = 1"), "1");
    let out = env.cli(&["status", "--format", "json"]).output().unwrap();
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let databases: Vec<&str> =
        report["databases"].as_array().unwrap().iter().map(|d| d["database"].as_str().unwrap()).collect();
    assert_eq!(databases, ["app", "inventory"]);
}

#[test]
fn the_cli_keeps_the_top_level_history_in_the_history_database_option_or_its_variable() {
    let env = Env::start(Options::default());
    env.write("V1__a.sql", "CREATE TABLE a (id INT);\nINSERT INTO a VALUES (1);");
    let out = env.cli(&["migrate", "--history-database", "migrations"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let tables = |db: &str| {
        env.sql(&format!("SELECT GROUP_CONCAT(table_name ORDER BY table_name) FROM information_schema.tables WHERE table_schema = '{db}'"))
    };
    assert_eq!(tables("app"), "a");
    assert_eq!(tables("migrations"), "aurora_migrate_history,aurora_migrate_history_lock");
    assert_eq!(
        env.sql("SELECT version, statements_applied, success FROM migrations.aurora_migrate_history"),
        "1\t2\t1"
    );
    // The same through AURORA_MIGRATE_HISTORY_DATABASE: V1 is found applied there, V2 is recorded there.
    env.write("V2__b.sql", "CREATE TABLE b (id INT);");
    let out = env.cli(&["migrate"]).env("AURORA_MIGRATE_HISTORY_DATABASE", "migrations").output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(tables("app"), "a,b");
    assert_eq!(env.sql("SELECT GROUP_CONCAT(version ORDER BY version) FROM migrations.aurora_migrate_history WHERE success = 1"), "1,2");
}

#[test]
fn repair_clears_a_failed_record_and_baseline_marks_an_existing_database() {
    let env = Env::start(Options::default());
    env.write("V1__a.sql", "CREATE TABLE a (id INT);\nCREATE TABLE a (id INT);");
    let out = env.cli(&["migrate"]).output().unwrap();
    assert_eq!(out.status.code(), Some(1));
    // Fixed by hand: the table exists; the script is corrected to what the database now is.
    env.write("V1__a.sql", "CREATE TABLE a (id INT);");
    let out = env.cli(&["validate"]).output().unwrap();
    assert_eq!(
        out.status.code(),
        Some(1),
        "validate sees the failed record: {}",
        String::from_utf8_lossy(&out.stdout)
    );
    let out = env.cli(&["repair"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert!(String::from_utf8_lossy(&out.stdout).contains("removed 1 failed record"));
    // After repair the migration runs again from the start; the user made it idempotent.
    env.write("V1__a.sql", "CREATE TABLE IF NOT EXISTS a (id INT);");
    let out = env.cli(&["migrate"]).output().unwrap();
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));

    env.sql("CREATE DATABASE legacy");
    let legacy = tempfile::tempdir().unwrap();
    std::fs::write(legacy.path().join("V1__old.sql"), "CREATE TABLE never_run (id INT);").unwrap();
    std::fs::write(legacy.path().join("V2__new.sql"), "CREATE TABLE new_one (id INT);").unwrap();
    let run = |args: &[&str]| env.cli_for(legacy.path(), "legacy", args).output().unwrap();
    let out = run(&["baseline", "--to", "1"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    let out = run(&["migrate"]);
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
    assert_eq!(env.sql("SELECT GROUP_CONCAT(TABLE_NAME ORDER BY TABLE_NAME) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'legacy' AND TABLE_NAME NOT LIKE 'aurora%'"), "new_one");
}
