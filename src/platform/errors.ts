// Typed errors of the platform layer. Each names the document (or endpoint) and, where it applies, the
// element or field, so a log line says what was wrong without dumping the (possibly secret) content.
import { redact } from '../util/logger.ts';
import { AgentError } from '../util/errors.ts';

export class ProtocolError extends AgentError {
  static override readonly errorName: string = 'ProtocolError';
  /** Document or endpoint name, e.g. 'GoalState', 'ExtensionsConfig', 'vmSettings', 'HostGAPlugin /status'. */
  readonly doc: string;
  constructor(doc: string, message: string) {
    // Credentials in a URL (a proxy's user:password@) never reach a message either.
    super(redact(`${doc}: ${message}`).replace(/(\b[a-z][a-z0-9+.-]{0,31}:\/\/)[^\s/@]{1,1024}@/gi, '$1***@'));
    this.doc = doc;
  }
}

/** Bad content: malformed XML/JSON, a missing element, a wrong type. */
export class DocumentError extends ProtocolError {
  static override readonly errorName: string = 'DocumentError';
  readonly element: string | undefined;
  constructor(doc: string, message: string, element?: string) {
    super(doc, element ? `${message} (element ${element})` : message);
    this.element = element;
  }
}

/** Connection-level failure: refused, reset, timeout, truncated body. Retryable. */
export class TransportError extends ProtocolError {
  static override readonly errorName: string = 'TransportError';
  readonly code: string;
  constructor(doc: string, message: string, code = 'ETRANSPORT') {
    super(doc, message);
    this.code = code;
  }
}

/** The response body passed its cap. Not retryable: asking again gives the same body. */
export class BodyTooLargeError extends ProtocolError {
  static override readonly errorName: string = 'BodyTooLargeError';
  readonly limit: number;
  constructor(doc: string, limit: number) {
    super(doc, `response body is larger than the limit of ${limit} bytes`);
    this.limit = limit;
  }
}

/** An HTTP answer that is not a success, after the retry policy gave up or decided not to retry. */
export class HttpError extends ProtocolError {
  static override readonly errorName: string = 'HttpError';
  readonly status: number | undefined;
  readonly attempts: number;
  constructor(doc: string, message: string, status: number | undefined, attempts: number) {
    super(doc, attempts > 1 ? `${message} -- ${attempts} attempts made` : message);
    this.status = status;
    this.attempts = attempts;
  }
}

/**
 * 410 Gone, or 400 with InvalidContainerConfiguration: the container id / config name the request carried are
 * stale. The caller re-fetches the WireServer goal state (refreshing them) and retries ONCE.
 */
export class GoalStateChangedError extends ProtocolError {
  static override readonly errorName: string = 'GoalStateChangedError';
  readonly status: number;
  constructor(doc: string, status: number) {
    super(doc, status === 410 ? 'resource gone (410): the goal state changed' : 'InvalidContainerConfiguration (400): the goal state changed');
    this.status = status;
  }
}

/** IMDS is optional: absent / unreachable gives this, and callers fall back to other sources. */
export class ImdsUnavailableError extends ProtocolError {
  static override readonly errorName: string = 'ImdsUnavailableError';
  constructor(message: string) {
    super('IMDS', message);
  }
}

/** The Certificates document could not be turned into cert/key files. Nothing already saved is touched. */
export class CertificateError extends ProtocolError {
  static override readonly errorName: string = 'CertificateError';
  constructor(message: string) {
    super('Certificates', message);
  }
}
