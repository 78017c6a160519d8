// -version: waagent's three-line shape. Must work on a machine with nothing installed and no
// configuration, and must be fast: only node:fs here, nothing that pulls in HTTP or the features.
import { readFileSync } from 'node:fs';
import { AGENT_NAME, AGENT_VERSION, PRODUCT } from '../version.ts';

/** `waagent -version` alone (any number of leading dashes or slashes, as the Python agent accepts). */
export function isVersionOnly(argv: readonly string[]): boolean {
  return argv.length === 1 && /^[-/]*version$/.test(argv[0]!);
}

export const OS_RELEASE_PATHS = ['/etc/os-release', '/usr/lib/os-release'];

/** ID (lower-cased) and VERSION_ID from os-release; "unknown" when there is none. */
export function distro(paths: string[] = OS_RELEASE_PATHS): { id: string; version: string } {
  for (const p of paths) {
    let text: string;
    try { text = readFileSync(p, 'utf8').slice(0, 64 * 1024); } catch { continue; }
    const get = (k: string): string | undefined => {
      const m = new RegExp(`^${k}=(.*)$`, 'm').exec(text);
      if (!m) return undefined;
      return m[1]!.trim().replace(/^(["'])(.*)\1$/, '$2');
    };
    return { id: (get('ID') ?? 'unknown').toLowerCase(), version: get('VERSION_ID') ?? '' };
  }
  return { id: 'unknown', version: '' };
}

export function versionText(paths?: string[]): string {
  const d = distro(paths);
  // Line 3 is the version of the extension handler that runs. Python scans /proc for a downloaded
  // WALinuxAgent-<v> -run-exthandlers process; we never self-update, so it is always our own.
  return `${AGENT_NAME}-${AGENT_VERSION} running on ${d.id} ${d.version}`.trimEnd() + '\n'
    + `Node: ${process.versions.node} (${PRODUCT})\n`
    + `Goal state agent: ${AGENT_VERSION}\n`;
}
