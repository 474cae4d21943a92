#!/usr/bin/env bash
# bench/postanswer.sh: the post-answer delay of inbound calls through
# MiniVoice on loopback: from the 200 OK to the first audible frame of the
# application's first prompt (say "Hello", as bench/sip-load.sh's calls),
# measured per call by the simulator (internal/sim).
#
#   bash bench/postanswer.sh                       # 50 calls one by one, then 100 at 10 at a time
#   CALLS=200 CONC_CALLS=500 CONCURRENCY=20 bash bench/postanswer.sh
#   SMOKE=1 bash bench/postanswer.sh               # 5 calls: fails unless every call heard its prompt
#
# Builds cmd/minivoice and bench/postanswer, starts `minivoice serve` as its
# own process (temp data dir, 127.0.0.1 only) and runs bench/postanswer
# against it. See bench/postanswer/main.go for what is measured;
# docs/benchmarks.md has results. The platform's say needs flite. Run the
# full size only on a quiet machine (uptime's load below 2): the callers, the
# application and the platform share its CPUs.
#
# Settings (environment): CALLS (sequential, default 50), CONC_CALLS (100),
# CONCURRENCY (10), CODEC (PCMU), OUT (a directory to keep serve's log and the
# JSON result in), SMOKE=1.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SMOKE=${SMOKE:-}
SMOKE_FLAG=()
if [[ $SMOKE == 1 ]]; then
	SMOKE_FLAG=(-smoke)
fi
export -n SMOKE
CALLS=${CALLS:-50}
CONC_CALLS=${CONC_CALLS:-100}
CONCURRENCY=${CONCURRENCY:-10}
CODEC=${CODEC:-PCMU}
SIP_PORT=${POSTANSWER_SIP_PORT:-27070}
HTTP_PORT=${POSTANSWER_HTTP_PORT:-28290}
KEY=mvk_op_postanswer$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
command -v flite >/dev/null || { echo "flite is required: the application's say renders with it" >&2; exit 1; }
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 65536 2>/dev/null || true

# shellcheck source=bench/serve.sh
. "$ROOT/bench/serve.sh"
bench_work postanswer
bench_build postanswer
start_serve "" --sip "127.0.0.1:$SIP_PORT" --rtp-ports 20000-29999 \
	--allow-private-urls 127.0.0.0/8 --log-level error --drain-timeout 5s

echo "machine: $(nproc) CPUs, $(awk '/model name/ {sub(/.*: /,""); print; exit}' /proc/cpuinfo), load average $(cut -d' ' -f1-3 /proc/loadavg)"
if [[ $SMOKE == 1 ]]; then
	echo "command: SMOKE=1 CODEC=$CODEC bash bench/postanswer.sh"
else
	echo "command: CALLS=$CALLS CONC_CALLS=$CONC_CALLS CONCURRENCY=$CONCURRENCY CODEC=$CODEC bash bench/postanswer.sh"
fi
timeout --signal=INT --kill-after=10 $(((CALLS + 1 + CONC_CALLS / CONCURRENCY + 1) * 10 + 90)) "$WORK/postanswer" \
	-api "http://127.0.0.1:$HTTP_PORT" -key "$KEY" -sip "127.0.0.1:$SIP_PORT" \
	-calls "$CALLS" -concurrent-calls "$CONC_CALLS" -concurrency "$CONCURRENCY" -codec "$CODEC" \
	-json "$WORK/result.json" "${SMOKE_FLAG[@]}"
