// npm run demo: build if needed, start a VM-in-a-box with the fabric simulator's default scenario
// (a user with password and SSH key, a hostname, custom data, one shell extension with protected
// settings, the provisioning DVD as a UDF image), run `dist/waagent -daemon` inside until the VM is
// Ready and the extension's status has been uploaded, then print what happened. Exit 0 only when the
// whole path worked; otherwise say plainly which part is missing.
//
// Network safety: everything runs inside the box's private network namespace (only `lo`, with the
// Azure addresses on it and the simulator listening there).
import { execFileSync } from 'node:child_process';
import { existsSync, readdirSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { Box, PROJECT } from '../test/sandbox/box.ts';

const SCENARIO = join(PROJECT, 'test', 'fabric', 'scenarios', 'default.json');
const BINARY = join(PROJECT, 'dist', 'waagent');
const TIMEOUT_MS = Number(process.env.DEMO_TIMEOUT_MS ?? 90_000);
const CONF = [
  'Provisioning.Agent=waagent',
  'Provisioning.DecodeCustomData=y',
  'Provisioning.ExecuteCustomData=n',
  'Provisioning.RegenerateSshHostKeyPair=y',
  'Provisioning.SshHostKeyPairType=ed25519',
  'Extensions.GoalStatePeriod=2',
  'OS.EnableFirewall=y',
  'Logs.Console=n',
  '',
].join('\n');

function newestMtime(dir: string): number {
  let t = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    t = Math.max(t, e.isDirectory() ? newestMtime(p) : statSync(p).mtimeMs);
  }
  return t;
}

function ensureBuilt(): void {
  if (existsSync(BINARY) && statSync(BINARY).mtimeMs >= newestMtime(join(PROJECT, 'src'))) return;
  console.log('building dist/waagent ...');
  execFileSync(process.execPath, [join(PROJECT, 'build.mjs')], { stdio: 'inherit' });
}

const ms = (t0: number) => `${((Date.now() - t0) / 1000).toFixed(2)} s`;

async function main(): Promise<number> {
  if (process.getuid?.() !== 0) { console.error('demo: needs root (namespaces, mounts, loop devices)'); return 1; }
  ensureBuilt();
  const missing: string[] = [];
  const t0 = Date.now();
  console.log('starting the VM-in-a-box with the fabric simulator (scenario "default") ...');
  const box = await Box.start({
    scenario: SCENARIO,
    media: { kind: 'udf' },
    files: { '/etc/waagent.conf': { content: CONF, mode: 0o644 } },
  });
  console.log(`  box ready in ${ms(t0)}`);
  let daemon: ReturnType<Box['spawn']> | undefined;
  try {
    const fabric = box.fabric!;
    const tRun = Date.now();
    daemon = box.spawn([BINARY, '-daemon']);
    const exited = daemon.wait().then((r) => r);
    let readyAt: string | undefined;
    let extAt: string | undefined;
    let extStatus: unknown;
    const end = Date.now() + TIMEOUT_MS;
    let earlyExit: Awaited<typeof exited> | undefined;
    void exited.then((r) => { earlyExit = r; });
    while (Date.now() < end && !(readyAt && extAt) && !earlyExit) {
      const health = await fabric.health();
      if (!readyAt && health.some((h) => h.state === 'Ready')) readyAt = ms(tRun);
      const uploads = await fabric.statusUploads();
      for (const u of uploads) {
        const handlers = (u.json as { aggregateStatus?: { handlerAggregateStatus?: { handlerName: string; status: string; runtimeSettingsStatus?: { settingsStatus?: { status?: { status?: string; formattedMessage?: { message?: string } } } } }[] } } | undefined)
          ?.aggregateStatus?.handlerAggregateStatus ?? [];
        const h = handlers.find((x) => x.handlerName === 'Waagent.Test.ShellExt');
        const st = h?.runtimeSettingsStatus?.settingsStatus?.status;
        if (st?.status === 'success') { extAt ??= ms(tRun); extStatus = { handler: h!.status, extension: st.status, message: st.formattedMessage?.message }; }
      }
      if (!(readyAt && extAt)) await new Promise((r) => setTimeout(r, 250));
    }
    if (earlyExit) {
      console.log(`\nwaagent -daemon exited early with code ${earlyExit.code}:`);
      console.log((earlyExit.stderr || earlyExit.stdout).trim().split('\n').slice(-10).map((l) => `  ${l}`).join('\n'));
      if (earlyExit.code === 3) missing.push('the daemon (-daemon) is not implemented in this build yet');
    }
    if (!readyAt) missing.push('the VM was not reported Ready');
    if (!extAt) missing.push('no status upload with the extension Waagent.Test.ShellExt in "success"');

    console.log('\n== timeline');
    console.log(`  Ready reported:              ${readyAt ?? 'never'}`);
    console.log(`  extension status uploaded:   ${extAt ?? 'never'}`);
    const health = await fabric.health();
    console.log('\n== health reports');
    for (const h of health) console.log(`  ${h.channel.padEnd(4)} ${h.state}${h.subStatus ? ` / ${h.subStatus}` : ''}${h.description ? ` (${h.description.slice(0, 80)})` : ''}`);
    if (extStatus) console.log(`\n== extension status\n  ${JSON.stringify(extStatus)}`);
    console.log('\n== platform requests');
    for (const l of await fabric.summary()) console.log(`  ${l}`);
    console.log('\n== files changed in the box');
    const changes = box.changes().filter((c) => !/^\/(tmp|run|proc|sys|dev)\//.test(c.path));
    for (const c of changes.slice(0, 40)) console.log(`  ${c.kind.padEnd(8)} ${c.path}`);
    if (changes.length > 40) console.log(`  ... and ${changes.length - 40} more`);
    const log = box.agentLog().trim().split('\n');
    console.log('\n== /var/log/waagent.log (last 15 lines)');
    for (const l of log.slice(-15)) console.log(`  ${l}`);
  } finally {
    if (daemon) { daemon.kill('SIGTERM'); await Promise.race([daemon.wait(), new Promise((r) => setTimeout(r, 10_000))]); }
    await box.close();
  }
  console.log(`\ndemo finished in ${ms(t0)}`);
  if (missing.length) {
    console.log('\nNOT COMPLETE:');
    for (const m of missing) console.log(`  - ${m}`);
    return 1;
  }
  console.log('\nOK: provisioned, Ready, extension enabled and its status uploaded.');
  return 0;
}

main().then((code) => process.exit(code), (e) => { console.error(`demo failed: ${e instanceof Error ? e.stack : e}`); process.exit(1); });
