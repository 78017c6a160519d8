// Persistent net rules (docs/os.md §6.3): udev rules that pin interface names to MAC addresses break
// networking when the image boots with a new NIC. Present ones are moved into Lib.Dir (a copy is kept
// so an administrator can restore them). Flatcar and Ubuntu have none: a no-op there.
import { existsSync, renameSync, rmSync, copyFileSync } from 'node:fs';
import { posix } from 'node:path';
import type { Sysroot } from '../../util/sysroot.ts';

export const PERSISTENT_NET_RULES = ['/lib/udev/rules.d/75-persistent-net-generator.rules', '/etc/udev/rules.d/70-persistent-net.rules'];

/** Moves each rules file present into <Lib.Dir>/<basename>; returns what moved (inner paths). */
export function removePersistentNetRules(root: Sysroot, libDir: string, files: string[] = PERSISTENT_NET_RULES): string[] {
  const moved: string[] = [];
  for (const src of files) {
    const from = root.path(src);
    if (!existsSync(from)) continue;
    const to = root.path(posix.join(libDir, posix.basename(src)));
    rmSync(to, { force: true });
    try {
      renameSync(from, to);
    } catch (e) {
      // /lib on another file system than Lib.Dir: copy, then remove the source.
      if ((e as NodeJS.ErrnoException).code !== 'EXDEV') throw e;
      copyFileSync(from, to);
      rmSync(from, { force: true });
    }
    moved.push(src);
  }
  return moved;
}
