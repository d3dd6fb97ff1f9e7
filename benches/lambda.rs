//! The Lambda's cost, printed: the size of the arm64 zip, and the bootstrap's cold start (process
//! start to first event answered), CPU (user + sys from `wait4`) and peak RSS while it handles one
//! `status` command with 500 scripts in its migrations folder, against the Data API emulator over a
//! throwaway MariaDB. Beside it, the Python stack the seed projects use: `import boto3` and an
//! `rds-data` client, measured the same way with the project's `.venv` python.
//!
//! Run: `cargo bench --bench lambda` (the zip figure needs `dev/build-lambda` first). The bootstrap
//! measured is `AURORA_MIGRATE_LAMBDA_BIN` when set (e.g. the cargo-lambda build, under qemu for
//! arm64), else this build's host binary. Targets: zip < 8 MB, CPU >= 20x and memory >= 3x below
//! Python's. Exits at once without `--bench`, since `cargo test --all-targets` runs bench binaries.

use std::collections::VecDeque;
use std::convert::Infallible;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use data_api_emulator::testing::{MariaDb, Options, TestEmulator};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;

const SCRIPTS: usize = 500;
const RUNS: usize = 5;

/// One measured process.
#[derive(Debug, Clone, Copy)]
struct Sample {
    /// Start to the first answer (the Lambda) or to exit (Python).
    wall: Duration,
    /// User + system CPU of the whole process.
    cpu: Duration,
    /// Peak resident set, KiB.
    max_rss_kib: i64,
}

/// Waits for `pid` and returns its resource usage.
fn reap(pid: u32) -> (Duration, i64) {
    let mut status = 0;
    let mut usage: libc::rusage = unsafe { std::mem::zeroed() };
    // SAFETY: pid is our own child, not yet reaped; status and usage are valid for writes.
    let r = unsafe { libc::wait4(pid as libc::pid_t, &mut status, 0, &mut usage) };
    assert_eq!(r, pid as libc::pid_t, "wait4 failed");
    let tv =
        |t: libc::timeval| Duration::from_secs(t.tv_sec as u64) + Duration::from_micros(t.tv_usec as u64);
    (tv(usage.ru_utime) + tv(usage.ru_stime), usage.ru_maxrss)
}

fn median(mut samples: Vec<Sample>) -> Sample {
    samples.sort_by_key(|s| s.cpu);
    samples[samples.len() / 2]
}

/// A Lambda runtime API that hands out one `status` command and notes when its answer comes.
struct RuntimeApi {
    addr: std::net::SocketAddr,
    queue: Arc<Mutex<VecDeque<String>>>,
    answered: Arc<Mutex<Option<(Instant, String)>>>,
}

