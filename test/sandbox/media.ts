// Provisioning media for a box: an image holding ovf-env.xml (and any other files), attached
// read-only as a loop device that the box shows as /dev/sr0. Azure's DVD is pure UDF; this kernel
// can mount neither UDF nor ISO9660, so agents must read it in user space (or use the box's mount
// shim, see shim.ts, for agents that can only mount).
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { execOk } from '../../src/util/exec.ts';

export type MediaKind = 'udf' | 'iso9660';

const UDF_WRITER = join(dirname(fileURLToPath(import.meta.url)), '..', 'helpers', 'udf-image.ts');

function checkName(name: string): void {
  if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) throw new Error(`media file name not allowed: ${JSON.stringify(name)}`);
}

/** Writes the image file in `dir` and returns its path. Files are placed at the image's root. */
export async function makeMediaImage(dir: string, kind: MediaKind, files: Record<string, string | Uint8Array>): Promise<string> {
  for (const name of Object.keys(files)) checkName(name);
  const out = join(dir, `box-media.${kind === 'udf' ? 'udf' : 'iso'}`);
  if (kind === 'udf' && existsSync(UDF_WRITER)) {
    // The project's own UDF writer (pure UDF, like Azure's DVD). Loaded lazily: it is another
    // engineer's test helper and its export is looked up by the names it may carry.
    const mod = (await import(pathToFileURL(UDF_WRITER).href)) as Record<string, unknown>;
    const fn = (mod.writeUdfImage ?? mod.makeUdfImage ?? mod.createUdfImage ?? mod.udfImage) as
      ((files: Record<string, string | Uint8Array> | { name: string; data: Uint8Array }[], opts?: unknown) => Uint8Array | Promise<Uint8Array>) | undefined;
    if (typeof fn === 'function') {
      const entries = Object.entries(files).map(([name, data]) => ({ name, data: typeof data === 'string' ? Buffer.from(data) : data }));
      let img: Uint8Array;
      try {
        img = await fn(entries);
      } catch {
        img = await fn(Object.fromEntries(entries.map((e) => [e.name, e.data])));
      }
      writeFileSync(out, img);
      return out;
    }
  }
  const src = mkdtempSync(join(dir, 'media-src-'));
  try {
    mkdirSync(src, { recursive: true });
    for (const [name, data] of Object.entries(files)) writeFileSync(join(src, name), data);
    // Without the project's writer: genisoimage -udf makes an ISO9660+UDF bridge image.
    const argv = ['genisoimage', '-quiet', '-input-charset', 'utf-8', '-V', 'CDROM', '-r', '-J'];
    if (kind === 'udf') argv.push('-udf');
    await execOk([...argv, '-o', out, src], { timeoutMs: 60_000 });
    return out;
  } finally {
    rmSync(src, { recursive: true, force: true });
  }
}
