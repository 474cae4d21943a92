#!/usr/bin/env bash
# bench/smoke.sh: every benchmark in its smoke mode (SMOKE=1), one after the
# other, each bounded in time. A smoke run places a few calls or requests for
# a few seconds and fails when nothing succeeded or nothing was measured; it
# checks that the benchmarks still work, not how fast anything is. The whole
# run takes about 2-4 minutes on 2 CPUs.
#
#   bash bench/smoke.sh
#
# Exits 1 if any step failed. A step whose tool is missing (sipp, flite,
# pocketsphinx) is skipped with a message, or fails with SMOKE_STRICT=1.
# PostgreSQL steps run when MINIVOICE_TEST_DATABASE_URL is set (webhooks) or
# BENCH_PG_URL answers (run.sh). Only 127.0.0.1 is used.
set -uo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
cd "$ROOT"
STRICT=${SMOKE_STRICT:-}
WORK=$(mktemp -d -t minivoice-smoke.XXXXXX)
trap 'rm -rf "$WORK"' EXIT

RESULTS=()
FAILS=0

# step NAME TIMEOUT_S CMD...: runs CMD with SMOKE=1, bounded by TIMEOUT_S.
step() {
	local name=$1 limit=$2; shift 2
	printf '\n== smoke: %s ==\n' "$name"
	local t0=$SECONDS rc=0
	SMOKE=1 timeout --kill-after=10 "$limit" "$@" || rc=$?
	local took=$((SECONDS - t0))
	if ((rc == 0)); then
		RESULTS+=("ok    $name (${took} s)")
	else
		((rc == 124)) && echo "smoke: $name took longer than ${limit} s" >&2
		RESULTS+=("FAIL  $name (exit $rc after ${took} s)")
		FAILS=$((FAILS + 1))
	fi
}

# skip NAME WHY: a step that cannot run here.
skip() {
	printf '\n== smoke: %s ==\nskipped: %s\n' "$1" "$2"
	if [[ $STRICT == 1 ]]; then
		RESULTS+=("FAIL  $1 (skipped with SMOKE_STRICT=1: $2)")
		FAILS=$((FAILS + 1))
	else
		RESULTS+=("skip  $1 ($2)")
	fi
}

has() { command -v "$1" >/dev/null; }

printf '== smoke: building the Go benchmark programs ==\n'
if ! go build -o "$WORK/" ./bench/answer ./bench/loadgen ./bench/webhooks ./bench/asr-wer ./bench/bridge ./bench/insights-eval ./bench/streams ./bench/postanswer; then
	echo "smoke: FAIL: the benchmark programs do not build" >&2
	exit 1
fi

step "bench/answer -smoke" 30 "$WORK/answer"
step "bench/loadgen -smoke" 30 "$WORK/loadgen"
step "bench/webhooks -smoke (sqlite)" 120 "$WORK/webhooks" -backend sqlite
if [[ -n ${MINIVOICE_TEST_DATABASE_URL:-} ]]; then
	step "bench/webhooks -smoke (postgres)" 120 "$WORK/webhooks" -backend postgres -database "$MINIVOICE_TEST_DATABASE_URL"
else
	skip "bench/webhooks -smoke (postgres)" "MINIVOICE_TEST_DATABASE_URL is not set"
fi
step "bench/run.sh (API load, loadgen)" 300 bash bench/run.sh
if has sipp; then
	step "bench/sip-load.sh (sipp into a DID)" 240 bash bench/sip-load.sh
else
	skip "bench/sip-load.sh (sipp into a DID)" "sipp is not installed (Debian sip-tester)"
fi
if has sipp && has flite; then
	step "bench/baseline.sh (MiniVoice and a bare diago program, same sipp calls)" 300 bash bench/baseline.sh
else
	skip "bench/baseline.sh (MiniVoice and a bare diago program, same sipp calls)" "needs sipp and flite"
fi
if has sipp; then
	step "bench/sip-flood.sh (SIP edge under attack)" 180 bash bench/sip-flood.sh
else
	skip "bench/sip-flood.sh (SIP edge under attack)" "sipp is not installed (Debian sip-tester)"
fi
if has sipp && { has kamailio || [[ -x /usr/sbin/kamailio ]]; } && has psql && [[ -n ${MINIVOICE_TEST_DATABASE_URL:-} ]]; then
	step "bench/cluster-load.sh (two nodes behind Kamailio, one alone)" 180 bash bench/cluster-load.sh
else
	skip "bench/cluster-load.sh (two nodes behind Kamailio, one alone)" "needs sipp, kamailio, psql and MINIVOICE_TEST_DATABASE_URL"
fi
if has flite; then
	step "bench/bridge.sh (bridged calls)" 240 bash bench/bridge.sh
else
	skip "bench/bridge.sh (bridged calls)" "flite is not installed"
fi
step "bench/streams.sh (two-way media streams, echoed)" 120 bash bench/streams.sh
if has flite; then
	step "bench/postanswer.sh (200 OK to the first prompt frame)" 120 bash bench/postanswer.sh
else
	skip "bench/postanswer.sh (200 OK to the first prompt frame)" "flite is not installed"
fi
if has flite && has pocketsphinx_continuous; then
	step "bench/asr-wer -smoke (record and transcribe)" 240 "$WORK/asr-wer" -q
else
	skip "bench/asr-wer -smoke (record and transcribe)" "flite or pocketsphinx is not installed"
fi
if has flite && has pocketsphinx_continuous; then
	step "bench/insights-eval -smoke (dialogues, analysis)" 240 "$WORK/insights-eval"
else
	skip "bench/insights-eval -smoke (dialogues, analysis)" "flite or pocketsphinx is not installed"
fi

printf '\n== smoke: summary ==\n'
printf '%s\n' "${RESULTS[@]}"
if ((FAILS > 0)); then
	echo "smoke: $FAILS step(s) failed" >&2
	exit 1
fi
echo "smoke: all steps passed"
