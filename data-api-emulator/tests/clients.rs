//! The emulator through two more independent official clients: boto3's `rds-data` client
//! (tests/clients/boto3_check.py) and `@aws-sdk/client-rds-data` (tests/clients/js/check.mjs).
//! Each script runs every check against a fresh MariaDB and emulator and exits 0 only if all pass.
//! `*_check` scripts check the default modes, `*_limits` scripts the Data API's size limits and the
//! other modes (autocommit=0 transactions, SQLState-shaped messages) and the newer faults.
//!
//! `dev/test` installs the clients and sets `DATA_API_TEST_PYTHON` and `DATA_API_TEST_JS_DIR`;
//! without them these tests fail rather than pass silently.

use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use data_api_emulator::testing::{MariaDb, Options, TestEmulator};
use data_api_emulator::{ErrorMessages, TransactionMode};

fn required_env(name: &str) -> String {
    std::env::var(name).unwrap_or_else(|_| {
        panic!("{name} is not set: run the tests with `dev/test`, which installs the AWS clients and sets it")
    })
}

fn checks() -> Options {
    Options::with_timeouts(Duration::from_secs(1), Duration::from_secs(1), Duration::from_secs(3600))
}

fn limits() -> Options {
    Options {
        transaction_mode: TransactionMode::AutocommitOff,
        error_messages: ErrorMessages::SqlState,
        ..Options::default()
    }
}

fn run_client(program: &str, args: &[&Path], dir: &Path, options: Options) {
    let db = MariaDb::start().expect("a throwaway MariaDB starts");
    let emu = TestEmulator::start(&db, options).expect("the emulator starts");
    let output = Command::new(program)
        .args(args)
        .current_dir(dir)
        .env("DATA_API_ENDPOINT", &emu.endpoint)
        .env("DATA_API_CLUSTER_ARN", &emu.cluster_arn)
        .env("DATA_API_SECRET_ARN", &emu.secret_arn)
        .output()
        .unwrap_or_else(|e| panic!("cannot run {program}: {e}"));
    assert!(
        output.status.success(),
        "{program} {args:?} failed ({}):\n--- stdout\n{}\n--- stderr\n{}",
        output.status,
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn here() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("tests/clients")
}

#[test]
fn boto3_rds_data_client_passes_every_check() {
    let python = required_env("DATA_API_TEST_PYTHON");
    run_client(&python, &[&here().join("boto3_check.py")], &here(), checks());
}

#[test]
fn boto3_rds_data_client_sees_the_limits_and_modes() {
    let python = required_env("DATA_API_TEST_PYTHON");
    run_client(&python, &[&here().join("boto3_limits.py")], &here(), limits());
}

#[test]
fn aws_js_sdk_rds_data_client_passes_every_check() {
    let js_dir = js_dir();
    run_client("node", &[&js_dir.join("check.mjs")], &js_dir, checks());
}

#[test]
fn aws_js_sdk_rds_data_client_sees_the_limits_and_modes() {
    let js_dir = js_dir();
    run_client("node", &[&js_dir.join("limits.mjs")], &js_dir, limits());
}

fn js_dir() -> PathBuf {
    let js_dir = PathBuf::from(required_env("DATA_API_TEST_JS_DIR"));
    assert!(
        js_dir.join("node_modules/@aws-sdk/client-rds-data").is_dir(),
        "{} has no node_modules: run `dev/test` (it runs npm ci there)",
        js_dir.display()
    );
    js_dir
}
