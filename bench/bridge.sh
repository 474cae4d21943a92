#!/usr/bin/env bash
# bench/bridge.sh: concurrent two-way bridged calls (dial) through MiniVoice
# on loopback.
#
#   bash bench/bridge.sh                         # 250 bridged calls, G.722, 30 s hold
#   CALLS=100 CODEC=PCMU HOLD=30 bash bench/bridge.sh
#   SMOKE=1 bash bench/bridge.sh                 # 2 calls held 6 s: fails unless one had audio both ways
#
# Builds cmd/minivoice and bench/bridge, starts `minivoice serve` as its own
# process (temp data dir, 127.0.0.1 only) and runs bench/bridge against it:
# CALLS inbound calls to a DID whose application dials a callee on the
# simulator, ramped over RAMP seconds, held HOLD seconds, then hung up. See
# bench/bridge/main.go for what is measured.
#
# Settings (environment):
#   CALLS      concurrent bridged calls (two legs each)    default 250
#   HOLD       seconds all calls are held up               default 30
#   CODEC      G722, PCMU or PCMA (what the simulators offer)  default G722
#   RAMP       seconds over which the calls start          default CALLS/10, at least 5
#   GAP        seconds of silence between sentences       default 2
#   MIN_ACTIVE seconds of speech each leg must hear        default 5, or HOLD/3 if shorter
#   CPUPROFILE write the platform's CPU profile here (MINIVOICE_CPUPROFILE)
#   SIM_CPUPROFILE  write the load program's (simulators') CPU profile here
#   PLATFORM_CPUS, LOAD_CPUS  taskset CPU lists to pin the server and the load
#   OUT        directory to keep serve's log and the JSON result in
#   QUIET, QUIET_WAIT  on a shared machine, first wait (at most QUIET_WAIT s,
#              default 300) until other work uses at most QUIET % of one CPU
#   SMOKE      1: a quick check instead of a benchmark: CALLS=2 HOLD=6 RAMP=2
#              MIN_ACTIVE=2 unless given, bench/bridge -smoke, which exits 1
#              unless at least one call had audio both ways
# Everything is bounded: the load by RAMP+HOLD+80 s (timeout), the server is
# sent SIGTERM on exit and killed 20 s later.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SMOKE=${SMOKE:-}
SMOKE_FLAG=()
if [[ $SMOKE == 1 ]]; then
	CALLS=${CALLS:-2} HOLD=${HOLD:-6} RAMP=${RAMP:-2} MIN_ACTIVE=${MIN_ACTIVE:-2}
	SMOKE_FLAG=(-smoke -settle 3s)
fi
export -n SMOKE # bench/bridge gets -smoke explicitly; the server needs nothing
CALLS=${CALLS:-250}
HOLD=${HOLD:-30}
CODEC=${CODEC:-G722}
RAMP=${RAMP:-$(( CALLS / 10 > 5 ? CALLS / 10 : 5 ))}
GAP=${GAP:-2}
SIP_PORT=${BRIDGE_SIP_PORT:-26060}
HTTP_PORT=${BRIDGE_HTTP_PORT:-28180}
KEY=mvk_op_bridge$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')

# Two UDP sockets per leg on each side, plus SIP, WAVs and the database.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 65536 2>/dev/null || true

# shellcheck source=bench/serve.sh
. "$ROOT/bench/serve.sh"
bench_work bridge
LOAD=""
bench_before_cleanup() { [[ -n $LOAD ]] && kill "$LOAD" 2>/dev/null || true; }
bench_build bridge

# busy: percent of one CPU the whole machine used over the last second.
busy() {
	local a b
	a=($(head -1 /proc/stat)); sleep 1; b=($(head -1 /proc/stat))
	local tot=0 i
	for i in 1 2 3 4 5 6 7 8; do tot=$((tot + b[i] - a[i])); done
	local idle=$(( b[4] - a[4] + b[5] - a[5] ))
	echo $(( tot > 0 ? (tot - idle) * 100 * $(nproc) / tot : 0 ))
}
if [[ -n ${QUIET:-} ]]; then
	quiet=0
	for _ in $(seq "${QUIET_WAIT:-300}"); do
		b=$(busy)
		if (( b <= QUIET )); then quiet=$((quiet + 1)); else quiet=0; fi
		(( quiet >= 3 )) && break # three quiet seconds in a row
	done
	echo "machine busy ${b}% of one CPU before the run (QUIET=$QUIET)"
fi

pin() { if [[ -n ${1:-} ]]; then echo taskset -c "$1"; fi; }

# The platform's RTP ports (10000-19999: 5000 legs) and the simulators'
# (20000-29999) do not overlap, and stay below the kernel's ephemeral range.
start_serve "$(pin "${PLATFORM_CPUS:-}")" --sip "127.0.0.1:$SIP_PORT" --rtp-ports 10000-19999 \
	--allow-private-urls 127.0.0.0/8 --log-level error --drain-timeout 5s

echo "machine: $(nproc) CPUs, $(awk '/model name/ {sub(/.*: /,""); print; exit}' /proc/cpuinfo), $(go version | awk '{print $3}'), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "command: ${SMOKE:+SMOKE=$SMOKE }CALLS=$CALLS HOLD=$HOLD CODEC=$CODEC RAMP=$RAMP bash bench/bridge.sh (ulimit -n $(ulimit -n))"

set +e
timeout --signal=INT --kill-after=10 $((RAMP + HOLD + 80)) $(pin "${LOAD_CPUS:-}") "$WORK/bridge" \
	-api "http://127.0.0.1:$HTTP_PORT" -key "$KEY" -sip "127.0.0.1:$SIP_PORT" -pid "$SERVER" \
	-calls "$CALLS" -ramp "${RAMP}s" -hold "${HOLD}s" -codec "$CODEC" -gap "${GAP}s" ${MIN_ACTIVE:+-min-active "${MIN_ACTIVE}s"} \
	-sim-rtp-ports 20000-29999 -json "$WORK/result.json" -cpuprofile "${SIM_CPUPROFILE:-}" "${SMOKE_FLAG[@]}" \
	-label "load average at start $(cut -d' ' -f1-3 /proc/loadavg)" &
LOAD=$!
wait "$LOAD"
rc=$?
LOAD=""
set -e
if grep -q '"level":"ERROR"' "$WORK/serve.err" 2>/dev/null; then
	echo "serve logged $(grep -c '"level":"ERROR"' "$WORK/serve.err") errors; first ones:"
	grep '"level":"ERROR"' "$WORK/serve.err" | cut -c1-300 | sort | uniq -c | sort -rn | head -5
fi
exit $rc
