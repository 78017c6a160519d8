// Real ssh-keygen and openssl on a temp root.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { chownSync, lstatSync, mkdirSync, readFileSync, readdirSync, statSync, symlinkSync, writeFileSync } from 'node:fs';
import { addAuthorizedKeys, deployKeyPair, regenerateHostKeys, hostKeyThumbprint, provisionHostKeys, keyIdentities, SshKeyError } from '../../src/os/sshkeys.ts';
import { parseOpensshPublicKey, opensshFromPkcs8, opensshFromCertificate, parseFingerprintLine, thumbprintOf } from '../../src/crypto/sshkeygen.ts';
import { realRunner, RecordingRunner } from '../../src/util/exec.ts';
import { makeRoot, type TempRoot } from '../helpers/os-fixtures.ts';

const owner = { uid: 1234, gid: 2345 };

function newKey(dir: string, type: string, comment: string): string {
  const f = `${dir}/k-${type}-${Math.random().toString(16).slice(2)}`;
  execFileSync('ssh-keygen', ['-q', '-N', '', '-t', type, '-C', comment, '-f', f]);
  return readFileSync(f + '.pub', 'utf8').trim();
}

function home(r: TempRoot): { path: string; base: string; owner: typeof owner } {
  mkdirSync(r.p('/home/alice'), { recursive: true, mode: 0o755 });
  chownSync(r.p('/home/alice'), owner.uid, owner.gid);
  return { path: '/home/alice/.ssh/authorized_keys', base: '/home/alice', owner };
}

test('key line parsing: valid types, comment kept, garbage and type mismatch refused', (t) => {
  const r = makeRoot();
  t.after(r.cleanup);
  const ed = newKey(r.dir, 'ed25519', 'me@laptop with spaces');
  const p = parseOpensshPublicKey(ed);
  assert.equal(p.type, 'ssh-ed25519');
  assert.equal(p.comment, 'me@laptop with spaces');
  const ec = newKey(r.dir, 'ecdsa', 'x');
  assert.throws(() => parseOpensshPublicKey(ec), /not enabled/);
  assert.equal(parseOpensshPublicKey(ec, { acceptAllKeyTypes: true }).type, 'ecdsa-sha2-nistp256');
  const [, blob] = ed.split(' ');
  for (const bad of ['', 'ssh-rsa', `ssh-rsa ${blob}`, `ssh-ed25519 ${blob}\nssh-ed25519 ${blob}`, 'ssh-ed25519 !!!!', `evil ${blob}`, `ssh-ed25519 ${blob!.slice(0, 20)}`]) {
    assert.throws(() => parseOpensshPublicKey(bad), SshKeyError, `accepted ${JSON.stringify(bad)}`);
  }
  assert.deepEqual(parseFingerprintLine('3072 SHA256:abc/+d no comment (RSA)'), { bits: 3072, hash: 'SHA256:abc/+d', comment: 'no comment', type: 'RSA' });
  assert.equal(thumbprintOf({ bits: 1, hash: 'SHA256:a:b', comment: '', type: 'RSA' }), 'SHA256ab');
});

test('as root: authorized_keys: dir 0700 + owner, file 0600 + owner, appended after existing (Ignition) keys, no duplicates', (t) => {
  const r = makeRoot();
  t.after(r.cleanup);
  const target = home(r);
  const ignition = newKey(r.dir, 'ed25519', 'ignition');
  mkdirSync(r.p('/home/alice/.ssh'), { mode: 0o755 });
  writeFileSync(r.p('/home/alice/.ssh/authorized_keys'), `# written by ignition\nno-pty ${ignition}`);
  const k1 = newKey(r.dir, 'rsa', 'azure-1');
  const k2 = newKey(r.dir, 'ed25519', 'azure-2');
  assert.deepEqual(addAuthorizedKeys(r.root, target, [k1, k2, k1]), { added: 2, present: 1 });
  const text = readFileSync(r.p(target.path), 'utf8');
  assert.equal(text, `# written by ignition\nno-pty ${ignition}\n${k1}\n${k2}\n`);
  const st = statSync(r.p(target.path));
  assert.deepEqual([st.mode & 0o777, st.uid, st.gid], [0o600, owner.uid, owner.gid]);
  const d = statSync(r.p('/home/alice/.ssh'));
  assert.deepEqual([d.mode & 0o777, d.uid, d.gid], [0o700, owner.uid, owner.gid]);
  // Twice: same state; the same key with another comment is still the same key.
  const [type, blob] = k2.split(' ');
  assert.deepEqual(addAuthorizedKeys(r.root, target, [k1, `${type} ${blob} other-comment`, ignition]), { added: 0, present: 3 });
  assert.equal(readFileSync(r.p(target.path), 'utf8'), text);
  assert.equal(keyIdentities(text).size, 3);
});

