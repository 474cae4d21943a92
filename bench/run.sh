#!/usr/bin/env bash
# bench/run.sh: load-test the MiniVoice API on loopback, per backend, at fixed
# request rates (open loop), and print a Markdown table of throughput and
# latency percentiles. See bench/README.md.
#
#   bash bench/run.sh
#   BENCH_BACKENDS=sqlite BENCH_DURATION=10 BENCH_GET_RATES="1000" bash bench/run.sh
#
# Environment (all optional):
#   BENCH_BACKENDS        backends to run: "sqlite postgres" (default)
#   BENCH_DURATION        seconds per run (default 15, at most 120)
#   BENCH_GET_RATES       req/s for GET /v1/calls/{id}, operator key (default "500 1000 2000")
#   BENCH_KEY_GET_RATES   req/s for GET /v1/calls/{id}, customer key (default "500 1000 2000")
#   BENCH_POST_RATES      req/s for POST /v1/customers (default "200 500")
#   BENCH_CALL_RATES      req/s for POST /v1/calls (default "": skipped; each places a SIP call
#                         toward the loopback trunk, which fails at once)
#   BENCH_CALLS           calls created as GET fixtures, read round-robin (default 100)
#   BENCH_TIMEOUT         per-request timeout (default 5s); a timeout counts as a failure
#   BENCH_PG_URL          PostgreSQL to use (default postgres://postgres@127.0.0.1:5432/test?sslmode=disable);
#                         the run creates and drops its own schema in it
#   BENCH_TOOL            auto (default: vegeta, else bench/loadgen), vegeta or loadgen
#   VEGETA                path of a vegeta binary to use instead of installing one
#   BENCH_TOOLS_DIR       where vegeta is installed (default ${TMPDIR:-/tmp}/minivoice-bench-tools)
#   BENCH_SERVER_CPUS     taskset CPU list for the server (e.g. 0), unset: no pinning
#   BENCH_LOAD_CPUS       taskset CPU list for the load generator (e.g. 1)
#   BENCH_PAUSE           seconds of rest between runs (default 2)
#   BENCH_QUIET           on a shared machine: before each run, wait until other work uses at most
#                         this percent of one CPU (e.g. 30), for up to BENCH_QUIET_WAIT seconds (default 300)
#   BENCH_OUT             directory to keep the raw results and the table in (default: discarded)
#   SMOKE                 1: a quick check instead of a benchmark: 5 fixture calls, no warm-up, every
#                         scenario (place call included) once for 2 s at a low rate with bench/loadgen,
#                         no pauses; exits 1 if a scenario had no successful request (the BENCH_*
#                         settings above still override)
set -euo pipefail

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SMOKE=${SMOKE:-}
export -n SMOKE # not for the load tool (bench/loadgen would run its own smoke check)
if [[ $SMOKE == 1 ]]; then
	BENCH_DURATION=${BENCH_DURATION:-2} BENCH_GET_RATES=${BENCH_GET_RATES-50} BENCH_KEY_GET_RATES=${BENCH_KEY_GET_RATES-50}
	BENCH_POST_RATES=${BENCH_POST_RATES-20} BENCH_CALL_RATES=${BENCH_CALL_RATES-5} BENCH_CALLS=${BENCH_CALLS:-5}
	BENCH_PAUSE=${BENCH_PAUSE:-0} BENCH_TOOL=${BENCH_TOOL:-loadgen}
