"""Checks the data-api-emulator with boto3's rds-data client.

Run by `cargo test` (tests/clients.rs) with DATA_API_ENDPOINT, DATA_API_CLUSTER_ARN and
DATA_API_SECRET_ARN set; the emulator's call timeout and transaction idle timeout are 1 second.
Exits 0 when every check passes, 1 otherwise (printing what failed).
"""

import json
import threading
import time

from botocore.exceptions import ClientError

from boto3_common import CLUSTER, SECRET, X, check, client, code, control, expect_error, finish, run

client.execute_statement(resourceArn=CLUSTER, secretArn=SECRET, sql="CREATE DATABASE IF NOT EXISTS app")
run("CREATE TABLE every_type (i_tiny TINYINT, i_big BIGINT, u_big BIGINT UNSIGNED, d DECIMAL(10,3), "
    "f FLOAT, db DOUBLE, c CHAR(3), vc VARCHAR(20), tx TEXT, e ENUM('a','b'), s SET('x','y'), "
    "bn BINARY(2), bl BLOB, dt DATE, tm TIME, dtm DATETIME(6), ts TIMESTAMP NULL, j JSON, bt BIT(1), "
    "b1 TINYINT(1), n INT NULL)")
run("INSERT INTO every_type VALUES (-128, -9223372036854775808, 18446744073709551615, -12.345, 1.5, "
    "2.25, 'abc', 'héllo', 'long text', 'b', 'x,y', X'0102', X'00FF', '2024-02-29', '-12:34:56', "
    "'2024-02-29 13:14:15.123456', '2024-02-29 13:14:15', '[1, 2]', b'1', 1, NULL)")

# A SELECT of every type.
out = run("SELECT * FROM every_type", includeResultMetadata=True)
expected = [
    {"longValue": -128}, {"longValue": -9223372036854775808}, {"stringValue": "18446744073709551615"},
    {"stringValue": "-12.345"}, {"doubleValue": 1.5}, {"doubleValue": 2.25}, {"stringValue": "abc"},
    {"stringValue": "héllo"}, {"stringValue": "long text"}, {"stringValue": "b"}, {"stringValue": "x,y"},
    {"blobValue": b"\x01\x02"}, {"blobValue": b"\x00\xff"}, {"stringValue": "2024-02-29"},
    {"stringValue": "-12:34:56"}, {"stringValue": "2024-02-29 13:14:15.123456"},
    {"stringValue": "2024-02-29 13:14:15"}, {"stringValue": "[1, 2]"}, {"booleanValue": True},
    {"booleanValue": True}, {"isNull": True},
]
check("every type", out["records"] == [expected], out.get("records"))
names = [m["name"] for m in out["columnMetadata"]]
check("column metadata", names[:3] == ["i_tiny", "i_big", "u_big"], names)
check("column type name", out["columnMetadata"][2]["typeName"] == "BIGINT UNSIGNED", out["columnMetadata"][2])
out = run("SELECT vc, n FROM every_type", formatRecordsAs="JSON")
check("formattedRecords", json.loads(out["formattedRecords"]) == [{"vc": "héllo", "n": None}], out)

# Parameters with each type hint.
run("CREATE TABLE typed (dt DATE, tm TIME(3), ts DATETIME(3), d DECIMAL(12,4), j JSON, u CHAR(36), "
    "s VARCHAR(40), l BIGINT, f DOUBLE, b TINYINT(1), bl BLOB, n INT)")
params = [
    {"name": "dt", "value": {"stringValue": "2024-01-31"}, "typeHint": "DATE"},
    {"name": "tm", "value": {"stringValue": "23:59:58.125"}, "typeHint": "TIME"},
    {"name": "ts", "value": {"stringValue": "2024-01-31 23:59:58.125"}, "typeHint": "TIMESTAMP"},
    {"name": "d", "value": {"stringValue": "12345678.1234"}, "typeHint": "DECIMAL"},
    {"name": "j", "value": {"stringValue": "{\"k\": 1}"}, "typeHint": "JSON"},
    {"name": "u", "value": {"stringValue": "6f9619ff-8b86-d011-b42d-00c04fc964ff"}, "typeHint": "UUID"},
    {"name": "s", "value": {"stringValue": "it's \\ fine"}},
    {"name": "l", "value": {"longValue": 42}},
    {"name": "f", "value": {"doubleValue": -0.5}},
    {"name": "b", "value": {"booleanValue": False}},
    {"name": "bl", "value": {"blobValue": b"\x00'\\"}},
    {"name": "n", "value": {"isNull": True}},
]
run("INSERT INTO typed VALUES (:dt, :tm, :ts, :d, :j, :u, :s, :l, :f, :b, :bl, :n)", parameters=params)
out = run("SELECT * FROM typed")
check("typed parameters", out["records"] == [[
    {"stringValue": "2024-01-31"}, {"stringValue": "23:59:58.125"}, {"stringValue": "2024-01-31 23:59:58.125"},
    {"stringValue": "12345678.1234"}, {"stringValue": "{\"k\": 1}"},
    {"stringValue": "6f9619ff-8b86-d011-b42d-00c04fc964ff"}, {"stringValue": "it's \\ fine"},
    {"longValue": 42}, {"doubleValue": -0.5}, {"booleanValue": False}, {"blobValue": b"\x00'\\"},
    {"isNull": True},
]], out["records"])

