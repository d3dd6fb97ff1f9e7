//! A CRLF checkout and an LF checkout of the same scripts have the same checksums, so they must have
//! the same effect: the same schema and the same data, through the Data API emulator over a
//! throwaway MariaDB. The mysql client drops the CR of every CRLF line end, inside strings, quoted
//! identifiers and routine bodies too; so does aurora-migrate.

use std::sync::Arc;
use std::time::Duration;

use aurora_migrate::{discover, DataApi, RunConfig, Runner};
mod common;

use common::sql;
use data_api_emulator::testing::{MariaDb, Options, TestEmulator};

/// Scripts with line breaks inside every kind of quoted text and inside a routine body.
const SCRIPTS: &[(&str, &str)] = &[
    (
        "V1__schema.sql",
        "CREATE TABLE note (\n  id INT PRIMARY KEY,\n  body TEXT,\n  `two\nlines` INT DEFAULT 7\n) COMMENT 'table\ncomment';\n",
    ),
    (
        "V2__data.sql",
        "INSERT INTO note (id, body) VALUES\n  (1, 'line one\nline two'),\n  (2, \"double\nquoted\"),\n  (3, 'escaped \\\n newline');\n",
    ),
    (
        "V3__routine.sql",
        "DELIMITER $$\nCREATE PROCEDURE add_note(IN n INT)\nBEGIN\n  -- a comment the client strips\n  INSERT INTO note (id, body) VALUES (n, 'from\nthe procedure');\nEND$$\nDELIMITER ;\nCALL add_note(4);\n",
    ),
];

/// Applies `SCRIPTS` (with `line_end` as line ends) to `database` and returns its schema and data.
async fn apply(db: &MariaDb, emulator: &TestEmulator, database: &str, line_end: &str) -> Vec<String> {
    sql(db, &format!("CREATE DATABASE {database}"));
    let dir = tempfile::tempdir().expect("temp dir");
    for (name, text) in SCRIPTS {
        std::fs::write(dir.path().join(name), text.replace('\n', line_end)).expect("write script");
    }
    let api = DataApi::local(&emulator.endpoint, &emulator.cluster_arn, &emulator.secret_arn);
    let config = RunConfig {
        default_database: Some(database.into()),
        lease: Duration::from_secs(5),
        lock_wait: Duration::from_secs(30),
        ..RunConfig::default()
    };
    let runner = Runner::new(Arc::new(api), config).expect("runner");
    let scripts = discover(dir.path()).expect("scripts");
    let report = runner.migrate(&scripts, false, &mut |_| {}).await.expect("run completes");
    assert!(report.ok, "{database}: {:?}", report.problems);
    vec![
        sql(db, &format!("SELECT HEX(GROUP_CONCAT(id, body ORDER BY id)) FROM {database}.note")),
        sql(db, &format!("SELECT HEX(GROUP_CONCAT(COLUMN_NAME)) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = '{database}'")),
        sql(db, &format!("SELECT HEX(TABLE_COMMENT) FROM information_schema.TABLES WHERE TABLE_SCHEMA = '{database}' AND TABLE_NAME = 'note'")),
        sql(db, &format!("SELECT HEX(ROUTINE_DEFINITION) FROM information_schema.ROUTINES WHERE ROUTINE_SCHEMA = '{database}'")),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_crlf_checkout_gives_the_schema_and_data_of_its_lf_twin() {
    let db = MariaDb::start().expect("throwaway MariaDB starts");
    let emulator = TestEmulator::start(&db, Options::default()).expect("emulator starts");
    let lf = apply(&db, &emulator, "lf", "\n").await;
    let crlf = apply(&db, &emulator, "crlf", "\r\n").await;
    assert_eq!(crlf, lf, "schema and data (hex) of the CRLF checkout, then of the LF one");
    for (what, hex) in ["data", "columns", "table comment", "routine"].iter().zip(&crlf) {
        assert!(hex.contains("0A"), "{what} holds its line breaks: {hex}");
        assert!(!hex.contains("0D"), "{what} holds no CR: {hex}");
    }
}
