// HostGAPlugin vmSettings JSON (docs/protocol.md §2.3, docs/extensions.md §6.3) -> ExtensionsGoalState.
// Keys are matched case-insensitively at every level (the plugin mixes cases); values (publicSettings
// contents) are left exactly as sent. Any violation invalidates the whole document (VmSettingsParseError).
import type { DependsOnExtension, ExtensionHandler, ExtensionSettings, ExtensionsGoalState, GAFamily, HandlerRequestedState, RequiredFeature } from './types.ts';
import { GUID_ZERO } from './types.ts';
import { DocumentError } from './errors.ts';
import { normTicks, ticksToIso } from './ticks.ts';
import { parseBlobType } from './extconfig.ts';
import { errorText } from '../util/errors.ts';

const DOC = 'vmSettings';

export class VmSettingsParseError extends DocumentError {
  static override readonly errorName: string = 'VmSettingsParseError';
  constructor(message: string, field?: string) {
    super(DOC, message, field);
  }
}

type Obj = Record<string, unknown>;

function isObj(v: unknown): v is Obj {
  return v !== null && typeof v === 'object' && !Array.isArray(v);
}

/** Case-insensitive property lookup. */
export function getCI(o: unknown, key: string): unknown {
  if (!isObj(o)) return undefined;
  if (key in o) return o[key];
  const k = key.toLowerCase();
  for (const [name, v] of Object.entries(o)) if (name.toLowerCase() === k) return v;
  return undefined;
}

function str(o: unknown, key: string, field: string, required = false): string {
  const v = getCI(o, key);
  if (v === undefined || v === null) {
    if (required) throw new VmSettingsParseError('missing required field', field);
    return '';
  }
  if (typeof v === 'string') return v;
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  throw new VmSettingsParseError(`expected a string`, field);
}

function bool(o: unknown, key: string): boolean {
  const v = getCI(o, key);
  return v === true || (typeof v === 'string' && v.trim().toLowerCase() === 'true');
}

function arr(o: unknown, key: string, field: string): unknown[] {
  const v = getCI(o, key);
  if (v === undefined || v === null) return [];
  if (!Array.isArray(v)) throw new VmSettingsParseError('expected an array', field);
  return v;
}

function int(o: unknown, key: string, field: string, dflt: number): number {
  const v = getCI(o, key);
  if (v === undefined || v === null || v === '') return dflt;
  const n = typeof v === 'number' ? v : typeof v === 'string' && /^\s*-?\d+\s*$/.test(v) ? Number(v) : NaN;
  if (!Number.isSafeInteger(n)) throw new VmSettingsParseError('expected an integer', field);
  return n;
}

/** '1.0.8.133' >= '1.0.8.133'. Non-numeric parts count as 0. */
export function versionAtLeast(v: string, min: string): boolean {
  const a = v.split('.').map((x) => Number.parseInt(x, 10) || 0);
  const b = min.split('.').map((x) => Number.parseInt(x, 10) || 0);
  for (let i = 0; i < Math.max(a.length, b.length); i++) {
    const x = a[i] ?? 0, y = b[i] ?? 0;
    if (x !== y) return x > y;
  }
  return true;
}

export interface ParsedVmSettings {
  goalState: ExtensionsGoalState;
  /** The document's extensionGoalStatesSource as sent ('UNKNOWN' when missing). */
  declaredSource: string;
}

