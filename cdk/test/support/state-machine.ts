// The deploy's state machine as the synthesized template holds it: the definition string put back
// together from its Fn::Join, with the function's ARN (a GetAtt) replaced by a literal ARN, so that a
// test can read it as JSON and aws-local-stepfunctions can run it.
import { Template } from 'aws-cdk-lib/assertions';

/** The ARN that stands for the function's in the definition. */
export const FUNCTION_ARN = 'arn:aws:lambda:us-east-1:123456789012:function:aurora-migrate';

/** The definition of the template's one state machine, as JSON. */
export function definitionOf(template: Template): any {
  const machines = Object.values(template.findResources('AWS::StepFunctions::StateMachine'));
  if (machines.length !== 1) throw new Error(`expected one state machine, found ${machines.length}`);
  return JSON.parse(flatten(machines[0].Properties.DefinitionString));
}

function flatten(value: any): string {
  if (typeof value === 'string') return value;
  if (value?.['Fn::Join']) {
    const [separator, parts] = value['Fn::Join'];
    return parts.map(flatten).join(separator);
  }
  if (value?.['Fn::GetAtt']?.[1] === 'Arn') return FUNCTION_ARN;
  throw new Error(`unexpected value in the definition: ${JSON.stringify(value)}`);
}
