//! Migration run benchmark: Data API calls per run, and wall time against the mariadb client.
//!
//! 1. Calls per run: the repo's `scripts/` applied to a fresh database through the runner and the
//!    local Data API emulator (over a throwaway MariaDB); the emulator's counters give the calls per
//!    operation, set against the budget (one call per statement + 3 per segment + 5 per
//!    run). Then a second run with nothing to do.
//! 2. Wall time: 200 generated migrations of 25 statements each (5,000 statements: CREATE TABLE,
//!    ALTER TABLE ADD COLUMN, CREATE INDEX, multi-row INSERT, UPDATE) through runner -> emulator ->
//!    MariaDB, against the mariadb client with one process per file (as `expected.tsv` of the
//!    corpus was made) and against one mariadb process fed all files (the fastest possible
//!    baseline).
//!
//! Run with `cargo bench --bench migrate`. Without `--bench` (as `cargo test --all-targets` runs
//! it) it exits at once.

use std::io::Write;
use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aurora_migrate::DataApi;
use aurora_migrate::{classify, StatementClass};
use aurora_migrate::{discover, Script};
use aurora_migrate::{RunConfig, Runner};
use aurora_migrate::{Statement, StatementKind};
use data_api_emulator::testing::{MariaDb, Options, TestEmulator};

const MIGRATIONS: usize = 200;
const STATEMENTS_PER_MIGRATION: usize = 25;

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let db = MariaDb::start().expect("throwaway MariaDB starts");
    let emulator = TestEmulator::start(&db, Options::default()).expect("emulator starts");
    let server = Server(&db);
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");

    println!("== Data API calls per run (scripts/ into a fresh database) ==");
    calls_per_run(&rt, &server, &emulator);
    println!();
    println!(
        "== Wall time: {MIGRATIONS} migrations, {} statements ==",
        MIGRATIONS * STATEMENTS_PER_MIGRATION
    );
    wall_time(&rt, &server, &emulator);
}

/// Migrates `dir` into `bench_calls` with the emulator's call counters reset first.
fn counted_run(rt: &tokio::runtime::Runtime, emulator: &TestEmulator, dir: &Path) -> aurora_migrate::Report {
    emulator.reset_counters().expect("counters reset");
    let scripts = discover(dir).expect("scripts");
    rt.block_on(runner(emulator, "bench_calls").migrate(&scripts, false, &mut |_| {})).expect("run")
}

fn calls_per_run(rt: &tokio::runtime::Runtime, server: &Server, emulator: &TestEmulator) {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("scripts");
    server.sql("DROP DATABASE IF EXISTS bench_calls; CREATE DATABASE bench_calls");
    let model = Model::of(&dir);

    let report = counted_run(rt, emulator, &dir);
    assert!(report.ok, "scripts/ failed: {:?}", report.problems);
    let counters = emulator.counters().expect("counters");
    let total: u64 = counters.values().sum();
    let budget = model.statements + 3 * model.segments + 5;
    for (op, n) in &counters {
        println!("first run: {op:<22} {n:>5}");
    }
    println!("first run: total Data API calls     {total}");
    println!(
        "first run: migrations {}, statements {}, segments {} ({} DDL alone, {} transaction segments), Data API statement calls {}",
        model.migrations, model.statements, model.segments, model.ddl_segments, model.segments - model.ddl_segments, model.statement_calls
    );
    println!(
        "first run: budget (1/statement + 3/segment + 5/run) = {} + 3*{} + 5 = {budget}: {}",
        model.statements,
        model.segments,
        if total as usize <= budget { "within budget" } else { "OVER BUDGET" }
    );
    println!(
        "first run: calls per statement {:.2} (a DDL statement: itself + its progress write, which also records the next DDL as in flight; a transaction segment: begin + statements + progress + commit)",
        total as f64 / model.statements as f64
    );

    let report = counted_run(rt, emulator, &dir);
    assert!(report.ok && report.applied == 0, "second run: {:?}", report.problems);
    let counters = emulator.counters().expect("counters");
    let total: u64 = counters.values().sum();
    let ops: Vec<String> =
        counters.iter().filter(|(_, n)| **n > 0).map(|(op, n)| format!("{op} {n}")).collect();
    println!("second run (nothing to do): total Data API calls {total} ({})", ops.join(", "));
    server.sql("DROP DATABASE bench_calls");
}

