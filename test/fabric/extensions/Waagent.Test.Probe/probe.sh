#!/bin/sh
# The probe: a test extension in plain POSIX sh for the end-to-end extension tests (test/e2e/ext-*).
# It is packaged by the fabric simulator from the version dirs next to this file (bin/probe.sh is a
# symlink here), so one script plays every role; the public settings of the goal state choose it:
#   "message": "text"        echoed into the status message on enable
#   "failOn": "install"       the named operation (install|enable|disable|update|uninstall) exits with
#   "exitCode": "3"           this code (default 3) after printing a line on stdout and on stderr
#   "hangOn": "enable"        the named operation starts a grandchild (sleep) and a child (sleep), writes
#                             their pids to $PROBE_DIR/hang.pids, and never returns by itself
#   "status": "error"         the status enable reports (default success)
#   "statusMode": "garbage"   enable writes a status file that is not JSON; "huge": one of 200 KB
#   "statusLater": "success"  enable reports transitioning and the given status 2 s later ("never": stays)
#   "heartbeat": "write"      enable writes heartbeat.log with "heartbeatStatus" (for reportHeartbeat handlers)
#   "sleepOn": "install"      the named operation sleeps "sleepSec" seconds (default 3) first, and logs
#                             "<handler> <version> <op>-done" when it then completes (crash tests)
# Every invocation appends one line to $PROBE_DIR/commands.log (shared by every handler, so the order
# across handlers shows):  <handler> <version> <op> key=value ... of the environment the agent gave.
# On enable it decrypts protectedSettings with Lib.Dir/<thumbprint>.crt/.prv (openssl cms, smime as
# fallback) as real extensions do and proves it with the SHA-256 of the plaintext in its status.
set -u
op="${1:-}"
PROBE_DIR=/var/log/probe
handler_dir=$(cd "$(dirname "$0")/.." && pwd)
mkdir -p "$PROBE_DIR"

json_str() { # last string value of "key" in a one-line JSON file
  sed -n "s/.*\"$1\" *: *\"\([^\"\\\\]*\)\".*/\1/p" "$2" | head -n 1
}

env_file="$handler_dir/HandlerEnvironment.json"
name=$(json_str name "$env_file")
config_dir=$(json_str configFolder "$env_file")
status_dir=$(json_str statusFolder "$env_file")
seq="${ConfigSequenceNumber:-0}"
ext="${ConfigExtensionName:-}"
prefix=""
[ -n "$ext" ] && prefix="$ext."
settings="$config_dir/$prefix$seq.settings"

v() { eval "printf '%s' \"\${$1-<unset>}\""; }
cwdok=no
[ "$(pwd)" = "$handler_dir" ] && cwdok=yes
line="${name:-?} ${AZURE_GUEST_AGENT_EXTENSION_VERSION:-?} $op seq=$seq ext=${ext:--}"
line="$line uninstallExit=$(v AZURE_GUEST_AGENT_UNINSTALL_CMD_EXIT_CODE) disableExit=$(v AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODE)"
line="$line disableExits=$(v AZURE_GUEST_AGENT_DISABLE_CMD_EXIT_CODES_MULTIPLE_EXTENSIONS | tr -d ' ')"
line="$line VERSION=$(v VERSION) fromVersion=$(v AZURE_GUEST_AGENT_UPDATING_FROM_VERSION)"
line="$line path=$(v AZURE_GUEST_AGENT_EXTENSION_PATH) wire=$(v AZURE_GUEST_AGENT_WIRE_PROTOCOL_ADDRESS) cwdok=$cwdok"
line="$line http_proxy=$(v http_proxy) https_proxy=$(v https_proxy)"
printf '%s\n' "$line" >> "$PROBE_DIR/commands.log"

setting() { [ -f "$settings" ] && json_str "$1" "$settings"; }

if [ "$(setting hangOn)" = "$op" ]; then
  # A grandchild in the background (its parent exits at once) and a child we wait for: the agent must
  # kill the whole process group at the timeout, the grandchild included.
  ( sleep 1000 & echo "$!" > "$PROBE_DIR/grandchild.pid" ) 
  sleep 1000 &
  echo "$!" > "$PROBE_DIR/child.pid"
  echo "$$" > "$PROBE_DIR/main.pid"
  echo "probe: hanging in $op"
  wait
  exit 0
