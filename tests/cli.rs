//! The `aurora-migrate` binary, run for real on the fixture folders: output and exit codes; and
//! `migrate --max-time` against a throwaway MariaDB through the emulator.

mod common;

use std::path::Path;
use std::process::Command;
use std::time::Duration;

use common::{fixture, run_cli as run};
use data_api_emulator::testing::{MariaDb, Options, TestEmulator};

fn check(name: &str) -> (i32, String, String) {
    run(&["check", fixture(name).to_str().expect("utf-8 path")])
}

#[test]
fn check_passes_a_valid_folder_with_database_subfolders_and_sections() {
    let (code, out, _) = check("ok");
    assert_eq!(code, 0, "{out}");
    assert!(out.contains("checked 4 migration(s), 4 statement(s)"), "{out}");
    assert!(out.contains("0 error(s)"), "{out}");
}

#[test]
fn check_reports_a_syntax_error_at_file_line_column_and_exits_1() {
    let (code, out, _) = check("syntax-error");
    assert_eq!(code, 1, "{out}");
    let expected =
        format!("{}:5:29: error: syntax error:", fixture("syntax-error").join("V1__tables.sql").display());
    assert!(
        out.lines().any(|l| l.starts_with(&expected)),
        "expected a line starting {expected:?} in:\n{out}"
    );
    assert!(out.contains("1 error(s)"), "{out}");
}

#[test]
fn misnamed_files_are_named_with_the_expected_forms() {
    let (code, out, _) = check("misnamed");
    assert_eq!(code, 1);
    assert!(out.contains("create_b.sql: error: file name does not fit a migration naming scheme"), "{out}");
    assert!(out.contains("V<version>__<description>.sql"), "{out}");
}

#[test]
fn duplicate_versions_name_both_files() {
    let (code, out, _) = check("duplicate");
    assert_eq!(code, 1);
    assert!(out.contains("V1__b.sql: error: version 1 is also used by V1.0__a.sql"), "{out}");
}

#[test]
fn empty_and_non_utf8_files_are_errors() {
    let (code, out, _) = check("empty");
    assert_eq!(code, 1);
    assert!(out.contains("V1__nothing.sql: error: the file is empty"), "{out}");
    let (code, out, _) = check("not-utf8");
    assert_eq!(code, 1);
    assert!(out.contains("V1__latin1.sql:2: error: the file is not valid UTF-8"), "{out}");
}

#[test]
fn crlf_and_bom_do_not_change_checksums_or_positions() {
    let list = |name: &str| {
        let (code, out, _) = run(&["list", "--format", "json", fixture(name).to_str().unwrap()]);
        assert_eq!(code, 0, "{out}");
        let v: serde_json::Value = serde_json::from_str(&out).expect("json");
        (v["migrations"][0]["checksum"].clone(), v["migrations"][0]["statements"].clone())
    };
    let (crlf, n) = list("crlf");
    assert_eq!(crlf, list("bom").0);
    assert_eq!(n, 2);
    // Both files hold the same text as this one with LF endings and no BOM.
    let lf = aurora_migrate::checksum(b"CREATE TABLE a (\n  id INT\n);\nINSERT INTO a VALUES (1);\n");
    assert_eq!(crlf, serde_json::Value::String(lf));
    let (_, out, _) = check("crlf");
    assert!(out.contains("V1__a.sql:1: warning: the file mixes DDL"), "{out}");
}

