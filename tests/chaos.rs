//! The chaos suite: the real `aurora-migrate` CLI against the emulator and a throwaway MariaDB,
//! under faults, checked against what the `mariadb` client makes of the same scripts.
//!
//! The workload (`tests/chaos/workload`) mixes DDL, DML, `SET`s (a DDL statement right after one),
//! a trigger and a procedure under `DELIMITER`, non-idempotent `UPDATE n = n + k` and audit rows
//! without a key, so anything run twice shows. It is applied once with the `mariadb` client to a
//! reference database; every case then migrates a fresh database of its own through the CLI with
//! one kind of chaos: a lost answer (`drop_after`), a dropped request (`drop_before`), a 5xx, a
//! resuming cluster or "the database is unavailable" after the call ran (`unavailable_after`) at a
//! call position of the run (counted on a clean run first); a SIGKILL at a
//! random moment; three concurrent runs, some killed; MariaDB killed and restarted mid-run; the
//! slow DDL outliving a 1-second call timeout, with a kill; and a fault at a call position of a
//! run with that 1-second call timeout, where the slow DDL and a long backfill (applied through
//! its stored procedure) outlive their calls. After each, the CLI is rerun (at most
//! three times) and must converge: a dump of the database equal to the reference (schema, routines,
//! triggers, rows: so nothing ran twice or was skipped), and `status` saying every migration is
//! applied. A first run that exits 0 must already be there.
//!
//! Seeded and bounded: `CHAOS_SEED` (default 10), `CHAOS_CASES` (default 24, a few minutes on two
//! cores), `CHAOS_FIRST` (the first case index; `CHAOS_FIRST=7 CHAOS_CASES=1` replays case 7;
//! kill and restart moments are fractions of the measured clean run, so they vary with the load).
//! `CHAOS_SWEEP=1` replaces the random choice by every fault kind at every call position in turn.
//! `CHAOS_KINDS=all` draws from every kind of chaos (the soak, `dev/chaos`; also a run through the
//! 1-second-call-timeout emulator stopped by `migrate --max-time`); the default, `sample`,
//! draws mostly faults at a call position, and a fault in a run with the short call timeout, a
//! SIGKILL, concurrent runs with kills or the slow DDL killed one case in ten each. The tests below the sample reproduce faults found by hand.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

use aurora_migrate::names;

mod common;
use data_api_emulator::testing::{MariaDb, Options, TestEmulator};
use data_api_emulator::{FaultKind, FaultRule};

const HISTORY: &str = names::DEFAULT_HISTORY_TABLE;
/// The lease every CLI run takes (`--lease`): short, so that the run after a kill waits only
/// seconds for it, but long enough that the renewal (every third of it) outlasts the stalls of a
/// loaded two-core machine. With 2 s, the soak saw clean runs lose their lease while one
/// migration's calls took 5 to 14 s, and every rerun of the case lose it again.
const LEASE_SECONDS: &str = "5";
/// A CLI run that takes longer than this is hung: killed and reported.
const RUN_LIMIT: Duration = Duration::from_secs(150);

/// One MariaDB, an emulator with AWS's timeouts and one with a 1-second call timeout, the workload
/// and the reference dump.
struct Lab {
    db: MariaDb,
    fast: TestEmulator,
    slow: TestEmulator,
    workload: PathBuf,
    reference: String,
}

impl Lab {
    fn start() -> Lab {
        let db = MariaDb::start().expect("throwaway MariaDB starts");
        // A lock wait that fails in 5 s instead of 50 s: a run blocked by a crashed run's open
        // transaction shows as quickly, and the sample stays bounded.
        db.sql("SET GLOBAL innodb_lock_wait_timeout = 5").expect("sets the lock wait");
        let fast = TestEmulator::start(&db, Options::default()).expect("emulator starts");
        let slow = TestEmulator::start(
            &db,
            Options::with_timeouts(
                Duration::from_secs(1),
                Duration::from_secs(180),
                Duration::from_secs(3600),
            ),
        )
        .expect("emulator starts");
        let workload = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/chaos/workload");
        let mut lab = Lab { db, fast, slow, workload, reference: String::new() };
        lab.reference = lab.reference_dump();
        lab
    }

    /// Applies every workload file with the `mariadb` client, one session per file, as a user
    /// would pipe them, and dumps the result.
    fn reference_dump(&self) -> String {
        self.db.sql("CREATE DATABASE reference").expect("creates the reference database");
        for file in workload_files(&self.workload) {
            let out = self
                .db
                .client("mariadb")
                .args(["--default-character-set=utf8mb4", "reference"])
                .stdin(std::fs::File::open(&file).expect("opens the script"))
                .output()
                .expect("mariadb client runs");
            assert!(out.status.success(), "{}: {}", file.display(), String::from_utf8_lossy(&out.stderr));
        }
        self.dump("reference")
    }

    /// `mariadb-dump` of a database without the history tables, normalised: no AUTO_INCREMENT
    /// counters (rolled-back inserts move them), rows sorted (tables without a key keep insertion
    /// order, which resumed runs may change without being wrong).
    fn dump(&self, database: &str) -> String {
        let out = self
            .db
            .client("mariadb-dump")
            .args([
                "--default-character-set=utf8mb4",
                "--skip-dump-date",
                "--compact",
                "--skip-extended-insert",
                "--routines",
                "--triggers",
                "--order-by-primary",
            ])
            .arg(format!("--ignore-table={database}.{HISTORY}"))
            .arg(format!("--ignore-table={database}.{HISTORY}_lock"))
            .arg(database)
            .output()
            .expect("mariadb-dump runs");
        assert!(out.status.success(), "dump of {database}: {}", String::from_utf8_lossy(&out.stderr));
        let text = String::from_utf8_lossy(&out.stdout);
        let mut rows = Vec::new();
        let mut rest = Vec::new();
        for line in text.lines() {
            let line = strip_auto_increment(line);
            if line.starts_with("INSERT INTO") {
                rows.push(line);
            } else {
                rest.push(line);
            }
        }
        rows.sort();
        rest.extend(rows);
        rest.join("\n")
    }

    fn spawn_migrate(&self, emulator: &TestEmulator, database: &str) -> Child {
        spawn_migrate(emulator, &self.workload, database)
    }

    fn migrate(&self, emulator: &TestEmulator, database: &str) -> Run {
        finish(self.spawn_migrate(emulator, database))
    }

    /// Whether `database` now matches the reference and `status` says every migration is applied;
    /// the difference otherwise.
    fn converged(&self, database: &str) -> Result<(), String> {
        let dump = self.dump(database);
        if dump != self.reference {
            return Err(format!(
                "{database} differs from the mariadb client's result:\n{}",
                diff(&dump, &self.reference)
            ));
        }
        all_applied(&self.fast, &self.workload, database)
    }

    fn create(&self, database: &str) {
        create(&self.db, database);
    }
}

fn create(db: &MariaDb, database: &str) {
    db.sql(&format!("DROP DATABASE IF EXISTS {database}; CREATE DATABASE {database}")).expect("creates");
}

