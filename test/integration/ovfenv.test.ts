import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import {
  OvfEnvError, checkPublicKeyValue, decodeCustomData, parseOvfEnv, redactedCopy, resolveKeyPath,
} from '../../src/platform/ovfenv.ts';
import { log, MemoryAppender, redact } from '../../src/util/logger.ts';
import { OVF_NS, WA_NS, ovfEnvXml } from '../helpers/ovf.ts';

const OVF = OVF_NS;
const WA = WA_NS;

// Real keys from ssh-keygen, made once for the file.
const dir = mkdtempSync(join(tmpdir(), 'ovfenv-'));
function keygen(type: string): string {
  const f = join(dir, `id_${type}`);
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', `t@${type}`, '-f', f]);
  return readFileSync(`${f}.pub`, 'utf8').trim();
}
const RSA = keygen('rsa');
const ED = keygen('ed25519');
const ECDSA = keygen('ecdsa');
process.on('exit', () => rmSync(dir, { recursive: true, force: true }));

interface DocOpts {
  user?: string | null;
  host?: string;
  password?: string;
  disable?: string;
  keys?: string; // inner XML of <SSH>
  customData?: string;
  pga?: string;
  pps?: string;
}

/** The Azure shape from the shared builder, with values inserted verbatim (these tests write markup). */
function azureDoc(o: DocOpts = {}): string {
  return ovfEnvXml({
    raw: true, user: o.user, host: o.host ?? 'vm-01', password: o.password, disable: o.disable, sshXml: o.keys ?? '',
    customDataRaw: o.customData, provisionGuestAgent: o.pga, preprovisionedVm: o.pps,
  });
}

function errOf(fn: () => unknown): OvfEnvError {
  try { fn(); } catch (e) { assert.ok(e instanceof OvfEnvError, `expected OvfEnvError, got ${String(e)}`); return e; }
  assert.fail('expected an OvfEnvError');
}

test('Azure-shaped document: password, inline key, hostname, defaults', () => {
  const ovf = parseOvfEnv(azureDoc({
    password: 'S3cret-Pa55!', keys: `<PublicKeys><PublicKey><Fingerprint>eb0c0ab4b2d5fc35f2f0658d19f44c8283e2dd62</Fingerprint>
      <Path>$HOME/azureuser/.ssh/authorized_keys</Path><Value>${ED}\r\n</Value></PublicKey></PublicKeys>`,
  }));
  assert.equal(ovf.version, '1.0');
  assert.equal(ovf.hostname, 'vm-01');
  assert.equal(ovf.username, 'azureuser');
  assert.equal(ovf.password, 'S3cret-Pa55!');
  assert.equal(ovf.disableSshPasswordAuthentication, false, 'absent => password auth stays enabled');
  assert.deepEqual(ovf.publicKeys, [{
    path: '$HOME/azureuser/.ssh/authorized_keys', resolvedPath: '/home/azureuser/.ssh/authorized_keys',
    fingerprint: 'EB0C0AB4B2D5FC35F2F0658D19F44C8283E2DD62', value: ED,
  }]);
  assert.deepEqual(ovf.keyPairs, []);
  assert.equal(ovf.customData, undefined);
  assert.equal(ovf.provisionGuestAgent, true);
  assert.equal(ovf.preprovisionedVm, false);
  assert.equal(ovf.preprovisionedVmType, undefined, 'xsi:nil element is absent');
  // registered as a secret: the logger can never print it
  assert.equal(redact('pw is S3cret-Pa55! here'), 'pw is <redacted> here');
});