fn runtime_api(rt: &tokio::runtime::Runtime) -> RuntimeApi {
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
    let addr = listener.local_addr().expect("address");
    let queue = Arc::new(Mutex::new(VecDeque::new()));
    let answered = Arc::new(Mutex::new(None));
    let (q, a) = (queue.clone(), answered.clone());
    rt.spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let (q, a) = (q.clone(), a.clone());
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req: Request<Incoming>| {
                    let (q, a) = (q.clone(), a.clone());
                    async move {
                        let path = req.uri().path().to_owned();
                        if path.ends_with("/invocation/next") {
                            loop {
                                let next = q.lock().expect("lock").pop_front();
                                if let Some(body) = next {
                                    let deadline = SystemTime::now()
                                        .duration_since(UNIX_EPOCH)
                                        .expect("clock")
                                        .as_millis()
                                        + 300_000;
                                    return Ok::<_, Infallible>(
                                        Response::builder()
                                            .header("Lambda-Runtime-Aws-Request-Id", "bench-1")
                                            .header("Lambda-Runtime-Deadline-Ms", deadline.to_string())
                                            .header(
                                                "Lambda-Runtime-Invoked-Function-Arn",
                                                "arn:aws:lambda:us-east-1:123456789012:function:bench",
                                            )
                                            .body(Full::new(Bytes::from(body)))
                                            .expect("response"),
                                    );
                                }
                                tokio::time::sleep(Duration::from_millis(2)).await;
                            }
                        }
                        let at = Instant::now();
                        let body = req
                            .into_body()
                            .collect()
                            .await
                            .map(|b| b.to_bytes().to_vec())
                            .unwrap_or_default();
                        *a.lock().expect("lock") =
                            Some((at, format!("{path}: {}", String::from_utf8_lossy(&body))));
                        Ok(Response::builder().status(202).body(Full::new(Bytes::new())).expect("response"))
                    }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    RuntimeApi { addr, queue, answered }
}

fn lambda_sample(
    bin: &Path,
    wrapper: &[String],
    api: &RuntimeApi,
    emulator: &TestEmulator,
    scripts: &Path,
) -> Sample {
    api.queue.lock().expect("lock").push_back(r#"{"command": "status"}"#.to_owned());
    *api.answered.lock().expect("lock") = None;
    let mut cmd = match wrapper.split_first() {
        Some((first, rest)) => {
            let mut c = Command::new(first);
            c.args(rest).arg(bin);
            c
        }
        None => Command::new(bin),
    };
    cmd.env_clear()
        .env("AWS_LAMBDA_RUNTIME_API", api.addr.to_string())
        .env("AWS_LAMBDA_FUNCTION_NAME", "bench")
        .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
        .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
        .env("AWS_LAMBDA_LOG_FORMAT", "JSON")
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .env("AWS_REGION", "us-east-1")
        .env("AURORA_MIGRATE_RESOURCE_ARN", &emulator.cluster_arn)
        .env("AURORA_MIGRATE_SECRET_ARN", &emulator.secret_arn)
        .env("AURORA_MIGRATE_DATABASE", "app")
        .env("AURORA_MIGRATE_ENDPOINT_URL", &emulator.endpoint)
        .env("AURORA_MIGRATE_MIGRATIONS_DIR", scripts)
        .stdout(Stdio::null());
    let start = Instant::now();
    // Reaped with wait4 below (for its resource usage), not with Child::wait.
    let pid = cmd.spawn().expect("the Lambda binary starts").id();
    let answered = loop {
        if let Some((at, body)) = api.answered.lock().expect("lock").clone() {
            assert!(body.contains("/response") && body.contains("\"pending\""), "unexpected answer: {body}");
            break at;
        }
        assert!(start.elapsed() < Duration::from_secs(120), "no answer within 2 minutes");
        std::thread::sleep(Duration::from_millis(1));
    };
    // The function now waits for the next event (no CPU); end it and read its usage.
    // SAFETY: signalling our own child.
    unsafe { libc::kill(pid as libc::pid_t, libc::SIGKILL) };
    let (cpu, max_rss_kib) = reap(pid);
    Sample { wall: answered - start, cpu, max_rss_kib }
}

fn python_sample(python: &Path) -> Sample {
    let start = Instant::now();
    let pid = Command::new(python)
        .args(["-c", "import boto3; boto3.client('rds-data', region_name='us-east-1')"])
        .env("AWS_ACCESS_KEY_ID", "test")
        .env("AWS_SECRET_ACCESS_KEY", "test")
        .spawn()
        .expect("python starts")
        .id();
    let (cpu, max_rss_kib) = reap(pid);
    Sample { wall: start.elapsed(), cpu, max_rss_kib }
}

fn mib(kib: i64) -> f64 {
    kib as f64 / 1024.0
}

fn main() {
    if !std::env::args().any(|a| a == "--bench") {
        return;
    }
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let zip = root.join("build/lambda/arm64/aurora-migrate-lambda.zip");
    match std::fs::metadata(&zip) {
        Ok(m) => println!(
            "arm64 zip: {} bytes ({:.2} MB; target < 8 MB: {})",
            m.len(),
            m.len() as f64 / 1e6,
            if m.len() < 8_000_000 { "met" } else { "MISSED" }
        ),
        Err(_) => println!("arm64 zip: not built ({}); run dev/build-lambda arm64", zip.display()),
    }

    let bin = std::env::var_os("AURORA_MIGRATE_LAMBDA_BIN")
        .map(PathBuf::from)
        .unwrap_or_else(|| PathBuf::from(env!("CARGO_BIN_EXE_aurora-migrate-lambda")));
    let wrapper: Vec<String> = std::env::var("AURORA_MIGRATE_LAMBDA_WRAPPER")
        .map(|w| w.split_whitespace().map(str::to_owned).collect())
        .unwrap_or_default();
    let db = MariaDb::start().expect("throwaway MariaDB starts");
    let emulator = TestEmulator::start(&db, Options::default()).expect("emulator starts");
    let rt =
        tokio::runtime::Builder::new_multi_thread().worker_threads(1).enable_all().build().expect("runtime");
    let api = runtime_api(&rt);
    let scripts = tempfile::tempdir().expect("tempdir");
    for v in 1..=SCRIPTS {
        std::fs::write(
            scripts.path().join(format!("V{v}__table_{v}.sql")),
            format!("CREATE TABLE t{v} (id INT PRIMARY KEY, name VARCHAR(50) NOT NULL);\nINSERT INTO t{v} VALUES (1, 'one'), (2, 'two');\n"),
        )
        .expect("write script");
    }
    let status = Command::new("mariadb")
        .args(["--no-defaults", "-h127.0.0.1", "-uroot", "-P"])
        .arg(db.url().rsplit(':').next().expect("port").trim_end_matches('/'))
        .args(["-e", "CREATE DATABASE app"])
        .status()
        .expect("mariadb client");
    assert!(status.success());

    // One warm-up (page cache), then the median of RUNS by CPU.
    lambda_sample(&bin, &wrapper, &api, &emulator, scripts.path());
    let lambda =
        median((0..RUNS).map(|_| lambda_sample(&bin, &wrapper, &api, &emulator, scripts.path())).collect());
    println!(
        "lambda bootstrap ({}{}), status with {SCRIPTS} scripts: start to first answer {:.1} ms, CPU {:.1} ms, peak RSS {:.1} MiB (median of {RUNS})",
        bin.display(),
        if wrapper.is_empty() { String::new() } else { format!(" under {}", wrapper.join(" ")) },
        lambda.wall.as_secs_f64() * 1e3,
        lambda.cpu.as_secs_f64() * 1e3,
        mib(lambda.max_rss_kib)
    );

    let python = root.join(".venv/bin/python");
    if !python.exists() {
        println!("python: {} missing; run dev/setup for the boto3 comparison", python.display());
        return;
    }
    python_sample(&python);
    let py = median((0..RUNS).map(|_| python_sample(&python)).collect());
    println!(
        "python: import boto3 + rds-data client: wall {:.1} ms, CPU {:.1} ms, peak RSS {:.1} MiB (median of {RUNS})",
        py.wall.as_secs_f64() * 1e3,
        py.cpu.as_secs_f64() * 1e3,
        mib(py.max_rss_kib)
    );
    let cpu_ratio = py.cpu.as_secs_f64() / lambda.cpu.as_secs_f64().max(1e-6);
    let mem_ratio = py.max_rss_kib as f64 / lambda.max_rss_kib.max(1) as f64;
    println!(
        "ratio: CPU {cpu_ratio:.1}x less (target >= 20x: {}), memory {mem_ratio:.1}x less (target >= 3x: {})",
        if cpu_ratio >= 20.0 { "met" } else { "MISSED" },
        if mem_ratio >= 3.0 { "met" } else { "MISSED" }
    );
}
