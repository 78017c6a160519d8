// The crypto layer's error: a certificate, key or PEM/DER text that is malformed or unusable, or a tool
// (openssl, ssh-keygen) that failed on it. Messages name what was wrong, never the secret itself.
import { AgentError } from '../util/errors.ts';

export class CryptoError extends AgentError {
  static override readonly errorName: string = 'CryptoError';
}
