//! What the integration tests share: the fixture folders, the real CLI binary, the corpus and its
//! `expected.tsv`, the connection environment of the binaries, and queries on the throwaway server.
//!
//! Each test binary compiles this module and uses a part of it, so the parts another binary uses
//! would be reported as unused there.
#![allow(dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use data_api_emulator::testing::{MariaDb, TestEmulator};

/// A folder under `tests/fixtures`.
pub fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures").join(name)
}

/// Runs the `aurora-migrate` binary with `args`: exit code, stdout, stderr.
pub fn run_cli(args: &[&str]) -> (i32, String, String) {
    let out = assert_cmd::Command::cargo_bin("aurora-migrate")
        .expect("binary builds")
        .args(args)
        .output()
        .expect("runs");
    let text = |b: &[u8]| String::from_utf8_lossy(b).into_owned();
    (out.status.code().expect("exit code"), text(&out.stdout), text(&out.stderr))
}

/// Sets what a binary needs to reach the emulator: AWS test credentials and region, the cluster,
/// the secret, the endpoint and the default `database`.
pub fn connect_to(cmd: &mut Command, emulator: &TestEmulator, database: &str) {
    cmd.env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env(aurora_migrate::names::ENV_RESOURCE_ARN, &emulator.cluster_arn)
        .env(aurora_migrate::names::ENV_SECRET_ARN, &emulator.secret_arn)
        .env(aurora_migrate::names::ENV_DATABASE, database)
        .env(aurora_migrate::names::ENV_ENDPOINT_URL, &emulator.endpoint);
}

/// Runs SQL with the mariadb client straight on the throwaway server (not through the Data API);
/// the rows as tab-separated lines.
pub fn sql(db: &MariaDb, sql: &str) -> String {
    let out = db.client("mariadb").args(["-N", "-B", "-e", sql]).output().expect("the mariadb client runs");
    assert!(out.status.success(), "{sql}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// The real-world corpus (read in place, never copied), or `None` after saying that `what` skipped.
pub fn corpus(what: &str) -> Option<PathBuf> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/corpus");
    if dir.join("expected.tsv").is_file() {
        Some(dir)
    } else {
        eprintln!("SKIPPED: ../shared/corpus is absent, {what} did not run");
        None
    }
}

/// One row of the corpus's `expected.tsv`: what the mariadb client made of a scenario.
pub struct Row {
    fields: HashMap<String, String>,
}

impl Row {
    /// The value of column `name`.
    pub fn get(&self, name: &str) -> &str {
        self.fields.get(name).unwrap_or_else(|| panic!("expected.tsv has no column {name}"))
    }

    /// A numeric column.
    pub fn number(&self, name: &str) -> u64 {
        self.get(name).parse().unwrap_or_else(|e| panic!("{name}: {e}"))
    }

    /// `folder/scenario`.
    pub fn id(&self) -> String {
        format!("{}/{}", self.get("folder"), self.get("scenario"))
    }

    /// The scenario's files in apply order (`/path` from the corpus root, else in its folder).
    pub fn files(&self, corpus: &Path) -> Vec<PathBuf> {
        self.get("apply_order")
            .split('|')
            .map(|p| match p.strip_prefix('/') {
                Some(from_root) => corpus.join(from_root),
                None => corpus.join(self.get("folder")).join(p),
            })
            .collect()
    }
}

/// Every row of `expected.tsv`.
pub fn expected(corpus: &Path) -> Vec<Row> {
    let tsv = std::fs::read_to_string(corpus.join("expected.tsv")).expect("expected.tsv reads");
    let mut lines = tsv.lines();
    let header: Vec<&str> = lines.next().expect("header").split('\t').collect();
    lines
        .filter(|l| !l.trim().is_empty())
        .map(|line| Row {
            fields: header
                .iter()
                .zip(line.split('\t'))
                .map(|(h, v)| ((*h).to_owned(), v.to_owned()))
                .collect(),
        })
        .collect()
}
