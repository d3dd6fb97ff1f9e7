// The parts of the construct library besides AuroraMigrations that users of every jsii language need:
// jsii carries classes, not free functions or module constants, so they are static members here.
import * as names from './names';
import { contentHash, migrationFiles } from './content-hash';

/** The content hash of a scripts folder, as the custom resource's `ContentHash` property carries it. */
export class ContentHash {
  /**
   * `sha256:` + the SHA-256 over `relative/path NUL file-checksum LF` of every `*.sql` file under
   * `dir`, sorted by path; the same value as `aurora-migrate hash DIR` and the function's at run time.
   */
  public static of(dir: string): string {
    return contentHash(dir);
  }

  /** The files the hash covers: every `*.sql` file under `dir` (hidden ones excepted), sorted, `/`-separated. */
  public static files(dir: string): string[] {
    return migrationFiles(dir);
  }

  private constructor() {}
}

/** Keys of the custom resource's `Data`, for `getAtt` on `AuroraMigrations.resource`. */
export class MigrationData {
  /** The newest applied version after the run; empty when nothing is applied. */
  public static readonly CURRENT_VERSION = names.DATA_CURRENT_VERSION;
  /** How many migrations the event applied. */
  public static readonly APPLIED = names.DATA_APPLIED;
  /** The versions the event applied, comma-separated (shortened to fit CloudFormation's 4096 bytes). */
  public static readonly APPLIED_VERSIONS = names.DATA_APPLIED_VERSIONS;
  /** The content hash of the scripts the function found in the layer. */
  public static readonly CONTENT_HASH = names.DATA_CONTENT_HASH;
  /** The aurora-migrate version of the function that answered. */
  public static readonly VERSION = names.DATA_VERSION;

  private constructor() {}
}
