//! "Same result as the mysql client": every `ok` scenario of the real-world corpus
//! (`AURORA_MIGRATE_CORPUS`) is applied twice to one throwaway MariaDB, once through aurora-migrate (the
//! library runner, the official `aws-sdk-rdsdata` client, the project's Data API emulator) and once
//! with the `mariadb` client exactly as `expected.tsv` was made (one client process per file, in the
//! file's folder, goose/dbmate files cut to their up section). After each, `mariadb-dump --no-data`
//! of every database the scenario touches is taken; the two dumps must be identical (the runner's
//! history and lock tables and `AUTO_INCREMENT=` counters left out), and the object counts must be
//! those of `expected.tsv`.
//!
//! The corpus is read in place (files are copied to a temporary scripts folder, named
//! `V1__...`, `V2__...` in apply order); without it the test says that it skipped. A scenario that
//! cannot pass for a reason outside aurora-migrate's control is listed in [`SKIPS`] with the reason,
//! and printed as skipped; nothing is skipped silently.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aurora_migrate::DataApi;
use aurora_migrate::{discover, up_section};
use aurora_migrate::{Event, RunConfig, Runner};
use data_api_emulator::testing::{MariaDb, Options, TestEmulator};

/// Scenarios that cannot pass for a reason outside aurora-migrate's control: `(folder, scenario,
/// reason)`. Each is printed when the test runs.
const SKIPS: &[(&str, &str, &str)] = &[];

/// Set to part of a scenario id (`folder/scenario`) to run only the matching scenarios.
const ONLY_ENV: &str = "CORPUS_APPLY_ONLY";

/// The runner's own tables, left out of the comparison.
const HISTORY_TABLES: [&str; 2] = ["aurora_migrate_history", "aurora_migrate_history_lock"];

/// One `ok` row of `expected.tsv`.
struct Scenario {
    folder: String,
    name: String,
    database: String,
    create_options: String,
    client_options: Vec<String>,
    section_filter: bool,
    files: Vec<PathBuf>,
    /// tables, views, triggers, routines, events
    counts: [u64; 5],
    schemas: Vec<String>,
    users: Vec<String>,
}

impl Scenario {
    fn id(&self) -> String {
        format!("{}/{}", self.folder, self.name)
    }

    /// The `--init-command` of the client options, which the runner replays as `init_sql`.
    fn init_sql(&self) -> Vec<String> {
        self.client_options
            .iter()
            .filter_map(|o| o.strip_prefix("--init-command="))
            .map(str::to_owned)
            .collect()
    }

    /// The databases to dump, compare and drop: `schemas_touched`, and the scenario's own database.
    fn databases(&self) -> Vec<String> {
        let mut out = self.schemas.clone();
        if !out.contains(&self.database) {
            out.insert(0, self.database.clone());
        }
        out
    }
}

fn scenarios(corpus: &Path) -> Vec<Scenario> {
    let list = |s: &str| {
        s.split(['|', ',']).map(str::trim).filter(|s| !s.is_empty()).map(str::to_owned).collect::<Vec<_>>()
    };
    common::expected(corpus)
        .into_iter()
        .filter(|row| row.get("expect") == "ok")
        .map(|row| {
            let options = row.get("client_options").trim();
            // The only client option in the corpus is one `--init-command=...` (with spaces in it).
            let client_options = if options.is_empty() {
                Vec::new()
            } else if options.starts_with("--init-command=") {
                vec![options.to_owned()]
            } else {
                options.split_whitespace().map(str::to_owned).collect()
            };
            Scenario {
                folder: row.get("folder").to_owned(),
                name: row.get("scenario").to_owned(),
                database: row.get("database").to_owned(),
                create_options: row.get("create_database_options").trim().to_owned(),
                client_options,
                section_filter: !row.get("section_filter").trim().is_empty(),
                files: row.files(corpus),
                counts: ["tables", "views", "triggers", "routines", "events"].map(|c| row.number(c)),
                schemas: list(row.get("schemas_touched")),
                users: list(row.get("users_created")),
            }
        })
        .collect()
}

/// The throwaway server, for the mariadb command-line clients.
struct Server<'a>(&'a MariaDb);

