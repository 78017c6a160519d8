// Network interfaces in the box's private network namespace, standing in for a VM's NICs in the
// pre-provisioned pool flows: a veth pair whose box-side end is the "NIC" (the peer, `<name>p`, is
// its cable). Hot-unplug = deleting the pair; hot-plug = adding one; a VNet switch (carrier lost
// and back) = the peer going down and up. Nothing here leaves the box's namespace: a veth pair has
// both ends in it, and no address or route is configured.
import type { Box } from './box.ts';

const NAME = /^[a-z][a-z0-9]{0,12}$/;

async function ip(box: Box, args: string[]): Promise<void> {
  const r = await box.run(['ip', ...args]);
  if (r.code !== 0) throw new Error(`box: ip ${args.join(' ')}: exit ${r.code}: ${r.stderr.trim()}`);
}

function check(name: string): void {
  if (!NAME.test(name)) throw new Error(`box: NIC name ${JSON.stringify(name)} must match ${NAME}`);
}

/** Plugs a NIC `name` in (carrier up). Created as the pair's peer, so `name` gets the lower ifindex. */
export async function plugNic(box: Box, name: string): Promise<void> {
  check(name);
  await ip(box, ['link', 'add', `${name}p`, 'type', 'veth', 'peer', 'name', name]);
  await ip(box, ['link', 'set', name, 'up']);
  await ip(box, ['link', 'set', `${name}p`, 'up']);
}

/** Unplugs NIC `name` (both ends of its pair go). */
export async function unplugNic(box: Box, name: string): Promise<void> {
  check(name);
  await ip(box, ['link', 'del', name]);
}

/** The NIC's carrier goes away for `ms`, then comes back (as in a VNet switch). */
export async function flapNic(box: Box, name: string, ms = 300): Promise<void> {
  check(name);
  await ip(box, ['link', 'set', `${name}p`, 'down']);
  await new Promise((r) => setTimeout(r, ms));
  await ip(box, ['link', 'set', `${name}p`, 'up']);
}

/** Resolves once a process whose command line contains `needle` runs in the box (bounded). */
export async function waitForProcess(box: Box, needle: string, timeoutMs = 30_000): Promise<void> {
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const r = await box.run(['pgrep', '-f', '--', needle]);
    if (r.code === 0) return;
    await new Promise((res) => setTimeout(res, 100));
  }
  throw new Error(`box: no process matching ${JSON.stringify(needle)} within ${timeoutMs} ms`);
}
