#!/usr/bin/env bash
# bench/sip-flood.sh: the SIP edge under attack, with real calls going on.
#
#   bash bench/sip-flood.sh                       # the current tree
#   FLOOD_BEFORE=<git rev> bash bench/sip-flood.sh  # that revision first, then the current tree
#
# For each build: `minivoice serve` on loopback with a DID, an inbound trunk
# for 127.0.0.1 and an answer_url (pause 2 s, hang up); then, for
# FLOOD_SECONDS at once:
#   - bench/sipflood floods FLOOD_RATE INVITEs a second over UDP from
#     FLOOD_SOURCES loopback addresses no trunk allows (127.2.x.y), and holds
#     FLOOD_TCP TCP connections from FLOOD_TCP_SOURCES addresses (127.3.x.y),
#     half silent, half with an INVITE never finished, dialling again a
#     second after the server closes one;
#   - sipp places real calls into the DID at FLOOD_CALL_RATE a second
#     (bench/sipp/uac_platform_hangs_up.xml).
# Reported per build: the server's goroutines and RSS (peak during the
# attack, and 3 s after it), answers to the flood (final responses,
# retransmitted ones, 100 Trying), the INVITEs the edge answered, rate
# limited or dropped (its metric; absent before the edge existed), the TCP
# connections held and closed, real calls succeeded and failed, and the
# server's log lines.
# Only 127.0.0.0/8 is used; every program is bounded by FLOOD_SECONDS.
#
#   SMOKE=1 bash bench/sip-flood.sh   # 5 s, 100 INVITEs/s, 200 connections, a call a second;
#                                     # exits 1 unless every real call succeeded, the flood
#                                     # was answered and no answer was retransmitted
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SMOKE=${SMOKE:-}
if [[ $SMOKE == 1 ]]; then
	FLOOD_SECONDS=${FLOOD_SECONDS:-5} FLOOD_RATE=${FLOOD_RATE:-100} FLOOD_TCP=${FLOOD_TCP:-200}
	FLOOD_CALL_RATE=${FLOOD_CALL_RATE:-1} FLOOD_BEFORE=
fi
export -n SMOKE # not for the programs started here (bench/answer would check itself and exit)
SECS=${FLOOD_SECONDS:-60}
RATE=${FLOOD_RATE:-1000}
SOURCES=${FLOOD_SOURCES:-250}
TCPN=${FLOOD_TCP:-10000}
TCP_SOURCES=${FLOOD_TCP_SOURCES:-80}
CALL_RATE=${FLOOD_CALL_RATE:-2}
BEFORE=${FLOOD_BEFORE:-}
SIP_PORT=${FLOOD_SIP_PORT:-26060}
HTTP_PORT=${FLOOD_HTTP_PORT:-29080}
ANSWER_PORT=${FLOOD_ANSWER_PORT:-29099}
KEY=mvk_op_sipflood$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
command -v sipp >/dev/null || { echo "sipp (Debian sip-tester) is required" >&2; exit 1; }
# The flooder holds FLOOD_TCP sockets and so does the server.
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
if (( $(ulimit -n) < TCPN + 1000 )); then
	echo "sip-flood: ulimit -n is $(ulimit -n); FLOOD_TCP=$TCPN needs more (lower FLOOD_TCP)" >&2
	exit 1
fi

WORK=$(mktemp -d -t minivoice-sipflood.XXXXXX)
PIDS=()
WORKTREE=
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	[[ -n $WORKTREE ]] && git -C "$ROOT" worktree remove --force "$WORKTREE" 2>/dev/null || true
	rm -rf "$WORK"
}
trap cleanup EXIT

go build -o "$WORK/minivoice" "$ROOT/cmd/minivoice"
go build -o "$WORK/answer" "$ROOT/bench/answer"
go build -o "$WORK/sipflood" "$ROOT/bench/sipflood"
if [[ -n $BEFORE ]]; then
	WORKTREE="$WORK/before-src"
	git -C "$ROOT" worktree add --detach "$WORKTREE" "$BEFORE" >/dev/null 2>&1
	(cd "$WORKTREE" && go build -o "$WORK/minivoice-before" ./cmd/minivoice)
fi

"$WORK/answer" -listen "127.0.0.1:$ANSWER_PORT" -actions '[{"action":"pause","length":2},{"action":"hangup"}]' &
PIDS+=("$!")

echo "machine: $(nproc) cores, $(awk '/model name/ {sub(/.*: /,""); print; exit}' /proc/cpuinfo), $(free -g | awk '/Mem:/ {print $2}') GiB; load average before: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "attack: ${SECS} s, ${RATE} INVITEs/s from ${SOURCES} addresses, ${TCPN} TCP connections from ${TCP_SOURCES} addresses; real calls ${CALL_RATE}/s"
echo
ROWS=()
FAILED=()

