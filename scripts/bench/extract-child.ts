// One extraction by the agent's own code path (extractPackage: streaming extraction, u+x, manifest), in a
// process of its own so its memory is its own: prints {ms, rssBeforeKiB, hwmKiB} as JSON. The peak RSS
// (VmHWM) is reset just before the extraction (clear_refs 5), so hwm - rssBefore is what extraction added.
//   scripts/node scripts/bench/extract-child.ts ZIP LIBDIR   (ZIP is consumed, as the agent's zip is)
import { readFileSync, writeFileSync } from 'node:fs';
import { HandlerLayout } from '../../src/extensions/layout.ts';
import { extractPackage } from '../../src/extensions/package.ts';

function statusKiB(field: string): number {
  const m = new RegExp(`^${field}:\\s+(\\d+) kB`, 'm').exec(readFileSync('/proc/self/status', 'utf8'));
  if (!m) throw new Error(`no ${field} in /proc/self/status`);
  return Number(m[1]);
}

const [zip, libDir] = process.argv.slice(2);
if (!zip || !libDir) throw new Error('usage: extract-child.ts ZIP LIBDIR');
const layout = new HandlerLayout({ libDir, extLogDir: `${libDir}/log` }, 'Waagent.Bench.Big', '1.0.0');
// Everything the extraction needs is loaded and warm before the measurement starts.
await import('../../src/util/zipextract.ts');
writeFileSync('/proc/self/clear_refs', '5');
const rssBeforeKiB = statusKiB('VmRSS');
const t0 = process.hrtime.bigint();
await extractPackage(zip, layout);
const ms = Number(process.hrtime.bigint() - t0) / 1e6;
process.stdout.write(`${JSON.stringify({ ms, rssBeforeKiB, hwmKiB: statusKiB('VmHWM') })}\n`);
