// What a handler blocked by policy reports: 2.15's texts and CRP terminal codes (exthandlers.py
// _EXT_DISALLOWED_ERROR_MAP). Enable is reported as "run" with 1009; uninstall and the internal disable as
// "uninstall" with 1010 (CRP has no terminal code for uninstall).
import { ErrorCodes } from '../errors.ts';
import type { ExtensionHandler } from '../../platform/types.ts';
import { AgentError } from '../../util/errors.ts';

/** An extension that policy does not let run: reported NotReady with `code`, no command runs. */
export class PolicyBlockedError extends AgentError {
  static override readonly errorName: string = 'PolicyBlockedError';
  readonly code: number;
  /** The telemetry operation 2.15 reports it under (ExtensionPolicy, ExtensionSignaturePolicy, PackageSignatureResult...). */
  readonly operation: string;
  constructor(message: string, code: number, operation: string) {
    super(message);
    this.code = code;
    this.operation = operation;
  }
}

export function disallowedOperation(state: ExtensionHandler['state']): { verb: string; code: number } {
  return state === 'enabled'
    ? { verb: 'run', code: ErrorCodes.PluginEnableProcessingFailed }
    : { verb: 'uninstall', code: ErrorCodes.PluginDisableProcessingFailed };
}

/** allowListedExtensionsOnly=true and the extension is not listed. */
export function notAllowListed(h: ExtensionHandler, policyPath: string): PolicyBlockedError {
  const { verb, code } = disallowedOperation(h.state);
  return new PolicyBlockedError(
    `Extension will not be processed: failed to ${verb} extension '${h.name}' because it is not specified as an allowed extension. `
    + `To ${verb}, add the extension to the list of allowed extensions in the policy file ('${policyPath}').`, code, 'ExtensionPolicy');
}

/** The policy file exists but cannot be used: every extension gets this. */
export function invalidPolicy(h: ExtensionHandler, reason: string): PolicyBlockedError {
  return new PolicyBlockedError(`Extension will not be processed: ${reason}`, disallowedOperation(h.state).code, 'ExtensionPolicy');
}

/**
 * signatureRequired and no signature (a new package without encodedSignature, or an installed one never
 * validated). 2.15 computes but does not yet enforce signatureRequired; this text and code are those of
 * its successor (WALinuxAgent develop, ExtensionSignaturePolicyError), which does.
 */
export function signatureMissing(h: ExtensionHandler, policyPath: string): PolicyBlockedError {
  const { verb, code } = disallowedOperation(h.state);
  return new PolicyBlockedError(
    `Extension will not be processed: failed to ${verb} extension '${h.name}' because policy specifies that extension must be signed, `
    + `but extension package signature could not be found. To ${verb}, set 'signatureRequired' to false in the policy file ('${policyPath}').`,
    code, 'ExtensionSignaturePolicy');
}
