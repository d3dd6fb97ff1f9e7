//! Fleet benchmark: N tenant databases × 10 migrations (3 statements each: a CREATE TABLE, then two
//! INSERTs) through the fleet runner and the Data API emulator over a throwaway MariaDB, with a
//! fixed latency added to every Data API call (default 10 ms, the real service's order of
//! magnitude). For parallelism 1, 8 and 32 (each over its own fresh N databases) it prints the wall
//! time, the speed-up over parallelism 1, the Data API calls per statement (the emulator's
//! counters) and the runner's own CPU per statement.
//!
//! The runner's CPU: the emulator runs in this process, on threads of its own named
//! `data-api-emulator`; MariaDB is another process. So the runner's CPU is this process's
//! `getrusage(RUSAGE_SELF)` user+system time minus the CPU of the emulator's threads, read from
//! `/proc/self/task/*/stat` (clock ticks, 10 ms resolution), both taken before and after each run.
//!
//! `FLEET_BENCH_TENANTS` (default 200) sets N, `FLEET_BENCH_LATENCY_MS` (default 10) the latency,
//! `FLEET_BENCH_PARALLEL` (default `1,8,32`) the levels. Run with `cargo bench --bench fleet`;
//! without `--bench` (as `cargo test --all-targets` runs it) it exits at once.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use aurora_migrate::discover;
use aurora_migrate::{DataApi, Fleet, Operation, RunConfig, Selection};
use data_api_emulator::testing::{MariaDb, Options, TestEmulator};

const MIGRATIONS: usize = 10;
const STATEMENTS_PER_MIGRATION: usize = 3;

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

    let db = MariaDb::start().expect("throwaway MariaDB starts");
    // The emulator keeps a connection pool per database, so hundreds of tenants hold hundreds of
    // idle connections: more than MariaDB's default max_connections (151).
    sql(&db, "SET GLOBAL max_connections = 5000");
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
    println!(
        "{:>8}  {:>9}  {:>8}  {:>7}  {:>10}  {:>14}",
        "PARALLEL", "WALL", "SPEED-UP", "CALLS", "CALLS/STMT", "RUNNER CPU/STMT"
    );
    let mut base: Option<f64> = None;
    for parallel in levels {
        let prefix = format!("p{parallel}_t");
        let create: String = (0..tenants).map(|i| format!("CREATE DATABASE {prefix}{i:04};")).collect();
        sql(&db, &create);
        let api = DataApi::local(&emulator.endpoint, &emulator.cluster_arn, &emulator.secret_arn);
        let fleet = Fleet::new(Arc::new(api), RunConfig::default(), parallel).expect("fleet");
        let selection = Selection::Pattern(format!("p{parallel}\\_t%"));
        emulator.reset_counters().expect("counters reset");
        let cpu_before = runner_cpu();
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
        let cpu = runner_cpu() - cpu_before;
        assert_eq!(report.summary.databases, tenants, "{report}");
        // A database that failed is reported, not hidden: its problem goes to stderr.
        for d in report.failures() {
            eprintln!("parallel {parallel}: {}: {}", d.database, d.problems.join("; "));
        }
        let not_ok = tenants - report.summary.ok;
        let calls: u64 = emulator.counters().expect("counters").values().sum();
        let speedup = base.map(|b| b / wall).unwrap_or(1.0);
        base.get_or_insert(wall);
        println!(
            "{parallel:>8}  {:>8.1}s  {:>7.1}x  {calls:>7}  {:>10.2}  {:>12.0}µs  {not_ok} not ok",
            wall,
            speedup,
            calls as f64 / statements as f64,
            cpu.as_secs_f64() * 1e6 / statements as f64
        );
    }
}

/// Runs SQL on the server with the mariadb client (setup, not measured).
fn sql(db: &MariaDb, sql: &str) {
    let out = db.client("mariadb").args(["-N", "-B", "-e", sql]).output().expect("mariadb client runs");
    assert!(out.status.success(), "{}", String::from_utf8_lossy(&out.stderr));
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
    // SAFETY: sysconf has no preconditions.
    let ticks_per_second = unsafe { libc::sysconf(libc::_SC_CLK_TCK) }.max(1) as u64;
    let mut ticks = 0u64;
    for task in std::fs::read_dir("/proc/self/task").into_iter().flatten().flatten() {
        let Ok(stat) = std::fs::read_to_string(task.path().join("stat")) else { continue };
        // `pid (comm) state ...`: the name may hold spaces, so cut at the last ')'.
        let (Some(open), Some(close)) = (stat.find('('), stat.rfind(')')) else { continue };
        if !stat[open + 1..close].starts_with("data-api-emulat") {
            continue;
        }
        let fields: Vec<&str> = stat[close + 1..].split_whitespace().collect();
        // After the name: state is field 3, utime 14, stime 15 (1-based over the whole line).
        let field = |n: usize| fields.get(n - 3).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        ticks += field(14) + field(15);
    }
    Duration::from_millis(ticks * 1000 / ticks_per_second)
}