/// What the runner does with a statement (the rules of src/runner.rs's `disposition`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Disposition {
    Use,
    Skip,
    Session,
    Ddl,
    Dml,
}

fn first_word(text: &str) -> String {
    let mut t = text.trim_start();
    for marker in ["/*M!", "/*!"] {
        if let Some(rest) = t.strip_prefix(marker) {
            t = rest.trim_start_matches(|c: char| c.is_ascii_digit()).trim_start();
        }
    }
    t.chars().take_while(|c| c.is_ascii_alphabetic()).collect::<String>().to_ascii_uppercase()
}

fn disposition(s: &Statement<'_>) -> Disposition {
    if matches!(s.kind, StatementKind::Use { .. }) {
        return Disposition::Use;
    }
    let first = first_word(s.text);
    match classify(s.text) {
        StatementClass::Ddl if matches!(first.as_str(), "LOCK" | "UNLOCK") => Disposition::Skip,
        StatementClass::Ddl => Disposition::Ddl,
        StatementClass::Transaction if matches!(first.as_str(), "START" | "BEGIN" | "COMMIT" | "SET") => {
            Disposition::Skip
        }
        StatementClass::Transaction => Disposition::Dml,
        _ if first == "SET" => Disposition::Session,
        _ => Disposition::Dml,
    }
}

/// Statements and segments of a scripts folder, cut the way src/runner.rs cuts them, and the calls
/// the segments themselves cost.
#[derive(Debug, Default)]
struct Model {
    migrations: usize,
    statements: usize,
    segments: usize,
    ddl_segments: usize,
    /// Calls that carry the scripts' statements (more than one for a long INSERT that is cut).
    statement_calls: usize,
    /// Calls of all segments: statements, session replays, begin, progress writes, commit.
    segment_calls: usize,
}

impl Model {
    fn of(dir: &Path) -> Model {
        let scripts = discover(dir).expect("scripts");
        let mut m = Model { migrations: scripts.migrations.len(), ..Model::default() };
        for migration in &scripts.migrations {
            let script = Script::read(&migration.path).expect("script reads");
            let statements: Vec<Statement<'_>> =
                script.statements().collect::<Result<_, _>>().expect("script splits");
            let d: Vec<Disposition> = statements.iter().map(disposition).collect();
            let calls: Vec<usize> = statements
                .iter()
                .zip(&d)
                .map(|(s, d)| match d {
                    Disposition::Ddl | Disposition::Dml | Disposition::Session => {
                        aurora_migrate::calls(s.text).expect("fits").len()
                    }
                    _ => 0,
                })
                .collect();
            m.statements += statements.len();
            m.statement_calls += calls.iter().sum::<usize>();
            let mut session = 0;
            let mut at = 0;
            while at < statements.len() {
                let end = if d[at] == Disposition::Ddl {
                    at + 1
                } else {
                    let mut end = at + 1;
                    while end < statements.len() && !matches!(d[end], Disposition::Ddl | Disposition::Use) {
                        end += 1;
                    }
                    end
                };
                m.segments += 1;
                let sends: usize = calls[at..end].iter().sum();
                let has_sends = d[at..end]
                    .iter()
                    .any(|d| matches!(d, Disposition::Ddl | Disposition::Dml | Disposition::Session));
                m.segment_calls += if !has_sends {
                    1 // progress only
                } else if d[at] == Disposition::Ddl && session == 0 {
                    m.ddl_segments += 1;
                    sends + 2 // the in-flight record, the statement, its progress write
                } else if d[at] == Disposition::Ddl {
                    m.ddl_segments += 1;
                    sends + session + 4 // in-flight record, begin, session replays, statement, progress, commit
                } else {
                    sends + session + 3 // begin, session replays, statements, progress, commit
                };
                session += d[at..end].iter().filter(|d| **d == Disposition::Session).count();
                at = end;
            }
        }
        m
    }
}

