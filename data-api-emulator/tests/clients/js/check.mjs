// Checks the data-api-emulator with the official AWS JS SDK v3 client (@aws-sdk/client-rds-data).
// Run by `cargo test` (tests/clients.rs) with DATA_API_ENDPOINT, DATA_API_CLUSTER_ARN and
// DATA_API_SECRET_ARN set; the emulator's call timeout and transaction idle timeout are 1 second.
// Exits 0 when every check passes, 1 otherwise (printing what failed).
import {
  RDSDataClient, ExecuteStatementCommand, BatchExecuteStatementCommand, BeginTransactionCommand,
  CommitTransactionCommand, RollbackTransactionCommand, DatabaseErrorException, BadRequestException,
  StatementTimeoutException, TransactionNotFoundException, SecretsErrorException,
  DatabaseResumingException, ServiceUnavailableError,
} from "@aws-sdk/client-rds-data";
import { deepStrictEqual } from "node:assert";

const endpoint = process.env.DATA_API_ENDPOINT;
const resourceArn = process.env.DATA_API_CLUSTER_ARN;
const secretArn = process.env.DATA_API_SECRET_ARN;
const client = new RDSDataClient({
  endpoint, region: "us-east-1", maxAttempts: 1,
  credentials: { accessKeyId: "test", secretAccessKey: "test" },
});
const failures = [];
const check = (label, ok, detail = "") => { if (!ok) failures.push(`${label}: ${JSON.stringify(detail)}`); };
const same = (label, actual, expected) => {
  try { deepStrictEqual(actual, expected); } catch { failures.push(`${label}: got ${JSON.stringify(actual)}`); }
};
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const run = (sql, extra = {}) =>
  client.send(new ExecuteStatementCommand({ resourceArn, secretArn, database: "app", sql, ...extra }));
async function expectError(label, cls, promise) {
  try { await promise; } catch (e) {
    if (cls === null || e instanceof cls) return e;
    failures.push(`${label}: expected ${cls.name}, got ${e.name}: ${e.message}`);
    return null;
  }
  failures.push(`${label}: expected ${cls ? cls.name : "an error"}, got success`);
  return null;
}
const control = async (method, path, body) => {
  const r = await fetch(endpoint + path, { method, body: body && JSON.stringify(body), headers: { "content-type": "application/json" } });
  return r.json();
};

await client.send(new ExecuteStatementCommand({ resourceArn, secretArn, sql: "CREATE DATABASE IF NOT EXISTS app" }));
await run("CREATE TABLE every_type (i_tiny TINYINT, i_big BIGINT, u_big BIGINT UNSIGNED, d DECIMAL(10,3), " +
  "f FLOAT, db DOUBLE, c CHAR(3), vc VARCHAR(20), tx TEXT, e ENUM('a','b'), s SET('x','y'), bn BINARY(2), " +
  "bl BLOB, dt DATE, tm TIME, dtm DATETIME(6), ts TIMESTAMP NULL, j JSON, bt BIT(1), b1 TINYINT(1), n INT NULL)");
await run("INSERT INTO every_type VALUES (-128, -9007199254740991, 18446744073709551615, -12.345, 1.5, 2.25, " +
  "'abc', 'héllo', 'long text', 'b', 'x,y', X'0102', X'00FF', '2024-02-29', '-12:34:56', " +
  "'2024-02-29 13:14:15.123456', '2024-02-29 13:14:15', '[1, 2]', b'1', 1, NULL)");

