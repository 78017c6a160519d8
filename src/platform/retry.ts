// Our retry policy for platform HTTP (docs/protocol.md §4, made bounded on purpose): a cap on attempts AND on
// total time, exponential backoff with full jitter, the spec's retry codes, a slower throttle mode for
// 403/429/503 with its own cap, and 410 / 400 InvalidContainerConfiguration turned into a typed
// GoalStateChangedError (the caller refreshes the goal state and retries once; blind retries cannot help).
// Clock, sleep and randomness are injected so unit tests run on a fake clock.
import { countIoError } from './ioerrors.ts';
import { bodyText, isOk, type HttpRequest, type HttpResponse, type HttpTransport } from './http.ts';
import { BodyTooLargeError, GoalStateChangedError, HttpError, TransportError } from './errors.ts';
import { log } from '../util/logger.ts';

export interface Clock {
  now(): number;
  sleep(ms: number): Promise<void>;
  /** Uniform in [0, 1). */
  random(): number;
}

export const realClock: Clock = {
  now: () => Date.now(),
  sleep: (ms) => new Promise((r) => setTimeout(r, ms)),
  random: () => Math.random(),
};

export interface RetryPolicy {
  /** Attempts (not retries), at least 1. */
  maxAttempts: number;
  /** No new attempt starts (and no sleep begins) that would end later than this after the first attempt. */
  maxTotalMs: number;
  /** Backoff before attempt k+1 = random() * min(maxDelayMs, baseDelayMs * 2^(k-1)). */
  baseDelayMs: number;
  maxDelayMs: number;
  /** Statuses that are retried. */
  retryCodes: ReadonlySet<number>;
  /** Subset of codes that mean "slow down": once seen, the throttle parameters below apply. */
  throttleCodes: ReadonlySet<number>;
  /** Attempts allowed once throttled (Python raises to 25; 0 = keep maxAttempts, e.g. telemetry). */
  throttleMaxAttempts: number;
  /** Throttled backoff = throttleDelayMs * 2^(n-1) capped at throttleMaxDelayMs, half fixed, half jitter. */
  throttleDelayMs: number;
  throttleMaxDelayMs: number;
  /** IMDS: 410 is an ordinary retryable answer there, not "the goal state changed". */
  goneIsRetryable?: boolean;
}

export const RETRY_CODES: ReadonlySet<number> = new Set([205, 206, 403, 429, 500, 501, 502, 503, 504, 507]);
export const THROTTLE_CODES: ReadonlySet<number> = new Set([403, 429, 503]);

export const DEFAULT_POLICY: RetryPolicy = {
  maxAttempts: 6,
  maxTotalMs: 90_000,
  baseDelayMs: 1_000,
  maxDelayMs: 15_000,
  retryCodes: RETRY_CODES,
  throttleCodes: THROTTLE_CODES,
  throttleMaxAttempts: 12,
  throttleDelayMs: 2_000,
  throttleMaxDelayMs: 30_000,
};

/** HGAP /extensionArtifact for manifests: the plugin's cache answers 400 transiently (§2.5). */
export const ARTIFACT_POLICY: RetryPolicy = { ...DEFAULT_POLICY, retryCodes: new Set([...RETRY_CODES, 400]) };

/** Telemetry: few attempts, throttling slows it down but does not buy more attempts (§1.12). */
export const TELEMETRY_POLICY: RetryPolicy = {
  ...DEFAULT_POLICY, maxAttempts: 3, maxTotalMs: 30_000, throttleMaxAttempts: 0, throttleDelayMs: 8_000, throttleMaxDelayMs: 8_000,
};

/**
 * Health reports: the Python agent allows 30 attempts with Fibonacci delays from 15 s (hours). We cap the
 * whole report at 5 minutes, which is what its own comment intended.
 */
export const HEALTH_POLICY: RetryPolicy = { ...DEFAULT_POLICY, maxAttempts: 30, maxTotalMs: 300_000, baseDelayMs: 2_000, maxDelayMs: 30_000, throttleMaxAttempts: 30 };

