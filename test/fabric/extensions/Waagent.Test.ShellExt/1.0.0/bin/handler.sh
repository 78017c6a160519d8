#!/bin/sh
# Test extension for the fabric simulator, in plain POSIX sh (no jq, no python): on enable it
# decrypts its protected settings with the tenant certificate the agent put in Lib.Dir, exactly
# as real extensions do (openssl cms, smime as fallback), and proves it by writing the SHA-256 of
# the plaintext into its status. The plaintext itself never leaves the pipe.
set -u
op="${1:-}"
handler_dir=$(cd "$(dirname "$0")/.." && pwd)
log() { printf '%s ShellExt %s: %s\n' "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$op" "$*" >&2; }

# First string value of "key" in a one-line JSON file (the agent writes these files on one line).
json_str() {
  sed -n "s/.*\"$1\" *: *\"\([^\"\\\\]*\)\".*/\1/p" "$2" | head -n 1
}

env_file="$handler_dir/HandlerEnvironment.json"
[ -f "$env_file" ] || { log "no HandlerEnvironment.json in $handler_dir"; exit 1; }
config_dir=$(json_str configFolder "$env_file")
status_dir=$(json_str statusFolder "$env_file")
[ -n "$config_dir" ] && [ -n "$status_dir" ] || { log "HandlerEnvironment.json lacks configFolder/statusFolder"; exit 1; }

seq="${ConfigSequenceNumber:-}"
if [ -z "$seq" ]; then
  newest=$(ls -t "$config_dir"/*.settings 2>/dev/null | head -n 1)
  seq=$(basename "${newest:-0.settings}" .settings)
fi

write_status() { # status code message
  mkdir -p "$status_dir"
  tmp="$status_dir/.$seq.status.tmp.$$"
  printf '[{"version": 1.0, "timestampUTC": "%s", "status": {"name": "Waagent.Test.ShellExt", "operation": "Enable", "status": "%s", "code": %s, "formattedMessage": {"lang": "en-US", "message": "%s"}}}]\n' \
    "$(date -u +%Y-%m-%dT%H:%M:%SZ)" "$1" "$2" "$3" > "$tmp" && mv -f "$tmp" "$status_dir/$seq.status"
}

case "$op" in
  install|uninstall|update|disable)
    log "ok"
    exit 0
    ;;
  enable) ;;
  *) log "unknown operation"; exit 2 ;;
esac

settings="$config_dir/$seq.settings"
[ -f "$settings" ] || { write_status error 1 "settings file $seq.settings is missing"; exit 1; }
message=$(json_str message "$settings")
prot=$(json_str protectedSettings "$settings")
thumb=$(json_str protectedSettingsCertThumbprint "$settings")
result="no protected settings"
if [ -n "$prot" ]; then
  lib=$(cd "$config_dir/../.." && pwd)
  crt="$lib/$thumb.crt"
  prv="$lib/$thumb.prv"
  if [ ! -r "$crt" ] || [ ! -r "$prv" ]; then
    write_status error 2 "certificate $thumb.crt/.prv not found in $lib"
    exit 1
  fi
  hash=$(printf '%s' "$prot" | base64 -d | openssl cms -decrypt -inform DER -recip "$crt" -inkey "$prv" 2>/dev/null | sha256sum | cut -d' ' -f1)
  # sha256 of nothing = decryption failed; try the older smime tool before giving up.
  if [ "$hash" = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" ]; then
    hash=$(printf '%s' "$prot" | base64 -d | openssl smime -decrypt -inform DER -recip "$crt" -inkey "$prv" 2>/dev/null | sha256sum | cut -d' ' -f1)
  fi
  if [ "$hash" = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855" ]; then
    write_status error 3 "cannot decrypt protected settings with $thumb"
    exit 1
  fi
  result="protectedSettingsSha256=$hash"
fi
printf '%s\n' "$seq" > "$handler_dir/mrseq"
write_status success 0 "$result; message=${message}"
log "enabled seq $seq"
exit 0
