// -help text: waagent's usage line, then every command on one line, the flags, and the exit codes
// (which differ from the Python agent on purpose: a failure is never exit 0).
import { EXIT } from '../util/exit.ts';

export function usageText(argv0: string): string {
  return `
usage: ${argv0} [-verbose] [-force] [-configuration-path:<path>] -help|-version|-daemon|-start|-run-exthandlers|-provision|-deprovision[+user]|-register-service|-show-configuration|-collect-logs [-full]|-setup-firewall=<IP>|-serialconsole

Commands (any number of leading - or /; a unique prefix is enough, e.g. -versionX = -version):
  -help                 show this text (also: -usage, -?)
  -version              agent version, OS, runtime; reads no configuration
  -daemon               first-boot provisioning, resource disk, then the goal-state loop (systemd service)
  -start                start -daemon in the background and return
  -run-exthandlers      the extension-handler loop alone [-debug: no orphan check]
  -provision            one-shot first-boot provisioning, then exit
  -deprovision          remove machine-specific state before capturing an image [-force] [-dry-run] [-root:PATH]
  -deprovision+user     the same, and delete the last provisioned user with its home and sudoers lines
  -register-service     install and start the waagent service
  -show-configuration   every configuration key, sorted, "key = value"
  -collect-logs         collect logs, secrets redacted, into <Lib.Dir>/logcollector/logs.zip [-full: the full set]
  -setup-firewall=IP    add the WireServer firewall rules for IP once
  -serialconsole        kernel console on ttyS0 in the GRUB configuration (Flatcar: the OEM grub.cfg), with a backup

Flags:
  -configuration-path:PATH   configuration file (default /etc/waagent.conf)
  -verbose                   VERBOSE log level on the console and in /var/log/waagent.log
  -force                     do not prompt (deprovision)
  -full                      full log collection (collect-logs)
  -debug                     run-exthandlers: skip the orphan check
  -dry-run                   print what would be done and change nothing (where supported)
  -root:PATH                 deprovision the OS disk mounted at PATH (rescue VM), with its own waagent.conf

Exit codes:
  ${EXIT.OK}  success
  ${EXIT.FAILURE}  the command failed (details in the log)
  ${EXIT.USAGE}  usage or configuration error (unknown argument, missing or unreadable configuration file)
Unlike the Python agent, failures never exit 0.

`;
}
