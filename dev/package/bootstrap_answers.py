#!/usr/bin/env python3
"""Runs a packaged Lambda bootstrap (the zip as shipped) under a local stand-in of the Lambda runtime
API and sends it a CloudFormation Create event, then a failing manual command and a good one.

The stand-in implements what a custom runtime uses (GET .../invocation/next, POST .../response and
.../error, POST .../init/error); a second server stands in for the pre-signed S3 ResponseURL. The
function talks to a throwaway MariaDB through the project's Data API emulator, both started by the
caller (dev/test-package), which passes the endpoint, ARNs and scripts folder.

Usage: bootstrap_answers.py ZIP ARCH SCRIPTS_DIR CONTENT_HASH VERSION EXPECT_VERSION_KEY
  ARCH arm64 runs under qemu-aarch64. EXPECT_VERSION_KEY is 1 when the function must report its
  version in Data (the Rust side has DATA_VERSION), 0 when that is not built yet.
Environment: AURORA_MIGRATE_RESOURCE_ARN, AURORA_MIGRATE_SECRET_ARN, AURORA_MIGRATE_ENDPOINT_URL,
AURORA_MIGRATE_DATABASE. Exits non-zero with a message on the first wrong answer.
"""
import json
import os
import queue
import subprocess
import sys
import tempfile
import threading
import time
import zipfile
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

zip_path, arch, scripts, content_hash, version, expect_version_key = sys.argv[1:7]

invocations = queue.Queue()  # (request id, payload) waiting for GET .../next
outcomes = {}  # request id -> ("response" | "error", body, error-type header)
puts = []  # bodies PUT to the response URL
init_errors = []
lock = threading.Condition()


class RuntimeApi(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"

    def log_message(self, *args):
        pass

    def reply(self, status, body=b"", headers=()):
        self.send_response(status)
        for k, v in headers:
            self.send_header(k, v)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def body(self):
        return self.rfile.read(int(self.headers.get("Content-Length", "0") or 0))

    def do_GET(self):
        if self.path != "/2018-06-01/runtime/invocation/next":
            return self.reply(404)
        request_id, payload = invocations.get()
        deadline = int((time.time() + 120) * 1000)
        self.reply(200, payload.encode(), [
            ("Lambda-Runtime-Aws-Request-Id", request_id),
            ("Lambda-Runtime-Deadline-Ms", str(deadline)),
            ("Lambda-Runtime-Invoked-Function-Arn", "arn:aws:lambda:us-east-1:123456789012:function:migrate"),
            ("Lambda-Runtime-Trace-Id", "Root=1-5759e988-bd862e3fe1be46a994272793"),
            ("Content-Type", "application/json"),
        ])

    def do_POST(self):
        body = self.body()
        parts = self.path.split("/")
        if self.path == "/2018-06-01/runtime/init/error":
            init_errors.append(body)
            return self.reply(202, b"{}")
        if len(parts) == 6 and parts[3] == "invocation" and parts[5] in ("response", "error"):
            with lock:
                outcomes[parts[4]] = (parts[5], body, self.headers.get("Lambda-Runtime-Function-Error-Type"))
                lock.notify_all()
            return self.reply(202, b'{"status":"OK"}')
        self.reply(404)

    def do_PUT(self):  # the S3 stand-in shares the server: PUT only ever comes to the response URL
        with lock:
            puts.append(self.body())
            lock.notify_all()
        self.reply(200)


class Server(ThreadingHTTPServer):
    daemon_threads = True

    def handle_error(self, request, client_address):
        pass  # the function's long poll is cut when it is killed at the end


server = Server(("127.0.0.1", 0), RuntimeApi)
threading.Thread(target=server.serve_forever, daemon=True).start()
api = f"127.0.0.1:{server.server_address[1]}"

work = tempfile.mkdtemp(prefix="aurora-migrate-bootstrap-")
with zipfile.ZipFile(zip_path) as z:
    names = z.namelist()
    if names != ["bootstrap"]:
        sys.exit(f"{zip_path}: expected exactly one entry `bootstrap`, found {names}")
    z.extract("bootstrap", work)
bootstrap = os.path.join(work, "bootstrap")
os.chmod(bootstrap, 0o755)
command = [bootstrap]
if arch == "arm64":
    command = ["qemu-aarch64", "-L", "/usr/aarch64-linux-gnu", bootstrap]

env = {
    "PATH": "/usr/bin:/bin",
    "AWS_LAMBDA_RUNTIME_API": api,
    "AWS_LAMBDA_FUNCTION_NAME": "migrate",
    "AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "256",
    "AWS_LAMBDA_FUNCTION_VERSION": "$LATEST",
    "AWS_LAMBDA_LOG_FORMAT": "JSON",
    "AWS_ACCESS_KEY_ID": "test",
    "AWS_SECRET_ACCESS_KEY": "test",
    "AWS_REGION": "us-east-1",
    "AURORA_MIGRATE_MIGRATIONS_DIR": scripts,
}
for key in ("AURORA_MIGRATE_RESOURCE_ARN", "AURORA_MIGRATE_SECRET_ARN", "AURORA_MIGRATE_ENDPOINT_URL", "AURORA_MIGRATE_DATABASE"):
    env[key] = os.environ[key]
function = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL)
next_id = [0]