export function parseVmSettings(text: string, etag: string): ParsedVmSettings {
  let j: unknown;
  try {
    // .NET ticks exceed 2^53: quote the raw digits before JSON.parse rounds them.
    const safe = text.replace(/^\uFEFF/, '').replace(/("extensionsLastModifiedTickCount"\s*:\s*)(\d{16,})/gi, '$1"$2"');
    j = JSON.parse(safe);
  } catch (e) {
    // Only the position: V8's message can quote the text around the error, which may be a protected setting.
    const pos = /position (\d+)/.exec(errorText(e));
    throw new VmSettingsParseError(`malformed JSON${pos ? ` at position ${pos[1]}` : ''}`);
  }
  if (!isObj(j)) throw new VmSettingsParseError('the document is not a JSON object');

  const hostGAPluginVersion = str(j, 'hostGAPluginVersion', 'hostGAPluginVersion');
  const declaredSource = str(j, 'extensionGoalStatesSource', 'extensionGoalStatesSource') || 'UNKNOWN';
  const ticks = normTicks(getCI(j, 'extensionsLastModifiedTickCount'));

  let statusUploadBlob: ExtensionsGoalState['statusUploadBlob'] = null;
  const sub = getCI(j, 'statusUploadBlob');
  if (sub !== undefined && sub !== null) {
    if (!isObj(sub)) throw new VmSettingsParseError('expected an object', 'statusUploadBlob');
    const url = str(sub, 'value', 'statusUploadBlob.value', true).trim();
    if (!url) throw new VmSettingsParseError('missing required field', 'statusUploadBlob.value');
    statusUploadBlob = { url, type: parseBlobType(getCI(sub, 'statusBlobType')) };
  }

  const requiredFeatures: RequiredFeature[] = arr(j, 'requiredFeatures', 'requiredFeatures').map((r, i) => {
    const f: RequiredFeature = { name: str(r, 'name', `requiredFeatures[${i}].name`, true) };
    const v = str(r, 'value', `requiredFeatures[${i}].value`);
    if (v) f.value = v;
    return f;
  });

  const gaFamilies: GAFamily[] = arr(j, 'gaFamilies', 'gaFamilies').map((f, i) => {
    const fam: GAFamily = {
      name: str(f, 'name', `gaFamilies[${i}].name`, true),
      isVersionFromRSM: bool(f, 'isVersionFromRSM'),
      isVMEnabledForRSMUpgrades: bool(f, 'isVMEnabledForRSMUpgrades'),
      uris: arr(f, 'uris', `gaFamilies[${i}].uris`).map((u, k) => {
        if (typeof u !== 'string') throw new VmSettingsParseError('expected a string', `gaFamilies[${i}].uris[${k}]`);
        return u.trim();
      }).filter(Boolean),
    };
    const v = str(f, 'version', `gaFamilies[${i}].version`);
    if (v) fam.version = v;
    const fv = str(f, 'fromVersion', `gaFamilies[${i}].fromVersion`);
    if (fv) fam.fromVersion = fv;
    return fam;
  });

  const handlers = arr(j, 'extensionGoalStates', 'extensionGoalStates').map((e, i) => parseExtension(e, i));
  const inSvd = getCI(j, 'inSvdSeqNo');
  const goalState: ExtensionsGoalState = {
    id: `etag_${etag}`,
    source: declaredSource === 'Fabric' ? 'Fabric' : 'FastTrack',
    channel: 'HostGAPlugin',
    incarnation: '',
    etag,
    inSvdSeqNo: inSvd === undefined || inSvd === null ? '' : String(inSvd),
    createdOnTicks: ticks,
    createdOn: ticksToIso(ticks),
    activityId: str(j, 'activityId', 'activityId') || GUID_ZERO,
    correlationId: str(j, 'correlationId', 'correlationId') || GUID_ZERO,
    statusUploadBlob,
    requiredFeatures,
    gaFamilies,
    handlers,
    onHold: bool(j, 'onHold'),
    artifactsProfileUrl: '',
    hostGAPluginVersion,
  };
  return { goalState, declaredSource };
}

