// Running one extension command: the launch contract of docs/extensions.md §3.6 and the resource-limit
// wrapping of §8. Extensions are written against this contract (cwd, environment variables, exit codes,
// process group, the "[stdout]...[stderr]" message), so it follows the Python agent exactly, except
// where noted as a deliberate, safer choice.
import { closeSync, existsSync, fstatSync, openSync, unlinkSync, constants } from 'node:fs';
import { constants as osConstants } from 'node:os';
import { randomHex, randomId } from '../util/unique.ts';
import { join } from 'node:path';
import { execToFds, type ExecToFdsResult } from '../util/exec.ts';
import { log, redact } from '../util/logger.ts';
import { ErrorCodes, ExtensionError, ExtensionOperationError } from './errors.ts';
import type { HandlerLayout } from './layout.ts';
import type { Operation } from './manifest.ts';
import { pyDumps } from './pyjson.ts';
import { appendCommandLog } from './commandLog.ts';
import { readFully } from '../util/fsread.ts';
import { confProxyUrl } from '../platform/http.ts';
import { recordInFlight } from './inflight.ts';
import { errorText } from '../util/errors.ts';
import { mountHolding, ownMounts } from '../os/mounts.ts';

/** §3.5: per-operation timeout (seconds) and the CRP code of its failure. */
export const OPERATION_LIMITS: Record<Operation, { timeoutSec: number; code: number }> = {
  install: { timeoutSec: 900, code: ErrorCodes.PluginInstallProcessingFailed },
  enable: { timeoutSec: 300, code: ErrorCodes.PluginEnableProcessingFailed },
  disable: { timeoutSec: 900, code: ErrorCodes.PluginDisableProcessingFailed },
  update: { timeoutSec: 900, code: ErrorCodes.PluginUpdateProcessingFailed },
  uninstall: { timeoutSec: 300, code: ErrorCodes.PluginProcessingError },
};

export const ENV = {
  extensionPath: 'AZURE_GUEST_AGENT_EXTENSION_PATH',
  extensionVersion: 'AZURE_GUEST_AGENT_EXTENSION_VERSION',
  wireProtocolAddress: 'AZURE_GUEST_AGENT_WIRE_PROTOCOL_ADDRESS',
  seqNo: 'ConfigSequenceNumber',
  extensionName: 'ConfigExtensionName',
  supportedFeatures: 'AZURE_GUEST_AGENT_EXTENSION_SUPPORTED_FEATURES',
  uninstallExitCode: 'AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE',
  disableExitCode: 'AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODE',
  disableExitCodesMulti: 'AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODES_MULTIPLE_EXTENSIONS',
  version: 'VERSION',
  updatingFromVersion: 'AZURE_GUEST_AGENT_UPDATING_FROM_VERSION',
} as const;

export const NOT_RUN = 'NOT_RUN';

/** Features advertised to extensions (env var); ETP is the only one, as in the Python agent. */
export const EXTENSION_SUPPORTED_FEATURES = [{ Key: 'ExtensionTelemetryPipeline', Value: '1.0' }];

/** TELEMETRY_MESSAGE_MAX_LEN of the Python agent: the command output kept in messages. */
export const MAX_OUTPUT_MESSAGE = 3200;

export interface ResourceLimitOptions {
  /** CGroups.EnforceLimits (and not excluded by CGroups.Excluded): try to run in a systemd scope. */
  enforce: boolean;
  /** Manifest resourceLimits.cpuQuotaPercentage. */
  cpuQuotaPercentage?: number;
  /** Slice name suffix: handler name (SC) or <handler>.<ext> (MC). */
  sliceName: string;
  /** Test hooks: the marker whose existence means "systemd is PID 1", and the systemd-run binary. */
  systemdMarker?: string;
  systemdRun?: string;
}

