//! Requests per second through the emulator vs. the same statements sent directly over the MySQL
//! protocol, for `SELECT 1` and single-row INSERTs, with 1 and 16 concurrent clients on loopback.
//!
//! `cargo bench -p data-api-emulator` runs it (about two minutes, against its own throwaway
//! MariaDB). Under `cargo test --all-targets` the binary is started without `--bench` and exits at
//! once.
//!
//! Three clients are measured for each operation and client count:
//!
//! - `direct`: `mysql_async` over the MySQL protocol, one connection per client (the baseline);
//! - `sdk`: the official `aws-sdk-rdsdata` client through the emulator (the headline figure: what a
//!   user of the emulator pays per statement, SigV4 signing and response parsing included);
//! - `raw`: a minimal keep-alive HTTP/1.1 client (hyper) sending a pre-serialized request through
//!   the emulator, so the reader can see how much of the SDK figure is the emulator itself.
//!
//! Every number is the median of `BENCH_ROUNDS` rounds (default 5) of `BENCH_SECONDS` seconds
//! (default 1.5) each, after a warm-up; within a round the three clients run one after another in
//! a rotating order, so slow drifts (the table growing, the page cache, another process) hit all
//! three alike. The bench sets `innodb_flush_log_at_trx_commit = 2` for its run (restored at the
//! end): a commit then costs a write, not an fsync, for the direct and the emulated INSERT alike,
//! so the INSERT figures measure the statement path rather than the disk's fsync latency
//! (`BENCH_FLUSH_AT_COMMIT=1` measures with an fsync per commit instead).
//! `BENCH_FILTER=sdk,select,c1` (words: `direct`, `sdk`, `raw`, `select`, `insert`, `c1`, `c16`) runs
//! only the cases matching every word, for profiling one path.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use aws_sdk_rdsdata::config::{BehaviorVersion, Credentials, Region};
use bytes::Bytes;
use data_api_emulator::testing::{MariaDb, Options, TestEmulator};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use mysql_async::prelude::Queryable;

/// Warm-up before the first round of each case (connections opened, caches filled).
const WARMUP: Duration = Duration::from_millis(500);
/// Ramp-up at the start of every measured run that is not counted.
const SETTLE: Duration = Duration::from_millis(100);

#[derive(Clone, Copy, PartialEq)]
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

#[derive(Clone, Copy, PartialEq)]
enum Path {
    Direct,
    Sdk,
    Raw,
}

impl Path {
    const ALL: [Path; 3] = [Path::Direct, Path::Sdk, Path::Raw];
    fn label(self) -> &'static str {
        match self {
            Path::Direct => "direct",
            Path::Sdk => "sdk",
            Path::Raw => "raw",
        }
    }
}

struct Settings {
    rounds: usize,
    run: Duration,
    filter: Vec<String>,
    flush_at_commit: u8,
}

