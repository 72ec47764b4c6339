#!/usr/bin/env bash
# Load benchmark: Switchboard vs a hand-written minimal Go proxy vs GraphQL Hive Gateway, all
# in front of the same Sobot simulator (bench/cmd/simserver), A/B alternated, loopback only.
# Every run is bounded in time; the whole script takes about 7 minutes with the defaults.
#
#   bash bench/load.sh                       # from the repository root
#   ROUNDS=1 DURATION=10 bash bench/load.sh  # quicker
#   SB_GOGC=300 bash bench/load.sh           # the gateway with GOGC=300 (memory for CPU)
#   SB_GOGC=off SB_GOMEMLIMIT=40MiB bash bench/load.sh   # collect only near a 40 MiB heap
#
# Needs: go, node/npm (Hive Gateway, autocannon: bench/hive/package-lock.json), wrk
# (Debian: apt-get install -y wrk). Writes bench/results/<UTC date-time>.md (or $RESULTS); raw outputs stay in
# $OUT (a temporary directory unless set).
set -euo pipefail

ROUNDS=${ROUNDS:-2}          # A/B rounds: upstream, switchboard, minproxy, hive, repeat
DURATION=${DURATION:-20}     # seconds per measured run
WARMUP=${WARMUP:-3}          # seconds of unmeasured load before each peer's runs
RATE=${RATE:-1000}           # requests/s of the fixed-rate run
CONNS=${CONNS:-32}           # connections of every run
HIVE_FORK=${HIVE_FORK:-2}    # Hive Gateway workers (one per core)

SIM_PORT=18081 SB_PORT=18082 PROXY_PORT=18083 HIVE_PORT=18084
ROOT=$(cd "$(dirname "$0")/.." && pwd)
BENCH=$ROOT/bench
OUT=${OUT:-$(mktemp -d /tmp/switchboard-bench.XXXXXX)}
mkdir -p "$OUT/bin" "$BENCH/results"
RESULTS=${RESULTS:-$BENCH/results/$(date -u +%Y-%m-%d-%H%M).md}
CLK_TCK=$(getconf CLK_TCK)
export SWITCHBOARD_HS_SECRET=bench-load-hs-secret-0123456789abcdef
export BENCH_SOBOT_APP_SECRET=bench-secret   # bench/cmd/simserver's fixed credentials

log() { printf '[%s] %s\n' "$(date -u +%H:%M:%S)" "$*" >&2; }
die() { log "error: $*"; exit 1; }

for tool in go node npm wrk curl; do
	command -v "$tool" >/dev/null || die "$tool is not installed (wrk: apt-get install -y wrk)"
done

# --- processes: started here, stopped here, by pid --------------------------------------------
PIDS=()
cleanup() {
	local pid
	for pid in "${PIDS[@]}"; do stop "$pid"; done
}
trap cleanup EXIT

stop() { # stop PID: SIGTERM to the tree it started, 10 s to exit, then SIGKILL; forget it
	local tree_pids p keep=()
	tree_pids=$(tree "$1")
	kill $tree_pids 2>/dev/null || true
	for _ in $(seq 100); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	kill -9 $tree_pids 2>/dev/null || true # Hive Gateway's primary may not exit on SIGTERM
	wait "$1" 2>/dev/null || true
	for p in "${PIDS[@]}"; do [[ $p == "$1" ]] || keep+=("$p"); done
	PIDS=("${keep[@]}")
}

