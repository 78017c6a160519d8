// The WireServer firewall (docs/os.md §6.6): only root (the agent) may open new TCP connections to the
// WireServer; TCP 53 (DNS on the WireServer) stays open to everyone; UDP is never touched, so DNS cannot
// break. iptables in the `security` table when `iptables --version` runs, else one nft table. Rule texts,
// order and table are waagent's, so tools and humans that know them find them. When the tool in use
// cannot set or verify all of its rules (an iptables whose `owner`/`conntrack` match modules do not
// load), what it set is removed and the other tool is used: a VM never stays without a firewall
// because one tool is broken.
import type { Runner } from '../util/exec.ts';
import { AgentError, errorText } from '../util/errors.ts';

export type FirewallTool = 'iptables' | 'nft';
export type FirewallState = 'ok' | 'missing' | 'partial';

export class FirewallError extends AgentError {
  static override readonly errorName: string = 'FirewallError';
}

export const NFT_TABLE = 'walinuxagent';

/** Dotted IPv4 only: the address goes into argv and an nft script. */
export function checkAddress(dst: string): string {
  const m = /^(\d{1,3})\.(\d{1,3})\.(\d{1,3})\.(\d{1,3})$/.exec(dst.trim());
  if (!m || m.slice(1).some((x) => Number(x) > 255)) throw new FirewallError(`not an IPv4 address: ${JSON.stringify(dst)}`);
  return m.slice(1).map(Number).join('.');
}

/** The three rules, in order, as the part after `-A|-C|-D OUTPUT`. */
export function iptablesRules(dst: string, uid: number): string[][] {
  const d = checkAddress(dst);
  return [
    ['-d', d, '-p', 'tcp', '--destination-port', '53', '-j', 'ACCEPT'],
    ['-d', d, '-p', 'tcp', '-m', 'owner', '--uid-owner', String(uid), '-j', 'ACCEPT'],
    ['-d', d, '-p', 'tcp', '-m', 'conntrack', '--ctstate', 'INVALID,NEW', '-j', 'DROP'],
  ];
}

/**
 * The three rules as `iptables -S OUTPUT` prints them: the address with its /32, `--destination-port`
 * as `-m tcp --dport`. iptables 1.8 prints them so with either backend (legacy and nf_tables: captured in
 * the VM-in-a-box, test/e2e/firewall-box.test.ts compares the real listing).
 */
export function iptablesListedRules(dst: string, uid: number): string[] {
  const d = checkAddress(dst);
  return [
    `-A OUTPUT -d ${d}/32 -p tcp -m tcp --dport 53 -j ACCEPT`,
    `-A OUTPUT -d ${d}/32 -p tcp -m owner --uid-owner ${uid} -j ACCEPT`,
    `-A OUTPUT -d ${d}/32 -p tcp -m conntrack --ctstate INVALID,NEW -j DROP`,
  ];
}

/**
 * Does an `iptables -S OUTPUT` listing show each of the three rules as a line of its own, exactly (a rule
 * with one more condition, e.g. `-o eth0`, protects less and does not count)? Whitespace runs count as one.
 */
export function iptablesListingHasRules(listing: string, dst: string, uid: number): boolean {
  const lines = new Set<string>();
  for (const l of listing.split('\n')) { const t = l.trim().split(/\s+/).join(' '); if (t.startsWith('-A OUTPUT ')) lines.add(t); }
  return iptablesListedRules(dst, uid).every((r) => lines.has(r));
}

/** The rule of agents before 2.2.26 (accepted everything new): removed once at start. */
export function legacyRule(dst: string): string[] {
  return ['-d', checkAddress(dst), '-p', 'tcp', '-m', 'conntrack', '--ctstate', 'INVALID,NEW', '-j', 'ACCEPT'];
}

export function nftScript(dst: string, uid: number): string {
  const d = checkAddress(dst);
  return [
    `add table ip ${NFT_TABLE}`,
    `add chain ip ${NFT_TABLE} output { type filter hook output priority 0 ; policy accept ; }`,
    `add rule ip ${NFT_TABLE} output ip daddr ${d} tcp dport != 53 skuid != ${uid} ct state invalid,new counter drop`,
    '',
  ].join('\n');
}

/** `iptables v1.8.9 (nf_tables)` -> true when -w is understood (>= 1.4.21). */
export function iptablesSupportsWait(versionOutput: string): boolean {
  const m = /v(\d+)\.(\d+)\.(\d+)/.exec(versionOutput);
  if (!m) return false;
  const v = [Number(m[1]), Number(m[2]), Number(m[3])];
  const min = [1, 4, 21];
  for (let i = 0; i < 3; i++) if (v[i] !== min[i]) return v[i]! > min[i]!;
  return true;
}

/**
 * Does `nft --json list table ip walinuxagent` hold our one rule? Any rule of the output chain with a
 * daddr match on dst, `dport != 53`, `skuid != uid` and a drop verdict counts.
 */
