// The log collector's manifests (docs/os.md §9): lines `<command>,<argument>` with $LIB_DIR, $LOG_DIR
// and $AGENT_LOG substituted. Kept as data so the normal and full lists read like the spec.
export const AGENT_LOG = '/var/log/waagent.log';

const NORMAL = `
echo,### Probing Directories ###
ll,/var/log
ll,$LIB_DIR
echo,### Gathering Configuration Files ###
copy,/etc/*-release
copy,/etc/HOSTNAME
copy,/etc/hostname
copy,/etc/waagent.conf
echo,### Gathering Log Files ###
copy,$AGENT_LOG*
copy,/var/log/dmesg*
copy,/var/log/syslog*
copy,/var/log/auth*
copy,$LOG_DIR/*/*
copy,$LOG_DIR/*/*/*
copy,$LOG_DIR/custom-script/handler.log
echo,### Gathering Extension Files ###
copy,$LIB_DIR/ovf-env.xml
copy,$LIB_DIR/waagent_status.json
copy,$LIB_DIR/*/status/*.status
copy,$LIB_DIR/*/config/*.settings
copy,$LIB_DIR/*/config/HandlerState
copy,$LIB_DIR/*/config/HandlerStatus
copy,$LIB_DIR/error.json
copy,$LIB_DIR/history/*.zip
echo,
`;

const FULL_EXTRA = `
echo,### Gathering Full Diagnostics ###
ll,/etc/udev/rules.d
copy,$LIB_DIR/provisioned
copy,/etc/fstab
copy,/etc/ssh/sshd_config
copy,/boot/grub*/grub.c*
copy,/boot/grub*/menu.lst
copy,/etc/network/interfaces
copy,/etc/network/interfaces.d/*.cfg
copy,/etc/netplan/50-cloud-init.yaml
copy,/etc/nsswitch.conf
copy,/etc/resolv.conf
copy,/run/systemd/resolve/stub-resolv.conf
copy,/run/resolvconf/resolv.conf
copy,/etc/sysconfig/iptables
copy,/etc/sysconfig/network
copy,/etc/sysconfig/network/ifcfg-eth*
copy,/etc/sysconfig/network/routes
copy,/etc/sysconfig/network-scripts/ifcfg-eth*
copy,/etc/sysconfig/network-scripts/route-eth*
copy,/etc/sysconfig/SuSEfirewall2
copy,/etc/ufw/ufw.conf
copy,/var/lib/dhcp/dhclient.eth0.leases
copy,/var/lib/dhclient/dhclient-eth0.leases
copy,/var/lib/wicked/lease-eth0-dhcp-ipv4.xml
copy,/run/systemd/netif/leases/2
copy,/var/log/rsyslog*
copy,/var/log/messages*
copy,/var/log/kern*
copy,/var/log/dpkg*
copy,/var/log/yum*
copy,/var/log/cloud-init*
copy,/var/log/boot*
copy,/var/log/secure*
copy,$LOG_DIR/run-command/handler.log
copy,$LIB_DIR/SharedConfig.xml
copy,$LIB_DIR/ManagedIdentity-*.json
copy,$LIB_DIR/*/error.json
copy,/var/log/azure-proxy-agent/*
`;

export type ManifestOp = { op: 'echo'; arg: string } | { op: 'll'; arg: string } | { op: 'copy'; arg: string };

export interface ManifestVars { libDir: string; logDir: string }

export function manifest(full: boolean, vars: ManifestVars, onBadLine: (line: string) => void = () => {}): ManifestOp[] {
  const text = full ? NORMAL + FULL_EXTRA : NORMAL;
  return parseManifest(text, vars, onBadLine);
}

export function parseManifest(text: string, vars: ManifestVars, onBadLine: (line: string) => void): ManifestOp[] {
  const out: ManifestOp[] = [];
  for (const raw of text.split('\n')) {
    const line = raw.trim();
    if (!line) continue;
    const comma = line.indexOf(',');
    if (comma < 0) { onBadLine(line); continue; }
    const op = line.slice(0, comma);
    const arg = line.slice(comma + 1)
      .replaceAll('$LIB_DIR', vars.libDir)
      .replaceAll('$LOG_DIR', vars.logDir)
      .replaceAll('$AGENT_LOG', AGENT_LOG);
    if (op === 'echo' || op === 'll' || op === 'copy') out.push({ op, arg });
    else if (op !== 'diskinfo') onBadLine(line);
  }
  return out;
}

/** Files collected before anything else, in this order (docs/os.md §9 "must collect"). */
export function mustCollect(vars: ManifestVars): string[] {
  return [AGENT_LOG, `${vars.libDir}/waagent_status.json`, `${vars.libDir}/history/*.zip`, `${vars.logDir}/*/*`, `${vars.logDir}/*/*/*`, `${AGENT_LOG}.*`];
}
