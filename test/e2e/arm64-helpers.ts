// Shared by the arm64 tests: dist/waagent-arm64 run on this x64 machine by qemu-user
// (qemu-aarch64-static with the arm64 glibc and libstdc++ of libc6-arm64-cross/libstdc++6-arm64-cross
// under /usr/aarch64-linux-gnu, all installed by scripts/install-test-deps.sh). binfmt_misc is not
// relied on: the emulator is named in the argv, so the box (an overlay of this machine's /) runs it the
// same way. Emulated runs are many times slower than native ones; no test reads a time from them.
import { closeSync, existsSync, openSync, readSync } from 'node:fs';
import { join } from 'node:path';
import { PROJECT } from '../sandbox/box.ts';

export const ARM64_BIN = join(PROJECT, 'dist', 'waagent-arm64');
export const X64_BIN = join(PROJECT, 'dist', 'waagent');
export const QEMU = '/usr/bin/qemu-aarch64-static';
export const ARM64_SYSROOT = '/usr/aarch64-linux-gnu';

/** argv that runs the arm64 binary (or any arm64 program) under qemu-user. */
export function arm64Argv(bin: string, ...args: string[]): string[] {
  return [QEMU, '-L', ARM64_SYSROOT, bin, ...args];
}

/** Why arm64 tests cannot run here, or false. */
export function arm64Missing(): string | false {
  if (!existsSync(ARM64_BIN)) return 'dist/waagent-arm64 is not built (npm test builds it)';
  if (!existsSync(QEMU)) return 'qemu-user-static is not installed (scripts/install-test-deps.sh)';
  if (!existsSync(join(ARM64_SYSROOT, 'lib', 'ld-linux-aarch64.so.1'))) return 'libc6-arm64-cross is not installed (scripts/install-test-deps.sh)';
  return false;
}

/** ELF machine of a file: 'x86-64', 'aarch64' or the raw number. */
export function elfMachine(file: string): string {
  const b = Buffer.alloc(20);
  const fd = openSync(file, 'r');
  try { readSync(fd, b, 0, 20, 0); } finally { closeSync(fd); }
  if (b.readUInt32BE(0) !== 0x7f454c46) throw new Error(`${file} is not an ELF file`);
  const m = b.readUInt16LE(18);
  return m === 0x3e ? 'x86-64' : m === 0xb7 ? 'aarch64' : String(m);
}
