//! The real `aurora-migrate-lambda` binary under a local Lambda runtime API, against a throwaway
//! MariaDB behind the project's Data API emulator, with a local stand-in for the pre-signed S3
//! `ResponseURL` that records every PUT (method, Content-Type, body). Shared by the test binaries
//! that run the function (`tests/lambda.rs`, `tests/step_functions.rs`), each of which uses a part.
//!
//! The runtime API here implements what the Lambda service offers a custom runtime
//! (<https://docs.aws.amazon.com/lambda/latest/dg/runtimes-api.html>): `GET .../invocation/next`
//! (long poll, with `Lambda-Runtime-Aws-Request-Id`, `Lambda-Runtime-Deadline-Ms` and
//! `Lambda-Runtime-Invoked-Function-Arn`), `POST .../invocation/{id}/response`,
//! `POST .../invocation/{id}/error` and `POST .../init/error`. Several processes of the function
//! may poll it at once, as Lambda runs several instances for concurrent invocations.
#![allow(dead_code)]

use std::collections::{HashMap, VecDeque};
use std::convert::Infallible;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use data_api_emulator::testing::{MariaDb, Options, TestEmulator};
use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};

pub type Reply = Response<Full<Bytes>>;

pub fn reply(status: u16, body: impl Into<Bytes>) -> Reply {
    let mut r = Response::new(Full::new(body.into()));
    *r.status_mut() = hyper::StatusCode::from_u16(status).expect("valid status");
    r
}

/// Serves `handle` on 127.0.0.1:0 on `rt`; returns the address.
pub fn serve<F, Fut>(rt: &tokio::runtime::Runtime, handle: F) -> SocketAddr
where
    F: Fn(Request<Incoming>) -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = Reply> + Send + 'static,
{
    let listener = rt.block_on(tokio::net::TcpListener::bind("127.0.0.1:0")).expect("bind");
    let addr = listener.local_addr().expect("address");
    rt.spawn(async move {
        loop {
            let Ok((stream, _)) = listener.accept().await else { return };
            let handle = handle.clone();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(move |req| {
                    let handle = handle.clone();
                    async move { Ok::<_, Infallible>(handle(req).await) }
                });
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(TokioIo::new(stream), service)
                    .await;
            });
        }
    });
    addr
}

pub async fn body_of(req: Request<Incoming>) -> Vec<u8> {
    req.into_body().collect().await.map(|b| b.to_bytes().to_vec()).unwrap_or_default()
}

/// What the function did with an invocation.
#[derive(Debug, Clone)]
pub enum Outcome {
    Response(Value),
    Error { error_type: String, message: String },
}

pub struct Pending {
    pub id: String,
    pub payload: String,
    pub deadline_ms: u64,
}

#[derive(Default)]
pub struct RuntimeState {
    pub queue: VecDeque<Pending>,
    pub outcomes: HashMap<String, (Outcome, Instant)>,
    pub init_errors: Vec<String>,
    /// Every payload handed to the function, in order.
    pub dispatched: Vec<Value>,
}

/// One PUT to the response URL.
#[derive(Debug, Clone)]
pub struct Put {
    pub method: String,
    pub content_type: Option<String>,
    pub body: Vec<u8>,
    pub at: SystemTime,
}

impl Put {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).expect("the answer is JSON")
    }
}

/// The function under test with its world: database, emulator, scripts, runtime API, S3 stand-in.
pub struct Lambda {
    /// Runs the runtime API and the response URL servers; kept alive with the test.
    pub _rt: tokio::runtime::Runtime,
    pub runtime: Arc<Mutex<RuntimeState>>,
    pub puts: Arc<Mutex<Vec<Put>>>,
    /// PUTs still to refuse with a 500.
    pub refuse: Arc<AtomicUsize>,
    pub response_url: String,
    pub logs: Arc<Mutex<Vec<String>>>,
    /// The function's processes: Lambda runs one invocation at a time per instance, and several
    /// instances for concurrent invocations.
    pub children: Vec<Child>,
    pub next_id: AtomicUsize,
    pub scripts: tempfile::TempDir,
    pub emulator: TestEmulator,
    pub db: MariaDb,
}