export interface LaunchOptions {
  layout: HandlerLayout;
  /** Command line from the manifest, relative to the handler dir (a leading "/" is stripped). */
  command: string;
  operation: Operation;
  /** Defaults from OPERATION_LIMITS. */
  timeoutSec?: number;
  errorCode?: number;
  /** WireServer address for AZURE_GUEST_AGENT_WIRE_PROTOCOL_ADDRESS. */
  wireServer: string;
  /** Settings sequence number; undefined when the handler has no settings ("0"). */
  seqNo?: number;
  /** MC extension name: sets ConfigExtensionName. */
  extensionName?: string;
  /** Operation-specific variables (exit codes of an upgrade, VERSION...). */
  extraEnv?: Record<string, string>;
  /** HttpProxy.Host/Port from waagent.conf: exported to the extension unless its env already has a proxy. */
  proxy?: { host: string; port: number };
  /** The agent's environment (default process.env). */
  baseEnv?: NodeJS.ProcessEnv;
  limits?: ResourceLimitOptions;
  /** Append "Executing command"/"Command:" lines to EXTLOG/<Name>/CommandExecution*.log (default true). */
  commandLog?: boolean;
  /** Extension Telemetry Pipeline advertised in the env (default true). */
  etp?: boolean;
}

export interface LaunchResult {
  fullCommand: string;
  exitCode: number;
  durationMs: number;
  /** "[stdout]\n...\n\n[stderr]\n..." capped as in §3.6. */
  output: string;
  /** The agent-specific variables given to the command (without the inherited OS environment). */
  env: Record<string, string>;
  /** True when the command ran inside a systemd scope with the limits applied. */
  scoped: boolean;
}

// Python's format_stdout_stderr: tails of each stream, budget split evenly, unused budget given away.
export function formatOutput(stdout: string, stderr: string, maxLen = MAX_OUTPUT_MESSAGE): string {
  const tpl = (o: string, e: string) => `[stdout]\n${o}\n\n[stderr]\n${e}`;
  const each = Math.trunc((maxLen - 26 + 6) / 2); // 26 = template length with its two {n} placeholders
  if (each <= 0) return '';
  if (stdout.length + stderr.length < maxLen) return tpl(stdout, stderr);
  const tail = (s: string, n: number) => (n >= s.length ? s : s.slice(s.length - n));
  if (stdout.length < each) return tpl(stdout, tail(stderr, Math.min(each + (each - stdout.length), stderr.length)));
  if (stderr.length < each) return tpl(tail(stdout, Math.min(each + (each - stderr.length), stdout.length)), stderr);
  return tpl(tail(stdout, each), tail(stderr, each));
}

/** Opens an anonymous file inside `dir` (created then unlinked at once: nothing is left behind). */
function anonymousFile(dir: string): number {
  const p = join(dir, `.cmd-output-${process.pid}-${randomHex(12)}`);
  const fd = openSync(p, constants.O_RDWR | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW, 0o600);
  try { unlinkSync(p); } catch { /* still usable; at worst a file is left */ }
  return fd;
}

/** First `max` bytes of an fd, decoded as UTF-8 (the Python agent reads 3200 bytes of each). */
function readHead(fd: number, max = MAX_OUTPUT_MESSAGE): string {
  const size = Math.min(fstatSync(fd).size, max);
  return readFully(fd, size).toString('utf8');
}

function hasProxyEnv(env: NodeJS.ProcessEnv): boolean {
  return ['http_proxy', 'https_proxy', 'HTTP_PROXY', 'HTTPS_PROXY'].some((k) => (env[k] ?? '') !== '');
}

/** The agent-specific environment variables for a command (§3.6 table). */
export function commandEnv(o: LaunchOptions): Record<string, string> {
  const env: Record<string, string> = {
    [ENV.extensionPath]: o.layout.dir,
    [ENV.extensionVersion]: o.layout.version,
    [ENV.wireProtocolAddress]: o.wireServer,
    [ENV.seqNo]: String(o.seqNo ?? 0),
  };
  if (o.extensionName !== undefined) env[ENV.extensionName] = o.extensionName;
  if (o.etp ?? true) env[ENV.supportedFeatures] = pyDumps(EXTENSION_SUPPORTED_FEATURES);
  if (o.operation === 'install' || o.operation === 'enable') env[ENV.uninstallExitCode] = NOT_RUN;
  Object.assign(env, o.extraEnv ?? {});
  return env;
}

