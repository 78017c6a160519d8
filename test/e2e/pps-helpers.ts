// A pre-provisioned pool VM in the box, driven as the platform would: the DVD carries the pool's
// placeholder ovf-env (PreprovisionedVm, PreprovisionedVMType), the box has one NIC (eth0, a veth),
// `waagent -provision` runs; once the simulator saw Ready in the pool, the NIC is switched (Running:
// carrier lost and back; Savable: eth0 unplugged, eth1 plugged) and the VM is assigned (the
// simulator's reprovisiondata answers the new ovf-env, with another user, hostname and container).
// Shared by the e2e test and scripts/bench/pps.ts; times are the simulator's record times.
import { join } from 'node:path';
import { readFileSync } from 'node:fs';
import { Box, type RunResult } from '../sandbox/box.ts';
import { SCENARIOS } from '../fabric/testing.ts';
import type { HealthReport, RecordedRequest } from '../fabric/server.ts';
import { flapNic, plugNic, unplugNic, waitForProcess } from '../sandbox/nic.ts';
import { BIN, conf, imageFiles } from './provision-helpers.ts';

export type PoolKind = 'Running' | 'Savable';

export const ASSIGNED = {
  user: 'ppsuser', password: 'Pps-Real-Passw0rd!', hostname: 'ppsvm-real', containerId: 'c3d4e5f6-0000-4000-8000-00000000a002',
};

/** The Hyper-V KVP daemon's directory and (empty) guest pool, as on an Azure image. */
export const KVP_FILES = { '/var/lib/hyperv/.kvp_pool_1': { content: '', mode: 0o644 } };

/** The assigned VM's key (the pool's placeholder had its own user's path). */
export const ASSIGNED_KEYS = [{ id: 'pps-key', ovf: 'inline', imds: false, path: `$HOME/${ASSIGNED.user}/.ssh/authorized_keys` }];

export function poolScenario(kind: PoolKind): Record<string, unknown> {
  const s = JSON.parse(readFileSync(join(SCENARIOS, 'pps-pool.json'), 'utf8')) as Record<string, unknown>;
  return { ...s, ppsType: kind };
}

export interface PoolRun {
  box: Box;
  result: RunResult;
  requests: RecordedRequest[];
  health: HealthReport[];
  /** ms since the epoch: the VM assigned (reprovisiondata starts answering). */
  assignedAt: number;
  /** The first reprovisiondata answered 200, and the final Ready accepted (simulator times). */
  dataAt: number;
  readyAt: number;
}

/** The scenario patch that assigns the VM (reprovisiondata answers from then on). */
export function assignPatch(user: Record<string, unknown> = { name: ASSIGNED.user, password: ASSIGNED.password }): Record<string, unknown> {
  return {
    ppsType: 'None', reprovisionData: true, user,
    vm: { hostname: ASSIGNED.hostname, containerId: ASSIGNED.containerId }, sshKeys: ASSIGNED_KEYS,
  };
}

/** Runs the whole flow; the caller closes `box`. `assign`: the assignment patch (default assignPatch()). */
export async function runPool(kind: PoolKind, o: { assign?: Record<string, unknown>; confLines?: string[]; daemon?: boolean } = {}): Promise<PoolRun> {
  const box = await Box.start({ scenario: poolScenario(kind), media: { kind: 'udf' }, files: { ...imageFiles(conf(...(o.confLines ?? []))), ...KVP_FILES } });
  try {
    await plugNic(box, 'eth0');
    // -daemon provisions the same way, then stays: it is stopped (SIGTERM) once the final Ready arrived.
    const proc = box.spawn([BIN, o.daemon ? '-daemon' : '-provision']);
    const fabric = box.fabric!;
    await fabric.waitFor(() => fabric.health(), (h) => h.some((x) => x.state === 'Ready') || proc.exited, 120_000, 50);
    if (proc.exited) throw new Error(`-provision ended before Ready in the pool: ${proc.stdout()}${proc.stderr()}`);
    // The agent watches links from before its Ready; give `ip monitor` a moment to subscribe.
    await waitForProcess(box, 'ip -o monitor link');
    await new Promise((r) => setTimeout(r, 300));
    if (kind === 'Running') {
      await flapNic(box, 'eth0');
    } else {
      await unplugNic(box, 'eth0');
      await new Promise((r) => setTimeout(r, 200));
      await plugNic(box, 'eth1');
    }
    const assignedAt = Date.now();
    await fabric.update(o.assign ?? assignPatch());
    if (o.daemon) {
      await fabric.waitFor(() => fabric.health(), (h) => h.filter((x) => x.channel === 'json').length > 0 || proc.exited, 180_000, 50);
      proc.kill('SIGTERM');
    }
    const result = await proc.wait(180_000);
    const requests = box.requests();
    const health = await fabric.health();
    const data = requests.find((q) => q.url.startsWith('/metadata/reprovisiondata') && q.status === 200);
    const ready = health.filter((h) => h.channel === 'xml' && h.state === 'Ready').at(-1);
    return {
      box, result, requests, health, assignedAt,
      dataAt: data ? Date.parse(data.time) : NaN,
      readyAt: ready ? Date.parse(ready.time) : NaN,
    };
  } catch (e) {
    await box.close();
    throw e;
  }
}