/// The statements of generated migration `i` (1-based): 25 of them, a realistic mix.
fn generated(i: usize) -> String {
    let t = format!("t{i:03}");
    let mut s = Vec::with_capacity(STATEMENTS_PER_MIGRATION);
    s.push(format!(
        "CREATE TABLE {t} (\n  id INT NOT NULL AUTO_INCREMENT PRIMARY KEY,\n  name VARCHAR(100) NOT NULL,\n  qty INT NOT NULL DEFAULT 0,\n  created_at DATETIME NOT NULL DEFAULT CURRENT_TIMESTAMP\n) ENGINE=InnoDB DEFAULT CHARSET=utf8mb4"
    ));
    s.push(format!("ALTER TABLE {t} ADD COLUMN status VARCHAR(20) NOT NULL DEFAULT 'new'"));
    s.push(format!("ALTER TABLE {t} ADD COLUMN price_cents INT NULL"));
    s.push(format!("CREATE INDEX {t}_name ON {t} (name)"));
    let insert = |k: usize| {
        let rows: Vec<String> = (0..10)
            .map(|r| format!("('item {i}-{k}-{r}', {}, 'new', {})", k * 10 + r, 100 + r * 7))
            .collect();
        format!("INSERT INTO {t} (name, qty, status, price_cents) VALUES\n  {}", rows.join(",\n  "))
    };
    for k in 0..8 {
        s.push(insert(k));
    }
    s.push(format!("UPDATE {t} SET status = 'paid' WHERE qty % 3 = 0"));
    s.push(format!("UPDATE {t} SET price_cents = price_cents + 1 WHERE status = 'paid'"));
    s.push(format!("CREATE INDEX {t}_status ON {t} (status, created_at)"));
    for k in 8..15 {
        s.push(insert(k));
    }
    s.push(format!("UPDATE {t} SET qty = qty + 1 WHERE name LIKE 'item {i}-1%'"));
    s.push(format!("UPDATE {t} SET status = 'shipped' WHERE status = 'paid' AND qty > 50"));
    s.push(format!("UPDATE {t} SET price_cents = NULL WHERE qty = 0"));
    assert_eq!(s.len(), STATEMENTS_PER_MIGRATION);
    format!("-- generated migration {i}\n{};\n", s.join(";\n\n"))
}

