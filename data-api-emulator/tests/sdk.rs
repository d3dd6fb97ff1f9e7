//! The emulator through the official Rust client, `aws-sdk-rdsdata`, against a throwaway MariaDB:
//! every column type, parameters with each type hint, generated fields, transactions checked from
//! a second connection, expiry, timeouts, every modeled error, faults and counters.

use std::time::{Duration, Instant};

use aws_sdk_rdsdata::error::ProvideErrorMetadata;
use aws_sdk_rdsdata::primitives::Blob;
use aws_sdk_rdsdata::types::{
    DecimalReturnType, Field, LongReturnType, RecordsFormatType, ResultSetOptions, SqlParameter, TypeHint,
};
use data_api_emulator::testing::Options;
use data_api_emulator::{ErrorFlavor, FaultKind, FaultRule, Operation};
use mysql_async::prelude::Queryable;

mod common;

use common::{start, Env};

impl Env {
    async fn setup(&self, statements: &[&str]) {
        self.client
            .execute_statement()
            .resource_arn(&self.emu.cluster_arn)
            .secret_arn(&self.emu.secret_arn)
            .sql("CREATE DATABASE IF NOT EXISTS app")
            .send()
            .await
            .expect("creates the database");
        for s in statements {
            self.exec(s).send().await.unwrap_or_else(|e| panic!("{s}: {e:?}"));
        }
    }

    /// A second, direct connection (not through the emulator).
    async fn direct(&self) -> mysql_async::Conn {
        mysql_async::Conn::from_url(format!("{}/app", self.db.url())).await.expect("direct connection")
    }
}

async fn count(conn: &mut mysql_async::Conn, sql: &str) -> i64 {
    conn.query_first::<i64, _>(sql).await.expect("counts").unwrap_or(-1)
}

fn param(name: &str, value: Field) -> SqlParameter {
    SqlParameter::builder().name(name).value(value).build()
}

fn hinted(name: &str, value: &str, hint: TypeHint) -> SqlParameter {
    SqlParameter::builder().name(name).value(Field::StringValue(value.into())).type_hint(hint).build()
}

