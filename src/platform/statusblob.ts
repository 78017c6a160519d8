// Status blob upload (docs/protocol.md §1.13.2): HostGAPlugin /status first; on 410 / InvalidContainerConfiguration
// stop (the caller refreshes the goal state) without a direct attempt; on any other failure PUT directly to
// the SAS URL (storage traffic: proxy honoured) as BlockBlob or PageBlob. Only a successful upload counts.
import type { StatusUploadBlob, StatusUploadOutcome } from './types.ts';
import type { HttpTransport } from './http.ts';
import { GoalStateChangedError, HttpError } from './errors.ts';
import { DEFAULT_POLICY, realClock, sendWithRetry, type Clock, type RetryPolicy } from './retry.ts';
import { BLOB_API_VERSION, PAGE_CHUNK, blobDate, pageAlign, withQuery, type HostPluginClient } from './hostplugin.ts';
import { log } from '../util/logger.ts';
import { errorText } from '../util/errors.ts';

export interface UploadOptions {
  blob: StatusUploadBlob;
  /** The aggregate status JSON (ASCII after the builder's escaping; lengths are byte lengths anyway). */
  status: string | Uint8Array;
  /** null/undefined: direct only. */
  hgap?: HostPluginClient | null;
  transport: HttpTransport;
  clock?: Clock;
  policy?: RetryPolicy;
  now?: Date;
}

export async function uploadStatus(o: UploadOptions): Promise<StatusUploadOutcome> {
  const data = typeof o.status === 'string' ? Buffer.from(o.status, 'utf8') : Buffer.from(o.status);
  const date = blobDate(o.now ?? new Date());
  const outcome: StatusUploadOutcome = { ok: false, blobType: o.blob.type, attempts: [], goalStateChanged: false };
  if (o.hgap) {
    try {
      await o.hgap.putStatus(o.blob.url, o.blob.type, data, date);
      outcome.attempts.push({ channel: 'HostGAPlugin', ok: true, detail: 'uploaded' });
      outcome.ok = true;
      outcome.channel = 'HostGAPlugin';
      return outcome;
    } catch (e) {
      outcome.attempts.push({ channel: 'HostGAPlugin', ok: false, detail: errorText(e) });
      if (e instanceof GoalStateChangedError) {
        outcome.goalStateChanged = true;
        return outcome;
      }
      log.verbose(`status via HostGAPlugin failed, trying direct: ${errorText(e)}`);
    }
  }
  try {
    await putDirect(o.transport, o.blob, data, date, o.policy ?? DEFAULT_POLICY, o.clock ?? realClock);
    outcome.attempts.push({ channel: 'Direct', ok: true, detail: 'uploaded' });
    outcome.ok = true;
    outcome.channel = 'Direct';
  } catch (e) {
    outcome.attempts.push({ channel: 'Direct', ok: false, detail: errorText(e) });
    if (e instanceof GoalStateChangedError) outcome.goalStateChanged = true;
  }
  return outcome;
}

async function put(transport: HttpTransport, url: string, headers: Record<string, string>, body: Buffer, policy: RetryPolicy, clock: Clock): Promise<void> {
  const res = await sendWithRetry(transport, { method: 'PUT', url, doc: 'StatusBlob', headers, body, useProxy: true }, policy, clock);
  // Storage answers 201 Created; 200/202 would mean something that is not a blob store accepted it.
  if (res.status !== 201) throw new HttpError('StatusBlob', `expected 201, got ${res.status}`, res.status, 1);
}

/** Direct PUT(s) to the SAS URL. Page blobs are padded with zero bytes (the HGAP path pads with spaces). */
export async function putDirect(transport: HttpTransport, blob: StatusUploadBlob, data: Buffer, date: string, policy: RetryPolicy = DEFAULT_POLICY, clock: Clock = realClock): Promise<void> {
  if (blob.type === 'BlockBlob') {
    await put(transport, blob.url, {
      'Content-Length': String(data.length), 'x-ms-blob-type': 'BlockBlob', 'x-ms-date': date, 'x-ms-version': BLOB_API_VERSION,
    }, data, policy, clock);
    return;
  }
  const size = pageAlign(data.length);
  await put(transport, blob.url, {
    'Content-Length': '0', 'x-ms-blob-content-length': String(size), 'x-ms-blob-type': 'PageBlob', 'x-ms-date': date, 'x-ms-version': BLOB_API_VERSION,
  }, Buffer.alloc(0), policy, clock);
  const padded = Buffer.alloc(size, 0);
  data.copy(padded);
  for (let start = 0; start < size; start += PAGE_CHUNK) {
    const chunk = padded.subarray(start, Math.min(size, start + PAGE_CHUNK));
    await put(transport, withQuery(blob.url, 'comp=page'), {
      'Content-Length': String(chunk.length), 'x-ms-date': date, 'x-ms-range': `bytes=${start}-${start + chunk.length - 1}`,
      'x-ms-page-write': 'update', 'x-ms-version': BLOB_API_VERSION,
    }, chunk, policy, clock);
  }
}
