//! Fleet benchmark: N tenant databases × 10 migrations (3 statements each: a CREATE TABLE, then two
//! INSERTs) through the fleet runner and the Data API emulator over a throwaway MariaDB, with a
//! fixed latency added to every Data API call (default 10 ms, the real service's order of
//! magnitude). For parallelism 1, 8 and 32 (each over its own fresh N databases) it prints the wall
//! time, the speed-up over parallelism 1, the Data API calls per statement (the emulator's
//! counters), where the CPU went per statement (the runner, the emulator, MariaDB), InnoDB row
//! lock waits, and the machine's load average before and after (the machine may be shared, and
//! the figures mean little without it).
//!
//! The throwaway MariaDB is tuned for throughput, the same for every level: a thread pool
//! (`--thread-handling=pool-of-threads`: a few threads run the statements of many connections, so
//! 32 connections on 2 cores do not spin on InnoDB's latches) and table caches large enough for
//! every tenant's tables (`--table-definition-cache=8192 --table-open-cache=8192`; the default
//! 400 definitions evict and re-read them). Durability is the default
//! (`innodb_flush_log_at_trx_commit=1`). The emulator keeps its default bound on connections.
//!
//! The runner's CPU: the emulator runs in this process, on threads of its own named
//! `data-api-emulator`; MariaDB is another process. So the runner's CPU is this process's
//! `getrusage(RUSAGE_SELF)` user+system time minus the CPU of the emulator's threads, read from
//! `/proc/self/task/*/stat` (clock ticks, 10 ms resolution), both taken before and after each run.
//!
//! `FLEET_BENCH_TENANTS` (default 200) sets N, `FLEET_BENCH_LATENCY_MS` (default 10) the latency,
//! `FLEET_BENCH_PARALLEL` (default `1,8,32`) the levels. `FLEET_BENCH_DIGESTS=K` turns on the
//! server's performance schema and prints, after each level, the K statement shapes that took the
//! server the most time (where MariaDB's share goes; the schema costs some throughput, so leave it
//! off for the figures). Run with `cargo bench --bench fleet`;
//! without `--bench` (as `cargo test --all-targets` runs it) it exits at once.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aurora_migrate::discover;
use aurora_migrate::{DataApi, Fleet, Operation, RunConfig, Selection};
use data_api_emulator::testing::{MariaDb, Options, TestEmulator};

