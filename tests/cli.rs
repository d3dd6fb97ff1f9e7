//! The `aurora-migrate` binary, run for real on the fixture folders: output and exit codes.

mod common;

use common::{fixture, run_cli as run};

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
