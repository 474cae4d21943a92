#!/usr/bin/env bash
# bench/baseline.sh: MiniVoice side by side with a bare diago program.
#
#   bash bench/baseline.sh
#
# Runs bench/sip-load.sh twice in a row with the same settings: once against
# MiniVoice (a DID whose answer_url returns the actions) and once against
# bench/baseline, a minimal program on the library MiniVoice is built on
# (diago) that answers, plays the same flite "Hello" and hangs up, or holds
# with two-way RTP. The same sipp scenario drives both. It then prints
# MiniVoice's figures as a ratio of the baseline's: answered calls per
# second, CPU per call, memory per held call, setup time. Every setting of
# sip-load.sh applies (SIPLOAD_RATES, SIPLOAD_SECONDS, SIPLOAD_CONCURRENT,
# SIPLOAD_HOLD); BASELINE_FIRST=1 runs the baseline first.
#
#   SMOKE=1 bash bench/baseline.sh   # both in sip-load's smoke mode; fails if either does
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
WORK=$(mktemp -d -t minivoice-baseline.XXXXXX)
trap 'rm -rf "$WORK"' EXIT
order=(minivoice baseline)
[[ ${BASELINE_FIRST:-} == 1 ]] && order=(baseline minivoice)
# A target that fails a part (calls refused or lost at a rate past its
# ceiling) still gets its rows compared; the script fails at the end.
failed=()
for target in "${order[@]}"; do
	echo "== $target"
	SIPLOAD_TARGET=$target SIPLOAD_SUMMARY="$WORK/$target.sum" bash "$ROOT/bench/sip-load.sh" || failed+=("$target")
	echo
done

# field FILE PART KEY [OFFERED]: one value from a summary.
field() {
	awk -v part="$2" -v key="$3" -v off="${4:-}" '{
		delete f; for (i = 1; i <= NF; i++) { split($i, kv, "="); f[kv[1]] = kv[2] }
		if (f["part"] == part && (off == "" || f["offered"] == off) && (key in f)) v = f[key] }
		END { print v }' "$1"
}
ratio() { # a b: a/b to 2 places, "-" when either is missing or b is 0
	awk -v a="$1" -v b="$2" 'BEGIN { if (a == "" || b == "" || a == "-" || b == "-" || b + 0 == 0) print "-"; else printf "%.2f\n", a / b }'
}
MV=$WORK/minivoice.sum BL=$WORK/baseline.sum
echo "MiniVoice as a ratio of the baseline (bench/baseline):"
echo
echo "| part | figure | MiniVoice | baseline | ratio |"
echo "|---|---|---|---|---|"
for key in peak kib_per_call cpu_pct hold_cpu_pct us_per_frame jitter_p99_le_ms jitter_within_2ms_pct; do
	a=$(field "$MV" concurrency $key) b=$(field "$BL" concurrency $key)
	echo "| held calls | $key | $a | $b | $(ratio "$a" "$b") |"
done
for off in $(awk '{ for (i = 1; i <= NF; i++) if ($i ~ /^offered=/) { sub(/offered=/, "", $i); print $i } }' "$MV"); do
	for key in achieved failed_pct cpu_ms_per_call setup_p50_ms setup_p99_ms; do
		a=$(field "$MV" rate $key "$off") b=$(field "$BL" rate $key "$off")
		echo "| $off calls/s offered | $key | $a | $b | $(ratio "$a" "$b") |"
	done
done
if (( ${#failed[@]} > 0 )); then
	echo "sip-load failed a part for: ${failed[*]}" >&2
	exit 1
fi
