#!/usr/bin/env node
// The CDK app: wires the example stack. `npm run synth` (or `CDK_OUTDIR=out npx tsx bin/app.ts`)
// synthesizes it offline; the function code comes from the cargo-lambda build or $AURORA_MIGRATE_LAMBDA_DIR.
import { App } from 'aws-cdk-lib';
import { ExampleStack } from '../lib/example-stack';

const app = new App();
new ExampleStack(app, 'AuroraMigrateExample', {
  description: 'aurora-migrate example: Aurora Serverless v2 MySQL migrated through the RDS Data API',
});
app.synth();
