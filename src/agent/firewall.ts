// The wireserver firewall as the daemon runs it (docs/os.md §6.6): at start remove the legacy rule and make
// sure the three rules are there; persist them across reboots with a unit under /etc/systemd/system that
// runs THIS binary with -setup-firewall=<ip> (from our system extension, for the usual WireServer address:
// the shipped unit, enabled, nothing written); every OS.EnableFirewallPeriod check and restore (a partial
// set is rebuilt). Repairs are logged for the first 3, then at most once every 12 h.
import type { Runner } from '../util/exec.ts';
import type { Sysroot } from '../util/sysroot.ts';
import { Firewall } from '../os/firewall.ts';
import { FIREWALL_UNIT, enableShippedUnit, firewallUnit, installUnit, systemdRunning } from '../os/service.ts';
import { SYSEXT_FIREWALL_ENDPOINT, runsFromSysext } from '../os/sysext.ts';
import { log } from '../util/logger.ts';
import { errorText } from '../util/errors.ts';

export interface FirewallTaskOptions {
  runner: Runner;
  root: Sysroot;
  endpoint: string;
  self: string[];
  flatcar: boolean;
  now?: () => number;
  /** Told about every repair (telemetry: ResetFirewall, like waagent). */
  onRepair?: (what: string) => void;
  /** Told when no tool can set the rules (an error event); the text is also in `problem`. */
  onFailure?: (message: string) => void;
}

export class FirewallTask {
  readonly fw: Firewall;
  private readonly o: FirewallTaskOptions;
  private repairs = 0;
  private lastRepairLog = 0;
  /** Why the VM runs without the WireServer firewall right now (for the status); null when the rules are in place. */
  problem: string | null = null;

  constructor(o: FirewallTaskOptions) {
    this.o = o;
    this.fw = new Firewall({ runner: o.runner, dst: o.endpoint, uid: process.getuid?.() ?? 0 });
  }

  /** Start-up: legacy rule out, rules in, persistence unit. Errors are logged, not thrown (the periodic check retries). */
  async init(): Promise<void> {
    try {
      try {
        const legacy = await this.fw.removeLegacy();
        if (legacy) log.info(`Removed ${legacy} legacy firewall rule(s)`);
      } catch (e) { log.warn(`Removing the legacy firewall rule: ${errorText(e)}`); }
      const r = await this.fw.ensure();
      this.reportFallback();
      log.info(`Firewall rules for ${this.fw.dst}: ${r} (${await this.fw.detect()})`);
      this.problem = null;
    } catch (e) {
      this.failed(e);
    }
    try {
      await this.persist();
    } catch (e) {
      log.warn(`Persisting the firewall rules: ${errorText(e)}`);
    }
  }

  /** The boot-time unit; only where systemd runs (no unit dir to write into otherwise). */
  async persist(): Promise<void> {
    if (!systemdRunning(this.o.root)) {
      log.once('INFO', 'fw-nosystemd', 'systemd is not running: the firewall rules are not persisted across reboots (the daemon sets them at start)');
      return;
    }
    if (this.fw.dst === SYSEXT_FIREWALL_ENDPOINT && runsFromSysext(this.o.root, this.o.self[0])) {
      const s = await enableShippedUnit(this.o.root, this.o.runner, FIREWALL_UNIT);
      if (s.removed) log.info(`Removed ${s.removed}: the system extension's ${FIREWALL_UNIT} replaces it`);
      if (s.shadowedBy) log.once('WARNING', 'fw-shadowed', `${s.shadowedBy} hides the ${FIREWALL_UNIT} shipped in the system extension`);
      return;
    }
    const unit = firewallUnit({ self: this.o.self, endpoint: this.fw.dst, flatcar: this.o.flatcar });
    const r = await installUnit(this.o.root, this.o.runner, FIREWALL_UNIT, unit);
    if (r.written) log.info(`Wrote ${r.path} and enabled it`);
  }

  private reportFallback(): void {
    if (!this.fw.fallback) return;
    log.warn(`Firewall rules for ${this.fw.dst}: ${this.fw.fallback}`);
    this.fw.fallback = null;
  }

  /** No tool could set the rules: an error in the log, an error event, and the status says so until fixed. */
  private failed(e: unknown): void {
    const first = this.problem === null;
    this.problem = `the WireServer firewall for ${this.fw.dst} could not be set: ${errorText(e)}`;
    if (!first) return;
    log.error(`${this.problem}; any local user can reach the WireServer`);
    this.o.onFailure?.(this.problem);
  }

  /** Periodic: check and restore. */
  async run(): Promise<void> {
    let r: 'unchanged' | 'created' | 'repaired';
    try {
      r = await this.fw.ensure();
    } catch (e) {
      this.failed(e);
      throw e;
    }
    this.reportFallback();
    if (this.problem !== null) { log.info(`Firewall rules for ${this.fw.dst} are in place again`); this.problem = null; }
    if (r === 'unchanged') return;
    this.repairs++;
    this.o.onRepair?.(r);
    const now = (this.o.now ?? Date.now)();
    if (this.repairs <= 3 || now - this.lastRepairLog >= 12 * 3600_000) {
      this.lastRepairLog = now;
      log.warn(`The firewall rules for ${this.fw.dst} were ${r === 'repaired' ? 'incomplete and were rebuilt' : 'missing and were set up again'}`);
    }
  }
}
