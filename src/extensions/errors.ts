// The extension handler's error vocabulary. The class name is part of the reported message
// ("[ExtensionOperationError] Non-zero exit code: 1, ...") because the Python agent's str(error) is what
// CRP and users have always seen, and the numeric codes are CRP's terminal error codes.
import { AgentError, errorText } from '../util/errors.ts';

/** CRP error codes (docs/extensions.md §3.5, §3.6, §4.4, §5.2). */
export const ErrorCodes = {
  Unknown: -1,
  Success: 0,
  PluginProcessingError: 1000,
  PluginManifestDownloadError: 1001,
  PluginHandlerManifestNotFound: 1002,
  PluginHandlerManifestDeserializationError: 1003,
  PluginInstallProcessingFailed: 1007,
  PluginUpdateProcessingFailed: 1008,
  PluginEnableProcessingFailed: 1009,
  PluginDisableProcessingFailed: 1010,
  PluginHandlerScriptTimedout: 1011,
  PluginSettingsStatusInvalid: 1012,
  GoalStateUnsupportedRequiredFeatures: 2001,
} as const;

export class ExtensionError extends AgentError {
  static override readonly errorName: string = 'ExtensionError';
  /** The CRP code an instance gets when the thrower names none. */
  static readonly defaultCode: number = ErrorCodes.Unknown;
  readonly code: number;
  constructor(message: string, code?: number) {
    super(message);
    this.code = code ?? (new.target as typeof ExtensionError).defaultCode;
  }
  /** What the Python agent's str(error) printed: "[ClassName] message". Used as the handler status message. */
  describe(): string {
    return `[${this.name}] ${this.message}`;
  }
}

/** A command ran and exited non-zero; `exitCode` is handed to later commands during an upgrade. */
export class ExtensionOperationError extends ExtensionError {
  static override readonly errorName: string = 'ExtensionOperationError';
  readonly exitCode: number;
  constructor(message: string, code: number, exitCode: number) {
    super(message, code);
    this.exitCode = exitCode;
  }
}

export class ExtensionUpdateError extends ExtensionError {
  static override readonly errorName: string = 'ExtensionUpdateError';
  static override readonly defaultCode: number = ErrorCodes.PluginUpdateProcessingFailed;
}

export class ExtensionDownloadError extends ExtensionError {
  static override readonly errorName: string = 'ExtensionDownloadError';
  static override readonly defaultCode: number = ErrorCodes.PluginManifestDownloadError;
}

/** Invalid configuration of one handler in the goal state (reported, other handlers proceed). */
export class ExtensionsGoalStateError extends ExtensionError {
  static override readonly errorName: string = 'ExtensionsGoalStateError';
}

/** Bad status/heartbeat/state file written by an extension. */
export class ExtensionStatusError extends ExtensionError {
  static override readonly errorName: string = 'ExtensionStatusError';
  static override readonly defaultCode: number = ErrorCodes.PluginSettingsStatusInvalid;
}

/** An MC extension's enable failed: reported on the extension, the handler status stays as it was. */
export class MultiConfigEnableError extends AgentError {
  static override readonly errorName: string = 'MultiConfigEnableError';
  readonly inner: ExtensionError;
  constructor(inner: ExtensionError) {
    super(inner.message);
    this.inner = inner;
  }
}

/** The text a failure is reported with: ExtensionErrors as "[Class] msg", anything else as its message. */
export function errorMessage(e: unknown): string {
  if (e instanceof ExtensionError) return e.describe();
  return errorText(e);
}

export function errorCode(e: unknown): number {
  return e instanceof ExtensionError ? e.code : ErrorCodes.Unknown;
}
