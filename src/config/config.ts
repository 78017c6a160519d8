// Loading waagent.conf into a typed, immutable Config. Values are checked once, at load time,
// against the key table: a malformed value gives one warning naming file, line and key, and the
// default applies (like waagent, which silently falls back). Unknown keys are kept (raw()) and
// warned about once each.
//
// Deliberate differences from the Python agent (documented in -help/README):
//   * a missing configuration file is an error the caller turns into a non-zero exit (Python logs
//     and exits 0, so a systemd unit loops forever on a broken image);
//   * a UTF-8 byte-order mark at the start is ignored (Python would read "\ufeffKey" as a key);
//   * invalid UTF-8 is decoded with replacement characters and warned about, not fatal;
//   * files over 1 MiB are refused (bounded input).
import { readFileSync, statSync } from 'node:fs';
import { KEYS, OBSOLETE_KEYS, isConfigKey, sortedKeys } from './keys.ts';
import type { ConfigKey, IntKey, IntValue, KeyDef, StringKey, StringValue, SwitchKey } from './keys.ts';
import { parseConfText, parsePythonInt, parseSwitch } from './parse.ts';
import type { RawEntry } from './parse.ts';
import { AgentError, errorText } from '../util/errors.ts';

export const DEFAULT_CONFIG_PATH = '/etc/waagent.conf';
export const MAX_CONFIG_BYTES = 1 << 20;

export class ConfigError extends AgentError {
  static override readonly errorName: string = 'ConfigError';
  readonly path: string;
  constructor(path: string, message: string) {
    super(message);
    this.path = path;
  }
}

export interface LoadOptions {
  /** Called once per problem; defaults to nothing (callers usually pass log.warn). */
  onWarning?(msg: string): void;
  /** A missing file is an error (default true). With false, a missing file gives the defaults. */
  required?: boolean;
}

type Value = boolean | string | number | undefined;

export class Config {
  /** The file the values came from, or undefined for built-in defaults. */
  readonly source: string | undefined;
  private readonly values: Map<ConfigKey, Value>;
  private readonly raws: Map<string, RawEntry>;

  constructor(source: string | undefined, values: Map<ConfigKey, Value>, raws: Map<string, RawEntry>) {
    this.source = source;
    this.values = values;
    this.raws = raws;
  }

  bool(key: SwitchKey): boolean {
    return this.typed(key, 'switch') as boolean;
  }

  str<K extends StringKey>(key: K): StringValue<K> {
    return this.typed(key, 'string') as StringValue<K>;
  }

  int<K extends IntKey>(key: K): IntValue<K> {
    return this.typed(key, 'int') as IntValue<K>;
  }

  /** The compiler already rejects these mistakes; this guards callers that bypass the types. */
  private typed(key: ConfigKey, type: KeyDef['type']): Value {
    if (!isConfigKey(key)) throw new Error(`unknown configuration key ${String(key)}`);
    if (KEYS[key].type !== type) throw new Error(`configuration key ${key} has type ${KEYS[key].type}, not ${type}`);
    return this.resolve(key);
  }

  /** True when the file set the key to a valid value (not defaulted). */
  isSet(key: ConfigKey): boolean {
    return this.values.get(key) !== undefined;
  }

  /** True when the file set the key to a valid value that differs from what applies without it. */
  isNonDefault(key: ConfigKey): boolean {
    const v = this.values.get(key);
    if (v === undefined) return false;
    const def: KeyDef = KEYS[key];
    const d = def.defaultFrom && isConfigKey(def.defaultFrom) ? this.resolve(def.defaultFrom) : def.default ?? undefined;
    return v !== d;
  }

  /** The raw text of any key as written in the file, known or not (None -> undefined). */
  raw(key: string): string | undefined {
    return this.raws.get(key)?.value ?? undefined;
  }

  /** Keys in the file that the agent does not know (kept for tools that read them). */
  unknownKeys(): string[] {
    return [...this.raws.keys()].filter((k) => !isConfigKey(k)).sort();
  }

  /** Every known key, sorted, with the value as -show-configuration prints it. */
  entries(): [ConfigKey, string][] {
    return sortedKeys().map((k) => [k, display(this.resolve(k))]);
  }

