// Exit codes. The Python agent exits 0 even when a command fails; we do not. A systemd unit can use
// RestartPreventExitStatus=2 to stop restarting on a configuration error instead of looping.
export const EXIT = {
  OK: 0,
  FAILURE: 1,
  /** Unknown argument, bad value, missing/unreadable/empty configuration file. */
  USAGE: 2,
} as const;
