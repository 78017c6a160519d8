import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, mkdirSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ConfigError, MAX_CONFIG_BYTES, configFromText, defaultConfig, loadConfig } from '../../src/config/config.ts';
import { KEYS, isConfigKey, sortedKeys } from '../../src/config/keys.ts';
import { parseConfText, parsePythonInt, parseSwitch } from '../../src/config/parse.ts';

const dir = mkdtempSync(join(tmpdir(), 'waagent-conf-'));
function file(name: string, text: string | Buffer): string {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
}
function load(text: string): { c: ReturnType<typeof configFromText>; warnings: string[] } {
  const warnings: string[] = [];
  const c = configFromText(text, 'test.conf', (m) => warnings.push(m));
  return { c, warnings };
}

test('only column-0 # lines are comments; an indented # line is a setting', () => {
  const { entries } = parseConfText('#Logs.Verbose=y\n  #Logs.Verbose=y\n');
  assert.deepEqual([...entries.keys()], ['#Logs.Verbose']);
  const { c } = load('#Logs.Verbose=y\n');
  assert.equal(c.bool('Logs.Verbose'), false);
});

test('split at the first =, key trimmed and case-sensitive, lines without = ignored', () => {
  const { c, warnings } = load('  OS.SshDir = /a=b \nnot a setting\nlogs.verbose=y\n');
  assert.equal(c.str('OS.SshDir'), '/a=b');
  assert.equal(c.bool('Logs.Verbose'), false);
  assert.equal(c.raw('logs.verbose'), 'y');
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /^test\.conf:3: unknown key logs\.verbose .*did you mean Logs\.Verbose/);
});

test('inline # cuts the value; quotes and spaces stripped; single quotes and inner quotes kept', () => {
  const { c } = load([
    'OS.SshDir=/etc/ssh # the ssh dir',
    'OS.HomeDir="/home/x"',
    "OS.SudoersDir='/etc/s'",
    'Lib.Dir=  " /var/lib/w "  ',
    'Pid.File="a"b"',
    'DVD.MountPoint=/mnt/x\t\r',
    'Extension.LogDir="/v"\r',
  ].join('\n'));
  assert.equal(c.str('OS.SshDir'), '/etc/ssh');
  assert.equal(c.str('OS.HomeDir'), '/home/x');
  assert.equal(c.str('OS.SudoersDir'), "'/etc/s'");
  assert.equal(c.str('Lib.Dir'), '/var/lib/w');
  assert.equal(c.str('Pid.File'), 'a"b');
  assert.equal(c.str('DVD.MountPoint'), '/mnt/x');
  // Python strips '" ' first, then whitespace: the quote before \r survives.
  assert.equal(c.str('Extension.LogDir'), '/v"');
});

test('None means absent: the default applies; absent optional strings read undefined', () => {
  const { c } = load('OS.OpensslPath=None\nResourceDisk.MountOptions=None\nHttpProxy.Port=None\nOS.EnableFirewall=None\n');
  assert.equal(c.str('OS.OpensslPath'), '/usr/bin/openssl');
  assert.equal(c.str('ResourceDisk.MountOptions'), undefined);
  assert.equal(c.int('HttpProxy.Port'), undefined);
  assert.equal(c.bool('OS.EnableFirewall'), false);
  assert.equal(c.isSet('OS.OpensslPath'), false);
});

test('empty value: strings keep "", switches and ints fall back to the default silently', () => {
  const { c, warnings } = load('OS.SshDir=\nLogs.Console=\nExtensions.GoalStatePeriod=\n');
  assert.equal(c.str('OS.SshDir'), '');
  assert.equal(c.bool('Logs.Console'), true);
  assert.equal(c.int('Extensions.GoalStatePeriod'), 6);
  assert.deepEqual(warnings, []);
});

test('duplicates: the later line wins', () => {
  const { c, warnings } = load('ResourceDisk.Format=y\nResourceDisk.Format=n\nOS.SshDir=/a\nOS.SshDir=/b\nLogs.Verbose=bad\nLogs.Verbose=y\n');
  assert.equal(c.bool('ResourceDisk.Format'), false);
  assert.equal(c.str('OS.SshDir'), '/b');
  assert.equal(c.bool('Logs.Verbose'), true);
  assert.deepEqual(warnings, [], 'a bad value overridden by a good one is not reported');
});

