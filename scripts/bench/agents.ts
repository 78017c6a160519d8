// What the box benches (daemon.ts, scale.ts) and poll-cost.ts share: how each agent is started and configured,
// the V8 flags the SEA bakes in, and the page-cache state of a binary at its start.
import { spawnSync } from 'node:child_process';
import { existsSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { PINNED_NODE, PROJECT } from '../../test/sandbox/box.ts';

export type BoxFiles = Record<string, string | { content: string; mode: number }>;

export interface AgentLaunch {
  argv: string[];
  env: Record<string, string>;
  /** /etc/waagent.conf in the box. */
  conf: string;
  /** Text in the command line of the agent's own processes (how the benches find them). */
  marker: string;
  /** More files for the box. */
  files: BoxFiles;
}

export const PEER = process.env.WAAGENT_PEER_DIR ?? '/opt/debian-waagent';
export const OURS_CONF = ['Provisioning.Agent=waagent', 'OS.EnableFirewall=y', 'Logs.Collect=n', 'Logs.Console=n', ''].join('\n');
const SSHD_CONFIG = 'Include /etc/ssh/sshd_config.d/*.conf\nKbdInteractiveAuthentication no\nUsePAM yes\nSubsystem sftp /usr/lib/openssh/sftp-server\n';
const NOOP = { content: '#!/bin/sh\nexit 0\n', mode: 0o755 };

/** The V8 flags build.mjs bakes into the SEA, read out of build.mjs (importing it would run a build). */
export function seaV8Flags(): string[] {
  const m = /^const V8_FLAGS = (\[[^\]\n]*\]);/m.exec(readFileSync(join(PROJECT, 'build.mjs'), 'utf8'));
  const flags: unknown = m ? JSON.parse(m[1]!.replace(/'/g, '"')) : null;
  if (!Array.isArray(flags) || !flags.every((f) => typeof f === 'string' && f.startsWith('--'))) {
    throw new Error('build.mjs: no `const V8_FLAGS = [\'--flag\', ...];` line to read the SEA flags from');
  }
  return flags as string[];
}

/**
 * The binary's clean pages count in RSS when they are in the page cache at a fault (the kernel maps the cached
 * neighbours of a faulting page too): a binary just built is all cached and reads ~15 MiB higher than one read
 * from disk at boot. Start from the boot-like state: written back first (dirty pages cannot be dropped), then
 * this file's pages dropped.
 */
export function dropPageCache(file: string): void {
  spawnSync('sync', [file]);
  spawnSync('dd', [`if=${file}`, 'iflag=nocache', 'count=0', 'status=none']);
}

/** dist/waagent -daemon (page cache dropped), or from source on the pinned Node with `nodeFlags`. */
export function oursDaemon(bin: string, nodeFlags: string[] | null, env: Record<string, string> = {}): AgentLaunch | string {
  if (nodeFlags) {
    const marker = join(PROJECT, 'src', 'main.ts');
    return { argv: [PINNED_NODE, ...nodeFlags, marker, '-daemon'], env, conf: OURS_CONF, marker, files: {} };
  }
  if (!existsSync(bin)) return `${bin} is not built (scripts/node build.mjs)`;
  dropPageCache(bin);
  return { argv: [bin, '-daemon'], env, conf: OURS_CONF, marker: bin, files: {} };
}

/**
 * Debian's waagent 2.7.3 -daemon, unpacked by test/sandbox/debian-waagent.sh (never installed): its shipped
 * conf with Provisioning.Agent=waagent, AutoUpdate.Enabled=n, the firewall on and log collection off, as ours;
 * an sshd_config when the host has none; no-op ifdown/ifup (2.7.3 bounces the interface to publish the host name).
 */
export function debianDaemon(): AgentLaunch | string {
  if (!existsSync(join(PEER, 'usr/sbin/waagent'))) {
    const r = spawnSync('bash', [join(PROJECT, 'test/sandbox/debian-waagent.sh'), PEER], { encoding: 'utf8', timeout: 300_000 });
    if (r.status !== 0) return `Debian waagent not available: ${(r.stderr || r.stdout).trim().slice(-300)}`;
  }
  const conf = readFileSync(join(PEER, 'etc/waagent.conf'), 'utf8')
    .replace(/^Provisioning\.Agent=.*$/m, 'Provisioning.Agent=waagent')
    .replace(/^AutoUpdate\.Enabled=.*$/m, 'AutoUpdate.Enabled=n')
    .replace(/^OS\.EnableFirewall=.*$/m, 'OS.EnableFirewall=y')
    .replace(/^Logs\.Collect=.*$/m, 'Logs.Collect=n');
  const files: BoxFiles = { '/usr/local/sbin/ifdown': NOOP, '/usr/local/sbin/ifup': NOOP };
  if (!existsSync('/etc/ssh/sshd_config')) files['/etc/ssh/sshd_config'] = SSHD_CONFIG;
  return {
    argv: ['python3', '-u', join(PEER, 'usr/sbin/waagent'), '-daemon'],
    env: { PYTHONPATH: join(PEER, 'usr/lib/python3/dist-packages'), PYTHONDONTWRITEBYTECODE: '1' },
    conf, marker: join(PEER, 'usr/sbin/waagent'), files,
  };
}
