// The storage account behind StatusUploadBlob: BlockBlob and PageBlob PUTs with the checks Azure
// Storage makes (blob type, page alignment, ranges inside the blob, lengths), keeping every status
// the VM wrote. Used by direct PUTs and by HostGAPlugin's /status (which forwards the same headers).

export type Channel = 'direct' | 'hgap';

export interface StatusUpload {
  seq: number;
  time: string;
  channel: Channel;
  blobType: 'BlockBlob' | 'PageBlob';
  /** The blob's text after this write (page blobs: trailing NUL/space padding removed). */
  text: string;
  /** Parsed JSON when the text is JSON, else undefined. */
  json?: unknown;
  /**
   * Where the document strays from the aggregate-status shape (not JSON, not ASCII, version, agent
   * version, …). Kept per upload, not as violations: transport tests may upload any bytes.
   */
  problems: string[];
}

export interface BlobAnswer {
  status: number;
  body: string;
  /** Protocol slips real storage would let pass (or CRP would choke on): missing headers, a status that is not what the spec says. */
  notes: string[];
  /** Set when a complete status document was written (Block PUT or a page write). */
  upload?: StatusUpload;
}

const MAX_BLOB = 16 << 20;

function storageError(status: number, code: string, message: string): BlobAnswer {
  return {
    status,
    body: `<?xml version="1.0" encoding="utf-8"?><Error><Code>${code}</Code><Message>${message}</Message></Error>`,
    notes: [],
  };
}

/** Header lookup, case-insensitive (HGAP envelopes carry names as the agent spelled them). */
export function header(h: Record<string, string>, name: string): string | undefined {
  const k = Object.keys(h).find((n) => n.toLowerCase() === name.toLowerCase());
  return k === undefined ? undefined : h[k];
}

export class StatusBlobStore {
  private blob: { type: 'BlockBlob' | 'PageBlob'; data: Buffer } | undefined;
  private readonly uploads: StatusUpload[] = [];
  private seq = 0;

  readonly path: string;
  readonly sig: string;

  constructor(path: string, sig: string) {
    this.path = path;
    this.sig = sig;
  }

  all(): StatusUpload[] {
    return this.uploads.slice();
  }

  /** Handles a PUT to the status blob URL (path without query, query params, headers, body). */
  put(pathname: string, query: URLSearchParams, headers: Record<string, string>, body: Buffer, channel: Channel): BlobAnswer {
    if (pathname !== this.path) return storageError(404, 'ContainerNotFound', 'The specified container does not exist.');
    if (query.get('sig') !== this.sig) return storageError(403, 'AuthenticationFailed', 'Server failed to authenticate the request.');
    const notes: string[] = [];
    if (!header(headers, 'x-ms-version')) notes.push(`${channel}: status blob PUT without x-ms-version`);
    if (!header(headers, 'x-ms-date')) notes.push(`${channel}: status blob PUT without x-ms-date`);
    const a = this.putChecked(query, headers, body, channel);
    a.notes.unshift(...notes);
    return a;
  }

  private putChecked(query: URLSearchParams, headers: Record<string, string>, body: Buffer, channel: Channel): BlobAnswer {
    const cl = header(headers, 'content-length');
    if (cl === undefined) return storageError(411, 'MissingContentLengthHeader', 'Content-Length is required.');
    if (!/^\d+$/.test(cl) || Number(cl) !== body.length) {
      return storageError(400, 'InvalidHeaderValue', `Content-Length ${cl ?? '(missing)'} does not match the body (${body.length} bytes).`);
    }
    const comp = query.get('comp');
    if (comp === 'page') return this.putPage(headers, body, channel);
    if (comp !== null) return storageError(400, 'InvalidQueryParameterValue', `comp=${comp} is not supported here.`);
    const type = header(headers, 'x-ms-blob-type');
    if (type === 'BlockBlob') {
      if (body.length > MAX_BLOB) return storageError(413, 'RequestBodyTooLarge', 'The request body is too large.');
      this.blob = { type: 'BlockBlob', data: Buffer.from(body) };
      return { status: 201, body: '', ...this.record('BlockBlob', body, channel) };
    }
    if (type === 'PageBlob') {
      if (body.length !== 0) return storageError(400, 'InvalidHeaderValue', 'A PageBlob create has no body.');
      const len = header(headers, 'x-ms-blob-content-length');
      if (len === undefined || !/^\d+$/.test(len)) return storageError(400, 'MissingRequiredHeader', 'x-ms-blob-content-length is required.');
      const n = Number(len);
      if (n % 512 !== 0) return storageError(400, 'InvalidHeaderValue', 'x-ms-blob-content-length must be a multiple of 512.');
      if (n > MAX_BLOB) return storageError(400, 'InvalidHeaderValue', 'x-ms-blob-content-length too large for this simulator.');
      this.blob = { type: 'PageBlob', data: Buffer.alloc(n) };
      return { status: 201, body: '', notes: [] };
    }
    return storageError(400, 'MissingRequiredHeader', `x-ms-blob-type must be BlockBlob or PageBlob, got ${type ?? '(missing)'}.`);
  }

