// The extension policy document (WALinuxAgent 2.15 `ga/policy/policy_engine.py` semantics): an operator's
// allow-list and signature rules, read from Policy.PolicyFilePath when Debug.EnableExtensionPolicy=y.
// This module is pure: it parses an already-read document and answers "may this extension run?" and "must
// it be signed?". Reading the file is load.ts; what is reported for a blocked extension is messages.ts.
//
// Schema (policyVersion is required; everything else is optional):
//   { "policyVersion": "0.1.0",
//     "extensionPolicies": {
//       "allowListedExtensionsOnly": false,      (default false)
//       "signatureRequired": false,              (default false)
//       "extensions": { "<Publisher.Type>": { "signatureRequired": <bool>, "runtimePolicy": <any JSON> } } } }
// Unknown attributes and wrong types are errors; a JSON null counts as an absent attribute (as in 2.15).
// Extension names are matched case-insensitively (CRP ignores case). `runtimePolicy` is kept as given:
// 2.15 validates and keeps it but hands it to no extension, and neither do we.
import { compareVersions } from '../versions.ts';
import { AgentError } from '../../util/errors.ts';

/** Highest policyVersion this agent understands (2.15's _MAX_SUPPORTED_POLICY_VERSION). */
export const MAX_POLICY_VERSION = '0.1.0';

export interface ExtensionPolicy {
  signatureRequired?: boolean;
  runtimePolicy?: unknown;
}

export interface Policy {
  policyVersion: string;
  extensionPolicies: {
    allowListedExtensionsOnly: boolean;
    signatureRequired: boolean;
    /** Keyed by the lower-cased extension name. */
    extensions: Map<string, ExtensionPolicy>;
  };
}

/** An invalid (or unreadable) policy: every extension is blocked with this text. */
export class InvalidPolicyError extends AgentError {
  static override readonly errorName: string = 'InvalidPolicyError';
  constructor(policyPath: string, reason: string, inner?: string) {
    let msg = `[InvalidPolicyError] Customer-provided policy file ('${policyPath}') is invalid, please correct the following error: ${reason}`;
    if (inner !== undefined) msg += `\nInner error: ${inner}`;
    super(msg);
  }
}

/** Internal: a schema error before the file path is known. */
class SchemaError extends AgentError { static override readonly errorName: string = 'SchemaError'; }

type Json = null | boolean | number | string | Json[] | { [k: string]: Json };

/** The Python type names 2.15 puts in its messages ("invalid type str for attribute ..."). */
export function pyTypeName(v: unknown): string {
  if (v === null || v === undefined) return 'NoneType';
  if (typeof v === 'boolean') return 'bool';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float';
  if (typeof v === 'string') return 'str';
  if (Array.isArray(v)) return 'list';
  return 'dict';
}

function isDict(v: unknown): v is Record<string, Json> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function checkAttributes(o: Record<string, unknown>, objectName: string, valid: readonly string[]): void {
  for (const k of Object.keys(o)) {
    if (!valid.includes(k)) throw new SchemaError(`unrecognized attribute '${k}' in ${objectName}`);
  }
}

type Kind = { test: (v: unknown) => boolean; name: string };
const OBJECT: Kind = { test: isDict, name: 'object' };
const STRING: Kind = { test: (v) => typeof v === 'string', name: 'string' };
const BOOLEAN: Kind = { test: (v) => typeof v === 'boolean', name: 'boolean' };

/** o[attr] checked against `kind`; absent (or null) gives `undefined` when optional, an error otherwise. */
function getValue(o: Record<string, unknown>, attr: string, prefix: string, kind: Kind, optional: boolean): unknown {
  const v = Object.prototype.hasOwnProperty.call(o, attr) ? o[attr] : undefined;
  if (v === undefined || v === null) {
    if (!optional) throw new SchemaError(`missing required attribute '${prefix}${attr}'`);
    return undefined;
  }
  if (!kind.test(v)) throw new SchemaError(`invalid type ${pyTypeName(v)} for attribute '${prefix}${attr}'; must be '${kind.name}'`);
  return v;
}

