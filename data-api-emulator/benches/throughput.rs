//! Requests per second through the emulator vs. the same statements sent directly over the MySQL
//! protocol, for `SELECT 1` and single-row INSERTs, with 1 and 16 concurrent clients on loopback.
//!
//! `cargo bench -p data-api-emulator` runs it (about 40 s, against its own throwaway MariaDB).
//! Under `cargo test --all-targets` the binary is started without `--bench` and exits at once.
//! The emulator side uses a minimal keep-alive HTTP/1.1 client (hyper) rather than an AWS SDK, so
//! the figure is the emulator's own cost, not a client's signing and parsing.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use bytes::Bytes;
use data_api_emulator::testing::{MariaDb, Options, TestEmulator};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use mysql_async::prelude::Queryable;

const RUN: Duration = Duration::from_secs(4);
const WARMUP: Duration = Duration::from_millis(500);

#[derive(Clone, Copy)]
enum Op {
    Select1,
    Insert,
}

impl Op {
    fn sql(self) -> &'static str {
        match self {
            Op::Select1 => "SELECT 1",
            Op::Insert => "INSERT INTO bench.t (v) VALUES (1)",
        }
    }
    fn label(self) -> &'static str {
        match self {
            Op::Select1 => "SELECT 1",
            Op::Insert => "INSERT (1 row)",
        }
    }
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("throughput: run with `cargo bench -p data-api-emulator`");
        return;
    }
    let db = MariaDb::start().expect("a throwaway MariaDB starts");
    let emu = TestEmulator::start(&db, Options::default()).expect("the emulator starts");
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("runtime");
    runtime.block_on(async {
        let mut setup = mysql_async::Conn::from_url(db.url()).await.expect("connects");
        setup
            .query_drop("CREATE DATABASE bench")
            .await
            .expect("creates the database");
        setup
            .query_drop("CREATE TABLE bench.t (id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT) ENGINE=InnoDB")
            .await
            .expect("creates the table");
        println!(
            "{:<16} {:>7} {:>12} {:>14} {:>22}",
            "operation", "clients", "direct rps", "emulator rps", "cost ratio (emu/direct)"
        );
        for op in [Op::Select1, Op::Insert] {
            for clients in [1usize, 16] {
                let direct = measure(clients, |stop, done| direct_client(db.url().to_string(), op, stop, done)).await;
                let emulated = measure(clients, |stop, done| {
                    emulator_client(emu.endpoint.clone(), emu.cluster_arn.clone(), emu.secret_arn.clone(), op, stop, done)
                })
                .await;
                println!(
                    "{:<16} {:>7} {:>12.0} {:>14.0} {:>22.2}",
                    op.label(),
                    clients,
                    direct,
                    emulated,
                    direct / emulated
                );
            }
        }
    });
}

/// Runs `clients` loops for WARMUP + RUN and returns completed requests per second during RUN.
async fn measure<F, Fut>(clients: usize, spawn: F) -> f64
where
    F: Fn(Arc<AtomicBool>, Arc<AtomicU64>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..clients).map(|_| tokio::spawn(spawn(Arc::clone(&stop), Arc::clone(&done)))).collect();
    tokio::time::sleep(WARMUP).await;
    let start_count = done.load(Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(RUN).await;
    let count = done.load(Ordering::Relaxed) - start_count;
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        let _ = t.await;
    }
    count as f64 / elapsed.as_secs_f64()
}

async fn direct_client(url: String, op: Op, stop: Arc<AtomicBool>, done: Arc<AtomicU64>) {
    let mut conn = mysql_async::Conn::from_url(url).await.expect("connects");
    while !stop.load(Ordering::Relaxed) {
        match op {
            Op::Select1 => {
                let _: Option<i64> = conn.query_first(op.sql()).await.expect("selects");
            }
            Op::Insert => conn.query_drop(op.sql()).await.expect("inserts"),
        }
        done.fetch_add(1, Ordering::Relaxed);
    }
}

async fn emulator_client(
    endpoint: String,
    cluster: String,
    secret: String,
    op: Op,
    stop: Arc<AtomicBool>,
    done: Arc<AtomicU64>,
) {
    let authority = endpoint.trim_start_matches("http://").to_string();
    let stream = tokio::net::TcpStream::connect(&authority).await.expect("connects");
    stream.set_nodelay(true).expect("nodelay");
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("handshake");
    tokio::spawn(conn);
    let body = serde_json::json!({"resourceArn": cluster, "secretArn": secret, "sql": op.sql()}).to_string();
    while !stop.load(Ordering::Relaxed) {
        let request = hyper::Request::post("/Execute")
            .header("host", &authority)
            .header("content-type", "application/json")
            .body(Full::new(Bytes::from(body.clone())))
            .expect("request");
        let response = sender.send_request(request).await.expect("answers");
        let status = response.status();
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        assert!(status.is_success(), "{status}: {}", String::from_utf8_lossy(&bytes));
        done.fetch_add(1, Ordering::Relaxed);
    }
}