export function nftRulePresent(json: string, dst: string, uid: number): boolean {
  let doc: unknown;
  try { doc = JSON.parse(json); } catch { return false; }
  const items = (doc as { nftables?: unknown[] })?.nftables;
  if (!Array.isArray(items)) return false;
  for (const it of items) {
    const rule = (it as { rule?: { chain?: string; expr?: unknown[] } }).rule;
    if (!rule || !Array.isArray(rule.expr)) continue;
    const text = JSON.stringify(rule.expr);
    const daddr = rule.expr.some((e) => {
      const m = (e as { match?: { left?: { payload?: { field?: string } }; right?: unknown; op?: string } }).match;
      return m?.left?.payload?.field === 'daddr' && m.right === dst && (m.op ?? '==') === '==';
    });
    const dport = /"op":"!=","left":\{"payload":\{"protocol":"tcp","field":"dport"\}\},"right":53/.test(text);
    const skuid = new RegExp(`"op":"!=","left":\\{"meta":\\{"key":"skuid"\\}\\},"right":${uid}\\b`).test(text);
    const drop = rule.expr.some((e) => typeof e === 'object' && e !== null && 'drop' in e);
    if (daddr && dport && skuid && drop) return true;
  }
  return false;
}

export interface FirewallOptions {
  runner: Runner;
  /** WireServer address (normally 168.63.129.16). */
  dst: string;
  /** The agent's uid (0). */
  uid?: number;
  /** Force a tool (tests); default: detect. */
  tool?: FirewallTool;
}

const T = { timeoutMs: 30_000, maxOutput: 256 * 1024 };

export class Firewall {
  readonly dst: string;
  readonly uid: number;
  private readonly runner: Runner;
  private tool: FirewallTool | undefined;
  private readonly forced: boolean;
  private wait = false;
  private detected = false;
  /** Set when ensure() moved to the other tool: why. */
  fallback: string | null = null;

  constructor(o: FirewallOptions) {
    this.runner = o.runner;
    this.dst = checkAddress(o.dst);
    this.uid = o.uid ?? 0;
    this.tool = o.tool;
    this.forced = o.tool !== undefined;
  }

  /** Does `tool` run here? Switches to it when it does. */
  private async use(tool: FirewallTool): Promise<boolean> {
    const r = await this.runner.run([tool, '--version'], T);
    if (r.code !== 0) return false;
    this.tool = tool;
    this.wait = tool === 'iptables' && iptablesSupportsWait(r.stdout + r.stderr);
    this.detected = true;
    return true;
  }

  /** iptables if it runs (and whether it takes -w), else nft if it runs, else an error. */
  async detect(): Promise<FirewallTool> {
    if (this.detected && this.tool) return this.tool;
    if (this.tool !== 'nft') {
      const r = await this.runner.run(['iptables', '--version'], T);
      if (r.code === 0) {
        this.tool = 'iptables';
        this.wait = iptablesSupportsWait(r.stdout + r.stderr);
        this.detected = true;
        return this.tool;
      }
      if (this.tool === 'iptables') throw new FirewallError(`iptables --version failed (exit ${r.code})`);
    }
    const n = await this.runner.run(['nft', '--version'], T);
    if (n.code === 0) { this.tool = 'nft'; this.detected = true; return this.tool; }
    throw new FirewallError('neither iptables nor nft is available');
  }

  private ipt(op: string, rule: string[]): string[] {
    return ['iptables', ...(this.wait ? ['-w'] : []), '-t', 'security', op, 'OUTPUT', ...rule];
  }

  /** -C: 0 present, 1 missing, other: error. */
  private async present(rule: string[]): Promise<boolean> {
    const r = await this.runner.run(this.ipt('-C', rule), T);
    if (r.code === 0) return true;
    if (r.code === 1) return false;
    throw new FirewallError(`iptables -C failed (exit ${r.code}): ${r.stderr.trim().slice(0, 300)}`);
  }

  async check(): Promise<FirewallState> {
    const tool = await this.detect();
    if (tool === 'nft') {
      const r = await this.runner.run(['nft', '--json', 'list', 'table', 'ip', NFT_TABLE], T);
      // No such table: nft exits 1 with "No such file or directory".
      if (r.code !== 0) return 'missing';
      return nftRulePresent(r.stdout, this.dst, this.uid) ? 'ok' : 'partial';
    }
    // One listing first: in the steady state (all three rules there) the periodic check is one process
    // instead of waagent's three `-C` calls (docs/architecture.md "Idle cost"). Anything else (a rule not
    // shown as expected, a listing cut short or failed) is decided by `-C` for each rule, the authority.
    const listing = await this.runner.run(['iptables', ...(this.wait ? ['-w'] : []), '-t', 'security', '-S', 'OUTPUT'], T);
    if (listing.code === 0 && !listing.truncated && iptablesListingHasRules(listing.stdout, this.dst, this.uid)) return 'ok';
    const states: boolean[] = [];
    for (const rule of iptablesRules(this.dst, this.uid)) states.push(await this.present(rule));
    if (states.every(Boolean)) return 'ok';
    return states.some(Boolean) ? 'partial' : 'missing';
  }

