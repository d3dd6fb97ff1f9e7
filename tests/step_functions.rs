//! Deploys longer than one invocation, end to end: the state machine of the synthesized CDK template
//! runs under `aws-local-stepfunctions` (`cdk/test/support/local-deploy.ts`, which also stands in for
//! Step Functions' `StartExecution`), its Task states wired to the real `aurora-migrate-lambda` under
//! the local Lambda runtime API (`common/lambda_host.rs`), against the Data API emulator and a
//! throwaway MariaDB. CloudFormation's side is the custom-resource event sent to the function and the
//! stand-in for the pre-signed `ResponseURL`, which must get exactly one answer.
//!
//! Needs Node and the CDK packages (`dev/setup cdk`); without `cdk/node_modules` each test says it
//! skipped. `SFN_TENANTS` sets the fleet size of the fleet test (default 8, which fits CI time; 50 was run by hand).

mod common;
#[path = "common/lambda_host.rs"]
mod lambda_host;

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver};
use std::time::{Duration, Instant};

use data_api_emulator::{FaultKind, FaultRule};
use lambda_host::{Lambda, Outcome};
use serde_json::{json, Value};

fn cdk_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("cdk")
}

/// `false` (after saying so) when the CDK packages are not installed.
fn node_ready(what: &str) -> bool {
    let ready = cdk_dir().join("node_modules/aws-local-stepfunctions").is_dir();
    if !ready {
        eprintln!("SKIPPED: no cdk/node_modules (run dev/setup cdk), {what} did not run");
    }
    ready
}

/// A deploy under test: the function's world and the local Step Functions.
struct Deploy {
    lambda: Lambda,
    node: Child,
    stdin: Option<ChildStdin>,
    /// Lines the local Step Functions printed after its first (one per ended execution).
    ended: Receiver<Value>,
    /// The custom resource's properties from the template.
    properties: Value,
}

impl Drop for Deploy {
    fn drop(&mut self) {
        drop(self.stdin.take());
        let _ = self.node.kill();
        let _ = self.node.wait();
    }
}

impl Deploy {
    /// Synthesizes the construct with `props` over the scripts `write` puts in a folder, starts the
    /// local Step Functions for its state machine and `processes` instances of the function with the
    /// template's environment (plus `env`).
    fn start(props: Value, env: &[(&str, &str)], processes: usize, write: impl Fn(&Path)) -> Deploy {
        let scripts = tempfile::tempdir().expect("tempdir");
        write(scripts.path());
        let mut props = props;
        props["scriptsDir"] = json!(scripts.path());
        let mut node = Command::new("node")
            .current_dir(cdk_dir())
            .args(["--import", "tsx", "test/support/local-deploy.ts", &props.to_string()])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("node runs");
        let stdout = BufReader::new(node.stdout.take().expect("stdout"));
        let (tx, rx) = channel::<Value>();
        std::thread::spawn(move || {
            for line in stdout.lines().map_while(Result::ok) {
                match serde_json::from_str(&line) {
                    Ok(v) => {
                        if tx.send(v).is_err() {
                            return;
                        }
                    }
                    Err(_) => eprintln!("local-deploy: {line}"),
                }
            }
        });
        let first = rx.recv_timeout(Duration::from_secs(120)).expect("the local Step Functions starts");
        let endpoint = first["endpoint"].as_str().expect("endpoint").to_owned();
        let mut environment: Vec<(String, String)> = first["environment"]
            .as_object()
            .expect("environment")
            .iter()
            .map(|(k, v)| (k.clone(), v.as_str().expect("a string").to_owned()))
            .collect();
        environment.push(("AWS_ENDPOINT_URL_SFN".into(), endpoint));
        environment.extend(env.iter().map(|(k, v)| (k.to_string(), v.to_string())));
        let env: Vec<(&str, &str)> = environment.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        let lambda = Lambda::start_in(scripts, &env, processes);
        let invoke = lambda.serve_invocations();
        let mut stdin = node.stdin.take().expect("stdin");
        writeln!(stdin, "{}", json!({ "invoke": format!("http://{invoke}/invoke") })).expect("write to node");
        stdin.flush().expect("flush");
        Deploy { lambda, node, stdin: Some(stdin), ended: rx, properties: first["properties"].clone() }
    }

    /// A Create event with the template's properties.
    fn create(&self) -> Value {
        let mut event = self.lambda.request("Create", &self.lambda.hash(), None);
        let mut properties = self.properties.clone();
        properties["ServiceToken"] = event["ResourceProperties"]["ServiceToken"].clone();
        event["ResourceProperties"] = properties;
        event
    }

