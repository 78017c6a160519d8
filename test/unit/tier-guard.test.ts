// The unit tier's promise is enforced, not only stated: in a file under test/unit/, starting a child
// process or opening a socket throws (test/helpers/unit-guard.ts, loaded by scripts/run-tests.mjs).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { createConnection, createServer } from 'node:net';
import { childProcess } from '../../src/util/builtins.ts';

test('unit tier: child processes are refused, also through the lazily loaded builtin', () => {
  assert.throws(() => execFileSync('true'), /unit tier: child_process\.execFileSync is not allowed/);
  assert.throws(() => spawn('true'), /unit tier: child_process\.spawn is not allowed/);
  assert.throws(() => childProcess().spawn('true'), /unit tier: child_process\.spawn is not allowed/);
});

test('unit tier: sockets are refused (no listening, no connecting)', () => {
  assert.throws(() => createServer().listen(0, '127.0.0.1'), /unit tier: listening on a socket is not allowed/);
  assert.throws(() => createConnection({ host: '127.0.0.1', port: 9 }), /unit tier: connecting a socket is not allowed/);
});