test('prefixes are irrelevant: ns0/ns1 (cloud-init style) and every element prefixed', () => {
  const doc = `<ns0:Environment xmlns:ns0="${OVF}" xmlns:ns1="${WA}">
    <ns1:ProvisioningSection><ns1:Version>1.0</ns1:Version>
      <ns1:LinuxProvisioningConfigurationSet>
        <ns1:HostName>web1.example.com</ns1:HostName><ns1:UserName>Alice_2</ns1:UserName>
        <ns1:UserPassword>hunter2hunter2</ns1:UserPassword>
        <ns1:DisableSshPasswordAuthentication>TRUE</ns1:DisableSshPasswordAuthentication>
        <ns1:SSH><ns1:PublicKeys>
          <ns1:PublicKey><ns1:Path>/home/Alice_2/.ssh/authorized_keys</ns1:Path><ns1:Value>${RSA}</ns1:Value></ns1:PublicKey>
          <ns1:PublicKey><ns1:Path>/home/Alice_2/.ssh/authorized_keys</ns1:Path><ns1:Value>${ECDSA}\n${ED}</ns1:Value></ns1:PublicKey>
        </ns1:PublicKeys></ns1:SSH>
      </ns1:LinuxProvisioningConfigurationSet></ns1:ProvisioningSection>
    <ns1:PlatformSettingsSection><ns1:Version>1.0</ns1:Version><ns1:PlatformSettings>
      <ns1:ProvisionGuestAgent>FALSE</ns1:ProvisionGuestAgent>
      <ns1:PreprovisionedVm>True</ns1:PreprovisionedVm><ns1:PreprovisionedVmType>Savable</ns1:PreprovisionedVmType>
    </ns1:PlatformSettings></ns1:PlatformSettingsSection></ns0:Environment>`;
  const ovf = parseOvfEnv(doc);
  assert.equal(ovf.hostname, 'web1.example.com');
  assert.equal(ovf.username, 'Alice_2');
  assert.equal(ovf.disableSshPasswordAuthentication, true);
  assert.equal(ovf.publicKeys.length, 2);
  assert.equal(ovf.publicKeys[1]!.value, `${ECDSA}\n${ED}`);
  assert.equal(ovf.provisionGuestAgent, false);
  assert.equal(ovf.provisionGuestAgentRaw, 'FALSE');
  assert.equal(ovf.preprovisionedVm, true);
  assert.equal(ovf.preprovisionedVmType, 'Savable');
});

test('elements in the wrong namespace do not count', () => {
  // Same local names, but UserName sits in a foreign namespace: it must be "not found".
  const doc = azureDoc({ user: null }).replace('<SSH>', '<x:UserName xmlns:x="urn:other">mallory</x:UserName><SSH>');
  const e = errOf(() => parseOvfEnv(doc));
  assert.equal(e.element, 'UserName');
  assert.match(e.message, /UserName not found/);
  // A root without the OVF namespace is not an Environment.
  const e2 = errOf(() => parseOvfEnv(azureDoc().replace(`xmlns="${OVF}"`, 'xmlns="urn:nope"')));
  assert.equal(e2.element, 'Environment');
});

test('key by thumbprint, key pairs, CustomData base64', () => {
  const cd = Buffer.from('#!/bin/sh\necho hello > /tmp/cd\n').toString('base64');
  const ovf = parseOvfEnv(azureDoc({
    disable: 'true',
    keys: `<PublicKeys><PublicKey><Fingerprint>0123456789abcdef0123456789ABCDEF01234567</Fingerprint>
        <Path>$HOME/azureuser/.ssh/authorized_keys</Path></PublicKey></PublicKeys>
      <KeyPairs><KeyPair><Fingerprint>89ABCDEF0123456789abcdef0123456789ABCDEF</Fingerprint>
        <Path>$HOME/azureuser/.ssh/id_rsa</Path></KeyPair></KeyPairs>`,
    customData: `\n${cd.slice(0, 10)}\n${cd.slice(10)}\n`,
  }), { homeDir: '/var/home' });
  assert.deepEqual(ovf.publicKeys, [{
    path: '$HOME/azureuser/.ssh/authorized_keys', resolvedPath: '/var/home/azureuser/.ssh/authorized_keys',
    fingerprint: '0123456789ABCDEF0123456789ABCDEF01234567',
  }]);
  assert.deepEqual(ovf.keyPairs, [{
    path: '$HOME/azureuser/.ssh/id_rsa', resolvedPath: '/var/home/azureuser/.ssh/id_rsa',
    fingerprint: '89ABCDEF0123456789ABCDEF0123456789ABCDEF',
  }]);
  assert.equal(ovf.password, undefined);
  assert.equal(ovf.disableSshPasswordAuthentication, true);
  assert.equal(decodeCustomData(ovf.customData!).toString(), '#!/bin/sh\necho hello > /tmp/cd\n');
  errOf(() => parseOvfEnv(azureDoc({ customData: 'not*base64!' })));
});

