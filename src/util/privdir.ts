// The agent's state directory (Lib.Dir) holds certificates, private keys, ovf-env.xml and CustomData:
// it is created 0700, and one that exists with a looser mode (an image or a package made it 0755) is
// tightened. A link at its place (an image keeping the state elsewhere) is root's doing, as its
// parent is root's: it is resolved once, and the directory found is opened without following any
// further link and changed through that descriptor.
import { closeSync, constants, fchmodSync, fstatSync, mkdirSync, openSync, realpathSync } from 'node:fs';

/** mkdir -p 0700, then tighten; returns the old mode when it was looser than 0700, else null. */
export function ensurePrivateDir(path: string): number | null {
  mkdirSync(path, { recursive: true, mode: 0o700 });
  const fd = openSync(realpathSync(path), constants.O_RDONLY | constants.O_DIRECTORY | constants.O_NOFOLLOW);
  try {
    const mode = fstatSync(fd).mode & 0o7777;
    if ((mode & 0o077) === 0) return null;
    fchmodSync(fd, 0o700);
    return mode;
  } finally {
    closeSync(fd);
  }
}
