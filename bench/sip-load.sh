#!/usr/bin/env bash
# bench/sip-load.sh: sipp calls into a MiniVoice DID on loopback.
#
#   bash bench/sip-load.sh
#
# 1. Concurrency, first, on a fresh server so its memory baseline is clean:
#    SIPLOAD_CONCURRENT calls held up at once (actions: pause for SIPLOAD_HOLD
#    seconds, so RTP flows both ways), sampling the server's RSS and CPU at the
#    peak; memory per call = (peak RSS - idle RSS) / live calls. The CPU while
#    every call is up (the hold, no setup in it) over the frames sent gives
#    the CPU per frame (the server sends one every 20 ms per call; sipp plays
#    its 7 s pcap again and again until the BYE, so the calls are two-way for
#    the whole hold: the script prints the packets received per call per
#    second to show it).
# 2. Call rate: for each rate in SIPLOAD_RATES, SIPLOAD_SECONDS of calls whose
#    actions are say "Hello" + hangup, with sipp playing G.711 audio back
#    (bench/sipp/uac_platform_hangs_up.xml). Reports successful/failed calls.
# 3. RTP send jitter p99 from the platform's histogram, after each part.
# The DID's customer gets what billing needs to admit the calls: credit, an
# inbound rate for every number, and limits above the load; after each part
# the platform's own count of completed and refused calls is printed, so a
# run whose INVITEs are all refused (403) cannot pass for a measurement.
# Only 127.0.0.1 is used; every sipp run is bounded by -m and -timeout.
#
# Each rate row gives the achieved rate (successful calls over the wall time
# sipp needed), the server's CPU per call, and the call setup time (INVITE
# to 200 OK, sipp's rtd) p50/p99. SIPLOAD_SUMMARY=FILE also writes the rows
# as key=value lines for bench/baseline.sh, which runs this script against
# MiniVoice and against bench/baseline (a bare diago program doing the same
# calls) and prints MiniVoice as a ratio of the baseline.
#
#   SIPLOAD_TARGET=baseline bash bench/sip-load.sh   # the same sipp runs against bench/baseline
#
# SIPLOAD_HEAPPROFILE=FILE writes MiniVoice's heap profile (and FILE.goroutines)
# with every call up; SIPLOAD_STACKS=FILE writes every goroutine's stack size
# there, grouped by where it started (needs gdb; bench/gostacks.py).
#
#   SMOKE=1 bash bench/sip-load.sh   # 5 calls held 3 s, then 10 calls at 5/s;
#                                    # exits 1 unless calls completed and none was refused
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SMOKE=${SMOKE:-}
if [[ $SMOKE == 1 ]]; then
	SIPLOAD_RATES=${SIPLOAD_RATES:-5} SIPLOAD_SECONDS=${SIPLOAD_SECONDS:-2}
	SIPLOAD_CONCURRENT=${SIPLOAD_CONCURRENT:-5} SIPLOAD_HOLD=${SIPLOAD_HOLD:-3}
fi
export -n SMOKE # not for the programs started here (bench/answer would check itself and exit)
TARGET=${SIPLOAD_TARGET:-minivoice}
SUMMARY=${SIPLOAD_SUMMARY:-}
[[ $TARGET == minivoice || $TARGET == baseline ]] || { echo "SIPLOAD_TARGET is minivoice or baseline" >&2; exit 1; }
RATES=${SIPLOAD_RATES:-50 100 200 300}
SECONDS_PER_RATE=${SIPLOAD_SECONDS:-20}
CONCURRENT=${SIPLOAD_CONCURRENT:-500}
HOLD=${SIPLOAD_HOLD:-40}
SIP_PORT=${SIPLOAD_SIP_PORT:-25060}
HTTP_PORT=${SIPLOAD_HTTP_PORT:-28080}
ANSWER_PORT=${SIPLOAD_ANSWER_PORT:-28099}
# SIPLOAD_SIPP_NICE=N runs sipp at nice N (default 0): with 19, the server
# gets the CPUs first, which shows how much of its send jitter is waiting
# for a CPU the far end holds rather than its own clock.
SIPP_NICE=${SIPLOAD_SIPP_NICE:-0}
KEY=mvk_op_sipload$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
command -v sipp >/dev/null || { echo "sipp (Debian sip-tester) is required" >&2; exit 1; }