    /// Sends `event` (the function must start the execution and answer nothing itself), waits for the
    /// execution to end, and returns how it ended and the one answer CloudFormation got.
    fn deploy(&self, event: &Value, within: Duration) -> (Value, Value) {
        let before = self.lambda.puts().len();
        let outcome = self.lambda.invoke(event);
        let Outcome::Response(started) = outcome else { panic!("the event was not taken: {outcome:?}") };
        assert!(started["started"].is_string(), "{started}");
        let ended = self.ended.recv_timeout(within).unwrap_or_else(|_| {
            panic!("no execution ended within {within:?}; logs:\n{}", self.lambda.logs().join("\n"))
        });
        // A late second answer would arrive within moments of the first.
        std::thread::sleep(Duration::from_millis(1500));
        let puts = self.lambda.puts();
        assert_eq!(puts.len(), before + 1, "exactly one answer per deploy: {puts:?}");
        (ended, puts[before].json())
    }

    /// The step payloads the function got, by step name.
    fn steps(&self, step: &str) -> Vec<Value> {
        let state = self.lambda.runtime.lock().expect("lock");
        state.dispatched.iter().filter(|p| p["step"] == step).cloned().collect()
    }
}

/// Ten migrations: tables, rows and an index, so every history row means real work.
fn ten_migrations(dir: &Path) {
    for v in 1..=10 {
        let body = match v % 3 {
            1 => format!("CREATE TABLE t{v} (id INT PRIMARY KEY, note VARCHAR(20));\n"),
            2 => format!(
                "INSERT INTO t{} VALUES (1, 'a'), (2, 'b');\nUPDATE t{} SET note = 'c' WHERE id = 2;\n",
                v - 1,
                v - 1
            ),
            _ => format!("CREATE INDEX ix{v} ON t{} (note);\n", v - 2),
        };
        std::fs::write(dir.join(format!("V{v}__step_{v}.sql")), body).expect("write script");
    }
}

fn tenant_count() -> usize {
    std::env::var("SFN_TENANTS").ok().and_then(|n| n.parse().ok()).unwrap_or(8)
}

/// A tenant's history: version, statements applied, statements total, success, one row each.
fn history(l: &Lambda, database: &str) -> String {
    l.sql(&format!(
        "SELECT version, statements_applied, statements_total, success FROM {database}.aurora_migrate_history ORDER BY CAST(version AS UNSIGNED)"
    ))
}

fn expected_history(upto: usize) -> String {
    (1..=upto)
        .map(|v| {
            let statements = if v % 3 == 2 { 2 } else { 1 };
            format!("{v}\t{statements}\t{statements}\t1")
        })
        .collect::<Vec<_>>()
        .join("\n")
}

#[test]
fn a_fleet_deploy_driven_by_the_state_machine_applies_every_tenant_exactly_once_with_one_answer() {
    if !node_ready("the fleet deploy") {
        return;
    }
    let tenants = tenant_count();
    let parallel = 8.min(tenants);
    let props = json!({"timeoutSeconds": 30, "maxDurationSeconds": 900, "databasePattern": "tenant\\_%", "parallel": parallel});
    let d = Deploy::start(props, &[("AURORA_MIGRATE_DEADLINE_MARGIN_MS", "3000")], parallel, ten_migrations);
    let names: Vec<String> = (1..=tenants).map(|i| format!("tenant_{i:03}")).collect();
    d.lambda.sql(&names.iter().map(|n| format!("CREATE DATABASE {n};")).collect::<String>());
    let started = Instant::now();
    let (ended, answer) = d.deploy(&d.create(), Duration::from_secs(900));
    let wall = started.elapsed();
    assert_eq!(ended["status"], "SUCCEEDED", "{ended}");
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert_eq!(answer["Data"]["Databases"], tenants.to_string());
    assert_eq!(answer["Data"]["NotOk"], "0");
    assert_eq!(answer["Data"]["Applied"], (tenants * 10).to_string());
    assert_eq!(answer["Data"]["CurrentVersion"], "10");
    for name in &names {
        assert_eq!(history(&d.lambda, name), expected_history(10), "{name}");
        assert_eq!(
            d.lambda.sql(&format!("SELECT COUNT(*), SUM(note = 'c') FROM {name}.t1")),
            "2\t1",
            "{name}"
        );
    }
    let work = d.steps("work");
    assert!(work.len() >= tenants, "one work step per tenant at least: {}", work.len());
    eprintln!(
        "fleet deploy: {tenants} tenants x 10 migrations, parallel {parallel}: {:.1} s, {} work invocation(s)",
        wall.as_secs_f64(),
        work.len()
    );
}

