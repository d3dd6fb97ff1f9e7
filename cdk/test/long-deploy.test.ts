// The maxDuration prop: left out, the template is what it always was (one invocation); longer than
// one invocation, a state machine drives the deploy with least-privilege IAM both ways, and the
// custom resource waits maxDuration. Out-of-range values are refused at synth.
import { test } from 'node:test';
import * as assert from 'node:assert/strict';
import { Duration } from 'aws-cdk-lib';
import * as names from '../lib/names';
import { stateMachineTiming } from '../lib/state-machine';
import { fakeLambdaDir, removeAll, scriptsFolder } from './support/fixtures';
import { FUNCTION_ARN, definitionOf } from './support/state-machine';
import { only, synthImported } from './support/synth';

const CUSTOM_RESOURCE = 'Custom::AuroraMigrations';

test('without maxDuration the template has no state machine and waits one invocation', (t) => {
  const lambdaDir = fakeLambdaDir();
  const scriptsDir = scriptsFolder();
  const s = synthImported({ scriptsDir, lambdaDir });
  t.after(() => removeAll(lambdaDir, scriptsDir, s.outdir));
  s.template.resourceCountIs('AWS::StepFunctions::StateMachine', 0);
  const types = Object.values(s.template.toJSON().Resources).map((r: any) => r.Type).sort();
  assert.deepEqual(types, [
    'AWS::IAM::Policy',
    'AWS::IAM::Role',
    'AWS::Lambda::EventInvokeConfig',
    'AWS::Lambda::Function',
    'AWS::Lambda::LayerVersion',
    'AWS::Logs::LogGroup',
    CUSTOM_RESOURCE,
  ]);
  const props = only(s.template, CUSTOM_RESOURCE).resource.Properties;
  assert.equal(props.ServiceTimeout, '960');
  assert.ok(!(names.PROPERTY_STATE_MACHINE_ARN in props));
  assert.ok(!JSON.stringify(s.template.toJSON()).includes('states:'), 'no Step Functions permission');
});

test('a maxDuration beyond one invocation adds a state machine that only this function serves', (t) => {
  const lambdaDir = fakeLambdaDir();
  const scriptsDir = scriptsFolder();
  const s = synthImported({
    scriptsDir,
    lambdaDir,
    timeout: Duration.minutes(5),
    extra: { maxDuration: Duration.hours(1), databasePattern: 'tenant\\_%', parallel: 16 },
  });
  t.after(() => removeAll(lambdaDir, scriptsDir, s.outdir));
  const machine = only(s.template, 'AWS::StepFunctions::StateMachine');
  const fn = only(s.template, 'AWS::Lambda::Function');
  const resource = only(s.template, CUSTOM_RESOURCE).resource;
  assert.equal(resource.Properties.ServiceTimeout, '3600');
  assert.deepEqual(resource.Properties[names.PROPERTY_STATE_MACHINE_ARN], { Ref: machine.id });
  assert.ok(resource.DependsOn.includes(machine.id), 'the resource waits for the state machine');
  assert.ok(!('VpcConfig' in fn.resource.Properties), 'the function stays outside any VPC');
  assert.ok(!(names.ENV_STATE_MACHINE_ARN in fn.resource.Properties.Environment.Variables), 'no cycle through the environment');

  // The definition: timing from maxDuration and timeout, the Map bounded by parallel.
  const definition = definitionOf(s.template);
  const timing = stateMachineTiming(3600, 300)!;
  assert.deepEqual(timing, { budgetSeconds: 3240, timeoutSeconds: 3570, taskTimeoutSeconds: 310 });
  assert.equal(definition.TimeoutSeconds, 3570);
  assert.equal(definition.States.Plan.Parameters.budget_seconds, 3240);
  assert.equal(definition.States.Targets.MaxConcurrency, 16);
  for (const task of [definition.States.Plan, definition.States.Targets.ItemProcessor.States.Work, definition.States.Answer]) {
    assert.equal(task.Resource, FUNCTION_ARN);
    assert.equal(task.TimeoutSeconds, 310);
    assert.equal(task.Parameters.version, 1);
  }
  for (const state of [definition.States.Plan, definition.States.Targets]) {
    assert.deepEqual(state.Catch, [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Answer' }]);
  }
  assert.equal(definition.States.Targets.ItemProcessor.States.Work.Catch[0].Next, 'Work failed');

  // IAM: the function may start this state machine only; the state machine may invoke this function only.
  const policies = Object.values(s.template.findResources('AWS::IAM::Policy')) as any[];
  const statements = policies.flatMap((p) => p.Properties.PolicyDocument.Statement);
  const start = statements.filter((st) => JSON.stringify(st.Action).includes('states:'));
  assert.deepEqual(start, [{ Action: 'states:StartExecution', Effect: 'Allow', Resource: { Ref: machine.id } }]);
  const invoke = statements.filter((st) => JSON.stringify(st.Action).includes('lambda:InvokeFunction'));
  assert.equal(invoke.length, 1);
  assert.deepEqual(invoke[0].Resource, { 'Fn::GetAtt': [fn.id, 'Arn'] }, 'the function itself, no version or alias wildcard');
  const machineRole = machine.resource.Properties.RoleArn['Fn::GetAtt'][0];
  const invokePolicy = policies.find((p) => JSON.stringify(p).includes('lambda:InvokeFunction'));
  assert.deepEqual(invokePolicy.Properties.Roles, [{ Ref: machineRole }]);
});

test('one database runs one item at a time', (t) => {
  const lambdaDir = fakeLambdaDir();
  const scriptsDir = scriptsFolder();
  const s = synthImported({ scriptsDir, lambdaDir, timeout: Duration.seconds(60), extra: { maxDuration: Duration.minutes(10) } });
  t.after(() => removeAll(lambdaDir, scriptsDir, s.outdir));
  const definition = definitionOf(s.template);
  assert.equal(definition.States.Targets.MaxConcurrency, 1);
  assert.equal(only(s.template, CUSTOM_RESOURCE).resource.Properties.ServiceTimeout, '600');
});

test('a maxDuration over an hour, within one invocation or without room for one is refused at synth', (t) => {
  const lambdaDir = fakeLambdaDir();
  const scriptsDir = scriptsFolder();
  t.after(() => removeAll(lambdaDir, scriptsDir));
  const cases: [Duration, Duration | undefined, RegExp][] = [
    [Duration.seconds(3601), undefined, /maxDuration is 3601 s: CloudFormation waits at most 3600 s/],
    [Duration.minutes(15), undefined, /maxDuration is 900 s, not longer than one invocation \(timeout 900 s\)/],
    [Duration.minutes(20), undefined, /maxDuration is 1200 s: a deploy needs room .* give at least 1860 s, or lower timeout/],
    [Duration.seconds(25), Duration.seconds(10), /maxDuration is 25 s: .*give at least 30 s/],
  ];
  for (const [maxDuration, timeout, message] of cases) {
    assert.throws(() => synthImported({ scriptsDir, lambdaDir, timeout, extra: { maxDuration } }), message, String(maxDuration.toSeconds()));
  }
});