impl Server<'_> {
    fn command(&self, program: &str) -> Command {
        self.0.client(program)
    }

    /// Runs SQL with the mariadb client; returns tab-separated rows.
    fn sql(&self, sql: &str) -> String {
        common::sql(self.0, sql)
    }

    /// Drops the scenario's databases and users.
    fn drop_all(&self, s: &Scenario) {
        for db in s.databases() {
            self.sql(&format!("DROP DATABASE IF EXISTS `{db}`"));
        }
        for user in &s.users {
            let (name, host) = user.split_once('@').unwrap_or((user, "%"));
            self.sql(&format!("DROP USER IF EXISTS '{name}'@'{host}'"));
        }
    }

    /// `DROP DATABASE IF EXISTS db; CREATE DATABASE db [create_database_options]`, as expected.tsv did.
    fn fresh(&self, s: &Scenario) {
        self.drop_all(s);
        self.sql(&format!("CREATE DATABASE `{}` {}", s.database, s.create_options));
    }

    /// `mariadb-dump --no-data` of the scenario's databases, normalised.
    fn dump(&self, s: &Scenario) -> String {
        let mut cmd = self.command("mariadb-dump");
        cmd.args([
            "--no-data",
            "--routines",
            "--triggers",
            "--events",
            "--skip-dump-date",
            "--skip-lock-tables",
        ]);
        for db in s.databases() {
            cmd.args(HISTORY_TABLES.map(|t| format!("--ignore-table={db}.{t}")));
        }
        cmd.arg("--databases").args(s.databases());
        let out = cmd.output().expect("mariadb-dump runs");
        assert!(
            out.status.success(),
            "mariadb-dump of {:?}: {}",
            s.databases(),
            String::from_utf8_lossy(&out.stderr)
        );
        normalise(&String::from_utf8_lossy(&out.stdout))
    }

    /// Tables, views, triggers, routines, events in the scenario's databases (the runner's tables
    /// left out).
    fn counts(&self, s: &Scenario) -> [u64; 5] {
        let dbs = s.databases().iter().map(|d| format!("'{d}'")).collect::<Vec<_>>().join(",");
        let excluded = HISTORY_TABLES.map(|t| format!("'{t}'")).join(",");
        let row = self.sql(&format!(
            "SELECT \
               (SELECT COUNT(*) FROM information_schema.TABLES WHERE TABLE_SCHEMA IN ({dbs}) AND TABLE_TYPE = 'BASE TABLE' AND TABLE_NAME NOT IN ({excluded})), \
               (SELECT COUNT(*) FROM information_schema.VIEWS WHERE TABLE_SCHEMA IN ({dbs})), \
               (SELECT COUNT(*) FROM information_schema.TRIGGERS WHERE TRIGGER_SCHEMA IN ({dbs})), \
               (SELECT COUNT(*) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA IN ({dbs})), \
               (SELECT COUNT(*) FROM information_schema.EVENTS WHERE EVENT_SCHEMA IN ({dbs}))"
        ));
        let n: Vec<u64> = row.split('\t').map(|v| v.parse().expect("a count")).collect();
        [n[0], n[1], n[2], n[3], n[4]]
    }

    /// Applies the scenario's files with the mariadb client, one process per file, as expected.tsv
    /// did; returns the first failure.
    fn apply_with_client(&self, s: &Scenario) -> Result<(), String> {
        for file in &s.files {
            let bytes = std::fs::read(file).map_err(|e| format!("{}: {e}", file.display()))?;
            let input = if s.section_filter {
                let text = String::from_utf8(bytes).map_err(|e| format!("{}: {e}", file.display()))?;
                let range = up_section(&text).map_err(|e| format!("{}: {e}", file.display()))?;
                text[range].as_bytes().to_vec()
            } else {
                bytes
            };
            let mut cmd = self.command("mariadb");
            cmd.arg("--default-character-set=utf8mb4")
                .args(&s.client_options)
                .arg(&s.database)
                .current_dir(file.parent().expect("a file has a folder"))
                .stdin(Stdio::piped())
                .stdout(Stdio::piped())
                .stderr(Stdio::piped());
            let mut child = cmd.spawn().map_err(|e| format!("mariadb: {e}"))?;
            let mut stdin = child.stdin.take().expect("piped stdin");
            let writer = std::thread::spawn(move || std::io::Write::write_all(&mut stdin, &input));
            let out: Output = child.wait_with_output().map_err(|e| format!("mariadb: {e}"))?;
            let _ = writer.join();
            if !out.status.success() {
                return Err(format!("{}: {}", file.display(), String::from_utf8_lossy(&out.stderr).trim()));
            }
        }
        Ok(())
    }
}

/// Removes `AUTO_INCREMENT=N` table options and the runner's history and lock tables (the dump
/// leaves them out with `--ignore-table`; this removes their block, from the `Table structure`
/// header to the `SET character_set_client = @saved_cs_client` line, should one be there).
fn normalise(dump: &str) -> String {
    let mut out: Vec<String> = Vec::new();
    let mut lines = dump.lines();
    while let Some(line) = lines.next() {
        let history = line.starts_with("-- Table structure for table")
            && HISTORY_TABLES.iter().any(|t| line.ends_with(&format!("`{t}`")));
        if history {
            if out.last().map(|l| l == "--").unwrap_or(false) {
                out.pop();
            }
            for rest in lines.by_ref() {
                if rest.contains("SET character_set_client = @saved_cs_client") {
                    break;
                }
            }
            continue;
        }
        out.push(join_label_colons(&strip_event_times(&strip_auto_increment(line))));
    }
    out.join("\n")
}

