// What the archive must never contain even though no log line of THIS process registered it: the
// plaintext of every handler's protected settings. The agent itself never writes it, but an
// extension may log its own settings (a command line, a storage key) into Extension.LogDir, which
// the manifest collects. So the collector decrypts each settings file's envelope with the tenant
// certificate in Lib.Dir (as the extension does) and registers the plaintext for redaction.
// Bounded: at most MAX_FILES settings files of at most MAX_SETTINGS_BYTES each, one openssl run each.
import { lstatSync, readFileSync } from 'node:fs';
import { decryptCms } from '../crypto/certs.ts';
import type { OpenSsl } from '../crypto/openssl.ts';
import { expandGlob } from '../util/glob.ts';
import { addSecret } from '../util/logger.ts';
import { errorText } from '../util/errors.ts';

const MAX_FILES = 64;
const MAX_SETTINGS_BYTES = 1 << 20;
/**
 * Leaf values shorter than this are not registered on their own (the whole plaintext always is):
 * redacting "true" or "bash" everywhere would destroy the logs the archive is for.
 */
const MIN_LEAF = 8;

function leaves(v: unknown, out: string[], depth = 0): void {
  if (depth > 32) return;
  if (typeof v === 'string') { if (v.length >= MIN_LEAF) out.push(v); return; }
  if (typeof v === 'number' && String(v).length >= MIN_LEAF) { out.push(String(v)); return; }
  if (Array.isArray(v)) { for (const x of v) leaves(x, out, depth + 1); return; }
  if (v && typeof v === 'object') for (const x of Object.values(v)) leaves(x, out, depth + 1);
}

/**
 * Registers the decrypted protected settings of every handler; returns notes for results.txt.
 * `scratchParent`: where openssl's private scratch directories go (the collector's own, under Lib.Dir).
 */
export async function registerProtectedSettings(libDir: string, openssl: OpenSsl, scratchParent?: string): Promise<string[]> {
  const notes: string[] = [];
  const files = [...expandGlob(`${libDir}/*/config/*.settings`)].slice(0, MAX_FILES);
  for (const file of files) {
    let handlers: unknown[];
    try {
      const st = lstatSync(file);
      if (!st.isFile() || st.size === 0 || st.size > MAX_SETTINGS_BYTES) continue;
      const doc = JSON.parse(readFileSync(file, 'utf8')) as { runtimeSettings?: unknown };
      handlers = Array.isArray(doc.runtimeSettings) ? doc.runtimeSettings : [];
    } catch (e) {
      notes.push(`${file}: not readable as settings JSON (${errorText(e).slice(0, 120)})`);
      continue;
    }
    for (const h of handlers.slice(0, 16)) {
      const hs = (h as { handlerSettings?: { protectedSettings?: unknown; protectedSettingsCertThumbprint?: unknown } })?.handlerSettings;
      const b64 = hs?.protectedSettings;
      const tp = hs?.protectedSettingsCertThumbprint;
      if (typeof b64 !== 'string' || !b64 || typeof tp !== 'string') continue;
      if (!/^[0-9A-Fa-f]{40}$/.test(tp)) { notes.push(`${file}: bad certificate thumbprint field`); continue; }
      try {
        const plain = (await decryptCms(openssl, Buffer.from(b64, 'base64'), `${libDir}/${tp.toUpperCase()}.crt`, `${libDir}/${tp.toUpperCase()}.prv`, scratchParent)).toString('utf8');
        addSecret(plain.trim());
        const values: string[] = [];
        try { leaves(JSON.parse(plain), values); } catch { /* not JSON: the whole text is registered */ }
        for (const v of values) addSecret(v);
      } catch (e) {
        // Not fatal: the envelope itself is redacted as a JSON field anyway.
        notes.push(`${file}: protected settings not decrypted (${errorText(e).slice(0, 160)})`);
      }
    }
  }
  return notes;
}
