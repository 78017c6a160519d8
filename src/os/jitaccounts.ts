// The OS side of JIT remote-access accounts (docs/os.md §4.17): which accounts are JIT ones (GECOS exactly
// `JIT_Account`, as 2.15 marks them), and their expiry date in /etc/shadow (field 8, days since the
// epoch) read and changed with `usermod -e` (argv, `--root` for a Sysroot that is not /).
import { readFileSync } from 'node:fs';
import type { Runner } from '../util/exec.ts';
import type { Sysroot } from '../util/sysroot.ts';
import { readPasswd, rootArgs, UserError } from './users.ts';
import { show, validateUserName } from './validate.ts';

export const JIT_COMMENT = 'JIT_Account';
const MAX_SHADOW = 16 << 20;

/** Names of the accounts whose GECOS is exactly JIT_Account. */
export function jitAccounts(root: Sysroot): string[] {
  return readPasswd(root).filter((e) => e.gecos === JIT_COMMENT).map((e) => e.name);
}

/** The account's expiry as YYYY-MM-DD (null: none set, no entry or no shadow file). */
export function accountExpiry(root: Sysroot, name: string, passwordPath = '/etc/shadow'): string | null {
  let text: string;
  try { text = readFileSync(root.resolve(passwordPath), 'utf8'); } catch { return null; }
  if (text.length > MAX_SHADOW) throw new UserError(`${passwordPath} is larger than ${MAX_SHADOW} bytes`);
  for (const line of text.split('\n')) {
    const f = line.split(':');
    if (f[0] !== name) continue;
    const days = f[7] ?? '';
    if (!/^\d{1,6}$/.test(days)) return null;
    return new Date(Number(days) * 86_400_000).toISOString().slice(0, 10);
  }
  return null;
}

/** `usermod -e YYYY-MM-DD -- <name>`. */
export async function setAccountExpiry(runner: Runner, root: Sysroot, name: string, date: string): Promise<void> {
  validateUserName(name);
  if (!/^\d{4}-\d{2}-\d{2}$/.test(date)) throw new UserError(`invalid expiry date ${show(date)}`);
  const r = await runner.run(['usermod', ...rootArgs(root), '-e', date, '--', name], { timeoutMs: 60_000 });
  if (r.code !== 0) throw new UserError(`usermod -e for ${show(name)} failed (exit ${r.code}): ${r.stderr.trim().slice(0, 300)}`);
}