test('required elements: missing user, hostname, empty ProvisionGuestAgent, sections', () => {
  const cases: [string, string][] = [
    [azureDoc({ user: null }), 'UserName'],
    [azureDoc({ user: '' }), 'UserName'],
    [azureDoc().replace(/<HostName>.*<\/HostName>/, ''), 'HostName'],
    [azureDoc({ pga: '' }), 'ProvisionGuestAgent'],
    [azureDoc().replace(/<wa:PlatformSettingsSection>[\s\S]*<\/wa:PlatformSettingsSection>/, ''), 'PlatformSettingsSection'],
    [azureDoc().replace(/<wa:Version>1.0<\/wa:Version>/g, ''), 'Version'],
    [`<Environment xmlns="${OVF}"/>`, 'ProvisioningSection'],
  ];
  for (const [doc, element] of cases) {
    const e = errOf(() => parseOvfEnv(doc));
    assert.equal(e.element, element, e.message);
    assert.match(e.message, new RegExp(`^ovf-env.xml: Failed to validate OVF: ${element} not found`));
  }
  // 'bad data' is not 'false': the agent stays enabled (upstream ovf-env-4.xml)
  assert.equal(parseOvfEnv(azureDoc({ pga: 'bad data' })).provisionGuestAgent, true);
});

