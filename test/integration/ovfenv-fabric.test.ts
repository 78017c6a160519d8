// Contract check between the fabric simulator's ovf-env.xml and our parser, through the whole media
// path: rendered document -> UDF image at /dev/sr0 of a temp root -> mount fails -> user-space read
// -> parse -> redacted copy.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderOvfEnv } from '../fabric/server.ts';
import { decodeCustomData, parseOvfEnv, redactedCopy } from '../../src/platform/ovfenv.ts';
import { readProvisioningMedia } from '../../src/os/media/dvd.ts';
import { RecordingRunner } from '../../src/util/exec.ts';
import { Sysroot } from '../../src/util/sysroot.ts';
import { writeUdfImage } from '../helpers/udf-image.ts';

test('the fabric simulator\'s ovf-env.xml, read off a UDF DVD in user space, parses as the scenario says', async () => {
  const tmp = mkdtempSync(join(tmpdir(), 'ovfenv-fabric-'));
  try {
    const scenario = {
      name: 'ovfenv-contract',
      vm: {
        vmId: '11111111-2222-4333-8444-555555555555', containerId: '66666666-7777-4888-9999-000000000000',
        roleName: 'box-vm1', hostname: 'box-vm1', location: 'westeurope', vmSize: 'Standard_D2s_v5',
      },
      user: { name: 'alice', password: 'Fabric-Pa55word!', disableSshPasswordAuthentication: false },
      sshKeys: [
        { id: 'k-inline', ovf: 'inline', imds: true },
        { id: 'k-thumb', ovf: 'thumbprint', imds: false },
      ],
      customData: '#!/bin/sh\necho custom\n',
      provisionGuestAgent: true,
      extensions: [],
    };
    const text = await renderOvfEnv(scenario, join(tmp, 'fabric'));
    const root = new Sysroot(join(tmp, 'root'));
    mkdirSync(root.path('/dev'), { recursive: true });
    writeUdfImage(root.path('/dev/sr0'), { 'ovf-env.xml': text });
    const runner = new RecordingRunner().answer('mount', { code: 32, stderr: 'unknown filesystem type' });
    const media = await readProvisioningMedia({ root, runner, attempts: 1 });
    assert.equal(media.via, 'udf');
    assert.equal(media.text, text);

    const ovf = parseOvfEnv(media.text);
    assert.equal(ovf.hostname, 'box-vm1');
    assert.equal(ovf.username, 'alice');
    assert.equal(ovf.password, 'Fabric-Pa55word!');
    assert.equal(ovf.disableSshPasswordAuthentication, false);
    assert.equal(ovf.provisionGuestAgent, true);
    assert.equal(ovf.publicKeys.length, 2);
    const [inline, thumb] = ovf.publicKeys;
    assert.match(inline!.value!, /^ssh-rsa AAAA\S+/);
    assert.equal(inline!.fingerprint, undefined, 'an empty <Fingerprint/> is absent');
    assert.match(thumb!.fingerprint!, /^[0-9A-F]{40}$/);
    assert.equal(thumb!.value, undefined);
    for (const k of ovf.publicKeys) assert.equal(k.resolvedPath, '/home/alice/.ssh/authorized_keys');
    assert.equal(decodeCustomData(ovf.customData!).toString(), '#!/bin/sh\necho custom\n');

    const copy = redactedCopy(media.text, ovf.password);
    assert.ok(!copy.includes('Fabric-Pa55word!'));
    assert.ok(copy.includes('<UserPassword>*</UserPassword>'));
  } finally {
    rmSync(tmp, { recursive: true, force: true });
  }
});