/** One attempt, nothing retried (vmSettings: the next poll is the retry). */
export const NO_RETRY: RetryPolicy = { ...DEFAULT_POLICY, maxAttempts: 1, throttleMaxAttempts: 0 };

export function isInvalidContainer(res: HttpResponse): boolean {
  return res.status === 400 && bodyText(res).includes('InvalidContainerConfiguration');
}

/** Delay before attempt `attempt + 1` (attempt counts from 1). Pure, for tests. */
export function backoffDelay(policy: RetryPolicy, attempt: number, throttledCount: number, random: () => number): number {
  if (throttledCount > 0) {
    const cap = Math.min(policy.throttleMaxDelayMs, policy.throttleDelayMs * 2 ** Math.min(throttledCount - 1, 30));
    return Math.round(cap / 2 + random() * (cap / 2));
  }
  const cap = Math.min(policy.maxDelayMs, policy.baseDelayMs * 2 ** Math.min(attempt - 1, 30));
  return Math.round(random() * cap);
}

/**
 * Sends `req` under `policy`. Returns the first OK (200/201/202) response, or the first response whose status
 * is neither OK nor retryable (e.g. 304, 404: the caller decides). Throws GoalStateChangedError on 410 /
 * InvalidContainerConfiguration, BodyTooLargeError at once, and HttpError / TransportError when the budget
 * (attempts or time) is spent.
 */
export async function sendWithRetry(transport: HttpTransport, req: HttpRequest, policy: RetryPolicy = DEFAULT_POLICY, clock: Clock = realClock): Promise<HttpResponse> {
  const start = clock.now();
  let attempts = 0;
  let limit = Math.max(1, policy.maxAttempts);
  let throttled = 0;
  let last: string = 'no attempt made';
  let lastStatus: number | undefined;
  let lastTransport: TransportError | null = null;
  for (;;) {
    attempts++;
    let res: HttpResponse | null = null;
    try {
      res = await transport.send(req);
    } catch (e) {
      if (e instanceof BodyTooLargeError || !(e instanceof TransportError)) throw e;
      lastTransport = e;
      countIoError(req.url);
      last = e.message;
      lastStatus = undefined;
    }
    if (res) {
      if (isOk(res.status)) return res;
      const gone = res.status === 410 || isInvalidContainer(res);
      if (gone && !policy.goneIsRetryable) throw new GoalStateChangedError(req.doc, res.status);
      if (!policy.retryCodes.has(res.status) && !gone) return res;
      lastTransport = null;
      countIoError(req.url);
      lastStatus = res.status;
      last = `${req.method} answered ${res.status}`;
      if (policy.throttleCodes.has(res.status)) {
        throttled++;
        if (policy.throttleMaxAttempts > 0) limit = Math.max(limit, policy.throttleMaxAttempts);
      }
    }
    if (attempts >= limit) break;
    const delay = backoffDelay(policy, attempts, throttled, () => clock.random());
    if (clock.now() - start + delay > policy.maxTotalMs) break;
    log.verbose(`${req.doc}: ${last}; retrying in ${delay} ms (attempt ${attempts + 1} of at most ${limit})`);
    await clock.sleep(delay);
  }
  if (lastTransport && attempts === 1) throw lastTransport;
  if (lastTransport) throw new TransportError(req.doc, `${lastTransport.message.replace(/^[^:]*: /, '')} -- ${attempts} attempts made`, lastTransport.code);
  throw new HttpError(req.doc, last, lastStatus, attempts);
}

/** Throws an HttpError unless the response is 200/201/202 (or one of `also`). */
export function expectOk(res: HttpResponse, doc: string, also: number[] = []): HttpResponse {
  if (isOk(res.status) || also.includes(res.status)) return res;
  throw new HttpError(doc, `unexpected HTTP status ${res.status}`, res.status, 1);
}
