// Shared by the provision-* end-to-end tests: the built agent, an "image" for the box (waagent.conf,
// an sshd configuration with a drop-in directory, an ed25519 host key made once per test process),
// short labels for the requests the fabric saw, and password verification with openssl.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Box, BoxFile, RunResult } from '../sandbox/box.ts';
import type { RecordedRequest } from '../fabric/server.ts';
import { AGENT_BIN, firstReason, needsAgentBin, needsRoot } from '../helpers/skip.ts';

/** The binary under test (test/helpers/skip.ts: dist/waagent, or WAAGENT_E2E_BIN, a copy under the project). */
export const BIN = AGENT_BIN;
export const skip = firstReason(needsRoot('namespaces, loop devices'), needsAgentBin());

let hostKey: { key: string; pub: string } | null = null;
function imageHostKey(): { key: string; pub: string } {
  if (!hostKey) {
    const dir = mkdtempSync(join(tmpdir(), 'prov-e2e-hostkey-'));
    try {
      execFileSync('ssh-keygen', ['-q', '-N', '', '-t', 'ed25519', '-C', 'image-host-key', '-f', join(dir, 'k')]);
      hostKey = { key: readFileSync(join(dir, 'k'), 'utf8'), pub: readFileSync(join(dir, 'k.pub'), 'utf8') };
    } finally {
      rmSync(dir, { recursive: true, force: true });
    }
  }
  return hostKey;
}

export const BASE_CONF = ['Provisioning.Agent=waagent', 'Provisioning.SshHostKeyPairType=ed25519', 'Logs.Verbose=y'];

export function conf(...extra: string[]): string {
  return [...BASE_CONF, ...extra].join('\n') + '\n';
}

/** The files of a small Debian-like image with sshd configured the modern way (drop-in directory). */
export function imageFiles(confText: string): Record<string, BoxFile> {
  const k = imageHostKey();
  return {
    '/etc/waagent.conf': { content: confText, mode: 0o644 },
    '/etc/ssh/sshd_config': { content: 'Include /etc/ssh/sshd_config.d/*.conf\nKbdInteractiveAuthentication no\nUsePAM yes\n', mode: 0o644 },
    '/etc/ssh/sshd_config.d/00-image.conf': { content: '# from the image\n', mode: 0o644 },
    '/etc/ssh/ssh_host_ed25519_key': { content: k.key, mode: 0o600 },
    '/etc/ssh/ssh_host_ed25519_key.pub': { content: k.pub, mode: 0o644 },
  };
}

export function provisionRun(box: Box, env: Record<string, string> = {}): Promise<RunResult> {
  return box.run([BIN, '-provision'], { timeoutMs: 180_000, env });
}

/**
 * -provision on a "VM" whose SMBIOS uuid is `uuid`: the box has no DMI, so the run gets a private
 * mount namespace where /sys/class carries dmi/id/product_uuid (an overlay over the real one).
 */
export function provisionWithDmi(box: Box, uuid: string): Promise<RunResult> {
  if (!/^[0-9A-Fa-f-]{36}$/.test(uuid)) throw new Error(`not a uuid: ${uuid}`);
  const script = [
    'set -e', 'd=$(mktemp -d)', 'mkdir -p "$d/dmi/id"', `echo ${uuid} > "$d/dmi/id/product_uuid"`,
    'mount -t overlay box-dmi -o "lowerdir=$d:/sys/class" /sys/class', 'exec "$0" -provision',
  ].join('\n');
  return box.run(['unshare', '--mount', '--propagation', 'private', 'sh', '-c', script, BIN], { timeoutMs: 180_000 });
}

export async function sh(box: Box, script: string): Promise<string> {
  const r = await box.run(['bash', '-c', script]);
  assert.equal(r.code, 0, `${script}: ${r.stderr}`);
  return r.stdout.trim();
}

export function label(q: RecordedRequest): string {
  if (q.endpoint === 'imds') return 'imds';
  const u = q.url;
  if (u.includes('comp=goalstate')) return 'goalstate';
  if (u.includes('comp=health')) return 'health';
  if (u.startsWith('/provisioning/health')) return 'health-json';
  if (u.includes('comp=certificates')) return 'certificates';
  if (u.includes('comp=roleProperties')) return 'roleProperties';
  if (u.includes('comp=versions')) return 'versions';
  return `${q.endpoint} ${q.method} ${u}`;
}

/** Labels of the requests recorded after `from` (a previous length of box.requests()). */
export function requestsSince(box: Box, from: number): string[] {
  return box.requests().slice(from).map(label);
}

/** goalstate and IMDS are fetched concurrently: compare the WireServer order, and count IMDS apart. */
export function assertRequests(seen: string[], wire: string[], imds: number): void {
  assert.deepEqual(seen.filter((l) => l !== 'imds'), wire, seen.join(' '));
  assert.equal(seen.filter((l) => l === 'imds').length, imds, seen.join(' '));
}

export function passwordMatches(hash: string, password: string): boolean {
  const m = /^\$([156])\$([^$]+)\$/.exec(hash);
  if (!m) return false;
  return execFileSync('openssl', ['passwd', `-${m[1]}`, '-salt', m[2]!, '-stdin'], { input: password + '\n', encoding: 'utf8' }).trim() === hash;
}

export function shadowHash(box: Box, user: string): string {
  const line = box.readFile('/etc/shadow').split('\n').find((l) => l.startsWith(`${user}:`));
  assert.ok(line, `${user} in /etc/shadow`);
  return line.split(':')[1]!;
}

/** What a -provision run left on the box's disk besides its log (and the lock files of the shadow tools). */
export function changedBesidesLog(box: Box): string[] {
  return box.changedFiles().filter((p) => p !== '/var/log/waagent.log' && p !== '/etc/.pwd.lock').sort();
}
