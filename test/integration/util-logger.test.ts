import { test } from 'node:test';
import assert from 'node:assert/strict';
import { chmodSync, chownSync, existsSync, lstatSync, mkdtempSync, readFileSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { execFileSync } from 'node:child_process';
import { appendCommandLog } from '../../src/extensions/commandLog.ts';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { DeviceAppender, FileAppender, Logger, MemoryAppender, addSecret, redact, timestamp } from '../../src/util/logger.ts';

const dir = mkdtempSync(join(tmpdir(), 'waagent-log-'));
function logger(level: 'VERBOSE' | 'INFO' = 'VERBOSE'): { l: Logger; m: MemoryAppender } {
  const l = new Logger();
  const m = new MemoryAppender(level);
  l.appenders.push(m);
  return { l, m };
}

test('line format: UTC timestamp with microseconds, level, thread, optional prefix, message', () => {
  assert.equal(timestamp(new Date(Date.UTC(2025, 10, 19, 12, 41, 22, 123))), '2025-11-19T12:41:22.123000Z');
  assert.equal(timestamp(new Date(0)), '1970-01-01T00:00:00.000000Z');
  const { l, m } = logger();
  l.info('plain');
  l.thread = 'Daemon';
  l.prefix = 'Daemon';
  l.warn('with prefix');
  l.thread = 'EnvHandler';
  l.prefix = 'ExtHandler';
  l.error('env');
  l.verbose('detail');
  assert.match(m.lines[0]!, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z INFO MainThread plain\n$/);
  assert.match(m.lines[1]!, /Z WARNING Daemon Daemon with prefix\n$/);
  assert.match(m.lines[2]!, /Z ERROR EnvHandler ExtHandler env\n$/);
  assert.match(m.lines[3]!, /Z VERBOSE EnvHandler ExtHandler detail\n$/);
});

test('levels filter per appender', () => {
  const { l, m } = logger('INFO');
  const all = new MemoryAppender('VERBOSE');
  l.appenders.push(all);
  l.verbose('v');
  l.info('i');
  assert.equal(m.lines.length, 1);
  assert.equal(all.lines.length, 2);
});

test('lines are forced to ASCII with backslash escapes', () => {
  const { l, m } = logger();
  l.info('hello w\u00f6rld \u2019quoted\u2019 \u{1F600} tab\tok');
  assert.match(m.lines[0]!, / hello w\\xf6rld \\u2019quoted\\u2019 \\U0001f600 tab\tok\n$/);
  assert.match(m.lines[0]!, /^[\x00-\x7f]*$/);
});

test('SAS tokens are redacted, the URL before ? is kept', () => {
  const url = 'https://md-x.blob.core.windows.net/$system/vm.status?sv=2018-03-28&sr=b&sk=system-1&sig=AbC%2Bdef%3D&se=9999-01-01&sp=rw';
  const out = redact(`uploading to ${url} now`);
  assert.equal(out, 'uploading to https://md-x.blob.core.windows.net/$system/vm.status?<redacted> now');
  assert.ok(!redact('GET http://h/p?a=1&sig=XYZSECRET').includes('XYZSECRET'));
  assert.equal(redact('https://example.com/path?foo=bar'), 'https://example.com/path?foo=bar');
});

test('PEM private keys never pass, certificates do', () => {
  const key = '-----BEGIN PRIVATE KEY-----\nMIIEvQIBADANBgkqhkiG9w0BAQEFAASC\n-----END PRIVATE KEY-----';
  const rsa = '-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEA\n-----END RSA PRIVATE KEY-----';
  const cert = '-----BEGIN CERTIFICATE-----\nMIIC\n-----END CERTIFICATE-----';
  const out = redact(`a ${key} b ${rsa} c ${cert}`);
  assert.ok(!out.includes('MIIEvQ') && !out.includes('MIIEow'));
  assert.ok(out.includes(cert));
  // A truncated key (no END line) is still hidden.
  assert.ok(!redact('-----BEGIN OPENSSH PRIVATE KEY-----\nb3BlbnNzaC1rZXktdjE').includes('b3BlbnNz'));
});

test('protected settings and passwords in JSON or XML are redacted', () => {
  const json = redact('{"protectedSettings":"MIIB+encrypted==","publicSettings":{"a":1},"adminPassword":"P@ss\\"w0rd"}');
  assert.ok(!json.includes('MIIB') && !json.includes('P@ss'));
  assert.ok(json.includes('"publicSettings":{"a":1}'));
  const xml = redact('<ns1:UserPassword>Sup3rS3cret!</ns1:UserPassword><UserName>azureuser</UserName>');
  assert.ok(!xml.includes('Sup3rS3cret'));
  assert.ok(xml.includes('<UserName>azureuser</UserName>'));
});

test('registered secrets are redacted everywhere, in messages of every level', () => {
  addSecret('correct-horse-battery');
  addSecret('abc'); // too short to register safely (would redact ordinary words)
  const { l, m } = logger();
  l.error('chpasswd failed for correct-horse-battery (and again correct-horse-battery)');
  assert.ok(!m.lines[0]!.includes('correct-horse'));
  assert.match(m.lines[0]!, /chpasswd failed for <redacted> \(and again <redacted>\)/);
  assert.equal(redact('abc'), 'abc');
});

test('once() logs a key only the first time', () => {
  const { l, m } = logger();
  l.once('WARNING', 'k', 'first');
  l.once('WARNING', 'k', 'second');
  assert.equal(m.lines.length, 1);
});

test('FileAppender appends per line and rotates past its size bound', () => {
  const p = join(dir, 'waagent.log');
  const l = new Logger();
  l.appenders.push(new FileAppender(p, 'INFO', 300, 2));
  for (let i = 0; i < 10; i++) l.info(`line ${i} ${'x'.repeat(40)}`);
  assert.ok(existsSync(`${p}.1`));
  assert.ok(readFileSync(p, 'utf8').length <= 300);
  assert.match(readFileSync(p, 'utf8'), /line 9/);
  // Unwritable path: swallowed, never thrown.
  new FileAppender(join(dir, 'no', 'such', 'dir.log'), 'INFO').write('x\n');
});

test('log files are 0600: a new one, an existing 0644 one tightened at start, rotated ones too', () => {
  const p = join(dir, 'modes.log');
  const l = new Logger();
  l.appenders.push(new FileAppender(p, 'INFO', 300, 2));
  l.info('first');
  assert.equal(statSync(p).mode & 0o7777, 0o600);
  for (let i = 0; i < 10; i++) l.info(`line ${i} ${'x'.repeat(40)}`);
  assert.equal(statSync(`${p}.1`).mode & 0o7777, 0o600);
  const old = join(dir, 'old.log');
  writeFileSync(old, 'before\n', { mode: 0o644 });
  chmodSync(old, 0o644);
  new FileAppender(old, 'INFO'); // start: tightened before anything is written
  assert.equal(statSync(old).mode & 0o7777, 0o600);
  assert.match(readFileSync(old, 'utf8'), /^before\n.* WARNING MainThread .*old\.log: mode 0644 -> 0600\n$/s);
});

test('a symlink at the log path is never followed: replaced by a new 0600 file and reported in it', () => {
  const target = join(dir, 'shadow-like');
  writeFileSync(target, 'secret target\n', { mode: 0o600 });
  const p = join(dir, 'linked.log');
  symlinkSync(target, p);
  const l = new Logger();
  l.appenders.push(new FileAppender(p, 'INFO'));
  l.info('hello');
  assert.equal(readFileSync(target, 'utf8'), 'secret target\n', 'the target untouched');
  const st = lstatSync(p);
  assert.ok(st.isFile() && (st.mode & 0o7777) === 0o600);
  assert.match(readFileSync(p, 'utf8'), new RegExp(`WARNING MainThread ${p}\\b.*was a symbolic link \\(to ${target}\\): replaced by a new log file\\n.*INFO MainThread hello\\n$`, 's'));
  // A link planted later (between two lines) is replaced too.
  const p2 = join(dir, 'linked2.log');
  const l2 = new Logger();
  l2.appenders.push(new FileAppender(p2, 'INFO'));
  l2.info('one');
  execFileSync('rm', [p2]);
  symlinkSync(target, p2);
  l2.info('two');
  assert.equal(readFileSync(target, 'utf8'), 'secret target\n');
  assert.match(readFileSync(p2, 'utf8'), /INFO MainThread two\n.*WARNING MainThread .*replaced by a new log file\n$/s);
});

test('a FIFO at the log path never blocks the agent; the line is dropped', () => {
  const p = join(dir, 'fifo.log');
  execFileSync('mkfifo', [p]);
  const l = new Logger();
  l.appenders.push(new FileAppender(p, 'INFO'));
  l.info('not blocked');
  assert.ok(lstatSync(p).isFIFO());
});

test('extension CommandExecution logs: 0600, an existing 0644 one tightened, a link replaced', { skip: process.getuid?.() !== 0 ? 'needs root (chown)' : false }, () => {
  const p = join(dir, 'ext', 'Ext.A', 'CommandExecution.log');
  appendCommandLog(p, 'Executing command: install');
  assert.equal(statSync(p).mode & 0o7777, 0o600);
  chmodSync(p, 0o644);
  chownSync(p, 1000, 1000);
  appendCommandLog(p, 'again');
  assert.deepEqual([statSync(p).mode & 0o7777, statSync(p).uid], [0o600, 0]);
  const target = join(dir, 'ext-target');
  writeFileSync(target, 'keep\n');
  const q = join(dir, 'ext', 'Ext.A', 'CommandExecution_2.log');
  symlinkSync(target, q);
  appendCommandLog(q, 'third');
  assert.equal(readFileSync(target, 'utf8'), 'keep\n');
  assert.ok(lstatSync(q).isFile() && (lstatSync(q).mode & 0o7777) === 0o600);
  assert.match(readFileSync(q, 'utf8'), /third\n.*was a symbolic link/s);
});

test('start-up: existing extension command logs (0644 from an older agent) made 0600; links left alone', async () => {
  const { tightenLogFiles } = await import('../../src/util/logfile.ts');
  const { mkdirSync } = await import('node:fs');
  const base = join(dir, 'extlogs');
  mkdirSync(join(base, 'Ext.One'), { recursive: true });
  for (const f of ['CommandExecution.log', 'CommandExecution_1.log', 'handler.log']) { writeFileSync(join(base, 'Ext.One', f), 'x\n'); chmodSync(join(base, 'Ext.One', f), 0o644); }
  const target = join(dir, 'ext-link-target');
  writeFileSync(target, 'y\n');
  chmodSync(target, 0o644);
  symlinkSync(target, join(base, 'Ext.One', 'CommandExecution_2.log'));
  assert.equal(tightenLogFiles(base, /^CommandExecution.*\.log(\.\d+)?$/), 2);
  assert.equal(statSync(join(base, 'Ext.One', 'CommandExecution.log')).mode & 0o7777, 0o600);
  assert.equal(statSync(join(base, 'Ext.One', 'CommandExecution_1.log')).mode & 0o7777, 0o600);
  assert.equal(statSync(join(base, 'Ext.One', 'handler.log')).mode & 0o7777, 0o644, 'the extension\'s own log is its business');
  assert.equal(statSync(target).mode & 0o7777, 0o644, 'a link is not followed');
});

test('DeviceAppender writes per line and survives a missing device; removeAppenders detaches it', () => {
  const dev = join(dir, 'console');
  writeFileSync(dev, '');
  const l = new Logger();
  l.appenders.push(new DeviceAppender(dev, 'INFO'), new DeviceAppender(join(dir, 'absent', 'console'), 'INFO'));
  l.info('to console');
  assert.match(readFileSync(dev, 'utf8'), /INFO MainThread to console\n$/);
  assert.equal(l.removeAppenders((a) => a instanceof DeviceAppender), 2);
  l.info('not any more');
  assert.ok(!readFileSync(dev, 'utf8').includes('not any more'));
});

test('child loggers carry their own thread name and follow the parent appenders', () => {
  const { l, m } = logger();
  l.prefix = 'ExtHandler';
  const env = l.child('EnvHandler');
  env.info('from env');
  const later = new MemoryAppender('INFO');
  l.appenders.push(later);
  env.warn('after add');
  l.removeAppenders((a) => a === m);
  env.info('after remove');
  assert.match(m.lines[0]!, / INFO EnvHandler ExtHandler from env\n$/);
  assert.equal(m.lines.length, 2);
  assert.equal(later.lines.length, 2);
  assert.match(later.lines[1]!, / INFO EnvHandler ExtHandler after remove\n$/);
});
