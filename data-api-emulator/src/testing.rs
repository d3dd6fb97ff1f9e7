//! Test support (for this crate's tests and for other crates' integration tests): a throwaway
//! MariaDB server and an in-process emulator in front of it.
//!
//! ```no_run
//! use data_api_emulator::testing::{MariaDb, Options, TestEmulator};
//! let db = MariaDb::start().expect("MariaDB starts");
//! let emulator = TestEmulator::start(&db, Options::default()).expect("emulator starts");
//! // Point any Data API client at emulator.endpoint with emulator.cluster_arn / secret_arn.
//! ```
//!
//! `MariaDb::start` runs `mariadb-install-db` and `mariadbd` in a temporary directory on a free
//! port and kills and removes them on drop; when `AURORA_MIGRATE_TEST_MYSQL_URL` is set it uses
//! that server instead. The emulator runs on its own thread and runtime, so it works from sync and
//! async tests alike, binds 127.0.0.1:0, has the control endpoint on, and shuts down on drop.

use std::collections::BTreeMap;
use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use crate::config::{
    Cluster, Config, ErrorFlavor, ErrorMessages, Secret, SecretValue, Timeouts, TransactionMode,
};
use crate::faults::{FaultRule, Operation, ScheduledFault};

/// Set to a `mysql://user:pass@host:port` URL to test against that server instead of a
/// throwaway MariaDB.
pub const TEST_MYSQL_URL_ENV: &str = "AURORA_MIGRATE_TEST_MYSQL_URL";
/// The cluster ARN a [`TestEmulator`] serves.
pub const CLUSTER_ARN: &str = "arn:aws:rds:us-east-1:123456789012:cluster:emulator";
/// The secret ARN a [`TestEmulator`] knows (also reachable by the name `emulator-secret`).
pub const SECRET_ARN: &str = "arn:aws:secretsmanager:us-east-1:123456789012:secret:emulator-secret-AbCdEf";

/// How long a throwaway server may take to accept connections.
const STARTUP: Duration = Duration::from_secs(30);

/// Something in the test setup failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TestingError {
    #[error("{what}")]
    Io {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("{0}")]
    Server(String),
    #[error("control endpoint: {0}")]
    Control(String),
}

fn io(what: impl Into<String>) -> impl FnOnce(std::io::Error) -> TestingError {
    let what = what.into();
    move |source| TestingError::Io { what, source }
}

/// A MySQL server for one test: a throwaway MariaDB, or the server named by
/// `AURORA_MIGRATE_TEST_MYSQL_URL`.
pub struct MariaDb {
    url: String,
    /// Server options beyond the defaults (kept for a restart).
    extra: Vec<String>,
    secret: SecretValue,
    child: Option<Child>,
    _dir: Option<tempfile::TempDir>,
}

impl MariaDb {
    /// Starts a throwaway MariaDB (or connects to `AURORA_MIGRATE_TEST_MYSQL_URL`) and waits until
    /// it accepts connections.
    pub fn start() -> Result<MariaDb, TestingError> {
        Self::start_with(&[])
    }

    /// [`MariaDb::start`] with more server options for the throwaway server (for example a
    /// benchmark's throughput settings); ignored with `AURORA_MIGRATE_TEST_MYSQL_URL`.
    pub fn start_with(extra: &[&str]) -> Result<MariaDb, TestingError> {
        if let Ok(url) = std::env::var(TEST_MYSQL_URL_ENV) {
            let opts = mysql_async::Opts::from_url(&url)
                .map_err(|e| TestingError::Server(format!("{TEST_MYSQL_URL_ENV}: {e}")))?;
            let secret = SecretValue {
                username: opts.user().map(str::to_string),
                password: opts.pass().map(str::to_string),
                host: Some(opts.ip_or_hostname().to_string()),
                port: Some(opts.tcp_port().into()),
                dbname: None,
                engine: Some("mysql".into()),
            };
            return Ok(MariaDb { url, extra: Vec::new(), secret, child: None, _dir: None });
        }
        let mut last = None;
        for _ in 0..3 {
            match Self::start_throwaway(extra) {
                Ok(db) => return Ok(db),
                Err(e) => last = Some(e),
            }
        }
        Err(last.unwrap_or_else(|| TestingError::Server("MariaDB did not start".into())))
    }