# run LABEL BINARY: one measurement against a fresh server.
run() {
	local label=$1 bin=$2 data="$WORK/data-$1"
	MINIVOICE_ADMIN_KEY=$KEY "$bin" serve --data "$data" --http "127.0.0.1:$HTTP_PORT" --sip "127.0.0.1:$SIP_PORT" \
		--rtp-ports 30000-40000 --allow-private-urls 127.0.0.0/8 --log-level warn >"$WORK/serve-$label.out" 2>"$WORK/serve-$label.err" &
	local server=$!
	PIDS+=("$server")
	for _ in $(seq 100); do curl -fs "127.0.0.1:$HTTP_PORT/healthz" >/dev/null && break; sleep 0.1; done
	curl -fs "127.0.0.1:$HTTP_PORT/healthz" >/dev/null || { echo "serve ($label) did not start:" >&2; cat "$WORK/serve-$label.err" >&2; exit 1; }
	api() { curl -fsS "127.0.0.1:$HTTP_PORT$1" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' ${2:+-d "$2"}; }
	local cust app
	cust=$(api /v1/customers '{"name":"flood","max_concurrent_calls":10000,"max_cps":1000}' | sed 's/.*"id":"\([^"]*\)".*/\1/')
	app=$(api /v1/applications "{\"customer_id\":\"$cust\",\"name\":\"flood\",\"answer_url\":\"http://127.0.0.1:$ANSWER_PORT/answer\"}" | sed 's/.*"id":"\([^"]*\)".*/\1/')
	api /v1/trunks '{"name":"sipp","direction":"inbound","allowed_cidrs":["127.0.0.1/32"],"max_cps":1000}' >/dev/null
	api /v1/numbers "{\"number\":\"+15551230002\",\"customer_id\":\"$cust\",\"application_id\":\"$app\"}" >/dev/null
	api "/v1/customers/$cust/credits" '{"amount":"1000000.00","description":"sip-flood"}' >/dev/null
	api /v1/rates "{\"customer_id\":\"$cust\",\"direction\":\"inbound\",\"prefix\":\"\",\"price_per_minute\":\"0.001\",\"initial_increment\":1,\"subsequent_increment\":1}" >/dev/null
	local rss0
	rss0=$(awk '/VmRSS/ {print int($2/1024)}' "/proc/$server/status")
	(cd "$WORK" && timeout --kill-after=10 $((SECS + 90)) sipp "127.0.0.1:$SIP_PORT" -sf "$ROOT/bench/sipp/uac_platform_hangs_up.xml" -s 15551230002 \
		-i 127.0.0.1 -r "$CALL_RATE" -m $((CALL_RATE * SECS)) -l 1000 -nostdin -timeout $((SECS + 60)) \
		-trace_stat -stf "$WORK/stat-$label.csv" -fd 1 >/dev/null 2>&1) &
	local sipp=$!
	PIDS+=("$sipp")
	local out
	out=$("$WORK/sipflood" -sip "127.0.0.1:$SIP_PORT" -metrics "http://127.0.0.1:$HTTP_PORT/metrics" -key "$KEY" \
		-duration "${SECS}s" -rate "$RATE" -sources "$SOURCES" -tcp "$TCPN" -tcp-sources "$TCP_SOURCES")
	wait "$sipp" || true
	local hdr last ok bad
	hdr=$(head -1 "$WORK/stat-$label.csv"); last=$(tail -1 "$WORK/stat-$label.csv")
	col() { echo "$hdr" | tr ';' '\n' | grep -n "^$1\$" | cut -d: -f1; }
	ok=$(echo "$last" | cut -d';' -f"$(col 'SuccessfulCall(C)')"); bad=$(echo "$last" | cut -d';' -f"$(col 'FailedCall(C)')")
	local edge
	edge=$(curl -fs "127.0.0.1:$HTTP_PORT/metrics" -H "Authorization: Bearer $KEY" | awk '
		/^minivoice_sip_edge_invites_total/ { match($0, /action="[a-z_]+"/); a[substr($0, RSTART+8, RLENGTH-9)] = $2; seen = 1 }
		END { if (seen) printf "%d / %d / %d", a["answered"], a["rate_limited"], a["dropped"]; else printf "n/a" }')
	local ready
	ready=$(curl -s "127.0.0.1:$HTTP_PORT/readyz" | tr -d ' \n' | grep -o '"sip_tcp":"[^"]*"' || echo '"sip_tcp":n/a')
	kill "$server" 2>/dev/null || true
	wait "$server" 2>/dev/null || true
	local logs
	logs=$(wc -l <"$WORK/serve-$label.err")
	v() { echo "$out" | tr ' ' '\n' | awk -F= -v k="$1" '$1 == k {print $2}'; }
	echo "$label: $out"
	if ((logs > 0)); then
		echo "$label: the server's log, first lines:"
		head -5 "$WORK/serve-$label.err" | cut -c1-300
	fi
	echo "$label: sipp real calls ok=$ok failed=$bad; edge answered/rate_limited/dropped: $edge; $ready; server log lines: $logs; RSS before the attack ${rss0} MiB"
	ROWS+=("| $label | $(v goroutines_peak) | $(v goroutines_end) | $rss0 | $(v rss_peak_mib) | $(v rss_end_mib) | $(v invites_sent) | $(v final_responses) | $(v retransmitted_finals) | $(v trying) | $edge | $(v tcp_open_peak) | $(v tcp_closed_by_server) | $(v tcp_closed_at_once) | $ok | $bad | $logs |")
	if [[ $SMOKE == 1 ]]; then
		(( ${ok:-0} > 0 && ${bad:-1} == 0 )) || FAILED+=("$label: real calls ok=$ok failed=$bad")
		(( $(v final_responses) > 0 )) || FAILED+=("$label: the flood got no answer")
		(( $(v retransmitted_finals) == 0 )) || FAILED+=("$label: $(v retransmitted_finals) answers retransmitted")
	fi
}

[[ -n $BEFORE ]] && run before "$WORK/minivoice-before"
run after "$WORK/minivoice"

echo
echo "| build | goroutines peak | goroutines 3 s after | RSS before MiB | RSS peak MiB | RSS 3 s after MiB | INVITEs sent | final answers | retransmitted | 100 Trying | edge answered / rate limited / dropped | TCP open peak | TCP closed by server | closed within 1 s | real calls ok | real calls failed | server log lines |"
echo "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
printf '%s\n' "${ROWS[@]}"
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)"
if ((${#FAILED[@]} > 0)); then
	printf 'sip-flood: FAIL: %s\n' "${FAILED[@]}" >&2
	exit 1
fi