impl Settings {
    fn from_env() -> Settings {
        let rounds = std::env::var("BENCH_ROUNDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5usize).max(1);
        let seconds = std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(1.5f64);
        let filter = std::env::var("BENCH_FILTER")
            .map(|f| f.split(',').map(|s| s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty()).collect())
            .unwrap_or_default();
        let flush_at_commit =
            std::env::var("BENCH_FLUSH_AT_COMMIT").ok().and_then(|s| s.parse().ok()).unwrap_or(2u8);
        Settings { rounds, run: Duration::from_secs_f64(seconds.max(0.1)), filter, flush_at_commit }
    }

    /// With a filter, every listed word must name the case: its client (`direct`, `sdk`, `raw`),
    /// its operation (`select`, `insert`) or its client count (`c1`, `c16`).
    fn wants(&self, op: Op, clients: usize, path: Path) -> bool {
        let op_word = match op {
            Op::Select1 => "select",
            Op::Insert => "insert",
        };
        let words = [path.label().to_string(), op_word.to_string(), format!("c{clients}")];
        self.filter.iter().all(|f| words.iter().any(|w| w == f))
    }
}

/// Everything a client loop needs.
#[derive(Clone)]
struct Ctx {
    db_url: String,
    endpoint: String,
    cluster: String,
    secret: String,
    sdk: aws_sdk_rdsdata::Client,
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        println!("throughput: run with `cargo bench -p data-api-emulator`");
        return;
    }
    let settings = Settings::from_env();
    let db = MariaDb::start().expect("a throwaway MariaDB starts");
    let emu = TestEmulator::start(&db, Options::default()).expect("the emulator starts");
    // Named apart from the emulator's threads (`data-api-emulator`), for `perf report --sort comm`.
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .thread_name("bench-client")
        .enable_all()
        .build()
        .expect("runtime");
    runtime.block_on(async {
        let mut setup = mysql_async::Conn::from_url(db.url()).await.expect("connects");
        setup.query_drop("DROP DATABASE IF EXISTS bench").await.expect("drops the old database");
        setup.query_drop("CREATE DATABASE bench").await.expect("creates the database");
        setup
            .query_drop("CREATE TABLE bench.t (id BIGINT AUTO_INCREMENT PRIMARY KEY, v INT) ENGINE=InnoDB")
            .await
            .expect("creates the table");
        let flush: Option<String> = setup
            .query_first("SELECT @@GLOBAL.innodb_flush_log_at_trx_commit")
            .await
            .expect("reads innodb_flush_log_at_trx_commit");
        setup
            .query_drop(format!("SET GLOBAL innodb_flush_log_at_trx_commit = {}", settings.flush_at_commit))
            .await
            .expect("sets innodb_flush_log_at_trx_commit (needs SUPER on an external server)");

        let config = aws_sdk_rdsdata::Config::builder()
            .behavior_version(BehaviorVersion::latest())
            .region(Region::new("us-east-1"))
            .credentials_provider(Credentials::new("bench", "bench", None, None, "static"))
            .endpoint_url(&emu.endpoint)
            .build();
        let ctx = Ctx {
            db_url: db.url().to_string(),
            endpoint: emu.endpoint.clone(),
            cluster: emu.cluster_arn.clone(),
            secret: emu.secret_arn.clone(),
            sdk: aws_sdk_rdsdata::Client::from_conf(config),
        };

        println!(
            "median of {} rounds x {:.1} s; innodb_flush_log_at_trx_commit = {} for direct and emulator alike",
            settings.rounds,
            settings.run.as_secs_f64(),
            settings.flush_at_commit
        );
        println!(
            "{:<15} {:>7} {:>10} {:>10} {:>10} {:>9} {:>9} {:>9} {:>10} {:>10}",
            "operation", "clients", "direct rps", "sdk rps", "raw rps", "direct us", "sdk us", "raw us", "ratio sdk", "ratio raw"
        );
        for op in [Op::Select1, Op::Insert] {
            for clients in [1usize, 16] {
                let paths: Vec<Path> = Path::ALL.into_iter().filter(|p| settings.wants(op, clients, *p)).collect();
                if paths.is_empty() {
                    continue;
                }
                let mut samples: Vec<Vec<f64>> = vec![Vec::new(); Path::ALL.len()];
                for &p in &paths {
                    run(&ctx, op, clients, p, WARMUP).await;
                }
                for round in 0..settings.rounds {
                    for k in 0..paths.len() {
                        let p = paths[(round + k) % paths.len()];
                        let rps = run(&ctx, op, clients, p, settings.run).await;
                        samples[p as usize].push(rps);
                    }
                }
                let rps: Vec<Option<f64>> = samples.iter().map(|s| median(s)).collect();
                let per_call = |r: Option<f64>| r.map(|r| clients as f64 * 1e6 / r);
                let ratio = |r: Option<f64>| match (rps[Path::Direct as usize], r) {
                    (Some(d), Some(r)) => Some(d / r),
                    _ => None,
                };
                println!(
                    "{:<15} {:>7} {:>10} {:>10} {:>10} {:>9} {:>9} {:>9} {:>10} {:>10}",
                    op.label(),
                    clients,
                    show(rps[0], 0),
                    show(rps[1], 0),
                    show(rps[2], 0),
                    show(per_call(rps[0]), 1),
                    show(per_call(rps[1]), 1),
                    show(per_call(rps[2]), 1),
                    show(ratio(rps[1]), 2),
                    show(ratio(rps[2]), 2),
                );
                if std::env::var_os("BENCH_VERBOSE").is_some() {
                    for p in &paths {
                        let s: Vec<String> = samples[*p as usize].iter().map(|r| format!("{r:.0}")).collect();
                        println!("    {:<7} rounds: {}", p.label(), s.join(" "));
                    }
                }
            }
        }
        println!("us = microseconds of wall time per statement per client; ratio = direct rps / emulator rps");
        if let Some(previous) = flush {
            let _ = setup.query_drop(format!("SET GLOBAL innodb_flush_log_at_trx_commit = {previous}")).await;
        }
    });
}