    fn start_throwaway(extra: &[&str]) -> Result<MariaDb, TestingError> {
        let dir =
            tempfile::Builder::new().prefix("data-api-emulator-mariadb").tempdir().map_err(io("temp dir"))?;
        let data = dir.path().join("data");
        let install_log = dir.path().join("install.log");
        let status = Command::new(find_program("mariadb-install-db")?)
            .arg("--no-defaults")
            .arg(format!("--datadir={}", data.display()))
            .args(["--user=root", "--auth-root-authentication-method=normal", "--skip-test-db"])
            .stdout(log_file(&install_log)?)
            .stderr(log_file(&install_log)?)
            .status()
            .map_err(io("running mariadb-install-db"))?;
        if !status.success() {
            return Err(TestingError::Server(format!(
                "mariadb-install-db failed ({status}):\n{}",
                read_tail(&install_log)
            )));
        }
        let port = free_port()?;
        // Temporary tables of its own, not in the shared /tmp, where another process may tidy them.
        std::fs::create_dir_all(dir.path().join("tmp")).map_err(io("creating the server's tmpdir"))?;
        let extra: Vec<String> = extra.iter().map(|s| s.to_string()).collect();
        let child = spawn_server(dir.path(), port, &extra)?;
        Ok(MariaDb {
            url: format!("mysql://root@127.0.0.1:{port}"),
            extra,
            secret: SecretValue {
                username: Some("root".into()),
                password: Some(String::new()),
                host: Some("127.0.0.1".into()),
                port: Some(port.into()),
                dbname: None,
                engine: Some("mysql".into()),
            },
            child: Some(child),
            _dir: Some(dir),
        })
    }

    /// Kills the throwaway server with SIGKILL (a crash: no clean shutdown, InnoDB recovers on the
    /// next start) and starts it again on the same data directory and port. Every connection to
    /// it breaks; transactions not committed are lost. Not possible with
    /// `AURORA_MIGRATE_TEST_MYSQL_URL`.
    pub fn restart(&mut self) -> Result<(), TestingError> {
        let (Some(child), Some(dir)) = (self.child.as_mut(), self._dir.as_ref()) else {
            return Err(TestingError::Server(format!(
                "{TEST_MYSQL_URL_ENV} is set: its server cannot be restarted"
            )));
        };
        let _ = child.kill();
        let _ = child.wait();
        let port = self
            .secret
            .port
            .as_ref()
            .and_then(serde_json::Value::as_u64)
            .and_then(|p| u16::try_from(p).ok())
            .ok_or_else(|| TestingError::Server("the throwaway server has no port".into()))?;
        self.child = Some(spawn_server(dir.path(), port, &self.extra)?);
        Ok(())
    }

    /// The throwaway server's process id (`None` with `AURORA_MIGRATE_TEST_MYSQL_URL`), for
    /// reading its CPU time.
    pub fn pid(&self) -> Option<u32> {
        self.child.as_ref().map(Child::id)
    }

    /// `mysql://user[:pass]@127.0.0.1:PORT`, for direct connections (e.g. checking a commit from a
    /// second connection).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// The RDS-style secret for this server.
    pub fn secret(&self) -> &SecretValue {
        &self.secret
    }

    /// `program` (`mariadb`, `mariadb-dump`, ...) with `--no-defaults` and this server's host,
    /// port, user and password: the command-line clients' side of a test.
    pub fn client(&self, program: &str) -> Command {
        let mut cmd = Command::new(program);
        cmd.arg("--no-defaults");
        if let Some(host) = &self.secret.host {
            cmd.arg(format!("-h{host}"));
        }
        if let Some(port) = &self.secret.port {
            cmd.arg(format!(
                "-P{}",
                port.as_u64().map_or_else(|| port.as_str().unwrap_or_default().to_owned(), |p| p.to_string())
            ));
        }
        cmd.arg(format!("-u{}", self.secret.username.as_deref().unwrap_or("root")));
        if let Some(password) = self.secret.password.as_deref().filter(|p| !p.is_empty()) {
            cmd.arg(format!("-p{password}"));
        }
        cmd
    }