fi
if [ "$(setting sleepOn)" = "$op" ]; then
  sleep "$(setting sleepSec || true)" 2>/dev/null || sleep 3
  printf '%s\n' "${name:-?} ${AZURE_GUEST_AGENT_EXTENSION_VERSION:-?} $op-done" >> "$PROBE_DIR/commands.log"
fi
if [ "$(setting failOn)" = "$op" ]; then
  code=$(setting exitCode)
  echo "probe: stdout of the failing $op"
  echo "probe: failing $op on purpose" >&2
  exit "${code:-3}"
fi

write_status() { # status code message
  mkdir -p "$status_dir"
  tmp="$status_dir/.$prefix$seq.status.tmp.$$"
  printf '[{"version": 1.0, "timestampUTC": "%s", "status": {"name": "%s", "operation": "Enable", "status": "%s", "code": %s, "formattedMessage": {"lang": "en-US", "message": "%s"}}}]\n' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "${name}${ext:+.$ext}" "$1" "$2" "$3" > "$tmp" && mv -f "$tmp" "$status_dir/$prefix$seq.status"
}

[ "$op" = enable ] || exit 0

[ -f "$settings" ] || { write_status error 1 "settings file $prefix$seq.settings is missing"; exit 1; }
prot=$(json_str protectedSettings "$settings")
thumb=$(json_str protectedSettingsCertThumbprint "$settings")
proof="protected=none"
if [ -n "$prot" ]; then
  lib=$(cd "$config_dir/../.." && pwd)
  empty=e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855
  hash=$(printf '%s' "$prot" | base64 -d | openssl cms -decrypt -inform DER -recip "$lib/$thumb.crt" -inkey "$lib/$thumb.prv" 2>/dev/null | sha256sum | cut -d' ' -f1)
  if [ "$hash" = "$empty" ]; then
    hash=$(printf '%s' "$prot" | base64 -d | openssl smime -decrypt -inform DER -recip "$lib/$thumb.crt" -inkey "$lib/$thumb.prv" 2>/dev/null | sha256sum | cut -d' ' -f1)
  fi
  if [ "$hash" = "$empty" ]; then
    write_status error 3 "cannot decrypt protected settings with $thumb"
    exit 1
  fi
  proof="protectedSha256=$hash"
fi
want=$(setting status)
if [ "$(setting heartbeat)" = write ]; then
  printf '[{"version": 1.0, "heartbeat": {"status": "%s", "code": 0, "formattedMessage": {"lang": "en-US", "message": "alive at seq %s"}}}]\n' \
    "$(setting heartbeatStatus)" "$seq" > "$handler_dir/heartbeat.log"
fi
printf '%s\n' "$seq" > "$handler_dir/${prefix}mrseq"
later=$(setting statusLater)
if [ -n "$later" ]; then
  # Still working when enable returns: "transitioning" now, the final status 2 s later from a
  # background job (the agent does not wait for it), which notes it in the command log. "never" stays.
  write_status transitioning 0 "seq=$seq still working"
  [ "$later" = never ] && exit 0
  ( sleep 2
    write_status "$later" 0 "seq=$seq $proof message=$(setting message)"
    printf '%s\n' "${name:-?} ${AZURE_GUEST_AGENT_EXTENSION_VERSION:-?} status-$later seq=$seq" >> "$PROBE_DIR/commands.log"
  ) < /dev/null > /dev/null 2>&1 &
  exit 0
fi
case "$(setting statusMode)" in
  garbage) printf '[{"version": 1.0, "status": {"status": "success", "formattedMessage": ' > "$status_dir/$prefix$seq.status" ;;
  huge) write_status "${want:-success}" 0 "seq=$seq $(head -c 200000 /dev/zero | tr '\000' x)" ;;
  *) write_status "${want:-success}" 0 "seq=$seq $proof message=$(setting message)" ;;
esac
exit 0
