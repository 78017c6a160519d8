// Shared by the deprovision, rescue and log-collection end-to-end tests: a VM-in-a-box provisioned
// by the BUILT binary (`dist/waagent -provision` against the fabric simulator, from the UDF DVD),
// then one extension pass by the same binary (-run-exthandlers), plus a content snapshot to prove
// what a command did NOT change.
// Everything here runs commands inside a box only.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { Box, PROJECT, type BoxFile, type RunResult } from '../sandbox/box.ts';
import { AGENT_BIN } from '../helpers/skip.ts';
import { fingerprintPath } from '../helpers/tree.ts';

export { diffSnapshots, fingerprintPath } from '../helpers/tree.ts';

export const WAAGENT = AGENT_BIN;
export const SCENARIO = join(PROJECT, 'test', 'fabric', 'scenarios', 'default.json');

/** The scenario's secrets (test/fabric/scenarios/default.json). */
export const SCENARIO_PASSWORD = 'Fabric-Demo-Passw0rd!';
export const SCENARIO_PROTECTED = 'fabric-demo-protected-value';
export const SCENARIO_USER = 'azureuser';

/** A waagent.conf as an image builder would ship it (host keys regenerated, no resource disk here). */
export const CONF = [
  'Provisioning.Agent=waagent',
  'Provisioning.RegenerateSshHostKeyPair=y',
  'Provisioning.SshHostKeyPairType=ed25519',
  'Provisioning.DeleteRootPassword=n',
  'ResourceDisk.Format=n',
  'Logs.Verbose=y',
  '',
].join('\n');

/** DHCP leases of every client deprovision knows (the box has no DHCP client: planted by hand). */
export const LEASES = [
  '/var/lib/dhcp/dhclient.eth0.leases',
  '/var/lib/dhclient/dhclient-eth0.leases',
  '/var/lib/dhcpcd/eth0.lease',
  '/var/db/dhclient.leases.eth0',
  '/var/lib/NetworkManager/dhclient-0c5bd2b5-eth0.lease',
  '/run/systemd/netif/leases/2',
];

/**
 * One extension pass by the BUILT binary: `waagent -run-exthandlers -debug` (no orphan check: it
 * has no daemon parent here) runs until the simulator received a status blob in which the demo
 * handler is Ready, then gets SIGTERM. `chroot` runs it inside another root tree (rescue test).
 */
export async function extensionPass(box: Box, chroot?: string): Promise<void> {
  const argv = [WAAGENT, '-run-exthandlers', '-debug'];
  const p = box.spawn(chroot ? ['chroot', chroot, ...argv] : argv);
  const deadline = Date.now() + 90_000;
  let ready = false;
  try {
    while (!ready && Date.now() < deadline && !p.exited) {
      const ups = await box.fabric!.statusUploads().catch(() => []);
      const json = ups.at(-1)?.json as { aggregateStatus?: { handlerAggregateStatus?: { status?: string }[] } } | undefined;
      ready = json?.aggregateStatus?.handlerAggregateStatus?.some((h) => h.status === 'Ready') ?? false;
      if (!ready) await new Promise((r) => setTimeout(r, 200));
    }
  } finally {
    p.kill('SIGTERM');
  }
  const r = await p.wait(30_000);
  assert.ok(ready, `-run-exthandlers did not report the extension Ready (exit ${r.code}):\n${r.stdout.slice(-3000)}\n${r.stderr.slice(-2000)}`);
  assert.ok(r.code === 0 || r.signal === 'SIGTERM', `-run-exthandlers stopped badly: exit ${r.code} ${r.signal}\n${r.stderr.slice(-2000)}`);
}

export function assertOk(r: RunResult, what: string): void {
  assert.equal(r.code, 0, `${what}: exit ${r.code}${r.timedOut ? ' (timed out)' : ''}\nstdout:\n${r.stdout.slice(-3000)}\nstderr:\n${r.stderr.slice(-3000)}`);
}

/** A box with the fabric simulator, the provisioning DVD and our waagent.conf; nothing run yet. */
export function freshBox(files: Record<string, BoxFile | string> = {}): Promise<Box> {
  return Box.start({
    scenario: SCENARIO, media: { kind: 'udf' }, hostname: 'imagebuild',
    files: { '/etc/waagent.conf': { content: CONF, mode: 0o644 }, ...files },
  });
}

/**
 * A box provisioned by the built binary, with one extension run and the DHCP leases a real VM has.
 * `files` are written at box start (before provisioning).
 */
export async function provisionedBox(files: Record<string, BoxFile | string> = {}, opts: { extension?: boolean } = {}): Promise<Box> {
  const box = await freshBox(files);
  try {
    assertOk(await box.run([WAAGENT, '-provision'], { timeoutMs: 180_000 }), 'waagent -provision');
    if (opts.extension !== false) await extensionPass(box);
    for (const l of LEASES) box.writeFile(l, `lease {\n  interface "eth0";\n  fixed-address 10.0.0.4;\n  option dhcp-server-identifier 168.63.129.16;\n}\n`, { mode: 0o644 }); // a lease file inside the sandbox
    box.writeFile('/root/.bash_history', 'sudo waagent -deprovision+user\n', { mode: 0o600 });
    return box;
  } catch (e) {
    await box.close();
    throw e;
  }
}

/** Content fingerprint of one path as seen from the host: type, mode, owner, and content or link target. */
/**
 * What the box looks like: every path any command in it changed (the overlay's upper dir) plus
 * `extra` paths, each with a content fingerprint, and the running hostname. Two equal snapshots
 * mean a command changed nothing on the box's disk.
 */
export async function snapshot(box: Box, extra: string[] = []): Promise<Map<string, string>> {
  const out = new Map<string, string>();
  for (const c of box.changes()) out.set(c.path, fingerprintPath(box.root.pathNoFollow(c.path)));
  for (const p of extra) out.set(p, fingerprintPath(box.root.pathNoFollow(p)));
  out.set('<hostname>', (await box.run(['hostname'])).stdout.trim());
  return out;
}

/** Lines `  remove <path>` of a deprovision listing (dry run or real run), as paths. */
export function removedPaths(stdout: string): string[] {
  return stdout.split('\n').filter((l) => l.startsWith('  remove ')).map((l) => l.slice('  remove '.length)).sort();
}