    /// Runs `sql` (one or more statements) with the `mariadb` client, straight on the server (not
    /// through the Data API), and returns its output: rows as tab-separated lines, without column
    /// names, trimmed. The client reads the text as a script, so `DELIMITER` works too.
    pub fn sql(&self, sql: &str) -> Result<String, TestingError> {
        let output = self
            .client("mariadb")
            .args(["--default-character-set=utf8mb4", "-N", "-B", "-e", sql])
            .output()
            .map_err(io("running the mariadb client"))?;
        if !output.status.success() {
            return Err(TestingError::Server(format!(
                "mariadb client failed ({}) on {sql:?}: {}",
                output.status,
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        Ok(String::from_utf8_lossy(&output.stdout).trim().to_owned())
    }
}

impl Drop for MariaDb {
    fn drop(&mut self) {
        if let Some(child) = self.child.as_mut() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Starts `mariadbd` on the data directory under `dir` and waits until it accepts connections.
fn spawn_server(dir: &Path, port: u16, extra: &[String]) -> Result<Child, TestingError> {
    let server_log = dir.join("mariadbd.log");
    let mut child = Command::new(find_program("mariadbd")?)
        .arg("--no-defaults")
        .arg(format!("--datadir={}", dir.join("data").display()))
        .arg(format!("--socket={}", dir.join("mysqld.sock").display()))
        .arg(format!("--pid-file={}", dir.join("mysqld.pid").display()))
        .arg(format!("--port={port}"))
        .arg(format!("--tmpdir={}", dir.join("tmp").display()))
        .args([
            "--bind-address=127.0.0.1",
            "--user=root",
            "--character-set-server=utf8mb4",
            "--collation-server=utf8mb4_general_ci",
        ])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(log_file(&server_log)?)
        .stderr(log_file(&server_log)?)
        .spawn()
        .map_err(io("starting mariadbd"))?;
    let deadline = Instant::now() + STARTUP;
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(TestingError::Server(format!(
                "mariadbd exited ({status}):\n{}",
                read_tail(&server_log)
            )));
        }
        if TcpStream::connect(("127.0.0.1", port)).is_ok() {
            return Ok(child);
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            return Err(TestingError::Server(format!(
                "mariadbd did not accept connections within {STARTUP:?}:\n{}",
                read_tail(&server_log)
            )));
        }
        std::thread::sleep(Duration::from_millis(25));
    }
}

fn find_program(name: &str) -> Result<PathBuf, TestingError> {
    let path = std::env::var_os("PATH").unwrap_or_default();
    std::env::split_paths(&path)
        .chain(["/usr/sbin", "/usr/local/sbin", "/usr/bin"].map(PathBuf::from))
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            TestingError::Server(format!(
                "{name} not found: install mariadb-server (dev/setup does), or set {TEST_MYSQL_URL_ENV}"
            ))
        })
}

fn log_file(path: &Path) -> Result<std::fs::File, TestingError> {
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .map_err(io(format!("{}", path.display())))
}

fn read_tail(path: &Path) -> String {
    let text = std::fs::read_to_string(path).unwrap_or_default();
    let lines: Vec<&str> = text.lines().collect();
    lines[lines.len().saturating_sub(30)..].join("\n")
}

fn free_port() -> Result<u16, TestingError> {
    let l = TcpListener::bind("127.0.0.1:0").map_err(io("finding a free port"))?;
    Ok(l.local_addr().map_err(io("finding a free port"))?.port())
}

/// How to run a [`TestEmulator`].
#[derive(Debug, Clone, Copy, Default)]
pub struct Options {
    pub timeouts: Timeouts,
    pub errors: ErrorFlavor,
    pub error_messages: ErrorMessages,
    pub transaction_mode: TransactionMode,
    /// Added to every Data API call (the emulator's `--latency-ms`).
    pub latency: Duration,
    /// The emulator's `--max-connections`; `None` for its default.
    pub max_connections: Option<usize>,
    /// The database user and password its secret names, instead of the server's `root` (to test
    /// what a user without some privilege sees; create the user first).
    pub user: Option<(&'static str, &'static str)>,
}

impl Options {
    /// Short durations for timing tests: call timeout, transaction idle expiry, transaction
    /// maximum age.
    pub fn with_timeouts(call: Duration, transaction_idle: Duration, transaction_max: Duration) -> Options {
        Options { timeouts: Timeouts { call, transaction_idle, transaction_max }, ..Options::default() }
    }
}

/// An emulator serving [`CLUSTER_ARN`] and [`SECRET_ARN`] on `127.0.0.1:0`, with the control
/// endpoint on. Shuts down on drop.
pub struct TestEmulator {
    /// `http://127.0.0.1:PORT`
    pub endpoint: String,
    pub cluster_arn: String,
    pub secret_arn: String,
    addr: std::net::SocketAddr,
    shutdown: Option<tokio::sync::oneshot::Sender<()>>,
    thread: Option<std::thread::JoinHandle<()>>,
}

impl TestEmulator {
    /// Starts an emulator in front of `db`.
    pub fn start(db: &MariaDb, options: Options) -> Result<TestEmulator, TestingError> {
        let config = Config {
            clusters: vec![Cluster { arn: CLUSTER_ARN.into(), url: db.url().to_string() }],
            secrets: vec![Secret {
                arn: SECRET_ARN.into(),
                name: Some("emulator-secret".into()),
                value: match options.user {
                    Some((user, password)) => SecretValue {
                        username: Some(user.into()),
                        password: Some(password.into()),
                        ..db.secret().clone()
                    },
                    None => db.secret().clone(),
                },
            }],
            timeouts: options.timeouts,
            errors: options.errors,
            error_messages: options.error_messages,
            transaction_mode: options.transaction_mode,
            control: true,
            latency: options.latency,
            max_connections: options.max_connections.unwrap_or(crate::config::DEFAULT_MAX_CONNECTIONS),
        };
        let listener = TcpListener::bind("127.0.0.1:0").map_err(io("binding the emulator"))?;
        listener.set_nonblocking(true).map_err(io("binding the emulator"))?;
        let addr = listener.local_addr().map_err(io("binding the emulator"))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            // Its own name, so a profile (`perf report --sort comm`) tells it from the test's.
            .thread_name("data-api-emulator")
            .enable_all()
            .build()
            .map_err(io("building the emulator's runtime"))?;
        let (shutdown, stopped) = tokio::sync::oneshot::channel::<()>();
        let (ready_tx, ready_rx) = std::sync::mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("data-api-emulator".into())
            .spawn(move || {
                runtime.block_on(async move {
                    let listener = match tokio::net::TcpListener::from_std(listener) {
                        Ok(l) => l,
                        Err(e) => {
                            let _ = ready_tx.send(Err(e.to_string()));
                            return;
                        }
                    };
                    let _ = ready_tx.send(Ok(()));
                    if let Err(e) = crate::serve(listener, config, async {
                        let _ = stopped.await;
                    })
                    .await
                    {
                        eprintln!("data-api-emulator: {e}");
                    }
                });
            })
            .map_err(io("starting the emulator thread"))?;
        match ready_rx.recv() {
            Ok(Ok(())) => {}
            Ok(Err(e)) => return Err(TestingError::Server(e)),
            Err(_) => return Err(TestingError::Server("the emulator thread ended".into())),
        }
        Ok(TestEmulator {
            endpoint: format!("http://{addr}"),
            cluster_arn: CLUSTER_ARN.into(),
            secret_arn: SECRET_ARN.into(),
            addr,
            shutdown: Some(shutdown),
            thread: Some(thread),
        })
    }

    /// Queues a fault (`POST /_emulator/faults`).
    pub fn inject(&self, rule: &FaultRule) -> Result<(), TestingError> {
        let body = serde_json::to_string(rule).map_err(|e| TestingError::Control(e.to_string()))?;
        self.control("POST", "/_emulator/faults", &body).map(drop)
    }

    /// Queues a fault that lets `skip` matching calls pass first: the fault at call position `skip`.
    pub fn inject_after(&self, rule: &FaultRule, skip: u32) -> Result<(), TestingError> {
        self.schedule(&ScheduledFault { rule: rule.clone(), skip, body_contains: None })
    }

    /// Queues a fault for calls whose request body contains `text` (e.g. a piece of one statement).
    pub fn inject_where(&self, rule: &FaultRule, text: &str) -> Result<(), TestingError> {
        self.schedule(&ScheduledFault { rule: rule.clone(), skip: 0, body_contains: Some(text.to_owned()) })
    }

    /// Queues a scheduled fault (`POST /_emulator/faults`).
    pub fn schedule(&self, scheduled: &ScheduledFault) -> Result<(), TestingError> {
        let body = serde_json::to_string(&scheduled).map_err(|e| TestingError::Control(e.to_string()))?;
        self.control("POST", "/_emulator/faults", &body).map(drop)
    }

    /// The faults queued and not used up yet (`GET /_emulator/faults`): a fault whose call
    /// position a run never reached is still here.
    pub fn pending_faults(&self) -> Result<Vec<ScheduledFault>, TestingError> {
        let body = self.control("GET", "/_emulator/faults", "")?;
        let faults: Vec<ScheduledFault> =
            serde_json::from_str(&body).map_err(|e| TestingError::Control(format!("{e}: {body}")))?;
        Ok(faults.into_iter().filter(|f| f.rule.count > 0).collect())
    }

    /// Removes pending faults (`DELETE /_emulator/faults`).
    pub fn clear_faults(&self) -> Result<(), TestingError> {
        self.control("DELETE", "/_emulator/faults", "").map(drop)
    }

    /// Calls per operation so far (`GET /_emulator/counters`), keyed by model operation name.
    pub fn counters(&self) -> Result<BTreeMap<String, u64>, TestingError> {
        let body = self.control("GET", "/_emulator/counters", "")?;
        serde_json::from_str(&body).map_err(|e| TestingError::Control(format!("{e}: {body}")))
    }

    /// Calls of one operation so far.
    pub fn calls(&self, op: Operation) -> Result<u64, TestingError> {
        Ok(self.counters()?.get(op.name()).copied().unwrap_or(0))
    }

    /// Sets all counters to zero (`DELETE /_emulator/counters`).
    pub fn reset_counters(&self) -> Result<(), TestingError> {
        self.control("DELETE", "/_emulator/counters", "").map(drop)
    }

    /// One blocking HTTP/1.1 request to the control endpoint; returns the body of a 200.
    fn control(&self, method: &str, path: &str, body: &str) -> Result<String, TestingError> {
        let mut stream = TcpStream::connect(self.addr).map_err(io("connecting to the control endpoint"))?;
        let request = format!(
            "{method} {path} HTTP/1.1\r\nhost: {}\r\ncontent-type: application/json\r\n\
             content-length: {}\r\nconnection: close\r\n\r\n{body}",
            self.addr,
            body.len()
        );
        stream.write_all(request.as_bytes()).map_err(io("writing to the control endpoint"))?;
        let mut response = String::new();
        stream.read_to_string(&mut response).map_err(io("reading from the control endpoint"))?;
        let (head, body) = response.split_once("\r\n\r\n").unwrap_or((&response, ""));
        if !head.starts_with("HTTP/1.1 200") {
            return Err(TestingError::Control(format!("{method} {path}: {head}\n{body}")));
        }
        Ok(body.to_string())
    }
}

impl Drop for TestEmulator {
    fn drop(&mut self) {
        if let Some(s) = self.shutdown.take() {
            let _ = s.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
