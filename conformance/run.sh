#!/usr/bin/env bash
# Protocol conformance: builds the gateway, starts the demo on a free loopback port and runs
# the Node tests (graphql-http audit, graphql-ws and subscriptions-transport-ws clients)
# against it. Exits with node's status. Bounded: the whole run is killed after
# CONFORMANCE_TIMEOUT seconds (default 300).
set -euo pipefail

if [ -z "${CONFORMANCE_INNER:-}" ]; then
  CONFORMANCE_INNER=1 exec timeout --kill-after=10 "${CONFORMANCE_TIMEOUT:-300}" bash "$0" "$@"
fi

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
tmp=$(mktemp -d)
demo_pid=""
cleanup() {
  status=$?
  if [ -n "$demo_pid" ] && kill -0 "$demo_pid" 2>/dev/null; then
    kill "$demo_pid" 2>/dev/null || true
    wait "$demo_pid" 2>/dev/null || true
  fi
  if [ "$status" -ne 0 ] && [ -s "$tmp/demo.log" ]; then
    echo "== demo log (last 40 lines)"; tail -n 40 "$tmp/demo.log"
  fi
  rm -rf "$tmp"
  exit "$status"
}
trap cleanup EXIT
trap 'exit 143' TERM INT

echo "== building the gateway"
(cd "$root" && go build -o "$tmp/switchboard" ./cmd/switchboard)

port=$(node -e 'const s=require("net").createServer().listen(0,"127.0.0.1",()=>{console.log(s.address().port);s.close()})')
url="http://127.0.0.1:$port"
tokens="$tmp/tokens.json"

echo "== starting the demo on $url"
# stdout is the banner with every token; only the log (stderr) is shown on failure.
"$tmp/switchboard" demo --addr "127.0.0.1:$port" --tokens-file "$tokens" >"$tmp/demo.out" 2>"$tmp/demo.log" &
demo_pid=$!

deadline=$((SECONDS + 60))
until curl -fsS -o /dev/null "$url/healthz" 2>/dev/null && node -e 'JSON.parse(require("fs").readFileSync(process.argv[1]))' "$tokens" 2>/dev/null; do
  if ! kill -0 "$demo_pid" 2>/dev/null; then
    echo "the demo exited before serving"; exit 1
  fi
  if [ "$SECONDS" -ge "$deadline" ]; then
    echo "the demo did not serve /healthz and write $tokens within 60 s"; exit 1
  fi
  sleep 0.5
done

cd "$here"
# npm ci only when node_modules was not installed from this very lockfile.
stamp=node_modules/.conformance-lock.json
if ! cmp -s package-lock.json "$stamp" 2>/dev/null; then
  echo "== npm ci"
  npm ci --no-audit --no-fund
  cp package-lock.json "$stamp"
fi

echo "== node --test"
set +e
SWITCHBOARD_URL="$url" SWITCHBOARD_TOKENS="$tokens" node --test --test-reporter=spec test/*.test.mjs
status=$?
set -e
exit "$status"