wait_port() { # wait_port PORT: until something listens (30 s at most)
	for _ in $(seq 300); do
		(exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null && return 0
		sleep 0.1
	done
	die "nothing listens on 127.0.0.1:$1"
}

tree() { # tree PID: the pid and its descendants (Hive Gateway forks workers)
	local p
	echo "$1"
	for p in $(ps -o pid= --ppid "$1" 2>/dev/null); do tree "$p"; done
}

cpu_ticks() { # cpu_ticks PID: utime+stime of the process tree, in clock ticks
	local sum=0 p t
	for p in $(tree "$1"); do
		t=$(sed 's/^.*) //' "/proc/$p/stat" 2>/dev/null | awk '{print $12 + $13}') || t=0
		sum=$((sum + ${t:-0}))
	done
	echo "$sum"
}

peak_rss_kib() { # peak_rss_kib PID: VmHWM summed over the process tree
	local sum=0 p v
	for p in $(tree "$1"); do
		v=$(awk '/^VmHWM:/ {print $2}' "/proc/$p/status" 2>/dev/null) || v=0
		sum=$((sum + ${v:-0}))
	done
	echo "$sum"
}

# --- build --------------------------------------------------------------------------------------
log "building switchboard, simserver, minproxy into $OUT/bin"
(cd "$ROOT" && go build -o "$OUT/bin/switchboard" ./cmd/switchboard &&
	go build -o "$OUT/bin/simserver" ./bench/cmd/simserver &&
	go build -o "$OUT/bin/minproxy" ./bench/cmd/minproxy)

HIVE_OK=1
if [[ ! -x $BENCH/hive/node_modules/.bin/hive-gateway || ! -x $BENCH/hive/node_modules/.bin/autocannon ]]; then
	log "installing the Node tools (npm ci in bench/hive)"
	(cd "$BENCH/hive" && npm ci --no-audit --no-fund >"$OUT/npm-ci.log" 2>&1) || die "npm ci failed: see $OUT/npm-ci.log"
fi
AUTOCANNON=$BENCH/hive/node_modules/.bin/autocannon
log "composing the Hive supergraph from bench/hive/openapi.yaml"
if ! (cd "$BENCH/hive" && SOBOT_URL=http://127.0.0.1:$SIM_PORT ./node_modules/.bin/mesh-compose -o supergraph.graphql >"$OUT/mesh-compose.log" 2>&1); then
	log "mesh-compose failed (see $OUT/mesh-compose.log): Hive is left out"
	HIVE_OK=0
fi

# --- the upstream ---------------------------------------------------------------------------------
"$OUT/bin/simserver" -addr 127.0.0.1:$SIM_PORT -token-file "$OUT/sim-token" >"$OUT/simserver.log" 2>&1 &
SIM_PID=$!
PIDS+=("$SIM_PID")
wait_port $SIM_PORT
SIM_TOKEN=$(cat "$OUT/sim-token")

# --- the gateway's config and token ------------------------------------------------------------
cat >"$OUT/switchboard.yaml" <<EOF
server:
  addr: 127.0.0.1:$SB_PORT
  graphiql: false
auth:
  algorithms: [HS256]
  issuer: bench
  audience: switchboard
  hsSecret: {env: SWITCHBOARD_HS_SECRET}
log:
  level: warn
tenants:
  - id: bench
    sources:
      - id: sobot
        vendor: sobot
        name: Bench Care
        url: http://127.0.0.1:$SIM_PORT
        secrets: {appSecret: {env: BENCH_SOBOT_APP_SECRET}}
        options: {appId: bench-app, companyId: bench-company, operatorUserId: bench-supervisor, pageSize: 20}
EOF
TOKEN=$("$OUT/bin/switchboard" token --config "$OUT/switchboard.yaml" --tenant bench --ttl 2h)

# --- the requests -----------------------------------------------------------------------------------
NOW_MS=$(($(date +%s) * 1000))
FROM_MS=$((NOW_MS - 86400000))
FIELDS='id direction outcome startedAt answeredAt endedAt customer { number } durations { totalSeconds talkSeconds } agents { name } queues { name }'
SB_QUERY="{ calls(first: 20) { totalCount pageInfo { hasNextPage endCursor } edges { cursor node { $FIELDS } } } }"
HIVE_QUERY="{ searchCalls(input: {startTime: $FROM_MS, endTime: $NOW_MS, pageNum: 1, pageSize: 20, hideNumber: 2}) { data { total list { callID callType callResult startTime bridgeTime endTime customerNumber totalDuration duration firstAgentName lastAgentName firstRouteName } } } }"
SIM_BODY="{\"startTime\":$FROM_MS,\"endTime\":$NOW_MS,\"pageNum\":1,\"pageSize\":20,\"hideNumber\":2}"
gql_body() { node -e 'process.stdout.write(JSON.stringify({query: process.argv[1]}))' "$1"; }
SB_BODY=$(gql_body "$SB_QUERY")
HIVE_BODY=$(gql_body "$HIVE_QUERY")

# wrk_script NAME BODY AUTH: a wrk Lua script posting BODY with the headers
wrk_script() {
	node -e '
const [body, auth] = process.argv.slice(1);
process.stdout.write(`wrk.method = "POST"
wrk.body = ${JSON.stringify(body)}
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = ${JSON.stringify(auth)}
wrk.headers["timezoneid"] = "UTC"
`)' "$2" "$3" >"$OUT/$1.lua"
}
wrk_script upstream "$SIM_BODY" "Bearer $SIM_TOKEN"
wrk_script switchboard "$SB_BODY" "Bearer $TOKEN"
wrk_script minproxy "$SB_BODY" "Bearer $TOKEN"
wrk_script hive "$HIVE_BODY" "Bearer $SIM_TOKEN"

declare -A URL=(
	[upstream]=http://127.0.0.1:$SIM_PORT/callservice/tm/tm-reports/maincdrs/_search
	[switchboard]=http://127.0.0.1:$SB_PORT/graphql
	[minproxy]=http://127.0.0.1:$PROXY_PORT/graphql
	[hive]=http://127.0.0.1:$HIVE_PORT/graphql
)
declare -A BODY=([upstream]=$SIM_BODY [switchboard]=$SB_BODY [minproxy]=$SB_BODY [hive]=$HIVE_BODY)
declare -A AUTH=([upstream]="Bearer $SIM_TOKEN" [switchboard]="Bearer $TOKEN" [minproxy]="Bearer $TOKEN" [hive]="Bearer $SIM_TOKEN")

check_answer() { # check_answer NAME: one request must answer 20 calls and no error
	local out
	out=$(curl -sS -X POST "${URL[$1]}" -H 'Content-Type: application/json' -H "Authorization: ${AUTH[$1]}" -H 'timezoneid: UTC' -d "${BODY[$1]}")
	echo "$out" >"$OUT/$1-sample.json"
	node -e '
const a = JSON.parse(process.argv[1]);
const list = a.data?.calls?.edges ?? a.data?.searchCalls?.data?.list ?? a.data?.list;
if (a.errors || !list || list.length !== 20) { console.error(JSON.stringify(a).slice(0, 400)); process.exit(1) }' "$out"
}

start_peer() { # start_peer NAME: starts it, sets PEER_PID
	case $1 in
	switchboard)
		env ${SB_GOGC:+GOGC=$SB_GOGC} ${SB_GOMEMLIMIT:+GOMEMLIMIT=$SB_GOMEMLIMIT} "$OUT/bin/switchboard" serve --config "$OUT/switchboard.yaml" >"$OUT/switchboard.log" 2>&1 &
		PEER_PID=$! ;;
	minproxy)
		"$OUT/bin/minproxy" -addr 127.0.0.1:$PROXY_PORT -upstream http://127.0.0.1:$SIM_PORT -upstream-token-file "$OUT/sim-token" >"$OUT/minproxy.log" 2>&1 &
		PEER_PID=$! ;;
	hive)
		(cd "$BENCH/hive" && exec env NODE_ENV=production ./node_modules/.bin/hive-gateway supergraph supergraph.graphql \
			--host 127.0.0.1 --port $HIVE_PORT --fork "$HIVE_FORK" --disable-websockets >"$OUT/hive.log" 2>&1) &
		PEER_PID=$! ;;
	esac
	PIDS+=("$PEER_PID")
	local port=${URL[$1]#http://127.0.0.1:}
	wait_port "${port%%/*}"
}