/// Whether `status` says every migration of `dir` is applied in `database`.
fn all_applied(emulator: &TestEmulator, dir: &Path, database: &str) -> Result<(), String> {
    let status = finish(cli(emulator, dir, database, &["--format", "json", "status"]).spawn().expect("runs"));
    let json: serde_json::Value = serde_json::from_str(&status.stdout)
        .map_err(|e| format!("status is not JSON ({e}): {}\n{}", status.stdout, status.stderr))?;
    let entries = json["databases"][0]["entries"].as_array().cloned().unwrap_or_default();
    let wrong: Vec<String> = entries
        .iter()
        .filter(|e| e["state"] != "applied" || e["history"]["success"] != true)
        .map(|e| format!("{} {} {}", e["version"], e["state"], e["history"]))
        .collect();
    if entries.len() != workload_files(dir).len() || !wrong.is_empty() || json["ok"] != true {
        return Err(format!("status does not say all applied: {wrong:?}\n{}", status.stdout));
    }
    Ok(())
}

/// The CLI with `args`, scripts `dir` and `database`, through `emulator`.
fn cli(emulator: &TestEmulator, dir: &Path, database: &str, args: &[&str]) -> Command {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aurora-migrate"));
    cmd.args(args).arg(dir).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped());
    common::connect_to(&mut cmd, emulator, database);
    cmd
}

fn spawn_migrate(emulator: &TestEmulator, dir: &Path, database: &str) -> Child {
    cli(emulator, dir, database, &["migrate", "--lease", LEASE_SECONDS, "--lock-wait", "30"])
        .spawn()
        .expect("the CLI starts")
}

/// What a CLI run did.
struct Run {
    status: Option<ExitStatus>,
    stdout: String,
    stderr: String,
}

impl Run {
    fn ok(&self) -> bool {
        self.status.is_some_and(|s| s.success())
    }

    fn code(&self) -> String {
        match self.status {
            Some(s) => s.code().map_or_else(|| "killed".to_owned(), |c| c.to_string()),
            None => "hung".to_owned(),
        }
    }
}

/// Waits for a CLI run (killing it after [`RUN_LIMIT`]) and collects its output.
fn finish(mut child: Child) -> Run {
    let started = Instant::now();
    let status = loop {
        if let Ok(Some(status)) = child.try_wait() {
            break Some(status);
        }
        if started.elapsed() > RUN_LIMIT {
            kill(&mut child);
            break None;
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    let mut stdout = String::new();
    let mut stderr = String::new();
    if let Some(mut out) = child.stdout.take() {
        let _ = out.read_to_string(&mut stdout);
    }
    if let Some(mut err) = child.stderr.take() {
        let _ = err.read_to_string(&mut stderr);
    }
    Run { status, stdout, stderr }
}

/// SIGKILL to our own child, then reaps it.
fn kill(child: &mut Child) {
    let _ = child.kill();
    let _ = child.wait();
}

fn workload_files(dir: &Path) -> Vec<PathBuf> {
    let mut files: Vec<(u32, PathBuf)> = std::fs::read_dir(dir)
        .expect("workload folder")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter_map(|p| {
            let name = p.file_name()?.to_str()?.to_owned();
            let version = name.strip_prefix('V')?.split("__").next()?.parse().ok()?;
            Some((version, p))
        })
        .collect();
    files.sort();
    files.into_iter().map(|(_, p)| p).collect()
}

fn strip_auto_increment(line: &str) -> String {
    match line.find(" AUTO_INCREMENT=") {
        Some(at) => {
            let rest = &line[at + 16..];
            let end = rest.find(|c: char| !c.is_ascii_digit()).unwrap_or(rest.len());
            format!("{}{}", &line[..at], &rest[end..])
        }
        None => line.to_owned(),
    }
}

/// Lines only in one of the two dumps.
fn diff(got: &str, want: &str) -> String {
    let got_lines: Vec<&str> = got.lines().collect();
    let want_lines: Vec<&str> = want.lines().collect();
    let mut out = String::new();
    for l in &got_lines {
        if !want_lines.contains(l) {
            out.push_str(&format!("+ {l}\n"));
        }
    }
    for l in &want_lines {
        if !got_lines.contains(l) {
            out.push_str(&format!("- {l}\n"));
        }
    }
    if out.is_empty() {
        out.push_str("(same lines, different multiplicity: a row or object twice)\n");
    }
    out
}

/// splitmix64: a seeded, dependency-free source of case parameters.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, n: u64) -> u64 {
        if n == 0 {
            0
        } else {
            self.next() % n
        }
    }
}

