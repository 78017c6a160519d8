// One error type for everything the disk layer refuses or fails at. `source` names the device or
// file, `field` what about it was wrong, so a log line says exactly where the problem is.
import { AgentError } from '../../util/errors.ts';

export class DiskError extends AgentError {
  static override readonly errorName: string = 'DiskError';
  readonly source: string;
  readonly field: string | undefined;
  constructor(source: string, message: string, field?: string) {
    super(`${source}${field ? ` (${field})` : ''}: ${message}`);
    this.source = source;
    this.field = field;
  }
}