/** systemd-escaped slice: azure-vmextensions-<name>.slice, "-" (slice nesting) and odd chars -> "_". */
export function extensionSliceName(name: string): string {
  return `azure-vmextensions-${name.replace(/[^A-Za-z0-9_.:]/g, '_')}.slice`;
}

// Once systemd-run has failed by itself, the rest of this process runs commands plainly (like the
// Python agent, which disables cgroups on that failure). Tests reset it.
let scopesBroken = false;
export function resetScopeFailure(): void { scopesBroken = false; }

function scopeArgv(o: LaunchOptions, inner: string[]): string[] | null {
  const l = o.limits;
  if (!l || !l.enforce || scopesBroken) return null;
  if (!existsSync(l.systemdMarker ?? '/run/systemd/system')) {
    log.once('INFO', 'ext-no-systemd', 'systemd is not running: extension commands run without resource limits');
    return null;
  }
  const argv = [l.systemdRun ?? 'systemd-run', `--unit=${o.operation}_${randomId()}`, '--scope', `--slice=${extensionSliceName(l.sliceName)}`,
    '--property=CPUAccounting=yes', '--property=MemoryAccounting=yes'];
  if (l.cpuQuotaPercentage !== undefined) argv.push(`--property=CPUQuota=${Math.round(l.cpuQuotaPercentage)}%`);
  return [...argv, ...inner];
}

const SCOPE_LINE = /^Running scope as unit:? [^\n]*\n?/m;

/** For exit code 126 on a noexec Lib.Dir the Python agent adds a hint; we do the same. */
function noexecHint(dir: string): string {
  // Extension commands run in this process's mount namespace: its own table.
  const m = mountHolding(ownMounts(), dir);
  return m?.options.includes('noexec') ? `\nWARNING: ${m.mountPoint} is mounted with the noexec flag, which can prevent execution of VM Extensions.` : '';
}

/**
 * One argument for /bin/sh: as is when made only of characters the shell never interprets (the usual
 * handler dir, so the command line matches the Python agent's), else single-quoted with `'` as `'\''`.
 */
