// A local stand-in for Step Functions, for tests/step_functions.rs: synthesizes AuroraMigrations with
// the props it is given, and runs the state machine of the synthesized template with
// aws-local-stepfunctions whenever the function calls StartExecution, its Task states wired to the real
// function through the test's local Lambda runtime API.
//
//   node --import tsx test/support/local-deploy.ts '<props as JSON>'
//
// Props: scriptsDir, timeoutSeconds, maxDurationSeconds, and optionally databases, databasePattern,
// parallel, database. Protocol on stdio, one JSON line each:
//   stdout ← {"endpoint": "http://127.0.0.1:PORT", "environment": {...}, "properties": {...},
//             "timeoutSeconds": N}   (the function's environment and the custom resource's properties
//                                     from the template, the state machine's ARN made literal)
//   stdin  → {"invoke": "http://127.0.0.1:PORT/invoke"}   (where to invoke the function)
//   stdout ← {"execution": NAME, "status": "SUCCEEDED" | "FAILED" | "TIMED_OUT", "error"?: ...}
//             once per execution when it ends.
// StartExecution follows the service: the same name and input is the same execution; the same name
// with another input is refused with ExecutionAlreadyExists.
import * as http from 'node:http';
import * as readline from 'node:readline';
import { Duration } from 'aws-cdk-lib';
import { StateMachine } from 'aws-local-stepfunctions';
import * as names from '../../lib/names';
import { fakeLambdaDir, removeAll } from './fixtures';
import { definitionOf } from './state-machine';
import { only, synthImported } from './synth';

// aws-local-stepfunctions 3 calls Promise.withResolvers (Node 22); Node 20 lacks it.
if (typeof (Promise as any).withResolvers !== 'function') {
  (Promise as any).withResolvers = () => {
    let resolve!: (v: unknown) => void;
    let reject!: (e: unknown) => void;
    const promise = new Promise((res, rej) => {
      resolve = res;
      reject = rej;
    });
    return { promise, resolve, reject };
  };
}

/** What a Task handler takes and gives: JSON. */
type JSONValue = null | boolean | number | string | JSONValue[] | { [key: string]: JSONValue };

const STATE_MACHINE_ARN = 'arn:aws:states:us-east-1:123456789012:stateMachine:aurora-migrate';

interface Props {
  scriptsDir: string;
  timeoutSeconds: number;
  maxDurationSeconds: number;
  databases?: string[];
  databasePattern?: string;
  parallel?: number;
  database?: string;
}

const props: Props = JSON.parse(process.argv[2]);
const lambdaDir = fakeLambdaDir();
const synth = synthImported({
  scriptsDir: props.scriptsDir,
  lambdaDir,
  database: props.database,
  timeout: Duration.seconds(props.timeoutSeconds),
  extra: {
    maxDuration: Duration.seconds(props.maxDurationSeconds),
    databases: props.databases,
    databasePattern: props.databasePattern,
    parallel: props.parallel,
  },
});
removeAll(lambdaDir, synth.outdir);
const definition = definitionOf(synth.template);
const fn = only(synth.template, 'AWS::Lambda::Function').resource.Properties;
const resource = only(synth.template, 'Custom::AuroraMigrations').resource.Properties;
const environment: Record<string, string> = {};
for (const name of [names.ENV_DATABASES, names.ENV_DATABASE_PATTERN, names.ENV_PARALLEL, names.ENV_HISTORY_TABLE]) {
  if (typeof fn.Environment.Variables[name] === 'string') environment[name] = fn.Environment.Variables[name];
}
const properties: Record<string, unknown> = { ...resource };
delete properties.ServiceToken;
delete properties.ServiceTimeout;
properties[names.PROPERTY_STATE_MACHINE_ARN] = STATE_MACHINE_ARN;

let invokeUrl: string | undefined;
const executions = new Map<string, string>(); // name -> input
const say = (line: object) => process.stdout.write(`${JSON.stringify(line)}\n`);

/** Invokes the function through the test's runtime API, as Step Functions' Lambda integration would. */
async function invoke(input: JSONValue): Promise<JSONValue> {
  const response = await fetch(`${invokeUrl}?timeout_ms=${props.timeoutSeconds * 1000}`, {
    method: 'POST',
    body: JSON.stringify(input),
  });
  const outcome = (await response.json()) as { response?: JSONValue; error?: { errorType: string; errorMessage: string } };
  if (outcome.error) {
    throw Object.assign(new Error(outcome.error.errorMessage), { name: outcome.error.errorType || 'Lambda.Unknown' });
  }
  return outcome.response ?? null;
}

function run(name: string, input: string): void {
  const machine = new StateMachine(definition, { validationOptions: { checkArn: false } });
  const execution = machine.run(JSON.parse(input), {
    overrides: { taskResourceLocalHandlers: { Plan: invoke, Work: invoke, Answer: invoke } },
  });
  execution.result.then(
    () => say({ execution: name, status: 'SUCCEEDED' }),
    (e: Error) =>
      say({ execution: name, status: e.name === 'ExecutionTimeoutError' ? 'TIMED_OUT' : 'FAILED', error: `${e.name}: ${e.message}` }),
  );
}

const server = http.createServer((req, res) => {
  const chunks: Buffer[] = [];
  req.on('data', (c: Buffer) => chunks.push(c));
  req.on('end', () => {
    const reply = (status: number, body: object) => {
      res.writeHead(status, { 'content-type': 'application/x-amz-json-1.0' });
      res.end(JSON.stringify(body));
    };
    if (req.headers['x-amz-target'] !== 'AWSStepFunctions.StartExecution') {
      return reply(400, { __type: 'UnknownOperationException', message: `${req.headers['x-amz-target']}` });
    }
    const body = JSON.parse(Buffer.concat(chunks).toString('utf8'));
    if (body.stateMachineArn !== STATE_MACHINE_ARN) {
      return reply(400, { __type: 'StateMachineDoesNotExist', message: `State Machine Does Not Exist: '${body.stateMachineArn}'` });
    }
    const executionArn = `${STATE_MACHINE_ARN.replace(':stateMachine:', ':execution:')}:${body.name}`;
    const known = executions.get(body.name);
    if (known !== undefined && known !== body.input) {
      return reply(400, { __type: 'ExecutionAlreadyExists', message: `Execution Already Exists: '${executionArn}'` });
    }
    if (known === undefined) {
      executions.set(body.name, body.input);
      run(body.name, body.input);
    }
    reply(200, { executionArn, startDate: Date.now() / 1000 });
  });
});

server.listen(0, '127.0.0.1', () => {
  const { port } = server.address() as { port: number };
  say({ endpoint: `http://127.0.0.1:${port}`, environment, properties, timeoutSeconds: fn.Timeout });
  const lines = readline.createInterface({ input: process.stdin });
  lines.on('line', (line) => {
    invokeUrl = JSON.parse(line).invoke;
  });
  // The test closes stdin when it is done.
  lines.on('close', () => process.exit(0));
});
