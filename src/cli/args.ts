// waagent's command line (docs/os.md §1.1). Every argument is matched against `^[-/]*<word>` in a fixed
// order, anchored at the start only: any number of leading "-" or "/" (zero included) and only the
// prefix has to match ("-versionXYZ" is -version). The last command wins; the first argument that
// matches nothing makes the command "help" and stops the scan.
//
// mri alone would split "-deprovision+user" into single letters, so a normaliser first maps every
// spelling to one canonical token ("--cmd=deprovision+user", "--verbose", "--configuration-path=P")
// and mri only turns the canonical tokens into an object.
import mri from 'mri';

export const COMMAND_NAMES = [
  'help', 'version', 'daemon', 'start', 'run-exthandlers', 'provision', 'deprovision', 'deprovision+user',
  'register-service', 'show-configuration', 'collect-logs', 'setup-firewall', 'serialconsole',
] as const;
export type CommandName = (typeof COMMAND_NAMES)[number];

export interface Flags {
  verbose: boolean;
  force: boolean;
  /** collect-logs: the full set. */
  full: boolean;
  /** run-exthandlers: skip the orphan check. */
  debug: boolean;
  /** ours: print what would be done, change nothing. */
  dryRun: boolean;
}

export interface ParsedArgs {
  command: CommandName;
  flags: Flags;
  /** From -configuration-path:PATH (last one wins). Existence is checked when the config is loaded. */
  configPath: string | undefined;
  /** From -setup-firewall=IP. */
  firewallIp: string | undefined;
  /** Ours, from -root:PATH or -root=PATH: deprovision an OS disk mounted elsewhere (rescue VM). */
  root: string | undefined;
  /** True when no argument at all was given (help, exit 0, like waagent). */
  empty: boolean;
  /** Usage problems: an unknown argument, a bad value. Non-empty means "print usage, exit 2". */
  errors: string[];
}

// Order matters: it is waagent's match order, first hit wins for one argument. Ours are placed
// where no earlier word can shadow them.
const PREFIX = '^[-/]*';
type Rule =
  | { re: RegExp; cmd: CommandName }
  | { re: RegExp; flag: keyof Flags }
  | { re: RegExp; opt: 'configuration-path' | 'setup-firewall' | 'root' };
const RULES: Rule[] = [
  // Only [A-Za-z0-9_/.-] is captured; the path stops at any other character (waagent's regex).
  { re: new RegExp(`${PREFIX}configuration-path:([\\w/.\\-]+)`), opt: 'configuration-path' },
  { re: new RegExp(`${PREFIX}deprovision\\+user`), cmd: 'deprovision+user' },
  { re: new RegExp(`${PREFIX}deprovision`), cmd: 'deprovision' },
  { re: new RegExp(`${PREFIX}daemon`), cmd: 'daemon' },
  { re: new RegExp(`${PREFIX}start`), cmd: 'start' },
  { re: new RegExp(`${PREFIX}register-service`), cmd: 'register-service' },
  { re: new RegExp(`${PREFIX}run-exthandlers`), cmd: 'run-exthandlers' },
  { re: new RegExp(`${PREFIX}version`), cmd: 'version' },
  { re: new RegExp(`${PREFIX}verbose`), flag: 'verbose' },
  { re: new RegExp(`${PREFIX}debug`), flag: 'debug' },
  { re: new RegExp(`${PREFIX}force`), flag: 'force' },
  { re: new RegExp(`${PREFIX}show-configuration`), cmd: 'show-configuration' },
  { re: new RegExp(`${PREFIX}(?:help|usage|\\?)`), cmd: 'help' },
  { re: new RegExp(`${PREFIX}collect-logs`), cmd: 'collect-logs' },
  { re: new RegExp(`${PREFIX}full`), flag: 'full' },
  { re: new RegExp(`${PREFIX}setup-firewall=([\\d.]{7,})`), opt: 'setup-firewall' },
  // ---- ours (waagent 2.15 sends these to help) ----
  { re: new RegExp(`${PREFIX}provision`), cmd: 'provision' },
  { re: new RegExp(`${PREFIX}serialconsole`), cmd: 'serialconsole' },
  { re: new RegExp(`${PREFIX}dry-run`), flag: 'dryRun' },
  { re: new RegExp(`${PREFIX}root[:=](.+)`), opt: 'root' },
];

const FLAG_NAMES: Record<keyof Flags, string> = { verbose: 'verbose', force: 'force', full: 'full', debug: 'debug', dryRun: 'dry-run' };

/** Maps raw argv to canonical mri tokens. Stops at the first unknown argument (waagent does). */
export function normalizeArgv(argv: string[]): { tokens: string[]; unknown: string | undefined } {
  const tokens: string[] = [];
  for (const a of argv) {
    if (a === '') continue;
    const rule = RULES.find((r) => r.re.test(a));
    if (!rule) return { tokens, unknown: a };
    const m = rule.re.exec(a)!;
    if ('cmd' in rule) tokens.push(`--cmd=${rule.cmd}`);
    else if ('flag' in rule) tokens.push(`--${FLAG_NAMES[rule.flag]}`);
    else tokens.push(`--${rule.opt}=${m[1]}`);
  }
  return { tokens, unknown: undefined };
}

function lastOf(v: unknown): string | undefined {
  if (Array.isArray(v)) return v.length ? String(v[v.length - 1]) : undefined;
  return v === undefined ? undefined : String(v);
}

export function parseArgs(argv: string[]): ParsedArgs {
  const { tokens, unknown } = normalizeArgv(argv);
  const m = mri(tokens, {
    boolean: Object.values(FLAG_NAMES),
    string: ['cmd', 'configuration-path', 'setup-firewall', 'root'],
  });
  const errors: string[] = [];
  let command = (lastOf(m['cmd']) as CommandName | undefined) ?? 'help';
  const firewallIp = lastOf(m['setup-firewall']);
  // -setup-firewall=IP is a command (it comes last in waagent's order, so it wins only if no
  // command word follows it).
  if (firewallIp !== undefined) {
    const lastCmd = tokens.filter((t) => t.startsWith('--cmd=') || t.startsWith('--setup-firewall=')).pop();
    if (lastCmd?.startsWith('--setup-firewall=')) command = 'setup-firewall';
  }
  const root = lastOf(m['root']);
  if (unknown !== undefined) {
    errors.push(`unknown argument: ${unknown}`);
    command = 'help';
  }
  if (root !== undefined && !root.startsWith('/')) errors.push(`-root needs an absolute path, got ${root}`);
  if (root !== undefined && command !== 'deprovision' && command !== 'deprovision+user' && unknown === undefined) {
    errors.push('-root:PATH is only valid with -deprovision or -deprovision+user');
  }
  return {
    command,
    flags: {
      verbose: m['verbose'] === true,
      force: m['force'] === true,
      full: m['full'] === true,
      debug: m['debug'] === true,
      dryRun: m['dry-run'] === true,
    },
    configPath: lastOf(m['configuration-path']),
    firewallIp,
    root,
    empty: argv.every((a) => a === ''),
    errors,
  };
}
