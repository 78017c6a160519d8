// ExtensionsConfig (docs/protocol.md §1.7, docs/extensions.md §6.3) -> ExtensionsGoalState. A configuration error
// in one handler marks only that handler invalid (invalidReason); a malformed document is a DocumentError.
import type { BlobType, DependsOnExtension, ExtensionHandler, ExtensionSettings, ExtensionsGoalState, GAFamily, HandlerRequestedState, RequiredFeature } from './types.ts';
import { GUID_ZERO } from './types.ts';
import { DocumentError } from './errors.ts';
import { all, expectRoot, first, firstText, isTrue, parseDoc, type XmlElement } from './xmldoc.ts';
import { normTicks, ticksToIso } from './ticks.ts';

const DOC = 'ExtensionsConfig';

export function parseBlobType(v: unknown): BlobType {
  // Missing or invalid => BlockBlob (Python agent). Case-insensitive on purpose: hosts vary.
  return typeof v === 'string' && v.trim().toLowerCase() === 'pageblob' ? 'PageBlob' : 'BlockBlob';
}

export function parseExtensionsConfig(text: string, incarnation: string): ExtensionsGoalState {
  const root = parseDoc(text, DOC, 4 << 20);
  expectRoot(root, DOC, 'Extensions');

  const gaFamilies: GAFamily[] = all(first(root, 'GAFamilies'), 'GAFamily').map((f) => {
    const fam: GAFamily = {
      name: firstText(f, 'Name') ?? '',
      isVersionFromRSM: isTrue(firstText(f, 'IsVersionFromRSM')),
      isVMEnabledForRSMUpgrades: isTrue(firstText(f, 'IsVMEnabledForRSMUpgrades')),
      uris: all(first(f, 'Uris'), 'Uri').map((u) => u.text.trim()).filter(Boolean),
    };
    const v = firstText(f, 'Version');
    if (v) fam.version = v;
    const fv = firstText(f, 'FromVersion');
    if (fv) fam.fromVersion = fv;
    return fam;
  });

  const requiredFeatures: RequiredFeature[] = all(first(root, 'RequiredFeatures'), 'RequiredFeature').map((r) => {
    const f: RequiredFeature = { name: firstText(r, 'Name') ?? '' };
    const v = firstText(r, 'Value');
    if (v) f.value = v;
    return f;
  });

  const sub = first(root, 'StatusUploadBlob');
  const subUrl = sub?.text.trim() ?? '';
  const statusUploadBlob = subUrl ? { url: subUrl, type: parseBlobType(sub!.attrs.statusBlobType) } : null;

  const meta = first(root, 'InVMGoalStateMetaData');
  const ticks = normTicks(meta?.attrs.createdOnTicks);
  const plugins = (root.children.find((c) => c.local === 'Plugins')?.children ?? []).filter((c) => c.local === 'Plugin');
  const settingsNodes = (root.children.find((c) => c.local === 'PluginSettings')?.children ?? []).filter((c) => c.local === 'Plugin');

  const handlers = plugins.map((p, i) => parseHandler(p, i, settingsNodes));

  return {
    id: `incarnation_${incarnation}`,
    source: 'Fabric',
    channel: 'WireServer',
    incarnation,
    etag: '',
    inSvdSeqNo: incarnation,
    createdOnTicks: ticks,
    createdOn: ticksToIso(ticks),
    activityId: meta?.attrs.activityId?.trim() || GUID_ZERO,
    correlationId: meta?.attrs.correlationId?.trim() || GUID_ZERO,
    statusUploadBlob,
    requiredFeatures,
    gaFamilies,
    handlers,
    onHold: false,
    artifactsProfileUrl: firstText(root, 'InVMArtifactsProfileBlob') ?? '',
    hostGAPluginVersion: '',
  };
}

