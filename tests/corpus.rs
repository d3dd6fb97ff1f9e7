//! The real-world corpus (`AURORA_MIGRATE_CORPUS`; 120 MySQL scripts from 18 public projects, with what
//! the mariadb client made of them in `expected.tsv`): every scenario that the client applies must
//! split into exactly the client's packets (and the server's statements) and check without errors;
//! every `invalid/` scenario must fail with a check error, except the ones listed in
//! [`SERVER_ONLY`], which only the server can reject. The corpus is read in place; without it the
//! tests say that they skipped.

mod common;

use aurora_migrate::Script;
use aurora_migrate::{check_migration, Severity};

/// Invalid scenarios whose scripts are valid MySQL or valid syntax that only MariaDB's server
/// rejects: the offline check cannot know the server, so these fail at apply time. `(id, reason)`.
const SERVER_ONLY: &[(&str, &str)] = &[
    (
        "invalid/github__gh-ost/generated-columns-unique",
        "MySQL syntax: `GENERATED ALWAYS AS (...) STORED NOT NULL`; MariaDB refuses NOT NULL on a generated column",
    ),
    (
        "invalid/temporalio__temporal/visibility-fresh",
        "MySQL syntax: the JSON operator `->>` in generated columns, which MariaDB does not have",
    ),
    (
        "invalid/openfga__openfga/goose-up-after-006",
        "MySQL syntax: `CREATE INDEX ... LOCK = NONE` after the column list; MariaDB refuses the clause there",
    ),
    (
        "invalid/skeema__skeema/check-maria",
        "a duplicate CHECK constraint name: a semantic error that only the server's catalog shows",
    ),
    (
        "invalid/skeema__skeema/check-mysql8",
        "MySQL 8 syntax: `CONSTRAINT name CHECK (...)` inline on a column and `[NOT] ENFORCED`, which MariaDB refuses",
    ),
    (
        "invalid/skeema__skeema/generatedcols-mysql",
        "MySQL syntax: a generated column declared NOT NULL; MariaDB refuses NOT NULL on a generated column",
    ),
];

#[test]
fn every_ok_scenario_splits_like_the_client_and_checks_clean() {
    let Some(corpus) = common::corpus("the corpus check test") else { return };
    let mut failures = Vec::new();
    let mut checked = 0;
    for row in common::expected(&corpus).iter().filter(|r| r.get("expect") == "ok") {
        let (mut statements, mut chunks) = (0, 0);
        for file in row.files(&corpus) {
            let script = Script::read(&file).expect("corpus file reads");
            let name = file.strip_prefix(&corpus).unwrap_or(&file).display().to_string();
            let result = check_migration(&name, &script);
            statements += result.statements;
            chunks += result.chunks;
            for d in result.diagnostics.iter().filter(|d| d.severity == Severity::Error) {
                failures.push(format!("{}: {d}", row.id()));
            }
        }
        let (packets, ran) = (row.number("client_packets") as usize, row.number("statements") as usize);
        if chunks != packets || statements != ran {
            failures.push(format!(
                "{}: {chunks} packets and {statements} statements, the client sent {packets} packets and the \
                 server ran {ran} statements",
                row.id()
            ));
        }
        checked += 1;
    }
    assert_eq!(checked, 26, "ok scenarios in expected.tsv");
    assert!(failures.is_empty(), "{} problem(s):\n{}", failures.len(), failures.join("\n"));
}

#[test]
fn every_invalid_scenario_reports_an_error_unless_only_the_server_can_reject_it() {
    let Some(corpus) = common::corpus("the corpus check test") else { return };
    let mut missed = Vec::new();
    let mut caught_but_listed = Vec::new();
    for row in common::expected(&corpus).iter().filter(|r| r.get("expect") == "fail") {
        let failed_file = row.get("failed_file");
        let files: Vec<_> = row.files(&corpus).into_iter().filter(|f| f.ends_with(failed_file)).collect();
        assert_eq!(files.len(), 1, "{}: failed file {failed_file}", row.id());
        let script = Script::read(&files[0]).expect("reads");
        let result = check_migration(failed_file, &script);
        let error = result.diagnostics.iter().find(|d| d.severity == Severity::Error);
        let listed = SERVER_ONLY.iter().any(|(id, _)| *id == row.id());
        match (error, listed) {
            (Some(e), false) => eprintln!("{}: {e}", row.id()),
            (Some(e), true) => caught_but_listed.push(format!("{}: {e}", row.id())),
            (None, false) => missed.push(format!("{} ({failed_file}): {}", row.id(), row.get("error"))),
            (None, true) => {}
        }
    }
    assert!(missed.is_empty(), "invalid scenarios the check lets through:\n{}", missed.join("\n"));
    assert!(
        caught_but_listed.is_empty(),
        "now caught by the check; remove them from SERVER_ONLY:\n{}",
        caught_but_listed.join("\n")
    );
}
