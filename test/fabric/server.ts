// The fabric simulator: WireServer, HostGAPlugin, IMDS and a blob store, answering from a scenario
// with the shapes of docs/protocol.md, recording every request, and misbehaving on demand
// (faults, timeline). It only ever listens; it never connects anywhere, so it cannot leak traffic.
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http';
import { appendFileSync, closeSync, openSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { networkInterfaces, tmpdir } from 'node:os';
import { join, relative, sep } from 'node:path';
import { X509Certificate, randomBytes, randomUUID } from 'node:crypto';
import { fileURLToPath } from 'node:url';
import { createZip, type ZipInputEntry } from '../../src/util/zipwrite.ts';
import { loadSigningMaterial, signPackage, type SigningMaterial } from './signing.ts';
import { child, escapeXml, parseXml, textAt } from '../../src/util/xml.ts';
import {
  ENDPOINTS, ScenarioError, loadScenarioFile, mergePatch, validateScenario,
  type Endpoint, type Fault, type Scenario,
} from './scenario.ts';
import { CertError, certificatesData, encryptToCert, loadKeyMaterial, wrap64, type KeyMaterial } from './certs.ts';
import {
  ARTIFACTS_PROFILE_PATH, GA_MANIFEST_PATH, configName, dotnetTicks, failoverManifestPath, imdsInstance, manifestPath, packagePath, renderCertificates,
  renderExtensionsConfig, renderFullConfig, renderGaManifest, renderGoalState, renderHostingEnvironmentConfig,
  renderManifest, renderOvfEnvWith, renderRemoteAccess, renderSharedConfig, renderVersions, renderVmSettings, type Rendering,
} from './documents.ts';
import { StatusBlobStore, header, type StatusUpload } from './blobstore.ts';
import { serveControl } from './control-server.ts';

export type { Scenario, Endpoint, StatusUpload };

export interface StartOptions {
  /** A scenario object (raw file shape or validated) or the path of a scenario JSON file. */
  scenario: Scenario | Record<string, unknown> | string;
  bind: 'loopback' | 'box';
  controlSocket?: string;
  /** JSON lines, one per request, secrets included (mode 0600): for the test's own eyes only. */
  recordFile?: string;
  /** Cache of generated keys/certificates (default: <tmpdir>/waagent-fabric-keys). */
  workDir?: string;
  /** Directory holding extension packages (default: test/fabric/extensions). */
  extensionsDir?: string;
  /** close() prints the summary to stderr unless quiet. */
  quiet?: boolean;
}

export interface RecordedRequest {
  seq: number;
  time: string;
  endpoint: Endpoint;
  method: string;
  /** Path and query as sent. */
  url: string;
  headers: Record<string, string>;
  body: string;
  bodyEncoding: 'utf8' | 'base64';
  status: number;
  /** The scripted fault applied to this request, if any. */
  fault?: string;
}

export interface RequestFilter {
  endpoint?: Endpoint;
  method?: string;
  /** Substring of the path+query. */
  path?: string;
}

export interface HealthReport {
  seq: number;
  time: string;
  channel: 'xml' | 'json';
  state: string;
  subStatus?: string;
  description?: string;
  incarnation?: string;
  containerId?: string;
  instanceId?: string;
}

export interface Violation {
  seq: number;
  endpoint: Endpoint;
  url: string;
  problem: string;
}

export interface FabricUrls {
  wire: string;
  hgap: string;
  imds: string;
  blob: string;
}

export interface SshKeyInfo {
  id: string;
  publicKey: string;
  thumbprint: string;
  certPem: string;
  privateKeyPem: string;
}

export interface Fabric {
  urls: FabricUrls;
  scenario(): Scenario;
  incarnation(): number;
  etag(): string;
  requests(filter?: RequestFilter): RecordedRequest[];
  statusUploads(): StatusUpload[];
  health(): HealthReport[];
  violations(): Violation[];
  /** JSON merge patch over the current scenario; bumps the incarnation (and the ETag if vmSettings change). */
  update(patch: Record<string, unknown>): Promise<{ incarnation: number; etag: string }>;
  setScenario(s: Scenario | Record<string, unknown> | string): Promise<{ incarnation: number; etag: string }>;
  /** New incarnation with the same content (as a tenant-certificate rotation does). */
  bumpIncarnation(): { incarnation: number; etag: string };
  /** base64 DER of the last transport certificate a Certificates request carried. */
  transportCertSeen(): string | undefined;
  ovfEnv(): string;
  customData(): string | undefined;
  sshKeys(): SshKeyInfo[];
  fabricCert(): { certPem: string; keyPem: string; thumbprint: string };
  /** `<endpoint>: N requests …`, one line per endpoint; no secrets. */
  summary(): string[];
  /** Stops listening (and the control socket) and prints the summary (see StartOptions.quiet). */
  close(): Promise<void>;
}

const HERE = fileURLToPath(new URL('.', import.meta.url));
const WIRE_IP = '168.63.129.16';
const IMDS_IP = '169.254.169.254';
const MAX_BODY = 16 << 20;
const MAX_RECORDS = 50_000;
const IMDS_2018_COMPUTE = ['location', 'name', 'offer', 'osType', 'placementGroupId', 'platformFaultDomain', 'platformUpdateDomain',
  'publisher', 'resourceGroupName', 'sku', 'subscriptionId', 'tags', 'version', 'vmId', 'vmScaleSetName', 'vmSize', 'zone'];

/** Refuses 'box' mode unless this process is inside the sandbox's private network namespace. */
export function assertInBox(): void {
  if (process.env.WAAGENT_BOX !== '1') throw new Error('fabric: bind "box" needs WAAGENT_BOX=1 (only the sandbox sets it)');
  let sysIfs: string[];
  try {
    sysIfs = readdirSync('/sys/class/net');
  } catch (e) {
    throw new Error(`fabric: bind "box": cannot list /sys/class/net: ${(e as Error).message}`);
  }
  const liveIfs = Object.keys(networkInterfaces());
  // /sys/class/net shows the namespace sysfs was mounted in; networkInterfaces() asks the kernel
  // for this process's namespace. Both must show nothing but lo.
  if (sysIfs.length !== 1 || sysIfs[0] !== 'lo' || liveIfs.some((n) => n !== 'lo')) {
    throw new Error(`fabric: bind "box" refused: interfaces [${[...new Set([...sysIfs, ...liveIfs])].join(', ')}] — only "lo" is allowed`);
  }
}

function defaultWorkDir(): string {
  return join(tmpdir(), 'waagent-fabric-keys');
}

function toScenario(input: StartOptions['scenario']): { scenario: Scenario; raw: Record<string, unknown> } {
  if (typeof input === 'string') {
    const scenario = loadScenarioFile(input);
    return { scenario, raw: JSON.parse(readFileSync(input, 'utf8')) as Record<string, unknown> };
  }
  const raw = structuredClone(input) as Record<string, unknown>;
  return { scenario: validateScenario(raw, 'scenario'), raw };
}

/** ovf-env.xml for a scenario, with the same generated SSH keys a fabric with this workDir uses. */
export async function renderOvfEnv(scenario: Scenario | Record<string, unknown> | string, workDir = defaultWorkDir()): Promise<string> {
  const { scenario: s } = toScenario(scenario);
  const km = await loadKeyMaterial(workDir, s.sshKeys.filter((k) => !k.value).map((k) => k.id));
  return renderOvfEnvWith(s, sshMaps(km));
}

function sshMaps(km: KeyMaterial): { thumbprints: Map<string, string>; publicKeys: Map<string, string> } {
  const thumbprints = new Map<string, string>();
  const publicKeys = new Map<string, string>();
  for (const [id, k] of km.ssh) {
    thumbprints.set(id, k.thumbprint);
    publicKeys.set(id, k.publicKey);
  }
  return { thumbprints, publicKeys };
}

function listen(server: Server, host: string, port: number): Promise<number> {
  return new Promise((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port, exclusive: true }, () => {
      server.off('error', reject);
      const a = server.address();
      resolve(typeof a === 'object' && a ? a.port : port);
    });
  });
}

