// -deprovision[+user] [-force] [-dry-run] [-root:PATH]: warnings, the y/n prompt, then the plan.
// With -root the target is an OS disk mounted elsewhere (rescue VM): its own waagent.conf and
// os-release are read, user tools run with --root, and nothing of the running system is touched.
import { existsSync, readSync, statSync } from 'node:fs';
import type { Invocation } from '../util/invocation.ts';
import { EXIT } from '../util/exit.ts';
import { defaultConfig, loadConfig, type Config } from '../config/config.ts';
import { detectDistro } from '../os/distro.ts';
import { setDhclientHostname, setHostname } from '../os/hostname.ts';
import { deleteRootPassword } from '../os/rootpassword.ts';
import { removeSudoers } from '../os/sudoers.ts';
import { SelinuxLabels } from '../os/selinux.ts';
import { deleteUser, getUser, isSystemUser } from '../os/users.ts';
import { log } from '../util/logger.ts';
import { errorText } from '../util/errors.ts';
import type { Sysroot } from '../util/sysroot.ts';
import { planDeprovision, type DeprovisionOs } from './plan.ts';
import { describePlan, runPlan } from './run.ts';

const PAUSE = new Int32Array(new SharedArrayBuffer(4));

/** One line from stdin, synchronously; null on EOF before any newline. */
function readLine(): string | null {
  const buf = Buffer.alloc(1);
  let line = '';
  for (;;) {
    let n = 0;
    try { n = readSync(0, buf, 0, 1, null); } catch (e) {
      // A non-blocking stdin (some terminals, pipes set O_NONBLOCK by a parent): wait a little
      // instead of spinning on the CPU until the operator answers.
      if ((e as NodeJS.ErrnoException).code === 'EAGAIN') { Atomics.wait(PAUSE, 0, 0, 50); continue; }
      return line || null;
    }
    if (n === 0) return line || null;
    const c = buf.toString('utf8');
    if (c === '\n') return line;
    if (line.length < 1024) line += c;
  }
}

function targetConfig(ctx: Invocation): Config {
  // A rescue target is deprovisioned with ITS configuration (Lib.Dir, OS.SshDir...), unless one was
  // named. Without one (on Flatcar it links into the /usr partition, often not mounted with the
  // root) the built-in defaults apply, never the rescue VM's own settings.
  if (ctx.root.isHost || ctx.args.configPath !== undefined) return ctx.config;
  // Resolved as inside the root (Flatcar links /etc/waagent.conf to ../usr/share/waagent/waagent.conf): an absolute
  // link on the rescued disk must never pick up the rescue VM's own configuration.
  let inner: string;
  try { inner = ctx.root.resolve('/etc/waagent.conf'); } catch (e) {
    log.warn(`${errorText(e)}: the target's waagent.conf cannot be read; using the built-in defaults`);
    return defaultConfig();
  }
  return existsSync(inner) ? loadConfig(inner, { onWarning: (m) => log.warn(m) }) : defaultConfig();
}

/**
 * -root naming the running system itself (a link to /, a bind mount of /) would deprovision it
 * while believing it is a disk: no service stop, no live hostname, and the machine cleaned under
 * the operator's feet. Same device and inode as / means the same directory.
 */
function isRunningSystem(root: Sysroot): boolean {
  if (root.isHost) return false;
  try {
    const a = statSync(root.root);
    const b = statSync('/');
    return a.dev === b.dev && a.ino === b.ino;
  } catch { return false; }
}

export async function runDeprovision(ctx: Invocation): Promise<number> {
  if (isRunningSystem(ctx.root)) {
    ctx.io.err(`-root:${ctx.root.root} is the running system itself; run without -root to deprovision this machine\n`);
    return EXIT.USAGE;
  }
  const conf = targetConfig(ctx);
  const root = ctx.root;
  const live = root.isHost;
  const distro = detectDistro(root);
  const flatcar = distro.family === 'flatcar';
  const sudoersDir = conf.str('OS.SudoersDir');
  // Replaced files keep their SELinux context (only on the running system with SELinux enabled).
  const labels = new SelinuxLabels(ctx.runner, root);
  const os: DeprovisionOs = {
    stopService: async () => {
      if (!existsSync('/run/systemd/system')) return;
      const r = await ctx.runner.run(['systemctl', 'stop', 'waagent.service'], { timeoutMs: 60_000 });
      if (r.code !== 0) log.warn(`systemctl stop waagent.service: exit ${r.code} ${r.stderr.trim()}`);
    },
    resetHostname: async (name) => {
      await labels.keep(['/etc/hostname'], () => setHostname(ctx.runner, root, name, distro.hostname, { live }));
      setDhclientHostname(root, name);
    },
    lockRootPassword: async () => {
      await labels.keep([conf.str('OS.PasswordPath')], () => deleteRootPassword(root, { passwordPath: conf.str('OS.PasswordPath') }));
    },
    isSystemUser: (u) => isSystemUser(root, u, { neverSystemUsers: distro.user.neverSystemUsers }),
    userHome: (u) => getUser(root, u)?.home,
    deleteUser: async (u) => {
      await deleteUser(ctx.runner, root, u, { neverSystemUsers: distro.user.neverSystemUsers });
      removeSudoers(root, u, { sudoersDir });
    },
  };
  const plan = planDeprovision(root, {
    libDir: conf.str('Lib.Dir'),
    extensionLogDir: conf.str('Extension.LogDir'),
    sshDir: conf.str('OS.SshDir'),
    deleteRootPassword: conf.bool('Provisioning.DeleteRootPassword'),
    sudoersDir,
  }, os, { deleteUser: ctx.command === 'deprovision+user', flatcar, liveSystem: live });

  const where = live ? '' : ` (target root ${root.root})`;
  // Before any warning or prompt, say which system is about to be cleaned and with which settings.
  if (!live) ctx.io.out(`Target: the system mounted at ${root.root}, configuration ${conf.source ?? 'built-in defaults'}\n`);
  for (const w of plan.warnings) ctx.io.out(`${w}\n`);
  if (ctx.args.flags.dryRun) {
    ctx.io.out(`Dry run${where}: nothing is changed. These steps would run:\n`);
    for (const l of describePlan(plan)) ctx.io.out(`${l}\n`);
    return EXIT.OK;
  }
  if (!ctx.args.flags.force) {
    ctx.io.out('Do you want to proceed (y/n)');
    const answer = readLine();
    if (answer === null) { ctx.io.err('\nno answer on standard input; nothing was changed (use -force to skip the prompt)\n'); return EXIT.FAILURE; }
    if (!answer.trim().toLowerCase().startsWith('y')) return EXIT.OK;
  }

  // Once actions start, Ctrl-C must not leave the image half-cleaned.
  const onInt = () => ctx.io.out('Deprovisioning may not be interrupted.\n');
  process.on('SIGINT', onInt);
  try {
    const reports = await runPlan(root, plan, (r) => {
      const what = r.items.length ? `${r.items.length} item(s)` : 'nothing to do';
      // Failures go through the log (stderr and the log file); progress is plain output, item by
      // item in the same form as -dry-run, so the operator can see exactly what was done.
      if (r.ok) {
        ctx.io.out(`done: ${r.title} (${what})\n`);
        for (const i of r.items) ctx.io.out(`  ${i}\n`);
      } else log.error(`Deprovision${where}: ${r.title} failed: ${r.error}`);
    });
    return reports.every((r) => r.ok) ? EXIT.OK : EXIT.FAILURE;
  } finally {
    process.off('SIGINT', onInt);
  }
}