fn median(samples: &[f64]) -> Option<f64> {
    if samples.is_empty() {
        return None;
    }
    let mut s = samples.to_vec();
    s.sort_by(f64::total_cmp);
    let n = s.len();
    Some(if n % 2 == 1 { s[n / 2] } else { (s[n / 2 - 1] + s[n / 2]) / 2.0 })
}

fn show(value: Option<f64>, decimals: usize) -> String {
    value.map_or_else(|| "-".to_string(), |v| format!("{v:.decimals$}"))
}

/// Runs `clients` loops of `path` for SETTLE + `length` and returns completed requests per second
/// after SETTLE.
async fn run(ctx: &Ctx, op: Op, clients: usize, path: Path, length: Duration) -> f64 {
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicU64::new(0));
    let tasks: Vec<_> = (0..clients)
        .map(|_| {
            let (ctx, stop, done) = (ctx.clone(), Arc::clone(&stop), Arc::clone(&done));
            tokio::spawn(async move {
                match path {
                    Path::Direct => direct_client(ctx, op, stop, done).await,
                    Path::Sdk => sdk_client(ctx, op, stop, done).await,
                    Path::Raw => raw_client(ctx, op, stop, done).await,
                }
            })
        })
        .collect();
    tokio::time::sleep(SETTLE).await;
    let start_count = done.load(Ordering::Relaxed);
    let started = Instant::now();
    tokio::time::sleep(length).await;
    let count = done.load(Ordering::Relaxed) - start_count;
    let elapsed = started.elapsed();
    stop.store(true, Ordering::Relaxed);
    for t in tasks {
        t.await.expect("a client loop panicked");
    }
    count as f64 / elapsed.as_secs_f64()
}

async fn direct_client(ctx: Ctx, op: Op, stop: Arc<AtomicBool>, done: Arc<AtomicU64>) {
    let opts =
        mysql_async::OptsBuilder::from_opts(mysql_async::Opts::from_url(&ctx.db_url).expect("a valid URL"))
            .tcp_nodelay(true)
            .prefer_socket(false);
    let mut conn = mysql_async::Conn::new(opts).await.expect("connects");
    while !stop.load(Ordering::Relaxed) {
        match op {
            Op::Select1 => {
                let one: Option<i64> = conn.query_first(op.sql()).await.expect("selects");
                assert_eq!(one, Some(1));
            }
            Op::Insert => {
                conn.query_drop(op.sql()).await.expect("inserts");
                assert!(conn.last_insert_id().is_some());
            }
        }
        done.fetch_add(1, Ordering::Relaxed);
    }
    let _ = conn.disconnect().await;
}

async fn sdk_client(ctx: Ctx, op: Op, stop: Arc<AtomicBool>, done: Arc<AtomicU64>) {
    while !stop.load(Ordering::Relaxed) {
        let out = ctx
            .sdk
            .execute_statement()
            .resource_arn(&ctx.cluster)
            .secret_arn(&ctx.secret)
            .sql(op.sql())
            .send()
            .await
            .expect("the emulator answers");
        match op {
            Op::Select1 => assert_eq!(out.records().len(), 1),
            Op::Insert => assert_eq!(out.generated_fields().len(), 1),
        }
        done.fetch_add(1, Ordering::Relaxed);
    }
}

async fn raw_client(ctx: Ctx, op: Op, stop: Arc<AtomicBool>, done: Arc<AtomicU64>) {
    let authority = ctx.endpoint.trim_start_matches("http://").to_string();
    let stream = tokio::net::TcpStream::connect(&authority).await.expect("connects");
    stream.set_nodelay(true).expect("nodelay");
    let (mut sender, conn) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await.expect("handshake");
    let conn = tokio::spawn(conn);
    let body = Bytes::from(
        serde_json::json!({"resourceArn": ctx.cluster, "secretArn": ctx.secret, "sql": op.sql()}).to_string(),
    );
    while !stop.load(Ordering::Relaxed) {
        let request = hyper::Request::post("/Execute")
            .header("host", &authority)
            .header("content-type", "application/json")
            .body(Full::new(body.clone()))
            .expect("request");
        let response = sender.send_request(request).await.expect("answers");
        let status = response.status();
        let bytes = response.into_body().collect().await.expect("body").to_bytes();
        assert!(status.is_success(), "{status}: {}", String::from_utf8_lossy(&bytes));
        done.fetch_add(1, Ordering::Relaxed);
    }
    drop(sender);
    let _ = conn.await;
}
