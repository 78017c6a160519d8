#!/usr/bin/env bash
# System tools the tests use (Debian packages). Idempotent; quiet when everything is present.
set -euo pipefail
pkgs=(openssl openssh-client passwd util-linux fdisk e2fsprogs dosfstools iproute2 iptables nftables
      udftools genisoimage p7zip-full unzip zip hyperfine sudo procps kmod ntfs-3g curl parted python3-distro strace
      # arm64 build and tests (cross strip, qemu-user with arm64 glibc/libstdc++), sysext images and release files
      binutils-aarch64-linux-gnu qemu-user-static libc6-arm64-cross libstdc++6-arm64-cross squashfs-tools xz-utils)
missing=()
for p in "${pkgs[@]}"; do dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'ok installed' || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