fi
BACKENDS=${BENCH_BACKENDS:-sqlite postgres}
DURATION=${BENCH_DURATION:-15}
GET_RATES=${BENCH_GET_RATES-500 1000 2000}
KEY_GET_RATES=${BENCH_KEY_GET_RATES-500 1000 2000}
POST_RATES=${BENCH_POST_RATES-200 500}
CALL_RATES=${BENCH_CALL_RATES-}
NCALLS=${BENCH_CALLS:-100}
TIMEOUT=${BENCH_TIMEOUT:-5s}
PG_URL=${BENCH_PG_URL:-postgres://postgres@127.0.0.1:5432/test?sslmode=disable}
TOOL=${BENCH_TOOL:-auto}
VEGETA_VERSION=v12.13.0
TOOLS_DIR=${BENCH_TOOLS_DIR:-${TMPDIR:-/tmp}/minivoice-bench-tools}
PAUSE=${BENCH_PAUSE:-2}
QUIET=${BENCH_QUIET:-}
QUIET_WAIT=${BENCH_QUIET_WAIT:-300}
OPKEY=mvk_op_bench$(od -An -N12 -tx1 /dev/urandom | tr -d ' \n')

die() { echo "bench: $*" >&2; exit 1; }
log() { echo "bench: $*" >&2; }

[[ $DURATION =~ ^[0-9]+$ ]] && ((DURATION >= 1 && DURATION <= 120)) || die "BENCH_DURATION must be 1 to 120 seconds"
for c in go curl jq; do command -v "$c" >/dev/null || die "$c is required"; done

WORK=$(mktemp -d -t minivoice-bench.XXXXXX)
SERVER_PID=""
LOAD_PID=""
PG_SCHEMA=""

stop_server() {
	if [[ -n $SERVER_PID ]]; then
		kill -TERM "$SERVER_PID" 2>/dev/null || true
		for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.2; done
		kill -KILL "$SERVER_PID" 2>/dev/null || true
		wait "$SERVER_PID" 2>/dev/null || true
		SERVER_PID=""
	fi
}

drop_schema() {
	if [[ -n $PG_SCHEMA ]]; then
		psql -q "$PG_URL" -c "DROP SCHEMA IF EXISTS $PG_SCHEMA CASCADE" >/dev/null 2>&1 || log "could not drop schema $PG_SCHEMA"
		PG_SCHEMA=""
	fi
}

cleanup() {
	if [[ -n $LOAD_PID ]]; then kill -TERM "$LOAD_PID" 2>/dev/null || true; wait "$LOAD_PID" 2>/dev/null || true; fi
	stop_server
	drop_schema
	rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# run_load CMD...: runs the load tool bounded in time. In the background, then
# waited for, so that Ctrl-C reaches this script's trap at once (a foreground
# vegeta would catch SIGINT itself and bash would carry on).
run_load() {
	timeout $((DURATION + 60)) "$@" &
	LOAD_PID=$!
	wait "$LOAD_PID"
	LOAD_PID=""
}

CMD=()
pinned() { # pinned CPUS CMD...: sets CMD to CMD..., under taskset when CPUS is set
	local cpus=$1; shift
	CMD=("$@")
	if [[ -n $cpus ]]; then
		command -v taskset >/dev/null || die "taskset is required for BENCH_*_CPUS"
		CMD=(taskset -c "$cpus" "$@")
	fi
}

# --- build ------------------------------------------------------------------

COMMIT=$(git -C "$ROOT" rev-parse --short HEAD 2>/dev/null || echo unknown)
log "building minivoice"
(cd "$ROOT" && go build -o "$WORK/minivoice" ./cmd/minivoice)

if [[ $TOOL == auto || $TOOL == vegeta ]]; then
	if [[ -n ${VEGETA:-} ]]; then
		:
	elif command -v vegeta >/dev/null; then
		VEGETA=$(command -v vegeta)
	elif [[ -x $TOOLS_DIR/vegeta-$VEGETA_VERSION ]]; then
		VEGETA=$TOOLS_DIR/vegeta-$VEGETA_VERSION
	else
		log "installing vegeta $VEGETA_VERSION into $TOOLS_DIR"
		mkdir -p "$TOOLS_DIR/gobin"
		# Outside any module, so the project's go.mod is not touched.
		if (cd "$WORK" && GOFLAGS=-mod=mod GOBIN="$TOOLS_DIR/gobin" timeout 300 go install "github.com/tsenart/vegeta/v12@$VEGETA_VERSION") >&2; then
			mv "$TOOLS_DIR/gobin/vegeta" "$TOOLS_DIR/vegeta-$VEGETA_VERSION"
			VEGETA=$TOOLS_DIR/vegeta-$VEGETA_VERSION
		elif [[ $TOOL == vegeta ]]; then
			die "could not install vegeta"
		fi
	fi
	if [[ -n ${VEGETA:-} ]]; then TOOL=vegeta; fi
fi
if [[ $TOOL != vegeta ]]; then
	[[ $TOOL == auto || $TOOL == loadgen ]] || die "BENCH_TOOL must be auto, vegeta or loadgen"
	TOOL=loadgen
	(cd "$ROOT" && go build -o "$WORK/loadgen" ./bench/loadgen)
fi
log "load tool: $TOOL${VEGETA:+ ($VEGETA)}"

# --- server -----------------------------------------------------------------

BASE=""
start_server() { # start_server BACKEND
	local data=$WORK/data-$1 args=()
	mkdir -p "$data"
	if [[ $1 == postgres ]]; then
		PG_SCHEMA=bench_$$_$RANDOM
		psql -q "$PG_URL" -c "CREATE SCHEMA $PG_SCHEMA" >/dev/null
		local sep='?'; [[ $PG_URL == *\?* ]] && sep='&'
		args=(--database "$PG_URL${sep}search_path=$PG_SCHEMA")
	fi
	pinned "${BENCH_SERVER_CPUS:-}" "$WORK/minivoice" serve --data "$data" \
		--http 127.0.0.1:0 --sip 127.0.0.1:0 --allow-private-urls 127.0.0.0/8 --log-level warn "${args[@]}"
	MINIVOICE_ADMIN_KEY=$OPKEY "${CMD[@]}" >"$data/stdout" 2>"$data/stderr" &
	SERVER_PID=$!
	local addr=""
	for _ in $(seq 150); do
		addr=$(sed -n 's|^minivoice serving the API on http://\([^ ]*\).*|\1|p' "$data/stdout")
		[[ -n $addr ]] && break
		kill -0 "$SERVER_PID" 2>/dev/null || { cat "$data/stderr" >&2; die "server exited"; }
		sleep 0.2
	done
	[[ -n $addr ]] || die "server did not start in 30s"
	[[ $addr == 127.0.0.1:* ]] || die "server bound $addr, not loopback"
	BASE=http://$addr
}

api() { # api METHOD PATH KEY [BODY]: prints the response body, fails on an HTTP error
	local data=()
	if [[ -n ${4:-} ]]; then data=(--data "$4"); fi
	curl -fsS --max-time 10 -X "$1" -H "Authorization: Bearer $3" -H 'Content-Type: application/json' \
		"${data[@]}" "$BASE$2"
}

# CPU accounting, in clock ticks: the server's own time; the time of this
# script's finished children (the load tool, reaped when it exits); all CPUs'
# busy time (tick-sampled, so it undercounts bursty work such as a server
# answering small requests: used only to spot other CPU-bound work).
cpu_ticks() { awk '{print $14 + $15}' "/proc/$1/stat" 2>/dev/null || echo 0; }
child_ticks() { awk '{print $16 + $17}' "/proc/$$/stat"; }
host_ticks() { awk '/^cpu /{print $2 + $3 + $4 + $7 + $8}' /proc/stat; }
# CPU pressure (PSI): microseconds in which some runnable task waited for a CPU.
psi_us() { sed -n 's/^some .*total=//p' /proc/pressure/cpu 2>/dev/null || true; }
now_s() { date +%s.%N; }

# wait_quiet: with BENCH_QUIET set, wait until the machine's busy time not
# spent by the server stays at most BENCH_QUIET percent of one CPU for 2 s.
wait_quiet() {
	[[ -n $QUIET ]] || return 0
	local deadline=$((SECONDS + QUIET_WAIT)) h0 h1 s0 s1 other
	while :; do
		h0=$(host_ticks); s0=$(cpu_ticks "$SERVER_PID")
		sleep 2
		h1=$(host_ticks); s1=$(cpu_ticks "$SERVER_PID")
		other=$(((h1 - h0 - (s1 - s0)) * 100 / HZ / 2))
		if ((other <= QUIET)); then return 0; fi
		if ((SECONDS >= deadline)); then
			log "machine still busy (others use ${other}% of a CPU); running anyway"
			return 0
		fi
	done
}
HZ=$(getconf CLK_TCK)
NCPU=$(nproc)

# --- load -------------------------------------------------------------------

FAILED=()
TABLE=$WORK/table.md
printf '| backend | scenario | target rps | requests | sent rps | ok rps | success | p50 ms | p90 ms | p99 ms | max ms | server CPU | load CPU | CPU pressure |\n' >"$TABLE"
printf '|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n' >>"$TABLE"
TARGET_LINE=""

# attack NAME RATE METHOD KEY URLFILE [BODYFILE]: one bounded fixed-rate run
# over the URLs of URLFILE round-robin; writes $WORK/out/NAME-RATE.json
# (vegeta's report JSON, NAME made file-safe) and appends a row to the table.
attack() {
	local name=$1 rate=$2 method=$3 key=$4 urls=$5 body=${6:-} slug
	slug=$(printf '%s' "$BACKEND-$1-$2" | tr -c 'A-Za-z0-9-' '_')
	local out=$WORK/out/$slug
	mkdir -p "$WORK/out"
	wait_quiet
	local s0 c0 p0 w0 s1 c1 p1 w1
	s0=$(cpu_ticks "$SERVER_PID"); c0=$(child_ticks); p0=$(psi_us); w0=$(now_s)
	if [[ $TOOL == vegeta ]]; then
		local targets=$out.targets
		: >"$targets"
		while read -r u; do
			printf '%s %s\nAuthorization: Bearer %s\n' "$method" "$u" "$key"
			[[ -n $body ]] && printf 'Content-Type: application/json\n@%s\n' "$body"
			printf '\n'
		done <"$urls" >"$targets"
		pinned "${BENCH_LOAD_CPUS:-}" "$VEGETA" attack -targets "$targets" -rate "$rate/1s" \
			-duration "${DURATION}s" -timeout "$TIMEOUT" -max-workers 4000 -output "$out.bin"
		run_load "${CMD[@]}"
	else
		local extra=()
		if [[ -n $body ]]; then extra=(-H 'Content-Type: application/json' -body "$body"); fi
		pinned "${BENCH_LOAD_CPUS:-}" "$WORK/loadgen" -json -method "$method" -rate "$rate" \
			-duration "${DURATION}s" -timeout "$TIMEOUT" -H "Authorization: Bearer $key" "${extra[@]}" -targets "$urls"
		run_load "${CMD[@]}" >"$out.json"
	fi
	s1=$(cpu_ticks "$SERVER_PID"); c1=$(child_ticks); p1=$(psi_us); w1=$(now_s)
	kill -0 "$SERVER_PID" 2>/dev/null || { tail -n 5 "$WORK/data-$BACKEND/stderr" >&2; die "the server exited during $name at $rate/s"; }
	if [[ $TOOL == vegeta ]]; then "$VEGETA" report -type json "$out.bin" >"$out.json"; fi
	# CPU in percent of one CPU over the run (top's convention: NCPU CPUs make
	# NCPU*100%); pressure in percent of the run's wall time.
	local cpu
	cpu=$(awk -v hz="$HZ" -v w0="$w0" -v w1="$w1" -v s=$((s1 - s0)) -v c=$((c1 - c0)) -v p0="$p0" -v p1="$p1" 'BEGIN{
			w = w1 - w0
			printf "%.0f%% | %.0f%% | ", 100*s/hz/w, 100*c/hz/w
			if (p0 == "" || p1 == "") printf "n/a"; else printf "%.0f%%", (p1 - p0) / 1e4 / w }')
	jq -r --arg b "$BACKEND" --arg n "$name" --arg r "$rate" --arg cpu "$cpu" '
		def ms: . / 1e6 | (. * 100 | round) / 100;
		"| \($b) | \($n) | \($r) | \(.requests) | \(.rate | round) | \(.throughput | round) | \(.success * 10000 | round / 100)% | \(.latencies["50th"] | ms) | \(.latencies["90th"] | ms) | \(.latencies["99th"] | ms) | \(.latencies.max | ms) | \($cpu) |"
	' "$out.json" >>"$TABLE"
	tail -n 1 "$TABLE" >&2
	local errs; errs=$(jq -r '(.errors // [])[:3][]' "$out.json")
	if [[ -n $errs ]]; then log "errors: $errs"; fi
	if [[ $(jq -r '.success > 0' "$out.json") != true ]]; then
		FAILED+=("$BACKEND: $name at $rate/s: no successful request ($(jq -c '.status_codes' "$out.json"))")
	fi
	if [[ $BACKEND == sqlite && $name == "GET /v1/calls/{id} (operator)" && $rate == 1000 ]]; then
		TARGET_LINE=$(jq -r '
			if (.latencies["99th"] < 10e6 and .success == 1) then "MET" else "NOT MET" end
			+ ": p99 \(.latencies["99th"] / 1e6 * 100 | round / 100) ms, success \(.success * 100)% at 1000 rps GET /v1/calls/{id} on SQLite (target p99 < 10 ms)"' "$out.json")
	fi
	sleep "$PAUSE"
}

run_backend() {
	BACKEND=$1
	log "== $BACKEND"
	start_server "$BACKEND"
	log "server on $BASE (pid $SERVER_PID)"

	# Fixtures: a customer with an application, a customer key, and NCALLS
	# calls. Placing a call needs an outbound trunk: this one points at the
	# discard port on loopback, where nothing answers, so each call fails within
	# its 1 s setup timeout; URLs point at loopback too, so nothing leaves the host.
	# Billing admits a call only with an outbound rate for its number and the
	# credit for its first increment, within the customer's concurrency and
	# calls-per-second limits (docs/billing.md): the customer gets all three.
	local cust app ckey id
	cust=$(api POST /v1/customers "$OPKEY" '{"name":"bench","max_concurrent_calls":100000,"max_cps":10000,"verified_caller_ids":["+15551230001"]}' | jq -r .id)
	api POST "/v1/customers/$cust/credits" "$OPKEY" '{"amount":"1000000.00","description":"bench"}' >/dev/null
	api POST /v1/rates "$OPKEY" "{\"customer_id\":\"$cust\",\"direction\":\"outbound\",\"prefix\":\"\",\"price_per_minute\":\"0.001\"}" >/dev/null
	app=$(api POST /v1/applications "$OPKEY" "{\"customer_id\":\"$cust\",\"name\":\"a\",\"answer_url\":\"http://127.0.0.1:9/answer\"}" | jq -r .id)
	ckey=$(api POST "/v1/customers/$cust/keys" "$OPKEY" '{}' | jq -r .key)
	api POST /v1/trunks "$OPKEY" '{"name":"bench","direction":"outbound","host":"127.0.0.1","port":9,"transport":"udp","setup_timeout":1}' >/dev/null
	local callbody="{\"to\":\"+15551230002\",\"from\":\"+15551230001\",\"application_id\":\"$app\"}"
	: >"$WORK/calls.urls"
	for _ in $(seq "$NCALLS"); do
		id=$(api POST /v1/calls "$OPKEY" "$callbody" | jq -r .id)
		echo "$BASE/v1/calls/$id" >>"$WORK/calls.urls"
	done
	# Let the calls end, so no call work runs in the background of the GETs.
	local live=1
	for _ in $(seq 60); do
		live=0
		while read -r u; do
			case $(curl -fsS --max-time 10 -H "Authorization: Bearer $OPKEY" "$u" | jq -r .status) in
			queued | ringing | in-progress) live=$((live + 1)) ;;
			esac
		done <"$WORK/calls.urls"
		((live == 0)) && break
		sleep 1
	done
	((live == 0)) || log "$live fixture calls still live after 60 s"
	echo "$BASE/v1/customers" >"$WORK/customers.urls"
	echo "$BASE/v1/calls" >"$WORK/postcall.urls"
	echo '{"name":"bench customer"}' >"$WORK/customer.json"
	echo "$callbody" >"$WORK/call.json"
	log "fixtures: customer $cust, application $app, $NCALLS calls"

	# Warm-up, not recorded: connections, page cache, prepared plans.
	if [[ $SMOKE != 1 ]]; then
		local saved=$DURATION; DURATION=3
		attack warmup 200 GET "$OPKEY" "$WORK/calls.urls" >/dev/null 2>&1
		DURATION=$saved
		sed -i '/| warmup |/d' "$TABLE"
	fi

	for r in $GET_RATES; do attack "GET /v1/calls/{id} (operator)" "$r" GET "$OPKEY" "$WORK/calls.urls"; done
	for r in $KEY_GET_RATES; do attack "GET /v1/calls/{id} (customer key)" "$r" GET "$ckey" "$WORK/calls.urls"; done
	for r in $POST_RATES; do attack "POST /v1/customers" "$r" POST "$OPKEY" "$WORK/customers.urls" "$WORK/customer.json"; done
	for r in $CALL_RATES; do attack "POST /v1/calls" "$r" POST "$ckey" "$WORK/postcall.urls" "$WORK/call.json"; done

	if [[ -s $WORK/data-$BACKEND/stderr ]]; then
		log "server stderr (last lines):"; tail -n 5 "$WORK/data-$BACKEND/stderr" >&2
	fi
	stop_server
	drop_schema
}

for b in $BACKENDS; do
	case $b in
	sqlite) run_backend sqlite ;;
	postgres)
		if ! command -v psql >/dev/null; then
			log "skipping postgres: psql not found"
		elif ! psql -q "$PG_URL" -c 'SELECT 1' >/dev/null 2>&1; then
			log "skipping postgres: $PG_URL is not reachable"
		else
			run_backend postgres
		fi
		;;
	*) die "unknown backend $b" ;;
	esac
