//! The emulator's bound on MySQL connections, through the official Rust client: calls on many
//! databases share a few connections (switched with `USE`), a transaction keeps its connection
//! while the others go on through the rest, and a call waits for a connection rather than failing.

use std::sync::Arc;

use data_api_emulator::testing::Options;

mod common;

use common::Env;

/// Databases `d00`..`d{n-1}`, each with table `t`.
fn databases(env: &Env, n: usize) -> Vec<String> {
    let names: Vec<String> = (0..n).map(|i| format!("d{i:02}")).collect();
    let sql: String =
        names.iter().map(|d| format!("CREATE DATABASE {d}; CREATE TABLE {d}.t (v INT);")).collect();
    env.db.sql(&sql).expect("setup");
    names
}

/// The most connections the server has had at once (the setup client's included).
fn most_connections(env: &Env) -> u64 {
    let out = env.db.sql("SHOW GLOBAL STATUS LIKE 'Max_used_connections'").expect("status");
    out.split_whitespace().last().and_then(|n| n.parse().ok()).expect("a number")
}

async fn insert(env: &Env, database: &str, value: i64) {
    env.exec(&format!("INSERT INTO t VALUES ({value})"))
        .database(database)
        .send()
        .await
        .unwrap_or_else(|e| panic!("{database}: {e:?}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn calls_on_many_databases_share_the_bounded_connections_and_land_in_their_own_database() {
    let env = Arc::new(common::start(Options { max_connections: Some(3), ..Options::default() }));
    let names = databases(&env, 20);
    let mut calls = tokio::task::JoinSet::new();
    for round in 0..3 {
        for (i, d) in names.iter().enumerate() {
            let (env, d) = (env.clone(), d.clone());
            calls.spawn(async move { insert(&env, &d, (round * 100 + i) as i64).await });
        }
    }
    while let Some(done) = calls.join_next().await {
        done.expect("call task");
    }
    for (i, d) in names.iter().enumerate() {
        let values = env.db.sql(&format!("SELECT GROUP_CONCAT(v ORDER BY v) FROM {d}.t")).expect("reads");
        assert_eq!(values, format!("{i},{},{}", 100 + i, 200 + i), "{d}");
    }
    // Three of the emulator's, one of the setup client's (its calls run one at a time).
    let most = most_connections(&env);
    assert!(most <= 4, "the server had {most} connections at once");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_transaction_keeps_its_connection_while_other_databases_share_the_rest() {
    let env = common::start(Options { max_connections: Some(2), ..Options::default() });
    env.db.sql("CREATE DATABASE app; CREATE TABLE app.t (v INT)").expect("setup");
    let names = databases(&env, 5);
    let tx = env.begin().await;
    let id = |rows: Option<Vec<Vec<aws_sdk_rdsdata::types::Field>>>| match rows.as_deref() {
        Some([row]) => row[0].as_long_value().copied().expect("a number"),
        other => panic!("{other:?}"),
    };
    let pinned =
        id(env.exec("SELECT CONNECTION_ID()").transaction_id(&tx).send().await.expect("runs").records);
    env.exec("INSERT INTO t VALUES (1)").transaction_id(&tx).send().await.expect("inserts");
    for (i, d) in names.iter().enumerate() {
        insert(&env, d, i as i64).await;
        let other = id(env.exec("SELECT CONNECTION_ID()").database(d).send().await.expect("runs").records);
        assert_ne!(other, pinned, "{d} ran on the transaction's connection");
    }
    let again =
        id(env.exec("SELECT CONNECTION_ID()").transaction_id(&tx).send().await.expect("runs").records);
    assert_eq!(again, pinned, "the transaction moved to another connection");
    assert_eq!(env.db.sql("SELECT COUNT(*) FROM app.t").expect("reads"), "0", "not committed yet");
    env.commit(&tx).await;
    assert_eq!(env.db.sql("SELECT COUNT(*) FROM app.t").expect("reads"), "1");
    for (i, d) in names.iter().enumerate() {
        assert_eq!(env.db.sql(&format!("SELECT v FROM {d}.t")).expect("reads"), i.to_string());
    }
    assert!(most_connections(&env) <= 3);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_call_waits_for_a_connection_while_every_one_is_pinned() {
    let env = Arc::new(common::start(Options { max_connections: Some(1), ..Options::default() }));
    env.db.sql("CREATE DATABASE app; CREATE TABLE app.t (v INT)").expect("setup");
    let tx = env.begin().await;
    env.exec("INSERT INTO t VALUES (1)").transaction_id(&tx).send().await.expect("inserts");
    let waiting = {
        let env = env.clone();
        tokio::spawn(async move { env.exec("SELECT COUNT(*) FROM t").send().await })
    };
    // The only connection is the transaction's: the call can be answered only after the commit,
    // so it sees the committed row.
    tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    assert!(!waiting.is_finished(), "answered while the only connection was pinned");
    env.commit(&tx).await;
    let out = waiting.await.expect("task").expect("answered once the connection was free");
    let count = out.records.as_deref().and_then(|r| r[0][0].as_long_value().ok().copied());
    assert_eq!(count, Some(1));
}

/// A restarted server breaks every idle connection at once. The call that meets the first broken
/// one fails ("Communications link failure", as the Data API answers while its cluster restarts),
/// and the pool then drops the other idle connections with it, so the next call gets a new
/// connection instead of the next dead one: a retrying client is not failed once per idle
/// connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_server_restart_one_call_fails_and_the_next_gets_a_new_connection() {
    let mut env = common::start(Options::default());
    let names = databases(&env, 6);
    // One call per database leaves six idle connections, one on each (there is room for new ones).
    for (i, d) in names.iter().enumerate() {
        insert(&env, d, i as i64).await;
    }
    env.db.restart().expect("the server restarts");
    wait_until_up(&env).await;
    let mut failures = 0;
    for (i, d) in names.iter().enumerate() {
        match env.exec(&format!("INSERT INTO t VALUES ({})", 10 + i)).database(d).send().await {
            Ok(_) => {}
            Err(e) => {
                failures += 1;
                let text = format!("{:?}", e.into_service_error());
                assert!(text.contains("Communications link failure"), "{text}");
            }
        }
    }
    assert!(failures <= 1, "{failures} of 6 calls met a dead connection after the restart");
}

/// Until the restarted server answers the setup client.
async fn wait_until_up(env: &common::Env) {
    for _ in 0..100 {
        if env.db.sql("SELECT 1").is_ok() {
            return;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    panic!("the server did not come back");
}
