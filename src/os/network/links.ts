// Network links and their changes, for a pre-provisioned VM waiting to be assigned: which NIC is
// the primary, and the kernel's link events (NIC removed, NIC added, carrier lost and back). Events
// come from `ip -o monitor link` (iproute2 listening on rtnetlink's link group; Node has no netlink
// socket without a native addon): one line per RTM_NEWLINK / RTM_DELLINK, e.g.
//
//   3: eth0@if2: <NO-CARRIER,BROADCAST,MULTICAST,UP> mtu 1500 qdisc mq state LOWERLAYERDOWN group default \    link/ether …
//   Deleted 3: eth0: <BROADCAST,MULTICAST> mtu 1500 … state DOWN …
//
// Bounded: lines over 4 KiB are dropped, at most 512 events wait to be read (the oldest go first),
// and the monitor process is killed when the watcher is closed or this process exits.
import { readdirSync, readFileSync } from 'node:fs';
import type { ChildProcess } from 'node:child_process';
import type { Sysroot } from '../../util/sysroot.ts';
import { childProcess } from '../../util/builtins.ts';

export interface LinkEvent {
  deleted: boolean;
  index: number;
  name: string;
  flags: string[];
  /** Operational state (UP, DOWN, LOWERLAYERDOWN, UNKNOWN…); '' when the line has none. */
  state: string;
}

const LINE = /^(Deleted )?(\d+): ([^:@\s]+)(?:@[^:\s]*)?: <([A-Z0-9_,-]*)>(?:.*? state ([A-Z]+))?/;

export function parseLinkLine(line: string): LinkEvent | null {
  const m = LINE.exec(line);
  if (!m) return null;
  return { deleted: m[1] !== undefined, index: Number(m[2]), name: m[3]!, flags: m[4] ? m[4].split(',') : [], state: m[5] ?? '' };
}

/** Carrier present: the kernel reports LOWER_UP and no NO-CARRIER. */
export function hasCarrier(e: LinkEvent): boolean {
  return !e.deleted && e.flags.includes('LOWER_UP') && !e.flags.includes('NO-CARRIER');
}

/** Interfaces other than lo, by ifindex (from /sys/class/net of the root). */
export function listLinks(root: Sysroot): { name: string; index: number }[] {
  let names: string[] = [];
  try { names = readdirSync(root.path('/sys/class/net')); } catch { return []; }
  const out: { name: string; index: number }[] = [];
  for (const name of names) {
    if (name === 'lo' || name.startsWith('.')) continue;
    let index = Number.MAX_SAFE_INTEGER;
    try { index = Number(readFileSync(root.path(`/sys/class/net/${name}/ifindex`), 'utf8').trim()) || index; } catch { /* keep */ }
    out.push({ name, index });
  }
  return out.sort((a, b) => a.index - b.index || (a.name < b.name ? -1 : 1));
}

export interface LinkWatcher {
  /** The next event, or null when none came within `timeoutMs` or the monitor ended. */
  next(timeoutMs: number): Promise<LinkEvent | null>;
  /** The monitor process ended (it could not start, or died): no more events will come. */
  readonly ended: boolean;
  close(): void;
}

const MAX_QUEUE = 512;
const MAX_LINE = 4096;

/**
 * Starts `ip -o monitor link` (`ip` = the argv that runs iproute2's ip; tests put nsenter in front).
 * Under `setpriv --pdeathsig KILL` when setpriv exists, so the monitor dies with us even when we are
 * killed; without setpriv it ends at the next link event after our death (its write fails: EPIPE).
 */
export function watchLinks(ip: string[] = ['ip'], guard: string[] | null = ['setpriv', '--pdeathsig', 'KILL', '--']): LinkWatcher {
  const queue: LinkEvent[] = [];
  let waiter: ((e: LinkEvent | null) => void) | null = null;
  let ended = false;
  let partial = '';
  let child: ChildProcess | null = null;
  const onExit = () => { try { child?.kill('SIGKILL'); } catch { /* gone */ } };
  const finish = () => {
    if (ended) return;
    ended = true;
    process.removeListener('exit', onExit);
    const w = waiter;
    waiter = null;
    w?.(null);
  };
  const push = (e: LinkEvent) => {
    if (waiter) { const w = waiter; waiter = null; w(e); return; }
    if (queue.length >= MAX_QUEUE) queue.shift();
    queue.push(e);
  };
  const start = (argv: string[], fallback: string[] | null) => {
    let c: ChildProcess;
    try {
      c = childProcess().spawn(argv[0]!, [...argv.slice(1), '-o', 'monitor', 'link'], { stdio: ['ignore', 'pipe', 'ignore'] });
    } catch {
      if (fallback) start(fallback, null); else finish();
      return;
    }
    child = c;
    c.stdout!.setEncoding('utf8');
    c.stdout!.on('data', (chunk: string) => {
      partial += chunk;
      let nl: number;
      while ((nl = partial.indexOf('\n')) >= 0) {
        const line = partial.slice(0, nl);
        partial = partial.slice(nl + 1);
        if (line.length <= MAX_LINE) { const e = parseLinkLine(line); if (e) push(e); }
      }
      if (partial.length > MAX_LINE) partial = '';
    });
    c.on('error', (e: NodeJS.ErrnoException) => {
      // setpriv itself missing: the same monitor without the guard.
      if (e.code === 'ENOENT' && fallback && !ended) start(fallback, null); else finish();
    });
    c.on('exit', () => { if (child === c) finish(); });
  };
  process.once('exit', onExit);
  start(guard ? [...guard, ...ip] : ip, guard ? ip : null);
  return {
    get ended() { return ended; },
    next(timeoutMs: number): Promise<LinkEvent | null> {
      const e = queue.shift();
      if (e) return Promise.resolve(e);
      if (ended) return Promise.resolve(null);
      return new Promise((resolve) => {
        const t = setTimeout(() => { if (waiter === done) waiter = null; resolve(null); }, Math.max(0, timeoutMs));
        const done = (v: LinkEvent | null) => { clearTimeout(t); resolve(v); };
        waiter = done;
      });
    },
    close() {
      onExit();
      queue.length = 0;
      finish();
    },
  };
}