WORK=$(mktemp -d -t minivoice-sipload.XXXXXX)
PIDS=()
# SIGTERM first so the server finishes its CPU profile (SIPLOAD_CPUPROFILE=FILE).
cleanup() { for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true; rm -rf "$WORK"; }
trap cleanup EXIT

summary() { [[ -z $SUMMARY ]] || echo "$*" >>"$SUMMARY"; }
# rtt_stats FILE: from a sipp -trace_rtt file (one line per answered call:
# when the 200 OK came, ms since sipp started; INVITE to 200 OK, ms), the
# setup time p50 and p99 and the achieved rate: answered calls per second
# between the first and the last answer (the wall time of the whole run
# also holds the last calls' duration).
rtt_stats() {
	tail -n +2 "$1" 2>/dev/null | sort -t';' -k2 -n | awk -F';' '
	{ v[NR] = $2; if (NR == 1 || $1 < first) first = $1; if ($1 > last) last = $1 }
	END {
		if (NR == 0) { print "- - -"; exit }
		i50 = int(NR * 0.50); if (i50 < 1) i50 = 1; i99 = int(NR * 0.99); if (i99 < 1) i99 = 1
		rate = (last > first) ? (NR - 1) * 1000 / (last - first) : 0
		printf "%s %s %.1f\n", v[i50], v[i99], rate }'
}

if [[ $TARGET == baseline ]]; then
	command -v flite >/dev/null || { echo "flite is required to render the baseline's prompt" >&2; exit 1; }
	go build -o "$WORK/baseline" "$ROOT/bench/baseline"
	# The same words MiniVoice's say renders with flite.
	flite -t Hello -o "$WORK/hello.wav"
	SERVER=
	# start_answer for the baseline: restart it in the mode the part needs.
	start_answer() { # $1: actions JSON (read for the mode only)
		[[ -n $SERVER ]] && kill "$SERVER" 2>/dev/null && wait "$SERVER" 2>/dev/null || true
		if [[ $1 == *pause* ]]; then
			"$WORK/baseline" -sip "127.0.0.1:$SIP_PORT" -metrics "127.0.0.1:$HTTP_PORT" -mode hold -hold "${HOLD}s" 2>"$WORK/baseline.err" & SERVER=$!
		else
			# SIPLOAD_CPUPROFILE=FILE: the prompt runs' profile (written at SIGTERM).
			"$WORK/baseline" -sip "127.0.0.1:$SIP_PORT" -metrics "127.0.0.1:$HTTP_PORT" -mode prompt -prompt "$WORK/hello.wav" \
				-cpuprofile "${SIPLOAD_CPUPROFILE:-}" 2>"$WORK/baseline.err" & SERVER=$!
		fi
		PIDS+=("$SERVER")
		sleep 1
	}
	platform_calls() { echo "0 0 0 0 -"; }
else
go build -o "$WORK/minivoice" "$ROOT/cmd/minivoice"
go build -o "$WORK/answer" "$ROOT/bench/answer"

start_answer() { # $1: actions JSON
	[[ -n ${ANSWER_PID:-} ]] && kill "$ANSWER_PID" 2>/dev/null && wait "$ANSWER_PID" 2>/dev/null || true
	"$WORK/answer" -listen "127.0.0.1:$ANSWER_PORT" -actions "$1" & ANSWER_PID=$!; PIDS+=("$ANSWER_PID")
	sleep 0.5
}

