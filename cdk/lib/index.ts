// The package's public surface (what crosses jsii to Python): the construct, its props, the content
// hash and the names of the custom resource's Data keys.
export { AuroraMigrations, AuroraMigrationsProps } from './aurora-migrations';
export { ContentHash, MigrationData } from './api';
