// Shared fixtures for the os-* unit tests: a temp Sysroot holding copies of this machine's account
// databases, so the real shadow tools can run against it with --root.
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { Sysroot } from '../../src/util/sysroot.ts';

export interface TempRoot {
  dir: string;
  root: Sysroot;
  /** Host path of an inner path. */
  p(inner: string): string;
  write(inner: string, text: string, mode?: number): void;
  cleanup(): void;
}

const ACCOUNT_FILES = ['/etc/passwd', '/etc/group', '/etc/shadow', '/etc/gshadow', '/etc/login.defs', '/etc/default/useradd', '/etc/shells'];

export function makeRoot(opts: { accounts?: boolean } = {}): TempRoot {
  const dir = mkdtempSync(join(tmpdir(), 'waagent-os-'));
  const root = new Sysroot(dir);
  const p = (inner: string) => root.pathNoFollow(inner);
  const write = (inner: string, text: string, mode = 0o644) => {
    mkdirSync(dirname(p(inner)), { recursive: true });
    writeFileSync(p(inner), text, { mode });
  };
  mkdirSync(p('/etc'), { recursive: true });
  mkdirSync(p('/home'), { recursive: true, mode: 0o755 });
  mkdirSync(p('/var/lib/waagent'), { recursive: true, mode: 0o700 });
  if (opts.accounts) {
    for (const f of ACCOUNT_FILES) {
      if (!existsSync(f)) continue;
      mkdirSync(dirname(p(f)), { recursive: true });
      copyFileSync(f, p(f));
    }
    mkdirSync(p('/etc/skel'), { recursive: true });
  }
  return { dir, root, p, write, cleanup: () => rmSync(dir, { recursive: true, force: true }) };
}