MINIVOICE_HEAPPROFILE=${SIPLOAD_HEAPPROFILE:-} MINIVOICE_CPUPROFILE=${SIPLOAD_CPUPROFILE:-} MINIVOICE_ADMIN_KEY=$KEY "$WORK/minivoice" serve --data "$WORK/data" --http "127.0.0.1:$HTTP_PORT" \
	--sip "127.0.0.1:$SIP_PORT" --rtp-ports 30000-60000 --allow-private-urls 127.0.0.0/8 --log-level error \
	>"$WORK/serve.out" 2>"$WORK/serve.err" & SERVER=$!; PIDS+=("$SERVER")
for _ in $(seq 100); do curl -fs "127.0.0.1:$HTTP_PORT/healthz" >/dev/null && break; sleep 0.1; done
curl -fs "127.0.0.1:$HTTP_PORT/healthz" >/dev/null || { echo "serve did not start:" >&2; cat "$WORK/serve.err" >&2; exit 1; }
api() { curl -fsS "127.0.0.1:$HTTP_PORT$1" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' ${2:+-d "$2"}; }
CUST=$(api /v1/customers '{"name":"sipload","max_concurrent_calls":100000,"max_cps":10000}' | sed 's/.*"id":"\([^"]*\)".*/\1/')
APP=$(api /v1/applications "{\"customer_id\":\"$CUST\",\"name\":\"load\",\"answer_url\":\"http://127.0.0.1:$ANSWER_PORT/answer\"}" | sed 's/.*"id":"\([^"]*\)".*/\1/')
api /v1/trunks '{"name":"sipp","direction":"inbound","allowed_cidrs":["127.0.0.1"],"max_cps":10000}' >/dev/null
api /v1/numbers "{\"number\":\"+15551230002\",\"customer_id\":\"$CUST\",\"application_id\":\"$APP\"}" >/dev/null
# Billing admits an inbound call only with an inbound rate for the DID and a
# balance that covers its first increment (docs/billing.md): without these
# every INVITE is refused with 403.
api "/v1/customers/$CUST/credits" '{"amount":"1000000.00","description":"sip-load"}' >/dev/null
api /v1/rates "{\"customer_id\":\"$CUST\",\"direction\":\"inbound\",\"prefix\":\"\",\"price_per_minute\":\"0.001\",\"initial_increment\":1,\"subsequent_increment\":1}" >/dev/null
fi

rss_kib() { awk '/VmRSS/ {print $2}' "/proc/$SERVER/status"; }
# go_mem: the Go runtime's view of the server, from /metrics: goroutines,
# heap in use and stacks in use (KiB), e.g. "52 8123 640"; what the RSS per
# call is made of (MiniVoice only).
go_mem() {
	curl -fs "127.0.0.1:$HTTP_PORT/metrics" -H "Authorization: Bearer $KEY" | awk '
	/^go_goroutines / { g = $2 } /^go_memstats_heap_inuse_bytes / { h = $2 } /^go_memstats_stack_inuse_bytes / { s = $2 }
	END { printf "%d %d %d\n", g, h / 1024, s / 1024 }'
}
cpu_ticks() { awk '{print $14+$15}' "/proc/$SERVER/stat"; }
# rx_packets: RTP packets the platform has received so far (MiniVoice only;
# 0 for the baseline), to show the hold is two-way.
rx_packets() {
	[[ $TARGET == baseline ]] && { echo 0; return; }
	curl -fs "127.0.0.1:$HTTP_PORT/metrics" -H "Authorization: Bearer $KEY" | awk '/^minivoice_rtp_packets_total\{/ && /direction="rx"/ { n += $2 } END { printf "%d\n", n }'
}
TCK=$(getconf CLK_TCK)

# platform_calls: the platform's own count of inbound calls completed and of
# INVITEs it refused so far (from /metrics), SQLite's calls' writes and the
# transactions they ran in, then the refusals by SIP status, e.g.
# "12 3 60 41 503=3".
[[ $TARGET == baseline ]] || platform_calls() {
	curl -fs "127.0.0.1:$HTTP_PORT/metrics" -H "Authorization: Bearer $KEY" | awk '
	/^minivoice_calls_total\{/ && /direction="inbound"/ && /status="completed"/ { done += $2 }
	/^minivoice_sip_inbound_refused_total/ { refused += $2; match($0, /code="[0-9]+"/); by = by sep substr($0, RSTART+6, RLENGTH-7) "=" $2; sep = "," }
	/^minivoice_sqlite_writes_total / { writes = $2 }
	/^minivoice_sqlite_write_transactions_total / { txs = $2 }
	END { printf "%d %d %d %d %s\n", done, refused, writes, txs, (by == "" ? "-" : by) }'
}
# by_code BEFORE AFTER: the refusals by status between two platform_calls
# samples' third fields, e.g. "503: 1200, 500: 3".
by_code() {
	awk -v a="$1" -v b="$2" 'BEGIN {
		n = split(a, x, ","); for (i = 1; i <= n; i++) { split(x[i], kv, "="); was[kv[1]] = kv[2] }
		n = split(b, x, ","); for (i = 1; i <= n; i++) { split(x[i], kv, "="); d = kv[2] - was[kv[1]]; if (kv[1] != "-" && d > 0) { out = out sep kv[1] ": " d; sep = ", " } }
		print out }'
}
FAILED=()
# check_part NAME SIPP_OK BEFORE [AFTER]: the platform completed calls in
# this part (between the platform_calls samples BEFORE and AFTER, default
# now) and refused none (SMOKE=1 fails the run otherwise).
check_part() {
	local now=${4:-} done refused done0 refused0 codes codes0 writes writes0 txs txs0
	[[ -n $now ]] || now=$(platform_calls)
	read -r done refused writes txs codes <<<"$now"; read -r done0 refused0 writes0 txs0 codes0 <<<"$3"
	if [[ $TARGET == baseline ]]; then # no metrics: sipp's count stands for the server's
		echo "baseline ($1): sipp counted $2 successful"
		(( ${2:-0} > 0 )) || FAILED+=("$1: no call succeeded")
		return
	fi
	local why=""
	(( refused - refused0 > 0 )) && why=" (by SIP status: $(by_code "${codes0:--}" "${codes:--}"))"
	local shared=""
	(( txs - txs0 > 0 )) && shared="; SQLite: $(awk -v w=$((writes - writes0)) -v t=$((txs - txs0)) 'BEGIN { printf "%.2f", w / t }') writes a transaction"
	echo "platform ($1): $((done - done0)) inbound calls completed, $((refused - refused0)) INVITEs refused$why; sipp counted $2 successful$shared"
	if (( done - done0 == 0 || ${2:-0} == 0 )); then FAILED+=("$1: no call succeeded"); fi
	if (( refused - refused0 > 0 )); then FAILED+=("$1: $((refused - refused0)) INVITEs refused"); fi
}

echo "machine: $(nproc) cores, $(awk '/model name/ {sub(/.*: /,""); print; exit}' /proc/cpuinfo), $(free -g | awk '/Mem:/ {print $2}') GiB"
echo
# jitter_fields: from the server's histogram of how far each sent frame's
# interval strays from 20 ms (bench/baseline keeps one too): frames, the p99's
# bucket bound in seconds, and the shares of frames within 2 ms and within
# 1 ms, e.g. "754500 0.005 82.71 61.20"; nothing without frames.
jitter_fields() {
	curl -fs "127.0.0.1:$HTTP_PORT/metrics" -H "Authorization: Bearer $KEY" | awk '
	/^minivoice_rtp_send_jitter_seconds_bucket/ { match($0, /le="[^"]+"/); le = substr($0, RSTART+4, RLENGTH-5); b[++n] = le; c[n] = $2 }
	/^minivoice_rtp_send_jitter_seconds_count/ { total = $2 }
	END {
		if (total == 0) exit
		for (i = 1; i <= n; i++) { if (b[i] == "0.002") within2 = c[i]; if (b[i] == "0.001") within1 = c[i] }
		for (i = 1; i <= n; i++) if (c[i] >= 0.99 * total) { printf "%d %s %.2f %.2f\n", total, b[i], 100 * within2 / total, 100 * within1 / total; exit }
	}'
}
# frames_measured: the send-jitter histogram's count so far (intervals
# between one call's frames: about one per frame sent), 0 without frames.
frames_measured() {
	curl -fs "127.0.0.1:$HTTP_PORT/metrics" -H "Authorization: Bearer $KEY" | awk '/^minivoice_rtp_send_jitter_seconds_count/ { n = $2 } END { printf "%d\n", n }'
}
jitter() { # $1: which part; with a second argument, also a summary line
	local f frames p99 within2
	f=$(jitter_fields)
	if [[ -z $f ]]; then echo "RTP send jitter ($1): no frames measured"; return; fi
	read -r frames p99 within2 within1 <<<"$f"
	echo "RTP send jitter ($1): $frames frames, p99 <= $p99 s (histogram bucket bound); $within2 % within 2 ms, $within1 % within 1 ms"
	[[ -z ${2:-} ]] || summary "part=concurrency jitter_p99_le_ms=$(echo "$p99 * 1000" | bc) jitter_within_2ms_pct=$within2"
}

echo "target: $TARGET"
start_answer "[{\"action\":\"pause\",\"length\":$HOLD},{\"action\":\"hangup\"}]"
before=$(platform_calls)
idle=$(rss_kib)
[[ $TARGET == baseline ]] || mem0=$(go_mem)
(cd "$WORK" && timeout --kill-after=10 $((HOLD + 150)) nice -n "$SIPP_NICE" sipp "127.0.0.1:$SIP_PORT" -sf "$ROOT/bench/sipp/uac_platform_hangs_up.xml" -s 15551230002 \
	-i 127.0.0.1 -r 50 -m "$CONCURRENT" -l "$CONCURRENT" -nostdin -timeout $((HOLD + 120)) -max_socket 10000 \
	-trace_stat -stf "$WORK/stat_conc.csv" -fd 1 >/dev/null 2>&1) & SIPP=$!
peak_calls=0; peak_rss=$idle; c0=$(cpu_ticks); t0=$(date +%s.%N)
for _ in $(seq $((HOLD + 60))); do
	sleep 1
	kill -0 "$SIPP" 2>/dev/null || break
	if [[ $TARGET == baseline ]]; then
		# sipp's own count of calls up (CurrentCall), from its periodic stat line.
		live=$(awk -F';' 'NR == 1 { for (i = 1; i <= NF; i++) if ($i == "CurrentCall") c = i } END { if (c) print $c }' "$WORK/stat_conc.csv" 2>/dev/null)
	else
		live=$(curl -fs "127.0.0.1:$HTTP_PORT/metrics" -H "Authorization: Bearer $KEY" | awk '/^minivoice_active_calls / {print $2}')
	fi
	live=${live%.*}; live=${live:-0}
	# The hold: every call up, none ended yet. Its CPU over the frames the
	# calls exchange is the CPU per frame, free of call setup.
	if (( live >= CONCURRENT )); then
		if [[ -z ${h0:-} ]]; then h0=$(cpu_ticks); ht0=$(date +%s.%N); rx0=$(rx_packets); else h1=$(cpu_ticks); ht1=$(date +%s.%N); rx1=$(rx_packets); fi
	fi
	if (( live > peak_calls )); then
		peak_calls=$live; peak_rss=$(rss_kib); c1=$(cpu_ticks); t1=$(date +%s.%N)
		[[ $TARGET == baseline ]] || mem1=$(go_mem)
		# SIPLOAD_HEAPPROFILE=FILE: the server's heap with every call up.
		if [[ -n ${SIPLOAD_HEAPPROFILE:-} && $TARGET != baseline ]] && (( live >= CONCURRENT )); then kill -USR1 "$SERVER"; fi
		# SIPLOAD_STACKS=FILE: every goroutine's stack size with every call up
		# (gdb and bench/gostacks.py; the server pauses while gdb reads it).
		if [[ -n ${SIPLOAD_STACKS:-} ]] && (( live >= CONCURRENT )); then
			timeout 120 gdb -p "$SERVER" -batch -x "$ROOT/bench/gostacks.py" 2>/dev/null | grep -E '^[0-9]+ [0-9]+ [0-9]+ ' > "$SIPLOAD_STACKS" || true
		fi
	fi
done
wait "$SIPP" || true
last=$(tail -1 "$WORK/stat_conc.csv"); hdr=$(head -1 "$WORK/stat_conc.csv")
col() { echo "$hdr" | tr ';' '\n' | grep -n "^$1\$" | cut -d: -f1; }
ok=$(echo "$last" | cut -d';' -f"$(col 'SuccessfulCall(C)')"); bad=$(echo "$last" | cut -d';' -f"$(col 'FailedCall(C)')")
per_call=$(( (peak_rss - idle) / (peak_calls > 0 ? peak_calls : 1) ))
cpu=$(echo "scale=1; (${c1:-$c0} - $c0) * 100 / $TCK / (${t1:-$t0} - $t0 + 0.001)" | bc)
# While holding: CPU % of one core, and CPU per frame the server sends (one
# every 20 ms per call): "-" without two samples.
hold_cpu=-; us_frame=-; rx_rate=-
if [[ -n ${h1:-} ]]; then
	rx_rate=$(echo "scale=1; ($rx1 - $rx0) / ($ht1 - $ht0) / $CONCURRENT" | bc)
	hold_cpu=$(echo "scale=1; ($h1 - $h0) * 100 / $TCK / ($ht1 - $ht0)" | bc)
	us_frame=$(echo "scale=1; ($h1 - $h0) * 1000000 / $TCK / ($ht1 - $ht0) / ($CONCURRENT * 50)" | bc)
fi
echo "| concurrent calls wanted | peak live calls | successful | failed | idle RSS MiB | peak RSS MiB | KiB per live call | server CPU % while ramping | server CPU % while holding | CPU µs per frame sent while holding |"
echo "|---|---|---|---|---|---|---|---|---|---|"
echo "| $CONCURRENT | $peak_calls | $ok | $bad | $((idle / 1024)) | $((peak_rss / 1024)) | $per_call | $cpu | $hold_cpu | $us_frame |"
summary "part=concurrency peak=$peak_calls ok=$ok failed=$bad kib_per_call=$per_call cpu_pct=$cpu hold_cpu_pct=$hold_cpu us_per_frame=$us_frame"
# sipp plays its pcap (30 ms packets, about 33 a second) again and again
# until the BYE, so each held call also receives RTP throughout the hold.
[[ $TARGET == baseline ]] || echo "RTP packets received while holding: $rx_rate per call per second (sipp sends about 33)"
if [[ $TARGET != baseline && -n ${mem1:-} ]] && (( peak_calls > 0 )); then
	read -r g0 h0 s0 <<<"$mem0"; read -r g1 h1 s1 <<<"$mem1"
	echo "per live call at the peak (Go runtime, /metrics): $(( (g1 - g0) / peak_calls )) goroutines, heap in use $(( (h1 - h0) / peak_calls )) KiB, stacks $(( (s1 - s0) / peak_calls )) KiB"
fi
sleep 1 # the platform writes a call's end just after its BYE
check_part "concurrency run" "$ok" "$before"

jitter "concurrency run" summary
echo
PARTS=()
echo "| calls/s offered | calls | successful | failed | failed % | wall s | answered calls/s | server CPU % | CPU ms per call | setup p50 ms | setup p99 ms | frames sent per call |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|"
start_answer '[{"action":"say","text":"Hello"},{"action":"hangup"}]'
for rate in $RATES; do
	total=$((rate * SECONDS_PER_RATE))
	before=$(platform_calls)
	f0=$(frames_measured)
	c0=$(cpu_ticks); t0=$(date +%s.%N)
	# sipp's own -timeout did not end a run that overloaded the server (at 800
	# calls/s it ran for minutes): coreutils' timeout is the backstop.
	(cd "$WORK" && timeout --kill-after=10 $((SECONDS_PER_RATE * 3 + 60)) nice -n "$SIPP_NICE" sipp "127.0.0.1:$SIP_PORT" -sf "$ROOT/bench/sipp/uac_platform_hangs_up.xml" -s 15551230002 \
		-i 127.0.0.1 -r "$rate" -m "$total" -l $((rate * 10)) -nostdin -timeout $((SECONDS_PER_RATE * 3 + 30)) \
		-trace_stat -stf "$WORK/stat_$rate.csv" -fd 1 -max_socket 10000 \
		-trace_rtt -rtt_freq 1 >/dev/null 2>&1) || true
	mv "$WORK"/uac_platform_hangs_up_*_rtt.csv "$WORK/rtt_$rate.csv" 2>/dev/null || true
	t1=$(date +%s.%N); c1=$(cpu_ticks)
	last=$(tail -1 "$WORK/stat_$rate.csv")
	hdr=$(head -1 "$WORK/stat_$rate.csv")
	col() { echo "$hdr" | tr ';' '\n' | grep -n "^$1\$" | cut -d: -f1; }
	ok=$(echo "$last" | cut -d';' -f"$(col 'SuccessfulCall(C)')")
	bad=$(echo "$last" | cut -d';' -f"$(col 'FailedCall(C)')")
	wall=$(echo "$t1 - $t0" | bc)
	cpu=$(echo "scale=1; ($c1 - $c0) * 100 / $TCK / $wall" | bc)
	pct=$(echo "scale=3; $bad * 100 / ($ok + $bad)" | bc)
	ms_call=$(echo "scale=2; ($c1 - $c0) * 1000 / $TCK / $((ok > 0 ? ok : 1))" | bc)
	read -r p50 p99 achieved <<<"$(rtt_stats "$WORK/rtt_$rate.csv")"
	# Frames sent per call, from the send-jitter count (both servers keep
	# it), so a server that sends more audio per call shows it.
	fpc=$(echo "scale=1; ($(frames_measured) - $f0) / $((ok > 0 ? ok : 1))" | bc)
	echo "| $rate | $total | $ok | $bad | $pct | $wall | $achieved | $cpu | $ms_call | $p50 | $p99 | $fpc |"
	summary "part=rate offered=$rate ok=$ok failed=$bad failed_pct=$pct achieved=$achieved cpu_pct=$cpu cpu_ms_per_call=$ms_call setup_p50_ms=$p50 setup_p99_ms=$p99"
	sleep 3
	PARTS+=("$rate calls/s|$ok|$before|$(platform_calls)")
done
for p in "${PARTS[@]}"; do IFS='|' read -r name ok before after <<<"$p"; check_part "$name" "$ok" "$before" "$after"; done


echo
jitter "all runs"

if ((${#FAILED[@]})); then
	printf 'sip-load: %s\n' "${FAILED[@]}" >&2
	# A benchmark run says so and carries on; a smoke run fails.
	[[ $SMOKE == 1 ]] && { echo "sip-load smoke: FAIL" >&2; exit 1; }
elif [[ $SMOKE == 1 ]]; then
	echo "sip-load smoke: ok"
fi
