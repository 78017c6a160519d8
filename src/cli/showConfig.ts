// -show-configuration: every key, sorted, "key = value" (docs/os.md §2.5).
import type { Config } from '../config/config.ts';

export function showConfigText(config: Config): string {
  return config.entries().map(([k, v]) => `${k} = ${v}\n`).join('');
}
