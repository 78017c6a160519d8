// From a downloaded package zip to an initialised handler directory (docs/extensions.md §4.4, docs/protocol.md
// Appendix V): hardened extraction, u+x on every file, HandlerManifest.json located and validated and
// saved at the root without BOM, config/ and status/ 0700, HandlerEnvironment.json written, the zip
// deleted afterwards whatever happened. A failure leaves the handler dir as it was before.
import { chmodSync, existsSync, lstatSync, mkdirSync, readFileSync, readdirSync, renameSync, rmSync } from 'node:fs';
import { randomHex } from '../util/unique.ts';
import { join } from 'node:path';
import { ZipError, type ZipLimits } from '../util/zipread.ts';
import { extractZip } from '../util/zipextract.ts';
import { writeFileAtomic } from '../util/atomic.ts';
import { ErrorCodes, ExtensionDownloadError, ExtensionError, ExtensionsGoalStateError } from './errors.ts';
import type { HandlerLayout } from './layout.ts';
import { findHandlerManifest, parseHandlerManifest, type HandlerManifest } from './manifest.ts';
import { writeHandlerEnvironment } from './handlerEnvironment.ts';
import { errorText } from '../util/errors.ts';

/** Package limits: real extension packages are a few MB; the largest known are ~200 MB unpacked. */
export const PACKAGE_LIMITS: ZipLimits = {
  maxArchiveBytes: 512 << 20,
  maxEntries: 20_000,
  maxEntryBytes: 512 << 20,
  maxTotalBytes: 2 * 1024 ** 3,
};

/** Entries of an existing handler dir that survive a (re-)extraction: agent and extension state. */
const KEPT_ON_REEXTRACT = ['config', 'status', 'mrseq', 'heartbeat.log'];

/**
 * u+x on every file (the Python agent's rule), and never group/other write: root runs these files, and a
 * zip may carry any unix mode (the Python agent ignores zip modes: 0644 + u+x).
 */
function addUserExec(root: string, depth = 0): void {
  if (depth > 64) return;
  for (const e of readdirSync(root, { withFileTypes: true })) {
    const p = join(root, e.name);
    if (e.isDirectory()) addUserExec(p, depth + 1);
    else if (e.isFile()) chmodSync(p, ((lstatSync(p).mode & 0o7777) & ~0o022) | 0o100);
  }
}

export interface ExtractPackageOptions {
  limits?: ZipLimits;
}

/**
 * Extracts `zipPath` into `layout.dir` and returns the validated manifest. The zip is always deleted.
 * Errors: ExtensionDownloadError 1001 for a bad archive, -1 when no HandlerManifest.json is found;
 * ExtensionError 1003 for a malformed manifest.
 */
export async function extractPackage(zipPath: string, layout: HandlerLayout, opts: ExtractPackageOptions = {}): Promise<HandlerManifest> {
  const lib = layout.roots.libDir;
  const tmp = join(lib, `.${layout.fullName}.pkg-${process.pid}-${randomHex(8)}`);
  try {
    try {
      await extractZip(zipPath, tmp, { ...PACKAGE_LIMITS, ...opts.limits, dirMode: 0o755 });
    } catch (e) {
      if (e instanceof ZipError) throw new ExtensionDownloadError(`Failed to extract ${layout.fullName}: ${e.message}`, ErrorCodes.PluginManifestDownloadError);
      throw new ExtensionDownloadError(`Failed to extract ${layout.fullName}: ${errorText(e)}`, ErrorCodes.PluginManifestDownloadError);
    }
    addUserExec(tmp);
    const found = findHandlerManifest(tmp);
    if (!found) throw new ExtensionDownloadError('HandlerManifest.json not found', ErrorCodes.Unknown);
    let text = readFileSync(found, 'utf8');
    if (text.charCodeAt(0) === 0xfeff) text = text.slice(1);
    const manifest = parseHandlerManifest(text, `${layout.fullName}/${found.slice(tmp.length + 1)}`);
    writeFileAtomic(join(tmp, 'HandlerManifest.json'), text, { mode: 0o744 });

    if (existsSync(layout.dir)) {
      // A dir already exists (HandlerState written before download, or a FailedUpgrade retry): keep its
      // state, replace everything else with the fresh package.
      for (const name of KEPT_ON_REEXTRACT) {
        const from = join(layout.dir, name);
        if (!existsSync(from)) continue;
        rmSync(join(tmp, name), { recursive: true, force: true });
        renameSync(from, join(tmp, name));
      }
      const old = join(lib, `.${layout.fullName}.old-${process.pid}-${randomHex(8)}`);
      renameSync(layout.dir, old);
      renameSync(tmp, layout.dir);
      rmSync(old, { recursive: true, force: true });
    } else {
      renameSync(tmp, layout.dir);
    }
    for (const d of [layout.configDir, layout.statusDir]) {
      mkdirSync(d, { recursive: true, mode: 0o700 });
      chmodSync(d, 0o700);
    }
    return manifest;
  } finally {
    rmSync(tmp, { recursive: true, force: true });
    rmSync(zipPath, { force: true });
  }
}

export interface InitializeOptions {
  /** The goal state sends this handler as multi-config. */
  isMultiConfig: boolean;
  /** Extension Telemetry Pipeline (default true). */
  etp?: boolean;
}

/**
 * initialize() of §4.4 after extraction: MC consistency, HandlerEnvironment.json, log/events folders.
 * Manifest boolean warnings are returned for telemetry. I/O errors become ExtensionDownloadError.
 */
export function initializeHandler(layout: HandlerLayout, manifest: HandlerManifest, opts: InitializeOptions): string[] {
  checkMultiConfig(layout.name, manifest, opts.isMultiConfig);
  try {
    for (const d of [layout.configDir, layout.statusDir]) mkdirSync(d, { recursive: true, mode: 0o700 });
    writeHandlerEnvironment(layout, { etp: opts.etp ?? true });
  } catch (e) {
    if (e instanceof ExtensionError) throw e;
    throw new ExtensionDownloadError(`Failed to initialize ${layout.fullName}: ${errorText(e)}`, ErrorCodes.Unknown);
  }
  return manifest.warnings;
}

/** §6.2: a handler sent as multi-config must say supportsMultipleExtensions. */
export function checkMultiConfig(name: string, manifest: HandlerManifest, isMultiConfig: boolean): void {
  if (isMultiConfig && !manifest.supportsMultipleExtensions) {
    throw new ExtensionsGoalStateError(`Handler ${name} does not support MultiConfig but CRP expects it, failing due to inconsistent data`);
  }
}
