// DHCP client restart detection (docs/os.md §6.4, 2.15 ga/env.py monitor_dhcp_client_restart). We record the
// DHCP clients' pids; when they all die and new ones appear, a client restarted and may have dropped the
// route the agent relies on (the caller then checks and restores it). Pids come from a /proc scan, never
// from a `pidof`/`systemctl` child process: while the known pids live, a check costs one kill(pid, 0)
// per pid; while no client runs, /proc is scanned on one check in ten.
import type { Sysroot } from '../../util/sysroot.ts';
import { pidsByName } from '../process.ts';

/** The clients an Azure image may run (NetworkManager and systemd-networkd carry their own DHCP client). */
export const DHCP_CLIENTS: readonly string[] = ['dhclient', 'dhcpcd', 'udhcpc', 'systemd-networkd', 'NetworkManager'];

/** Pids of the DHCP clients, sorted; [] when none runs. */
export function dhcpClientPids(root: Sysroot, clients: readonly string[] = DHCP_CLIENTS): number[] {
  return pidsByName(root, clients);
}

export interface DhcpCheck {
  /** 'first' on the first run, 'same', 'restarted' (new pids), 'not-running'. */
  event: 'first' | 'same' | 'restarted' | 'not-running';
  pids: number[];
}

/** Keeps the last pid list between runs. */
export class DhcpMonitor {
  private pids: number[] | null = null;
  private idleSkips = 0;
  private readonly find: () => number[];
  private readonly alive: (pid: number) => boolean;

  constructor(find: () => number[], alive: (pid: number) => boolean) {
    this.find = find;
    this.alive = alive;
  }

  check(): DhcpCheck {
    if (this.pids === null) {
      this.pids = this.find();
      return { event: this.pids.length ? 'first' : 'not-running', pids: this.pids };
    }
    // Cheap path: every known pid alive => nothing happened.
    if (this.pids.length && this.pids.every((p) => this.alive(p))) return { event: 'same', pids: this.pids };
    if (this.pids.length === 0 && ++this.idleSkips % 10 !== 0) return { event: 'not-running', pids: [] };
    const now = this.find();
    if (now.length === 0) return { event: 'not-running', pids: this.pids };
    const changed = now.join(',') !== this.pids.join(',');
    this.pids = now;
    return { event: changed ? 'restarted' : 'same', pids: now };
  }
}
