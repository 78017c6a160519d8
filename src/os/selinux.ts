// SELinux labels of the files provisioning replaces. A file replaced by rename (writeFileAtomic) is a
// new inode with the label of a new file in its directory, not the one the policy gave the old file:
// /etc/shadow would lose shadow_t, sshd_config etc_t... So around a replacement the old file's context
// is read (`stat -c %C`) and put back on the new file (`chcon`); a file that did not exist before gets
// the policy's default (`restorecon`, where installed). `.ssh` and `authorized_keys` get the type
// sshd requires, ssh_home_t (what the Python agent sets). Only on the running system (another root's
// labels are the business of that system's relabel), and only when SELinux is enabled; otherwise
// nothing runs. All through argv, paths after `--`.
import { existsSync } from 'node:fs';
import type { Runner } from '../util/exec.ts';
import type { Sysroot } from '../util/sysroot.ts';
import { log } from '../util/logger.ts';

export const SSH_HOME_TYPE = 'ssh_home_t';
/** A context as `stat -c %C` prints it: user:role:type[:level], no blanks. */
const CONTEXT_RE = /^[A-Za-z0-9_.]+:[A-Za-z0-9_.]+:[A-Za-z0-9_.]+(?::[A-Za-z0-9_.,:-]+)?$/;

export interface SelinuxOptions {
  /** Override the kernel probe (tests: a recording runner where the kernel has no SELinux). */
  enabled?: boolean;
}

export class SelinuxLabels {
  private readonly runner: Runner;
  private readonly root: Sysroot;
  readonly enabled: boolean;
  private restorecon: boolean | undefined;

  constructor(runner: Runner, root: Sysroot, o: SelinuxOptions = {}) {
    this.runner = runner;
    this.root = root;
    // selinuxfs mounted with an enforce node: SELinux is enabled (enforcing or permissive).
    this.enabled = o.enabled ?? (root.isHost && existsSync('/sys/fs/selinux/enforce'));
  }

  /** The file's context, or null (no file, no label, SELinux off). */
  async context(hostPath: string): Promise<string | null> {
    if (!this.enabled || !existsSync(hostPath)) return null;
    const r = await this.runner.run(['stat', '-c', '%C', '--', hostPath], { timeoutMs: 10_000 });
    const c = r.stdout.trim();
    return r.code === 0 && CONTEXT_RE.test(c) ? c : null;
  }

  /**
   * Runs `replace` (which rewrites the files at the inner `paths`) and gives each file back the
   * context it had, or the policy's default when it is new. A labelling failure is logged, not thrown:
   * the content is right, and a relabel fixes the label.
   */
  async keep<T>(paths: string[], replace: () => T | Promise<T>): Promise<T> {
    if (!this.enabled) return replace();
    const hosts = paths.map((p) => this.root.path(p));
    const before = await Promise.all(hosts.map((h) => this.context(h)));
    const result = await replace();
    for (let i = 0; i < hosts.length; i++) {
      const host = hosts[i]!;
      if (!existsSync(host)) continue;
      const old = before[i];
      if (old) {
        await this.must(['chcon', old, '--', host]);
      } else if (await this.hasRestorecon()) {
        await this.must(['restorecon', '--', host]);
      }
    }
    return result;
  }

  /** `.ssh` directories and `authorized_keys` files (host paths): type ssh_home_t. */
  async sshHome(hostPaths: string[]): Promise<void> {
    if (!this.enabled) return;
    for (const h of hostPaths) if (existsSync(h)) await this.must(['chcon', '-t', SSH_HOME_TYPE, '--', h]);
  }

  private async hasRestorecon(): Promise<boolean> {
    if (this.restorecon === undefined) {
      const r = await this.runner.run(['restorecon', '-h'], { timeoutMs: 10_000 });
      // Installed: it runs (usage text, exit 1 or 0); missing or not executable: 127 / 126.
      this.restorecon = r.code !== null && r.code !== 126 && r.code !== 127;
    }
    return this.restorecon;
  }

  private async must(argv: string[]): Promise<void> {
    const r = await this.runner.run(argv, { timeoutMs: 30_000 });
    if (r.code !== 0) log.warn(`SELinux label not set: ${argv.join(' ')}: exit ${r.code} ${r.stderr.trim().slice(0, 200)}`);
  }
}
