// Hyper-V entropy (docs/os.md §8.3): the host passes random bytes in the ACPI OEM0 table. Writing them to
// /dev/random mixes them into the kernel pool (without crediting entropy, so it can never weaken it).
// Recent kernels do this themselves; doing it once more is harmless. Once per boot: a marker in /run
// (a tmpfs, gone at reboot).
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import type { Sysroot } from '../../util/sysroot.ts';
import { writeFileAtomic } from '../../util/atomic.ts';

export const OEM0 = '/sys/firmware/acpi/tables/OEM0';
export const ENTROPY_MARKER = '/run/waagent-entropy-seeded';

/** 'seeded' (bytes written), 'done-this-boot', or 'absent' (no OEM0 table: not Hyper-V, or not exposed). */
export function seedEntropy(root: Sysroot): 'seeded' | 'done-this-boot' | 'absent' {
  if (existsSync(root.path(ENTROPY_MARKER))) return 'done-this-boot';
  let data: Buffer;
  try { data = readFileSync(root.path(OEM0)); } catch { return 'absent'; }
  // The table is small (a few hundred bytes); never push more than 64 KiB whatever it claims.
  writeFileSync(root.path('/dev/random'), data.subarray(0, 64 * 1024));
  writeFileAtomic(root.pathNoFollow(ENTROPY_MARKER), '', { mode: 0o644 });
  return 'seeded';
}
