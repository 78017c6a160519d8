import { test } from 'node:test';
import assert from 'node:assert/strict';
import { normalizeArgv, parseArgs } from '../../src/cli/args.ts';

const cmd = (...a: string[]) => parseArgs(a).command;

test('every command word, with -, --, /, // or no prefix at all', () => {
  const words: [string, string][] = [
    ['deprovision+user', 'deprovision+user'], ['deprovision', 'deprovision'], ['daemon', 'daemon'], ['start', 'start'],
    ['register-service', 'register-service'], ['run-exthandlers', 'run-exthandlers'], ['version', 'version'],
    ['show-configuration', 'show-configuration'], ['help', 'help'], ['usage', 'help'], ['?', 'help'],
    ['collect-logs', 'collect-logs'], ['provision', 'provision'], ['serialconsole', 'serialconsole'],
  ];
  for (const [word, want] of words) {
    for (const pre of ['-', '--', '/', '//', '-/', '']) {
      const p = parseArgs([pre + word]);
      assert.equal(p.command, want, pre + word);
      assert.deepEqual(p.errors, [], pre + word);
    }
  }
});

test('only the prefix has to match (waagent uses re.match without an end anchor)', () => {
  assert.equal(cmd('-versionXYZ'), 'version');
  assert.equal(cmd('-starter'), 'start');
  assert.equal(cmd('-daemonize'), 'daemon');
  assert.equal(cmd('-deprovision+userX'), 'deprovision+user');
  assert.equal(cmd('-helpme'), 'help');
  assert.equal(parseArgs(['-forceful', '-deprovision']).flags.force, true);
  assert.equal(parseArgs(['-collect-logs', '-fullx']).flags.full, true);
  // A prefix that is too short is unknown, not "the nearest command".
  assert.equal(parseArgs(['-vers']).errors[0], 'unknown argument: -vers');
});

test('-deprovision+user is one command, not letters (mri alone would split it)', () => {
  const p = parseArgs(['-deprovision+user']);
  assert.equal(p.command, 'deprovision+user');
  assert.deepEqual(p.flags, { verbose: false, force: false, full: false, debug: false, dryRun: false });
  assert.deepEqual(normalizeArgv(['-deprovision+user', '-force']).tokens, ['--cmd=deprovision+user', '--force']);
});

test('flags: -verbose -force -full -debug -dry-run in any spelling and order', () => {
  const p = parseArgs(['--verbose', '/force', 'debug', '-dry-run', '-full', '-run-exthandlers']);
  assert.equal(p.command, 'run-exthandlers');
  assert.deepEqual(p.flags, { verbose: true, force: true, full: true, debug: true, dryRun: true });
  // "verbose" is matched after "version": -verbose must not become -version.
  assert.equal(parseArgs(['-verbose']).command, 'help');
  assert.equal(parseArgs(['-verbose']).flags.verbose, true);
});

test('the last command wins', () => {
  assert.equal(cmd('-deprovision', '-version'), 'version');
  assert.equal(cmd('-version', '-deprovision'), 'deprovision');
  assert.equal(cmd('-show-configuration', '-daemon', '-start'), 'start');
});

test('-configuration-path:PATH: captured up to the first character outside [A-Za-z0-9_/.-]; last one wins', () => {
  assert.equal(parseArgs(['-configuration-path:/etc/w.conf', '-daemon']).configPath, '/etc/w.conf');
  assert.equal(parseArgs(['--configuration-path:/a/b-c_d.conf']).configPath, '/a/b-c_d.conf');
  assert.equal(parseArgs(['/configuration-path:/x y']).configPath, '/x');
  assert.equal(parseArgs(['-configuration-path:/a;rm -rf /']).configPath, '/a');
  assert.equal(parseArgs(['configuration-path:/a', '-configuration-path:/b']).configPath, '/b');
  // An empty path does not match the rule at all: it is an unknown argument.
  assert.deepEqual(parseArgs(['-configuration-path:']).errors, ['unknown argument: -configuration-path:']);
  assert.equal(parseArgs(['-version']).configPath, undefined);
});

test('-setup-firewall=IP needs 7+ digits and dots; it is a command and obeys last-wins', () => {
  const p = parseArgs(['-setup-firewall=168.63.129.16']);
  assert.equal(p.command, 'setup-firewall');
  assert.equal(p.firewallIp, '168.63.129.16');
  assert.equal(parseArgs(['--setup-firewall=10.0.0.1']).firewallIp, '10.0.0.1');
  assert.equal(parseArgs(['-setup-firewall=1.2.3']).command, 'help');
  assert.deepEqual(parseArgs(['-setup-firewall']).errors, ['unknown argument: -setup-firewall']);
  assert.equal(cmd('-daemon', '-setup-firewall=1.2.3.4'), 'setup-firewall');
  assert.equal(cmd('-setup-firewall=1.2.3.4', '-daemon'), 'daemon');
});

test('unknown arguments: command becomes help, parsing stops, an error is reported', () => {
  const p = parseArgs(['-daemon', '-bogus', '-version']);
  assert.equal(p.command, 'help');
  assert.deepEqual(p.errors, ['unknown argument: -bogus']);
  assert.equal(parseArgs(['-Version']).command, 'help', 'matching is case-sensitive like waagent');
});

test('empty arguments are skipped; no arguments at all is help without errors', () => {
  assert.equal(cmd('', '-version', ''), 'version');
  const p = parseArgs([]);
  assert.equal(p.command, 'help');
  assert.equal(p.empty, true);
  assert.deepEqual(p.errors, []);
  assert.equal(parseArgs(['']).empty, true);
  assert.equal(parseArgs(['-help']).empty, false);
});

test('-root:PATH and -root=PATH: absolute, and only for deprovision', () => {
  assert.equal(parseArgs(['-deprovision', '-root:/mnt/rescue']).root, '/mnt/rescue');
  assert.equal(parseArgs(['-root=/mnt/r', '-deprovision+user', '-force']).root, '/mnt/r');
  assert.deepEqual(parseArgs(['-deprovision', '-root:/mnt/r']).errors, []);
  assert.deepEqual(parseArgs(['-deprovision', '-root:rel']).errors, ['-root needs an absolute path, got rel']);
  assert.deepEqual(parseArgs(['-daemon', '-root:/mnt/r']).errors, ['-root:PATH is only valid with -deprovision or -deprovision+user']);
});

test('mri sees only canonical tokens', () => {
  assert.deepEqual(normalizeArgv(['/verbose', '-configuration-path:/c', '--setup-firewall=1.2.3.4', '-root:/r', 'x', '-daemon']), {
    tokens: ['--verbose', '--configuration-path=/c', '--setup-firewall=1.2.3.4', '--root=/r'],
    unknown: 'x',
  });
});
