// PPS bench: time from "reprovision data available" to the Ready health report of the assigned VM,
// for pre-provisioned pool VMs (Running and Savable), each run in a FRESH VM-in-a-box through the
// same driver as the e2e test (test/e2e/pps-helpers.ts): Ready in the pool, the NIC switched (a
// veth: carrier flap for Running; unplug eth0 + plug eth1 for Savable), then the simulator is told
// to assign the VM. Runs are interleaved (Running, Savable, Running, …).
//
//   scripts/node scripts/bench/pps.ts [--runs 5] [--kinds Running,Savable]
//
// t0 = the host clock just before the simulator is told to answer reprovisiondata (after the NIC
// switch: the agent already polls every second); the first 200 reprovisiondata and the final Ready
// are the simulator's own timestamps (same host clock). So the figure is: the agent's remaining poll
// wait (<= 1 s, cloud-init's interval) + fetching the new goal state and IMDS + a complete first-boot
// provisioning (user, password, key, hostname, host keys kept) + the Ready report.
// Needs root and a built dist/waagent. Not run by CI (tests never assert wall time). Network safety:
// the agent runs only inside the box (private netns with only lo and the box's own veth pairs).
import mri from 'mri';
import { runPool, type PoolKind } from '../../test/e2e/pps-helpers.ts';

const args = mri(process.argv.slice(2), { string: ['runs', 'kinds'], boolean: ['help'] });
if (args.help) { console.log('usage: scripts/node scripts/bench/pps.ts [--runs N (5)] [--kinds Running,Savable]'); process.exit(0); }
const runs = Math.max(1, Math.min(50, Number(args.runs ?? 5) || 5));
const kinds = String(args.kinds ?? 'Running,Savable').split(',').map((k) => k.trim()).filter(Boolean) as PoolKind[];
for (const k of kinds) if (k !== 'Running' && k !== 'Savable') { console.error(`--kinds: ${k} is not Running or Savable`); process.exit(2); }
if (process.getuid?.() !== 0) { console.error('needs root (the VM-in-a-box)'); process.exit(2); }

const results = new Map<PoolKind, { toData: number[]; toReady: number[] }>(kinds.map((k) => [k, { toData: [], toReady: [] }]));
for (let i = 0; i < runs; i++) {
  for (const k of kinds) {
    const r = await runPool(k);
    try {
      if (r.result.code !== 0 || !Number.isFinite(r.readyAt)) throw new Error(`${k} run ${i + 1}: exit ${r.result.code}\n${r.result.stdout}${r.result.stderr}`);
      const row = results.get(k)!;
      row.toData.push(r.dataAt - r.assignedAt);
      row.toReady.push(r.readyAt - r.assignedAt);
      console.log(`${k} run ${i + 1}: data available -> first 200 ${r.dataAt - r.assignedAt} ms, -> Ready ${r.readyAt - r.assignedAt} ms`);
    } finally {
      await r.box.close();
    }
  }
}
const med = (a: number[]) => { const s = [...a].sort((x, y) => x - y); return s[Math.floor(s.length / 2)]!; };
console.log('\nkind      runs  first 200 (median)  Ready (median, min..max)');
for (const [k, r] of results) {
  console.log(`${k.padEnd(9)} ${String(r.toReady.length).padStart(4)}  ${String(med(r.toData)).padStart(15)} ms  ${med(r.toReady)} ms (${Math.min(...r.toReady)}..${Math.max(...r.toReady)})`);
}
