// The executor's one door to policy and signatures: per goal state it loads the policy (and saves it to
// the goal-state history); per handler it says whether the handler may be processed at all, whether a
// signature is required, and it wraps package extraction with signature and signingInfo checks. With
// neither feature configured every method is a no-op, so nothing changes when both are off.
import { rmSync } from 'node:fs';
import type { ExtensionHandler } from '../../platform/types.ts';
import { log } from '../../util/logger.ts';
import { ErrorCodes, errorMessage } from '../errors.ts';
import type { HandlerLayout } from '../layout.ts';
import { itemExtName, itemFullName, type PlanItem } from '../plan.ts';
import { writeHandlerStatus, writePlaceholderStatus, type HandlerStatus } from '../state.ts';
import type { HandlerManifest } from '../manifest.ts';
import {
  isValidated, opensslTooOld, PackageValidationError, saveValidated, SignatureValidationError, SignatureValidator, validateSigningInfo, type SignatureOptions,
} from '../signature.ts';
import { ExtensionPolicyEngine } from './engine.ts';
import { loadPolicy, type LoadedPolicy, type PolicySettings } from './load.ts';
import { invalidPolicy, notAllowListed, PolicyBlockedError, signatureMissing } from './messages.ts';
import { errorText } from '../../util/errors.ts';

export interface GateOptions {
  /** Debug.EnableExtensionPolicy and Policy.PolicyFilePath; `saveToHistory` gets the file's text. */
  policy?: PolicySettings & { saveToHistory?: (text: string) => void };
  /** Debug.EnableSignatureValidation (also used when the policy requires signatures). */
  signature?: SignatureOptions;
  /** Telemetry (2.15 sends these as events): operation, success, message. */
  onEvent?: (operation: string, success: boolean, message: string) => void;
}

/** A blocked handler; `fatal` (invalid policy) means it also does not count as a failed dependency. */
export interface Refusal { error: PolicyBlockedError; fatal: boolean }

const OFF: LoadedPolicy = { engine: new ExtensionPolicyEngine(null), error: null, text: null };

export class ExtensionGate {
  private readonly o: GateOptions;
  private loaded: LoadedPolicy = OFF;
  private readonly validator: SignatureValidator | null;
  /** Handlers blocked in the current goal state: their extension status is reported though not installed. */
  readonly blocked = new Set<string>();

  constructor(o: GateOptions = {}) {
    this.o = o;
    this.validator = o.signature ? new SignatureValidator(o.signature) : null;
  }

  /** At the start of each extensions goal state. Never throws. */
  begin(): void {
    this.blocked.clear();
    if (!this.o.policy) return;
    this.loaded = loadPolicy(this.o.policy);
    if (this.loaded.engine.enforcementEnabled) this.event('Policy', true, `Enforcing policy using policy file found at '${this.o.policy.displayPath}'.`);
    if (this.loaded.text !== null) {
      try {
        this.o.policy.saveToHistory?.(this.loaded.text);
      } catch (e) {
        log.warn(`Failed to save policy to history, continuing with goal state processing. Error: ${errorText(e)}`);
      }
    }
  }

  get engine(): ExtensionPolicyEngine { return this.loaded.engine; }

  private event(operation: string, success: boolean, message: string): void {
    try { this.o.onEvent?.(operation, success, message); } catch { /* telemetry never stops processing */ }
  }

  /** A check failed but the policy does not require signatures: logged and reported, the package is used. */
  private ignored(e: PackageValidationError): void {
    const msg = `${e.message}\nThis failure can be safely ignored; will continue processing the package.`;
    log.warn(msg);
    this.event(e.operation, false, `[WARNING] ${msg}`);
  }

  /** Null when the handler may be processed. */
  admit(h: ExtensionHandler): Refusal | null {
    if (this.loaded.error) return { error: invalidPolicy(h, this.loaded.error.message), fatal: true };
    if (!this.loaded.engine.shouldAllowExtension(h.name)) return { error: notAllowListed(h, this.o.policy!.displayPath), fatal: false };
    return null;
  }

  /**
   * signatureRequired: a package about to be installed must come with a signature; an installed one must
   * have been validated when it was installed. Throws PolicyBlockedError.
   */
  requireSignature(h: ExtensionHandler, layout: HandlerLayout, newPackage: boolean): void {
    if (!this.loaded.engine.shouldEnforceSignatureValidation(h.name)) return;
    const signed = newPackage ? h.encodedSignature !== '' : isValidated(layout);
    if (!signed) throw signatureMissing(h, this.o.policy!.displayPath);
  }

