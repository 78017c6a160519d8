// Optional `mount`/`umount` wrappers placed in a box at /usr/local/sbin (first in the box's PATH),
// for agents that can only get ovf-env.xml by mounting the DVD (Debian's waagent 2.7.3). This
// kernel has no udf/iso9660 module, so for a DVD device the wrapper extracts the image's files with
// 7z into the mount point instead; everything else goes to the real tools. Our own agent must NOT
// need this (it reads the media in user space), so the shim is off unless asked for.

export const MOUNT_SHIM = `#!/bin/sh
# waagent box: mount shim (see test/sandbox/shim.ts). Not a real mount.
dev= last=
for a in "$@"; do
  case "$a" in /dev/sr[0-9]*|/dev/cdrom*|/dev/hd[c-z]*) dev=$a ;; esac
  last=$a
done
if [ -n "$dev" ] && [ "$last" != "$dev" ] && [ -d "$last" ]; then
  img=$(mktemp /tmp/box-dvd.XXXXXX) || exit 32
  if cat "$dev" > "$img" && 7z x -y -bd -o"$last" "$img" >/dev/null 2>&1; then
    : > "$last/.box-mount-shim"
    rm -f "$img"
    exit 0
  fi
  rm -f "$img"
  echo "mount: $dev: cannot extract the media" >&2
  exit 32
fi
exec /usr/bin/mount "$@"
`;

export const UMOUNT_SHIM = `#!/bin/sh
# waagent box: umount shim (see test/sandbox/shim.ts).
for a in "$@"; do last=$a; done
if [ -n "\${last:-}" ] && [ -f "$last/.box-mount-shim" ]; then
  find "$last" -mindepth 1 -delete
  exit 0
fi
exec /usr/bin/umount "$@"
`;

/** eject: the box's DVD is a loop device; ejecting means nothing (Flatcar ships eject as `true`). */
export const EJECT_SHIM = `#!/bin/sh
# waagent box: eject shim (see test/sandbox/shim.ts).
exit 0
`;

/** Waits until the host's DevMirror has synced /dev with the kernel's partitions (box-udev). */
export const SETTLE = `#!/bin/sh
# waagent box: udev settle stand-in (see test/sandbox/devmirror.ts). Bounded to 5 s.
[ -d /run/box/udev ] || exit 0
req=/run/box/udev/settle-$$-$(date +%s%N)
: > "$req" 2>/dev/null || exit 0
i=0
while [ -e "$req" ] && [ $i -lt 500 ]; do sleep 0.01; i=$((i+1)); done
exit 0
`;

/** Partitioning tools that make the kernel re-read a table (BLKRRPART) or change partitions. */
export const PARTITION_TOOLS = ['sfdisk', 'fdisk', 'sgdisk', 'parted', 'partprobe', 'partx', 'blockdev', 'wipefs'];

/** Wrapper for one partitioning tool: the real tool, then a settle. */
export function partitionToolShim(realPath: string): string {
  return `#!/bin/sh
# waagent box: runs ${realPath}, then waits for the box's udev stand-in (test/sandbox/shim.ts).
${realPath} "$@"
rc=$?
/usr/local/lib/waagent-box/settle
exit $rc
`;
}

/** udevadm: \`settle\` waits for the box's udev stand-in; anything else goes to the real tool. */
export function udevadmShim(realPath: string | undefined): string {
  return `#!/bin/sh
# waagent box: udevadm stand-in (test/sandbox/shim.ts). The box has no udev daemon.
if [ "$1" = settle ]; then exec /usr/local/lib/waagent-box/settle; fi
${realPath ? `exec ${realPath} "$@"` : 'echo "udevadm: no udev in this box" >&2; exit 1'}
`;
}
