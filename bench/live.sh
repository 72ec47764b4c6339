#!/usr/bin/env bash
# Live load run: N real graphql-transport-ws subscribers (cmd/switchboard-load) against a
# gateway in its own process (`switchboard serve`), fed by the demo's simulators in another
# (`switchboard demo --export`), loopback only, bounded in subscribers and time.
#
#   bash bench/live.sh                               # 10,000 subscribers, about 100 events/s
#   SCALE=0 bash bench/live.sh                       # idle subscribers: the center stands still
#   SUBS=1000 STALL=1 bash bench/live.sh             # one subscriber that never reads
#   FLOOR=100 SUBS=9900 bash bench/live.sh           # no gateway: the machine's floor (below)
#
# Knobs: SUBS [10000], SCALE (the Telavox center's speed: 105 ≈ 100 call events/s, 0 = no
# events) [105], DURATION [20s], STALL [0], RATE (connections/s) [2000], QUERY (the
# subscription; its events need seq, kind and at) [the tool's default], OUT (raw outputs),
# ARGS (more switchboard-load flags, e.g. "--loops 1").
# Prints the tool's report; the run takes DURATION plus about 15 s.
#
# FLOOR=E measures what any gateway could do here: the tool fans E events/s out to SUBS
# loopback sockets itself, with an ideal writer (pre-framed events, one non-blocking write
# per socket per round, nothing else), read by the same receive loops. Two file
# descriptors per subscriber in one process: SUBS must stay under half of `ulimit -n`.
set -euo pipefail

SUBS=${SUBS:-10000}
SCALE=${SCALE:-105}
DURATION=${DURATION:-20s}
STALL=${STALL:-0}
RATE=${RATE:-2000}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
OUT=${OUT:-$(mktemp -d /tmp/switchboard-live.XXXXXX)}
mkdir -p "$OUT/bin"

(cd "$ROOT" && go build -o "$OUT/bin/switchboard" ./cmd/switchboard && go build -o "$OUT/bin/switchboard-load" ./cmd/switchboard-load)
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"

if [ -n "${FLOOR:-}" ]; then
  echo "floor: subscribers $SUBS, $FLOOR events/s, no gateway, held $DURATION ($(nproc) cores)"
  exec "$OUT/bin/switchboard-load" --floor "$FLOOR" --subscribers "$SUBS" --stall "$STALL" \
    --connect-rate "$RATE" --duration "$DURATION" ${ARGS:-} 2>"$OUT/load.err"
fi

pids=()
cleanup() { kill "${pids[@]}" 2>/dev/null || true; wait 2>/dev/null || true; }
trap cleanup EXIT

"$OUT/bin/switchboard" demo --time-scale "$SCALE" --export "$OUT/exp" --addr 127.0.0.1:18095 \
  --tokens-file "$OUT/tokens.json" --max-subscriptions 20000 --log-level warn >"$OUT/demo.log" 2>&1 &
pids+=($!)
for _ in $(seq 100); do [ -f "$OUT/exp/env" ] && break; sleep 0.2; done
[ -f "$OUT/exp/env" ] || { echo "the demo did not export its configuration; see $OUT/demo.log" >&2; exit 1; }
(set -a; . "$OUT/exp/env"; set +a; exec "$OUT/bin/switchboard" serve --config "$OUT/exp/switchboard.yaml") >"$OUT/serve.log" 2>&1 &
sb=$!
pids+=($sb)
for _ in $(seq 100); do curl -sf -o /dev/null http://127.0.0.1:8090/healthz && break; sleep 0.2; done
sleep 1

args=(--url http://127.0.0.1:8090 --tokens-file "$OUT/tokens.json" --tenant telavox --subscribers "$SUBS"
  --stall "$STALL" --connect-rate "$RATE" --duration "$DURATION" --pid "$sb")
[ -n "${QUERY:-}" ] && args+=(--query "$QUERY")
[ -n "${ARGS:-}" ] && read -ra extra <<<"$ARGS" && args+=("${extra[@]}")
echo "subscribers $SUBS, time scale $SCALE, stalled $STALL, held $DURATION ($(nproc) cores)"
"$OUT/bin/switchboard-load" "${args[@]}" 2>"$OUT/load.err"
grep -m3 'level=WARN' "$OUT/load.err" || true