done

echo
echo "MiniVoice API load test: $TOOL, ${DURATION}s per run, $NCPU CPUs, $(date -u +%Y-%m-%dT%H:%M:%SZ), commit $COMMIT (plus any uncommitted changes)"
echo "Server and load CPU: percent of one CPU (${NCPU}00% = all busy). CPU pressure: percent of the run's time in which"
echo "some runnable task (server, load tool, PostgreSQL or anything else) waited for a CPU (/proc/pressure/cpu)."
echo
cat "$TABLE"
echo
if [[ -n $TARGET_LINE ]]; then echo "Target: $TARGET_LINE"; fi
if [[ -n ${BENCH_OUT:-} ]]; then
	mkdir -p "$BENCH_OUT"
	cp "$TABLE" "$BENCH_OUT/table.md"
	cp "$WORK"/out/*.json "$BENCH_OUT/" 2>/dev/null || true
	log "results kept in $BENCH_OUT"
fi
if ((${#FAILED[@]})); then
	printf 'bench: %s\n' "${FAILED[@]}" >&2
	# A benchmark run reports it in its table; a smoke run fails.
	[[ $SMOKE == 1 ]] && { echo "bench smoke: FAIL" >&2; exit 1; }
elif [[ $SMOKE == 1 ]]; then
	echo "bench smoke: ok"
fi