  /** Appends the rules (no check first: -setup-firewall semantics). */
  async setup(): Promise<void> {
    const tool = await this.detect();
    if (tool === 'nft') {
      const r = await this.runner.run(['nft', '-f', '-'], { ...T, input: nftScript(this.dst, this.uid) });
      if (r.code !== 0) throw new FirewallError(`nft -f - failed (exit ${r.code}): ${r.stderr.trim().slice(0, 300)}`);
      return;
    }
    for (const rule of iptablesRules(this.dst, this.uid)) {
      const r = await this.runner.run(this.ipt('-A', rule), T);
      if (r.code !== 0) throw new FirewallError(`iptables -A failed (exit ${r.code}): ${r.stderr.trim().slice(0, 300)}`);
    }
  }

  /** Deletes every copy of each rule (bounded: 99 per rule). */
  async remove(): Promise<void> {
    const tool = await this.detect();
    if (tool === 'nft') {
      const r = await this.runner.run(['nft', 'delete', 'table', 'ip', NFT_TABLE], T);
      if (r.code !== 0 && !/No such file|does not exist/i.test(r.stderr)) throw new FirewallError(`nft delete table failed (exit ${r.code}): ${r.stderr.trim().slice(0, 300)}`);
      return;
    }
    for (const rule of iptablesRules(this.dst, this.uid)) await this.deleteAll(rule);
  }

  private async deleteAll(rule: string[]): Promise<number> {
    let n = 0;
    for (let i = 0; i < 99; i++) {
      const r = await this.runner.run(this.ipt('-D', rule), T);
      if (r.code === 0) { n++; continue; }
      if (r.code === 1) return n;
      throw new FirewallError(`iptables -D failed (exit ${r.code}): ${r.stderr.trim().slice(0, 300)}`);
    }
    return n;
  }

  /** Removes the pre-2.2.26 ACCEPT rule if present (iptables only). */
  async removeLegacy(): Promise<number> {
    if ((await this.detect()) !== 'iptables') return 0;
    return this.deleteAll(legacyRule(this.dst));
  }

  /**
   * Check, then set up what is missing; a partial set is removed and set up again. When the tool in
   * use fails (a rule cannot be set, checked or verified), its rules are removed and the other tool,
   * if it runs, is used instead; both failing is an error naming both reasons.
   */
  async ensure(): Promise<'unchanged' | 'created' | 'repaired'> {
    const first = await this.detect();
    try {
      return await this.ensureWithTool();
    } catch (e) {
      if (this.forced) throw e;
      const other: FirewallTool = first === 'iptables' ? 'nft' : 'iptables';
      const why = `${first}: ${errorText(e)}`;
      await this.removeQuietly();
      if (!(await this.use(other))) throw new FirewallError(`${why}; ${other} is not available`);
      try {
        const r = await this.ensureWithTool();
        this.fallback = `${why}; using ${other} instead`;
        return r === 'unchanged' ? 'unchanged' : 'created';
      } catch (e2) {
        await this.removeQuietly();
        await this.use(first);
        throw new FirewallError(`${why}; ${other}: ${errorText(e2)}`);
      }
    }
  }

  /** Removes what the current tool may have set, rule by rule, ignoring failures (cleanup after a failure). */
  private async removeQuietly(): Promise<void> {
    if (this.tool === 'nft') { try { await this.remove(); } catch { /* nothing to remove */ } return; }
    for (const rule of iptablesRules(this.dst, this.uid)) {
      try { await this.deleteAll(rule); } catch { /* this rule cannot even be named: it was never set */ }
    }
  }

  private async ensureWithTool(): Promise<'unchanged' | 'created' | 'repaired'> {
    const s = await this.check();
    if (s === 'ok') return 'unchanged';
    if (s === 'partial') await this.remove();
    await this.setup();
    const after = await this.check();
    if (after !== 'ok') throw new FirewallError(`rules still ${after} after setting them up`);
    return s === 'partial' ? 'repaired' : 'created';
  }

  /** `iptables -w -t security -L -nxv` / `nft list table`, for the log. */
  async listing(): Promise<string> {
    const tool = await this.detect();
    const argv = tool === 'nft' ? ['nft', 'list', 'table', 'ip', NFT_TABLE] : ['iptables', ...(this.wait ? ['-w'] : []), '-t', 'security', '-L', '-nxv'];
    const r = await this.runner.run(argv, T);
    return (r.stdout + r.stderr).trim();
  }
}
