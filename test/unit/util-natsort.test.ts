// naturalCompare: device names in natural order without an ICU collator.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { naturalCompare } from '../../src/util/natsort.ts';

test('digit runs compare as numbers, the rest byte-wise; the order is total', () => {
  const names = ['sr10', 'sr2', 'sda', 'sdb10', 'sdb2', 'nvme0n10', 'nvme0n2', 'nvme1n1', 'sr02', 'hdc', 'sr', '', 'sr1a', 'sr1'];
  assert.deepEqual([...names].sort(naturalCompare),
    ['', 'hdc', 'nvme0n2', 'nvme0n10', 'nvme1n1', 'sda', 'sdb2', 'sdb10', 'sr', 'sr1', 'sr1a', 'sr2', 'sr02', 'sr10']);
  assert.equal(naturalCompare('sr2', 'sr2'), 0);
  assert.ok(naturalCompare('sr99999999999999999999', 'sr100000000000000000000') < 0, 'numbers longer than a double');
  for (const a of names) for (const b of names) assert.equal(Math.sign(naturalCompare(a, b)) + Math.sign(naturalCompare(b, a)), 0, `${a} vs ${b}`);
});