impl Drop for Lambda {
    fn drop(&mut self) {
        for child in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

pub const DATABASE: &str = "app";
/// The AWS secret key the function gets: it must never appear in a log line.
pub const SECRET_KEY: &str = "secret-key-never-logged-5f1c";

impl Lambda {
    pub fn start() -> Lambda {
        Lambda::start_with(&[])
    }

    pub fn start_with(extra_env: &[(&str, &str)]) -> Lambda {
        Lambda::start_pool(extra_env, 1)
    }

    /// `processes` instances of the function, all polling the same runtime API.
    pub fn start_pool(extra_env: &[(&str, &str)], processes: usize) -> Lambda {
        Lambda::start_in(tempfile::tempdir().expect("tempdir"), extra_env, processes)
    }

    /// One instance, with the emulator's `options` (a short call timeout, say).
    pub fn start_with_options(options: Options, extra_env: &[(&str, &str)]) -> Lambda {
        Lambda::start_full(tempfile::tempdir().expect("tempdir"), options, extra_env, 1)
    }

    /// The same, with the scripts of `scripts` (written before: a synth hashes them first).
    pub fn start_in(scripts: tempfile::TempDir, extra_env: &[(&str, &str)], processes: usize) -> Lambda {
        Lambda::start_full(scripts, Options::default(), extra_env, processes)
    }

    fn start_full(
        scripts: tempfile::TempDir,
        options: Options,
        extra_env: &[(&str, &str)],
        processes: usize,
    ) -> Lambda {
        let db = MariaDb::start().expect("throwaway MariaDB starts");
        let emulator = TestEmulator::start(&db, options).expect("emulator starts");
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("runtime");
        let runtime = Arc::new(Mutex::new(RuntimeState::default()));
        let api = serve(&rt, {
            let state = runtime.clone();
            move |req: Request<Incoming>| {
                let state = state.clone();
                async move { runtime_api(state, req).await }
            }
        });
        let puts = Arc::new(Mutex::new(Vec::new()));
        let refuse = Arc::new(AtomicUsize::new(0));
        let s3 = response_url_stand_in(&rt, puts.clone(), refuse.clone());
        let mut cmd = Command::new(env!("CARGO_BIN_EXE_aurora-migrate-lambda"));
        cmd.env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env("AWS_LAMBDA_RUNTIME_API", api.to_string())
            .env("AWS_LAMBDA_FUNCTION_NAME", "aurora-migrate-test")
            .env("AWS_LAMBDA_FUNCTION_MEMORY_SIZE", "128")
            .env("AWS_LAMBDA_FUNCTION_VERSION", "$LATEST")
            .env("AWS_LAMBDA_LOG_FORMAT", "JSON");
        crate::common::connect_to(&mut cmd, &emulator, DATABASE);
        cmd.env("AWS_SECRET_ACCESS_KEY", SECRET_KEY).env("AURORA_MIGRATE_MIGRATIONS_DIR", scripts.path());
        for (k, v) in extra_env {
            cmd.env(k, v);
        }
        let logs = Arc::new(Mutex::new(Vec::new()));
        let mut children = Vec::new();
        for _ in 0..processes.max(1) {
            let mut child = cmd
                .stdout(Stdio::piped())
                .stderr(Stdio::inherit())
                .spawn()
                .expect("the Lambda binary starts");
            let stdout = child.stdout.take().expect("stdout");
            let logs = logs.clone();
            std::thread::spawn(move || {
                for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                    logs.lock().expect("lock").push(line);
                }
            });
            children.push(child);
        }
        let lambda = Lambda {
            _rt: rt,
            runtime,
            puts,
            refuse,
            response_url: format!("http://{s3}/cloudformation-custom-resource-response?X-Amz-Signature=abc"),
            logs,
            children,
            next_id: AtomicUsize::new(1),
            scripts,
            emulator,
            db,
        };
        lambda.sql(&format!("CREATE DATABASE {DATABASE}"));
        lambda
    }

    pub fn write(&self, name: &str, body: &str) {
        std::fs::write(self.scripts.path().join(name), body).expect("write script");
    }

    pub fn remove(&self, name: &str) {
        std::fs::remove_file(self.scripts.path().join(name)).expect("remove script");
    }

    pub fn hash(&self) -> String {
        aurora_migrate::hash_dir(self.scripts.path()).expect("hash")
    }

    /// Runs SQL with the mariadb client, straight on the server.
    pub fn sql(&self, sql: &str) -> String {
        crate::common::sql(&self.db, sql)
    }

    pub fn history(&self) -> String {
        self.sql(&format!("SELECT version, statements_applied, statements_total, success FROM {DATABASE}.aurora_migrate_history ORDER BY version"))
    }

    pub fn tables(&self) -> String {
        self.sql(&format!("SELECT GROUP_CONCAT(table_name ORDER BY table_name) FROM information_schema.tables WHERE table_schema = '{DATABASE}'"))
    }

    /// Queues `payload` with a deadline `within` from now and waits for the function's outcome.
    pub fn invoke_within(&self, payload: &Value, within: Duration) -> (Outcome, Instant) {
        let id = format!("req-{}", self.next_id.fetch_add(1, Ordering::SeqCst));
        let deadline_ms =
            (SystemTime::now() + within).duration_since(UNIX_EPOCH).expect("clock").as_millis() as u64;
        self.runtime.lock().expect("lock").queue.push_back(Pending {
            id: id.clone(),
            payload: payload.to_string(),
            deadline_ms,
        });
        let give_up = Instant::now() + within + Duration::from_secs(30);
        while Instant::now() < give_up {
            if let Some(done) = self.runtime.lock().expect("lock").outcomes.get(&id) {
                return done.clone();
            }
            std::thread::sleep(Duration::from_millis(10));
        }
        panic!("no outcome for {payload} after {within:?} + 30 s; logs:\n{}", self.logs().join("\n"));
    }

    /// Serves `POST /invoke?timeout_ms=N` (body: the payload) on 127.0.0.1: the invocation's outcome
    /// as `{"response": ...}` or `{"error": {"errorType": ..., "errorMessage": ...}}`, as a Lambda
    /// invoke would report it. For callers outside this process (the local Step Functions run).
    pub fn serve_invocations(&self) -> SocketAddr {
        let state = self.runtime.clone();
        let ids = Arc::new(AtomicUsize::new(1));
        serve(&self._rt, move |req: Request<Incoming>| {
            let (state, ids) = (state.clone(), ids.clone());
            async move {
                let timeout_ms: u64 = req
                    .uri()
                    .query()
                    .and_then(|q| q.strip_prefix("timeout_ms="))
                    .and_then(|v| v.parse().ok())
                    .unwrap_or(60_000);
                let payload = String::from_utf8_lossy(&body_of(req).await).into_owned();
                let id = format!("invoke-{}", ids.fetch_add(1, Ordering::SeqCst));
                let deadline_ms = (SystemTime::now() + Duration::from_millis(timeout_ms))
                    .duration_since(UNIX_EPOCH)
                    .expect("clock")
                    .as_millis() as u64;
                state.lock().expect("lock").queue.push_back(Pending { id: id.clone(), payload, deadline_ms });
                loop {
                    if let Some((outcome, _)) = state.lock().expect("lock").outcomes.get(&id).cloned() {
                        let body = match outcome {
                            Outcome::Response(v) => json!({ "response": v }),
                            Outcome::Error { error_type, message } => {
                                json!({ "error": { "errorType": error_type, "errorMessage": message } })
                            }
                        };
                        return reply(200, body.to_string());
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            }
        })
    }

    pub fn invoke(&self, payload: &Value) -> Outcome {
        self.invoke_within(payload, Duration::from_secs(120)).0
    }

    /// Invokes a custom-resource event and returns the one PUT it caused.
    pub fn event(&self, payload: &Value) -> Value {
        let before = self.puts().len();
        let outcome = self.invoke(payload);
        assert!(matches!(outcome, Outcome::Response(_)), "{outcome:?}");
        let puts = self.puts();
        assert_eq!(puts.len(), before + 1, "exactly one answer per event: {puts:?}");
        puts[before].json()
    }

    pub fn puts(&self) -> Vec<Put> {
        self.puts.lock().expect("lock").clone()
    }

    pub fn logs(&self) -> Vec<String> {
        self.logs.lock().expect("lock").clone()
    }

    /// A custom-resource request. `old_hash` makes it carry OldResourceProperties (Update).
    pub fn request(&self, kind: &str, hash: &str, old_hash: Option<&str>) -> Value {
        let mut v = json!({
            "RequestType": kind,
            "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:aurora-migrate-test",
            "ResponseURL": self.response_url,
            "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/shop/1f0e",
            "RequestId": format!("cfn-{}", self.next_id.fetch_add(1, Ordering::SeqCst)),
            "LogicalResourceId": "Migrations",
            "ResourceType": "Custom::AuroraMigrations",
            "ResourceProperties": {"ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:aurora-migrate-test", "ContentHash": hash, "Database": DATABASE}
        });
        if kind != "Create" {
            v["PhysicalResourceId"] = json!("aurora-migrate-Migrations");
        }
        if let Some(old) = old_hash {
            v["OldResourceProperties"] =
                json!({"ServiceToken": "x", "ContentHash": old, "Database": DATABASE});
        }
        v
    }
}

/// The stand-in for the pre-signed S3 `ResponseURL`: records every PUT, refuses the next `refuse`
/// ones with a 500.
pub fn response_url_stand_in(
    rt: &tokio::runtime::Runtime,
    puts: Arc<Mutex<Vec<Put>>>,
    refuse: Arc<AtomicUsize>,
) -> SocketAddr {
    serve(rt, move |req: Request<Incoming>| {
        let (puts, refuse) = (puts.clone(), refuse.clone());
        async move {
            let method = req.method().to_string();
            let content_type =
                req.headers().get("content-type").map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
            let body = body_of(req).await;
            puts.lock().expect("lock").push(Put { method, content_type, body, at: SystemTime::now() });
            if refuse.load(Ordering::SeqCst) > 0 {
                refuse.fetch_sub(1, Ordering::SeqCst);
                return reply(500, "<Error><Code>InternalError</Code></Error>");
            }
            reply(200, "")
        }
    })
}

pub async fn runtime_api(state: Arc<Mutex<RuntimeState>>, req: Request<Incoming>) -> Reply {
    let path = req.uri().path().to_owned();
    let method = req.method().clone();
    let Some(rest) = path.strip_prefix("/2018-06-01/runtime/") else { return reply(404, "not found") };
    if method == hyper::Method::GET && rest == "invocation/next" {
        loop {
            let next = state.lock().expect("lock").queue.pop_front();
            if let Some(p) = next {
                let payload = serde_json::from_str(&p.payload).unwrap_or(Value::Null);
                state.lock().expect("lock").dispatched.push(payload);
                return Response::builder()
                    .header("Lambda-Runtime-Aws-Request-Id", &p.id)
                    .header("Lambda-Runtime-Deadline-Ms", p.deadline_ms.to_string())
                    .header(
                        "Lambda-Runtime-Invoked-Function-Arn",
                        "arn:aws:lambda:us-east-1:123456789012:function:aurora-migrate-test",
                    )
                    .header("Lambda-Runtime-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793")
                    .header("content-type", "application/json")
                    .body(Full::new(Bytes::from(p.payload)))
                    .expect("response");
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    if method == hyper::Method::POST && rest == "init/error" {
        let body = String::from_utf8_lossy(&body_of(req).await).into_owned();
        state.lock().expect("lock").init_errors.push(body);
        return reply(202, "{}");
    }
    if method == hyper::Method::POST {
        if let Some(inner) = rest.strip_prefix("invocation/") {
            if let Some((id, what)) = inner.split_once('/') {
                let id = id.to_owned();
                let header_type = req
                    .headers()
                    .get("Lambda-Runtime-Function-Error-Type")
                    .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned());
                let body = body_of(req).await;
                let outcome = match what {
                    "response" => Outcome::Response(serde_json::from_slice(&body).unwrap_or(Value::Null)),
                    "error" => {
                        let v: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
                        Outcome::Error {
                            error_type: v["errorType"]
                                .as_str()
                                .map(str::to_owned)
                                .or(header_type)
                                .unwrap_or_default(),
                            message: v["errorMessage"].as_str().unwrap_or_default().to_owned(),
                        }
                    }
                    _ => return reply(404, "not found"),
                };
                state.lock().expect("lock").outcomes.insert(id, (outcome, Instant::now()));
                return reply(202, "{\"status\":\"OK\"}");
            }
        }
    }
    reply(404, "not found")
}
