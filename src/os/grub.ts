// -serialconsole: put the kernel console on ttyS0 (Azure's serial console) in the boot loader
// configuration. Debian/RHEL-like: GRUB_CMDLINE_LINUX in /etc/default/grub, then regenerate
// grub.cfg where a tool exists. Flatcar: the OEM grub config's `linux_console` variable.
// Idempotent: a file that already names ttyS0 as a console is left untouched (no backup, no rewrite).
import { copyFileSync, existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { writeFileAtomic } from '../util/atomic.ts';
import type { Runner } from '../util/exec.ts';
import type { Sysroot } from '../util/sysroot.ts';

export const SERIAL_ARGS = 'console=ttyS0,115200n8 earlyprintk=ttyS0,115200';
const HAS_TTYS0 = /(^|[\s"'])console=ttyS0([,\s"']|$)/m;

export interface GrubEdit {
  /** Host path of the file edited (or that would have been). */
  file: string;
  changed: boolean;
  backup?: string;
  regenerated?: string;
  /** Set when grub.cfg had to be regenerated and the tool failed: the edit is not in effect yet. */
  regenerateError?: string;
  note: string;
}

/** Adds the serial console to GRUB_CMDLINE_LINUX (creating the line if the file has none). Pure. */
export function editDefaultGrub(text: string): { text: string; changed: boolean } {
  const lines = text.split('\n');
  const idx = lines.findIndex((l) => /^\s*GRUB_CMDLINE_LINUX=/.test(l));
  if (idx < 0) {
    const sep = text === '' || text.endsWith('\n') ? '' : '\n';
    return { text: `${text}${sep}GRUB_CMDLINE_LINUX="${SERIAL_ARGS}"\n`, changed: true };
  }
  const line = lines[idx]!;
  if (HAS_TTYS0.test(line)) return { text, changed: false };
  // Quoted ("..." or '...') or a bare word; an opening quote must be closed on the same line.
  const m = /^(\s*GRUB_CMDLINE_LINUX=)(?:(["'])([^"']*)\2|([^\s"']*))\s*$/.exec(line);
  if (!m) throw new Error(`cannot parse the GRUB_CMDLINE_LINUX line: ${line.slice(0, 120)}`);
  const quote = m[2] || '"';
  const current = (m[3] ?? m[4] ?? '').trim();
  lines[idx] = `${m[1]}${quote}${current ? current + ' ' : ''}${SERIAL_ARGS}${quote}`;
  return { text: lines.join('\n'), changed: true };
}

/**
 * Flatcar's OEM grub.cfg: `set linux_console="..."`. Consoles already named (e.g. console=tty0) are
 * kept and ttyS0 is added LAST: the kernel's last console= becomes /dev/console, so boot messages
 * reach the serial console while the VGA console keeps working. Pure.
 */
export function editFlatcarGrub(text: string): { text: string; changed: boolean } {
  const lines = text.split('\n');
  const idx = lines.findIndex((l) => /^\s*set\s+linux_console=/.test(l));
  if (idx >= 0) {
    if (HAS_TTYS0.test(lines[idx]!)) return { text, changed: false };
    const m = /^(\s*set\s+linux_console=)(?:(["'])([^"']*)\2|([^\s"']*))\s*$/.exec(lines[idx]!);
    if (!m) throw new Error(`cannot parse the linux_console line: ${lines[idx]!.slice(0, 120)}`);
    const current = (m[3] ?? m[4] ?? '').trim();
    lines[idx] = `${m[1]}"${current ? current + ' ' : ''}${SERIAL_ARGS}"`;
    return { text: lines.join('\n'), changed: true };
  }
  const sep = text === '' || text.endsWith('\n') ? '' : '\n';
  return { text: `${text}${sep}set linux_console="${SERIAL_ARGS}"\n`, changed: true };
}

const FLATCAR_OEM_GRUB = ['/oem/grub.cfg', '/usr/share/oem/grub.cfg'];
const REGENERATORS: { tool: string; argv: (cfg: string) => string[]; cfg: string }[] = [
  { tool: '/usr/sbin/update-grub', argv: () => ['update-grub'], cfg: '/boot/grub/grub.cfg' },
  { tool: '/usr/sbin/grub2-mkconfig', argv: (cfg) => ['grub2-mkconfig', '-o', cfg], cfg: '/boot/grub2/grub.cfg' },
  { tool: '/usr/sbin/grub-mkconfig', argv: (cfg) => ['grub-mkconfig', '-o', cfg], cfg: '/boot/grub/grub.cfg' },
];

const DROPIN_DIR = '/etc/default/grub.d';
const CMDLINE_ANY = /^\s*(?:export\s+)?GRUB_CMDLINE_LINUX(?:_DEFAULT)?=/;
const CMDLINE_LINUX = /^\s*(?:export\s+)?GRUB_CMDLINE_LINUX=/;

/**
 * Debian and Ubuntu's grub-mkconfig also sources /etc/default/grub.d/*.cfg, in name order, after
 * /etc/default/grub (Azure's Ubuntu images put their console settings there). Host paths, sorted;
 * bounded in count and size.
 */
function dropIns(root: Sysroot): { file: string; text: string }[] {
  let names: string[] = [];
  try { names = readdirSync(root.resolve(DROPIN_DIR)).filter((n) => n.endsWith('.cfg')).sort().slice(0, 64); } catch { return []; }
  const out: { file: string; text: string }[] = [];
  for (const n of names) {
    const file = root.resolve(`${DROPIN_DIR}/${n}`);
    try {
      if (!statSync(file).isFile() || statSync(file).size > 1 << 20) continue;
      out.push({ file, text: readFileSync(file, 'utf8') });
    } catch { /* unreadable: grub-mkconfig would fail on it too */ }
  }
  return out;
}

/**
 * Which file decides GRUB_CMDLINE_LINUX: the last drop-in that sets it without building on the
 * previous value, else /etc/default/grub. And whether ttyS0 is already a console anywhere on the
 * kernel command line (GRUB_CMDLINE_LINUX or _DEFAULT, any of the files).
 */
function effectiveDefaultGrub(root: Sysroot, mainFile: string, mainText: string): { file: string; text: string; hasTtyS0: boolean } {
  const files = [{ file: mainFile, text: mainText }, ...dropIns(root)];
  const hasTtyS0 = files.some((f) => f.text.split('\n').some((l) => CMDLINE_ANY.test(l) && HAS_TTYS0.test(l)));
  let decider = files[0]!;
  for (const f of files.slice(1)) {
    const overrides = f.text.split('\n').some((l) => CMDLINE_LINUX.test(l) && !/\$\{?GRUB_CMDLINE_LINUX\}?(?![A-Z_])/.test(l));
    if (overrides) decider = f;
  }
  return { ...decider, hasTtyS0 };
}

function backupAndWrite(file: string, text: string): string {
  const backup = `${file}.waagent.bak`;
  copyFileSync(file, backup);
  writeFileAtomic(file, text, { mode: statSync(file).mode & 0o7777 });
  return backup;
}

export async function configureSerialConsole(root: Sysroot, runner: Runner, flatcar: boolean): Promise<GrubEdit> {
  if (flatcar) {
    // Paths resolved as inside the root: /oem/grub.cfg may be a link, and the file it names is the
    // one to edit (an atomic rename over the link would replace it by a copy).
    const inner = FLATCAR_OEM_GRUB.find((p) => existsSync(root.resolve(p)));
    if (!inner) {
      return { file: root.path(FLATCAR_OEM_GRUB[0]!), changed: false, note: 'no OEM grub.cfg found; Flatcar images for Azure already use ttyS0' };
    }
    const file = root.resolve(inner);
    const r = editFlatcarGrub(readFileSync(file, 'utf8'));
    if (!r.changed) return { file, changed: false, note: 'serial console already configured' };
    return { file, changed: true, backup: backupAndWrite(file, r.text), note: 'linux_console set; takes effect at next boot' };
  }
  const main = root.resolve('/etc/default/grub');
  if (!existsSync(main)) throw new Error(`${main} does not exist: cannot configure the serial console`);
  const eff = effectiveDefaultGrub(root, main, readFileSync(main, 'utf8'));
  const file = eff.file;
  const r = eff.hasTtyS0 ? { text: eff.text, changed: false } : editDefaultGrub(eff.text);
  const regen = root.isHost ? REGENERATORS.find((g) => existsSync(g.tool) && existsSync(g.cfg.replace(/\/grub2?\.cfg$/, ''))) : undefined;
  if (!r.changed) {
    // Configured, but is it in effect? A previous run whose regeneration failed left grub.cfg
    // without the console: regenerate now rather than report success.
    let generated = '';
    try { generated = regen ? readFileSync(regen.cfg, 'utf8') : ''; } catch { /* none yet */ }
    if (!regen || !existsSync(regen.cfg) || generated.includes('console=ttyS0')) return { file, changed: false, note: 'serial console already configured' };
    return regenerate(runner, regen, { file, changed: false, note: 'serial console already configured; grub.cfg lacked it' });
  }
  const backup = backupAndWrite(file, r.text);
  const edit: GrubEdit = { file, changed: true, backup, note: 'GRUB_CMDLINE_LINUX updated' };
  // Regenerating grub.cfg needs the running system's boot tools; for another root (rescue) the
  // operator regenerates from inside it, so we only say so.
  if (!root.isHost) { edit.note += '; regenerate grub.cfg from inside that system'; return edit; }
  if (!regen) { edit.note += '; no grub configuration tool found, grub.cfg not regenerated'; return edit; }
  return regenerate(runner, regen, edit);
}

async function regenerate(runner: Runner, regen: (typeof REGENERATORS)[number], edit: GrubEdit): Promise<GrubEdit> {
  const res = await runner.run(regen.argv(regen.cfg), { timeoutMs: 120_000 });
  if (res.code !== 0) edit.regenerateError = `${regen.argv(regen.cfg)[0]} failed (exit ${res.code}): ${res.stderr.trim().slice(0, 200)}`;
  else edit.regenerated = regen.cfg;
  return edit;
}