test('unknown keys are kept and warned about once each; obsolete keys get a hint or are silent', () => {
  const { c, warnings } = load('Foo.Bar=1\nFoo.Bar=2\nHome.Dir=/h\nLBProbeResponder=y\nProvisioning.Enabled=n\n');
  assert.equal(c.raw('Foo.Bar'), '2');
  assert.deepEqual(c.unknownKeys(), ['Foo.Bar', 'Home.Dir', 'LBProbeResponder', 'Provisioning.Enabled']);
  assert.equal(warnings.filter((w) => w.includes('Foo.Bar')).length, 1);
  assert.match(warnings.find((w) => w.includes('Home.Dir'))!, /test\.conf:3: Home\.Dir is obsolete and ignored: use OS\.HomeDir/);
  assert.ok(!warnings.some((w) => w.includes('LBProbeResponder')));
  assert.ok(warnings.some((w) => /Provisioning\.Enabled is obsolete.*Provisioning\.Agent/.test(w)));
  assert.equal(c.str('OS.HomeDir'), '/home');
});

test('switches: only y/n in any case; anything else warns with file, line and key and uses the default', () => {
  const { c, warnings } = load('OS.EnableFirewall=Y\nLogs.Console=N\nExtensions.Enabled=yes\nOS.AllowHTTP=true\nLogs.Collect=1\n');
  assert.equal(c.bool('OS.EnableFirewall'), true);
  assert.equal(c.bool('Logs.Console'), false);
  assert.equal(c.bool('Extensions.Enabled'), true);
  assert.equal(c.bool('OS.AllowHTTP'), false);
  assert.equal(c.bool('Logs.Collect'), true);
  assert.equal(warnings.length, 3);
  assert.match(warnings[0]!, /^test\.conf:3: invalid value for Extensions\.Enabled \(expected y or n, got "yes"\); using the default True$/);
  assert.match(warnings[1]!, /^test\.conf:4: invalid value for OS\.AllowHTTP/);
  assert.match(warnings[2]!, /^test\.conf:5: invalid value for Logs\.Collect/);
});

test('integers follow Python int(): sign, underscores, leading zeros; bad ones warn and default', () => {
  assert.equal(parsePythonInt('42'), 42);
  assert.equal(parsePythonInt('+7'), 7);
  assert.equal(parsePythonInt('-3'), -3);
  assert.equal(parsePythonInt(' 8 '), 8);
  assert.equal(parsePythonInt('007'), 7);
  assert.equal(parsePythonInt('1_000'), 1000);
  for (const bad of ['', '1.5', '0x10', '1e3', '1__0', '_1', '1_', 'ten', '99999999999999999999']) {
    assert.equal(parsePythonInt(bad), undefined, bad);
  }
  const { c, warnings } = load('ResourceDisk.SwapSizeMB=2_048\nOS.EnableFirewallPeriod=30s\nExtensions.GoalStatePeriod=-1\n');
  assert.equal(c.int('ResourceDisk.SwapSizeMB'), 2048);
  assert.equal(c.int('OS.EnableFirewallPeriod'), 300);
  assert.equal(c.int('Extensions.GoalStatePeriod'), -1);
  assert.equal(warnings.length, 1);
  assert.match(warnings[0]!, /^test\.conf:2: invalid value for OS\.EnableFirewallPeriod \(expected an integer, got "30s"\); using the default 300$/);
  assert.equal(parseSwitch('Y'), true);
  assert.equal(parseSwitch('yes'), undefined);
});

test('derived defaults follow their source key unless set', () => {
  assert.equal(load('AutoUpdate.Enabled=n\n').c.bool('AutoUpdate.UpdateToLatestVersion'), false);
  assert.equal(load('AutoUpdate.Enabled=n\nAutoUpdate.UpdateToLatestVersion=y\n').c.bool('AutoUpdate.UpdateToLatestVersion'), true);
  assert.equal(load('Extensions.GoalStatePeriod=9\n').c.int('Extensions.InitialGoalStatePeriod'), 9);
  assert.equal(defaultConfig().int('Extensions.InitialGoalStatePeriod'), 6);
});

test('a line without a key is reported; a BOM is ignored; CRLF files work', () => {
  const { c, warnings } = load('\ufeffLogs.Verbose=y\r\n=oops\r\nOS.SshDir=/s\r\n');
  assert.equal(c.bool('Logs.Verbose'), true);
  assert.equal(c.str('OS.SshDir'), '/s');
  assert.deepEqual(warnings, ['test.conf:2: ignored a setting without a key name']);
});