function parseHandler(p: XmlElement, index: number, settingsNodes: XmlElement[]): ExtensionHandler {
  const name = (p.attrs.name ?? '').trim();
  if (!name) throw new DocumentError(DOC, `Plugin #${index + 1} has no name`, 'Plugins/Plugin@name');
  const version = (p.attrs.version ?? '').trim();
  const rawState = (p.attrs.state ?? '').trim();
  const state = rawState.toLowerCase();
  const manifestUris = [p.attrs.location, p.attrs.failoverlocation, ...all(first(p, 'additionalLocations'), 'additionalLocation').map((a) => a.text)]
    .map((u) => (u ?? '').trim()).filter(Boolean);
  const h: ExtensionHandler = {
    name,
    version,
    state: (['enabled', 'disabled', 'uninstall'].includes(state) ? state : 'enabled') as HandlerRequestedState,
    manifestUris,
    encodedSignature: (p.attrs.encodedSignature ?? '').trim(),
    isMultiConfig: false,
    settings: [],
    useExactVersion: isTrue(p.attrs.useExactVersion),
    autoUpgrade: isTrue(p.attrs.autoUpgrade),
  };
  if (!rawState) return invalid(h, `Plugin ${name}: empty state`);
  if (!['enabled', 'disabled', 'uninstall'].includes(state)) return invalid(h, `Plugin ${name}: unknown state '${rawState}'`);

  const sameName = settingsNodes.filter((s) => (s.attrs.name ?? '').trim().toLowerCase() === name.toLowerCase());
  if (sameName.length === 0) return h;
  const matching = sameName.filter((s) => (s.attrs.version ?? '').trim() === version);
  if (matching.length === 0) {
    const versions = sameName.map((s) => s.attrs.version ?? '').join(', ');
    return invalid(h, `PluginSettings Version Mismatch: Plugin ${name} version ${version}, settings for version(s) ${versions}`);
  }
  if (matching.length > 1) return invalid(h, `Plugin ${name} ${version}: more than one PluginSettings entry`);
  const s = matching[0]!;
  const rs = s.children.filter((c) => c.local === 'RuntimeSettings');
  const ers = s.children.filter((c) => c.local === 'ExtensionRuntimeSettings');
  const deps = s.children.filter((c) => c.local === 'DependsOn');
  if (rs.length && ers.length) return invalid(h, `Plugin ${name}: both RuntimeSettings and ExtensionRuntimeSettings`);
  if (rs.length > 1) return invalid(h, `Plugin ${name}: more than one RuntimeSettings`);

  if (ers.length) {
    h.isMultiConfig = true;
    const levels = new Map<string, { level: number; on: DependsOnExtension[] }>();
    for (const d of deps) {
      const n = (d.attrs.name ?? '').trim();
      if (!n) return invalid(h, `Plugin ${name}: a multi-config DependsOn has no name`);
      levels.set(n, { level: parseLevel(d.attrs.dependencyLevel), on: dependsOnList(d) });
    }
    for (const e of ers) {
      const extName = (e.attrs.name ?? '').trim();
      if (!extName) return invalid(h, `Plugin ${name}: an ExtensionRuntimeSettings has no name`);
      const seq = parseSeq(e.attrs.seqNo);
      if (seq === null) return invalid(h, `Plugin ${name}.${extName}: missing or invalid seqNo`);
      const st = (e.attrs.state ?? 'enabled').trim().toLowerCase();
      const dep = levels.get(extName);
      h.settings.push(settingsItem(extName, seq, st === 'disabled' ? 'disabled' : 'enabled', dep?.level ?? 0, dep?.on ?? [], e.text));
    }
    return h;
  }
  if (deps.length > 1) return invalid(h, `Plugin ${name}: more than one DependsOn for a single-config handler`);
  if (rs.length === 1) {
    const seq = parseSeq(rs[0]!.attrs.seqNo);
    if (seq === null) return invalid(h, `Plugin ${name}: missing or invalid seqNo`);
    const d = deps[0];
    h.settings.push(settingsItem(name, seq, 'enabled', d ? parseLevel(d.attrs.dependencyLevel) : 0, d ? dependsOnList(d) : [], rs[0]!.text));
  }
  return h;
}

function invalid(h: ExtensionHandler, reason: string): ExtensionHandler {
  h.invalidReason = reason;
  return h;
}

