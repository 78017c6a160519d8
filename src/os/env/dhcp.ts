// DHCP client restart detection (os.md §6.4). We record the DHCP client's pids; when they all die and
// new ones appear, the client restarted and may have dropped routes the agent relies on. Upstream's
// route restore is a no-op in practice (its gateway/routes are unset, §6.4), and on systemd-networkd
// hosts the client restores its own routes: we detect and log, and check that the WireServer is still
// routed (logged once per restart when it is not). UNCONFIRMED whether any platform needs more.
import type { Runner } from '../../util/exec.ts';

export type DhcpClient = 'dhclient' | 'systemd-networkd';

/** Pids of the DHCP client, sorted; [] when it is not running. */
export async function dhcpClientPids(runner: Runner, client: DhcpClient): Promise<number[]> {
  if (client === 'systemd-networkd') {
    const r = await runner.run(['systemctl', 'show', '-p', 'MainPID', 'systemd-networkd'], { timeoutMs: 10_000, maxOutput: 4096 });
    const pid = Number(/MainPID=(\d+)/.exec(r.stdout)?.[1] ?? 0);
    if (r.code === 0 && pid > 0) return [pid];
    // No systemd (e.g. a container or the sandbox): look the process up by name.
  }
  const r = await runner.run(['pidof', client === 'dhclient' ? 'dhclient' : 'systemd-networkd'], { timeoutMs: 10_000, maxOutput: 4096 });
  if (r.code !== 0) return [];
  return r.stdout.trim().split(/\s+/).filter((x) => /^\d+$/.test(x)).map(Number).sort((a, b) => a - b);
}

export interface DhcpCheck {
  /** 'first' on the first run, 'same', 'restarted' (new pids), 'not-running'. */
  event: 'first' | 'same' | 'restarted' | 'not-running';
  pids: number[];
}

/** Keeps the last pid list between runs. */
export class DhcpMonitor {
  private pids: number[] | null = null;
  /** Checks skipped while no client runs: looking it up costs a process spawn, once every 10 checks is enough. */
  private idleSkips = 0;
  private readonly runner: Runner;
  private readonly client: DhcpClient;
  private readonly alive: (pid: number) => boolean;

  constructor(runner: Runner, client: DhcpClient, alive: (pid: number) => boolean) {
    this.runner = runner;
    this.client = client;
    this.alive = alive;
  }

  async check(): Promise<DhcpCheck> {
    if (this.pids === null) {
      this.pids = await dhcpClientPids(this.runner, this.client);
      return { event: this.pids.length ? 'first' : 'not-running', pids: this.pids };
    }
    // Cheap path: every known pid alive => nothing happened (no command run).
    if (this.pids.length && this.pids.every((p) => this.alive(p))) return { event: 'same', pids: this.pids };
    if (this.pids.length === 0 && ++this.idleSkips % 10 !== 0) return { event: 'not-running', pids: [] };
    const now = await dhcpClientPids(this.runner, this.client);
    if (now.length === 0) return { event: 'not-running', pids: this.pids };
    const changed = now.join(',') !== this.pids.join(',');
    this.pids = now;
    return { event: changed ? 'restarted' : 'same', pids: now };
  }
}
