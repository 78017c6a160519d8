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
