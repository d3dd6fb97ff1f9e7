//! The `data-api-emulator` binary: prints the bound address as one line a script can read, serves,
//! and exits 0 on SIGTERM.

use std::io::{BufRead, BufReader, Read, Write};
use std::process::{Command, Stdio};

#[test]
fn the_binary_prints_its_address_serves_and_stops_on_sigterm() {
    let mut child = Command::new(env!("CARGO_BIN_EXE_data-api-emulator"))
        .args([
            "--bind",
            "127.0.0.1:0",
            "--cluster",
            "arn:aws:rds:us-east-1:123456789012:cluster:c=mysql://127.0.0.1:1",
            "--secret",
            r#"arn:aws:secretsmanager:us-east-1:123456789012:secret:s-AbCdEf={"username":"u","password":"p"}"#,
            "--control",
        ])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("starts");
    let mut line = String::new();
    BufReader::new(child.stdout.take().expect("stdout")).read_line(&mut line).expect("reads a line");
    let addr = line
        .trim()
        .strip_prefix("listening on http://")
        .unwrap_or_else(|| panic!("unexpected line {line:?}"));

    // The control endpoint answers.
    let mut stream = std::net::TcpStream::connect(addr).expect("connects");
    write!(stream, "GET /_emulator/counters HTTP/1.1\r\nhost: x\r\nconnection: close\r\n\r\n")
        .expect("writes");
    let mut response = String::new();
    stream.read_to_string(&mut response).expect("reads");
    assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    assert!(response.contains("\"ExecuteStatement\":0"), "{response}");

    let status = Command::new("kill").args(["-TERM", &child.id().to_string()]).status().expect("kill runs");
    assert!(status.success());
    let exit = child.wait().expect("exits");
    assert!(exit.success(), "exit status {exit}");
}

#[test]
fn a_malformed_secret_is_refused_with_exit_status_1() {
    let output = Command::new(env!("CARGO_BIN_EXE_data-api-emulator"))
        .args(["--bind", "127.0.0.1:0", "--cluster", "c=mysql://127.0.0.1:1", "--secret", "s=not json"])
        .output()
        .expect("runs");
    assert_eq!(output.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&output.stderr).contains("secret s"), "{output:?}");
}