/// aurora-migrate sends `proc:BEGIN` as `proc: BEGIN` (the Data API would read `:BEGIN` as a
/// parameter; src/calls.rs), so a stored routine body differs by that one space: both dumps are
/// compared with a space after a colon before a word removed. Nothing else is touched.
fn join_label_colons(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut chars = line.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == ':' {
            let mut look = chars.clone();
            if look.next() == Some(' ') && look.next().is_some_and(|n| n.is_ascii_alphabetic() || n == '_') {
                chars.next();
            }
        }
    }
    out
}

fn strip_auto_increment(line: &str) -> String {
    const KEY: &str = " AUTO_INCREMENT=";
    let mut s = line.to_owned();
    while let Some(at) = s.find(KEY) {
        let digits = s[at + KEY.len()..].bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            break;
        }
        s.replace_range(at..at + KEY.len() + digits, "");
    }
    s
}

/// An event's `STARTS '...'` / `ENDS '...'` come from `CURRENT_TIMESTAMP` at creation (gh-ost's
/// fixtures): the wall clock, not the script.
fn strip_event_times(line: &str) -> String {
    if !line.contains(" EVENT `") {
        return line.to_owned();
    }
    let mut s = line.to_owned();
    for key in [" STARTS '", " ENDS '"] {
        if let Some(at) = s.find(key) {
            let from = at + key.len();
            if let Some(len) = s[from..].find('\'') {
                s.replace_range(from..from + len, "<time>");
            }
        }
    }
    s
}

/// A short line diff of two dumps: the first differing region with some context.
fn diff(through_runner: &str, with_client: &str) -> String {
    let a: Vec<&str> = through_runner.lines().collect();
    let b: Vec<&str> = with_client.lines().collect();
    let first = a.iter().zip(&b).position(|(x, y)| x != y).unwrap_or(a.len().min(b.len()));
    let from = first.saturating_sub(3);
    let mut out = format!("first difference at dump line {}:\n", first + 1);
    for (label, lines) in [("aurora-migrate", &a), ("mariadb client", &b)] {
        out.push_str(&format!("  --- {label}:\n"));
        for l in lines.iter().skip(from).take(12) {
            out.push_str(&format!("    {l}\n"));
        }
    }
    out
}

/// Copies the scenario's files into a scripts folder as `V1__<name>.sql`, `V2__...` in apply order.
fn scripts_folder(s: &Scenario) -> tempfile::TempDir {
    let dir = tempfile::tempdir().expect("tempdir");
    for (i, file) in s.files.iter().enumerate() {
        let stem = file.file_name().and_then(|n| n.to_str()).expect("a file name").trim_end_matches(".sql");
        let name: String = stem.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '_' }).collect();
        std::fs::copy(file, dir.path().join(format!("V{}__{name}.sql", i + 1))).expect("copy a corpus file");
    }
    dir
}

/// A history database of the scenario's own, so that scenarios do not see each other's history.
fn history_database(s: &Scenario) -> String {
    let id: String = format!("{}_{}", s.folder, s.name)
        .chars()
        .map(|c| if c.is_ascii_alphanumeric() { c } else { '_' })
        .collect();
    format!("history_{}", id.chars().take(50).collect::<String>())
}

fn runner(emulator: &TestEmulator, s: &Scenario) -> Runner<DataApi> {
    let api = DataApi::local(&emulator.endpoint, &emulator.cluster_arn, &emulator.secret_arn);
    // Scripts that drop and re-create the database they run in (Sakila) need the history kept
    // elsewhere, as `--history-database` does for users; everything else keeps the default.
    let drops_own = s.files.iter().any(|f| {
        let text = std::fs::read_to_string(f).unwrap_or_default().to_ascii_lowercase();
        ["drop schema if exists", "drop database if exists", "drop schema", "drop database"].iter().any(|d| {
            text.contains(&format!("{d} {}", s.database)) || text.contains(&format!("{d} `{}`", s.database))
        })
    });
    if drops_own {
        eprintln!(
            "note: {}/{} drops its own database: history kept in database {}",
            s.folder,
            s.name,
            history_database(s)
        );
    }
    let config = RunConfig {
        default_database: Some(s.database.clone()),
        history_database: drops_own.then(|| history_database(s)),
        init_sql: s.init_sql(),
        lock_wait: Duration::from_secs(10),
        retry_for: Duration::from_secs(20),
        poll_every: Duration::from_millis(200),
        ..RunConfig::default()
    };
    Runner::new(Arc::new(api), config).expect("runner")
}