#[test]
fn a_tenant_with_a_failing_script_fails_alone_and_is_named_in_the_one_answer() {
    if !node_ready("the failing tenant") {
        return;
    }
    let props = json!({"timeoutSeconds": 20, "maxDurationSeconds": 300, "databases": ["tenant_a", "tenant_b", "tenant_c", "tenant_d"], "parallel": 2});
    let d = Deploy::start(props, &[("AURORA_MIGRATE_DEADLINE_MARGIN_MS", "3000")], 2, ten_migrations);
    d.lambda.sql("CREATE DATABASE tenant_a; CREATE DATABASE tenant_b; CREATE DATABASE tenant_c; CREATE DATABASE tenant_d");
    // tenant_c already has the table V4 creates: V4 fails there, and only there.
    d.lambda.sql("CREATE TABLE tenant_c.t4 (x INT)");
    let (ended, answer) = d.deploy(&d.create(), Duration::from_secs(300));
    assert_eq!(ended["status"], "SUCCEEDED", "the definition answered: {ended}");
    assert_eq!(answer["Status"], "FAILED", "{answer}");
    let reason = answer["Reason"].as_str().expect("a reason");
    assert!(reason.contains("4 database(s): 3 ok, 1 failed, 0 locked, 0 error"), "{reason}");
    assert!(reason.contains("tenant_c (failed): migration failed: V4__step_4.sql"), "{reason}");
    assert!(reason.contains("already exists"), "{reason}");
    for ok in ["tenant_a", "tenant_b", "tenant_d"] {
        for outcome in ["failed", "locked", "error"] {
            assert!(!reason.contains(&format!("{ok} ({outcome})")), "{ok} named: {reason}");
        }
        assert_eq!(history(&d.lambda, ok), expected_history(10), "{ok}");
    }
    assert_eq!(
        history(&d.lambda, "tenant_c"),
        format!("{}\n4\t0\t1\t0", expected_history(3)),
        "tenant_c stops at V4, recorded as failed"
    );
    assert_eq!(answer["Data"]["NotOk"], "1");
}

#[test]
fn a_work_task_that_keeps_failing_fails_its_tenant_alone_through_the_catch_with_one_answer() {
    if !node_ready("the failing task") {
        return;
    }
    let props = json!({"timeoutSeconds": 3, "maxDurationSeconds": 60, "databases": ["tenant_a", "tenant_b", "tenant_c"], "parallel": 3});
    let d = Deploy::start(props, &[("AURORA_MIGRATE_DEADLINE_MARGIN_MS", "1000")], 3, ten_migrations);
    d.lambda.sql("CREATE DATABASE tenant_a; CREATE DATABASE tenant_b; CREATE DATABASE tenant_c");
    // Every Data API call on tenant_b takes 5 s: each of its work invocations (3 s) is dropped at the
    // hard deadline before it knows anything, the function reports Timeout, the retries end the same
    // way, and the Catch records the failure for tenant_b only.
    let slow = FaultRule { fault: FaultKind::Delay, count: 1000, delay_ms: 5000, operations: None };
    d.lambda.emulator.inject_where(&slow, "tenant_b").expect("fault rule");
    let (ended, answer) = d.deploy(&d.create(), Duration::from_secs(90));
    assert_eq!(ended["status"], "SUCCEEDED", "{ended}");
    assert_eq!(answer["Status"], "FAILED", "{answer}");
    let reason = answer["Reason"].as_str().expect("a reason");
    assert!(reason.contains("3 database(s): 2 ok, 0 failed, 0 locked, 1 error"), "{reason}");
    assert!(
        reason.contains("tenant_b (error): the work step failed after 0 invocation(s): Timeout:"),
        "{reason}"
    );
    let tenant_b_steps = d.steps("work").iter().filter(|w| w["target"]["database"] == "tenant_b").count();
    assert_eq!(tenant_b_steps, 4, "one invocation and three retries");
    d.lambda.emulator.clear_faults().expect("clear");
    for ok in ["tenant_a", "tenant_c"] {
        assert_eq!(history(&d.lambda, ok), expected_history(10), "{ok}");
    }
}

/// `count` migrations of one second each (DDL, each its own segment, so a run can stop between them),
/// the first one taking `first` seconds.
fn slow_migrations(count: usize, first: u32) -> impl Fn(&Path) {
    move |dir: &Path| {
        for v in 1..=count {
            let seconds = if v == 1 { first } else { 1 };
            let body = format!("CREATE TABLE s{v} AS SELECT SLEEP({seconds}) AS x;\n");
            std::fs::write(dir.join(format!("V{v}__slow.sql")), body).expect("write script");
        }
    }
}