fn wall_time(rt: &tokio::runtime::Runtime, server: &Server, emulator: &TestEmulator) {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut files = Vec::new();
    for i in 1..=MIGRATIONS {
        let path = dir.path().join(format!("V{i}__generated_{i}.sql"));
        std::fs::write(&path, generated(i)).expect("write a migration");
        files.push(path);
    }
    let model = Model::of(dir.path());
    assert_eq!(model.statements, MIGRATIONS * STATEMENTS_PER_MIGRATION);
    println!(
        "workload: {} files, {} statements ({} segments: {} DDL alone, {} transaction segments)",
        model.migrations,
        model.statements,
        model.segments,
        model.ddl_segments,
        model.segments - model.ddl_segments
    );

    // Through the runner.
    server.sql("DROP DATABASE IF EXISTS bench_runner; CREATE DATABASE bench_runner");
    emulator.reset_counters().expect("counters reset");
    let started = Instant::now();
    let scripts = discover(dir.path()).expect("scripts");
    let report =
        rt.block_on(runner(emulator, "bench_runner").migrate(&scripts, false, &mut |_| {})).expect("run");
    let runner_time = started.elapsed();
    assert!(report.ok && report.applied == MIGRATIONS, "runner: {:?}", report.problems);
    let calls: u64 = emulator.counters().expect("counters").values().sum();
    let budget = model.statements + 3 * model.segments + 5;
    println!(
        "aurora-migrate Data API calls: {calls} ({:.2} per statement); budget {} + 3*{} + 5 = {budget}: {}",
        calls as f64 / model.statements as f64,
        model.statements,
        model.segments,
        if calls as usize <= budget { "within budget" } else { "OVER BUDGET" }
    );

    // The mariadb client, one process per file.
    server.sql("DROP DATABASE IF EXISTS bench_client; CREATE DATABASE bench_client");
    let started = Instant::now();
    for file in &files {
        server.pipe("bench_client", &std::fs::read(file).expect("read"));
    }
    let client_time = started.elapsed();

    // One mariadb process fed every file.
    server.sql("DROP DATABASE IF EXISTS bench_single; CREATE DATABASE bench_single");
    let all: Vec<u8> = files.iter().flat_map(|f| std::fs::read(f).expect("read")).collect();
    let started = Instant::now();
    server.pipe("bench_single", &all);
    let single_time = started.elapsed();

    // The same result all three ways: tables, and the rows and sums of the first and last table.
    let state = |db: &str| {
        server.sql(&format!(
            "SELECT (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{db}' AND TABLE_NAME LIKE 't%'), \
             (SELECT CONCAT(COUNT(*), '/', SUM(qty), '/', COALESCE(SUM(price_cents), 0)) FROM `{db}`.t001), \
             (SELECT CONCAT(COUNT(*), '/', SUM(qty), '/', COALESCE(SUM(price_cents), 0)) FROM `{db}`.t{MIGRATIONS:03})"
        ))
    };
    let expected = state("bench_client");
    assert_eq!(state("bench_runner"), expected, "the runner gives the client's result");
    assert_eq!(state("bench_single"), expected, "one client process gives the same result");
    for db in ["bench_runner", "bench_client", "bench_single"] {
        server.sql(&format!("DROP DATABASE {db}"));
    }

    let per = |d: Duration| d.as_secs_f64() * 1e3 / model.statements as f64;
    println!("aurora-migrate (runner -> Data API emulator -> MariaDB): {:>8.2} s  ({:.2} ms/statement, {calls} Data API calls)", runner_time.as_secs_f64(), per(runner_time));
    println!(
        "mariadb client, one process per file ({MIGRATIONS} processes): {:>8.2} s  ({:.2} ms/statement)",
        client_time.as_secs_f64(),
        per(client_time)
    );
    println!(
        "mariadb client, one process for all files (fastest baseline): {:>8.2} s  ({:.2} ms/statement)",
        single_time.as_secs_f64(),
        per(single_time)
    );
    let ratio = runner_time.as_secs_f64() / client_time.as_secs_f64();
    println!(
        "ratio aurora-migrate / mariadb client per file: {ratio:.2}x (target <= 2x: {})",
        if ratio <= 2.0 { "met" } else { "NOT met" }
    );
    println!(
        "ratio aurora-migrate / single mariadb process (fastest possible baseline): {:.2}x",
        runner_time.as_secs_f64() / single_time.as_secs_f64()
    );
}

fn runner(emulator: &TestEmulator, database: &str) -> Runner<DataApi> {
    let api = DataApi::local(&emulator.endpoint, &emulator.cluster_arn, &emulator.secret_arn);
    Runner::new(
        Arc::new(api),
        RunConfig { default_database: Some(database.to_owned()), ..RunConfig::default() },
    )
    .expect("runner")
}

/// The throwaway server, for the mariadb command-line clients.
struct Server<'a>(&'a MariaDb);

impl Server<'_> {
    fn command(&self) -> Command {
        self.0.client("mariadb")
    }

    fn sql(&self, sql: &str) -> String {
        let out = self.command().args(["-N", "-B", "-e", sql]).output().expect("the mariadb client runs");
        assert!(out.status.success(), "{sql}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim_end().to_owned()
    }

    /// `mariadb --default-character-set=utf8mb4 db < input`, as the corpus's expected.tsv was made.
    fn pipe(&self, database: &str, input: &[u8]) {
        let mut child = self
            .command()
            .arg("--default-character-set=utf8mb4")
            .arg(database)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("the mariadb client starts");
        child.stdin.take().expect("piped stdin").write_all(input).expect("feed the client");
        let out = child.wait_with_output().expect("the mariadb client ends");
        assert!(out.status.success(), "mariadb {database}: {}", String::from_utf8_lossy(&out.stderr));
    }
}
