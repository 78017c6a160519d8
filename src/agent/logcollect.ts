// Periodic log collection (docs/os.md §9): `<self> -collect-logs` runs as a child — under systemd-run in its own
// scope with CPUQuota=5% and MemoryHigh=170M where systemd runs, with a timeout everywhere — and the zip
// it leaves in <Lib.Dir>/logcollector/logs.zip is PUT to the HostGAPlugin's /vmAgentLog. Exit code 2/3 of
// the child (cgroups unusable / memory limit) stops periodic collection until the service restarts.
import { closeSync, fstatSync, openSync } from 'node:fs';
import { join } from 'node:path';
import type { Runner } from '../util/exec.ts';
import { log } from '../util/logger.ts';
import { readFully } from '../util/fsread.ts';

export const LOG_COLLECTOR_SLICE = 'azure-walinuxagent-logcollector.slice';
/** The most we hold in memory to upload (the collector's uncompressed budget is 150 MiB; zips are far smaller). */
export const MAX_UPLOAD_BYTES = 64 << 20;

export function collectorArgv(self: string[], o: { systemd: boolean; cgroupV2: boolean; configPath?: string }): string[] {
  const cmd = [...self, '-collect-logs', ...(o.configPath ? [`-configuration-path:${o.configPath}`] : [])];
  if (!o.systemd) return cmd;
  return [
    'systemd-run', '--unit=collect-logs', `--slice=${LOG_COLLECTOR_SLICE}`, '--scope', '--quiet',
    '--property=CPUAccounting=yes', '--property=MemoryAccounting=yes', '--property=CPUQuota=5%',
    ...(o.cgroupV2 ? ['--property=MemoryHigh=170M'] : []),
    ...cmd,
  ];
}

export interface LogCollectOptions {
  runner: Runner;
  self: string[];
  libDir: string;
  systemd: boolean;
  cgroupV2: boolean;
  configPath?: string;
  upload: (zip: Uint8Array) => Promise<void>;
  timeoutMs?: number;
}

export class LogCollectTask {
  private disabled = false;
  private readonly o: LogCollectOptions;
  constructor(o: LogCollectOptions) { this.o = o; }

  get enabled(): boolean { return !this.disabled; }

  async run(): Promise<'uploaded' | 'disabled' | 'too-large'> {
    if (this.disabled) return 'disabled';
    const argv = collectorArgv(this.o.self, { systemd: this.o.systemd, cgroupV2: this.o.cgroupV2, configPath: this.o.configPath });
    const r = await this.o.runner.run(argv, {
      timeoutMs: this.o.timeoutMs ?? 30 * 60_000, maxOutput: 64 * 1024,
      env: { ...process.env, _AZURE_GUEST_AGENT_LOG_COLLECTOR_MONITOR_CGROUPS_: '1' },
    });
    if (r.code === 2 || r.code === 3) {
      this.disabled = true;
      log.warn(`Log collector exited with ${r.code} (cgroups ${r.code === 2 ? 'unusable' : 'memory limit'}): periodic log collection is off until the agent restarts`);
      return 'disabled';
    }
    if (r.code !== 0) throw new Error(`log collector failed (exit ${r.code}${r.timedOut ? ', timed out' : ''}): ${r.stderr.trim().slice(-300)}`);
    const zip = readCapped(join(this.o.libDir, 'logcollector', 'logs.zip'), MAX_UPLOAD_BYTES);
    if (!zip) {
      log.warn(`Log collector archive is larger than ${MAX_UPLOAD_BYTES} bytes: not uploaded`);
      return 'too-large';
    }
    await this.o.upload(zip);
    log.info(`Uploaded the collected logs (${zip.length} bytes) to the HostGAPlugin`);
    return 'uploaded';
  }
}

function readCapped(path: string, max: number): Buffer | null {
  const fd = openSync(path, 'r');
  try {
    const size = fstatSync(fd).size;
    if (size > max) return null;
    return readFully(fd, size);
  } finally {
    closeSync(fd);
  }
}