const MIGRATIONS: usize = 10;
const STATEMENTS_PER_MIGRATION: usize = 3;
/// The throughput settings of the throwaway server (see the module's documentation).
const SERVER_OPTIONS: [&str; 3] =
    ["--thread-handling=pool-of-threads", "--table-definition-cache=8192", "--table-open-cache=8192"];

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let tenants: usize = env_or("FLEET_BENCH_TENANTS", 200);
    let latency = Duration::from_millis(env_or("FLEET_BENCH_LATENCY_MS", 10));
    let levels: Vec<usize> = std::env::var("FLEET_BENCH_PARALLEL")
        .unwrap_or_else(|_| "1,8,32".into())
        .split(',')
        .filter_map(|p| p.trim().parse().ok())
        .collect();

    let digests: usize = env_or("FLEET_BENCH_DIGESTS", 0);
    let mut server_options = SERVER_OPTIONS.to_vec();
    if digests > 0 {
        server_options.push("--performance-schema=ON");
    }
    let db = MariaDb::start_with(&server_options).expect("throwaway MariaDB starts");
    let emulator =
        TestEmulator::start(&db, Options { latency, ..Options::default() }).expect("emulator starts");
    let scripts_dir = tempfile::tempdir().expect("tempdir");
    for v in 1..=MIGRATIONS {
        std::fs::write(
            scripts_dir.path().join(format!("V{v}__t{v}.sql")),
            format!(
                "CREATE TABLE t{v} (id INT PRIMARY KEY, note VARCHAR(40));\n\
                 INSERT INTO t{v} VALUES (1, 'one');\nINSERT INTO t{v} VALUES (2, 'two');\n"
            ),
        )
        .expect("write script");
    }
    let scripts = discover(scripts_dir.path()).expect("scripts");
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
    let statements = tenants * MIGRATIONS * STATEMENTS_PER_MIGRATION;

    println!(
        "== Fleet: {tenants} tenant databases x {MIGRATIONS} migrations ({statements} statements), \
         {} ms added per Data API call ==",
        latency.as_millis()
    );
    println!("server options: {}", server_options.join(" "));
    println!(
        "{:>8}  {:>9}  {:>8}  {:>7}  {:>10}  {:>9}  {:>9}  {:>9}  {:>10}  {:>11}",
        "PARALLEL",
        "WALL",
        "SPEED-UP",
        "CALLS",
        "CALLS/STMT",
        "RUNNER",
        "EMULATOR",
        "MARIADB",
        "LOCK WAITS",
        "LOAD"
    );
    println!("{:>59}", "(CPU per statement)");
    let mut base: Option<f64> = None;
    for parallel in levels {
        let prefix = format!("p{parallel}_t");
        let create: String = (0..tenants).map(|i| format!("CREATE DATABASE {prefix}{i:04};")).collect();
        sql(&db, &create);
        let api = DataApi::local(&emulator.endpoint, &emulator.cluster_arn, &emulator.secret_arn);
        let fleet = Fleet::new(Arc::new(api), RunConfig::default(), parallel).expect("fleet");
        let selection = Selection::Pattern(format!("p{parallel}\\_t%"));
        emulator.reset_counters().expect("counters reset");
        if digests > 0 {
            sql(&db, "TRUNCATE TABLE performance_schema.events_statements_summary_by_digest");
        }
        let load_before = load_average();
        let waits_before = row_lock_waits(&db);
        let (cpu_before, emulator_before, server_before) =
            (runner_cpu(), emulator_threads_cpu(), process_cpu_of(db.pid()));
        let started = Instant::now();
        let report = rt
            .block_on(fleet.run(
                &Operation::Migrate { dry_run: false },
                &selection,
                &scripts,
                Path::new(scripts_dir.path()),
                Arc::new(|_| {}),
            ))
            .expect("the fleet runs");
        let wall = started.elapsed().as_secs_f64();
        let cpu = runner_cpu().saturating_sub(cpu_before);
        let emulator_cpu = emulator_threads_cpu().saturating_sub(emulator_before);
        let server_cpu = process_cpu_of(db.pid()).saturating_sub(server_before);
        let waits = row_lock_waits(&db).saturating_sub(waits_before);
        let load_after = load_average();
        assert_eq!(report.summary.databases, tenants, "{report}");
        // A database that failed is reported, not hidden: its problem goes to stderr.
        for d in report.failures() {
            eprintln!("parallel {parallel}: {}: {}", d.database, d.problems.join("; "));
        }
        let not_ok = tenants - report.summary.ok;
        let calls: u64 = emulator.counters().expect("counters").values().sum();
        let speedup = base.map(|b| b / wall).unwrap_or(1.0);
        base.get_or_insert(wall);
        let per_statement = |d: Duration| format!("{:.0}µs", d.as_secs_f64() * 1e6 / statements as f64);
        println!(
            "{parallel:>8}  {:>8.1}s  {:>7.1}x  {calls:>7}  {:>10.2}  {:>9}  {:>9}  {:>9}  {waits:>10}  \
             {load_before:>4.1}-{load_after:<4.1}  {not_ok} not ok",
            wall,
            speedup,
            calls as f64 / statements as f64,
            per_statement(cpu),
            per_statement(emulator_cpu),
            per_statement(server_cpu),
        );
        if digests > 0 {
            print_digests(&db, digests, statements);
        }
    }
}

