//! The real Data API's limits and modes, through the official Rust client `aws-sdk-rdsdata`: the
//! 4 MiB request and 1 MiB response limits, the `autocommit=0` transaction mode, both SQL error
//! message shapes, `SecretsErrorException` and a `StatementTimeoutException` without
//! `dbConnectionId` as injected faults. (boto3 and the JS SDK check the same in tests/clients.rs.)

use std::time::Duration;

use aws_sdk_rdsdata::error::ProvideErrorMetadata;
use aws_sdk_rdsdata::operation::execute_statement::ExecuteStatementError;
use aws_sdk_rdsdata::types::{Field, SqlParameter};
use data_api_emulator::testing::Options;
use data_api_emulator::{ErrorMessages, FaultKind, FaultRule, TransactionMode, MAX_REQUEST_BYTES};

mod common;

use common::Env;

fn start(options: Options) -> Env {
    let env = common::start(options);
    env.db.sql("CREATE DATABASE app; CREATE TABLE app.t (id INT PRIMARY KEY, body LONGTEXT)").expect("setup");
    env
}

impl Env {
    fn count(&self, table: &str) -> String {
        self.db.sql(&format!("SELECT COUNT(*) FROM app.{table}")).expect("counts")
    }
}

fn text(name: &str, value: String) -> SqlParameter {
    SqlParameter::builder().name(name).value(Field::StringValue(value)).build()
}

#[tokio::test]
async fn a_request_body_over_four_mib_is_refused_before_anything_runs() {
    let env = start(Options::default());
    let big = "x".repeat(MAX_REQUEST_BYTES);
    let err = env
        .exec("INSERT INTO t VALUES (1, :body)")
        .parameters(text("body", big))
        .send()
        .await
        .expect_err("refused");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(413));
    assert_eq!(err.code(), Some("RequestEntityTooLargeException"));
    assert_eq!(env.count("t"), "0");
    // Just under the limit is served.
    env.exec("INSERT INTO t VALUES (2, :body)")
        .parameters(text("body", "y".repeat(MAX_REQUEST_BYTES - 4096)))
        .send()
        .await
        .expect("a 4 MiB - 4 KiB request is fine");
    assert_eq!(env.count("t"), "1");
}

#[tokio::test]
async fn a_response_over_one_mib_is_refused_and_ends_its_transaction() {
    let env = start(Options::default());
    env.db
        .sql("INSERT INTO app.t VALUES (1, REPEAT('a', 600000)), (2, REPEAT('b', 600000))")
        .expect("two big rows");
    env.exec("SELECT body FROM t WHERE id = 1").send().await.expect("600 kB is under the limit");
    let err = env.exec("SELECT body FROM t").send().await.expect_err("1.2 MB is over it");
    let e = err.into_service_error();
    assert!(e.is_database_error_exception(), "{e:?}");
    assert_eq!(e.message(), Some("Database response exceeded size limit"));

    let tx = env.begin().await;
    env.exec("INSERT INTO t VALUES (3, 'c')").transaction_id(&tx).send().await.expect("inserts");
    env.exec("SELECT body FROM t").transaction_id(&tx).send().await.expect_err("too large");
    let e = env.exec("SELECT 1").transaction_id(&tx).send().await.expect_err("gone").into_service_error();
    assert!(e.is_transaction_not_found_exception(), "{e:?}");
    assert_eq!(env.count("t"), "2", "the transaction's insert was rolled back");
}

#[tokio::test]
async fn with_autocommit_off_a_rollback_after_ddl_undoes_the_later_writes() {
    // START TRANSACTION (the default): the DDL commits and the connection autocommits after it.
    let env = start(Options::default());
    let tx = env.begin().await;
    env.exec("INSERT INTO t VALUES (1, 'before')").transaction_id(&tx).send().await.expect("inserts");
    env.exec("CREATE TABLE u (v INT)").transaction_id(&tx).send().await.expect("DDL");
    env.exec("INSERT INTO u VALUES (1)").transaction_id(&tx).send().await.expect("inserts");
    env.rollback(&tx).await;
    assert_eq!((env.count("t"), env.count("u")), ("1".into(), "1".into()), "everything was committed");

    // autocommit=0: the DDL commits what came before, and a new transaction starts at once.
    let env = start(Options { transaction_mode: TransactionMode::AutocommitOff, ..Options::default() });
    let tx = env.begin().await;
    env.exec("INSERT INTO t VALUES (1, 'before')").transaction_id(&tx).send().await.expect("inserts");
    env.exec("CREATE TABLE u (v INT)").transaction_id(&tx).send().await.expect("DDL");
    env.exec("INSERT INTO u VALUES (1)").transaction_id(&tx).send().await.expect("inserts");
    env.rollback(&tx).await;
    assert_eq!(
        (env.count("t"), env.count("u")),
        ("1".into(), "0".into()),
        "the write after the DDL is undone"
    );
    // The connection goes back to the pool in autocommit mode: a call outside a transaction commits.
    env.exec("INSERT INTO u VALUES (2)").send().await.expect("inserts");
    assert_eq!(env.count("u"), "1");
}