#[tokio::test]
async fn a_select_of_every_type_returns_the_documented_fields() {
    let env = start(Options::default());
    env.setup(&[
        "CREATE TABLE every_type (i_tiny TINYINT, i_small SMALLINT, i_medium MEDIUMINT, i_int INT, \
         i_big BIGINT, u_tiny TINYINT UNSIGNED, u_int INT UNSIGNED, u_big BIGINT UNSIGNED, \
         d DECIMAL(10,3), f FLOAT, db DOUBLE, c CHAR(3), vc VARCHAR(20), tx TEXT, e ENUM('a','b'), \
         s SET('x','y'), bn BINARY(2), bl BLOB, dt DATE, tm TIME, dtm DATETIME(6), ts TIMESTAMP NULL, \
         j JSON, bt BIT(1), b1 TINYINT(1), n INT NULL)",
        "INSERT INTO every_type VALUES (-128, -32768, -8388608, -2147483648, -9223372036854775808, \
         255, 4294967295, 18446744073709551615, -12.345, 1.5, 2.25, 'abc', 'héllo', 'long text', \
         'b', 'x,y', X'0102', X'00FF', '2024-02-29', '-12:34:56', '2024-02-29 13:14:15.123456', \
         '2024-02-29 13:14:15', '{\"a\": [1, 2]}', b'1', 1, NULL)",
    ])
    .await;
    let out =
        env.exec("SELECT * FROM every_type").include_result_metadata(true).send().await.expect("selects");
    let s = |v: &str| Field::StringValue(v.into());
    let expected = vec![
        Field::LongValue(-128),
        Field::LongValue(-32768),
        Field::LongValue(-8388608),
        Field::LongValue(-2147483648),
        Field::LongValue(i64::MIN),
        Field::LongValue(255),
        Field::LongValue(4294967295),
        s("18446744073709551615"),
        s("-12.345"),
        Field::DoubleValue(1.5),
        Field::DoubleValue(2.25),
        s("abc"),
        s("héllo"),
        s("long text"),
        s("b"),
        s("x,y"),
        Field::BlobValue(Blob::new(vec![1, 2])),
        Field::BlobValue(Blob::new(vec![0, 255])),
        s("2024-02-29"),
        s("-12:34:56"),
        s("2024-02-29 13:14:15.123456"),
        s("2024-02-29 13:14:15"),
        s("{\"a\": [1, 2]}"),
        Field::BooleanValue(true),
        Field::BooleanValue(true),
        Field::IsNull(true),
    ];
    assert_eq!(out.records(), &[expected]);
    assert_eq!(out.number_of_records_updated(), 0);
    let meta = out.column_metadata();
    let type_of = |name: &str| {
        let m = meta.iter().find(|m| m.name() == Some(name)).expect("column present");
        (m.type_name().unwrap_or_default().to_string(), m.r#type())
    };
    assert_eq!(type_of("u_big"), ("BIGINT UNSIGNED".into(), -5));
    assert_eq!(type_of("d"), ("DECIMAL".into(), 3));
    assert_eq!(type_of("vc"), ("VARCHAR".into(), 12));
    assert_eq!(type_of("dtm"), ("DATETIME".into(), 93));
    assert_eq!(meta[0].table_name(), Some("every_type"));

    // resultSetOptions and formatRecordsAs JSON.
    let out = env
        .exec("SELECT d, i_big, CAST(12 AS DECIMAL(5,0)) AS whole FROM every_type")
        .result_set_options(
            ResultSetOptions::builder()
                .decimal_return_type(DecimalReturnType::DoubleOrLong)
                .long_return_type(LongReturnType::String)
                .build(),
        )
        .send()
        .await
        .expect("selects");
    assert_eq!(
        out.records(),
        &[vec![Field::DoubleValue(-12.345), s("-9223372036854775808"), Field::LongValue(12)]]
    );
    let out = env
        .exec("SELECT i_int, vc, n, b1 FROM every_type")
        .format_records_as(RecordsFormatType::Json)
        .include_result_metadata(true)
        .send()
        .await
        .expect("selects");
    let json: serde_json::Value =
        serde_json::from_str(out.formatted_records().expect("formatted")).expect("JSON");
    assert_eq!(json, serde_json::json!([{"i_int": -2147483648, "vc": "héllo", "n": null, "b1": true}]));
    assert!(out.records().is_empty() && out.column_metadata().is_empty());
}

#[tokio::test]
async fn parameters_with_each_type_hint_reach_the_database_typed() {
    let env = start(Options::default());
    env.setup(&[
        "CREATE TABLE typed (dt DATE, tm TIME(3), ts DATETIME(3), d DECIMAL(12,4), j JSON, u CHAR(36), \
         s VARCHAR(50), l BIGINT, f DOUBLE, b TINYINT(1), bl BLOB, n INT)",
    ])
    .await;
    let out = env
        .exec("INSERT INTO typed VALUES (:dt, :tm, :ts, :d, :j, :u, :s, :l, :f, :b, :bl, :n)")
        .parameters(hinted("dt", "2024-01-31", TypeHint::Date))
        .parameters(hinted("tm", "23:59:58.125", TypeHint::Time))
        .parameters(hinted("ts", "2024-01-31 23:59:58.125", TypeHint::Timestamp))
        .parameters(hinted("d", "12345678.1234", TypeHint::Decimal))
        .parameters(hinted("j", "{\"k\": \"v\"}", TypeHint::Json))
        .parameters(hinted("u", "6f9619ff-8b86-d011-b42d-00c04fc964ff", TypeHint::Uuid))
        .parameters(param("s", Field::StringValue("it's a \\ test".into())))
        .parameters(param("l", Field::LongValue(i64::MAX)))
        .parameters(param("f", Field::DoubleValue(-0.5)))
        .parameters(param("b", Field::BooleanValue(true)))
        .parameters(param("bl", Field::BlobValue(Blob::new(vec![0, 39, 92, 255]))))
        .parameters(param("n", Field::IsNull(true)))
        .send()
        .await
        .expect("inserts");
    assert_eq!(out.number_of_records_updated(), 1);
    let out = env.exec("SELECT * FROM typed").send().await.expect("selects");
    let s = |v: &str| Field::StringValue(v.into());
    assert_eq!(
        out.records(),
        &[vec![
            s("2024-01-31"),
            s("23:59:58.125"),
            s("2024-01-31 23:59:58.125"),
            s("12345678.1234"),
            s("{\"k\": \"v\"}"),
            s("6f9619ff-8b86-d011-b42d-00c04fc964ff"),
            s("it's a \\ test"),
            Field::LongValue(i64::MAX),
            Field::DoubleValue(-0.5),
            Field::BooleanValue(true),
            Field::BlobValue(Blob::new(vec![0, 39, 92, 255])),
            Field::IsNull(true),
        ]]
    );
    // A typed literal is typed in SQL too.
    let out = env
        .exec("SELECT :d + 1 AS next_day")
        .parameters(hinted("d", "2024-02-28", TypeHint::Date))
        .send()
        .await
        .expect("selects");
    assert_eq!(out.records()[0][0], Field::LongValue(20240229));
    let err = env
        .exec("SELECT :d")
        .parameters(hinted("d", "28/02/2024", TypeHint::Date))
        .send()
        .await
        .expect_err("a malformed DATE is refused");
    assert!(err.into_service_error().is_bad_request_exception());
}

#[tokio::test]
async fn inserts_return_generated_fields_and_batches_return_update_results() {
    let env = start(Options::default());
    env.setup(&["CREATE TABLE items (id BIGINT AUTO_INCREMENT PRIMARY KEY, name VARCHAR(20))"]).await;
    let out = env
        .exec("INSERT INTO items (name) VALUES (:n)")
        .parameters(param("n", Field::StringValue("first".into())))
        .send()
        .await
        .expect("inserts");
    assert_eq!(out.generated_fields(), &[Field::LongValue(1)]);
    assert_eq!(out.number_of_records_updated(), 1);
    let out = env.exec("UPDATE items SET name = 'x'").send().await.expect("updates");
    assert!(out.generated_fields().is_empty());
    assert_eq!(out.number_of_records_updated(), 1);

    let out = env
        .client
        .batch_execute_statement()
        .resource_arn(&env.emu.cluster_arn)
        .secret_arn(&env.emu.secret_arn)
        .database("app")
        .sql("INSERT INTO items (name) VALUES (:n)")
        .parameter_sets(vec![param("n", Field::StringValue("a".into()))])
        .parameter_sets(vec![param("n", Field::StringValue("b".into()))])
        .send()
        .await
        .expect("batch inserts");
    let ids: Vec<&[Field]> = out.update_results().iter().map(|r| r.generated_fields()).collect();
    assert_eq!(ids, vec![&[Field::LongValue(2)][..], &[Field::LongValue(3)][..]]);
}

#[tokio::test]
async fn commit_and_rollback_are_seen_from_a_second_connection() {
    let env = start(Options::default());
    env.setup(&["CREATE TABLE t (v INT) ENGINE=InnoDB"]).await;
    let mut direct = env.direct().await;

    let tx = env.begin().await;
    env.exec("INSERT INTO t VALUES (1)").transaction_id(&tx).send().await.expect("inserts in tx");
    assert_eq!(count(&mut direct, "SELECT COUNT(*) FROM t").await, 0, "uncommitted rows are invisible");
    // Inside the transaction, its own row is visible.
    let out = env.exec("SELECT COUNT(*) FROM t").transaction_id(&tx).send().await.expect("selects");
    assert_eq!(out.records()[0][0], Field::LongValue(1));
    let status = env.commit(&tx).await;
    assert_eq!(status.transaction_status(), Some("Transaction Committed"));
    assert_eq!(count(&mut direct, "SELECT COUNT(*) FROM t").await, 1);

    let tx = env.begin().await;
    env.exec("INSERT INTO t VALUES (2)").transaction_id(&tx).send().await.expect("inserts in tx");
    let status = env
        .client
        .rollback_transaction()
        .resource_arn(&env.emu.cluster_arn)
        .secret_arn(&env.emu.secret_arn)
        .transaction_id(&tx)
        .send()
        .await
        .expect("rolls back");
    assert_eq!(status.transaction_status(), Some("Rollback Complete"));
    assert_eq!(count(&mut direct, "SELECT COUNT(*) FROM t").await, 1);

    // Outside a transaction every call autocommits.
    env.exec("INSERT INTO t VALUES (3)").send().await.expect("autocommits");
    assert_eq!(count(&mut direct, "SELECT COUNT(*) FROM t").await, 2);

    // A finished transaction is gone.
    let err = env.exec("SELECT 1").transaction_id(&tx).send().await.expect_err("ended");
    assert!(err.into_service_error().is_transaction_not_found_exception());
}

#[tokio::test]
async fn an_idle_transaction_expires_and_is_rolled_back() {
    let env = start(Options::with_timeouts(
        Duration::from_secs(5),
        Duration::from_secs(1),
        Duration::from_secs(3600),
    ));
    env.setup(&["CREATE TABLE t (v INT) ENGINE=InnoDB"]).await;
    let tx = env.begin().await;
    env.exec("INSERT INTO t VALUES (1)").transaction_id(&tx).send().await.expect("inserts");
    // Calls keep it alive.
    tokio::time::sleep(Duration::from_millis(600)).await;
    env.exec("SELECT 1").transaction_id(&tx).send().await.expect("still open after 0.6 s");
    tokio::time::sleep(Duration::from_millis(2000)).await;
    let err = env
        .client
        .commit_transaction()
        .resource_arn(&env.emu.cluster_arn)
        .secret_arn(&env.emu.secret_arn)
        .transaction_id(&tx)
        .send()
        .await
        .expect_err("expired");
    let err = err.into_service_error();
    assert!(err.is_transaction_not_found_exception(), "{err:?}");
    let mut direct = env.direct().await;
    assert_eq!(count(&mut direct, "SELECT COUNT(*) FROM t").await, 0, "rolled back");
}

#[tokio::test]
async fn a_transaction_ends_at_its_maximum_age_even_when_busy() {
    let env = start(Options::with_timeouts(
        Duration::from_secs(10),
        Duration::from_secs(60),
        Duration::from_secs(1),
    ));
    env.setup(&[]).await;
    let tx = env.begin().await;
    let started = Instant::now();
    let err = env.exec("SELECT SLEEP(5)").transaction_id(&tx).send().await;
    // The connection is killed: the call fails or returns early, and the transaction is gone.
    assert!(started.elapsed() < Duration::from_secs(4), "killed at the maximum age");
    drop(err);
    let err = env.exec("SELECT 1").transaction_id(&tx).send().await.expect_err("gone");
    assert!(err.into_service_error().is_transaction_not_found_exception());
}

#[tokio::test]
async fn a_call_times_out_and_continue_after_timeout_keeps_the_statement_running() {
    let env = start(Options::with_timeouts(
        Duration::from_secs(1),
        Duration::from_secs(60),
        Duration::from_secs(3600),
    ));
    env.setup(&["CREATE TABLE t (v INT)"]).await;
    let mut direct = env.direct().await;

    // Without continueAfterTimeout the statement is stopped.
    let started = Instant::now();
    let err = env.exec("INSERT INTO t SELECT SLEEP(3)").send().await.expect_err("times out");
    assert!(started.elapsed() < Duration::from_millis(2500));
    let err = err.into_service_error();
    let aws_sdk_rdsdata::operation::execute_statement::ExecuteStatementError::StatementTimeoutException(t) =
        err
    else {
        panic!("expected StatementTimeoutException, got {err:?}");
    };
    assert!(t.db_connection_id() > 0);
    tokio::time::sleep(Duration::from_millis(2500)).await;
    assert_eq!(count(&mut direct, "SELECT COUNT(*) FROM t").await, 0, "the statement was killed");

    // With it, the statement finishes on the server, and other calls are not blocked meanwhile.
    let err = env
        .exec("INSERT INTO t SELECT SLEEP(2)")
        .continue_after_timeout(true)
        .send()
        .await
        .expect_err("times out");
    let aws_sdk_rdsdata::operation::execute_statement::ExecuteStatementError::StatementTimeoutException(t) =
        err.into_service_error()
    else {
        panic!("expected StatementTimeoutException");
    };
    let id = t.db_connection_id();
    let running = env
        .exec("SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = :id AND INFO IS NOT NULL")
        .parameters(param("id", Field::LongValue(id)))
        .send()
        .await
        .expect("polls while the statement runs");
    assert_eq!(running.records()[0][0], Field::LongValue(1), "still running on connection {id}");
    tokio::time::sleep(Duration::from_millis(1800)).await;
    assert_eq!(count(&mut direct, "SELECT COUNT(*) FROM t").await, 1, "the statement completed");
}

#[tokio::test]
async fn every_error_has_its_modeled_name_and_status() {
    let env = start(Options::default());
    env.setup(&["CREATE TABLE t (v INT PRIMARY KEY)"]).await;

    let err = env.exec("SELECT * FROM missing").send().await.expect_err("fails");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(400));
    let e = err.into_service_error();
    assert!(e.is_database_error_exception(), "{e:?}");
    assert!(e.message().unwrap_or_default().contains("Database error code: 1146"), "{e:?}");

    for sql in ["SELECT 1; SELECT 2", "INSERT INTO t VALUES (1);DELETE FROM t"] {
        let err = env.exec(sql).send().await.expect_err("multi-statement refused");
        assert_eq!(err.code(), Some("ValidationException"), "{sql}");
        assert_eq!(err.message(), Some("Multistatements aren't supported."));
    }
    let mut direct = env.direct().await;
    assert_eq!(count(&mut direct, "SELECT COUNT(*) FROM t").await, 0, "nothing of it ran");
    // A trailing semicolon and compound statements are single statements.
    env.exec("SELECT 1;").send().await.expect("trailing ; is fine");
    env.exec("CREATE PROCEDURE add_two(IN x INT) BEGIN INSERT INTO t VALUES (x); INSERT INTO t VALUES (x + 1); END")
        .send()
        .await
        .expect("a routine body with ; is one statement");
    env.exec("CREATE TRIGGER t_bi BEFORE INSERT ON t FOR EACH ROW BEGIN IF NEW.v < 0 THEN SET NEW.v = 0; END IF; END")
        .send()
        .await
        .expect("a trigger body with ; is one statement");
    env.exec("CALL add_two(10)").send().await.expect("calls");
    assert_eq!(count(&mut direct, "SELECT COUNT(*) FROM t").await, 2);

    let err = env.exec("SELECT 1").schema("app").send().await.expect_err("schema refused");
    assert_eq!(err.code(), Some("ValidationException"));

    let long = format!("SELECT '{}'", "x".repeat(65_536));
    let err = env.exec(&long).send().await.expect_err("too long");
    assert_eq!(err.code(), Some("ValidationException"));
    env.exec(&format!("SELECT '{}'", "x".repeat(65_536 - 9)))
        .send()
        .await
        .expect("65,536 characters are fine");

    let err =
        env.exec("SELECT 1").resource_arn("arn:aws:rds:us-east-1:123456789012:cluster:nope").send().await;
    assert!(err.expect_err("unknown cluster").into_service_error().is_bad_request_exception());
    let err =
        env.exec("SELECT 1").secret_arn("arn:aws:secretsmanager:us-east-1:1:secret:nope-AbCdEf").send().await;
    assert!(err.expect_err("unknown secret").into_service_error().is_secrets_error_exception());
    // A secret is also found by name.
    env.exec("SELECT 1").secret_arn("emulator-secret").send().await.expect("secret by name");

    let err = env.exec("SELECT 1").transaction_id("bm9wZQ==").send().await.expect_err("unknown tx");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(404));
    assert!(err.into_service_error().is_transaction_not_found_exception());

    // A second call while the transaction runs a query.
    let tx = env.begin().await;
    let slow = env.exec("SELECT SLEEP(1.5)").transaction_id(&tx).send();
    let second = async {
        tokio::time::sleep(Duration::from_millis(300)).await;
        env.exec("SELECT 1").transaction_id(&tx).send().await
    };
    let (slow, second) = tokio::join!(slow, second);
    slow.expect("the first call completes");
    let e = second.expect_err("busy").into_service_error();
    assert!(e.is_database_error_exception());
    assert_eq!(e.message(), Some("Transaction is still running a query"));
}