/// The `k` statement shapes that took the server the most time since the digest table was emptied
/// (the tenants' names folded into one shape): server time per benchmark statement, calls, and the
/// share of the whole.
fn print_digests(db: &MariaDb, k: usize, statements: usize) {
    let query = format!(
        "SELECT ROUND(SUM(t) / 1e6), SUM(n), ROUND(100 * SUM(t) / (SELECT SUM(SUM_TIMER_WAIT) \
                FROM performance_schema.events_statements_summary_by_digest)), LEFT(shape, 160) \
         FROM (SELECT SUM_TIMER_WAIT t, COUNT_STAR n, \
                      REGEXP_REPLACE(REPLACE(DIGEST_TEXT, '\\n', ' '), 'p[0-9]+_t[0-9]+', 'tenant') shape \
               FROM performance_schema.events_statements_summary_by_digest) d \
         GROUP BY shape ORDER BY SUM(t) DESC LIMIT {k}"
    );
    let out = db.client("mariadb").args(["-N", "-B", "-e", &query]).output().expect("mariadb client runs");
    println!("    server time by statement shape (per benchmark statement, calls, share):");
    for line in String::from_utf8_lossy(&out.stdout).lines() {
        let f: Vec<&str> = line.splitn(4, '\t').collect();
        let [us, calls, share, text] = f[..] else { continue };
        let per = us.parse::<f64>().unwrap_or(0.0) / statements as f64;
        println!("    {per:>8.0}µs  {calls:>7}  {share:>3}%  {text}");
    }
}

/// Runs SQL on the server with the mariadb client (setup, not measured).
fn sql(db: &MariaDb, sql: &str) {
    let out = db.client("mariadb").args(["-N", "-B", "-e", sql]).output().expect("mariadb client runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
}

/// The 1-minute load average of the machine.
fn load_average() -> f64 {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace().next().and_then(|v| v.parse().ok()).unwrap_or(f64::NAN)
}

/// InnoDB row lock waits since the server started.
fn row_lock_waits(db: &MariaDb) -> u64 {
    let out = db
        .client("mariadb")
        .args(["-N", "-B", "-e", "SHOW GLOBAL STATUS LIKE 'Innodb_row_lock_waits'"])
        .output()
        .expect("mariadb client runs");
    String::from_utf8_lossy(&out.stdout).split_whitespace().last().and_then(|n| n.parse().ok()).unwrap_or(0)
}

/// User + system time of process `pid` (zero when there is none, e.g. an external server).
fn process_cpu_of(pid: Option<u32>) -> Duration {
    let Some(pid) = pid else { return Duration::ZERO };
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    ticks_to_duration(stat_ticks(&stat))
}

/// utime + stime of a `/proc/.../stat` line, in clock ticks.
fn stat_ticks(stat: &str) -> u64 {
    // `pid (comm) state ...`: the name may hold spaces, so cut at the last ')'.
    let Some(close) = stat.rfind(')') else { return 0 };
    let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
    // After the name: state is field 3, utime 14, stime 15 (1-based over the whole line).
    let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    field(14) + field(15)
}

fn ticks_to_duration(ticks: u64) -> Duration {
    // SAFETY: sysconf has no preconditions.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    Duration::from_millis(ticks * 1000 / ticks_per_second)
}

/// CPU time of this process so far, minus that of the in-process emulator's threads.
fn runner_cpu() -> Duration {
    process_cpu().saturating_sub(emulator_threads_cpu())
}

fn process_cpu() -> Duration {
    // SAFETY: getrusage writes into the zeroed struct we own; RUSAGE_SELF is always valid.
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_SELF, &mut usage);
        usage
    };
    let tv =
        |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    tv(usage.ru_utime) + tv(usage.ru_stime)
}

/// User + system time of the threads named `data-api-emulator` (the kernel keeps 15 characters).
fn emulator_threads_cpu() -> Duration {
    let mut ticks = 0u64;
    for task in std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else { continue };
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        if stat[open + 1..close].starts_with("data-api-emulat") {
            ticks += stat_ticks(&stat);
        }
    }
    ticks_to_duration(ticks)
}