def invoke(payload, wait_put=False, timeout=120):
    """Queues one invocation; returns its outcome (and the new PUT body when wait_put)."""
    next_id[0] += 1
    request_id = f"req-{next_id[0]}"
    seen_puts = len(puts)
    invocations.put((request_id, json.dumps(payload)))
    end = time.time() + timeout
    with lock:
        while request_id not in outcomes or (wait_put and len(puts) == seen_puts):
            if function.poll() is not None:
                sys.exit(f"{arch}: the bootstrap exited with {function.returncode}; init errors: {init_errors}")
            if time.time() > end:
                sys.exit(f"{arch}: no answer to {payload} within {timeout} s")
            lock.wait(0.5)
        return outcomes[request_id], (json.loads(puts[-1]) if wait_put else None)


def check(condition, what):
    if not condition:
        sys.exit(f"{arch}: {what}")


try:
    started = time.time()
    event = {
        "RequestType": "Create",
        "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:migrate",
        "ResponseURL": f"http://{api}/cloudformation-response",
        "StackId": "arn:aws:cloudformation:us-east-1:123456789012:stack/shop/1",
        "RequestId": "cfn-1",
        "LogicalResourceId": "Migrations",
        "ResourceType": "Custom::AuroraMigrations",
        "ResourceProperties": {
            "ServiceToken": "arn:aws:lambda:us-east-1:123456789012:function:migrate",
            "ContentHash": content_hash,
            "ExpectedVersion": version,
        },
    }
    _, answer = invoke(event, wait_put=True)
    check(answer.get("Status") == "SUCCESS", f"Create answered {answer}")
    data = answer.get("Data", {})
    newest = sorted(os.listdir(scripts))[-1].split("__")[0].lstrip("V")
    check(data.get("CurrentVersion") == newest, f"CurrentVersion {data.get('CurrentVersion')!r}, want {newest!r}: {answer}")
    check(data.get("ContentHash") == content_hash, f"Data.ContentHash {data.get('ContentHash')!r}, want {content_hash}")
    if expect_version_key == "1":
        check(data.get("Version") == version, f"Data.Version {data.get('Version')!r}, want {version}")
    print(f"{arch}: Create answered SUCCESS, CurrentVersion {newest}, in {time.time() - started:.1f} s", file=sys.stderr)

    (kind, body, _), _ = invoke({"command": "status"})
    check(kind == "response", f"status gave a function error: {body[:300]!r}")
    print(f"{arch}: manual status answered without a function error", file=sys.stderr)
    (kind, body, error_type), _ = invoke({"command": "no-such-command"})
    check(kind == "error", f"an unknown command answered normally: {body[:300]!r}")
    print(f"{arch}: an unknown manual command gave a function error ({error_type or json.loads(body).get('errorType')})", file=sys.stderr)
finally:
    function.kill()
    function.wait()
    server.shutdown()
