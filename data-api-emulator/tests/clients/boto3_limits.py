"""Checks the data-api-emulator's limits and modes with boto3's rds-data client.

Run by `cargo test` (tests/clients.rs) with DATA_API_ENDPOINT, DATA_API_CLUSTER_ARN and
DATA_API_SECRET_ARN set, against an emulator started with autocommit=0 transactions and
SQLState-shaped error messages. Exits 0 when every check passes, 1 otherwise.
"""

import time

from botocore.exceptions import ClientError

from boto3_common import CLUSTER, SECRET, X, check, client, code, control, expect_error, finish, run

MIB = 1024 * 1024


def count(table):
    return run(f"SELECT COUNT(*) FROM {table}")["records"][0][0]["longValue"]


client.execute_statement(resourceArn=CLUSTER, secretArn=SECRET, sql="CREATE DATABASE IF NOT EXISTS app")
run("CREATE TABLE t (id INT PRIMARY KEY, body LONGTEXT)")

# A request over 4 MiB is refused before anything runs.
big = [{"name": "b", "value": {"stringValue": "x" * (4 * MIB)}}]
e = expect_error("4 MiB request", ClientError, lambda: run("INSERT INTO t VALUES (1, :b)", parameters=big))
check("413 name", code(e) == "RequestEntityTooLargeException", code(e))
check("413", e is not None and e.response["ResponseMetadata"]["HTTPStatusCode"] == 413, e and e.response)
check("nothing ran", count("t") == 0)

# A response over 1 MiB is refused.
run("INSERT INTO t VALUES (1, REPEAT('a', 600000)), (2, REPEAT('b', 600000))")
e = expect_error("1 MiB response", X.DatabaseErrorException, lambda: run("SELECT body FROM t"))
check("size message", e is not None and e.response["Error"]["Message"] == "Database response exceeded size limit", e)

# SQL errors in the SQLState shape.
e = expect_error("missing table", X.DatabaseErrorException, lambda: run("SELECT * FROM missing"))
check("sqlstate message",
      e is not None and e.response["Error"]["Message"] == "Table 'app.missing' doesn't exist; Error code: 1146; SQLState: 42S02",
      e and e.response["Error"])

# autocommit=0 transactions: a rollback after DDL undoes what came after it.
tx = client.begin_transaction(resourceArn=CLUSTER, secretArn=SECRET, database="app")["transactionId"]
run("CREATE TABLE u (v INT)", transactionId=tx)
run("INSERT INTO u VALUES (1)", transactionId=tx)
client.rollback_transaction(resourceArn=CLUSTER, secretArn=SECRET, transactionId=tx)
check("autocommit=0 rollback after DDL", count("u") == 0, count("u"))

# SecretsErrorException as a fault.
control("POST", "/_emulator/faults", {"fault": "secrets_error"})
expect_error("secrets error", X.SecretsErrorException, lambda: run("INSERT INTO u VALUES (2)"))
check("secrets error ran nothing", count("u") == 0)

# A StatementTimeoutException without dbConnectionId; the statement runs on.
control("POST", "/_emulator/faults", {"fault": "timeout_without_connection_id", "delay_ms": 200})
e = expect_error("timeout without id", X.StatementTimeoutException,
                 lambda: run("INSERT INTO u SELECT SLEEP(1)", continueAfterTimeout=True))
check("no dbConnectionId", e is not None and "dbConnectionId" not in e.response, e and e.response)
time.sleep(1.5)
check("the statement finished", count("u") == 1, count("u"))

finish("boto3 limit checks")
