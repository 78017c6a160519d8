// The one error style (src/util/errors.ts): every error class is an AgentError that states its own
// name once, the name survives minification (it is a string, not the class identifier), and the
// names that reach handler statuses keep the Python agent's spelling.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { AgentError, errorText } from '../../src/util/errors.ts';
import {
  ErrorCodes, ExtensionDownloadError, ExtensionError, ExtensionOperationError, ExtensionsGoalStateError,
  ExtensionStatusError, ExtensionUpdateError, MultiConfigEnableError, errorMessage,
} from '../../src/extensions/errors.ts';
import { ManifestValidationError, PackageValidationError, SignatureValidationError } from '../../src/extensions/signature.ts';
import { ConfigError } from '../../src/config/config.ts';
import { ExecError } from '../../src/util/exec.ts';

const SRC = join(import.meta.dirname, '../../src');

function sourceFiles(dir: string): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? sourceFiles(join(dir, e.name)) : e.name.endsWith('.ts') ? [join(dir, e.name)] : []);
}

test('every error class in src/ extends AgentError (directly or not) and states its own name', () => {
  const classes = new Map<string, { parent: string; body: string; file: string }>();
  for (const file of sourceFiles(SRC)) {
    const text = readFileSync(file, 'utf8');
    for (const m of text.matchAll(/class (\w+) extends (\w+) \{/g)) {
      // The class body up to its first closing brace at column 0 (or the same line for one-liners).
      const start = m.index + m[0].length;
      const oneLine = text.indexOf('\n', start);
      const end = text.slice(start, oneLine).includes('}') ? oneLine : text.indexOf('\n}', start);
      classes.set(m[1]!, { parent: m[2]!, body: text.slice(start, end), file });
    }
  }
  assert.ok(!classes.has('AgentError') || classes.get('AgentError')!.parent === 'Error');
  const isError = (name: string): boolean => name === 'AgentError' || (classes.has(name) && isError(classes.get(name)!.parent));
  let count = 0;
  for (const [name, c] of classes) {
    if (name === 'AgentError') continue;
    if (c.parent === 'Error') assert.fail(`${c.file}: ${name} extends Error directly; extend AgentError (src/util/errors.ts)`);
    if (!isError(c.parent)) continue;
    count++;
    assert.match(c.body, new RegExp(`static override readonly errorName: string = '${name}';`),
      `${c.file}: ${name} must declare static override readonly errorName: string = '${name}'`);
  }
  assert.ok(count >= 40, `found only ${count} error classes`);
});

test('the name comes from the class constructed, not from the identifier', () => {
  assert.equal(new AgentError('x').name, 'AgentError');
  assert.equal(new ConfigError('/etc/waagent.conf', 'bad').name, 'ConfigError');
  const e = new ExtensionUpdateError('upgrade failed');
  assert.ok(e instanceof ExtensionError && e instanceof AgentError && e instanceof Error);
  assert.equal(e.name, 'ExtensionUpdateError');
  assert.equal(String(e), 'ExtensionUpdateError: upgrade failed');
  assert.match(e.stack ?? '', /^ExtensionUpdateError: upgrade failed/);
  assert.equal(new MultiConfigEnableError(new ExtensionError('enable failed')).name, 'MultiConfigEnableError');
  const cause = new Error('inner');
  assert.equal(new AgentError('outer', { cause }).cause, cause);
});

test('extension errors keep the Python agent\'s "[Class] message" text and their default CRP codes', () => {
  assert.equal(new ExtensionError('m').describe(), '[ExtensionError] m');
  assert.equal(new ExtensionError('m').code, ErrorCodes.Unknown);
  assert.equal(new ExtensionOperationError('Non-zero exit code: 1', ErrorCodes.PluginEnableProcessingFailed, 1).describe(),
    '[ExtensionOperationError] Non-zero exit code: 1');
  assert.equal(new ExtensionUpdateError('m').code, ErrorCodes.PluginUpdateProcessingFailed);
  assert.equal(new ExtensionDownloadError('m').code, ErrorCodes.PluginManifestDownloadError);
  assert.equal(new ExtensionStatusError('m').code, ErrorCodes.PluginSettingsStatusInvalid);
  assert.equal(new ExtensionsGoalStateError('m').code, ErrorCodes.Unknown);
  assert.equal(new ExtensionsGoalStateError('m').describe(), '[ExtensionsGoalStateError] m');
  assert.equal(new ExtensionUpdateError('m', 7).code, 7);
  const s = new SignatureValidationError('bad sig', 'SignatureValidation');
  assert.ok(s instanceof PackageValidationError);
  assert.equal(s.name, 'SignatureValidationError');
  assert.equal(s.message, '[SignatureValidationError] bad sig');
  assert.equal(s.code, ErrorCodes.PluginInstallProcessingFailed);
  assert.equal(new ManifestValidationError('no info', 'PackageSigningInfoResult').message, '[ManifestValidationError] no info');
});

test('one message helper: errorText for anything thrown, errorMessage adds the class for extension errors', () => {
  assert.equal(errorText(new Error('boom')), 'boom');
  assert.equal(errorText('plain'), 'plain');
  assert.equal(errorText(42), '42');
  assert.equal(errorText(undefined), 'undefined');
  assert.equal(errorMessage(new ExtensionError('m')), '[ExtensionError] m');
  assert.equal(errorMessage(new Error('boom')), 'boom');
  const ex = new ExecError({ argv: ['false'], code: 1, signal: null, stdout: '', stderr: '', timedOut: false, truncated: false, durationMs: 1 });
  assert.equal(ex.name, 'ExecError');
  assert.equal(errorText(ex), 'command false failed: exit code 1');
});
