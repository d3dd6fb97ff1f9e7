// Checks the data-api-emulator's limits and modes with the AWS JS SDK v3 client. Run by `cargo test`
// (tests/clients.rs) with DATA_API_ENDPOINT, DATA_API_CLUSTER_ARN and DATA_API_SECRET_ARN set,
// against an emulator started with autocommit=0 transactions and SQLState-shaped error messages.
// Exits 0 when every check passes, 1 otherwise.
import {
  RDSDataClient, ExecuteStatementCommand, BeginTransactionCommand, RollbackTransactionCommand,
  DatabaseErrorException, SecretsErrorException, StatementTimeoutException,
} from "@aws-sdk/client-rds-data";

const endpoint = process.env.DATA_API_ENDPOINT;
const resourceArn = process.env.DATA_API_CLUSTER_ARN;
const secretArn = process.env.DATA_API_SECRET_ARN;
const MIB = 1024 * 1024;
const client = new RDSDataClient({
  endpoint, region: "us-east-1", maxAttempts: 1,
  credentials: { accessKeyId: "test", secretAccessKey: "test" },
});
const failures = [];
const check = (label, ok, detail = "") => { if (!ok) failures.push(`${label}: ${JSON.stringify(detail)}`); };
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const run = (sql, extra = {}) =>
  client.send(new ExecuteStatementCommand({ resourceArn, secretArn, database: "app", sql, ...extra }));
async function expectError(label, test, promise) {
  try { await promise; } catch (e) {
    if (test(e)) return e;
    failures.push(`${label}: unexpected ${e.name}: ${e.message}`);
    return null;
  }
  failures.push(`${label}: expected an error, got success`);
  return null;
}
const count = async (table) => (await run(`SELECT COUNT(*) FROM ${table}`)).records[0][0].longValue;
const fault = (body) => fetch(endpoint + "/_emulator/faults",
  { method: "POST", body: JSON.stringify(body), headers: { "content-type": "application/json" } });

await client.send(new ExecuteStatementCommand({ resourceArn, secretArn, sql: "CREATE DATABASE IF NOT EXISTS app" }));
await run("CREATE TABLE t (id INT PRIMARY KEY, body LONGTEXT)");

// A request over 4 MiB is refused before anything runs.
let e = await expectError("4 MiB request", (e) => e.name === "RequestEntityTooLargeException",
  run("INSERT INTO t VALUES (1, :b)", { parameters: [{ name: "b", value: { stringValue: "x".repeat(4 * MIB) } }] }));
check("413", e && e.$metadata?.httpStatusCode === 413, e && e.$metadata);
check("nothing ran", (await count("t")) === 0);

// A response over 1 MiB is refused.
await run("INSERT INTO t VALUES (1, REPEAT('a', 600000)), (2, REPEAT('b', 600000))");
e = await expectError("1 MiB response", (e) => e instanceof DatabaseErrorException, run("SELECT body FROM t"));
check("size message", e && e.message === "Database response exceeded size limit", e && e.message);

// SQL errors in the SQLState shape.
e = await expectError("missing table", (e) => e instanceof DatabaseErrorException, run("SELECT * FROM missing"));
check("sqlstate message", e && e.message === "Table 'app.missing' doesn't exist; Error code: 1146; SQLState: 42S02",
  e && e.message);

// autocommit=0 transactions: a rollback after DDL undoes what came after it.
const tx = (await client.send(new BeginTransactionCommand({ resourceArn, secretArn, database: "app" }))).transactionId;
await run("CREATE TABLE u (v INT)", { transactionId: tx });
await run("INSERT INTO u VALUES (1)", { transactionId: tx });
await client.send(new RollbackTransactionCommand({ resourceArn, secretArn, transactionId: tx }));
check("autocommit=0 rollback after DDL", (await count("u")) === 0);

// SecretsErrorException as a fault.
await fault({ fault: "secrets_error" });
await expectError("secrets error", (e) => e instanceof SecretsErrorException, run("INSERT INTO u VALUES (2)"));
check("secrets error ran nothing", (await count("u")) === 0);

// A StatementTimeoutException without dbConnectionId; the statement runs on.
await fault({ fault: "timeout_without_connection_id", delay_ms: 200 });
e = await expectError("timeout without id", (e) => e instanceof StatementTimeoutException,
  run("INSERT INTO u SELECT SLEEP(1)", { continueAfterTimeout: true }));
check("no dbConnectionId", e && e.dbConnectionId === undefined, e && e.dbConnectionId);
await sleep(1500);
check("the statement finished", (await count("u")) === 1);

if (failures.length) {
  console.log("JS SDK limit checks failed:\n  " + failures.join("\n  "));
  process.exit(1);
}
console.log("JS SDK limit checks passed");
