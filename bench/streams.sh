#!/usr/bin/env bash
# bench/streams.sh: concurrent two-way media streams through MiniVoice on
# loopback: calls from the simulator, each connected by its application to a
# bidirectional stream whose receiver echoes the caller's audio back.
#
#   bash bench/streams.sh                 # 200 calls, PCMU, 30 s hold
#   CALLS=300 HOLD=30 bash bench/streams.sh
#   SMOKE=1 bash bench/streams.sh         # 2 calls held 6 s: fails unless both echoed
#
# Builds cmd/minivoice and bench/streams, starts `minivoice serve` as its own
# process (temp data dir, 127.0.0.1 only) and runs bench/streams against it.
# See bench/streams/main.go for what is measured; docs/benchmarks.md has
# results. Run the full size only on a quiet machine (uptime's load below
# 1.5): the callers, the receiver and the platform share its CPUs.
#
# Settings (environment): CALLS (default 200), HOLD seconds (30), RAMP
# seconds (CALLS/10, at least 5), CODEC (PCMU), OUT (a directory to keep
# serve's log and the JSON result in), SMOKE=1, CPUPROFILE (the platform's
# CPU profile, written at shutdown), SIM_CPUPROFILE (the load program's).
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SMOKE=${SMOKE:-}
SMOKE_FLAG=()
if [[ $SMOKE == 1 ]]; then
	CALLS=${CALLS:-2} HOLD=${HOLD:-6} RAMP=${RAMP:-1}
	SMOKE_FLAG=(-smoke)
fi
export -n SMOKE
CALLS=${CALLS:-200}
HOLD=${HOLD:-30}
CODEC=${CODEC:-PCMU}
RAMP=${RAMP:-$(( CALLS / 10 > 5 ? CALLS / 10 : 5 ))}
SIP_PORT=${STREAMS_SIP_PORT:-27060}
HTTP_PORT=${STREAMS_HTTP_PORT:-28280}
KEY=mvk_op_streams$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
ulimit -n "$(ulimit -Hn)" 2>/dev/null || ulimit -n 65536 2>/dev/null || true

# shellcheck source=bench/serve.sh
. "$ROOT/bench/serve.sh"
bench_work streams
bench_build streams
start_serve "" --sip "127.0.0.1:$SIP_PORT" --rtp-ports 10000-19999 \
	--allow-private-urls 127.0.0.0/8 --log-level error --drain-timeout 5s --max-streams-per-customer $((CALLS + 10))

echo "machine: $(nproc) CPUs, $(awk '/model name/ {sub(/.*: /,""); print; exit}' /proc/cpuinfo), load average $(cut -d' ' -f1-3 /proc/loadavg)"
echo "command: ${SMOKE:+SMOKE=$SMOKE }CALLS=$CALLS HOLD=$HOLD CODEC=$CODEC RAMP=$RAMP bash bench/streams.sh"
timeout --signal=INT --kill-after=10 $((RAMP + HOLD + 100)) "$WORK/streams" \
	-api "http://127.0.0.1:$HTTP_PORT" -key "$KEY" -sip "127.0.0.1:$SIP_PORT" -pid "$SERVER" \
	-calls "$CALLS" -ramp "${RAMP}s" -hold "${HOLD}s" -codec "$CODEC" -json "$WORK/result.json" -cpuprofile "${SIM_CPUPROFILE:-}" "${SMOKE_FLAG[@]}"