  private putPage(headers: Record<string, string>, body: Buffer, channel: Channel): BlobAnswer {
    if (!this.blob || this.blob.type !== 'PageBlob') return storageError(409, 'InvalidBlobType', 'The blob is not a page blob (create it first).');
    const write = header(headers, 'x-ms-page-write');
    if (write !== 'update') return storageError(400, 'InvalidHeaderValue', `x-ms-page-write must be "update", got ${write ?? '(missing)'}.`);
    const range = header(headers, 'x-ms-range') ?? header(headers, 'range');
    const m = range ? /^bytes=(\d+)-(\d+)$/.exec(range) : null;
    if (!m) return storageError(400, 'InvalidHeaderValue', `x-ms-range must be bytes=S-E, got ${range ?? '(missing)'}.`);
    const start = Number(m[1]);
    const end = Number(m[2]);
    if (start % 512 !== 0 || (end + 1) % 512 !== 0 || end < start) {
      return storageError(416, 'InvalidPageRange', `The page range ${start}-${end} is not 512-byte aligned.`);
    }
    if (end >= this.blob.data.length) return storageError(416, 'InvalidPageRange', 'The page range exceeds the blob size.');
    if (body.length !== end - start + 1) return storageError(400, 'InvalidHeaderValue', 'The body length does not match x-ms-range.');
    if (body.length > 4 << 20) return storageError(413, 'RequestBodyTooLarge', 'A page write is at most 4 MiB.');
    body.copy(this.blob.data, start);
    return { status: 201, body: '', ...this.record('PageBlob', this.blob.data, channel) };
  }

  private record(blobType: 'BlockBlob' | 'PageBlob', data: Buffer, channel: Channel): { upload: StatusUpload; notes: string[] } {
    let end = data.length;
    if (blobType === 'PageBlob') while (end > 0 && (data[end - 1] === 0 || data[end - 1] === 0x20)) end--;
    const text = data.subarray(0, end).toString('utf8');
    const u: StatusUpload = { seq: ++this.seq, time: new Date().toISOString(), channel, blobType, text, problems: [] };
    try {
      u.json = JSON.parse(text);
      u.problems.push(...checkStatusDocument(u.json));
    } catch {
      u.problems.push('status blob: not JSON');
    }
    if (/[^\x00-\x7f]/.test(text)) u.problems.push('status blob: not pure ASCII (non-ASCII must be \\u-escaped)');
    this.uploads.push(u);
    if (this.uploads.length > 10_000) this.uploads.splice(0, this.uploads.length - 10_000);
    return { upload: u, notes: [] };
  }
}

/** The aggregate status shape of docs/protocol.md 1.13.1 / docs/extensions.md 5.4, as far as CRP depends on it. */
export function checkStatusDocument(doc: unknown): string[] {
  const out: string[] = [];
  const o = doc as { version?: unknown; timestampUTC?: unknown; aggregateStatus?: { guestAgentStatus?: { version?: unknown; status?: unknown }; handlerAggregateStatus?: unknown } };
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return ['status blob: not a JSON object'];
  if (o.version !== '1.1') out.push(`status blob: version is ${JSON.stringify(o.version)}, expected "1.1"`);
  if (typeof o.timestampUTC !== 'string' || !/^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$/.test(o.timestampUTC)) out.push('status blob: timestampUTC is not %Y-%m-%dT%H:%M:%SZ');
  const ga = o.aggregateStatus?.guestAgentStatus;
  if (!ga) return [...out, 'status blob: no aggregateStatus.guestAgentStatus'];
  const v = typeof ga.version === 'string' ? ga.version.split('.').map(Number) : [];
  const min = [2, 2, 53];
  const cmp = v.length === 4 && v.every(Number.isInteger) ? (v[0]! - min[0]! || v[1]! - min[1]! || v[2]! - min[2]!) : -1;
  if (cmp < 0) out.push(`status blob: guestAgentStatus.version ${JSON.stringify(ga.version)} is not a four-part version >= 2.2.53`);
  if (ga.status !== 'Ready' && ga.status !== 'NotReady') out.push(`status blob: guestAgentStatus.status is ${JSON.stringify(ga.status)}`);
  if (!Array.isArray(o.aggregateStatus?.handlerAggregateStatus)) out.push('status blob: handlerAggregateStatus is not a list');
  return out;
}