interface Answer {
  status: number;
  headers?: Record<string, string>;
  body?: string | Buffer;
}

function xmlAnswer(body: string, status = 200): Answer {
  return { status, headers: { 'content-type': 'text/xml; charset=utf-8' }, body };
}

function jsonAnswer(value: unknown, status = 200): Answer {
  return { status, headers: { 'content-type': 'application/json; charset=utf-8' }, body: typeof value === 'string' ? value : JSON.stringify(value) };
}

function textAnswer(status: number, body: string): Answer {
  return { status, headers: { 'content-type': 'text/plain; charset=utf-8' }, body };
}

function wsError(status: number, message: string): Answer {
  return xmlAnswer(`<?xml version="1.0" encoding="utf-8"?><Error xmlns:i="http://www.w3.org/2001/XMLSchema-instance"><Code>${status === 400 ? 'BadRequest' : 'Error'}</Code><Message>${escapeXml(message)}</Message></Error>`, status);
}

function walkFiles(dir: string): string[] {
  const out: string[] = [];
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) out.push(...walkFiles(p));
    // A symlinked file is packaged as the file it points to (test extensions share one script).
    else if (e.isFile() || (e.isSymbolicLink() && statSync(p).isFile())) out.push(p);
  }
  return out.sort();
}

/**
 * Zip entry name of a file in a package dir. A path segment named `__parent__` becomes `..`, so a
 * test package can carry the path-traversal entries a hostile zip would (`../x`), which no
 * directory on disk can hold.
 */
export function packageEntryName(rel: string): string {
  return rel.split(sep).map((s) => (s === '__parent__' ? '..' : s)).join('/');
}

class FabricImpl implements Fabric {
  urls: FabricUrls = { wire: '', hgap: '', imds: '', blob: '' };
  private raw: Record<string, unknown>;
  private current: Scenario;
  private km!: KeyMaterial;
  private r!: Rendering;
  private readonly workDir: string;
  private readonly extDir: string;
  private readonly recordFile: string | undefined;
  private readonly quiet: boolean;
  private readonly servers: Server[] = [];
  private controlClose: (() => Promise<void>) | undefined;
  private readonly records: RecordedRequest[] = [];
  private readonly healthReports: HealthReport[] = [];
  private readonly violationList: Violation[] = [];
  private readonly counts = new Map<Endpoint, { total: number; byStatus: Map<number, number>; faults: number }>();
  private seq = 0;
  private faultSeen: number[] = [];
  private faultKey = '';
  private readonly timers: NodeJS.Timeout[] = [];
  private timelineFired: boolean[] = [];
  /** Matching requests answered since the timeline was armed, per atRequest event. */
  private timelineCounts: number[] = [];
  private transport: string | undefined;
  private readonly certCache = new Map<string, string>();
  private readonly protectedCache = new Map<string, string>();
  private readonly zipCache = new Map<string, Buffer>();
  private readonly signatureCache = new Map<string, string>();
  private signing: SigningMaterial | undefined;
  private packages = new Map<string, Buffer>();
  private manifests = new Map<string, string>();
  private store!: StatusBlobStore;
  private etagCounter = 0;
  private vmSettingsBody = '';
  private vmSettingsShape = '';
  private pending: Promise<unknown> = Promise.resolve();
  private closed = false;

  constructor(raw: Record<string, unknown>, scenario: Scenario, opts: StartOptions) {
    this.raw = raw;
    this.current = scenario;
    this.workDir = opts.workDir ?? defaultWorkDir();
    this.extDir = opts.extensionsDir ?? join(HERE, 'extensions');
    this.recordFile = opts.recordFile;
    this.quiet = opts.quiet ?? false;
    for (const e of ENDPOINTS) this.counts.set(e, { total: 0, byStatus: new Map(), faults: 0 });
  }