#[tokio::test]
async fn v1_mode_reports_sql_errors_as_bad_request() {
    let env = start(Options { errors: ErrorFlavor::V1, ..Options::default() });
    env.setup(&[]).await;
    let err = env.exec("SELECT * FROM nowhere.missing").send().await.expect_err("fails");
    let e = err.into_service_error();
    assert!(e.is_bad_request_exception(), "{e:?}");
    assert!(e.message().unwrap_or_default().starts_with("Database error code: 1146. Message: "), "{e:?}");
}

#[tokio::test]
async fn injected_faults_and_call_counters() {
    let env = start(Options::default());
    env.setup(&["CREATE TABLE t (v INT)"]).await;
    env.emu.reset_counters().expect("resets");
    let rule = |fault, count| FaultRule { fault, count, delay_ms: 0, operations: None };

    env.emu.inject(&rule(FaultKind::Resuming, 2)).expect("injects");
    for _ in 0..2 {
        let e = env.exec("SELECT 1").send().await.expect_err("resuming").into_service_error();
        assert!(e.is_database_resuming_exception(), "{e:?}");
    }
    env.exec("SELECT 1").send().await.expect("back to normal");

    env.emu.inject(&rule(FaultKind::Unavailable, 1)).expect("injects");
    let err = env.exec("SELECT 1").send().await.expect_err("503");
    assert_eq!(err.raw_response().map(|r| r.status().as_u16()), Some(503));
    assert!(err.into_service_error().is_service_unavailable_error());

    let mut direct = env.direct().await;
    env.emu.inject(&rule(FaultKind::DropBefore, 1)).expect("injects");
    env.exec("INSERT INTO t VALUES (1)").send().await.expect_err("dropped before running");
    assert_eq!(count(&mut direct, "SELECT COUNT(*) FROM t").await, 0);
    env.emu.inject(&rule(FaultKind::DropAfter, 1)).expect("injects");
    env.exec("INSERT INTO t VALUES (2)").send().await.expect_err("dropped after running");
    assert_eq!(count(&mut direct, "SELECT COUNT(*) FROM t").await, 1, "the statement ran");

    env.emu
        .inject(&FaultRule {
            fault: FaultKind::Delay,
            count: 1,
            delay_ms: 700,
            operations: Some(vec!["BeginTransaction".into()]),
        })
        .expect("injects");
    let started = Instant::now();
    env.exec("SELECT 1").send().await.expect("not delayed");
    assert!(started.elapsed() < Duration::from_millis(500));
    let tx = env.begin().await;
    assert!(started.elapsed() >= Duration::from_millis(700), "BeginTransaction was delayed");
    env.rollback(&tx).await;

    let counters = env.emu.counters().expect("reads counters");
    assert_eq!(counters["ExecuteStatement"], 2 + 1 + 1 + 2 + 1);
    assert_eq!(counters["BeginTransaction"], 1);
    assert_eq!(counters["RollbackTransaction"], 1);
    assert_eq!(env.emu.calls(Operation::CommitTransaction).expect("reads"), 0);
    env.emu.reset_counters().expect("resets");
    assert_eq!(env.emu.calls(Operation::ExecuteStatement).expect("reads"), 0);
}