// A SELECT of every type.
let out = await run("SELECT * FROM every_type", { includeResultMetadata: true });
same("every type", out.records, [[
  { longValue: -128 }, { longValue: -9007199254740991 }, { stringValue: "18446744073709551615" },
  { stringValue: "-12.345" }, { doubleValue: 1.5 }, { doubleValue: 2.25 }, { stringValue: "abc" },
  { stringValue: "héllo" }, { stringValue: "long text" }, { stringValue: "b" }, { stringValue: "x,y" },
  { blobValue: new Uint8Array([1, 2]) }, { blobValue: new Uint8Array([0, 255]) }, { stringValue: "2024-02-29" },
  { stringValue: "-12:34:56" }, { stringValue: "2024-02-29 13:14:15.123456" }, { stringValue: "2024-02-29 13:14:15" },
  { stringValue: "[1, 2]" }, { booleanValue: true }, { booleanValue: true }, { isNull: true },
]]);
check("column metadata", out.columnMetadata?.[2]?.typeName === "BIGINT UNSIGNED", out.columnMetadata?.[2]);
out = await run("SELECT vc, n FROM every_type", { formatRecordsAs: "JSON" });
same("formattedRecords", JSON.parse(out.formattedRecords), [{ vc: "héllo", n: null }]);

// Parameters with each type hint.
await run("CREATE TABLE typed (dt DATE, tm TIME(3), ts DATETIME(3), d DECIMAL(12,4), j JSON, u CHAR(36), " +
  "s VARCHAR(40), l BIGINT, f DOUBLE, b TINYINT(1), bl BLOB, n INT)");
await run("INSERT INTO typed VALUES (:dt, :tm, :ts, :d, :j, :u, :s, :l, :f, :b, :bl, :n)", {
  parameters: [
    { name: "dt", value: { stringValue: "2024-01-31" }, typeHint: "DATE" },
    { name: "tm", value: { stringValue: "23:59:58.125" }, typeHint: "TIME" },
    { name: "ts", value: { stringValue: "2024-01-31 23:59:58.125" }, typeHint: "TIMESTAMP" },
    { name: "d", value: { stringValue: "12345678.1234" }, typeHint: "DECIMAL" },
    { name: "j", value: { stringValue: "{\"k\": 1}" }, typeHint: "JSON" },
    { name: "u", value: { stringValue: "6f9619ff-8b86-d011-b42d-00c04fc964ff" }, typeHint: "UUID" },
    { name: "s", value: { stringValue: "it's \\ fine" } },
    { name: "l", value: { longValue: 42 } },
    { name: "f", value: { doubleValue: -0.5 } },
    { name: "b", value: { booleanValue: true } },
    { name: "bl", value: { blobValue: new Uint8Array([0, 39, 92]) } },
    { name: "n", value: { isNull: true } },
  ],
});
out = await run("SELECT * FROM typed");
same("typed parameters", out.records, [[
  { stringValue: "2024-01-31" }, { stringValue: "23:59:58.125" }, { stringValue: "2024-01-31 23:59:58.125" },
  { stringValue: "12345678.1234" }, { stringValue: "{\"k\": 1}" }, { stringValue: "6f9619ff-8b86-d011-b42d-00c04fc964ff" },
  { stringValue: "it's \\ fine" }, { longValue: 42 }, { doubleValue: -0.5 }, { booleanValue: true },
  { blobValue: new Uint8Array([0, 39, 92]) }, { isNull: true },
]]);

// generatedFields.
await run("CREATE TABLE items (id INT AUTO_INCREMENT PRIMARY KEY, v INT)");
out = await run("INSERT INTO items (v) VALUES (:v)", { parameters: [{ name: "v", value: { longValue: 7 } }] });
same("generatedFields", [out.generatedFields, out.numberOfRecordsUpdated], [[{ longValue: 1 }], 1]);
out = await client.send(new BatchExecuteStatementCommand({
  resourceArn, secretArn, database: "app", sql: "INSERT INTO items (v) VALUES (:v)",
  parameterSets: [[{ name: "v", value: { longValue: 8 } }], [{ name: "v", value: { longValue: 9 } }]],
}));
same("updateResults", out.updateResults, [{ generatedFields: [{ longValue: 2 }] }, { generatedFields: [{ longValue: 3 }] }]);