test('the key table is consistent: derived defaults name keys of the same type; sorted like Python', () => {
  for (const [k, d] of Object.entries(KEYS)) {
    const from = (d as { defaultFrom?: string }).defaultFrom;
    if (from) {
      assert.ok(isConfigKey(from), `${k}: defaultFrom ${from}`);
      assert.equal(KEYS[from].type, d.type, k);
    }
  }
  const keys = sortedKeys();
  assert.ok(keys.indexOf('AutoUpdate.UpdateToLatestVersion') < keys.indexOf('Autoupdate.Frequency'));
  assert.ok(keys.indexOf('DVD.MountPoint') < keys.indexOf('Debug.AgentCpuQuota'));
  // Every key of docs/os.md §2.3 plus ours, by count: 33 + 3 getter + 3 ours switches, 20 + 1 strings, 23 + 2 ints.
  assert.equal(keys.length, 85);
});

test('entries() renders like -show-configuration: True/False, None, decimal', () => {
  const e = new Map(load('ResourceDisk.Format=y\nHttpProxy.Host=proxy\n').c.entries());
  assert.equal(e.get('ResourceDisk.Format'), 'True');
  assert.equal(e.get('ResourceDisk.EnableNvme'), 'False');
  assert.equal(e.get('HttpProxy.Host'), 'proxy');
  assert.equal(e.get('HttpProxy.Port'), 'None');
  assert.equal(e.get('Debug.AgentMemoryQuota'), '31457280');
  assert.equal(e.get('OS.OpensslPath'), '/usr/bin/openssl');
  assert.equal(e.get('CGroups.EnforceLimits'), 'True');
  assert.equal(e.get('CGroups.Excluded'), 'None');
  assert.equal(e.get('Provisioning.KvpReporting'), 'True');
});

test('loadConfig: a real file; missing, empty, directory, oversized files are ConfigErrors', () => {
  const warnings: string[] = [];
  const p = file('ok.conf', '# sample\nProvisioning.Agent=waagent\nLogs.Verbose=maybe\n');
  const c = loadConfig(p, { onWarning: (m) => warnings.push(m) });
  assert.equal(c.source, p);
  assert.equal(c.str('Provisioning.Agent'), 'waagent');
  assert.deepEqual(warnings, [`${p}:3: invalid value for Logs.Verbose (expected y or n, got "maybe"); using the default False`]);

  const missing = join(dir, 'nope.conf');
  assert.throws(() => loadConfig(missing), (e: unknown) => e instanceof ConfigError && e.path === missing && /does not exist/.test(e.message));
  assert.equal(loadConfig(missing, { required: false }).source, undefined);
  assert.throws(() => loadConfig(file('empty.conf', '')), /is empty/);
  mkdirSync(join(dir, 'd.conf'));
  assert.throws(() => loadConfig(join(dir, 'd.conf')), /not a regular file/);
  assert.throws(() => loadConfig(file('big.conf', 'x'.repeat(MAX_CONFIG_BYTES + 1))), /limit/);
});

test('loadConfig: invalid UTF-8 is a warning, not a failure', () => {
  const warnings: string[] = [];
  const p = file('latin1.conf', Buffer.concat([Buffer.from('# caf'), Buffer.from([0xe9]), Buffer.from('\nOS.SshDir=/s\n')]));
  assert.equal(loadConfig(p, { onWarning: (m) => warnings.push(m) }).str('OS.SshDir'), '/s');
  assert.match(warnings[0]!, /not valid UTF-8/);
});

test('key names and value types are checked by the compiler (npm run typecheck fails otherwise)', () => {
  const c = defaultConfig();
  const dir: string = c.str('OS.SshDir'); // a key with a default is never undefined
  const port: number | undefined = c.int('HttpProxy.Port');
  // @ts-expect-error a None-default key may be undefined
  const host: string = c.str('HttpProxy.Host');
  // @ts-expect-error typo in a key name
  assert.throws(() => c.bool('Logs.Verbos'), /unknown configuration key Logs\.Verbos/);
  // @ts-expect-error a string key is not a switch
  assert.throws(() => c.bool('OS.SshDir'), /OS\.SshDir has type string, not switch/);
  // @ts-expect-error an int key is not a string
  assert.throws(() => c.str('ResourceDisk.SwapSizeMB'), /has type int, not string/);
  assert.equal(dir, '/etc/ssh');
  assert.equal(port, undefined);
  assert.equal(host, undefined);
});