/// Applies the scenario through aurora-migrate; returns the run's problems when it failed.
fn apply_with_runner(
    rt: &tokio::runtime::Runtime,
    emulator: &TestEmulator,
    s: &Scenario,
) -> Result<(), String> {
    let folder = scripts_folder(s);
    let scripts = discover(folder.path()).map_err(|e| format!("discover: {e}"))?;
    let runner = runner(emulator, s);
    // Failed statements as the runner reported them, also when the run then ends in an error.
    let mut failed = Vec::new();
    let mut on_event = |e: &Event| {
        if let Event::Failed { at, statement, error, .. } = e {
            failed.push(format!("{at}: statement {statement}: {error}"));
        }
    };
    let names: Vec<String> =
        s.files.iter().enumerate().map(|(i, f)| format!("V{} = {}", i + 1, f.display())).collect();
    let report = rt.block_on(runner.migrate(&scripts, false, &mut on_event)).map_err(|e| {
        format!("run: {e}\n    (failed statements: {failed:?}; scripts: {})", names.join(", "))
    })?;
    if !report.ok {
        return Err(format!("{}\n    (scripts: {})", report.problems.join("\n"), names.join(", ")));
    }
    if report.applied != s.files.len() {
        return Err(format!("applied {} migration(s) of {}", report.applied, s.files.len()));
    }
    Ok(())
}

#[test]
fn every_corpus_scenario_gives_the_same_schema_through_aurora_migrate_as_with_the_mariadb_client() {
    let Some(corpus) = common::corpus("the corpus apply test") else { return };
    let scenarios = scenarios(&corpus);
    assert!(!scenarios.is_empty(), "expected.tsv has no ok scenarios");
    let only = std::env::var(ONLY_ENV).ok();
    let db = MariaDb::start().expect("throwaway MariaDB starts");
    let server = Server(&db);
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");

    let (mut identical, mut skipped, mut failures) = (0, 0, Vec::new());
    for s in &scenarios {
        if let Some((_, _, reason)) = SKIPS.iter().find(|(f, n, _)| *f == s.folder && *n == s.name) {
            eprintln!("SKIPPED corpus scenario {}: {reason}", s.id());
            skipped += 1;
            continue;
        }
        if only.as_deref().is_some_and(|o| !s.id().contains(o)) {
            continue;
        }
        // A fresh emulator per scenario: its pooled connections remember the current database
        // (and its character set) of a database that the previous scenario dropped.
        let emulator = TestEmulator::start(&db, Options::default()).expect("emulator starts");
        server.fresh(s);
        let started = Instant::now();
        let applied = apply_with_runner(&rt, &emulator, s);
        let calls: u64 = emulator.counters().expect("emulator counters").values().sum();
        drop(emulator);
        if let Err(e) = applied {
            failures.push(format!("{}: through aurora-migrate: {e}", s.id()));
            server.drop_all(s);
            continue;
        }
        let runner_time = started.elapsed();
        let counts = server.counts(s);
        let through_runner = server.dump(s);

        server.fresh(s);
        let client_started = Instant::now();
        if let Err(e) = server.apply_with_client(s) {
            failures
                .push(format!("{}: the mariadb client failed (expected.tsv says it applies): {e}", s.id()));
            server.drop_all(s);
            continue;
        }
        let client_time = client_started.elapsed();
        let with_client = server.dump(s);
        server.drop_all(s);

        let mut problems = Vec::new();
        if counts != s.counts {
            problems.push(format!(
                "object counts (tables, views, triggers, routines, events) through aurora-migrate are {counts:?}, expected.tsv says {:?}",
                s.counts
            ));
        }
        if through_runner != with_client {
            problems.push(format!(
                "the schema differs from the mariadb client's: {}",
                diff(&through_runner, &with_client)
            ));
        }
        if problems.is_empty() {
            identical += 1;
            eprintln!(
                "ok {}: identical ({} file(s); aurora-migrate {:.1?} in {calls} Data API calls, mariadb client {:.1?})",
                s.id(),
                s.files.len(),
                runner_time,
                client_time
            );
        } else {
            failures.push(format!("{}: {}", s.id(), problems.join("\n    ")));
        }
    }
    eprintln!("{identical} scenarios identical, {skipped} skipped, {} failed", failures.len());
    assert!(
        failures.is_empty(),
        "{} corpus scenario(s) failed:\n  {}",
        failures.len(),
        failures.join("\n  ")
    );
}