  async start(opts: StartOptions): Promise<void> {
    if (this.recordFile) closeSync(openSync(this.recordFile, 'a', 0o600));
    this.km = await loadKeyMaterial(this.workDir, this.current.sshKeys.filter((k) => !k.value).map((k) => k.id));
    const sig = randomBytes(24).toString('base64url');
    const statusPath = `/sysacct/$system/${this.current.vm.vmName}.${this.current.vm.vmId}.status`;
    this.store = new StatusBlobStore(statusPath, sig);

    const mk = (ep: Endpoint) => {
      const s = createServer({ maxHeaderSize: 64 * 1024 }, (req, res) => {
        // A bug answering one request must never take the whole fabric down (Node exits on unhandled rejections).
        this.handle(ep, req, res).catch((e: unknown) => {
          process.stderr.write(`fabric: ${ep}: ${(e as Error).stack ?? String(e)}\n`);
          res.destroy();
        });
      });
      s.on('clientError', (_e, sock) => { sock.destroy(); });
      this.servers.push(s);
      return s;
    };
    const [ws, hg, im, bl] = [mk('wire'), mk('hgap'), mk('imds'), mk('blob')];
    if (opts.bind === 'box') {
      assertInBox();
      await listen(ws, WIRE_IP, 80);
      await listen(hg, WIRE_IP, 32526);
      await listen(im, IMDS_IP, 80);
      // Storage is its own "account" on loopback (Azurite's port), so status/artifact traffic
      // is distinguishable from platform traffic, as on Azure.
      await listen(bl, '127.0.0.1', 10000);
      this.urls = { wire: `http://${WIRE_IP}:80`, hgap: `http://${WIRE_IP}:32526`, imds: `http://${IMDS_IP}`, blob: 'http://127.0.0.1:10000' };
    } else {
      const p = await Promise.all([ws, hg, im, bl].map((s) => listen(s, '127.0.0.1', 0)));
      this.urls = { wire: `http://127.0.0.1:${p[0]}`, hgap: `http://127.0.0.1:${p[1]}`, imds: `http://127.0.0.1:${p[2]}`, blob: `http://127.0.0.1:${p[3]}` };
    }
    await this.rebuild(this.current, () => this.current.incarnation);
    this.armTimeline();
    if (opts.controlSocket) this.controlClose = await serveControl(opts.controlSocket, this);
  }

  // ---- state --------------------------------------------------------------------------------------

  /** `nextIncarnation` is evaluated after the async work, so a concurrent bumpIncarnation() is never lost. */
  private async rebuild(s: Scenario, nextIncarnation: (current: number) => number): Promise<void> {
    const protectedBlobs = new Map<string, string>();
    const todo: Array<[string, unknown]> = [];
    for (const e of s.extensions) {
      if (e.settings?.protectedSettings !== undefined) todo.push([e.name, e.settings.protectedSettings]);
      for (const mc of e.multiConfig ?? []) if (mc.protectedSettings !== undefined) todo.push([`${e.name}/${mc.name}`, mc.protectedSettings]);
    }
    await Promise.all(todo.map(async ([k, v]) => {
      const plain = JSON.stringify(v);
      let blob = this.protectedCache.get(plain);
      if (!blob) {
        blob = await encryptToCert(this.km.fabric.certPem, plain);
        this.protectedCache.set(plain, blob);
      }
      protectedBlobs.set(k, blob);
    }));
    const packages = new Map<string, Buffer>();
    const manifests = new Map<string, string>();
    const signatures = new Map<string, string>();
    s.extensions.forEach((e, i) => {
      for (const v of e.versions) {
        const dir = join(this.extDir, e.package, v);
        let zip = this.zipCache.get(dir);
        if (!zip) {
          try {
            if (!statSync(dir).isDirectory()) throw new Error('not a directory');
          } catch {
            throw new ScenarioError('scenario', `extensions[${i}].versions`, `no package directory ${relative(process.cwd(), dir)}`);
          }
          const entries: ZipInputEntry[] = walkFiles(dir).map((f) => ({ name: packageEntryName(relative(dir, f)), data: readFileSync(f), mode: statSync(f).mode & 0o777 }));
          zip = createZip(entries);
          this.zipCache.set(dir, zip);
        }
        packages.set(packagePath(e.name, v), zip);
      }
    });
    await this.signPackages(s, packages, signatures);
    const prev = this.r;
    const r: Rendering = {
      wire: this.urls.wire,
      blob: this.urls.blob,
      incarnation: nextIncarnation(prev?.incarnation ?? 0),
      etag: prev?.etag ?? '',
      createdTicks: prev?.createdTicks ?? dotnetTicks(Date.now()),
      statusBlobUrl: `${this.urls.blob}${this.store.path}?sv=2018-03-28&sr=b&sk=system-1&sig=${this.store.sig}&se=9999-12-31T23%3A59%3A59Z&sp=rw`,
      fabricThumbprint: this.km.fabric.thumbprint,
      protectedBlobs,
      signatures,
      ...(() => {
        const m = sshMaps(this.km);
        return { sshThumbprints: m.thumbprints, sshPublicKeys: m.publicKeys };
      })(),
      activityId: prev?.activityId ?? randomUUID(),
      correlationId: prev?.correlationId ?? randomUUID(),
    };
    // The ETag (and the created-on time both documents carry) changes only when the extensions
    // goal state does, as on a real host; a bare incarnation bump keeps it.
    const shape = renderVmSettings(s, { ...r, incarnation: 0, createdTicks: '0', etag: '', activityId: '', correlationId: '' });
    if (shape !== this.vmSettingsShape) {
      this.vmSettingsShape = shape;
      r.etag = String(++this.etagCounter + 1000);
      r.createdTicks = dotnetTicks(Date.now());
      r.activityId = randomUUID();
      r.correlationId = randomUUID();
    }
    for (const e of s.extensions) {
      manifests.set(manifestPath(e.name), renderManifest(e, r));
      if (e.failoverManifest) manifests.set(failoverManifestPath(e.name), renderManifest(e, r));
    }
    manifests.set(GA_MANIFEST_PATH, renderGaManifest());
    this.current = s;
    this.r = r;
    this.packages = packages;
    this.manifests = manifests;
    const vmTicks = (BigInt(r.createdTicks) + BigInt(s.vmSettings.newerBySeconds) * 10_000_000n).toString();
    this.vmSettingsBody = renderVmSettings(s, { ...r, createdTicks: vmTicks });
    const fk = JSON.stringify(s.faults);
    if (fk !== this.faultKey) {
      this.faultKey = fk;
      this.faultSeen = s.faults.map(() => 0);
    }
  }

  /** Scenario `signature`: the encodedSignature of each signed extension (its requested version). */
  private async signPackages(s: Scenario, packages: Map<string, Buffer>, out: Map<string, string>): Promise<void> {
    const signed = s.extensions.filter((e) => e.signature);
    if (signed.length === 0) return;
    this.signing ??= await loadSigningMaterial(this.workDir);
    for (const e of signed) {
      const path = packagePath(e.name, e.version);
      const zip = packages.get(path)!;
      if (e.signature === 'garbage') {
        out.set(e.name, Buffer.from('not a CMS signature').toString('base64'));
        continue;
      }
      const key = `${e.package}/${e.version}`;
      let sig = this.signatureCache.get(key);
      if (!sig) {
        sig = await signPackage(zip, this.signing, this.workDir);
        this.signatureCache.set(key, sig);
      }
      out.set(e.name, sig);
      if (e.signature === 'tampered') {
        // A valid zip, but not the one that was signed: one more file appended by someone on the way.
        const dir = join(this.extDir, e.package, e.version);
        const entries: ZipInputEntry[] = walkFiles(dir).map((f) => ({ name: packageEntryName(relative(dir, f)), data: readFileSync(f), mode: statSync(f).mode & 0o777 }));
        entries.push({ name: 'bin/tampered.sh', data: Buffer.from('#!/bin/sh\necho tampered\n'), mode: 0o755 });
        packages.set(path, createZip(entries));
      }
    }
  }

