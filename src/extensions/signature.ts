// Extension package signature validation (WALinuxAgent 2.15 `ga/signature_validation_util.py`): the goal
// state's base64 `encodedSignature` is a detached CMS signature of the package zip, checked with
// `openssl cms -verify` against Microsoft's root (carried in the binary) without a time check, as 2.15
// does; then HandlerManifest.json's signingInfo must name the handler's publisher, type and version. When
// both pass, an empty `package_validated` file beside the handler records it, so later boots and goal
// states do not verify again (a new package is extracted into a fresh dir, which drops the record).
import { existsSync, lstatSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { basename, join } from 'node:path';
import { writeFileAtomic } from '../util/atomic.ts';
import { log } from '../util/logger.ts';
import { randomHex } from '../util/unique.ts';
import { ExecError } from '../util/exec.ts';
import type { OpenSsl } from '../crypto/openssl.ts';
import { MICROSOFT_ROOT_2011_PEM } from '../crypto/msroot.ts';
import { ErrorCodes } from './errors.ts';
import { compareVersions } from './versions.ts';
import type { HandlerLayout } from './layout.ts';
import type { HandlerManifest } from './manifest.ts';
import { AgentError, errorText } from '../util/errors.ts';

/** 'openssl cms -verify -no_check_time' needs OpenSSL 1.1.0 (2.15's gate). */
export const MIN_OPENSSL_VERSION = '1.1.0';
export const ROOT_CERT_FILE = 'microsoft_root_certificate.pem';
/** A CMS signature is a few KiB; a goal state could carry anything. */
const MAX_SIGNATURE_BYTES = 256 * 1024;

/**
 * TEST-ONLY SEAM. The fabric simulator signs its packages with its own throw-away root; the end-to-end
 * tests hand that root to the binary with this variable. It is honoured only when the agent runs in a
 * network namespace whose only interface is `lo` — the VM-in-a-box. A real VM always has a NIC (without
 * one it cannot reach the WireServer or download any package), so there the variable is ignored with a
 * warning: setting it cannot make a real agent trust another root. It is never a configuration key.
 */
export const TEST_ROOT_ENV = 'WAAGENT_SEA_TEST_SIGNING_ROOT';

/** A failed validation: 2.15's PackageValidationError family, reported with 1007 (install). */
export class PackageValidationError extends AgentError {
  static override readonly errorName: string = 'PackageValidationError';
  readonly code = ErrorCodes.PluginInstallProcessingFailed;
  /** Telemetry operation 2.15 reports it under. */
  readonly operation: string;
  readonly detail: string;
  constructor(detail: string, operation: string) {
    // 2.15's message carries the class name: "[SignatureValidationError] ...".
    super(`[${(new.target as typeof PackageValidationError).errorName}] ${detail}`);
    this.detail = detail;
    this.operation = operation;
  }
}

/** The package's signature did not verify (or could not be checked). */
export class SignatureValidationError extends PackageValidationError {
  static override readonly errorName: string = 'SignatureValidationError';
}

/** The manifest's signing information is missing or inconsistent. */
export class ManifestValidationError extends PackageValidationError {
  static override readonly errorName: string = 'ManifestValidationError';
}

function parseOpensslVersion(output: string): string {
  return /OpenSSL (\d+\.\d+\.\d+)/.exec(output)?.[1] ?? '0.0.0';
}

/** The root named by TEST_ROOT_ENV when the seam applies (see above), else null. */
export function testRootOverride(env: NodeJS.ProcessEnv = process.env, netDir = '/sys/class/net'): string | null {
  const p = env[TEST_ROOT_ENV];
  if (!p) return null;
  let nets: string[] = [];
  try { nets = readdirSync(netDir); } catch { /* no sysfs: treat as a real machine */ }
  if (nets.length !== 1 || nets[0] !== 'lo') {
    log.once('WARNING', 'test-signing-root', `${TEST_ROOT_ENV} is ignored: it is honoured only inside the test sandbox (a network namespace with only lo)`);
    return null;
  }
  return p;
}

export interface SignatureOptions {
  /** Debug.EnableSignatureValidation. */
  enabled: boolean;
  openssl: OpenSsl;
  /** Lib.Dir (host path): the root certificate and transient signature files go here. */
  libDir: string;
  /** Trust anchor file instead of Microsoft's root: unit tests only (never set from configuration). */
  caFile?: string;
}

export class SignatureValidator {
  readonly o: SignatureOptions;
  private version: Promise<string> | null = null;

  constructor(o: SignatureOptions) { this.o = o; }

  /** 2.15's openssl gate (asked once per process): false, with one log line, below 1.1.0. */
  async opensslSupported(): Promise<boolean> {
    this.version ??= this.o.openssl.run(['version'], { timeoutMs: 10_000 }).then((r) => parseOpensslVersion(r.stdout), (e: unknown) => {
      log.error(`Failed to get OpenSSL version. Error: ${errorText(e)}`);
      return '0.0.0';
    });
    const v = await this.version;
    if (compareVersions(v, MIN_OPENSSL_VERSION) < 0) {
      log.once('INFO', 'openssl-version', opensslTooOld(v));
      return false;
    }
    return true;
  }

  async opensslVersion(): Promise<string> {
    await this.opensslSupported();
    return this.version!;
  }

  /** The trust anchor: the test seam's root, the caller's, or Microsoft's written to Lib.Dir (0644, public). */
  rootFile(): string {
    const override = this.o.caFile ?? testRootOverride();
    if (override) return override;
    const path = join(this.o.libDir, ROOT_CERT_FILE);
    let current = '';
    try { current = readFileSync(path, 'utf8'); } catch { /* absent */ }
    if (current !== MICROSOFT_ROOT_2011_PEM) writeFileAtomic(path, MICROSOFT_ROOT_2011_PEM, { mode: 0o644 });
    return path;
  }

  /** Verifies the detached CMS signature of `packagePath`. Throws PackageValidationError. */
  async verifyPackage(packagePath: string, encodedSignature: string, fullName: string): Promise<void> {
    log.info(`Validating signature for package '${fullName}'`);
    const sigPath = join(this.o.libDir, `.${basename(packagePath)}_signature-${randomHex(6)}.der`);
    try {
      const der = Buffer.from(encodedSignature.trim(), 'base64');
      if (der.length === 0) throw new Error('the signature is empty or not base64');
      if (der.length > MAX_SIGNATURE_BYTES) throw new Error(`the signature is ${der.length} bytes, limit ${MAX_SIGNATURE_BYTES}`);
      writeFileAtomic(sigPath, der, { mode: 0o600 });
      const ca = this.rootFile();
      if (!existsSync(ca)) throw new Error(`signing certificate was not found at expected location ('${ca}')`);
      try {
        await this.o.openssl.run(['cms', '-verify', '-binary', '-inform', 'der', '-in', sigPath, '-content', packagePath,
          '-purpose', 'any', '-CAfile', ca, '-no_check_time', '-out', '/dev/null'], { timeoutMs: 120_000, maxOutput: 64 * 1024 });
      } catch (e) {
        if (!(e instanceof ExecError)) throw e;
        const r = e.result;
        const rc = r.timedOut ? 'timed out' : String(r.code ?? r.signal);
        throw new SignatureValidationError(
          `Signature validation failed for package '${fullName}'. \nReturn code: ${rc}\nError details:\n${r.stderr.trim().slice(0, 2000)}`, 'PackageSignatureResult');
      }
      log.info(`Successfully validated signature for package '${fullName}'`);
    } catch (e) {
      if (e instanceof PackageValidationError) throw e;
      throw new SignatureValidationError(`Signature validation failed for package '${fullName}'. Error: ${errorText(e)}`, 'SignatureValidation');
    } finally {
      rmSync(sigPath, { force: true });
    }
  }
}

export function opensslTooOld(version: string): string {
  return `Signature validation requires OpenSSL version ${MIN_OPENSSL_VERSION}, but the current version is ${version}. `
    + `To validate signature, please upgrade OpenSSL to version ${MIN_OPENSSL_VERSION} or higher.`;
}

/** signingInfo must name this handler (publisher.type split at the last dot) and version, ignoring case. */
export function validateSigningInfo(manifest: HandlerManifest, name: string, version: string): void {
  const fail = (detail: string, op = 'PackageSigningInfoResult') => new ManifestValidationError(detail, op);
  const dot = name.lastIndexOf('.');
  if (dot <= 0) throw fail(`Error during manifest 'signingInfo' validation for extension '${name}'. Error: the name is not <publisher>.<type>`, 'SignatureValidation');
  const si = manifest.signingInfo;
  if (!si) throw fail("HandlerManifest.json does not contain 'signingInfo'");
  const expected: Array<['type' | 'publisher' | 'version', string]> = [['type', name.slice(dot + 1)], ['publisher', name.slice(0, dot)], ['version', version]];
  for (const [attr, want] of expected) {
    const got = si[attr];
    if (got === undefined) throw fail(`HandlerManifest.json does not contain attribute 'signingInfo.${attr}'`);
    if (got.toLowerCase() !== want.toLowerCase()) throw fail(`expected extension ${attr} '${want}' does not match downloaded package ${attr} '${got}'`);
  }
  log.info(`Successfully validated handler manifest 'signingInfo' for extension '${name}-${version}'`);
}

/** Records that this handler dir's package passed both checks. */
export function saveValidated(layout: HandlerLayout): void {
  writeFileAtomic(layout.packageValidatedPath, '', { mode: 0o600 });
}

/** True when the record exists (a regular file, not a link). */
export function isValidated(layout: HandlerLayout): boolean {
  try { return lstatSync(layout.packageValidatedPath).isFile(); } catch { return false; }
}