  /**
   * Signature check of layout.zipPath, then `extract`, then the signingInfo check and the record. A failure
   * blocks the handler when its policy requires signatures; otherwise it is logged (as 2.15 does) and the
   * package is used.
   */
  async extract(h: ExtensionHandler, layout: HandlerLayout, extract: () => Promise<HandlerManifest> | HandlerManifest): Promise<HandlerManifest> {
    const enforce = this.loaded.engine.shouldEnforceSignatureValidation(h.name);
    const enabled = this.o.signature?.enabled === true;
    if (enforce && !this.validator) {
      throw new PolicyBlockedError(`[SignatureValidationError] Signature validation failed for package '${layout.fullName}'. Error: signature validation is not available`, 1007, 'SignatureValidation');
    }
    if (!this.validator || h.encodedSignature === '' || !(enabled || enforce)) {
      if (enabled && h.encodedSignature === '') log.info(`No signature for extension '${layout.fullName}' in goal state, skipping signature validation.`);
      return await extract();
    }
    const refuse = (e: PackageValidationError): PolicyBlockedError => new PolicyBlockedError(e.message, e.code, e.operation);
    if (!(await this.validator.opensslSupported())) {
      if (!enforce) return await extract();
      rmSync(layout.zipPath, { force: true });
      throw refuse(new SignatureValidationError(
        `Signature validation failed for package '${layout.fullName}'. Error: ${opensslTooOld(await this.validator.opensslVersion())}`, 'SignatureValidation'));
    }
    let verified = false;
    try {
      await this.validator.verifyPackage(layout.zipPath, h.encodedSignature, layout.fullName);
      verified = true;
      this.event('PackageSignatureResult', true, `Successfully validated signature for package '${layout.fullName}'`);
    } catch (e) {
      if (!(e instanceof PackageValidationError)) throw e;
      if (enforce) {
        log.error(e.message);
        log.info(`Removing package ${layout.zipPath} due to failed signature validation.`);
        rmSync(layout.zipPath, { force: true });
        throw refuse(e);
      }
      this.ignored(e);
    }
    const manifest = await extract();
    try {
      validateSigningInfo(manifest, h.name, layout.version);
      this.event('PackageSigningInfoResult', true, `Successfully validated handler manifest 'signingInfo' for extension '${layout.fullName}'`);
      if (verified) saveValidated(layout);
    } catch (e) {
      if (!(e instanceof PackageValidationError)) throw e;
      if (enforce) throw refuse(e);
      this.ignored(e);
    }
    return manifest;
  }

  /** Reports a blocked item: handler NotReady with the reason and code, and (enable) its extension status. */
  record(item: PlanItem, e: PolicyBlockedError, layout: HandlerLayout | undefined): void {
    log.warn(`[${itemFullName(item)}] ${e.message}`);
    this.event(e.operation, false, `[${itemFullName(item)}] ${e.message}`);
    this.blocked.add(item.handler.name);
    if (!layout) return;
    try {
      writeHandlerStatus(layout, { status: 'NotReady', code: e.code, message: e.message, supports_multi_config: item.handler.isMultiConfig });
      if (item.handler.state === 'enabled' && item.settings) {
        // The operation under way: none before any step, Download for a package that failed its checks.
        const operation = e.code === ErrorCodes.PluginInstallProcessingFailed ? 'Download' : null;
        writePlaceholderStatus(layout, item.settings.sequenceNumber, { ext: itemExtName(item), operation, code: e.code, message: e.message, overwrite: true });
      }
    } catch (err) {
      log.warn(`recording that ${itemFullName(item)} is blocked: ${errorMessage(err)}`);
    }
  }
}

/**
 * The report of a blocked handler that still has a heartbeat (it was enabled before the policy changed):
 * the policy's status and code stay, the heartbeat's message is appended, as 2.15 reports it.
 */
export function withHeartbeat(blocked: HandlerStatus, heartbeat: HandlerStatus): HandlerStatus {
  if (!heartbeat.message || heartbeat.message === blocked.message) return blocked;
  const message = blocked.message
    ? `${blocked.message} Extension was previously enabled and reported the following heartbeat:\n${heartbeat.message}`
    : `Extension was not executed, but it was previously enabled and reported the following heartbeat:\n${heartbeat.message}`;
  return { ...blocked, message };
}