test('as root: authorized_keys: symlinks in the path are refused, nothing written outside the home', (t) => {
  const r = makeRoot();
  t.after(r.cleanup);
  const target = home(r);
  const k = newKey(r.dir, 'ed25519', 'k');
  mkdirSync(r.p('/etc/evil'), { recursive: true });
  symlinkSync('/etc/evil', r.p('/home/alice/.ssh'));
  assert.throws(() => addAuthorizedKeys(r.root, target, [k]), /symbolic link/);
  assert.deepEqual(readdirSync(r.p('/etc/evil')), []);
  const r2 = makeRoot();
  t.after(r2.cleanup);
  const t2 = home(r2);
  mkdirSync(r2.p('/home/alice/.ssh'));
  r2.write('/etc/shadow', 'root:x:1::::::\n');
  symlinkSync('/etc/shadow', r2.p('/home/alice/.ssh/authorized_keys'));
  assert.throws(() => addAuthorizedKeys(r2.root, t2, [k]), /symbolic link/);
  assert.equal(readFileSync(r2.p('/etc/shadow'), 'utf8'), 'root:x:1::::::\n');
  assert.throws(() => addAuthorizedKeys(r2.root, { ...t2, path: '/home/bob/.ssh/x' }, [k]), /not under/);
  assert.throws(() => addAuthorizedKeys(r2.root, t2, ['ssh-rsa garbage']), SshKeyError);
});

test('as root: authorized_keys: .ssh swapped for a link between the checks and the write (a racing user) -> the write still lands in the checked directory', async (t) => {
  const { setBeforeRenameHook } = await import('../../src/util/atomic.ts');
  const { renameSync } = await import('node:fs');
  const r = makeRoot();
  t.after(r.cleanup);
  const target = home(r);
  const k = newKey(r.dir, 'ed25519', 'k');
  mkdirSync(r.p('/root/.ssh'), { recursive: true });
  r.write('/root/.ssh/authorized_keys', 'ssh-ed25519 AAAAroot root\n');
  let swapped = false;
  setBeforeRenameHook(() => {
    if (swapped) return;
    swapped = true;
    // The user renames the checked directory away and plants a link to root's .ssh in its place.
    renameSync(r.p('/home/alice/.ssh'), r.p('/home/alice/.ssh-moved'));
    symlinkSync(r.p('/root/.ssh'), r.p('/home/alice/.ssh'));
  });
  try { addAuthorizedKeys(r.root, target, [k]); } finally { setBeforeRenameHook(null); }
  assert.ok(swapped);
  assert.equal(readFileSync(r.p('/root/.ssh/authorized_keys'), 'utf8'), 'ssh-ed25519 AAAAroot root\n', 'root\'s file untouched');
  assert.match(readFileSync(r.p('/home/alice/.ssh-moved/authorized_keys'), 'utf8'), /^ssh-ed25519 /);
});

test('as root: a user\'s authorized_keys of any size is never read whole: over 4 MiB is a clear error', async (t) => {
  const { truncateSync } = await import('node:fs');
  const r = makeRoot();
  t.after(r.cleanup);
  const target = home(r);
  mkdirSync(r.p('/home/alice/.ssh'), { recursive: true });
  writeFileSync(r.p('/home/alice/.ssh/authorized_keys'), '');
  truncateSync(r.p('/home/alice/.ssh/authorized_keys'), 64 * 1024 ** 3); // 64 GiB, sparse
  assert.throws(() => addAuthorizedKeys(r.root, target, [newKey(r.dir, 'ed25519', 'k')]), /authorized_keys is larger than 4194304 bytes/);
});