  private armTimeline(): void {
    for (const t of this.timers) clearTimeout(t);
    this.timers.length = 0;
    this.timelineFired = this.current.timeline.map(() => false);
    this.timelineCounts = this.current.timeline.map(() => 0);
    this.current.timeline.forEach((ev, i) => {
      if (ev.afterSeconds === undefined) return;
      const t = setTimeout(() => { void this.fireTimeline(i); }, ev.afterSeconds * 1000);
      t.unref();
      this.timers.push(t);
    });
  }

  private fireTimeline(i: number): Promise<unknown> {
    if (this.timelineFired[i] || this.closed) return Promise.resolve();
    this.timelineFired[i] = true;
    const ev = this.current.timeline[i]!;
    return this.serial(() => this.applyPatch(ev.patch, `timeline[${i}]`, false)).catch((e) => {
      process.stderr.write(`fabric: timeline[${i}] failed: ${(e as Error).message}\n`);
    });
  }

  /** Serializes state changes so concurrent updates never interleave. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    const p = this.pending.then(fn, fn);
    this.pending = p.catch(() => undefined);
    return p;
  }

  private async applyPatch(patch: Record<string, unknown>, source: string, rearm: boolean): Promise<{ incarnation: number; etag: string }> {
    const raw = mergePatch(this.raw, patch) as Record<string, unknown>;
    // Keep the running timeline and faults unless the patch replaces them.
    const s = validateScenario(raw, source);
    await this.rebuild(s, (n) => n + 1);
    this.raw = raw;
    if (rearm) this.armTimeline();
    return { incarnation: this.r.incarnation, etag: this.r.etag };
  }

  // ---- public API -----------------------------------------------------------------------------------

  scenario(): Scenario { return this.current; }
  incarnation(): number { return this.r.incarnation; }
  etag(): string { return this.r.etag; }

  requests(filter: RequestFilter = {}): RecordedRequest[] {
    return this.records.filter((r) => (!filter.endpoint || r.endpoint === filter.endpoint)
      && (!filter.method || r.method === filter.method.toUpperCase())
      && (filter.path === undefined || r.url.includes(filter.path)));
  }

  statusUploads(): StatusUpload[] { return this.store.all(); }
  health(): HealthReport[] { return this.healthReports.slice(); }
  violations(): Violation[] { return this.violationList.slice(); }
  transportCertSeen(): string | undefined { return this.transport; }

  update(patch: Record<string, unknown>): Promise<{ incarnation: number; etag: string }> {
    const rearm = 'timeline' in patch;
    return this.serial(() => this.applyPatch(patch, 'update', rearm));
  }

  setScenario(input: Scenario | Record<string, unknown> | string): Promise<{ incarnation: number; etag: string }> {
    return this.serial(async () => {
      const { scenario, raw } = toScenario(input);
      const ids = scenario.sshKeys.filter((k) => !k.value).map((k) => k.id);
      if (ids.some((id) => !this.km.ssh.has(id))) this.km = await loadKeyMaterial(this.workDir, ids);
      await this.rebuild(scenario, (n) => Math.max(n + 1, scenario.incarnation));
      this.raw = raw;
      this.armTimeline();
      return { incarnation: this.r.incarnation, etag: this.r.etag };
    });
  }

  bumpIncarnation(): { incarnation: number; etag: string } {
    this.r = { ...this.r, incarnation: this.r.incarnation + 1 };
    this.vmSettingsBody = renderVmSettings(this.current, this.r);
    return { incarnation: this.r.incarnation, etag: this.r.etag };
  }

  ovfEnv(): string { return renderOvfEnvWith(this.current, sshMaps(this.km)); }
  customData(): string | undefined { return this.current.customData; }

  sshKeys(): SshKeyInfo[] {
    return [...this.km.ssh.values()].map((k) => ({ id: k.id, publicKey: k.publicKey, thumbprint: k.thumbprint, certPem: k.certPem, privateKeyPem: k.keyPem }));
  }

  fabricCert(): { certPem: string; keyPem: string; thumbprint: string } {
    return { certPem: this.km.fabric.certPem, keyPem: this.km.fabric.keyPem, thumbprint: this.km.fabric.thumbprint };
  }

  summary(): string[] {
    const lines = ENDPOINTS.map((ep) => {
      const c = this.counts.get(ep)!;
      const codes = [...c.byStatus.entries()].sort((a, b) => a[0] - b[0]).map(([s, n]) => `${s}x${n}`).join(' ');
      return `${ep}: ${c.total} requests${codes ? ` (${codes})` : ''}${c.faults ? `, ${c.faults} faults injected` : ''}`;
    });
    lines.push(`goal state: incarnation ${this.r.incarnation}, etag ${this.r.etag}; status uploads ${this.store.all().length}; health reports ${this.healthReports.length}; violations ${this.violationList.length}`);
    return lines;
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    for (const t of this.timers) clearTimeout(t);
    await this.controlClose?.();
    await Promise.all(this.servers.map((s) => new Promise<void>((resolve) => {
      s.close(() => resolve());
      s.closeAllConnections();
    })));
    if (!this.quiet && this.r) for (const line of this.summary()) process.stderr.write(`fabric: ${line}\n`);
  }

  // ---- HTTP -------------------------------------------------------------------------------------------

  private violation(seq: number, endpoint: Endpoint, url: string, problem: string): void {
    if (this.violationList.length < 10_000) this.violationList.push({ seq, endpoint, url, problem });
  }

  private matchFault(ep: Endpoint, method: string, url: string, artifact = ''): Fault | undefined {
    let hit: Fault | undefined;
    // A HostGAPlugin /extensionArtifact request also matches on the artifact it asks for.
    const target = artifact ? `${url} ${artifact}` : url;
    this.current.faults.forEach((f, i) => {
      if (f.endpoint !== ep || (f.method && f.method !== method) || !target.includes(f.path)) return;
      const n = ++this.faultSeen[i]!;
      if (!hit && n > f.skip && (f.count === 0 || n <= f.skip + f.count)) hit = f;
    });
    return hit;
  }

  private async handle(ep: Endpoint, req: IncomingMessage, res: ServerResponse): Promise<void> {
    const seq = ++this.seq;
    const chunks: Buffer[] = [];
    let size = 0;
    let tooBig = false;
    try {
      for await (const c of req) {
        size += (c as Buffer).length;
        if (size > MAX_BODY) { tooBig = true; break; }
        chunks.push(c as Buffer);
      }
    } catch {
      return; // the client went away
    }
    const body = Buffer.concat(chunks);
    const method = req.method ?? 'GET';
    const url = req.url ?? '/';
    const headers: Record<string, string> = {};
    for (const [k, v] of Object.entries(req.headers)) if (v !== undefined) headers[k] = Array.isArray(v) ? v.join(', ') : v;
    const isText = !body.includes(0) && Buffer.from(body.toString('utf8'), 'utf8').equals(body);
    const rec: RecordedRequest = {
      seq, time: new Date().toISOString(), endpoint: ep, method, url, headers,
      body: isText ? body.toString('utf8') : body.toString('base64'), bodyEncoding: isText ? 'utf8' : 'base64', status: 0,
    };

    const fault = tooBig ? undefined : this.matchFault(ep, method, url, ep === 'hgap' ? headers['x-ms-artifact-location'] ?? '' : '');
    if (fault) rec.fault = `${fault.action}${fault.status ? ` ${fault.status}` : ''}${fault.delayMs !== undefined ? ` ${fault.delayMs}ms` : ''}`;

    let answer: Answer;
    if (tooBig) answer = textAnswer(413, 'request body too large');
    else if (fault?.action === 'status') answer = wsError(fault.status!, 'Simulated fault');
    else if (fault?.action === 'gone') answer = wsError(410, 'The resource is gone (simulated).');
    else if (fault?.action === 'reset') answer = { status: 0 };
    else {
      if (fault?.action === 'delay') await new Promise((r) => setTimeout(r, fault.delayMs));
      try {
        answer = await this.route(ep, seq, method, url, headers, body);
      } catch (e) {
        answer = e instanceof CertError ? wsError(400, e.message) : textAnswer(500, `simulator error: ${(e as Error).message}`);
        if (!(e instanceof CertError)) process.stderr.write(`fabric: ${ep} ${method} ${url.split('?')[0]}: ${(e as Error).stack}\n`);
      }
    }

    rec.status = answer.status;
    this.finish(rec, fault);
    if (this.closed && !res.writable) return;
    if (answer.status === 0) {
      req.socket.resetAndDestroy();
      return;
    }
    const payload = answer.body === undefined ? Buffer.alloc(0) : Buffer.isBuffer(answer.body) ? answer.body : Buffer.from(answer.body, 'utf8');
    const hdrs: Record<string, string | number> = { ...answer.headers, 'content-length': payload.length };
    if (fault?.action === 'truncate') {
      // Promise the whole body, send half, cut the connection: a short read the client must notice.
      res.writeHead(answer.status, hdrs);
      res.write(payload.subarray(0, Math.floor(payload.length / 2)), () => req.socket.destroy());
      return;
    }
    if (fault?.action === 'noRoleInstance' && answer.status === 200 && payload.includes('<RoleInstanceList>')) {
      const cut = Buffer.from(payload.toString('utf8').replace(/<RoleInstanceList>[\s\S]*<\/RoleInstanceList>\s*/, ''));
      res.writeHead(answer.status, { ...hdrs, 'content-length': cut.length });
      res.end(cut);
      return;
    }
    if (fault?.action === 'short' || fault?.action === 'flip') {
      // A complete HTTP answer whose body is unusable: cut to half with a matching Content-Length, or the
      // same length with one byte in the middle changed (a zip's CRC-32 no longer matches).
      const b = fault.action === 'short' ? payload.subarray(0, Math.floor(payload.length / 2)) : Buffer.from(payload);
      if (fault.action === 'flip' && b.length > 0) b[Math.floor(b.length / 2)] = b[Math.floor(b.length / 2)]! ^ 0x01;
      res.writeHead(answer.status, { ...hdrs, 'content-length': b.length });
      res.end(b);
      return;
    }
    if (fault?.action === 'garble') {
      const g = Buffer.from(payload);
      for (let i = 0; i < g.length; i++) g[i] = g[i]! ^ 0x55;
      res.writeHead(answer.status, hdrs);
      res.end(g);
      return;
    }
    res.writeHead(answer.status, hdrs);
    res.end(method === 'HEAD' ? undefined : payload);
  }

  private finish(rec: RecordedRequest, fault: Fault | undefined): void {
    this.records.push(rec);
    if (this.records.length > MAX_RECORDS) this.records.splice(0, this.records.length - MAX_RECORDS);
    const c = this.counts.get(rec.endpoint)!;
    c.total++;
    c.byStatus.set(rec.status, (c.byStatus.get(rec.status) ?? 0) + 1);
    if (fault) c.faults++;
    if (this.recordFile) {
      try {
        appendFileSync(this.recordFile, `${JSON.stringify(rec)}\n`, { mode: 0o600 });
      } catch (e) {
        process.stderr.write(`fabric: cannot append to the record file: ${(e as Error).message}\n`);
      }
    }
    this.current.timeline.forEach((ev, i) => {
      const a = ev.atRequest;
      if (!a || this.timelineFired[i]) return;
      if ((a.endpoint && rec.endpoint !== a.endpoint) || (a.path !== undefined && !rec.url.includes(a.path))) return;
      if (++this.timelineCounts[i]! >= a.count) void this.fireTimeline(i);
    });
  }

  private route(ep: Endpoint, seq: number, method: string, url: string, headers: Record<string, string>, body: Buffer): Promise<Answer> | Answer {
    const u = new URL(url, 'http://fabric.invalid');
    switch (ep) {
      case 'wire': return this.wire(seq, method, url, u, headers, body);
      case 'hgap': return this.hgap(seq, method, url, u, headers, body);
      case 'imds': return this.imds(method, u, headers);
      case 'blob': return this.blob(seq, method, u, headers, body);
    }
  }

  // ---- WireServer ---------------------------------------------------------------------------------------

  private wireHeaders(seq: number, url: string, headers: Record<string, string>, xmlBody: boolean): void {
    if (!headers['x-ms-agent-name']) this.violation(seq, 'wire', url, 'missing x-ms-agent-name');
    if (headers['x-ms-version'] !== '2012-11-30') this.violation(seq, 'wire', url, `x-ms-version is ${headers['x-ms-version'] ?? '(missing)'}, expected 2012-11-30`);
    if (!headers['user-agent']) this.violation(seq, 'wire', url, 'missing User-Agent');
    if (xmlBody && !/^text\/xml; ?charset=utf-8$/i.test(headers['content-type'] ?? '')) {
      this.violation(seq, 'wire', url, `Content-Type is ${headers['content-type'] ?? '(missing)'}, expected text/xml;charset=utf-8`);
    }
  }

  private async wire(seq: number, method: string, url: string, u: URL, headers: Record<string, string>, body: Buffer): Promise<Answer> {
    const comp = u.searchParams.get('comp');
    const p = u.pathname;
    if (method === 'GET' && p === '/' && comp === 'versions') return xmlAnswer(renderVersions());
    if (method === 'GET' && (p === '/machine/' || p === '/machine') && comp === 'goalstate') {
      if (p === '/machine') this.violation(seq, 'wire', url, 'goal state path without the slash after /machine');
      this.wireHeaders(seq, url, headers, false);
      return xmlAnswer(renderGoalState(this.current, this.r));
    }
    const base = `/machine/${this.current.vm.containerId}/${encodeURIComponent(this.current.vm.roleInstanceId)}`;
    if (method === 'GET' && p === base && comp === 'config') {
      this.wireHeaders(seq, url, headers, false);
      switch (u.searchParams.get('type')) {
        case 'hostingEnvironmentConfig': return xmlAnswer(renderHostingEnvironmentConfig(this.current, this.r));
        case 'sharedConfig': return xmlAnswer(renderSharedConfig(this.current, this.r));
        case 'extensionsConfig': return xmlAnswer(renderExtensionsConfig(this.current, this.r));
        case 'fullConfig': return xmlAnswer(renderFullConfig(this.current, this.r));
        default: return wsError(400, 'unknown config type');
      }
    }
    if (method === 'GET' && p === base && comp === 'certificates') {
      this.wireHeaders(seq, url, headers, false);
      const cert = headers['x-ms-guest-agent-public-x509-cert'];
      const cipher = headers['x-ms-cipher-name'];
      if (!cert) return wsError(400, 'missing x-ms-guest-agent-public-x509-cert');
      if (!cipher) return wsError(400, 'missing x-ms-cipher-name');
      if (/[\s-]/.test(cert)) this.violation(seq, 'wire', url, 'transport certificate header is not bare base64 (PEM armour or newlines left in)');
      this.transport = cert.replace(/\s+/g, '');
      if (this.current.certificates === 'absent') return wsError(404, 'Not Found');
      const recipient = this.current.certificates === 'wrongKey'
        ? new X509Certificate(this.km.decoy.certPem).raw.toString('base64') : this.transport;
      const key = `${recipient}|${cipher}|${this.current.certRecipient}|${this.current.sshKeys.map((k) => `${k.id}:${k.ovf}`).join(',')}`;
      let data = this.certCache.get(key);
      if (!data) {
        const thumbIds = this.current.sshKeys.filter((k) => k.ovf === 'thumbprint').map((k) => k.id);
        data = await certificatesData(this.workDir, this.km, thumbIds, recipient, cipher, this.current.certRecipient);
        if (this.certCache.size > 32) this.certCache.clear();
        this.certCache.set(key, data);
      }
      const format = { notPfx: 'CertificatesNonPfxPackage', emptyFormat: '' }[this.current.certificates as string];
      return xmlAnswer(renderCertificates(this.r, data, format));
    }
    if (method === 'GET' && p === `/machine/${this.current.vm.containerId}/remoteaccess`) {
      this.wireHeaders(seq, url, headers, false);
      const cert = headers['x-ms-guest-agent-public-x509-cert'];
      if (!cert || headers['x-ms-cipher-name'] !== 'AES128_CBC') return wsError(400, 'missing x-ms-guest-agent-public-x509-cert or x-ms-cipher-name');
      if (!this.current.remoteAccess) return wsError(404, 'Not Found');
      const pem = `-----BEGIN CERTIFICATE-----\n${wrap64(cert.replace(/\s+/g, ''))}\n-----END CERTIFICATE-----\n`;
      const passwords: string[] = [];
      for (const u of this.current.remoteAccess.users) {
        const key = `ra|${cert}|${u.password}`;
        let enc = this.certCache.get(key);
        if (!enc) {
          enc = await encryptToCert(pem, Buffer.from(u.password, 'utf16le'));
          if (this.certCache.size > 32) this.certCache.clear();
          this.certCache.set(key, enc);
        }
        passwords.push(enc);
      }
      return xmlAnswer(renderRemoteAccess(this.current, this.r, passwords));
    }
    if (method === 'POST' && (p === '/machine' || p === '/machine/') && comp === 'health') {
      if (p === '/machine/') this.violation(seq, 'wire', url, 'health path has a slash after /machine');
      this.wireHeaders(seq, url, headers, true);
      return this.healthXml(seq, url, body);
    }
    if (method === 'POST' && p === '/machine' && comp === 'telemetrydata') {
      this.wireHeaders(seq, url, headers, true);
      if (body.length >= 64512) this.violation(seq, 'wire', url, `telemetry body of ${body.length} bytes is over the 64512-byte buffer limit`);
      try {
        parseXml(body, 'telemetrydata');
      } catch (e) {
        return wsError(400, `malformed TelemetryData: ${(e as Error).message}`);
      }
      return { status: 200 };
    }
    if (method === 'POST' && p === '/machine' && comp === 'roleProperties') {
      this.wireHeaders(seq, url, headers, true);
      return { status: 202 };
    }
    if (method === 'POST' && p === '/provisioning/health') {
      if (!this.current.provisioningHealthJson) return wsError(404, 'Not Found');
      return this.healthJson(seq, url, headers, body);
    }
    if (method === 'POST' && p === '/HealthService') return { status: 200 };
    return wsError(404, 'Not Found');
  }

  private healthXml(seq: number, url: string, body: Buffer): Answer {
    let doc;
    try {
      doc = parseXml(body, 'health report');
    } catch (e) {
      return wsError(400, `malformed Health: ${(e as Error).message}`);
    }
    if (doc.local !== 'Health') return wsError(400, `root element is ${doc.local}, expected Health`);
    const role = child(child(child(doc, 'Container'), 'RoleInstanceList'), 'Role');
    const state = textAt(role, 'Health', 'State');
    if (state !== 'Ready' && state !== 'NotReady') return wsError(400, `Health/State is ${state ?? '(missing)'}`);
    const rep: HealthReport = { seq, time: new Date().toISOString(), channel: 'xml', state };
    const sub = textAt(role, 'Health', 'Details', 'SubStatus');
    const desc = textAt(role, 'Health', 'Details', 'Description');
    if (sub !== undefined) rep.subStatus = sub;
    if (desc !== undefined) rep.description = desc;
    rep.incarnation = textAt(doc, 'GoalStateIncarnation');
    rep.containerId = textAt(doc, 'Container', 'ContainerId');
    rep.instanceId = textAt(role, 'InstanceId');
    if (rep.containerId !== this.current.vm.containerId) this.violation(seq, 'wire', url, `health ContainerId ${rep.containerId} is not the goal state's`);
    if (rep.instanceId !== this.current.vm.roleInstanceId) this.violation(seq, 'wire', url, `health InstanceId ${rep.instanceId} is not the goal state's`);
    if (rep.incarnation !== String(this.r.incarnation)) this.violation(seq, 'wire', url, `health GoalStateIncarnation ${rep.incarnation} is not the current ${this.r.incarnation}`);
    if (body.length > 4096) this.violation(seq, 'wire', url, `health report of ${body.length} bytes is over the 4096-byte limit`);
    if (state === 'NotReady' && sub === undefined) this.violation(seq, 'wire', url, 'NotReady without Details/SubStatus');
    this.pushHealth(rep);
    return { status: 200 };
  }

  private healthJson(seq: number, url: string, headers: Record<string, string>, body: Buffer): Answer {
    if (!/^application\/json/i.test(headers['content-type'] ?? '')) this.violation(seq, 'wire', url, 'provisioning health without Content-Type application/json');
    let v: unknown;
    try {
      v = JSON.parse(body.toString('utf8'));
    } catch {
      return jsonAnswer({ error: 'malformed JSON' }, 400);
    }
    const o = v as { state?: unknown; details?: { subStatus?: unknown; description?: unknown } };
    if (o?.state !== 'Ready' && o?.state !== 'NotReady') return jsonAnswer({ error: 'state must be Ready or NotReady' }, 400);
    const rep: HealthReport = { seq, time: new Date().toISOString(), channel: 'json', state: o.state };
    if (typeof o.details?.subStatus === 'string') rep.subStatus = o.details.subStatus;
    if (typeof o.details?.description === 'string') rep.description = o.details.description;
    this.pushHealth(rep);
    return { status: 200 };
  }

  private pushHealth(rep: HealthReport): void {
    this.healthReports.push(rep);
    if (this.healthReports.length > 10_000) this.healthReports.splice(0, this.healthReports.length - 10_000);
  }

  // ---- HostGAPlugin ---------------------------------------------------------------------------------------

  /** The container headers HGAP needs; a stale pair is the "refresh your goal state" signal. */
  private hgapContainer(seq: number, url: string, headers: Record<string, string>): Answer | undefined {
    if (headers['x-ms-version'] !== '2015-09-01') this.violation(seq, 'hgap', url, `x-ms-version is ${headers['x-ms-version'] ?? '(missing)'}, expected 2015-09-01`);
    const cid = headers['x-ms-containerid'];
    const cfg = headers['x-ms-host-config-name'];
    if (!cid || !cfg) return textAnswer(400, `missing ${!cid ? 'x-ms-containerid' : 'x-ms-host-config-name'}`);
    if (cid !== this.current.vm.containerId || cfg !== configName(this.current)) {
      return textAnswer(400, 'InvalidContainerConfiguration: the container id or host config name is stale');
    }
    return undefined;
  }

  private hgap(seq: number, method: string, url: string, u: URL, headers: Record<string, string>, body: Buffer): Answer {
    const p = u.pathname;
    if (method === 'GET' && p === '/versions') return jsonAnswer(['2015-09-01', '2012-11-30']);
    if (method === 'GET' && p === '/health') return { status: 200 };
    if (method === 'GET' && p === '/vmSettings') {
      const bad = this.hgapContainer(seq, url, headers);
      if (bad) return bad;
      if (!headers['x-ms-client-correlationid']) this.violation(seq, 'hgap', url, 'vmSettings without x-ms-client-correlationid');
      if (!this.current.vmSettings.enabled) return textAnswer(404, 'Not Found');
      // ETag sent bare (UNCONFIRMED whether the host quotes it); If-None-Match accepted either way.
      const inm = headers['if-none-match']?.replace(/^"|"$/g, '');
      if (inm === this.r.etag) return { status: 304, headers: { etag: this.r.etag } };
      return { status: 200, headers: { 'content-type': 'application/json; charset=utf-8', etag: this.r.etag }, body: this.vmSettingsBody };
    }
    if (method === 'PUT' && p === '/status') {
      const bad = this.hgapContainer(seq, url, headers);
      if (bad) return bad;
      return this.hgapStatus(seq, url, body);
    }
    if (method === 'GET' && p === '/extensionArtifact') {
      const bad = this.hgapContainer(seq, url, headers);
      if (bad) return bad;
      const loc = headers['x-ms-artifact-location'];
      if (!loc) return textAnswer(400, 'missing x-ms-artifact-location');
      // Never fetched from anywhere else: only this simulator's own storage is "upstream".
      if (!loc.startsWith(`${this.urls.blob}/`)) return textAnswer(502, 'upstream failure: artifact is not in the simulated storage');
      const a = this.blobGet(new URL(loc).pathname);
      if (this.packages.has(new URL(loc).pathname) && !headers['x-ms-artifact-manifest-location']) {
        this.violation(seq, 'hgap', url, 'package download through HostGAPlugin without x-ms-artifact-manifest-location');
      }
      return a.status === 200 ? a : textAnswer(502, `upstream answered ${a.status}`);
    }
    if (method === 'PUT' && p === '/vmAgentLog') {
      const bad = this.hgapContainer(seq, url, headers);
      if (bad) return bad;
      return { status: 200 };
    }
    return textAnswer(404, 'Not Found');
  }

  private hgapStatus(seq: number, url: string, body: Buffer): Answer {
    let env: { content?: unknown; headers?: unknown; requestUri?: unknown };
    try {
      env = JSON.parse(body.toString('utf8')) as typeof env;
    } catch {
      return textAnswer(400, 'status envelope is not JSON');
    }
    if (typeof env !== 'object' || env === null || Array.isArray(env)) return textAnswer(400, 'status envelope is not an object');
    const keys = Object.keys(env);
    if (keys.join(',') !== [...keys].sort().join(',')) this.violation(seq, 'hgap', url, `status envelope keys not sorted: ${keys.join(',')}`);
    if (typeof env.requestUri !== 'string') return textAnswer(400, 'status envelope without requestUri');
    if (!Array.isArray(env.headers)) return textAnswer(400, 'status envelope without headers list');
    const hdrs: Record<string, string> = {};
    for (const h of env.headers as Array<{ headerName?: unknown; headerValue?: unknown }>) {
      if (typeof h?.headerName !== 'string' || typeof h.headerValue !== 'string') return textAnswer(400, 'status envelope header entries need string headerName/headerValue');
      hdrs[h.headerName] = h.headerValue;
    }
    let content = Buffer.alloc(0);
    if (env.content !== undefined) {
      if (typeof env.content !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(env.content)) return textAnswer(400, 'status envelope content is not base64');
      content = Buffer.from(env.content, 'base64');
    }
    if (!env.requestUri.startsWith(`${this.urls.blob}/`)) return textAnswer(502, 'upstream failure: requestUri is not the status blob');
    const target = new URL(env.requestUri);
    if (header(hdrs, 'x-ms-blob-type') === 'PageBlob' || target.searchParams.get('comp') === 'page') {
      // HGAP pads page blobs with spaces (the agent's doing); zeros would show the agent used the direct path's padding.
      if (content.length && content.includes(0)) this.violation(seq, 'hgap', url, 'page content through HostGAPlugin padded with NULs, expected spaces');
    }
    const a = this.store.put(target.pathname, target.searchParams, hdrs, content, 'hgap');
    for (const n of a.notes) this.violation(seq, 'hgap', url, n);
    // HostGAPlugin reports upstream (storage) failures as 502.
    return a.status === 201 ? { status: 200 } : textAnswer(502, `upstream storage answered ${a.status}: ${a.body}`);
  }

  // ---- IMDS ---------------------------------------------------------------------------------------------------

  private imds(method: string, u: URL, headers: Record<string, string>): Answer {
    if ((headers['metadata'] ?? '').toLowerCase() !== 'true') return jsonAnswer({ error: 'Bad request. Required metadata header not specified' }, 400);
    if (headers['x-forwarded-for'] !== undefined) return jsonAnswer({ error: 'Bad request. X-Forwarded-For header is not allowed' }, 400);
    if (method !== 'GET') return jsonAnswer({ error: 'Method not allowed' }, 405);
    const api = u.searchParams.get('api-version');
    if (!api) {
      return jsonAnswer({ error: 'Bad request. api-version was not specified in the request. For more information refer to aka.ms/azureimds', 'newest-versions': ['2023-11-15', '2023-07-01', '2021-12-13'] }, 400);
    }
    const p = u.pathname.replace(/\/+$/, '');
    if (p === '/metadata/reprovisiondata') {
      return this.current.reprovisionData ? xmlAnswer(this.ovfEnv()) : jsonAnswer({ error: 'Not found' }, 404);
    }
    if (p === '/metadata/instance' || p.startsWith('/metadata/instance/')) {
      let v: unknown = imdsInstance(this.current, sshMaps(this.km).publicKeys);
      // Older api-versions answer only the compute fields of their time (the agent asks 2018-02-01
      // and warns about anything else). The exact version cut-off is UNCONFIRMED; 2018-10-01 is used.
      // extended=true adds what cloud-init reads for pre-provisioning (docs/protocol.md 3, 3.1); shape UNCONFIRMED beyond these keys.
      if (u.searchParams.get('extended') === 'true') {
        (v as Record<string, unknown>).extended = { compute: { ppsType: this.current.ppsType, hasCustomData: this.current.customData !== undefined } };
      }
      if (api < '2018-10-01') {
        const doc = v as { compute: Record<string, unknown> };
        doc.compute = Object.fromEntries(Object.entries(doc.compute).filter(([k]) => IMDS_2018_COMPUTE.includes(k)));
      }
      for (const part of p.split('/').slice(3)) {
        if (v && typeof v === 'object' && part in (v as object)) v = (v as Record<string, unknown>)[Array.isArray(v) ? Number(part) : part];
        else return jsonAnswer({ error: 'Not found' }, 404);
      }
      if (u.searchParams.get('format') === 'text') {
        if (typeof v === 'object') return jsonAnswer({ error: 'Bad request. format=text is only for leaf values' }, 400);
        return textAnswer(200, String(v));
      }
      return jsonAnswer(v);
    }
    return jsonAnswer({ error: 'Not found' }, 404);
  }

  // ---- storage ---------------------------------------------------------------------------------------------------

  private blobGet(pathname: string): Answer {
    if (pathname === ARTIFACTS_PROFILE_PATH && this.current.onHold) return jsonAnswer({ onHold: true });
    const m = this.manifests.get(pathname);
    if (m !== undefined) return xmlAnswer(m);
    const z = this.packages.get(pathname);
    if (z) return { status: 200, headers: { 'content-type': 'application/octet-stream' }, body: z };
    return xmlAnswer('<?xml version="1.0" encoding="utf-8"?><Error><Code>BlobNotFound</Code><Message>The specified blob does not exist.</Message></Error>', 404);
  }

  private blob(seq: number, method: string, u: URL, headers: Record<string, string>, body: Buffer): Answer {
    if (method === 'GET' || method === 'HEAD') return this.blobGet(u.pathname);
    if (method === 'PUT') {
      const a = this.store.put(u.pathname, u.searchParams, headers, body, 'direct');
      for (const n of a.notes) this.violation(seq, 'blob', `${u.pathname}?<sas>`, n);
      return xmlAnswer(a.body, a.status);
    }
    return textAnswer(405, 'Method not allowed');
  }
}

/** Starts the simulator. `bind: 'box'` refuses to run outside the sandbox's private namespace. */
export async function startFabric(opts: StartOptions): Promise<Fabric> {
  if (opts.bind !== 'loopback' && opts.bind !== 'box') throw new Error(`fabric: bind must be "loopback" or "box"`);
  if (opts.bind === 'box') assertInBox();
  const { scenario, raw } = toScenario(opts.scenario);
  const f = new FabricImpl(raw, scenario, opts);
  try {
    await f.start(opts);
  } catch (e) {
    await f.close();
    throw e;
  }
  return f;
}
