// The built-in provisioning sequence (docs/os.md §4.2 step 6–7) applied from a checked plan. Every step
// converges (running it again leaves the same state), so a run killed anywhere is completed by the
// next one; CustomData runs at most once ever (customdata.ts writes its marker before starting).
// Order: hostname, publish, user, password, sudoers, sshd, authorized keys, key pairs, CustomData
// saved, root password, host keys (+ sshd restart), then CustomData executed last, so the script
// sees the finished machine (upstream runs it before the root password and host keys).
import { chmodSync, lstatSync } from 'node:fs';
import { posix } from 'node:path';
import type { Runner } from '../util/exec.ts';
import type { Sysroot } from '../util/sysroot.ts';
import { log } from '../util/logger.ts';
import { errorText } from '../util/errors.ts';
import type { DistroProfile } from '../os/distro.ts';
import { publishHostname, setHostname } from '../os/hostname.ts';
import { ensurePassword, ensureUser } from '../os/users.ts';
import { ensureSudoers } from '../os/sudoers.ts';
import { configureSshd, restartSshd } from '../os/sshd.ts';
import { addAuthorizedKeys, deployKeyPair, regenerateHostKeys } from '../os/sshkeys.ts';
import { hostKeyThumbprint } from './hostkey.ts';
import { executeCustomDataOnce, saveCustomData, type ExecuteResult } from '../os/customdata.ts';
import { deleteRootPassword } from '../os/rootpassword.ts';
import { validateKeyPath } from '../os/validate.ts';
import { SelinuxLabels } from '../os/selinux.ts';
import type { ProvisionPlan } from './plan.ts';
import type { ProvisionSettings } from './settings.ts';

export interface ApplyContext {
  root: Sysroot;
  runner: Runner;
  distro: DistroProfile;
  settings: ProvisionSettings;
  /** Called after each step (progress log; the test-only crash hook). */
  step: (name: string) => void;
  /** SELinux labels of replaced files (default: probed on the running system). */
  selinux?: SelinuxLabels;
}

export interface ApplyResult {
  /** Host key thumbprint (`SHA256...`), when the key of the configured type exists. */
  hostKeyThumbprint?: string;
  /** Host keys were regenerated in this run (their thumbprint is new to the platform). */
  hostKeysRegenerated: boolean;
  customData?: ExecuteResult;
}

function exists(root: Sysroot, inner: string): boolean {
  try { lstatSync(root.pathNoFollow(inner)); return true; } catch { return false; }
}