function parseSeq(v: string | undefined): number | null {
  const t = (v ?? '').trim();
  return /^\d{1,9}$/.test(t) ? Number(t) : null;
}

function parseLevel(v: string | undefined): number {
  const t = (v ?? '').trim();
  return /^-?\d{1,6}$/.test(t) ? Number(t) : 0;
}

function dependsOnList(d: XmlElement): DependsOnExtension[] {
  return d.children.filter((c) => c.local === 'DependsOnExtension').map((c) => {
    const x: DependsOnExtension = { handler: (c.attrs.handler ?? '').trim() };
    if (c.attrs.extension) x.extension = c.attrs.extension.trim();
    return x;
  });
}

/** RuntimeSettings text: {"runtimeSettings":[{"handlerSettings":{...}}]}; bad JSON keeps the item with null settings. */
function settingsItem(name: string, seq: number, state: 'enabled' | 'disabled', level: number, dependsOn: DependsOnExtension[], text: string): ExtensionSettings {
  const item: ExtensionSettings = {
    name, sequenceNumber: seq, state, dependencyLevel: level, dependsOn,
    publicSettings: null, protectedSettings: null, protectedSettingsCertThumbprint: null,
  };
  const t = text.trim();
  if (!t) return item;
  try {
    const j = JSON.parse(t) as unknown;
    const hs = (j as { runtimeSettings?: Array<{ handlerSettings?: unknown }> })?.runtimeSettings?.[0]?.handlerSettings;
    if (hs === undefined || hs === null || typeof hs !== 'object' || Array.isArray(hs)) {
      item.settingsError = `settings of ${name} (seqNo ${seq}) have no runtimeSettings[0].handlerSettings object`;
      return item;
    }
    const o = hs as Record<string, unknown>;
    const pub = o.publicSettings;
    if (pub !== undefined && pub !== null) {
      if (typeof pub === 'object' && !Array.isArray(pub)) item.publicSettings = pub as Record<string, unknown>;
      else if (typeof pub === 'string') item.publicSettings = parseObjectString(pub, name, seq, item);
      else item.settingsError = `publicSettings of ${name} (seqNo ${seq}) is not an object`;
    }
    if (typeof o.protectedSettings === 'string' && o.protectedSettings) item.protectedSettings = o.protectedSettings;
    if (typeof o.protectedSettingsCertThumbprint === 'string' && o.protectedSettingsCertThumbprint) {
      item.protectedSettingsCertThumbprint = o.protectedSettingsCertThumbprint.trim().toUpperCase();
    }
  } catch {
    // Never echo the text: it may hold protected settings.
    item.settingsError = `settings of ${name} (seqNo ${seq}) are not valid JSON`;
  }
  return item;
}

function parseObjectString(s: string, name: string, seq: number, item: ExtensionSettings): Record<string, unknown> | null {
  try {
    const v = JSON.parse(s) as unknown;
    if (v && typeof v === 'object' && !Array.isArray(v)) return v as Record<string, unknown>;
  } catch { /* fall through */ }
  item.settingsError = `publicSettings of ${name} (seqNo ${seq}) is not a JSON object`;
  return null;
}

/** InVMArtifactsProfileBlob JSON: onHold as bool or "true"/"false"; anything else => not on hold. */
export function parseArtifactsProfile(text: string): { onHold: boolean } {
  try {
    const j = JSON.parse(text.replace(/^\uFEFF/, '')) as { onHold?: unknown } | null;
    const v = j && typeof j === 'object' ? j.onHold : undefined;
    return { onHold: v === true || (typeof v === 'string' && v.trim().toLowerCase() === 'true') };
  } catch {
    return { onHold: false };
  }
}

/** Log-safe copy: SAS query strings and protectedSettings values replaced (§1.7 "Redaction"). */
export function redactExtensionsConfig(text: string): string {
  return text
    .replace(/(<(StatusUploadBlob|InVMArtifactsProfileBlob)\b[^>]*>\s*[^<?\s]*\?)[^<]*/g, '$1***REDACTED***')
    .replace(/("protectedSettings"\s*:\s*")[^"]*(")/g, '$1***REDACTED***$2');
}