test('hostile values are refused with the element named', () => {
  const key = (p: string) => `<PublicKeys><PublicKey><Path>${p}</Path><Value>${ED}</Value></PublicKey></PublicKeys>`;
  const cases: [DocOpts, string, RegExp][] = [
    [{ host: 'vm;reboot' }, 'HostName', /hostname/],
    [{ host: 'vm name' }, 'HostName', /hostname/],
    [{ host: 'a/b' }, 'HostName', /hostname/],
    [{ host: '-vm' }, 'HostName', /hostname/],
    [{ host: 'x'.repeat(64) }, 'HostName', /hostname/],
    [{ user: 'bob;id' }, 'UserName', /user name/],
    [{ user: '../etc' }, 'UserName', /user name/],
    [{ user: '-rf' }, 'UserName', /user name/],
    [{ user: 'root' }, 'UserName', /root/],
    [{ user: '$(id)' }, 'UserName', /user name/],
    [{ keys: key('$HOME/azureuser/../../root/.ssh/authorized_keys') }, 'PublicKey/Path', /"\.\."/],
    [{ keys: key('$HOME/azureuser/.ssh/../.ssh/authorized_keys') }, 'PublicKey/Path', /"\.\."/],
    [{ keys: key('/root/.ssh/authorized_keys') }, 'PublicKey/Path', /outside the user's home/],
    [{ keys: key('/home/azureuserX/.ssh/authorized_keys') }, 'PublicKey/Path', /outside/],
    [{ keys: key('$HOME/azureuser/.ssh/a;b') }, 'PublicKey/Path', /characters/],
    [{ keys: key('$HOME/azureuser/.ssh/') }, 'PublicKey/Path', /directory/],
    [{ keys: key('.ssh/authorized_keys') }, 'PublicKey/Path', /absolute/],
    [{ keys: '<PublicKeys><PublicKey><Path>$HOME/azureuser/.ssh/k</Path><Value>command="sh" ' + ED + '</Value></PublicKey></PublicKeys>' }, 'PublicKey/Value', /key type/],
    [{ keys: '<PublicKeys><PublicKey><Path>$HOME/azureuser/.ssh/k</Path><Value>ssh-rsa AAAAC3NzaC1lZDI1NTE5AAAAIEdM</Value></PublicKey></PublicKeys>' }, 'PublicKey/Value', /match its type/],
    [{ keys: '<PublicKeys><PublicKey><Path>$HOME/azureuser/.ssh/k</Path></PublicKey></PublicKeys>' }, 'PublicKey', /neither/],
    [{ keys: '<PublicKeys><PublicKey><Value>' + ED + '</Value></PublicKey></PublicKeys>' }, 'PublicKey/Path', /missing/],
    [{ keys: '<PublicKeys><PublicKey><Fingerprint>../../etc/shadow</Fingerprint><Path>$HOME/azureuser/.ssh/k</Path></PublicKey></PublicKeys>' }, 'PublicKey/Fingerprint', /thumbprint/],
    [{ keys: '<KeyPairs><KeyPair><Path>$HOME/azureuser/.ssh/id</Path></KeyPair></KeyPairs>' }, 'KeyPair/Fingerprint', /missing/],
  ];
  for (const [o, element, re] of cases) {
    const e = errOf(() => parseOvfEnv(azureDoc(o)));
    assert.equal(e.element, element, `${JSON.stringify(o)}: ${e.message}`);
    assert.match(e.message, re);
  }
});

test('malformed or oversized XML gives OvfEnvError, DOCTYPE refused', () => {
  assert.match(errOf(() => parseOvfEnv('<Environment')).message, /malformed XML/);
  assert.match(errOf(() => parseOvfEnv('<!DOCTYPE x [<!ENTITY a "b">]><Environment/>')).message, /DOCTYPE/);
  assert.match(errOf(() => parseOvfEnv(' '.repeat((1 << 20) + 1))).message, /over the limit/);
});

test('password never appears in an error or a log line', () => {
  const mem = new MemoryAppender();
  log.appenders.push(mem);
  try {
    const e = errOf(() => parseOvfEnv(azureDoc({ password: 'Zq9!uniquePW', host: 'bad;host' })));
    assert.doesNotMatch(e.message, /Zq9!uniquePW/);
    log.info('document password Zq9!uniquePW');
    assert.ok(mem.lines.length > 0);
    assert.ok(mem.lines.every((l) => !l.includes('Zq9!uniquePW')));
  } finally {
    log.appenders.splice(log.appenders.indexOf(mem), 1);
  }
});

test('redactedCopy: upstream form, prefixed tags, multi-line, CDATA, BOM; nothing else changed', () => {
  const doc = azureDoc({ password: 'Pa&amp;ss&lt;w0rd', customData: 'ZWNobyBoaQ==' });
  const ovf = parseOvfEnv(doc);
  assert.equal(ovf.password, 'Pa&ss<w0rd');
  const copy = redactedCopy('\ufeff' + doc, ovf.password);
  assert.ok(copy.includes('<UserPassword>*</UserPassword>'));
  assert.equal(copy, doc.replace('<UserPassword>Pa&amp;ss&lt;w0rd</UserPassword>', '<UserPassword>*</UserPassword>'));
  assert.ok(copy.includes('<CustomData>ZWNobyBoaQ==</CustomData>'), 'CustomData is not redacted');
  // the copy still parses, and its password is '*'
  assert.equal(parseOvfEnv(copy).password, '*');

  const prefixed = `<wa:UserPassword>line1\nline2</wa:UserPassword><wa:UserPassword xml:space="preserve"><![CDATA[x<y]]></wa:UserPassword><UserPassword/>`;
  assert.equal(redactedCopy(prefixed), '<wa:UserPassword>*</wa:UserPassword><wa:UserPassword xml:space="preserve">*</wa:UserPassword><UserPassword/>');
  // belt and braces: the known password is blanked wherever the regex could not reach it
  assert.equal(redactedCopy('<a>topsecret1</a>', 'topsecret1'), '<a>*</a>');
});

test('resolveKeyPath and checkPublicKeyValue directly', () => {
  assert.equal(resolveKeyPath('$HOME/u/.ssh/authorized_keys', 'u', '/home/', 'P'), '/home/u/.ssh/authorized_keys');
  assert.equal(resolveKeyPath('/home/u//.ssh/k', 'u', '/home', 'P'), '/home/u/.ssh/k');
  assert.throws(() => resolveKeyPath('/home/u', 'u', '/home', 'P'), OvfEnvError);
  assert.equal(checkPublicKeyValue(`\n${RSA}\r\n\n${ED}\n`), `${RSA}\n${ED}`);
  assert.throws(() => checkPublicKeyValue(' \n '), OvfEnvError);
});
