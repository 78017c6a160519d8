// Our systemd-sysext image (Flatcar's way to add software to its read-only /usr): what it ships and
// where, and whether this binary runs from it. scripts/package.mjs builds the image from these names,
// and -register-service / the daemon's firewall persistence read them to use the shipped units instead
// of writing their own:
//   /usr/bin/waagent                                      the agent
//   /usr/lib/systemd/system/waagent.service               ExecStart=/usr/bin/waagent -daemon
//   /usr/lib/systemd/system/waagent-network-setup.service -setup-firewall=168.63.129.16 at boot
//   /usr/lib/tmpfiles.d/waagent-sea.conf                  copies the default conf to /etc if absent
//   /usr/share/waagent/waagent-sea.conf                   the default configuration (not waagent.conf:
//                                                         Flatcar's oem-azure sysext ships that path)
//   /usr/lib/extension-release.d/extension-release.waagent-sea
// Nothing is ever written under /usr: it is the (read-only) merged image.
import { existsSync } from 'node:fs';
import type { Sysroot } from '../util/sysroot.ts';

export const SYSEXT_NAME = 'waagent-sea';
export const SYSEXT_BIN = '/usr/bin/waagent';
export const SYSEXT_UNIT_DIR = '/usr/lib/systemd/system';
export const SYSEXT_CONF = '/usr/share/waagent/waagent-sea.conf';
export const SYSEXT_TMPFILES = `/usr/lib/tmpfiles.d/${SYSEXT_NAME}.conf`;
export const SYSEXT_RELEASE = `/usr/lib/extension-release.d/extension-release.${SYSEXT_NAME}`;
/** The WireServer address the shipped firewall unit is made for. */
export const SYSEXT_FIREWALL_ENDPOINT = '168.63.129.16';

/** systemd's architecture names (os-release ARCHITECTURE=) for Node's. */
export const SYSEXT_ARCH: Readonly<Record<string, string>> = { x64: 'x86-64', arm64: 'arm64' };

/**
 * extension-release.<name>: merged on Flatcar only, on any Flatcar release (SYSEXT_LEVEL 1.0; no VERSION_ID,
 * which systemd would compare with the host's when SYSEXT_LEVEL were absent), on this architecture.
 */
export function extensionRelease(o: { arch: string }): string {
  const arch = Object.hasOwn(SYSEXT_ARCH, o.arch) ? SYSEXT_ARCH[o.arch] : undefined;
  if (!arch) throw new Error(`no sysext architecture for ${JSON.stringify(o.arch)}`);
  return [
    'ID=flatcar',
    'SYSEXT_LEVEL=1.0',
    `ARCHITECTURE=${arch}`,
    // systemd reloads its units after merging, so the shipped ones are seen without a daemon-reload.
    'EXTENSION_RELOAD_MANAGER=1',
    '',
  ].join('\n');
}

/** tmpfiles.d line: copy the shipped default to /etc/waagent.conf only when none exists (`C`). */
export function tmpfilesConf(): string {
  return [
    `# Shipped in the ${SYSEXT_NAME} system extension: a default /etc/waagent.conf on first boot, never overwritten.`,
    `C /etc/waagent.conf - - - - ${SYSEXT_CONF}`,
    '',
  ].join('\n');
}

/**
 * Does `bin` (this binary's real path inside `root`) run from our merged system extension? Only the
 * image's own path counts, and only while its extension-release file is there: a binary copied to
 * /usr/bin by other means keeps the unit-writing behaviour.
 */
export function runsFromSysext(root: Sysroot, bin: string | undefined): boolean {
  return bin === SYSEXT_BIN && existsSync(root.path(SYSEXT_RELEASE));
}
