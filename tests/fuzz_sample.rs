//! The CI sample of the differential fuzzer (`dev/fuzz`): 300 random hostile scripts, seed 11, piped
//! through the real `mariadb` client into a throwaway MariaDB and compared statement by statement with
//! `aurora-migrate list --statements`. Any disagreement outside the documented deliberate ones fails
//! the test, with the minimized script in the output. Skipped (and says so) without `python3` or the
//! MariaDB programs.

use std::process::Command;

fn on_path(program: &str) -> bool {
    Command::new("sh")
        .args(["-c", &format!("command -v {program}")])
        .output()
        .is_ok_and(|out| out.status.success())
}

#[test]
fn the_splitter_agrees_with_the_mariadb_client_on_the_fuzzer_sample() {
    let missing: Vec<_> = ["python3", "mariadb", "mariadbd", "mariadb-install-db"]
        .into_iter()
        .filter(|p| !on_path(p))
        .collect();
    if !missing.is_empty() {
        println!("fuzz sample: SKIPPED ({} not on PATH)", missing.join(", "));
        return;
    }
    let out_dir = tempfile::tempdir().expect("temp dir");
    let out = Command::new("python3")
        .arg(concat!(env!("CARGO_MANIFEST_DIR"), "/dev/fuzz.py"))
        .args(["--seed", "11", "--cases", "300", "--bin", env!("CARGO_BIN_EXE_aurora-migrate"), "--out"])
        .arg(out_dir.path())
        .output()
        .expect("python3 runs the fuzzer");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        out.status.success(),
        "the splitter disagrees with the mariadb client (exit {:?}):\n{stdout}\n{stderr}",
        out.status.code()
    );
    assert!(stdout.contains("300 cases, 0 disagreement(s)"), "{stdout}");
}
