// Every OS path goes through a Sysroot. The running system is Sysroot('/'); deprovisioning an OS
// disk mounted at /mnt/rescue is Sysroot('/mnt/rescue'); unit tests use a temp directory.
import { lstatSync, readlinkSync } from 'node:fs';
import { isAbsolute, normalize, posix } from 'node:path';

export class Sysroot {
  readonly root: string;
  constructor(root = '/') {
    if (!isAbsolute(root)) throw new Error(`sysroot must be an absolute path: ${root}`);
    this.root = normalize(root).replace(/\/+$/, '') || '/';
  }

  get isHost(): boolean { return this.root === '/'; }

  /** Host path of an absolute path inside the root. Lexical: `..` can never climb above the root. */
  path(p: string): string {
    if (!p.startsWith('/')) throw new Error(`sysroot path must be absolute: ${p}`);
    const inner = posix.normalize(p);
    // posix.normalize('/../x') === '/x': leading .. cannot escape an absolute path.
    return this.root === '/' ? inner : this.root + (inner === '/' ? '' : inner);
  }

  /**
   * Resolve symlinks the way the system inside the root would see them (as under chroot): an absolute
   * link target is taken relative to the root, never to the host. Returns the inner absolute path.
   * A loop or more than 40 links gives an error, like ELOOP.
   */
  resolveInner(p: string): string {
    if (!p.startsWith('/')) throw new Error(`sysroot path must be absolute: ${p}`);
    let pending = posix.normalize(p).split('/').filter(Boolean);
    let done: string[] = [];
    let hops = 0;
    while (pending.length) {
      const part = pending.shift()!;
      if (part === '.') continue;
      if (part === '..') { done.pop(); continue; }
      const candidate = '/' + [...done, part].join('/');
      let isLink = false;
      try { isLink = lstatSync(this.path(candidate)).isSymbolicLink(); } catch { /* missing: keep lexically */ }
      if (!isLink) { done.push(part); continue; }
      if (++hops > 40) throw new Error(`too many symbolic links resolving ${p} under ${this.root}`);
      const target = readlinkSync(this.path(candidate));
      if (target.startsWith('/')) done = [];
      pending = [...target.split('/').filter(Boolean), ...pending];
    }
    return '/' + done.join('/');
  }

  /** Host path after resolving symlinks inside the root. */
  resolve(p: string): string { return this.path(this.resolveInner(p)); }
}

export const hostRoot = new Sysroot('/');