#[test]
fn list_prints_migrations_in_apply_order() {
    let (code, out, _) = run(&["list", fixture("ok").to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let scripts: Vec<&str> = out.lines().skip(1).filter_map(|l| l.split_whitespace().nth(4)).collect();
    assert_eq!(
        scripts,
        [
            "V1__create_inventory_database.sql",
            "inventory/V1__items.sql",
            "inventory/V1.1__sku.sql",
            "inventory/20240101120000_bins.sql"
        ]
    );
    assert!(out.contains("(ignored: inventory/2_drop_items.down.sql)"), "{out}");
}

#[test]
fn hash_matches_the_documented_shell_recipe() {
    let dir = fixture("ok");
    let (code, out, _) = run(&["hash", dir.to_str().unwrap()]);
    assert_eq!(code, 0);
    // The recipe from the README, run with standard tools.
    let recipe = include_str!("../dev/content-hash.sh");
    let shell = std::process::Command::new("bash")
        .arg("-c")
        .arg(recipe)
        .arg("content-hash")
        .arg(&dir)
        .output()
        .expect("bash runs");
    assert!(shell.status.success(), "{}", String::from_utf8_lossy(&shell.stderr));
    assert_eq!(out.trim(), String::from_utf8_lossy(&shell.stdout).trim());
    assert!(out.starts_with("sha256:") && out.trim().len() == 71, "{out}");
}

#[test]
fn hash_ignores_line_endings_but_not_content() {
    let tmp = tempfile::tempdir().unwrap();
    let write = |body: &[u8]| std::fs::write(tmp.path().join("V1__a.sql"), body).unwrap();
    let hash = || run(&["hash", tmp.path().to_str().unwrap()]).1;
    write(b"SELECT 1;\nSELECT 2;\n");
    let lf = hash();
    write(b"\xef\xbb\xbfSELECT 1;\r\nSELECT 2;\r\n");
    assert_eq!(hash(), lf);
    write(b"SELECT 1;\nSELECT 3;\n");
    assert_ne!(hash(), lf);
}

#[test]
fn usage_and_io_errors_exit_2() {
    assert_eq!(run(&["check"]).0, 2);
    assert_eq!(run(&["frobnicate"]).0, 2);
    let (code, _, err) = run(&["check", "/nonexistent/scripts"]);
    assert_eq!(code, 2);
    assert!(err.contains("cannot read /nonexistent/scripts"), "{err}");
}

#[test]
fn json_output_is_machine_readable() {
    let (code, out, _) = run(&["check", "--format", "json", fixture("syntax-error").to_str().unwrap()]);
    assert_eq!(code, 1);
    let v: serde_json::Value = serde_json::from_str(&out).expect("json");
    assert_eq!(v["errors"], 1);
    assert_eq!(v["diagnostics"][0]["severity"], "error");
    assert_eq!(v["diagnostics"][0]["line"], 5);
}

#[test]
fn list_statements_prints_every_call_with_file_line_and_the_text_sent() {
    let dir = fixture("crlf");
    let (code, out, _) = run(&["list", dir.to_str().unwrap(), "--statements", "--format", "json"]);
    assert_eq!(code, 0, "{out}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("JSON");
    let statements = report["migrations"][0]["statements"].as_array().expect("statements");
    assert!(!statements.is_empty(), "{out}");
    for s in statements {
        assert!(s["line"].as_u64().is_some_and(|l| l >= 1), "{s}");
        let sql = s["calls"][0]["sql"].as_str().expect("one call");
        assert!(!sql.contains('\r'), "the CRLF file sends LF only: {sql:?}");
    }
    let (code, text, _) = run(&["list", dir.to_str().unwrap(), "--statements"]);
    assert_eq!(code, 0, "{text}");
    assert!(text.contains(&format!("{}:1:1:", dir.join("V1__a.sql").display())), "{text}");
    assert!(text.ends_with(&format!("{} Data API call(s) in 1 migration(s)\n", statements.len())), "{text}");
}

/// A statement whose big literal, sent as a bound parameter, would make a request over the Data
/// API's 4 MiB is an error at check time, naming the file, line and size.
#[test]
fn check_refuses_a_statement_whose_request_would_exceed_four_mib() {
    let dir = tempfile::tempdir().expect("tempdir");
    let body = format!("CREATE TABLE t (v LONGTEXT);\nINSERT INTO t VALUES ('{}');\n", "x".repeat(4_500_000));
    std::fs::write(dir.path().join("V1__big.sql"), body).expect("writes");
    let (code, out, _) = run(&["check", dir.path().to_str().expect("utf-8 path")]);
    assert_eq!(code, 1, "{}", &out[..out.len().min(2000)]);
    let expected = format!(
        "{}:2:1: error: statement needs a Data API request of",
        dir.path().join("V1__big.sql").display()
    );
    assert!(out.lines().any(|l| l.starts_with(&expected)), "{}", &out[..out.len().min(2000)]);
}

/// `migrate` on `dir` into `database` through `emulator`, with `args`: exit code, stdout, stderr.
fn migrate(emulator: &TestEmulator, dir: &Path, database: &str, args: &[&str]) -> (i32, String, String) {
    let mut cmd = Command::new(env!("CARGO_BIN_EXE_aurora-migrate"));
    cmd.args(["--format", "json", "migrate", "--lease", "2"]).args(args).arg(dir);
    common::connect_to(&mut cmd, emulator, database);
    let out = cmd.output().expect("the CLI runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().unwrap_or(-1), text(&out.stdout), text(&out.stderr))
}

/// `migrate --max-time` stops a run in time: over slow statements it stops at a statement boundary
/// with work left (exit 1, the report `unfinished`); during a DDL statement that outlived its call
/// it stops waiting for it (exit 4, `still_running`). The next run without a limit finishes, and
/// every statement ran exactly once (an audit row per statement; a `CREATE TABLE` sent twice would
/// fail).
#[test]
fn migrate_max_time_stops_in_time_and_the_next_run_finishes_with_each_statement_once() {
    let db = MariaDb::start().expect("throwaway MariaDB starts");
    common::sql(&db, "CREATE DATABASE app; CREATE DATABASE slow");
    let emulator = TestEmulator::start(&db, Options::default()).expect("emulator starts");
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(dir.path().join("V0__audit.sql"), "CREATE TABLE audit (v INT NOT NULL);").unwrap();
    for v in 1..=5 {
        let body = format!("CREATE TABLE s{v} AS SELECT SLEEP(1) AS x;\nINSERT INTO audit VALUES ({v});\n");
        std::fs::write(dir.path().join(format!("V{v}__slow.sql")), body).unwrap();
    }
    let (code, out, err) = migrate(&emulator, dir.path(), "app", &["--max-time", "2s"]);
    assert_eq!(code, 1, "{out}\n{err}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("a JSON report");
    assert_eq!(report["unfinished"], true, "{out}");
    assert!(report["problems"][0].as_str().is_some_and(|p| p.contains("deadline")), "{out}");
    let done: usize = common::sql(&db, "SELECT COUNT(*) FROM app.audit").parse().unwrap();
    assert!((1..5).contains(&done), "stopped with work left, after some: {done} of 5");
    let (code, out, err) = migrate(&emulator, dir.path(), "app", &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(common::sql(&db, "SELECT GROUP_CONCAT(v ORDER BY v) FROM app.audit"), "1,2,3,4,5");

    // A DDL statement longer than the limit and than the 1-second call timeout.
    let timeouts =
        Options::with_timeouts(Duration::from_secs(1), Duration::from_secs(180), Duration::from_secs(600));
    let short = TestEmulator::start(&db, timeouts).expect("emulator starts");
    let dir = tempfile::tempdir().expect("tempdir");
    let body = "CREATE TABLE slow AS SELECT SLEEP(4) AS x;\nINSERT INTO slow VALUES (1);\n";
    std::fs::write(dir.path().join("V1__slow.sql"), body).unwrap();
    let (code, out, err) = migrate(&short, dir.path(), "slow", &["--max-time", "2"]);
    assert_eq!(code, 4, "{out}\n{err}");
    let report: serde_json::Value = serde_json::from_str(&out).expect("a JSON report");
    assert_eq!(report["still_running"], true, "{out}");
    let (code, out, err) = migrate(&short, dir.path(), "slow", &[]);
    assert_eq!(code, 0, "{out}\n{err}");
    assert_eq!(common::sql(&db, "SELECT COUNT(*) FROM slow.slow"), "2");
}

#[test]
fn max_time_refuses_what_is_not_a_duration() {
    let (code, _, err) = run(&["migrate", "--max-time", "10d", "."]);
    assert_eq!(code, 2, "{err}");
    assert!(err.contains("--max-time") && err.contains("10m"), "{err}");
}