export function shellQuote(s: string): string {
  if (/^[A-Za-z0-9_./+:@,%=-]+$/.test(s)) return s;
  return `'${s.replace(/'/g, `'\\''`)}'`;
}

/**
 * Runs one command per §3.6: `/bin/sh -c <handler dir>/<cmd>` in the handler dir, in its own session,
 * output to anonymous files in the handler dir, killed as a group at the timeout. Resolves on exit code 0;
 * throws ExtensionError (timeout 1011, launch failure) or ExtensionOperationError (non-zero exit).
 */
export async function launchCommand(o: LaunchOptions): Promise<LaunchResult> {
  const lim = OPERATION_LIMITS[o.operation];
  const timeoutSec = o.timeoutSec ?? lim.timeoutSec;
  const code = o.errorCode ?? lim.code;
  const dir = o.layout.dir;
  const full = join(dir, o.command.replace(/^\/+/, ''));
  const agentEnv = commandEnv(o);
  const base = o.baseEnv ?? process.env;
  // Deliberate: our variables win over the inherited environment (Python overlays os.environ last), so a
  // stray ConfigSequenceNumber in the service environment can never mislead an extension.
  const env: NodeJS.ProcessEnv = { ...base, ...agentEnv };
  if (o.proxy && o.proxy.host && o.proxy.port > 0 && !hasProxyEnv(base)) {
    // Deliberate (issue 7): the Python agent does not export HttpProxy.Host/Port to extensions (checked with
    // WALinuxAgent 2.15 in the box, test/e2e/ext-proxy.test.ts); extensions (CustomScript downloads) honour
    // these variables, so giving them the proxy the admin configured for the agent is the useful side.
    // HttpProxy.Host may already carry a scheme (`http://proxy`): confProxyUrl builds one valid URL.
    const url = confProxyUrl(o.proxy);
    if (url) env['http_proxy'] = env['https_proxy'] = env['HTTP_PROXY'] = env['HTTPS_PROXY'] = url;
  }
  const logPath = o.layout.commandLogPath(o.extensionName);
  const writeLog = o.commandLog ?? true;
  const started = `Executing command: ${full} with environment variables: ${pyDumps(agentEnv)}`;
  log.info(`[${o.layout.fullName}] ${started}`);
  if (writeLog) appendCommandLog(logPath, started);

  // The manifest's command line is run by the shell in the handler dir; the dir itself is quoted so a
  // Lib.Dir or handler dir with spaces or shell metacharacters is exactly one path to the shell.
  const inner = ['/bin/sh', '-c', `${shellQuote(dir)}/${o.command.replace(/^\/+/, '')}`];
  let scoped = false;
  let res: ExecToFdsResult;
  let out = '';
  let err = '';
  const runOnce = async (argv: string[]) => {
    const fo = anonymousFile(dir);
    const fe = anonymousFile(dir);
    try {
      let drop: () => void = () => undefined;
      let r: ExecToFdsResult;
      try {
        r = await execToFds(argv, { cwd: dir, env, stdout: fo, stderr: fe, timeoutMs: timeoutSec * 1000, onSpawn: (pid) => { drop = recordInFlight(dir, pid); } });
      } finally {
        drop();
      }
      let so = '';
      let se = '';
      try {
        so = readHead(fo);
        se = readHead(fe);
      } catch (e) {
        so = '';
        se = `Cannot read stdout/stderr: ${errorText(e)}`;
      }
      return { r, so, se };
    } finally {
      closeSync(fo);
      closeSync(fe);
    }
  };

  const wrapped = scopeArgv(o, inner);
  try {
  if (wrapped) {
    const first = await runOnce(wrapped);
    const startedInScope = SCOPE_LINE.test(first.se);
    if (!first.r.spawnError && (first.r.code === 0 || startedInScope || first.r.timedOut)) {
      scoped = true;
      res = first.r;
      out = first.so;
      err = first.se.replace(SCOPE_LINE, '');
    } else {
      // systemd-run itself failed (no scope was created): never fail the extension for that.
      scopesBroken = true;
      log.warn(`systemd-run could not create a scope (${redact(first.se.trim().slice(0, 300))}); extension commands now run without resource limits`);
      const second = await runOnce(inner);
      res = second.r; out = second.so; err = second.se;
    }
  } else {
    const r = await runOnce(inner);
    res = r.r; out = r.so; err = r.se;
  }
  } catch (e) {
    // The output files could not be created (handler dir missing, disk full): the command never ran.
    throw new ExtensionError(`Failed to launch '${full}': ${errorText(e)}`, code);
  }

  const output = formatOutput(out, err);
  if (res.spawnError) {
    throw new ExtensionError(`Failed to launch '${full}': ${res.spawnError.message}`, code);
  }
  const exitCode = res.code ?? (res.signal ? -(osConstants.signals[res.signal] ?? 1) : -1);
  const finished = `Command: ${o.command}\n${output.split('\n').filter((l) => l.trim() !== '').join('\n')}`;
  if (writeLog) appendCommandLog(logPath, `${finished}\n[duration ${res.durationMs} ms, exit code ${res.timedOut ? 'timeout' : exitCode}]`);
  if (res.timedOut) {
    throw new ExtensionError(`Timeout(${timeoutSec}): ${full}\n${output}`, ErrorCodes.PluginHandlerScriptTimedout);
  }
  if (exitCode !== 0) {
    const hint = exitCode === 126 ? noexecHint(dir) : '';
    throw new ExtensionOperationError(`Non-zero exit code: ${exitCode}, ${full}${hint}\n${output}`, code, exitCode);
  }
  return { fullCommand: full, exitCode, durationMs: res.durationMs, output, env: agentEnv, scoped };
}

/** The code recorded for an upgrade hand-over (§3.4): exit code, 1011 for timeouts, else the error code. */
export function handoverCode(e: unknown): number {
  if (e instanceof ExtensionOperationError) return e.exitCode;
  if (e instanceof ExtensionError) return e.code;
  return ErrorCodes.Unknown;
}
