#!/usr/bin/env bash
# Fetch Debian's waagent package (the benchmark peer) and UNPACK it into a directory, without
# installing it: no service is registered or started on the host, nothing in /etc changes.
# It only ever runs inside a box (see README.md). Usage: debian-waagent.sh [DIR] (default
# /opt/debian-waagent). Needs the Debian archive (apt-get download) and python3-distro on the host.
set -euo pipefail
dir=${1:-/opt/debian-waagent}
if [ -x "$dir/usr/sbin/waagent" ]; then echo "$dir"; exit 0; fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
chmod 755 "$work"   # apt's download user must be able to write here
( cd "$work" && apt-get download -q waagent >/dev/null 2>&1 ) || { apt-get update -qq >/dev/null 2>&1 || true; ( cd "$work" && apt-get download -q waagent >/dev/null ); }
mkdir -p "$dir"
dpkg-deb -x "$work"/waagent_*.deb "$dir"
python3 -c 'import distro' 2>/dev/null || /usr/bin/python3 -c 'import distro' 2>/dev/null || {
  echo "debian-waagent: python3-distro is missing (apt-get install python3-distro)" >&2; exit 1; }
echo "$dir"