#[test]
fn statements_that_outlast_three_invocations_complete_with_exactly_one_answer() {
    if !node_ready("the long run") {
        return;
    }
    // Invocations of 3 s that stop 1 s before their deadline: two statements per invocation at most.
    // The first statement takes 4 s: its invocation is dropped at the hard deadline while it runs on
    // the server, and the next one waits for it and records it.
    let props = json!({"timeoutSeconds": 3, "maxDurationSeconds": 60, "database": "app"});
    let d = Deploy::start(props, &[("AURORA_MIGRATE_DEADLINE_MARGIN_MS", "1000")], 1, slow_migrations(8, 4));
    let event = d.create();
    let (ended, answer) = d.deploy(&event, Duration::from_secs(60));
    assert_eq!(ended["status"], "SUCCEEDED", "{ended}");
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert_eq!(answer["Data"]["CurrentVersion"], "8");
    assert_eq!(answer["Data"]["Applied"], "8");
    assert_eq!(answer["Data"]["AppliedVersions"], "1,2,3,4,5,6,7,8");
    let work = d.steps("work");
    assert!(work.len() >= 3, "the run went on over {} work invocation(s)", work.len());
    let dropped = d.lambda.runtime.lock().expect("lock").outcomes.values().any(|(o, _)| {
        matches!(o, Outcome::Response(v) if v["problem"].as_str().is_some_and(|p| p.contains("outlived the deadline's margin")))
    });
    assert!(dropped, "the invocation of the 4 s statement was not dropped at its hard deadline");
    // Every invocation of the run used the same lease owner.
    let owners: std::collections::BTreeSet<&str> =
        work.iter().filter_map(|w| w["run"]["lease_owner"].as_str()).collect();
    assert_eq!(owners.len(), 1, "{owners:?}");
    let rows = d.lambda.sql("SELECT version, statements_applied, success FROM app.aurora_migrate_history ORDER BY CAST(version AS UNSIGNED)");
    assert_eq!(rows, (1..=8).map(|v| format!("{v}\t1\t1")).collect::<Vec<_>>().join("\n"));
    for v in 1..=8 {
        assert_eq!(d.lambda.sql(&format!("SELECT COUNT(*) FROM app.s{v}")), "1");
    }

    // The same event delivered again starts nothing new and answers nothing more.
    let again = d.lambda.invoke(&event);
    assert!(
        matches!(&again, Outcome::Response(v) if v["started"].is_string() || v["already_started"].is_string()),
        "{again:?}"
    );
    std::thread::sleep(Duration::from_secs(2));
    assert_eq!(d.lambda.puts().len(), 1, "a redelivered event got a second answer");
    assert_eq!(d.steps("plan").len(), 1, "a redelivered event started a second run");
    // The same RequestId with another input: Step Functions refuses the name; nothing starts either.
    let mut changed = event.clone();
    changed["ResourceProperties"]["Extra"] = json!("x");
    let refused = d.lambda.invoke(&changed);
    assert!(matches!(&refused, Outcome::Response(v) if v["already_started"].is_string()), "{refused:?}");
    assert_eq!((d.lambda.puts().len(), d.steps("plan").len()), (1, 1));

    // Delete is answered at once by the function itself, without the state machine.
    let mut delete = d.lambda.request("Delete", &d.lambda.hash(), None);
    delete["ResourceProperties"] = event["ResourceProperties"].clone();
    let answer = d.lambda.event(&delete);
    assert_eq!(answer["Status"], "SUCCESS", "{answer}");
    assert_eq!(d.steps("plan").len(), 1, "a Delete started the state machine");
    assert_eq!(
        d.lambda.sql("SELECT COUNT(*) FROM app.aurora_migrate_history"),
        "8",
        "Delete changed nothing"
    );
}

#[test]
fn a_deploy_whose_time_runs_out_answers_failed_once_before_the_execution_times_out() {
    if !node_ready("the budget") {
        return;
    }
    // 30 s at most: the work may take 17 s, the execution times out at 25 s; the scripts need 30 s.
    let props = json!({"timeoutSeconds": 3, "maxDurationSeconds": 30, "database": "app"});
    let d = Deploy::start(props, &[("AURORA_MIGRATE_DEADLINE_MARGIN_MS", "1000")], 1, slow_migrations(30, 1));
    let started = Instant::now();
    let (ended, answer) = d.deploy(&d.create(), Duration::from_secs(60));
    assert!(started.elapsed() < Duration::from_secs(25 + 2), "answered after {:?}", started.elapsed());
    assert_eq!(ended["status"], "SUCCEEDED", "the definition answered before its timeout: {ended}");
    assert_eq!(answer["Status"], "FAILED", "{answer}");
    let reason = answer["Reason"].as_str().expect("a reason");
    assert!(reason.contains("the deploy's time (maxDuration) ran out"), "{reason}");
    let applied: usize = d
        .lambda
        .sql("SELECT COUNT(*) FROM app.aurora_migrate_history WHERE success = 1")
        .parse()
        .expect("a count");
    assert!((5..30).contains(&applied), "{applied} applied within the budget");
    // Nothing more comes later.
    std::thread::sleep(Duration::from_secs(3));
    assert_eq!(d.lambda.puts().len(), 1);
}
