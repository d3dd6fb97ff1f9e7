"""What the boto3 checks share: the rds-data client for the emulator named by DATA_API_ENDPOINT,
DATA_API_CLUSTER_ARN and DATA_API_SECRET_ARN (retries off), failure collection and helpers.
"""

import json
import os
import sys
import urllib.request

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["DATA_API_ENDPOINT"]
CLUSTER = os.environ["DATA_API_CLUSTER_ARN"]
SECRET = os.environ["DATA_API_SECRET_ARN"]

client = boto3.client(
    "rds-data",
    endpoint_url=ENDPOINT,
    region_name="us-east-1",
    aws_access_key_id="test",
    aws_secret_access_key="test",
    config=Config(retries={"total_max_attempts": 1}),
)
X = client.exceptions
failures = []


def check(label, condition, detail=""):
    if not condition:
        failures.append(f"{label}: {detail}")


def run(sql, **kw):
    args = {"resourceArn": CLUSTER, "secretArn": SECRET, "database": "app", "sql": sql}
    args.update(kw)
    return client.execute_statement(**args)


def expect_error(label, exc_class, fn):
    try:
        fn()
    except exc_class as e:
        return e
    except Exception as e:  # noqa: BLE001 - report what came instead
        failures.append(f"{label}: expected {exc_class.__name__}, got {type(e).__name__}: {e}")
        return None
    failures.append(f"{label}: expected {exc_class.__name__}, got success")
    return None


def code(e):
    return e.response["Error"]["Code"] if e is not None else None


def control(method, path, body=None):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(ENDPOINT + path, data=data, method=method,
                                 headers={"content-type": "application/json"})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read() or b"null")


def finish(what):
    """Prints the failures and exits 1, or says that every check passed."""
    if failures:
        print(f"{what} failed:\n  " + "\n  ".join(failures))
        sys.exit(1)
    print(f"{what} passed")
