import { test } from 'node:test';
import assert from 'node:assert/strict';
import { configFromText, defaultConfig } from '../../src/config/config.ts';
import { resourceDiskConfig } from '../../src/resourcedisk/index.ts';

test('waagent.conf → resource disk settings: table defaults', () => {
  assert.deepEqual(resourceDiskConfig(defaultConfig()), {
    format: false, filesystem: 'ext3', mountPoint: '/mnt/resource', mountOptions: null,
    enableSwap: false, swapSizeMB: 0, enableNvme: false,
  });
});

test('waagent.conf → resource disk settings: a shipped-style file, None and empty options mean no -o', () => {
  const c = configFromText([
    'ResourceDisk.Format=y', 'ResourceDisk.Filesystem=ext4', 'ResourceDisk.MountPoint=/mnt/resource',
    'ResourceDisk.EnableSwap=y', 'ResourceDisk.SwapSizeMB=2048', 'ResourceDisk.MountOptions=None', 'ResourceDisk.EnableNvme=y', '',
  ].join('\n'), 'test.conf');
  assert.deepEqual(resourceDiskConfig(c), {
    format: true, filesystem: 'ext4', mountPoint: '/mnt/resource', mountOptions: null,
    enableSwap: true, swapSizeMB: 2048, enableNvme: true,
  });
  assert.equal(resourceDiskConfig(configFromText('ResourceDisk.MountOptions=\n', 't')).mountOptions, null);
  assert.equal(resourceDiskConfig(configFromText('ResourceDisk.MountOptions=nodev,nosuid # inline\n', 't')).mountOptions, 'nodev,nosuid');
});