test('as root: key pair from <Lib.Dir>/<FP>.prv: private 0600 + owner, OpenSSH .pub 0644 matching the key', async (t) => {
  const r = makeRoot();
  t.after(r.cleanup);
  const target = { ...home(r), path: '/home/alice/.ssh/id_rsa' };
  execFileSync('openssl', ['genpkey', '-algorithm', 'RSA', '-pkeyopt', 'rsa_keygen_bits:2048', '-out', r.p('/var/lib/waagent/ABCDEF.prv')]);
  const res = await deployKeyPair(realRunner, r.root, target, '/var/lib/waagent/ABCDEF.prv');
  assert.match(res.publicKey, /^ssh-rsa AAAA/);
  const priv = statSync(r.p('/home/alice/.ssh/id_rsa'));
  assert.deepEqual([priv.mode & 0o777, priv.uid], [0o600, owner.uid]);
  assert.equal(readFileSync(r.p('/home/alice/.ssh/id_rsa'), 'utf8'), readFileSync(r.p('/var/lib/waagent/ABCDEF.prv'), 'utf8'));
  const pub = statSync(r.p('/home/alice/.ssh/id_rsa.pub'));
  assert.deepEqual([pub.mode & 0o777, pub.uid], [0o644, owner.uid]);
  // Independent check: the public key openssl derives, converted by ssh-keygen, is the same key.
  const spki = execFileSync('openssl', ['pkey', '-in', r.p('/var/lib/waagent/ABCDEF.prv'), '-pubout']).toString();
  const viaPkcs8 = await opensshFromPkcs8(realRunner, spki);
  assert.equal(readFileSync(r.p('/home/alice/.ssh/id_rsa.pub'), 'utf8').trim().split(' ').slice(0, 2).join(' '), viaPkcs8.split(' ').slice(0, 2).join(' '));
  await deployKeyPair(realRunner, r.root, target, '/var/lib/waagent/ABCDEF.prv');
  await assert.rejects(deployKeyPair(realRunner, r.root, target, '/var/lib/waagent/MISSING.prv'), /Can't find MISSING.prv/);
  r.write('/var/lib/waagent/BAD.prv', 'not a key');
  await assert.rejects(deployKeyPair(realRunner, r.root, target, '/var/lib/waagent/BAD.prv'), /not a PEM private key/);
  await assert.rejects(opensshFromPkcs8(realRunner, 'junk'), /not a PEM public key/);
});

test('as root: host keys: regenerated (old ones gone), thumbprint as ssh-keygen -l prints it without colons', async (t) => {
  const r = makeRoot();
  t.after(r.cleanup);
  mkdirSync(r.p('/etc/ssh'), { recursive: true });
  r.write('/etc/ssh/ssh_host_dsa_key', 'old');
  r.write('/etc/ssh/ssh_host_dsa_key.pub', 'old');
  r.write('/etc/ssh/ssh_host_rsa_key-cert.pub', 'old');
  r.write('/etc/ssh/sshd_config', 'keep me');
  const made = await regenerateHostKeys(realRunner, r.root, { type: 'ed25519' });
  assert.deepEqual(made, ['/etc/ssh/ssh_host_ed25519_key']);
  assert.deepEqual(readdirSync(r.p('/etc/ssh')).sort(), ['ssh_host_ed25519_key', 'ssh_host_ed25519_key.pub', 'sshd_config']);
  assert.equal(statSync(r.p('/etc/ssh/ssh_host_ed25519_key')).mode & 0o777, 0o600);
  const tp = await hostKeyThumbprint(realRunner, r.root, { type: 'ed25519' });
  const expected = execFileSync('ssh-keygen', ['-lf', r.p('/etc/ssh/ssh_host_ed25519_key.pub')]).toString().split(' ')[1]!.replace(/:/g, '');
  assert.equal(tp, expected);
  assert.match(tp, /^SHA256[A-Za-z0-9+/]{43}$/);
  // auto: every modern type; thumbprint of the rsa key. Keys differ from the previous run.
  await regenerateHostKeys(realRunner, r.root, { type: 'auto' });
  assert.deepEqual(readdirSync(r.p('/etc/ssh')).filter((n) => n.endsWith('.pub')).sort(),
    ['ssh_host_ecdsa_key.pub', 'ssh_host_ed25519_key.pub', 'ssh_host_rsa_key.pub']);
  assert.notEqual(await hostKeyThumbprint(realRunner, r.root, { type: 'ed25519' }), tp);
  assert.match(await hostKeyThumbprint(realRunner, r.root, { type: 'auto' }), /^SHA256/);
  assert.ok(lstatSync(r.p('/etc/ssh/sshd_config')).isFile());
});

test('as root: host keys: a failing ssh-keygen leaves the old keys in place; missing key is an error', async (t) => {
  const r = makeRoot();
  t.after(r.cleanup);
  r.write('/etc/ssh/ssh_host_rsa_key', 'old-private', 0o600);
  r.write('/etc/ssh/ssh_host_rsa_key.pub', 'old-public');
  const fail = new RecordingRunner().answer('ssh-keygen', { code: 1, stderr: 'boom' });
  await assert.rejects(regenerateHostKeys(fail, r.root, { type: 'rsa' }), /ssh-keygen -t rsa failed/);
  assert.equal(readFileSync(r.p('/etc/ssh/ssh_host_rsa_key'), 'utf8'), 'old-private');
  await assert.rejects(hostKeyThumbprint(realRunner, r.root, { type: 'ed25519' }), /not found/);
  await assert.rejects(regenerateHostKeys(fail, r.root, { type: 'bogus' as 'rsa' }), /unknown SSH host key type/);
});

test('as root: key by thumbprint: certificate -> OpenSSH key equals upstream\'s openssl x509 -pubkey | ssh-keygen -i path; appended', async (t) => {
  const r = makeRoot();
  t.after(r.cleanup);
  const crt = r.p('/var/lib/waagent/F00D.crt');
  execFileSync('openssl', ['req', '-x509', '-newkey', 'rsa:2048', '-nodes', '-keyout', r.p('/var/lib/waagent/F00D.prv'), '-out', crt, '-days', '1', '-subj', '/CN=test'], { stdio: 'ignore' });
  const line = await opensshFromCertificate(realRunner, readFileSync(crt, 'utf8'));
  const pub = execFileSync('openssl', ['x509', '-in', crt, '-pubkey', '-noout']).toString();
  writeFileSync(r.p('/pub.pem'), pub);
  const upstream = execFileSync('ssh-keygen', ['-i', '-m', 'PKCS8', '-f', r.p('/pub.pem')]).toString().trim();
  assert.equal(line, upstream);
  const target = home(r);
  assert.deepEqual(addAuthorizedKeys(r.root, target, [line]), { added: 1, present: 0 });
  await assert.rejects(opensshFromCertificate(realRunner, 'garbage'), /not a usable X.509 certificate/);
});

test('as root: provisionHostKeys: no regeneration keeps the image keys and reports their thumbprint', async (t) => {
  const r = makeRoot();
  t.after(r.cleanup);
  mkdirSync(r.p('/etc/ssh'), { recursive: true });
  execFileSync('ssh-keygen', ['-q', '-N', '', '-t', 'ed25519', '-f', r.p('/etc/ssh/ssh_host_ed25519_key')]);
  const before = readFileSync(r.p('/etc/ssh/ssh_host_ed25519_key.pub'), 'utf8');
  const res = await provisionHostKeys(realRunner, r.root, { type: 'ed25519', regenerate: false });
  assert.deepEqual(res.regenerated, []);
  assert.equal(readFileSync(r.p('/etc/ssh/ssh_host_ed25519_key.pub'), 'utf8'), before);
  assert.equal(res.thumbprint, await hostKeyThumbprint(realRunner, r.root, { type: 'ed25519' }));
  const again = await provisionHostKeys(realRunner, r.root, { type: 'ed25519', regenerate: true });
  assert.deepEqual(again.regenerated, ['/etc/ssh/ssh_host_ed25519_key']);
  assert.notEqual(again.thumbprint, res.thumbprint);
  await assert.rejects(provisionHostKeys(realRunner, r.root, { type: 'auto', regenerate: false }), /ssh_host_rsa_key.pub not found/);
});
