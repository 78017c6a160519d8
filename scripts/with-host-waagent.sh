#!/usr/bin/env bash
# Run a command (default: npm test) on a view of this machine in which Debian's waagent package is
# installed and has run — /etc/waagent.conf, its walinuxagent.service unit (enabled), a populated
# /var/lib/waagent, /var/log/waagent.log, /var/log/azure, /etc/sudoers.d/waagent — WITHOUT changing
# the host and without installing the package (its service could reach the real platform address).
#
# How: in a private mount namespace, an overlay of / (upper dir on /dev/shm) gets those files; /proc,
# /sys, /dev, /run, /tmp and the project's top directory are bound in unchanged; the namespace then
# pivots into the overlay (so paths in /proc look as on the host) and runs the command. Every mount
# dies with the namespace; the state dir is removed afterwards from the host's side. The box
# (test/sandbox) takes this overlay as its lower layer, so the e2e tests see exactly what they would
# see on a host with the package installed. One limit: the kernel stacks at most two overlays, so a
# test that mounts an overlay inside the box (the rescue deprovision test) cannot run here and says so.
#
# Usage (root): scripts/with-host-waagent.sh [command ...]      e.g. scripts/with-host-waagent.sh npm run test:e2e
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
[ "$(id -u)" = 0 ] || { echo "with-host-waagent: needs root (mount namespace, overlayfs)" >&2; exit 1; }
if [ "${WITH_HOST_WAAGENT_NS:-}" != 1 ]; then
  [ $# -gt 0 ] || set -- npm test
  state=$(mktemp -d /dev/shm/with-host-waagent.XXXXXX)
  # Mounts exist only in the private namespace: once it is gone, the state dir holds plain files.
  trap 'rm -rf --one-file-system -- "$state"' EXIT
  set +e
  unshare --mount --propagation private -- env WITH_HOST_WAAGENT_NS=1 WITH_HOST_WAAGENT_STATE="$state" bash "$0" "$@"
  exit $?
fi

state=$WITH_HOST_WAAGENT_STATE
R=$state/root
mkdir -m 0700 "$state/upper" "$state/work" "$R"
mount -t overlay host-waagent -o "lowerdir=/,upperdir=$state/upper,workdir=$state/work" "$R"

# --- what the package and its service leave behind -------------------------------------------------
peer=${WAAGENT_PEER_DIR:-/opt/debian-waagent}      # the package unpacked by test/sandbox/debian-waagent.sh
if [ -f "$peer/etc/waagent.conf" ]; then
  install -m 0644 "$peer/etc/waagent.conf" "$R/etc/waagent.conf"
else
  printf '%s\n' 'Provisioning.Agent=auto' 'ResourceDisk.Format=y' 'ResourceDisk.EnableSwap=n' 'Logs.Verbose=n' \
    'OS.EnableFirewall=y' 'Lib.Dir=/var/lib/waagent' > "$R/etc/waagent.conf"
fi
unit_dir=$R/lib/systemd/system
mkdir -p "$unit_dir" "$R/etc/systemd/system/multi-user.target.wants"
if [ -f "$peer/lib/systemd/system/walinuxagent.service" ]; then
  install -m 0644 "$peer/lib/systemd/system/walinuxagent.service" "$unit_dir/walinuxagent.service"
else
  printf '%s\n' '[Unit]' 'Description=Azure Linux Agent' '[Service]' 'ExecStart=/usr/bin/python3 -u /usr/sbin/waagent -daemon' \
    'Restart=always' '[Install]' 'WantedBy=multi-user.target' > "$unit_dir/walinuxagent.service"
fi
ln -sfn /lib/systemd/system/walinuxagent.service "$R/etc/systemd/system/multi-user.target.wants/walinuxagent.service"
printf '%s\n' '[Unit]' 'Description=Setup network rules for WALinuxAgent' '[Service]' 'Type=oneshot' \
  'ExecStart=/usr/bin/python3 -u /usr/sbin/waagent --setup-firewall' > "$R/etc/systemd/system/waagent-network-setup.service"

lib=$R/var/lib/waagent
install -d -m 0700 "$lib" "$lib/history/2026-01-01T00-00-00__1" "$lib/events" \
  "$lib/Microsoft.Azure.Extensions.CustomScript-2.1.10/config" "$lib/Microsoft.Azure.Extensions.CustomScript-2.1.10/status"
printf '%s' '00000000-1111-2222-3333-444444444444' > "$lib/provisioned"
printf '%s' '168.63.129.16' > "$lib/WireServerEndpoint"  # file content only (the namespace view; nothing connects)
printf '%s' 'WireProtocol' > "$lib/Protocol"
printf '%s\n' '<?xml version="1.0"?><Environment><ProvisioningSection><LinuxProvisioningConfigurationSet>' \
  '<HostName>host-image</HostName><UserName>hostuser</UserName><UserPassword>*</UserPassword>' \
  '</LinuxProvisioningConfigurationSet></ProvisioningSection></Environment>' > "$lib/ovf-env.xml"
chmod 0600 "$lib/ovf-env.xml"
printf '%s\n' '{"agent_name": "WALinuxAgent-2.7.3.0", "last_successful_status_upload_time": "2026-01-01T00:00:00Z"}' > "$lib/waagent_status.json"
printf '%s\n' 'Enabled' > "$lib/Microsoft.Azure.Extensions.CustomScript-2.1.10/config/HandlerState"
printf '%s\n' '[{"name": "Microsoft.Azure.Extensions.CustomScript", "version": 1.0}]' > "$lib/Microsoft.Azure.Extensions.CustomScript-2.1.10/HandlerEnvironment.json"
printf '%s\n' '2026-01-01T00:00:00.000000Z INFO Daemon Azure Linux Agent Version: 2.7.3.0' > "$R/var/log/waagent.log"
install -d -m 0755 "$R/var/log/azure/Microsoft.Azure.Extensions.CustomScript"
printf '%s\n' 'hostuser ALL=(ALL) ALL' > "$R/etc/sudoers.d/waagent"
chmod 0440 "$R/etc/sudoers.d/waagent"

# --- the rest of the machine as it is ---------------------------------------------------------------
top=$(cd "$here" && git rev-parse --path-format=absolute --git-common-dir 2>/dev/null | sed 's#/\.git$##') || top=
for m in /proc /sys /dev /run /tmp "$here" ${top:+"$top"}; do
  [ -d "$m" ] || continue
  mkdir -p "$R$m"
  mount --rbind "$m" "$R$m"
done

echo "with-host-waagent: $(ls "$R/var/lib/waagent" | wc -l) entries in /var/lib/waagent, /etc/waagent.conf, walinuxagent.service; running: $*" >&2
cd "$R"
pivot_root . mnt
umount -l /mnt
cd "$here"
exec "$@"
