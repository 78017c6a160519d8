// config/<seq>.settings (MC: config/<ext>.<seq>.settings), docs/extensions.md §1.3–1.4. The protected
// settings stay exactly as the goal state sent them (a base64 CMS envelope): the agent never decrypts
// them; the extension does, with Lib.Dir/<thumbprint>.prv. All three keys are always present (null when
// missing) because some extensions depend on that shape.
//
// Mode: the Python agent leaves these to the umask (0644) inside a 0700 config/ dir. We write 0600: every
// extension runs as root, and the envelope is a secret-bearing blob even if encrypted.
import { mkdirSync } from 'node:fs';
import { writeFileAtomic } from '../util/atomic.ts';
import type { ExtensionSettings } from '../platform/types.ts';
import type { HandlerLayout } from './layout.ts';
import { pyDumps } from './pyjson.ts';

export const SETTINGS_FILE_MODE = 0o600;
export const STATE_DIR_MODE = 0o700;

/**
 * The file's text. A handler with no settings gets an empty file (0.settings, 0 bytes).
 * Note: publicSettings were parsed by JSON.parse upstream, so integer-like keys come first and 1.0
 * becomes 1 — JSON-equivalent to what the fabric sent, which is all extensions rely on.
 */
export function settingsFileContent(s: ExtensionSettings | null | undefined): string {
  if (!s) return '';
  return pyDumps({
    runtimeSettings: [{
      handlerSettings: {
        publicSettings: s.publicSettings ?? null,
        protectedSettings: s.protectedSettings ?? null,
        protectedSettingsCertThumbprint: s.protectedSettingsCertThumbprint ?? null,
      },
    }],
  });
}

/** Writes (atomically) the settings file of one item; returns its path. `ext` is set for MC handlers. */
export function writeSettingsFile(layout: HandlerLayout, s: ExtensionSettings | null | undefined, ext?: string): string {
  mkdirSync(layout.configDir, { recursive: true, mode: STATE_DIR_MODE });
  const seq = s ? s.sequenceNumber : 0;
  const path = layout.settingsPath(seq, ext);
  writeFileAtomic(path, settingsFileContent(s), { mode: SETTINGS_FILE_MODE });
  return path;
}