to_ms() { # wrk latency "312.00us" | "1.65ms" | "1.02s" -> ms
	awk -v v="$1" 'BEGIN { n = v + 0; if (v ~ /us$/) n /= 1000; else if (v ~ /ms$/) n += 0; else if (v ~ /s$/) n *= 1000; printf "%.2f", n }'
}

# run NAME MODE PID: one measured run; appends a row to $OUT/rows.tsv
# MODE max: wrk, as fast as it goes; MODE rate: autocannon at $RATE requests/s.
run() {
	local name=$1 mode=$2 pid=$3 raw=$OUT/$1-$2-r$ROUND
	local t0 t1 rps p50 p99 n errs
	t0=$(cpu_ticks "$pid")
	if [[ $mode == max ]]; then
		wrk -t2 -c"$CONNS" -d"${DURATION}s" --latency -s "$OUT/$name.lua" "${URL[$name]}" >"$raw.txt" 2>&1
		t1=$(cpu_ticks "$pid")
		rps=$(awk '/^Requests\/sec:/ {print $2}' "$raw.txt")
		n=$(awk '/requests in/ {print $1}' "$raw.txt")
		errs=$(awk '/Non-2xx/ {e += $NF} /Socket errors/ {gsub(",", ""); e += $4 + $6 + $8 + $10} END {print e + 0}' "$raw.txt")
		p50=$(to_ms "$(awk '$1 == "50%" {print $2}' "$raw.txt")")
		p99=$(to_ms "$(awk '$1 == "99%" {print $2}' "$raw.txt")")
	else
		"$AUTOCANNON" -j -m POST -c "$CONNS" -d "$DURATION" -R "$RATE" \
			-H 'Content-Type=application/json' -H "Authorization=${AUTH[$name]}" -H 'timezoneid=UTC' \
			-b "${BODY[$name]}" "${URL[$name]}" >"$raw.json" 2>"$raw.err"
		t1=$(cpu_ticks "$pid")
		read -r rps p50 p99 n errs < <(node -e '
const r = JSON.parse(require("fs").readFileSync(process.argv[1], "utf8"));
const bad = r.non2xx + r.errors + r.timeouts;
console.log((r.requests.total / r.duration).toFixed(0), r.latency.p50.toFixed(2), r.latency.p99.toFixed(2), r.requests.total, bad)' "$raw.json")
	fi
	local cpu_us=$(((t1 - t0) * 1000000 / CLK_TCK / (n > 0 ? n : 1)))
	printf '%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\t%s\n' "$ROUND" "$name" "$mode" "$rps" "$p50" "$p99" "$cpu_us" "${errs:-0}" "$n" >>"$OUT/rows.tsv"
	log "  $name $mode: $rps req/s, p50 $p50 ms, p99 $p99 ms, CPU $cpu_us µs/req, errors ${errs:-0}"
}

warm() { # warm NAME: unmeasured load, so JITs and pools are warm
	wrk -t1 -c"$CONNS" -d"${WARMUP}s" -s "$OUT/$1.lua" "${URL[$1]}" >/dev/null 2>&1 || true
}

# --- the machine, and whether others load it ----------------------------------------------------------
{
	echo "## Machine"
	echo
	echo '```'
	echo "nproc: $(nproc)"
	lscpu | head -15
	echo
	echo "uptime at start: $(uptime)"
	echo
	echo "busiest processes at start (others share this machine):"
	ps -eo pid,pcpu,rss,comm --sort=-pcpu | head -8
	echo '```'
} >"$OUT/machine.md"

: >"$OUT/rows.tsv"
: >"$OUT/rss.tsv"
PEERS=(switchboard minproxy)
[[ $HIVE_OK == 1 ]] && PEERS+=(hive)
for ROUND in $(seq "$ROUNDS"); do
	log "round $ROUND: upstream alone"
	check_answer upstream || die "the simulator did not answer 20 calls (see $OUT/upstream-sample.json)"
	warm upstream
	run upstream rate "$SIM_PID"
	run upstream max "$SIM_PID"
	for peer in "${PEERS[@]}"; do
		log "round $ROUND: $peer"
		start_peer "$peer"
		if [[ $peer == hive ]] && ! check_answer hive 2>"$OUT/hive-check.err"; then
			log "Hive Gateway did not answer (see $OUT/hive.log): left out"
			stop "$PEER_PID"
			PEERS=("${PEERS[@]/hive/}")
			continue
		fi
		check_answer "$peer" || die "$peer did not answer 20 calls (see $OUT/$peer-sample.json)"
		warm "$peer"
		run "$peer" rate "$PEER_PID"
		run "$peer" max "$PEER_PID"
		printf '%s\t%s\t%s\n' "$ROUND" "$peer" "$(peak_rss_kib "$PEER_PID")" >>"$OUT/rss.tsv"
		stop "$PEER_PID"
	done
done
log "load during the runs: $(uptime)"

# --- the report ---------------------------------------------------------------------------------
node "$BENCH/report.js" "$OUT" "$RATE" "$DURATION" "$CONNS" "$HIVE_FORK" "$(uptime)" >"$RESULTS"
log "results: $RESULTS (raw outputs in $OUT)"
cat "$RESULTS"
