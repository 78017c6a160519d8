#!/bin/bash
# PID 1 of a box. Started by box.ts as:
#   setpriv --pdeathsig KILL -- unshare --mount --uts --ipc --net --pid --fork --kill-child
#           --propagation private -- bash init.sh
# with BOX_* variables in the environment. It builds the box's file system view from inside the
# fresh mount namespace (so every mount dies with the namespace: nothing can leak onto the host),
# brings up the network (only lo), pivots into the overlay, prints "ready" and then waits. It exits
# when its stdin closes: that is the dead-man switch if the test process dies without close().
set -euo pipefail

S=$BOX_STATE            # host state dir (upper, work, shared, sysfake)
M=$S/merged             # the box's root

mount -t overlay box-root -o "lowerdir=/,upperdir=$S/upper,workdir=$S/work" "$M"

# The box starts as a fresh image whatever agent the host has installed (e.g. Debian's waagent
# package, whose unit is walinuxagent.service): what an agent owns is hidden. Removing it in the merged view only writes whiteouts
# into the upper dir; the host's files are never touched. Files the test gives (Box files) are
# written after this, so they still appear.
# A parent that resolves outside the merged root (an absolute symlink such as /var/run -> /run
# would resolve on the host here, before the pivot) is skipped, so this can never reach the host.
# (/run is a fresh tmpfs in the box anyway, so no pid file is carried over.)
MR=$(realpath -e -- "$M")
shopt -s nullglob
for p in "$M"/var/lib/waagent "$M"/var/log/waagent.log* "$M"/var/log/azure "$M"/etc/waagent.conf \
         "$M"/etc/sudoers.d/waagent \
         "$M"/etc/systemd/system/{waagent,walinuxagent}*.service \
         "$M"/etc/systemd/system/*.wants/{waagent,walinuxagent}*.service \
         "$M"/{lib,usr/lib}/systemd/system/{waagent,walinuxagent}*.service; do
  parent=$(realpath -e -- "$(dirname -- "$p")") || continue
  case $parent/ in "$MR"/*) rm -rf -- "$parent/$(basename -- "$p")" ;; esac
done
shopt -u nullglob

# Fresh kernel file systems. proc belongs to this PID namespace because we are its PID 1.
mount -t proc -o nosuid,nodev,noexec proc "$M/proc"
if [ -n "${BOX_SYSFAKE:-}" ]; then
  # Real sysfs (of this network namespace: only lo under class/net) with the fake Azure devices
  # laid over it read-only, so /sys/bus/vmbus and friends look as on Azure.
  mkdir -p "$S/sysreal"
  for p in ${BOX_SYSHIDE:-}; do mknod "$BOX_SYSFAKE$p" c 0 0; done   # overlayfs whiteouts
  mount -t sysfs sysfs "$S/sysreal"
  mount -t overlay box-sys -o "lowerdir=$BOX_SYSFAKE:$S/sysreal" "$M/sys"
else
  mount -t sysfs sysfs "$M/sys"
fi

# /dev: a small tmpfs with only the nodes a VM's agent needs. Never devtmpfs: that would expose
# the host's disks (vda) to commands that partition and format.
mount -t tmpfs -o nosuid,mode=0755,size=8m box-dev "$M/dev"
d=$M/dev
mknod -m 666 "$d/null" c 1 3; mknod -m 666 "$d/zero" c 1 5; mknod -m 666 "$d/full" c 1 7
mknod -m 666 "$d/random" c 1 8; mknod -m 666 "$d/urandom" c 1 9; mknod -m 666 "$d/tty" c 5 0
# console goes nowhere: writes to the real console would reach the host.
mknod -m 600 "$d/console" c 1 3
mkdir -m 755 "$d/pts" "$d/disk"; mkdir -m 1777 "$d/shm"
mount -t devpts -o newinstance,ptmxmode=0666,mode=0620,gid=5 devpts "$d/pts"
ln -s pts/ptmx "$d/ptmx"
mount -t tmpfs -o nosuid,nodev,mode=1777,size=64m box-shm "$d/shm"
ln -s /proc/self/fd "$d/fd"; ln -s /proc/self/fd/0 "$d/stdin"
ln -s /proc/self/fd/1 "$d/stdout"; ln -s /proc/self/fd/2 "$d/stderr"
# Block devices: "name:major:minor:group" entries. Each is held open by this process so a loop
# device detached lazily by the host goes away exactly when the box dies.
for spec in ${BOX_DEVNODES:-}; do
  IFS=: read -r name major minor group <<<"$spec"
  mkdir -p "$(dirname "$d/$name")"
  mknod -m 660 "$d/$name" b "$major" "$minor"
  chgrp "$group" "$d/$name" 2>/dev/null || true
  exec {fd}<"$d/$name"
done
for spec in ${BOX_DEVLINKS:-}; do           # "link=target" (udev-style symlinks)
  mkdir -p "$(dirname "$d/${spec%%=*}")"
  ln -s "${spec#*=}" "$d/${spec%%=*}"
done

mount -t tmpfs -o nosuid,nodev,mode=1777,size=${BOX_TMP_SIZE:-512m} box-tmp "$M/tmp"
mount -t tmpfs -o nosuid,nodev,mode=0755,size=64m box-run "$M/run"
mkdir -m 755 "$M/run/box" "$M/run/lock"
mount --bind "$S/shared" "$M/run/box"

# The project (pinned node, dist/waagent), read-only at its own path.
if [ -n "${BOX_PROJECT:-}" ]; then
  mkdir -p "$M$BOX_PROJECT"
  mount --bind "$BOX_PROJECT" "$M$BOX_PROJECT"
  mount -o remount,bind,ro "$M$BOX_PROJECT"
fi

hostname "$BOX_HOSTNAME"

# Network: only lo. The fabric addresses live on lo; explicit main-table routes to them make
# /proc/net/route show a route to the wireserver (agents look for one), a default route with a
# gateway on lo satisfies agents that wait for a default gateway, and the two "throw" halves of
# the address space (more specific than the default) make every other destination fail at once
# with ENETUNREACH: no packet can be queued for anywhere but lo.
ip link set lo up
ip addr add 168.63.129.16/32 dev lo
ip addr add 169.254.169.254/32 dev lo
ip route add 168.63.129.16/32 dev lo
ip route add 169.254.169.254/32 dev lo
ip route add default via "${BOX_GATEWAY:-10.0.0.1}" dev lo onlink
ip route add throw 0.0.0.0/1
ip route add throw 128.0.0.0/1

# Pivot into the overlay and drop every host mount from this namespace.
cd "$M"
pivot_root . .
umount -l .
cd /

echo ready
# Wait for ever; as PID 1 bash reaps orphans (its SIGCHLD handler waits for any child).
# read returns >128 on timeout and 1 on EOF (the host side went away).
while :; do
  rc=0; read -r -t 3600 _ || rc=$?
  if [ "$rc" -ne 0 ] && [ "$rc" -le 128 ]; then exit 0; fi
done