function parseVersion(policy: Record<string, unknown>): string {
  const version = getValue(policy, 'policyVersion', '', STRING, false) as string;
  if (!/^[0-9]{1,9}(\.[0-9]{1,9}(\.[0-9]{1,9})?)?$/.test(version)) {
    throw new SchemaError(`invalid value for attribute 'policyVersion': '${version.slice(0, 100)}'; it should be in format 'major[.minor[.patch]]' (e.g., '1', '1.0', '1.0.0')`);
  }
  // compareVersions: numeric per component, missing parts as 0 ("0.1" == "0.1.0"), as 2.15's FlexibleVersion.
  if (compareVersions(MAX_POLICY_VERSION, version) < 0) {
    throw new SchemaError(`policy version '${version}' is not supported. The agent supports policy versions up to '${MAX_POLICY_VERSION}'.`);
  }
  return version;
}

function parseExtension(name: string, raw: Record<string, unknown>): ExtensionPolicy {
  // 2.15 names this object after its dict's repr (a slip); we name it after the extension.
  const at = `extensionPolicies.extensions.${name}`;
  checkAttributes(raw, at, ['signatureRequired', 'runtimePolicy']);
  const out: ExtensionPolicy = {};
  const sig = getValue(raw, 'signatureRequired', `${at}.`, BOOLEAN, true) as boolean | undefined;
  if (sig !== undefined) out.signatureRequired = sig;
  const rt = raw['runtimePolicy'];
  if (rt !== undefined && rt !== null) out.runtimePolicy = rt;
  return out;
}

/** Validates a parsed JSON document; throws InvalidPolicyError naming `policyPath`. */
export function parsePolicy(doc: unknown, policyPath: string): Policy {
  try {
    if (!isDict(doc)) throw new SchemaError(`expected an object describing a Policy; got ${pyTypeName(doc)}.`);
    checkAttributes(doc, 'policy', ['policyVersion', 'extensionPolicies']);
    const policyVersion = parseVersion(doc);
    const ep = (getValue(doc, 'extensionPolicies', '', OBJECT, true) ?? {}) as Record<string, unknown>;
    checkAttributes(ep, 'extensionPolicies', ['allowListedExtensionsOnly', 'signatureRequired', 'extensions']);
    const p = 'extensionPolicies.';
    const allowListedExtensionsOnly = (getValue(ep, 'allowListedExtensionsOnly', p, BOOLEAN, true) as boolean | undefined) ?? false;
    const signatureRequired = (getValue(ep, 'signatureRequired', p, BOOLEAN, true) as boolean | undefined) ?? false;
    const rawExts = (getValue(ep, 'extensions', p, OBJECT, true) ?? {}) as Record<string, unknown>;
    const extensions = new Map<string, ExtensionPolicy>();
    for (const [name, v] of Object.entries(rawExts)) {
      if (!isDict(v)) throw new SchemaError(`invalid type ${pyTypeName(v)} for attribute 'extensionPolicies.extensions.${name}'; must be 'object'`);
      extensions.set(name.toLowerCase(), parseExtension(name, v));
    }
    return { policyVersion, extensionPolicies: { allowListedExtensionsOnly, signatureRequired, extensions } };
  } catch (e) {
    if (e instanceof SchemaError) throw new InvalidPolicyError(policyPath, e.message);
    throw e;
  }
}

/**
 * The decisions of 2.15's ExtensionPolicyEngine. `policy` null = enforcement off (flag off or no policy
 * file): everything is allowed and no signature is required.
 */
export class ExtensionPolicyEngine {
  readonly policy: Policy | null;
  constructor(policy: Policy | null) { this.policy = policy; }

  get enforcementEnabled(): boolean { return this.policy !== null; }

  /** allowListedExtensionsOnly=false allows everything; true allows only names listed (any case). */
  shouldAllowExtension(name: string): boolean {
    if (!this.policy) return true;
    const ep = this.policy.extensionPolicies;
    return !ep.allowListedExtensionsOnly || ep.extensions.has(name.toLowerCase());
  }

  /** The extension's own signatureRequired wins over the global one. */
  shouldEnforceSignatureValidation(name: string): boolean {
    if (!this.policy) return false;
    const ep = this.policy.extensionPolicies;
    return ep.extensions.get(name.toLowerCase())?.signatureRequired ?? ep.signatureRequired;
  }

  /** The extension's runtimePolicy as written (undefined when none). */
  runtimePolicy(name: string): unknown {
    return this.policy?.extensionPolicies.extensions.get(name.toLowerCase())?.runtimePolicy;
  }
}