fn env_u64(name: &str, default: u64) -> u64 {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// One kind of chaos, with its parameters.
#[derive(Debug, Clone)]
enum Chaos {
    /// A fault at call position `at` (0-based, over all operations) of the first run.
    Fault { kind: FaultKind, at: u32 },
    /// SIGKILL after `after_ms`.
    Kill { after_ms: u64 },
    /// Three runs at once; those in `kill` are killed after their delay.
    Concurrent { kill_after_ms: [Option<u64>; 3] },
    /// MariaDB killed and restarted after `after_ms`.
    RestartDatabase { after_ms: u64 },
    /// Through the 1-second-call-timeout emulator (the slow DDL outlives its call), killed after
    /// `after_ms`.
    SlowDdlKill { after_ms: u64 },
    /// A fault at call position `at` of a run through the 1-second-call-timeout emulator, where the
    /// slow DDL and the long backfill (through its stored procedure) outlive their calls.
    SlowFault { kind: FaultKind, at: u32 },
    /// A run through the 1-second-call-timeout emulator with `migrate --max-time seconds`: it stops
    /// between statements (exit 1, unfinished) or while the slow DDL or the backfill still runs
    /// (exit 4), or finishes. Only with `CHAOS_KINDS=all`.
    Deadline { seconds: u64 },
}

/// What a clean run looks like: calls and duration, measured once.
struct Baseline {
    calls: u32,
    /// Calls of a clean run through the 1-second-call-timeout emulator.
    slow_calls: u32,
    fast_ms: u64,
    slow_ms: u64,
}

fn measure(lab: &Lab) -> Baseline {
    lab.create("chaos_clean_fast");
    lab.fast.reset_counters().expect("resets");
    let started = Instant::now();
    let run = lab.migrate(&lab.fast, "chaos_clean_fast");
    let fast_ms = started.elapsed().as_millis() as u64;
    assert!(run.ok(), "a clean run fails: {}\n{}", run.stdout, run.stderr);
    lab.converged("chaos_clean_fast").expect("a clean run gives the mariadb client's result");
    let calls: u64 = lab.fast.counters().expect("counters").values().sum();
    lab.create("chaos_clean_slow");
    lab.slow.reset_counters().expect("resets");
    let started = Instant::now();
    let run = lab.migrate(&lab.slow, "chaos_clean_slow");
    let slow_ms = started.elapsed().as_millis() as u64;
    assert!(run.ok(), "a clean run with a 1 s call timeout fails: {}\n{}", run.stdout, run.stderr);
    lab.converged("chaos_clean_slow").expect("the slow clean run converges");
    let slow_calls: u64 = lab.slow.counters().expect("counters").values().sum();
    Baseline {
        calls: u32::try_from(calls).unwrap_or(u32::MAX),
        slow_calls: u32::try_from(slow_calls).unwrap_or(u32::MAX),
        fast_ms,
        slow_ms,
    }
}

/// The fault kinds a case puts at a call position (the sample, `CHAOS_KINDS=all` and the sweep).
const FAULTS: [FaultKind; 5] = [
    FaultKind::DropAfter,
    FaultKind::DropBefore,
    FaultKind::Unavailable,
    FaultKind::Resuming,
    FaultKind::UnavailableAfter,
];

/// The chaos of case `case`: from the seeded generator, or with `CHAOS_SWEEP` set, every fault
/// kind at every call position in turn (case = kind * calls + position).
fn pick(rng: &mut Rng, base: &Baseline, case: u64) -> Chaos {
    if std::env::var_os("CHAOS_SWEEP").is_some() {
        let calls = u64::from(base.calls.max(1));
        let kind = FAULTS[((case / calls) % FAULTS.len() as u64) as usize];
        return Chaos::Fault { kind, at: (case % calls) as u32 };
    }
    let faults = FAULTS;
    let every_kind = std::env::var("CHAOS_KINDS").is_ok_and(|kinds| kinds == "all");
    // The sample: faults six cases in ten, then a fault in a slow run, a kill, concurrent runs,
    // the slow DDL killed.
    let draw =
        if every_kind { rng.below(12) } else { [0, 0, 0, 0, 0, 0, 10, 5, 7, 9][rng.below(10) as usize] };
    match draw {
        0..=4 => Chaos::Fault {
            kind: faults[rng.below(faults.len() as u64) as usize],
            at: rng.below(u64::from(base.calls)) as u32,
        },
        5 | 6 => Chaos::Kill { after_ms: rng.below(base.fast_ms.max(1)) },
        7 => Chaos::Concurrent {
            kill_after_ms: [0; 3].map(|_| (rng.below(2) == 0).then(|| rng.below(base.fast_ms.max(1)))),
        },
        8 => Chaos::RestartDatabase { after_ms: rng.below(base.fast_ms.max(1)) },
        9 => Chaos::SlowDdlKill { after_ms: rng.below(base.slow_ms.max(1)) },
        10 => Chaos::SlowFault {
            kind: faults[rng.below(faults.len() as u64) as usize],
            at: rng.below(u64::from(base.slow_calls)) as u32,
        },
        _ => Chaos::Deadline { seconds: 1 + rng.below(base.slow_ms / 1000 + 1) },
    }
}

/// Runs one case; the error says what went wrong.
fn run_case(lab: &mut Lab, database: &str, chaos: &Chaos) -> Result<String, String> {
    lab.create(database);
    let first = match chaos {
        Chaos::Fault { kind, at } => {
            let rule = FaultRule { fault: *kind, count: 1, delay_ms: 0, operations: None };
            lab.fast.inject_after(&rule, *at).expect("injects");
            let run = lab.migrate(&lab.fast, database);
            lab.fast.clear_faults().expect("clears");
            vec![run]
        }
        Chaos::Kill { after_ms } => {
            let mut child = lab.spawn_migrate(&lab.fast, database);
            std::thread::sleep(Duration::from_millis(*after_ms));
            kill(&mut child);
            vec![finish(child)]
        }
        Chaos::Concurrent { kill_after_ms } => {
            let started = Instant::now();
            let mut children: Vec<(Child, Option<u64>)> =
                kill_after_ms.iter().map(|k| (lab.spawn_migrate(&lab.fast, database), *k)).collect();
            let mut order: Vec<usize> = (0..children.len()).collect();
            order.sort_by_key(|i| children[*i].1.unwrap_or(u64::MAX));
            for i in order {
                if let Some(ms) = children[i].1 {
                    let at = Duration::from_millis(ms);
                    std::thread::sleep(at.saturating_sub(started.elapsed()));
                    kill(&mut children[i].0);
                }
            }
            children.into_iter().map(|(c, _)| finish(c)).collect()
        }
        Chaos::RestartDatabase { after_ms } => {
            let mut child = lab.spawn_migrate(&lab.fast, database);
            std::thread::sleep(Duration::from_millis(*after_ms));
            // A server that does not come back leaves the run retrying for minutes: say so at once.
            if let Err(e) = lab.db.restart() {
                kill(&mut child);
                return Err(format!("MariaDB did not come back: {e}"));
            }
            // The restarted server has its default lock wait (50 s) again: back to the lab's 5 s.
            let reset = lab.db.sql("SET GLOBAL innodb_lock_wait_timeout = 5");
            let run = finish(child);
            reset.map_err(|e| e.to_string())?;
            vec![run]
        }
        Chaos::SlowFault { kind, at } => {
            let rule = FaultRule { fault: *kind, count: 1, delay_ms: 0, operations: None };
            lab.slow.inject_after(&rule, *at).expect("injects");
            let run = lab.migrate(&lab.slow, database);
            lab.slow.clear_faults().expect("clears");
            vec![run]
        }
        Chaos::SlowDdlKill { after_ms } => {
            let mut child = lab.spawn_migrate(&lab.slow, database);
            std::thread::sleep(Duration::from_millis(*after_ms));
            kill(&mut child);
            vec![finish(child)]
        }
        Chaos::Deadline { seconds } => {
            let limit = seconds.to_string();
            let args = ["migrate", "--lease", LEASE_SECONDS, "--lock-wait", "30", "--max-time", &limit];
            let run = finish(cli(&lab.slow, &lab.workload, database, &args).spawn().expect("the CLI starts"));
            // Stopped in time says so: between statements (1, the deadline named) or while a
            // statement still runs (4); anything else is a failure of the run itself.
            let said = |what: &str| run.stdout.contains(what) || run.stderr.contains(what);
            let stopped = run.code() == "4" || (run.code() == "1" && said("deadline came"));
            if !run.ok() && !stopped {
                return Err(format!(
                    "--max-time {seconds}: exit {}:\n{}{}",
                    run.code(),
                    run.stdout,
                    run.stderr
                ));
            }
            vec![run]
        }
    };
    let codes: Vec<String> = first.iter().map(Run::code).collect();
    if let Some(hung) = first.iter().find(|r| r.status.is_none()) {
        let tail: Vec<&str> = hung.stderr.lines().rev().take(12).collect();
        return Err(format!(
            "a run hung for {RUN_LIMIT:?}; the end of its stderr:\n{}",
            tail.into_iter().rev().collect::<Vec<_>>().join("\n")
        ));
    }
    // A run that says it finished must have finished, and `status` saying everything is applied
    // must be true, before any rerun.
    if first.len() == 1 && first[0].ok() {
        if let Err(e) = lab.converged(database) {
            return Err(format!("the run exited 0 but {e}"));
        }
    } else if all_applied(&lab.fast, &lab.workload, database).is_ok() && lab.dump(database) != lab.reference {
        return Err(format!(
            "after {codes:?}, status says every migration is applied but the database differs:\n{}",
            diff(&lab.dump(database), &lab.reference)
        ));
    }
    let mut reruns = Vec::new();
    for _ in 0..3 {
        let run = lab.migrate(&lab.fast, database);
        reruns.push(run.code());
        if run.ok() {
            return lab
                .converged(database)
                .map(|()| format!("first {codes:?}, reruns {reruns:?}"))
                .map_err(|e| format!("first {codes:?}, reruns {reruns:?}: {e}"));
        }
        if reruns.len() == 3 {
            return Err(format!(
                "first {codes:?}: three reruns failed {reruns:?}; last:\n{}{}",
                run.stdout,
                run.stderr.lines().rev().take(6).collect::<Vec<_>>().join("\n")
            ));
        }
    }
    unreachable!("the loop returns")
}

#[test]
fn chaos_sample_converges_to_the_mariadb_clients_result() {
    let seed = env_u64("CHAOS_SEED", 10);
    let cases = env_u64("CHAOS_CASES", 24);
    let first_case = env_u64("CHAOS_FIRST", 0);
    let mut lab = Lab::start();
    let base = measure(&lab);
    eprintln!(
        "chaos: seed {seed}, cases {first_case}..{}, fault kinds: {}, a clean run: {} calls, {} ms ({} calls, {} ms with a 1 s call timeout)",
        first_case + cases,
        FAULTS.len(),
        base.calls,
        base.fast_ms,
        base.slow_calls,
        base.slow_ms
    );
    let mut failures = Vec::new();
    let started = Instant::now();
    for case in first_case..first_case + cases {
        let mut rng = Rng(seed.wrapping_mul(1_000_003).wrapping_add(case));
        let chaos = pick(&mut rng, &base, case);
        let database = format!("chaos_{case}");
        let result = run_case(&mut lab, &database, &chaos);
        match &result {
            Ok(how) => eprintln!("case {case}: {chaos:?}: ok ({how})"),
            Err(e) => {
                eprintln!("case {case}: {chaos:?}: FAILED: {e}");
                failures.push(format!("case {case} {chaos:?}: {e}"));
            }
        }
    }
    eprintln!(
        "chaos: {cases} case(s), {} failed, seed {seed}, {:.0} s",
        failures.len(),
        started.elapsed().as_secs_f64()
    );
    assert!(
        failures.is_empty(),
        "{} of {cases} chaos case(s) failed (replay one with CHAOS_SEED={seed} CHAOS_FIRST=N CHAOS_CASES=1):\n{}",
        failures.len(),
        failures.join("\n\n")
    );
}

/// A small scripts folder, its own MariaDB and emulator, database `app`: for the reproductions.
struct Repro {
    db: MariaDb,
    emulator: TestEmulator,
    scripts: tempfile::TempDir,
}

impl Repro {
    fn start(options: Options, scripts: &[(&str, &str)]) -> Repro {
        let db = MariaDb::start().expect("throwaway MariaDB starts");
        db.sql("SET GLOBAL innodb_lock_wait_timeout = 5").expect("sets the lock wait");
        create(&db, "app");
        let emulator = TestEmulator::start(&db, options).expect("emulator starts");
        let dir = tempfile::tempdir().expect("tempdir");
        for (name, body) in scripts {
            std::fs::write(dir.path().join(name), body).expect("writes a script");
        }
        Repro { db, emulator, scripts: dir }
    }

    fn spawn(&self) -> Child {
        spawn_migrate(&self.emulator, self.scripts.path(), "app")
    }

    /// Holds back the run's second `DROP PROCEDURE` (the first is of a leftover, before the
    /// procedure is created) by `ms`.
    fn hold_back_the_drop(&self, ms: u64) {
        let held = FaultRule { fault: FaultKind::Delay, delay_ms: ms, ..lost_answer() };
        let rule = data_api_emulator::ScheduledFault {
            rule: held,
            skip: 1,
            body_contains: Some("DROP PROCEDURE".into()),
        };
        self.emulator.schedule(&rule).expect("injects");
    }

    /// Runs the CLI with the drop of its procedure held back, and kills it once version 2 (the
    /// long statement) is recorded as applied: after its call committed, before the drop.
    fn kill_once_the_long_statement_committed(&self) {
        self.hold_back_the_drop(30_000);
        let mut child = self.spawn();
        let start = Instant::now();
        let applied = format!("SELECT COALESCE(MAX(success), 0) FROM app.{HISTORY} WHERE version = '2'");
        // (The history table does not exist at first.)
        while self.db.sql(&applied).ok().as_deref() != Some("1") {
            assert!(start.elapsed() < Duration::from_secs(60), "the backfill never committed");
            std::thread::sleep(Duration::from_millis(100));
        }
        kill(&mut child);
        self.emulator.clear_faults().expect("clears");
    }

    fn migrate(&self) -> Run {
        finish(self.spawn())
    }

    /// Runs migrate until it exits 0 (at most `runs` times); the runs' exit codes and the last run.
    fn converge(&self, runs: usize) -> (Vec<String>, Run) {
        let mut codes = Vec::new();
        loop {
            let run = self.migrate();
            codes.push(run.code());
            if run.ok() || codes.len() == runs {
                return (codes, run);
            }
        }
    }

    fn sql(&self, sql: &str) -> String {
        self.db.sql(sql).expect("query runs")
    }

    fn all_applied(&self) -> Result<(), String> {
        all_applied(&self.emulator, self.scripts.path(), "app")
    }
}

fn short_call_timeout() -> Options {
    Options::with_timeouts(Duration::from_secs(1), Duration::from_secs(180), Duration::from_secs(3600))
}

fn lost_answer() -> FaultRule {
    FaultRule { fault: FaultKind::DropAfter, count: 1, delay_ms: 0, operations: None }
}

/// A DDL statement after a `SET`, its answer lost.
#[test]
fn an_index_after_a_set_is_created_once_when_its_answer_is_lost() {
    let r = Repro::start(
        Options::default(),
        &[
            ("V1__t.sql", "CREATE TABLE t (a INT);"),
            ("V2__index.sql", "SET @x = 1;\nALTER TABLE t ADD INDEX (a);"),
        ],
    );
    r.emulator.inject_where(&lost_answer(), "ADD INDEX").expect("injects");
    let (codes, last) = r.converge(3);
    let indexes = r.sql(
        "SELECT GROUP_CONCAT(DISTINCT INDEX_NAME) FROM information_schema.STATISTICS \
         WHERE TABLE_SCHEMA = 'app' AND TABLE_NAME = 't'",
    );
    assert_eq!(indexes, "a", "runs {codes:?}; the index was created twice\n{}", last.stderr);
    assert!(last.ok(), "runs {codes:?}\n{}", last.stderr);
    r.all_applied().expect("status tells the truth");
}

/// A DDL statement after a `SET` that fails when repeated, its answer lost.
#[test]
fn a_column_after_a_set_is_added_once_and_the_rerun_is_clean_when_its_answer_is_lost() {
    let r = Repro::start(
        Options::default(),
        &[
            ("V1__t.sql", "CREATE TABLE t (a INT);"),
            ("V2__column.sql", "SET @x = 1;\nALTER TABLE t ADD COLUMN b INT;"),
        ],
    );
    r.emulator.inject_where(&lost_answer(), "ADD COLUMN").expect("injects");
    let (codes, last) = r.converge(3);
    assert!(last.ok(), "runs {codes:?} never converged:\n{}", last.stderr);
    assert_eq!(
        r.sql(
            "SELECT COUNT(*) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'app' AND TABLE_NAME = 't'"
        ),
        "2"
    );
    r.all_applied().expect("status tells the truth");
}

/// A DDL statement that ran, answered "the database is unavailable" (as when the connection broke
/// after the statement reached the server: the soak met it in a MariaDB restart): the runner must
/// not take that as "did not run" and send it again. Plain, and after a `SET` (its session path).
#[test]
fn a_ddl_statement_answered_database_unavailable_after_it_ran_is_not_sent_again() {
    let r = Repro::start(
        Options::default(),
        &[
            ("V1__t.sql", "CREATE TABLE t (a INT);\nALTER TABLE t ADD COLUMN b INT;"),
            ("V2__column.sql", "SET @x = 1;\nALTER TABLE t ADD COLUMN c INT;"),
        ],
    );
    let unavailable_after =
        FaultRule { fault: FaultKind::UnavailableAfter, count: 1, delay_ms: 0, operations: None };
    r.emulator.inject_where(&unavailable_after, "ADD COLUMN b").expect("injects");
    r.emulator.inject_where(&unavailable_after, "ADD COLUMN c").expect("injects");
    let first = r.migrate();
    assert!(first.ok(), "the first run failed:\n{}", first.stderr);
    assert_eq!(
        r.sql(
            "SELECT GROUP_CONCAT(COLUMN_NAME ORDER BY ORDINAL_POSITION) FROM information_schema.COLUMNS \
             WHERE TABLE_SCHEMA = 'app' AND TABLE_NAME = 't'"
        ),
        "a,b,c"
    );
    r.all_applied().expect("status tells the truth");
}

/// A workload of non-idempotent DML (`n = n + k`, audit rows without a key) in transactions,
/// a `SET` and a DDL statement between them: anything applied twice shows in `c` or `audit`.
fn counted_workload() -> [(&'static str, &'static str); 3] {
    [
        (
            "V1__c.sql",
            "CREATE TABLE c (id INT PRIMARY KEY, n INT NOT NULL);\nINSERT INTO c VALUES (1, 0);\n\
             CREATE TABLE audit (note VARCHAR(20));",
        ),
        ("V2__bump.sql", "UPDATE c SET n = n + 1;\nINSERT INTO audit VALUES ('v2');"),
        (
            "V3__more.sql",
            "SET @k = 10;\nUPDATE c SET n = n + @k;\nINSERT INTO audit VALUES ('v3');\n\
             ALTER TABLE c ADD COLUMN m INT;\nUPDATE c SET m = n;",
        ),
    ]
}

impl Repro {
    /// The history rows, every column but the timings and timestamps, one line per version.
    fn history(&self) -> String {
        self.sql(&format!(
            "SELECT GROUP_CONCAT(CONCAT_WS(' | ', `version`, `description`, `script`, `checksum`, `kind`, \
             `statements_applied`, `statements_total`, `applied_prefix`, `success`, \
             COALESCE(`error`, '-'), COALESCE(`failed_statement`, '-'), COALESCE(`failed_at`, '-'), \
             COALESCE(`inflight_statement`, '-'), COALESCE(`inflight_fingerprint`, '-'), `installed_by`) \
             ORDER BY `version` SEPARATOR '\\n') FROM app.{HISTORY}"
        ))
    }

    /// `counted_workload` applied exactly once: every row, the schema and the history as a clean
    /// run leaves them (`history`).
    fn counted_once(&self, history: &str, what: &str) {
        assert_eq!(self.sql("SELECT CONCAT(n, ',', m) FROM app.c"), "11,11", "{what}: c");
        assert_eq!(
            self.sql("SELECT GROUP_CONCAT(note ORDER BY note) FROM app.audit"),
            "v2,v3",
            "{what}: audit rows"
        );
        assert_eq!(self.history(), history, "{what}: the history differs from a clean run's");
        let lock =
            format!("SELECT COUNT(*) FROM app.{HISTORY}_lock WHERE `id` = 1 AND `expires_at` >= NOW(6)");
        assert_eq!(self.sql(&lock), "0", "{what}: the lease is still held after the run ended");
        self.all_applied().unwrap_or_else(|e| panic!("{what}: {e}"));
    }
}

/// Answers `DatabaseUnavailableException` after the call ran (`unavailable_after`) to the
/// matching calls of a run (of `operation`, or whose request contains `text`), one position per
/// run on a fresh database `app`, until a run no longer reaches the position; after each run,
/// reruns until one exits 0 (at most two) and hands the runs' exit codes and the last run to
/// `check`. Returns how many positions were faulted.
fn unavailable_after_each(
    r: &Repro,
    operation: Option<&str>,
    text: Option<&str>,
    check: impl Fn(&str, &Run),
) -> u32 {
    let rule = FaultRule {
        fault: FaultKind::UnavailableAfter,
        count: 1,
        delay_ms: 0,
        operations: operation.map(|o| vec![o.to_owned()]),
    };
    for skip in 0.. {
        create(&r.db, "app");
        r.emulator.clear_faults().expect("clears");
        let scheduled = data_api_emulator::ScheduledFault {
            rule: rule.clone(),
            skip,
            body_contains: text.map(str::to_owned),
        };
        r.emulator.schedule(&scheduled).expect("injects");
        let first = r.migrate();
        let reached = r.emulator.pending_faults().expect("lists the faults").is_empty();
        r.emulator.clear_faults().expect("clears");
        if !reached {
            assert!(first.ok(), "a run without the fault failed:\n{}", first.stderr);
            return skip;
        }
        let mut codes = vec![first.code()];
        let mut last = first;
        while !last.ok() && codes.len() < 3 {
            last = r.migrate();
            codes.push(last.code());
        }
        let what =
            format!("the matching call at position {skip} answered unavailable after it ran, runs {codes:?}");
        assert!(last.ok(), "{what} never converged:\n{}", last.stderr);
        check(&what, &last);
    }
    unreachable!("the loop returns")
}

/// The COMMIT of a segment's transaction committed, and the answer says the database is
/// unavailable: the runner must find out that it landed, never apply the DML again. Every commit
/// of the workload in turn.
#[test]
fn a_commit_answered_database_unavailable_after_it_committed_is_not_applied_again() {
    let r = Repro::start(Options::default(), &counted_workload());
    let clean = r.migrate();
    assert!(clean.ok(), "a clean run fails:\n{}", clean.stderr);
    let history = r.history();
    let faulted =
        unavailable_after_each(&r, Some("CommitTransaction"), None, |what, _| r.counted_once(&history, what));
    assert!(faulted >= 3, "only {faulted} commits were faulted");
}

/// The history writes (inside a segment's transaction under the fence, and after a DDL statement
/// outside one) and the fence registration of each transaction, answered "unavailable" after they
/// ran: nothing is applied twice, the history is exact and the run is not wedged.
#[test]
fn history_writes_and_fence_registrations_answered_database_unavailable_after_they_ran_apply_nothing_twice() {
    let r = Repro::start(Options::default(), &counted_workload());
    let clean = r.migrate();
    assert!(clean.ok(), "a clean run fails:\n{}", clean.stderr);
    let history = r.history();
    for text in ["SELECT :version, :description", "SELECT 2, :registration"] {
        let faulted = unavailable_after_each(&r, None, Some(text), |what, _| {
            r.counted_once(&history, &format!("{text}: {what}"))
        });
        assert!(faulted >= 3, "{text}: only {faulted} calls were faulted");
    }
}

/// Taking the lease and giving it up, answered "unavailable" after the update ran: the run still
/// applies everything once, and the lease is free when it ends (no next run waits for it).
#[test]
fn lease_takes_and_releases_answered_database_unavailable_after_they_ran_leave_no_lease_behind() {
    let r = Repro::start(Options::default(), &counted_workload());
    let clean = r.migrate();
    assert!(clean.ok(), "a clean run fails:\n{}", clean.stderr);
    let history = r.history();
    for text in ["`expires_at` < NOW(6) OR `owner` = :owner", "NOW(6) - INTERVAL 1 SECOND"] {
        let faulted = unavailable_after_each(&r, None, Some(text), |what, _| {
            r.counted_once(&history, &format!("{text}: {what}"))
        });
        assert!(faulted >= 1, "{text}: no call was faulted");
    }
}

/// The CALL of a long DML statement's procedure ran, answered "unavailable": the statement is
/// applied once and the procedure dropped, and the CALL is not sent again while it may still run
/// or may have committed (the server counts one CALL: a second would run the whole statement
/// again, to be rolled back by the procedure's check of the row). Once while the backfill still
/// runs after the call timeout, once after it committed within the call (it sleeps only while its
/// procedure does not exist yet, that is in its segment's transaction, where it times out).
#[test]
fn a_long_dml_statement_whose_call_is_answered_database_unavailable_after_it_ran_is_applied_once() {
    let committed_in_the_call = [
        long_backfill()[0],
        (
            "V2__backfill.sql",
            "SET @k = 1;
UPDATE c SET n = n + @k WHERE SLEEP(IF((SELECT COUNT(*) FROM information_schema.ROUTINES \
             WHERE ROUTINE_SCHEMA = 'app') = 0, 1, 0)) = 0;",
        ),
    ];
    for scripts in [long_backfill(), committed_in_the_call] {
        let r = Repro::start(two_second_call_timeout(), &scripts);
        let unavailable_after =
            FaultRule { fault: FaultKind::UnavailableAfter, count: 1, delay_ms: 0, operations: None };
        r.emulator.inject_where(&unavailable_after, "CALL `app`").expect("injects");
        let (codes, last) = r.converge(2);
        assert!(r.emulator.pending_faults().expect("lists").is_empty(), "the CALL was never faulted");
        r.backfilled_once(&codes, &last);
        let calls = r.sql("SELECT VARIABLE_VALUE FROM information_schema.GLOBAL_STATUS WHERE VARIABLE_NAME = 'COM_CALL_PROCEDURE'");
        assert_eq!(calls, "1", "the CALL was sent again after it ran; runs {codes:?}:\n{}", last.stderr);
    }
}

/// The run is killed while its DDL still runs on the
/// server; the next run waits for that statement and records it once, never sends it again.
#[test]
fn a_run_killed_while_its_ddl_runs_on_the_server_leaves_the_next_run_to_wait_for_it() {
    let r = Repro::start(
        short_call_timeout(),
        &[("V1__slow.sql", "CREATE TABLE slow AS SELECT SLEEP(4) AS x;\nINSERT INTO slow VALUES (1);")],
    );
    let mut child = r.spawn();
    // Past the 1 s call timeout: the CREATE runs on (continueAfterTimeout), the CLI is polling.
    std::thread::sleep(Duration::from_millis(2500));
    kill(&mut child);
    let (codes, last) = r.converge(2);
    assert!(last.ok(), "runs {codes:?}:\n{}", last.stderr);
    assert!(!last.stderr.contains("already exists"), "the CREATE was sent again:\n{}", last.stderr);
    assert_eq!(r.sql("SELECT COUNT(*) FROM app.slow"), "2");
    r.all_applied().expect("status tells the truth");
}

/// A StatementTimeoutException without `dbConnectionId` is no proof that
/// the statement has finished. The DDL fails on the server after 2 s (a duplicate key in its
/// SELECT): a run that took the missing id for "finished" reports it applied.
#[test]
fn a_timeout_without_connection_id_is_not_taken_for_a_finished_ddl() {
    let r = Repro::start(
        Options::default(),
        &[(
            "V1__slow.sql",
            "CREATE TABLE slow (id INT PRIMARY KEY) SELECT 1 AS id UNION ALL SELECT 1 + SLEEP(2) * 0;",
        )],
    );
    let rule =
        FaultRule { fault: FaultKind::TimeoutWithoutConnectionId, count: 1, delay_ms: 300, operations: None };
    r.emulator.inject_where(&rule, "CREATE TABLE slow").expect("injects");
    let first = r.migrate();
    std::thread::sleep(Duration::from_secs(3));
    let exists = r.sql(
        "SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA = 'app' AND TABLE_NAME = 'slow'",
    );
    assert_eq!(exists, "0", "the CREATE fails on the server");
    assert!(
        !first.ok(),
        "the run reported success for a DDL that failed after it stopped waiting:\n{}",
        first.stderr
    );
    let success = r.sql(&format!("SELECT COALESCE(MAX(success), 0) FROM app.{HISTORY} WHERE version = '1'"));
    assert_eq!(success, "0", "history says the failed DDL was applied");
}

/// A run killed while its commit is on the way leaves an open Data API transaction (rolled back
/// only after the 3-minute idle timeout); the next run must not wait for it beyond the killed run's
/// lease: it ends that transaction (the one registered in the lock table's fence row) and applies
/// the migration once.
#[test]
fn a_run_killed_inside_a_transaction_does_not_block_the_next_beyond_its_lease() {
    let r = Repro::start(
        Options::default(),
        &[
            ("V1__t.sql", "CREATE TABLE t (id INT);"),
            ("V2__rows.sql", "INSERT INTO t VALUES (1);\nINSERT INTO t VALUES (2);"),
        ],
    );
    let delay = FaultRule {
        fault: FaultKind::Delay,
        count: 100,
        // Longer than the next run's lock wait (30 s): a next run that waited for this commit
        // instead of ending the transaction would give up (exit 3).
        delay_ms: 40_000,
        operations: Some(vec!["CommitTransaction".into()]),
    };
    r.emulator.inject(&delay).expect("injects");
    let mut child = r.spawn();
    let waiting = Instant::now();
    while r.emulator.calls(data_api_emulator::Operation::CommitTransaction).expect("counters") == 0 {
        assert!(waiting.elapsed() < Duration::from_secs(60), "no commit came");
        std::thread::sleep(Duration::from_millis(20));
    }
    kill(&mut child);
    r.emulator.clear_faults().expect("clears");
    let (codes, last) = r.converge(1);
    assert!(last.ok(), "runs {codes:?}:\n{}", last.stderr);
    assert_eq!(r.sql("SELECT GROUP_CONCAT(id ORDER BY id) FROM app.t"), "1,2");
    r.all_applied().expect("status tells the truth");
}

/// A 2-second call timeout, for the long DML statements below (three rows, two seconds each).
fn two_second_call_timeout() -> Options {
    Options::with_timeouts(Duration::from_secs(2), Duration::from_secs(180), Duration::from_secs(3600))
}

/// A table `c` of three counters at 0, then a backfill of about 6 s that adds `@k` (set to 1 before
/// it) to each, under `ANSI_QUOTES` (so the statement reads right only in its script's session).
fn long_backfill() -> [(&'static str, &'static str); 2] {
    [
        (
            "V1__c.sql",
            "CREATE TABLE c (id INT PRIMARY KEY, n INT NOT NULL);
INSERT INTO c VALUES (1, 0), (2, 0), (3, 0);",
        ),
        (
            "V2__backfill.sql",
            "SET sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES');
SET @k = 1;
             UPDATE \"c\" SET n = n + @k WHERE SLEEP(2) = 0;",
        ),
    ]
}

impl Repro {
    /// The backfill ran exactly once, and no procedure is left behind.
    fn backfilled_once(&self, codes: &[String], last: &Run) {
        assert_eq!(self.counters(), "1,1,1", "runs {codes:?}:\n{}", last.stderr);
        assert!(last.ok(), "runs {codes:?} never applied it:\n{}", last.stderr);
        let routines =
            self.sql("SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'app'");
        assert_eq!(routines, "0", "the long statement's procedure was left behind");
        self.all_applied().expect("status tells the truth");
    }

    /// Waits until the long statement's procedure runs on the server (it exists once the statement
    /// has timed out in its transaction; then the only such statement running is the call's).
    fn wait_for_procedure(&self) {
        let start = Instant::now();
        let routine = "SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'app'";
        let running = "SELECT COUNT(*) FROM information_schema.PROCESSLIST \
                       WHERE INFO LIKE 'CALL %' OR INFO LIKE 'UPDATE %SLEEP%'";
        while self.sql(routine) == "0" || self.sql(running) == "0" {
            assert!(start.elapsed() < Duration::from_secs(30), "the procedure never ran");
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn counters(&self) -> String {
        self.sql("SELECT GROUP_CONCAT(n ORDER BY id) FROM app.c")
    }
}

/// A DML statement longer than the call timeout (a backfill) is applied, exactly once, in the
/// session its script set up (a user variable, `ANSI_QUOTES`).
#[test]
fn a_dml_statement_longer_than_the_call_timeout_is_applied_exactly_once() {
    let r = Repro::start(two_second_call_timeout(), &long_backfill());
    let (codes, last) = r.converge(1);
    r.backfilled_once(&codes, &last);
}

/// The answer to the call of the long statement's procedure is lost: the run waits for the
/// procedure and reads what it committed, never calls it again.
#[test]
fn a_long_dml_statement_whose_call_answer_is_lost_is_applied_once() {
    let r = Repro::start(two_second_call_timeout(), &long_backfill());
    r.emulator.inject_where(&lost_answer(), "CALL `app`").expect("injects");
    let (codes, last) = r.converge(1);
    r.backfilled_once(&codes, &last);
}

/// The run is killed while the long statement's procedure runs on the server: the next run (once
/// the lease has expired) waits for that call and records it once; a rerun never applies it again.
#[test]
fn a_run_killed_while_its_long_dml_statement_runs_leaves_the_next_run_to_wait_for_it() {
    let r = Repro::start(two_second_call_timeout(), &long_backfill());
    let mut child = r.spawn();
    r.wait_for_procedure();
    kill(&mut child);
    let (codes, last) = r.converge(2);
    r.backfilled_once(&codes, &last);
}

/// The run is killed after the long statement's procedure committed but before the run dropped
/// it (its drop held back here): the row says applied and names no call, and the next run still
/// drops the procedure.
#[test]
fn a_procedure_left_by_a_run_killed_after_its_call_committed_is_dropped_by_the_next_run() {
    let r = Repro::start(two_second_call_timeout(), &long_backfill());
    r.kill_once_the_long_statement_committed();
    let routines = "SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'app'";
    assert_eq!(r.sql(routines), "1", "the killed run dropped its procedure after all");
    let (codes, last) = r.converge(1);
    r.backfilled_once(&codes, &last);
}

/// The set-up of a late call: a long statement (`UPDATE ... WHERE SLEEP(sleep)`) whose first
/// call gets no answer and runs nowhere, so the run finds it not applied; then the run drops the
/// procedure, held back `drop_held_ms` (the first drop is of a leftover, before creating it), and
/// records its next call. Returns the running CLI and the procedure's name once it exists, for the
/// test to play the late call with.
fn late_call_repro(sleep: &str, drop_held_ms: u64) -> (Repro, Child, String) {
    let r = Repro::start(
        short_call_timeout(),
        &[
            (
                "V1__c.sql",
                "CREATE TABLE c (id INT PRIMARY KEY, n INT NOT NULL);\nINSERT INTO c VALUES (1, 0);",
            ),
            ("V2__bump.sql", &format!("UPDATE c SET n = n + 1 WHERE SLEEP({sleep}) = 0;")),
        ],
    );
    let dropped = FaultRule { fault: FaultKind::DropBefore, ..lost_answer() };
    r.emulator.inject_where(&dropped, "CALL `app`").expect("injects");
    r.hold_back_the_drop(drop_held_ms);
    let child = r.spawn();
    let start = Instant::now();
    let procedure = loop {
        let name = r.sql("SELECT COALESCE(MAX(ROUTINE_NAME), '') FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'app'");
        if !name.is_empty() {
            break name;
        }
        assert!(start.elapsed() < Duration::from_secs(30), "the procedure was never created");
        std::thread::sleep(Duration::from_millis(50));
    };
    (r, child, procedure)
}

/// A call of the long statement's procedure whose request was given up on (no answer) but that
/// reaches the server late, after the run read the row and found it not applied, and commits
/// before the run records its next call: the next call's record must not put the row back, or
/// the statement would run twice. The late call is played by the test, calling the procedure
/// while the run's drop of it is held back.
#[test]
fn a_late_call_that_commits_before_the_next_call_is_recorded_is_not_applied_again() {
    // The drop is held back 6 s.
    let (r, child, procedure) = late_call_repro("1.5", 6000);
    // Past the run's read of the row (it follows the lost call at once), before the drop.
    std::thread::sleep(Duration::from_millis(1500));
    r.sql(&format!("CALL app.`{procedure}`()"));
    assert_eq!(r.counters(), "1", "the late call did not commit");
    let first = finish(child);
    let (codes, last) = r.converge(2);
    assert!(last.ok(), "runs {codes:?}:\n{}", last.stderr);
    assert_eq!(r.counters(), "1", "the statement ran again after its late call committed");
    // (And the run did meet the late commit: the test exercised the race.)
    assert!(
        first.stderr.contains("committed late"),
        "the run did not meet the late commit (exit {}):\n{}",
        first.code(),
        first.stderr
    );
    r.all_applied().expect("status tells the truth");
    let routines = r.sql("SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'app'");
    assert_eq!(routines, "0", "the procedure was left behind");
}

/// A database user without the routine privileges: the long statement cannot get its procedure,
/// and the error says which privileges it needs; nothing of the statement is applied.
#[test]
fn a_long_dml_statement_without_routine_privileges_fails_naming_them() {
    let db = MariaDb::start().expect("throwaway MariaDB starts");
    create(&db, "app");
    for host in ["%", "localhost", "127.0.0.1"] {
        db.sql(&format!("CREATE USER 'limited'@'{host}' IDENTIFIED BY 'pw'")).expect("creates the user");
        db.sql(&format!(
            "GRANT SELECT, INSERT, UPDATE, DELETE, CREATE, DROP, INDEX, ALTER ON app.* TO 'limited'@'{host}'"
        ))
        .expect("grants");
    }
    let options = Options { user: Some(("limited", "pw")), ..two_second_call_timeout() };
    let emulator = TestEmulator::start(&db, options).expect("emulator starts");
    let dir = tempfile::tempdir().expect("tempdir");
    for (name, body) in long_backfill() {
        std::fs::write(dir.path().join(name), body).expect("writes a script");
    }
    let run = finish(spawn_migrate(&emulator, dir.path(), "app"));
    assert_eq!(run.code(), "1", "{}", run.stderr);
    assert!(run.stderr.contains("CREATE ROUTINE, ALTER ROUTINE and EXECUTE"), "{}", run.stderr);
    assert!(run.stderr.contains("V2__backfill.sql:3"), "names the statement: {}", run.stderr);
    assert_eq!(db.sql("SELECT GROUP_CONCAT(n ORDER BY id) FROM app.c").expect("reads"), "0,0,0");
}

/// Found by the chaos workload: one migration's `SET sql_mode` must not reach the next migration
/// (the mariadb client starts every file in a fresh session).
#[test]
fn session_state_of_one_migration_does_not_leak_into_the_next() {
    let r = Repro::start(
        Options::default(),
        &[
            (
                "V1__ansi.sql",
                "SET sql_mode = CONCAT(@@sql_mode, ',ANSI_QUOTES');\nCREATE TABLE \"a\" (id INT);",
            ),
            ("V2__b.sql", "CREATE TABLE b (s VARCHAR(10) DEFAULT \"x\");"),
        ],
    );
    let run = r.migrate();
    assert!(run.ok(), "{}", run.stderr);
    assert_eq!(r.sql("SELECT COLUMN_DEFAULT FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'app' AND TABLE_NAME = 'b'"), "'x'");
}

/// `SET @v := ...` is valid MySQL that sqlparser cannot read: a note, not
/// an error.
#[test]
fn check_accepts_a_colon_equals_assignment() {
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("V1__batch.sql"), "SET @batch := 'b7';\nSELECT @batch;\n")
        .expect("writes");
    let out = Command::new(env!("CARGO_BIN_EXE_aurora-migrate"))
        .arg("check")
        .arg(dir.path())
        .output()
        .expect("runs");
    assert!(
        out.status.success(),
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
}

/// The Data API's other modes: SQL errors in the `...; Error code: N; SQLState: S` form (the first
/// run finds no history table by its error number) and transactions opened with `autocommit=0`.
#[test]
fn a_run_works_with_sqlstate_messages_and_autocommit_off_transactions() {
    let r = Repro::start(
        Options {
            error_messages: data_api_emulator::ErrorMessages::SqlState,
            transaction_mode: data_api_emulator::TransactionMode::AutocommitOff,
            ..Options::default()
        },
        &[
            ("V1__t.sql", "CREATE TABLE t (a INT);\nINSERT INTO t VALUES (1);"),
            ("V2__more.sql", "SET @x = 2;\nALTER TABLE t ADD COLUMN b INT;\nINSERT INTO t VALUES (@x, @x);"),
        ],
    );
    let run = r.migrate();
    assert!(run.ok(), "{}", run.stderr);
    assert_eq!(
        r.sql("SELECT GROUP_CONCAT(CONCAT(a, ':', COALESCE(b, '-')) ORDER BY a) FROM app.t"),
        "1:-,2:2"
    );
    r.all_applied().expect("status tells the truth");
}

/// `SecretsErrorException` (Secrets Manager throttled) is retried like a resuming cluster.
#[test]
fn a_secrets_error_is_retried_as_a_transient_failure() {
    let r = Repro::start(
        Options::default(),
        &[("V1__t.sql", "CREATE TABLE t (a INT);\nINSERT INTO t VALUES (1);")],
    );
    let rule = FaultRule { fault: FaultKind::SecretsError, count: 3, delay_ms: 0, operations: None };
    r.emulator.inject(&rule).expect("injects");
    let run = r.migrate();
    assert!(run.ok(), "{}", run.stderr);
    assert_eq!(r.sql("SELECT COUNT(*) FROM app.t"), "1");
    r.all_applied().expect("status tells the truth");
}

/// The run is killed while the long statement's procedure runs on the server, and the next run
/// is started at once, while that call still runs: it waits for the call (its lock) instead of
/// failing, records the statement once, and the data shows it applied once.
#[test]
fn a_run_started_at_once_after_one_killed_during_its_long_dml_statement_waits_for_it() {
    let r = Repro::start(two_second_call_timeout(), &long_backfill());
    let mut child = r.spawn();
    r.wait_for_procedure();
    kill(&mut child);
    let next = r.migrate();
    assert!(next.ok(), "the next run did not wait for the call (exit {}):\n{}", next.code(), next.stderr);
    assert_eq!(r.sql(&format!("SELECT statements_applied FROM app.{HISTORY} WHERE version = '2'")), "3");
    r.backfilled_once(&["0".to_owned()], &next);
}

/// A call of the long statement's procedure whose request was given up on (no answer) reaches the
/// server late, after the run found it not committed and recorded its next call, and still runs
/// when that next call comes: the next call must wait for it (it can no longer commit: the row
/// holds the next call's token) and then call again, instead of failing the run. The late call is
/// played by the test, calling the procedure while the run's drop of it is held back.
#[test]
fn a_late_call_still_running_when_the_next_call_comes_is_waited_for() {
    // The drop is held back 3 s: the run records its next call and calls again while the late
    // call still runs.
    let (r, child, procedure) = late_call_repro("5", 3000);
    // Past the run's read of the row (it follows the lost call at once), before the drop ends.
    std::thread::sleep(Duration::from_millis(1000));
    let first = std::thread::scope(|s| {
        // Rolled back by the procedure itself once it finds the next call's token in the row.
        let late = s.spawn(|| r.db.sql(&format!("CALL app.`{procedure}`()")));
        let first = finish(child);
        let late = late.join().expect("the late call's thread");
        assert!(late.is_err(), "the late call committed after the next call was recorded");
        first
    });
    assert!(
        first.stderr.contains("an earlier call of the long statement still runs"),
        "the run did not meet the late call (exit {}):\n{}",
        first.code(),
        first.stderr
    );
    assert!(first.ok(), "the run did not wait for the late call (exit {}):\n{}", first.code(), first.stderr);
    assert_eq!(r.counters(), "1", "the statement was not applied exactly once");
    r.all_applied().expect("status tells the truth");
    let routines = r.sql("SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'app'");
    assert_eq!(routines, "0", "the procedure was left behind");
}

/// The same, with the long statement in another database (its script's `USE`): its procedure is
/// created there, and once its call committed nothing records that database; the next run still
/// finds it (its body writes this history table) and drops it.
#[test]
fn a_procedure_left_in_another_database_is_dropped_by_the_next_run() {
    let [table, _] = long_backfill();
    let r = Repro::start(
        two_second_call_timeout(),
        &[table, ("V2__backfill.sql", "USE other;\nUPDATE app.c SET n = n + 1 WHERE SLEEP(2) = 0;")],
    );
    create(&r.db, "other");
    r.kill_once_the_long_statement_committed();
    let routines = "SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'other'";
    assert_eq!(r.sql(routines), "1", "the killed run dropped its procedure after all");
    let (codes, last) = r.converge(1);
    assert!(last.ok(), "runs {codes:?}:\n{}", last.stderr);
    assert_eq!(r.sql(routines), "0", "the procedure in the other database was left behind");
    assert_eq!(r.counters(), "1,1,1", "the backfill did not run exactly once");
    r.all_applied().expect("status tells the truth");
}

/// A procedure of the runner's name prefix in the group's database that belongs to another group
/// (its body writes another history table: a script of that group did `USE app` before its long
/// statement, and that group's run, under its own lease, may be about to call it) is not this
/// run's to drop.
#[test]
fn a_procedure_of_another_group_in_the_groups_database_is_left_alone() {
    let r = Repro::start(Options::default(), &[("V1__t.sql", "CREATE TABLE t (id INT);")]);
    create(&r.db, "other");
    r.sql(&format!(
        "CREATE TABLE other.{HISTORY} (n INT); \
         CREATE PROCEDURE app.{HISTORY}_p_000000000000_0() UPDATE `other`.`{HISTORY}` SET n = 1"
    ));
    let run = r.migrate();
    assert!(run.ok(), "{}", run.stderr);
    let routines = "SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = 'app'";
    assert_eq!(r.sql(routines), "1", "another group's procedure was dropped");
}
