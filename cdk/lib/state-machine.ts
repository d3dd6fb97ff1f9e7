// The state machine of a deploy longer than one invocation, as an Amazon States Language definition
// (JSONPath). The function starts it when CloudFormation sends a Create or Update and returns without
// answering; the state machine invokes the function with the step payloads the Rust side defines in
// src/lambda/steps.rs (plan, work, answer; "version": 1), and its Answer task PUTs the one answer.
//
//   Plan ──> Map over the plan's targets (MaxConcurrency = parallel)
//              └─ Work ──> Done? ── done, or out of budget ──> Item ended
//                   ^        └── otherwise ──┘ (Work again: the same logical run, the same lease owner)
//                   └─ any error (after retries) ──> Work failed (recorded for this item only)
//        ──> Answer   (also reached from a Catch on Plan and on the Map)
//
// The budget's end is computed by the Plan step (now + budgetSeconds) and each Work step stops at it,
// so the definition itself reaches Answer before the execution's TimeoutSeconds.

/** The step payload version (src/lambda/steps.rs `VERSION`). */
export const STEP_VERSION = 1;

/** Timing of a deploy's state machine, all in whole seconds. */
export interface StateMachineTiming {
  /** How long the Work steps may take in all, from the Plan step on. */
  readonly budgetSeconds: number;
  /** The execution's TimeoutSeconds: above the budget plus one invocation plus the answer. */
  readonly timeoutSeconds: number;
  /** Each Task's TimeoutSeconds: above the function's timeout, so that Lambda has ended it first. */
  readonly taskTimeoutSeconds: number;
}

/**
 * The timing for a deploy of at most `maxDurationSeconds` (CloudFormation's ServiceTimeout) with a
 * function timeout of `functionTimeoutSeconds`. A Work step started just before the budget's end may
 * run one whole invocation, then the answer needs a moment: so the budget ends one invocation and two
 * slacks (5 to 30 s, a twentieth of the whole) before the ServiceTimeout, and the execution times out
 * one slack before it. `undefined` when that leaves less than one invocation of budget.
 */
export function stateMachineTiming(maxDurationSeconds: number, functionTimeoutSeconds: number): StateMachineTiming | undefined {
  const slack = Math.min(30, Math.max(5, Math.ceil(maxDurationSeconds / 20)));
  const budgetSeconds = maxDurationSeconds - functionTimeoutSeconds - 2 * slack;
  if (budgetSeconds < functionTimeoutSeconds) return undefined;
  return {
    budgetSeconds,
    timeoutSeconds: maxDurationSeconds - slack,
    taskTimeoutSeconds: functionTimeoutSeconds + 10,
  };
}

/**
 * Errors after which invoking the function again is safe: the invocation did not run, or it ended
 * (the function's own `Timeout` error at its hard deadline, Lambda's sandbox timeout), so no two
 * invocations of one item ever run at once under the same lease owner.
 */
const RETRIABLE = [
  'Lambda.ServiceException',
  'Lambda.AWSLambdaException',
  'Lambda.SdkClientException',
  'Lambda.TooManyRequestsException',
  'Sandbox.Timedout',
  'Timeout',
];

/** The definition, with `functionArn` (a token is fine: serialize with Stack.toJsonString). */
export function stateMachineDefinition(functionArn: string, timing: StateMachineTiming, maxConcurrency: number): Record<string, unknown> {
  const retry = [{ ErrorEquals: RETRIABLE, IntervalSeconds: 2, MaxAttempts: 3, BackoffRate: 2 }];
  const toAnswer = [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Answer' }];
  const task = (parameters: Record<string, unknown>) => ({
    Type: 'Task',
    Resource: functionArn,
    Parameters: { version: STEP_VERSION, ...parameters },
    TimeoutSeconds: timing.taskTimeoutSeconds,
  });
  return {
    Comment: 'aurora-migrate: a deploy longer than one Lambda invocation; the Answer task answers CloudFormation once',
    TimeoutSeconds: timing.timeoutSeconds,
    StartAt: 'Plan',
    States: {
      Plan: {
        ...task({ step: 'plan', 'event.$': '$.event', budget_seconds: timing.budgetSeconds }),
        ResultPath: '$.plan',
        Retry: retry,
        Catch: toAnswer,
        Next: 'Targets',
      },
      Targets: {
        Type: 'Map',
        ItemsPath: '$.plan.targets',
        MaxConcurrency: maxConcurrency,
        ItemSelector: { 'target.$': '$$.Map.Item.Value', 'run.$': '$.plan.run', result: { progress: {} } },
        ItemProcessor: {
          ProcessorConfig: { Mode: 'INLINE' },
          StartAt: 'Work',
          States: {
            Work: {
              ...task({ step: 'work', 'target.$': '$.target', 'run.$': '$.run', 'previous.$': '$.result.progress' }),
              ResultPath: '$.result',
              Retry: retry,
              Catch: [{ ErrorEquals: ['States.ALL'], ResultPath: '$.error', Next: 'Work failed' }],
              Next: 'Done?',
            },
            'Done?': {
              Type: 'Choice',
              Choices: [
                { Variable: '$.result.done', BooleanEquals: true, Next: 'Item ended' },
                { Variable: '$.result.out_of_budget', BooleanEquals: true, Next: 'Item ended' },
              ],
              Default: 'Work',
            },
            'Item ended': { Type: 'Pass', OutputPath: '$.result', End: true },
            'Work failed': {
              Type: 'Pass',
              Parameters: { 'target.$': '$.target', 'progress.$': '$.result.progress', 'failure.$': '$.error' },
              End: true,
            },
          },
        },
        ResultPath: '$.results',
        Catch: toAnswer,
        Next: 'Answer',
      },
      Answer: {
        ...task({ step: 'answer', 'state.$': '$' }),
        Retry: [{ ErrorEquals: ['States.ALL'], IntervalSeconds: 2, MaxAttempts: 3, BackoffRate: 2 }],
        End: true,
      },
    },
  };
}