# generatedFields.
run("CREATE TABLE items (id INT AUTO_INCREMENT PRIMARY KEY, v INT)")
out = run("INSERT INTO items (v) VALUES (:v)", parameters=[{"name": "v", "value": {"longValue": 7}}])
check("generatedFields", out["generatedFields"] == [{"longValue": 1}] and out["numberOfRecordsUpdated"] == 1, out)
out = client.batch_execute_statement(resourceArn=CLUSTER, secretArn=SECRET, database="app",
                                     sql="INSERT INTO items (v) VALUES (:v)",
                                     parameterSets=[[{"name": "v", "value": {"longValue": 8}}],
                                                    [{"name": "v", "value": {"longValue": 9}}]])
check("updateResults", out["updateResults"] == [{"generatedFields": [{"longValue": 2}]},
                                                {"generatedFields": [{"longValue": 3}]}], out)

# Commit and rollback, checked from another connection (a call outside the transaction).
def count_items():
    return run("SELECT COUNT(*) FROM items")["records"][0][0]["longValue"]

def begin():
    return client.begin_transaction(resourceArn=CLUSTER, secretArn=SECRET, database="app")["transactionId"]

tx = begin()
run("INSERT INTO items (v) VALUES (10)", transactionId=tx)
check("uncommitted is invisible", count_items() == 3)
out = client.commit_transaction(resourceArn=CLUSTER, secretArn=SECRET, transactionId=tx)
check("commit status", out["transactionStatus"] == "Transaction Committed", out)
check("committed is visible", count_items() == 4)
tx = begin()
run("INSERT INTO items (v) VALUES (11)", transactionId=tx)
out = client.rollback_transaction(resourceArn=CLUSTER, secretArn=SECRET, transactionId=tx)
check("rollback status", out["transactionStatus"] == "Rollback Complete", out)
check("rolled back is gone", count_items() == 4)

# Expiry (idle timeout 1 s).
tx = begin()
run("INSERT INTO items (v) VALUES (12)", transactionId=tx)
time.sleep(2.5)
expect_error("expired transaction", X.TransactionNotFoundException,
             lambda: client.commit_transaction(resourceArn=CLUSTER, secretArn=SECRET, transactionId=tx))
check("expired is rolled back", count_items() == 4)

# Timeouts (call timeout 1 s).
run("CREATE TABLE slow (v INT)")
e = expect_error("timeout", X.StatementTimeoutException, lambda: run("INSERT INTO slow SELECT SLEEP(2)"))
check("dbConnectionId", e is not None and e.response.get("dbConnectionId", 0) > 0, e and e.response)
time.sleep(1.5)
check("timed-out statement was stopped", run("SELECT COUNT(*) FROM slow")["records"][0][0]["longValue"] == 0)
expect_error("timeout, continue", X.StatementTimeoutException,
             lambda: run("INSERT INTO slow SELECT SLEEP(1.5)", continueAfterTimeout=True))
time.sleep(1.5)
check("continued statement finished", run("SELECT COUNT(*) FROM slow")["records"][0][0]["longValue"] == 1)

# Every error.
e = expect_error("sql error", X.DatabaseErrorException, lambda: run("SELECT * FROM missing"))
check("sql error message", e is not None and "Database error code: 1146" in str(e), e)
e = expect_error("multi-statement", ClientError, lambda: run("SELECT 1; SELECT 2"))
check("multi-statement code", code(e) == "ValidationException", code(e))
e = expect_error("schema", ClientError, lambda: run("SELECT 1", schema="app"))
check("schema code", code(e) == "ValidationException", code(e))
e = expect_error("sql too long", ClientError, lambda: run("SELECT '" + "x" * 65536 + "'"))
check("sql too long code", code(e) == "ValidationException", code(e))
expect_error("unknown cluster", X.BadRequestException,
             lambda: run("SELECT 1", resourceArn="arn:aws:rds:us-east-1:123456789012:cluster:nope"))
expect_error("unknown secret", X.SecretsErrorException,
             lambda: run("SELECT 1", secretArn="arn:aws:secretsmanager:us-east-1:1:secret:nope-AbCdEf"))
expect_error("unknown transaction", X.TransactionNotFoundException,
             lambda: run("SELECT 1", transactionId="bm9wZQ=="))
tx = begin()
busy = threading.Thread(target=lambda: run("SELECT SLEEP(0.8)", transactionId=tx))
busy.start()
time.sleep(0.3)
e = expect_error("busy transaction", X.DatabaseErrorException, lambda: run("SELECT 1", transactionId=tx))
check("busy message", e is not None and "Transaction is still running a query" in str(e), e)
busy.join()
client.rollback_transaction(resourceArn=CLUSTER, secretArn=SECRET, transactionId=tx)

# Injected faults.
control("POST", "/_emulator/faults", {"fault": "resuming", "count": 1})
expect_error("resuming", X.DatabaseResumingException, lambda: run("SELECT 1"))
control("POST", "/_emulator/faults", {"fault": "unavailable", "count": 1})
e = expect_error("503", X.ServiceUnavailableError, lambda: run("SELECT 1"))
check("503 status", e is not None and e.response["ResponseMetadata"]["HTTPStatusCode"] == 503, e and e.response)
check("counters", control("GET", "/_emulator/counters")["BeginTransaction"] >= 4)

finish("boto3 checks")
