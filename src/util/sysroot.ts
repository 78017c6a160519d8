// Every OS path goes through a Sysroot. The running system is Sysroot('/'); deprovisioning an OS
// disk mounted at /mnt/rescue is Sysroot('/mnt/rescue'); unit tests use a temp directory.
//
// Test guard: the test runner (scripts/run-tests.mjs) sets WAAGENT_TEST_GUARD=1. A Sysroot('/')
// created while it is set refuses every path, so feature code run by a test can never act on the
// real root by mistake (a forgotten temp root fails loudly instead of editing the host). The box
// starts the agent with a clean environment, so `/` inside the box (its own overlay) still works.
import { lstatSync, readlinkSync } from 'node:fs';
import { isAbsolute, normalize, posix } from 'node:path';

/** The test runner's marker: while set, the real root is refused. */
export const TEST_GUARD_ENV = 'WAAGENT_TEST_GUARD';

export class Sysroot {
  readonly root: string;
  /** Set when this is `/` and the test guard was on at construction. */
  private readonly refused: boolean;
  constructor(root = '/') {
    if (!isAbsolute(root)) throw new Error(`sysroot must be an absolute path: ${root}`);
    this.root = normalize(root).replace(/\/+$/, '') || '/';
    this.refused = this.root === '/' && process.env[TEST_GUARD_ENV] === '1';
  }

  get isHost(): boolean { return this.root === '/'; }

  /**
   * Host path of an absolute path inside the root: the one helper every OS path goes through. On
   * another root (a rescued disk) every component, the last one included, is resolved as inside
   * that root (chroot semantics, `resolveInner`), so no link on the disk (absolute, relative, `..`)
   * leads a read or a write out of it; a loop is an error naming the path. On the running system
   * (`/`) the kernel resolves links exactly that way, so the path stays lexical and costs nothing.
   */
  path(p: string): string {
    return this.root === '/' ? this.lexical(p) : this.lexical(this.resolveInner(p));
  }

  /**
   * Like `path`, but the last component itself is not followed (lstat, unlink, readlink, rename onto
   * it): its parent directories are resolved as inside the root.
   */
  pathNoFollow(p: string): string {
    if (this.root === '/') return this.lexical(p);
    const inner = posix.normalize(p);
    if (inner === '/') return this.root;
    return this.lexical(posix.join(this.resolveInner(posix.dirname(inner)), posix.basename(inner)));
  }

  /** Lexical mapping: `..` can never climb above the root; links are not looked at. */
  private lexical(p: string): string {
    if (!p.startsWith('/')) throw new Error(`sysroot path must be absolute: ${p}`);
    if (this.refused) throw new Error(`refusing ${p} on the real root: ${TEST_GUARD_ENV}=1 is set (a test must use a temp root or the box)`);
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
      try { isLink = lstatSync(this.lexical(candidate)).isSymbolicLink(); } catch { /* missing: keep lexically */ }
      if (!isLink) { done.push(part); continue; }
      if (++hops > 40) throw new Error(`${p} under ${this.root}: too many levels of symbolic links (a loop?)`);
      const target = readlinkSync(this.lexical(candidate));
      if (target.startsWith('/')) done = [];
      pending = [...target.split('/').filter(Boolean), ...pending];
    }
    return '/' + done.join('/');
  }

  /** Host path after resolving symlinks inside the root (the same as `path`; kept for its callers). */
  resolve(p: string): string { return this.lexical(this.resolveInner(p)); }
}

export const hostRoot = new Sysroot('/');
