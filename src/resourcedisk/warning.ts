// <mountpoint>/DATALOSS_WARNING_README.txt. The spec gives the opening line and the link, not the
// exact upstream wording, so the rest is ours. Rewritten only when it differs (a converged run
// changes nothing); a failure is a warning, never a reason to fail the activation.
import { readFileSync } from 'node:fs';
import { posix } from 'node:path';
import { writeFileAtomic } from '../util/atomic.ts';
import type { DiskEnv } from '../os/disk/env.ts';
import { errorText } from '../util/errors.ts';

export const DATALOSS_WARNING_FILE = 'DATALOSS_WARNING_README.txt';

export const DATALOSS_WARNING = `WARNING: THIS IS A TEMPORARY DISK.

Any data stored on this drive is SUBJECT TO LOSS and THERE IS NO WAY TO RECOVER IT.
The disk is wiped when the virtual machine is moved, resized, redeployed or deallocated.

Please do not use this disk for storing any personal or application data.

For additional details please refer to the documentation at:
http://msdn.microsoft.com/en-us/library/windowsazure/jj672979.aspx
`;

export function writeDataLossWarning(env: DiskEnv, mountPoint: string): void {
  const host = env.root.path(posix.join(mountPoint, DATALOSS_WARNING_FILE));
  try {
    if (readFileSync(host, 'utf8') === DATALOSS_WARNING) return;
  } catch { /* missing or unreadable: write it */ }
  try {
    writeFileAtomic(host, DATALOSS_WARNING, { mode: 0o644 });
  } catch (e) {
    env.log.warn(`Could not write ${posix.join(mountPoint, DATALOSS_WARNING_FILE)}: ${errorText(e)}`);
  }
}