// Commit and rollback, checked from another connection (a call outside the transaction).
const countItems = async () => (await run("SELECT COUNT(*) FROM items")).records[0][0].longValue;
const begin = async () => (await client.send(new BeginTransactionCommand({ resourceArn, secretArn, database: "app" }))).transactionId;
let tx = await begin();
await run("INSERT INTO items (v) VALUES (10)", { transactionId: tx });
check("uncommitted is invisible", (await countItems()) === 3);
out = await client.send(new CommitTransactionCommand({ resourceArn, secretArn, transactionId: tx }));
check("commit status", out.transactionStatus === "Transaction Committed", out);
check("committed is visible", (await countItems()) === 4);
tx = await begin();
await run("INSERT INTO items (v) VALUES (11)", { transactionId: tx });
out = await client.send(new RollbackTransactionCommand({ resourceArn, secretArn, transactionId: tx }));
check("rollback status", out.transactionStatus === "Rollback Complete", out);
check("rolled back is gone", (await countItems()) === 4);

// Expiry (idle timeout 1 s).
tx = await begin();
await run("INSERT INTO items (v) VALUES (12)", { transactionId: tx });
await sleep(2500);
await expectError("expired", TransactionNotFoundException,
  client.send(new CommitTransactionCommand({ resourceArn, secretArn, transactionId: tx })));
check("expired is rolled back", (await countItems()) === 4);

// Timeouts (call timeout 1 s).
await run("CREATE TABLE slow (v INT)");
const slowCount = async () => (await run("SELECT COUNT(*) FROM slow")).records[0][0].longValue;
let e = await expectError("timeout", StatementTimeoutException, run("INSERT INTO slow SELECT SLEEP(2)"));
check("dbConnectionId", e && e.dbConnectionId > 0, e && e.dbConnectionId);
await sleep(1500);
check("timed-out statement was stopped", (await slowCount()) === 0);
await expectError("timeout, continue", StatementTimeoutException,
  run("INSERT INTO slow SELECT SLEEP(1.5)", { continueAfterTimeout: true }));
await sleep(1500);
check("continued statement finished", (await slowCount()) === 1);

// Every error.
e = await expectError("sql error", DatabaseErrorException, run("SELECT * FROM missing"));
check("sql error message", e && e.message.includes("Database error code: 1146"), e && e.message);
e = await expectError("multi-statement", null, run("SELECT 1; SELECT 2"));
check("multi-statement name", e && e.name === "ValidationException", e && e.name);
e = await expectError("schema", null, run("SELECT 1", { schema: "app" }));
check("schema name", e && e.name === "ValidationException", e && e.name);
e = await expectError("sql too long", null, run("SELECT '" + "x".repeat(65536) + "'"));
check("sql too long name", e && e.name === "ValidationException", e && e.name);
await expectError("unknown cluster", BadRequestException,
  run("SELECT 1", { resourceArn: "arn:aws:rds:us-east-1:123456789012:cluster:nope" }));
await expectError("unknown secret", SecretsErrorException,
  run("SELECT 1", { secretArn: "arn:aws:secretsmanager:us-east-1:1:secret:nope-AbCdEf" }));
await expectError("unknown transaction", TransactionNotFoundException, run("SELECT 1", { transactionId: "bm9wZQ==" }));
tx = await begin();
const busy = run("SELECT SLEEP(0.8)", { transactionId: tx });
await sleep(300);
e = await expectError("busy transaction", DatabaseErrorException, run("SELECT 1", { transactionId: tx }));
check("busy message", e && e.message === "Transaction is still running a query", e && e.message);
await busy;
await client.send(new RollbackTransactionCommand({ resourceArn, secretArn, transactionId: tx }));

// Injected faults.
await control("POST", "/_emulator/faults", { fault: "resuming", count: 1 });
await expectError("resuming", DatabaseResumingException, run("SELECT 1"));
await control("POST", "/_emulator/faults", { fault: "unavailable", count: 1 });
e = await expectError("503", ServiceUnavailableError, run("SELECT 1"));
check("503 status", e && e.$metadata?.httpStatusCode === 503, e && e.$metadata);

if (failures.length) {
  console.log("JS SDK checks failed:\n  " + failures.join("\n  "));
  process.exit(1);
}
console.log("JS SDK checks passed");