#[tokio::test]
async fn sql_errors_come_in_either_documented_shape() {
    let env = start(Options::default());
    let e = env.exec("SELECT * FROM missing").send().await.expect_err("fails").into_service_error();
    assert_eq!(e.message(), Some("Database error code: 1146. Message: Table 'app.missing' doesn't exist"));

    let env = start(Options { error_messages: ErrorMessages::SqlState, ..Options::default() });
    let e = env.exec("SELECT * FROM missing").send().await.expect_err("fails").into_service_error();
    assert!(e.is_database_error_exception(), "{e:?}");
    assert_eq!(e.message(), Some("Table 'app.missing' doesn't exist; Error code: 1146; SQLState: 42S02"));
}

#[tokio::test]
async fn a_secrets_error_is_injected_and_nothing_runs() {
    let env = start(Options::default());
    env.emu
        .inject(&FaultRule { fault: FaultKind::SecretsError, count: 1, delay_ms: 0, operations: None })
        .expect("injects");
    let e = env.exec("INSERT INTO t VALUES (1, 'x')").send().await.expect_err("fails").into_service_error();
    assert!(e.is_secrets_error_exception(), "{e:?}");
    assert_eq!(env.count("t"), "0");
    env.exec("INSERT INTO t VALUES (1, 'x')").send().await.expect("the next call works");
    assert_eq!(env.count("t"), "1");
}

#[tokio::test]
async fn a_statement_timeout_without_connection_id_leaves_the_statement_running() {
    let env = start(Options::default());
    env.emu
        .inject(&FaultRule {
            fault: FaultKind::TimeoutWithoutConnectionId,
            count: 1,
            delay_ms: 200,
            operations: None,
        })
        .expect("injects");
    let err = env
        .exec("INSERT INTO t SELECT 1, SLEEP(1.5)")
        .continue_after_timeout(true)
        .send()
        .await
        .expect_err("times out");
    let body =
        err.raw_response().and_then(|r| r.body().bytes()).map(|b| String::from_utf8_lossy(b).into_owned());
    let body = body.expect("has a body");
    assert!(!body.contains("dbConnectionId"), "{body}");
    let ExecuteStatementError::StatementTimeoutException(t) = err.into_service_error() else {
        panic!("expected StatementTimeoutException");
    };
    // The SDK turns the missing member into 0, which is why a client must not trust a 0.
    assert_eq!(t.db_connection_id(), 0);
    assert_eq!(env.count("t"), "0", "still running");
    tokio::time::sleep(Duration::from_millis(1800)).await;
    assert_eq!(env.count("t"), "1", "the statement ran to its end");
}

/// A `delay` is the request reaching the service late: the statement runs after it with the whole
/// call timeout and answers normally, even when the delay is longer than that timeout (the chaos
/// tests hold a statement back this way while they play a late call or a kill).
#[tokio::test]
async fn a_delay_longer_than_the_call_timeout_holds_the_call_back_and_it_then_runs_normally() {
    let env = start(Options::with_timeouts(
        Duration::from_secs(1),
        Duration::from_secs(180),
        Duration::from_secs(600),
    ));
    env.emu
        .inject(&FaultRule { fault: FaultKind::Delay, count: 1, delay_ms: 1500, operations: None })
        .expect("injects");
    let started = std::time::Instant::now();
    let run = tokio::spawn({
        let call = env.exec("INSERT INTO t SELECT 1, SLEEP(0.5)");
        async move { call.send().await }
    });
    tokio::time::sleep(Duration::from_millis(1000)).await;
    assert_eq!(env.count("t"), "0", "held back: nothing runs during the delay");
    run.await.expect("joins").expect("answers normally, not StatementTimeoutException");
    assert!(started.elapsed() >= Duration::from_millis(2000), "the delay, then the statement");
    assert_eq!(env.count("t"), "1");
}