export async function applyPlan(plan: ProvisionPlan, c: ApplyContext): Promise<ApplyResult> {
  const { root, runner, distro, settings: s } = c;
  const sys = { allowResetSysUser: s.allowResetSysUser, neverSystemUsers: distro.user.neverSystemUsers };
  // Files replaced by rename keep their SELinux context (a no-op without SELinux).
  const labels = c.selinux ?? new SelinuxLabels(runner, root);

  await labels.keep(['/etc/hostname'], () => setHostname(runner, root, plan.hostname, distro.hostname));
  const pub = await publishHostname(runner, root, plan.hostname, { libDir: s.libDir, publishers: distro.publishers });
  if (!pub.ok) log.verbose(`Hostname ${plan.hostname} not published by DHCP (interface ${pub.iface ?? 'none'}, network stack ${pub.publisher ?? 'none'})`);
  c.step('hostname');

  const { user, created } = await ensureUser(runner, root, { name: plan.user, shell: distro.user.shell, groups: distro.user.groups, ...sys });
  log.info(created ? `Created user ${plan.user}` : `User ${plan.user} already exists`);
  c.step('user');

  if (plan.password !== undefined) {
    const set = await ensurePassword(runner, root, plan.user, plan.password, {
      ...sys, cryptId: s.cryptId, saltLength: s.saltLength, openssl: s.openssl, passwordPath: s.passwordPath,
    });
    log.info(set ? `Password of ${plan.user} set` : `Password of ${plan.user} already set`);
    c.step('password');
  }

  await labels.keep([posix.join(s.sudoersDir, 'waagent'), '/etc/sudoers'],
    () => ensureSudoers(runner, root, plan.user, plan.password === undefined, { sudoersDir: s.sudoersDir }));
  c.step('sudoers');

  // No sshd_config and no drop-in directory: sshd is not installed, there is nothing to configure.
  let sshdChanged = false;
  if (exists(root, posix.join(s.sshDir, 'sshd_config')) || exists(root, posix.join(s.sshDir, 'sshd_config.d'))) {
    const sshdFiles = [posix.join(s.sshDir, 'sshd_config'), posix.join(s.sshDir, 'sshd_config.d', distro.sshd.dropInName)];
    sshdChanged = (await labels.keep(sshdFiles, () => configureSshd(root, { sshDir: s.sshDir, disablePasswordAuth: plan.disablePasswordAuth, clientAliveInterval: s.clientAliveInterval, profile: distro.sshd }))).changed;
  } else {
    log.warn(`${s.sshDir}/sshd_config not found: sshd settings not written (is sshd installed?)`);
  }
  c.step('sshd');

  const owner = { uid: user.uid, gid: user.gid };
  const allowed = (base: string) => ({ homeRoot: s.homeDir, userHome: user.home, allowedDirs: [base] });
  for (const f of plan.authorizedKeys) {
    if (f.keys.length === 0) continue;
    // Now that the home exists, symlinks are resolved: a link out of the home is refused.
    const path = validateKeyPath(root, f.path, allowed(f.base));
    const r = addAuthorizedKeys(root, { path, base: f.base, owner }, f.keys);
    log.info(`${path}: ${r.added} SSH key(s) added, ${r.present} already present`);
    await labels.sshHome([root.path(posix.dirname(path)), root.path(path)]);
  }
  c.step('keys');

  for (const k of plan.keyPairs) {
    const path = validateKeyPath(root, k.path, allowed(k.base));
    await deployKeyPair(runner, root, { path, base: k.base, owner }, posix.join(s.libDir, `${k.fingerprint}.prv`));
    log.info(`Key pair ${k.fingerprint} deployed to ${path}`);
  }
  if (plan.keyPairs.length) c.step('keypairs');

  if (plan.customData !== undefined) {
    const saved = saveCustomData(root, plan.customData, { libDir: s.libDir, decode: s.decodeCustomData, execute: s.executeCustomData });
    // The executor makes the file 0700 when it runs it; do it here too, so a run after the script
    // already ran (which rewrites the file but must not start it again) ends in the same state.
    if (s.executeCustomData) chmodSync(root.path(saved.path), 0o700);
    log.info(`CustomData saved to ${saved.path} (${saved.bytes} bytes${saved.decoded ? ', decoded' : ''})`);
    c.step('customdata');
  }

  if (s.deleteRootPassword) {
    await labels.keep([s.passwordPath], () => deleteRootPassword(root, { passwordPath: s.passwordPath }));
    c.step('rootpassword');
  }

  const result: ApplyResult = { hostKeysRegenerated: false };
  if (s.regenerateHostKeys) {
    await regenerateHostKeys(runner, root, { sshDir: s.sshDir, type: plan.hostKeyType });
    result.hostKeysRegenerated = true;
    // A key we just made that cannot be fingerprinted is a real failure (upstream fails too).
    result.hostKeyThumbprint = hostKeyThumbprint(root, s.sshDir, plan.hostKeyType);
  } else {
    // DEVIATION: upstream fails provisioning when the image has no host key of the configured type
    // yet (sshd-keygen may run later); the thumbprint is only informational, so we warn instead.
    try {
      result.hostKeyThumbprint = hostKeyThumbprint(root, s.sshDir, plan.hostKeyType);
    } catch (e) {
      log.warn(`SSH host key thumbprint not available: ${errorText(e)}`);
    }
  }
  if (result.hostKeyThumbprint) log.info(`SSH host key thumbprint: ${result.hostKeyThumbprint}`);
  if (sshdChanged || result.hostKeysRegenerated) {
    const r = await restartSshd(runner, root, distro.sshd);
    if (r.ran && !r.ok) log.warn('Restarting sshd failed; the new settings apply when sshd next starts');
  }
  c.step('hostkeys');

  if (plan.customData !== undefined && s.executeCustomData) {
    const r = await executeCustomDataOnce(runner, root, { libDir: s.libDir });
    result.customData = r;
    if (r.ran) {
      log.info(`CustomData executed: exit ${r.code}${r.signal ? ` (${r.signal})` : ''}${r.timedOut ? ', timed out' : ''} in ${r.durationMs} ms`);
      log.verbose(`CustomData output: ${r.stdout.slice(0, 4096)}${r.stderr ? `\n${r.stderr.slice(0, 4096)}` : ''}`);
    } else {
      log.info(`CustomData not executed: ${r.reason}`);
    }
    c.step('customdata-exec');
  }
  return result;
}