function parseExtension(e: unknown, i: number): ExtensionHandler {
  const at = `extensionGoalStates[${i}]`;
  if (!isObj(e)) throw new VmSettingsParseError('expected an object', at);
  const name = str(e, 'name', `${at}.name`, true);
  const state = str(e, 'state', `${at}.state`, true).trim().toLowerCase();
  if (!['enabled', 'disabled', 'uninstall'].includes(state)) throw new VmSettingsParseError(`unknown state '${state}'`, `${at}.state`);
  const isMultiConfig = bool(e, 'isMultiConfig');
  const uris = [str(e, 'location', `${at}.location`), str(e, 'failoverLocation', `${at}.failoverLocation`),
    ...arr(e, 'additionalLocations', `${at}.additionalLocations`).map((u) => (typeof u === 'string' ? u : ''))]
    .map((u) => u.trim()).filter(Boolean);
  const h: ExtensionHandler = {
    name,
    version: str(e, 'version', `${at}.version`),
    state: state as HandlerRequestedState,
    manifestUris: uris,
    encodedSignature: str(e, 'encodedSignature', `${at}.encodedSignature`),
    isMultiConfig,
    settings: [],
    useExactVersion: bool(e, 'useExactVersion'),
    autoUpgrade: bool(e, 'autoUpgrade'),
  };
  const settings = arr(e, 'settings', `${at}.settings`);
  const deps = arr(e, 'dependsOn', `${at}.dependsOn`).map((d, k) => {
    if (!isObj(d)) throw new VmSettingsParseError('expected an object', `${at}.dependsOn[${k}]`);
    const on: DependsOnExtension[] = arr(d, 'dependsOnExtension', `${at}.dependsOn[${k}].dependsOnExtension`).map((x) => {
      const o: DependsOnExtension = { handler: str(x, 'handler', `${at}.dependsOn[${k}].handler`) };
      const ex = str(x, 'extension', `${at}.dependsOn[${k}].extension`);
      if (ex) o.extension = ex;
      return o;
    });
    let level = 0;
    try { level = int(d, 'dependencyLevel', `${at}.dependsOn[${k}].dependencyLevel`, 0); } catch { level = 0; }
    return { name: str(d, 'name', `${at}.dependsOn[${k}].name`), level, on };
  });
  if (!isMultiConfig) {
    if (settings.length > 1) throw new VmSettingsParseError('a single-config extension has more than one settings item', `${at}.settings`);
    if (deps.length > 1) throw new VmSettingsParseError('a single-config extension has more than one dependsOn item', `${at}.dependsOn`);
    if (settings.length === 1) {
      const s = settings[0];
      const seqRaw = getCI(e, 'settingsSeqNo') ?? getCI(s, 'seqNo');
      const seq = int({ v: seqRaw }, 'v', `${at}.settingsSeqNo`, 0);
      h.settings.push(settingsItem(s, `${at}.settings[0]`, name, seq, 'enabled', deps[0]?.level ?? 0, deps[0]?.on ?? []));
    }
    return h;
  }
  const byName = new Map(deps.map((d) => [d.name, d]));
  settings.forEach((s, k) => {
    const where = `${at}.settings[${k}]`;
    const ext = str(s, 'extensionName', `${where}.extensionName`, true);
    const st = (str(s, 'extensionState', `${where}.extensionState`) || 'enabled').toLowerCase();
    const d = byName.get(ext);
    h.settings.push(settingsItem(s, where, ext, int(s, 'seqNo', `${where}.seqNo`, 0), st === 'disabled' ? 'disabled' : 'enabled', d?.level ?? 0, d?.on ?? []));
  });
  return h;
}

function settingsItem(s: unknown, where: string, name: string, seq: number, state: 'enabled' | 'disabled', level: number, on: DependsOnExtension[]): ExtensionSettings {
  if (!isObj(s)) throw new VmSettingsParseError('expected an object', where);
  const item: ExtensionSettings = {
    name, sequenceNumber: seq, state, dependencyLevel: level, dependsOn: on,
    publicSettings: null, protectedSettings: null, protectedSettingsCertThumbprint: null,
  };
  const prot = str(s, 'protectedSettings', `${where}.protectedSettings`);
  const thumb = str(s, 'protectedSettingsCertThumbprint', `${where}.protectedSettingsCertThumbprint`).trim();
  if (prot) {
    if (!thumb) throw new VmSettingsParseError('protectedSettings without protectedSettingsCertThumbprint', `${where}.protectedSettingsCertThumbprint`);
    item.protectedSettings = prot;
  }
  if (thumb) item.protectedSettingsCertThumbprint = thumb.toUpperCase();
  const pub = getCI(s, 'publicSettings');
  if (typeof pub === 'string' && pub.trim()) {
    // A JSON *string* here (an object in ExtensionsConfig).
    let v: unknown;
    try { v = JSON.parse(pub); } catch { throw new VmSettingsParseError('publicSettings is not valid JSON', `${where}.publicSettings`); }
    if (!isObj(v)) throw new VmSettingsParseError('publicSettings is not a JSON object', `${where}.publicSettings`);
    item.publicSettings = v;
  } else if (isObj(pub)) {
    item.publicSettings = pub;
  } else if (pub !== undefined && pub !== null && pub !== '') {
    throw new VmSettingsParseError('publicSettings has the wrong type', `${where}.publicSettings`);
  }
  return item;
}

/** Log-safe copy of vmSettings text: SAS query of statusUploadBlob.value and protectedSettings values. */
export function redactVmSettings(text: string): string {
  return text
    .replace(/("value"\s*:\s*"[^"?]*\?)[^"]*(")/gi, '$1***REDACTED***$2')
    .replace(/("protectedSettings"\s*:\s*")[^"]*(")/gi, '$1***REDACTED***$2');
}
