import { test } from 'node:test';
import assert from 'node:assert/strict';
import { sendWithRetry, backoffDelay, DEFAULT_POLICY, TELEMETRY_POLICY, NO_RETRY, type RetryPolicy } from '../../src/platform/retry.ts';
import { GoalStateChangedError, HttpError, TransportError, BodyTooLargeError } from '../../src/platform/errors.ts';
import type { HttpRequest, HttpResponse, HttpTransport } from '../../src/platform/http.ts';
import { FakeClock } from '../helpers/clock.ts';

/** A fake clock: sleeping advances time instantly and records each delay. */
type Step = number | 'reset' | 'big' | { status: number; body: string };
class Script implements HttpTransport {
  calls: HttpRequest[] = [];
  steps: Step[];
  constructor(steps: Step[]) { this.steps = steps; }
  async send(req: HttpRequest): Promise<HttpResponse> {
    this.calls.push(req);
    const s = this.steps.length > 1 ? this.steps.shift()! : this.steps[0]!;
    if (s === 'reset') throw new TransportError(req.doc, 'GET x failed: ECONNRESET: socket hang up', 'ECONNRESET');
    if (s === 'big') throw new BodyTooLargeError(req.doc, 10);
    if (typeof s === 'number') return { status: s, headers: {}, body: Buffer.from(`status ${s}`) };
    return { status: s.status, headers: {}, body: Buffer.from(s.body) };
  }
}
const req: HttpRequest = { method: 'GET', url: 'http://127.0.0.1:1/x', doc: 'GoalState' };

test('retries retryable codes and transport errors, returns the first success', async () => {
  const clock = new FakeClock();
  const t = new Script([503, 'reset', 500, 200]);
  const res = await sendWithRetry(t, req, DEFAULT_POLICY, clock);
  assert.equal(res.status, 200);
  assert.equal(t.calls.length, 4);
  assert.equal(clock.sleeps.length, 3);
});

test('non-retryable statuses are returned to the caller at once', async () => {
  for (const code of [404, 304, 408, 400]) {
    const t = new Script([code]);
    const res = await sendWithRetry(t, req, DEFAULT_POLICY, new FakeClock());
    assert.equal(res.status, code);
    assert.equal(t.calls.length, 1);
  }
});

test('410 and 400 InvalidContainerConfiguration become GoalStateChangedError without retrying', async () => {
  for (const step of [410, { status: 400, body: '<Error><Code>InvalidContainerConfiguration</Code></Error>' }] as Step[]) {
    const t = new Script([step]);
    await assert.rejects(sendWithRetry(t, req, DEFAULT_POLICY, new FakeClock()), GoalStateChangedError);
    assert.equal(t.calls.length, 1);
  }
});

test('attempts are bounded; the error counts them and keeps the last status', async () => {
  const clock = new FakeClock();
  const t = new Script([500]);
  await assert.rejects(sendWithRetry(t, req, DEFAULT_POLICY, clock), (e: unknown) => e instanceof HttpError && e.status === 500 && e.attempts === 6 && /6 attempts made/.test(e.message));
  assert.equal(t.calls.length, 6);
  // exponential with full jitter at random()=0.5, the 5th capped by maxDelayMs (15 s)
  assert.deepEqual(clock.sleeps, [500, 1000, 2000, 4000, 7500]);
});

test('transport errors exhausted give a TransportError with the attempt count', async () => {
  const t = new Script(['reset']);
  await assert.rejects(sendWithRetry(t, req, DEFAULT_POLICY, new FakeClock()), (e: unknown) => e instanceof TransportError && /6 attempts made/.test(e.message) && e.code === 'ECONNRESET');
});

test('total time is bounded as well as attempts', async () => {
  const clock = new FakeClock({ random: 0.999 });
  const policy: RetryPolicy = { ...DEFAULT_POLICY, maxAttempts: 100, maxTotalMs: 10_000, baseDelayMs: 1_000, maxDelayMs: 4_000 };
  const t = new Script([502]);
  await assert.rejects(sendWithRetry(t, req, policy, clock), HttpError);
  const total = clock.sleeps.reduce((a, b) => a + b, 0);
  assert.ok(total <= 10_000, `slept ${total}`);
  assert.ok(t.calls.length < 10);
});

test('throttling (429/503/403) slows down with its own cap and allows more attempts', async () => {
  const clock = new FakeClock({ random: 1 });
  const policy: RetryPolicy = { ...DEFAULT_POLICY, maxTotalMs: 10_000_000 };
  const t = new Script([429]);
  await assert.rejects(sendWithRetry(t, req, policy, clock), HttpError);
  assert.equal(t.calls.length, policy.throttleMaxAttempts);
  assert.ok(clock.sleeps.every((s) => s <= policy.throttleMaxDelayMs));
  assert.ok(clock.sleeps.at(-1)! === policy.throttleMaxDelayMs, 'delay grows to the cap');
  assert.ok(clock.sleeps[0]! >= policy.throttleDelayMs / 2, 'throttled delays never drop to ~0');
  // telemetry: throttling does not buy extra attempts
  const t2 = new Script([429]);
  await assert.rejects(sendWithRetry(t2, req, TELEMETRY_POLICY, new FakeClock()), HttpError);
  assert.equal(t2.calls.length, TELEMETRY_POLICY.maxAttempts);
});

test('body too large is not retried; NO_RETRY makes one attempt', async () => {
  const t = new Script(['big']);
  await assert.rejects(sendWithRetry(t, req, DEFAULT_POLICY, new FakeClock()), BodyTooLargeError);
  assert.equal(t.calls.length, 1);
  const t2 = new Script([503]);
  await assert.rejects(sendWithRetry(t2, req, NO_RETRY, new FakeClock()), HttpError);
  assert.equal(t2.calls.length, 1);
});

test('backoff: full jitter within [0, cap], cap grows then saturates', () => {
  for (let a = 1; a < 10; a++) {
    assert.equal(backoffDelay(DEFAULT_POLICY, a, 0, () => 0), 0);
    const hi = backoffDelay(DEFAULT_POLICY, a, 0, () => 1);
    assert.equal(hi, Math.min(DEFAULT_POLICY.maxDelayMs, DEFAULT_POLICY.baseDelayMs * 2 ** (a - 1)));
  }
});