  private resolve(key: ConfigKey): Value {
    const v = this.values.get(key);
    if (v !== undefined) return v;
    const def: KeyDef = KEYS[key];
    if (def.defaultFrom && isConfigKey(def.defaultFrom)) return this.resolve(def.defaultFrom);
    return def.default ?? undefined;
  }
}

/** Python's rendering: True/False, None for absent, decimal integers, strings as they are. */
function display(v: Value): string {
  if (v === undefined) return 'None';
  if (typeof v === 'boolean') return v ? 'True' : 'False';
  return String(v);
}

export function defaultConfig(): Config {
  return new Config(undefined, new Map(), new Map());
}

/** Builds a Config from text (the file name is only used in warnings). */
export function configFromText(text: string, source: string, onWarning: (msg: string) => void = () => {}): Config {
  const { entries, oddLines } = parseConfText(text.startsWith('\ufeff') ? text.slice(1) : text);
  for (const o of oddLines) onWarning(`${source}:${o.line}: ignored ${o.reason}`);
  const values = new Map<ConfigKey, Value>();
  for (const [key, raw] of entries) {
    const where = `${source}:${raw.line}`;
    if (!isConfigKey(key)) {
      // One warning per key however many times it appears: entries is already de-duplicated.
      const hint = Object.hasOwn(OBSOLETE_KEYS, key) ? OBSOLETE_KEYS[key] : undefined;
      if (hint === '') continue;
      if (hint !== undefined) { onWarning(`${where}: ${key} is obsolete and ignored: ${hint}`); continue; }
      const near = Object.keys(KEYS).find((k) => k.toLowerCase() === key.toLowerCase());
      onWarning(`${where}: unknown key ${key} is ignored${near ? ` (keys are case-sensitive: did you mean ${near}?)` : ''}`);
      continue;
    }
    if (raw.value === null) continue; // None: the default applies
    const def: KeyDef = KEYS[key];
    const v = raw.value;
    if (def.type === 'string') { values.set(key, v); continue; } // "" stays "" (waagent does the same)
    if (v === '') continue; // switches and integers: empty means the default, silently (like waagent)
    const parsed = def.type === 'switch' ? parseSwitch(v) : parsePythonInt(v);
    if (parsed === undefined) {
      const want = def.type === 'switch' ? 'y or n' : 'an integer';
      onWarning(`${where}: invalid value for ${key} (expected ${want}, got ${JSON.stringify(v.slice(0, 40))}); using the default ${display(def.default ?? undefined)}`);
      continue;
    }
    values.set(key, parsed);
  }
  return new Config(source, values, entries);
}

export function loadConfig(path: string, opts: LoadOptions = {}): Config {
  const warn = opts.onWarning ?? (() => {});
  const required = opts.required ?? true;
  let size: number;
  try {
    const st = statSync(path);
    if (!st.isFile()) throw new ConfigError(path, `configuration ${path} is not a regular file`);
    size = st.size;
  } catch (e) {
    if (e instanceof ConfigError) throw e;
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
      if (!required) return defaultConfig();
      throw new ConfigError(path, `configuration file ${path} does not exist`);
    }
    throw new ConfigError(path, `cannot read configuration ${path}: ${errorText(e)}`);
  }
  if (size > MAX_CONFIG_BYTES) throw new ConfigError(path, `configuration ${path} is ${size} bytes, over the ${MAX_CONFIG_BYTES}-byte limit`);
  let buf: Buffer;
  try {
    buf = readFileSync(path);
  } catch (e) {
    throw new ConfigError(path, `cannot read configuration ${path}: ${errorText(e)}`);
  }
  if (buf.length > MAX_CONFIG_BYTES) throw new ConfigError(path, `configuration ${path} is over the ${MAX_CONFIG_BYTES}-byte limit`);
  // waagent refuses an empty file ("Can't not parse empty configuration"): it usually means a
  // truncated image build, and all-defaults would silently skip provisioning choices.
  if (buf.length === 0) throw new ConfigError(path, `configuration file ${path} is empty`);
  let text: string;
  try {
    text = new TextDecoder('utf-8', { fatal: true }).decode(buf);
  } catch {
    warn(`${path}: not valid UTF-8; undecodable bytes are replaced`);
    text = new TextDecoder('utf-8').decode(buf);
  }
  return configFromText(text, path, warn);
}
