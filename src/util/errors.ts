// The one error base class and the one way to turn a thrown value into text.
//
// An error's `name` is what logs, handler statuses and telemetry show ("[ExtensionError] ..."), and some
// of those are read by extensions and the platform, so it must survive minification: the bundle mangles
// identifiers, so `new.target.name` would give "a" or "t". Each class therefore states its name once as
// a string, `static override readonly errorName: string = 'ClassName'`, and the base constructor copies it from the
// class actually constructed. A test (test/unit/errors.test.ts) checks every error class in src/ states
// its own name, so a subclass cannot silently inherit its parent's.

export class AgentError extends Error {
  /** The `name` every instance of the class carries; each subclass overrides it with its own class name. */
  static readonly errorName: string = 'AgentError';

  constructor(message: string, options?: ErrorOptions) {
    super(message, options);
    this.name = (new.target as typeof AgentError).errorName;
  }
}

/** The message of a thrown value: an Error's message, anything else as a string. */
export function errorText(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
