// Provisioning media for a box: an image holding ovf-env.xml (and any other files), attached
// read-only as a loop device that the box shows as /dev/sr0. Azure's DVD is pure UDF; this kernel
// can mount neither UDF nor ISO9660, so agents must read it in user space (or use the box's mount
// shim, see shim.ts, for agents that can only mount).
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { execOk } from '../../src/util/exec.ts';
import { writeUdfImage } from '../helpers/udf-image.ts';

export type MediaKind = 'udf' | 'iso9660';

function checkName(name: string): void {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) throw new Error(`media file name not allowed: ${JSON.stringify(name)}`);
}

/** Writes the image file in `dir` and returns its path. Files are placed at the image's root. */
export async function makeMediaImage(dir: string, kind: MediaKind, files: Record<string, string | Uint8Array>): Promise<string> {
  for (const name of Object.keys(files)) checkName(name);
  const out = join(dir, `box-media.${kind === 'udf' ? 'udf' : 'iso'}`);
  if (kind === 'udf') {
    // The project's own UDF writer: pure UDF, like Azure's DVD.
    writeUdfImage(out, Object.fromEntries(Object.entries(files).map(([n, d]) => [n, typeof d === 'string' ? d : Buffer.from(d)])));
    return out;
  }
  const src = mkdtempSync(join(dir, 'media-src-'));
  try {
    mkdirSync(src, { recursive: true });
    for (const [name, data] of Object.entries(files)) writeFileSync(join(src, name), data);
    // Plain ISO9660 with Rock Ridge and Joliet names (so any reader finds "ovf-env.xml").
    const argv = ['genisoimage', '-quiet', '-input-charset', 'utf-8', '-V', 'CDROM', '-r', '-J'];
    await execOk([...argv, '-o', out, src], { timeoutMs: 60_000 });
    return out;
  } finally {
    rmSync(src, { recursive: true, force: true });
  }
}
