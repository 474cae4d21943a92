#!/usr/bin/env bash
# bench/cluster-load.sh: the same inbound sipp load on two MiniVoice nodes
# behind Kamailio (deploy/kamailio) and on one node alone, side by side.
#
#   bash bench/cluster-load.sh
#
# Two `minivoice serve` nodes share a fresh PostgreSQL database (created on
# the server of CLUSTER_PG_URL, default MINIVOICE_TEST_DATABASE_URL, and
# dropped at the end); Kamailio runs the shipped configuration with both in
# its dispatcher list. For each rate in CLUSTER_RATES, CLUSTER_SECONDS of
# calls from sipp (bench/sipp/uac_via_proxy.xml: answer, audio both ways,
# the platform hangs up after CLUSTER_HOLD seconds of pause):
#   - through Kamailio over the two nodes;
#   - straight to node A alone (the same node, the same database).
# Each row gives the calls sipp counted successful and failed, the achieved
# rate (successful calls per second of the run, from the first INVITE to the
# last call's end, so a short run reads low), each node's share (its own
# count of completed inbound calls) and each process's CPU. Loopback only:
# callers on 127.0.0.2, Kamailio on 127.0.0.3, the nodes on 127.0.0.1; every
# sipp run is bounded by -m and -timeout.
#
#   SMOKE=1 bash bench/cluster-load.sh   # 15 calls at 5/s each way; exits 1
#                                        # unless every call succeeded and
#                                        # both nodes took calls via Kamailio
#
# Needs sipp (Debian sip-tester), kamailio, psql and a PostgreSQL server.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
SMOKE=${SMOKE:-}
if [[ $SMOKE == 1 ]]; then
	CLUSTER_RATES=${CLUSTER_RATES:-5} CLUSTER_SECONDS=${CLUSTER_SECONDS:-3}
fi
export -n SMOKE
RATES=${CLUSTER_RATES:-50 100 200}
SECONDS_PER_RATE=${CLUSTER_SECONDS:-20}
HOLD=${CLUSTER_HOLD:-1}
PG=${CLUSTER_PG_URL:-${MINIVOICE_TEST_DATABASE_URL:-}}
KAMAILIO=$(command -v kamailio || echo /usr/sbin/kamailio)
KAM_PORT=${CLUSTER_KAMAILIO_PORT:-27060}
SIP_A=${CLUSTER_SIP_A:-27061} SIP_B=${CLUSTER_SIP_B:-27062}
HTTP_A=${CLUSTER_HTTP_A:-27081} HTTP_B=${CLUSTER_HTTP_B:-27082}
ANSWER_PORT=${CLUSTER_ANSWER_PORT:-27099}
CALLER=127.0.0.2 PROXY=127.0.0.3
command -v sipp >/dev/null || { echo "sipp (Debian sip-tester) is required" >&2; exit 1; }
[[ -x $KAMAILIO ]] || { echo "kamailio is required (apt-get install kamailio)" >&2; exit 1; }
command -v psql >/dev/null || { echo "psql (postgresql-client) is required" >&2; exit 1; }
[[ -n $PG ]] || { echo "set CLUSTER_PG_URL or MINIVOICE_TEST_DATABASE_URL to a PostgreSQL server" >&2; exit 1; }

WORK=$(mktemp -d -t minivoice-cluster.XXXXXX)
DB=mv_cluster_$(od -An -N6 -tx1 /dev/urandom | tr -d ' \n')
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	psql "$PG" -qc "DROP DATABASE IF EXISTS $DB WITH (FORCE)" >/dev/null 2>&1 || true
	rm -rf "$WORK"
}
trap cleanup EXIT

psql "$PG" -qc "CREATE DATABASE $DB" >/dev/null
DBURL=$(echo "$PG" | sed -E "s#^(postgres(ql)?://[^/?]*)(/[^?]*)?#\1/$DB#")

go build -o "$WORK/minivoice" "$ROOT/cmd/minivoice"
go build -o "$WORK/answer" "$ROOT/bench/answer"
"$WORK/answer" -listen "127.0.0.1:$ANSWER_PORT" -actions "[{\"action\":\"pause\",\"length\":$HOLD},{\"action\":\"hangup\"}]" &
PIDS+=($!)

export MINIVOICE_ADMIN_KEY=mvk_op_cluster$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
MINIVOICE_SECRET_KEY=$(head -c 32 /dev/urandom | base64)
export MINIVOICE_SECRET_KEY
KEY=$MINIVOICE_ADMIN_KEY

# node NAME SIP HTTP RTP-RANGE: a serve process on the shared database; its
# pid goes into the variable PID_NAME.
node() {
	"$WORK/minivoice" serve --data "$WORK/$1" --http "127.0.0.1:$3" --sip "127.0.0.1:$2" --rtp-ports "$4" \
		--database "$DBURL" --allow-private-urls 127.0.0.0/8 --sip-trusted-proxies "$PROXY" --log-level error \
		>"$WORK/$1.out" 2>"$WORK/$1.err" &
	PIDS+=($!)
	printf -v "PID_$1" %s $!
	for _ in $(seq 100); do curl -fs "127.0.0.1:$3/readyz" >/dev/null && return; sleep 0.2; done
	echo "node $1 did not start:" >&2; cat "$WORK/$1.err" >&2; exit 1
}
api() { curl -fsS "127.0.0.1:$HTTP_A$1" -H "Authorization: Bearer $KEY" -H 'Content-Type: application/json' ${2:+-d "$2"}; }

node a "$SIP_A" "$HTTP_A" 30000-44999
CUST=$(api /v1/customers '{"name":"cluster-load","max_concurrent_calls":100000,"max_cps":10000}' | sed 's/.*"id":"\([^"]*\)".*/\1/')
APP=$(api /v1/applications "{\"customer_id\":\"$CUST\",\"name\":\"load\",\"answer_url\":\"http://127.0.0.1:$ANSWER_PORT/answer\"}" | sed 's/.*"id":"\([^"]*\)".*/\1/')
# The callers' trunk lists the callers' address, not Kamailio's: the nodes
# take the caller's from X-MiniVoice-Source (--sip-trusted-proxies).
api /v1/trunks "{\"name\":\"sipp\",\"direction\":\"inbound\",\"allowed_cidrs\":[\"$CALLER\"],\"max_cps\":10000,\"max_channels\":100000}" >/dev/null
api /v1/numbers "{\"number\":\"+15551230002\",\"customer_id\":\"$CUST\",\"application_id\":\"$APP\"}" >/dev/null
api "/v1/customers/$CUST/credits" '{"amount":"1000000.00","description":"cluster-load"}' >/dev/null
api /v1/rates "{\"customer_id\":\"$CUST\",\"direction\":\"inbound\",\"prefix\":\"\",\"price_per_minute\":\"0.001\",\"initial_increment\":1,\"subsequent_increment\":1}" >/dev/null
# Node B after the rates exist: a node reads the rate deck at start and
# after its own API's changes.
node b "$SIP_B" "$HTTP_B" 45000-59999

printf '1 sip:127.0.0.1:%s 0 0 duid=node-a\n1 sip:127.0.0.1:%s 0 0 duid=node-b\n' "$SIP_A" "$SIP_B" >"$WORK/dispatcher.list"
sed -e "s|^#!substdef \"!MV_LISTEN_UDP!.*|#!substdef \"!MV_LISTEN_UDP!udp:$PROXY:$KAM_PORT!g\"|" \
	-e "s|^#!substdef \"!MV_LISTEN_TCP!.*|#!substdef \"!MV_LISTEN_TCP!tcp:$PROXY:$KAM_PORT!g\"|" \
	-e "s|^#!substdef \"!MV_DISPATCHER_LIST!.*|#!substdef \"!MV_DISPATCHER_LIST!$WORK/dispatcher.list!g\"|" \
	-e "s|^#!substdef \"!MV_CTL_SOCKET!.*|#!substdef \"!MV_CTL_SOCKET!unix:$WORK/ctl!g\"|" \
	-e "s|^#!substdef \"!MV_PING_INTERVAL!.*|#!substdef \"!MV_PING_INTERVAL!1!g\"|" \
	"$ROOT/deploy/kamailio/kamailio.cfg" >"$WORK/kamailio.cfg"
"$KAMAILIO" -f "$WORK/kamailio.cfg" -DD -E -Y "$WORK" -w "$WORK" -P "$WORK/kamailio.pid" -m 256 -M 16 >"$WORK/kamailio.log" 2>&1 &
KPID=$!; PIDS+=("$KPID")
KAMCMD=$(command -v kamcmd || echo /usr/sbin/kamcmd)
for _ in $(seq 100); do
	[[ $("$KAMCMD" -s "unix:$WORK/ctl" dispatcher.list 2>/dev/null | grep -c 'FLAGS: AP') == 2 ]] && break
	sleep 0.2
done
[[ $("$KAMCMD" -s "unix:$WORK/ctl" dispatcher.list 2>/dev/null | grep -c 'FLAGS: AP') == 2 ]] ||
	{ echo "Kamailio does not see both nodes up:" >&2; cat "$WORK/kamailio.log" >&2; exit 1; }

TCK=$(getconf CLK_TCK)
# ticks PID...: CPU ticks (user + system) of the processes.
ticks() { local s=0 p; for p in "$@"; do s=$((s + $(awk '{print $14+$15}' "/proc/$p/stat" 2>/dev/null || echo 0))); done; echo $s; }
kam_pids() { echo "$KPID" $(ps -o pid= --ppid "$KPID"); }
# completed HTTP_PORT: the node's own count of completed inbound calls.
completed() {
	curl -fs "127.0.0.1:$1/metrics" -H "Authorization: Bearer $KEY" |
		awk '/^minivoice_calls_total\{/ && /direction="inbound"/ && /status="completed"/ { n += $2 } END { printf "%d\n", n }'
}
pct() { printf '%.1f' "$(echo "scale=3; $1 * 100 / $TCK / $2" | bc)"; }

FAILED=()
echo "machine: $(nproc) cores, $(awk '/model name/ {sub(/.*: /,""); print; exit}' /proc/cpuinfo)"
echo "calls: answer, $HOLD s of pause with audio both ways, the platform hangs up; $SECONDS_PER_RATE s per rate"
echo
echo "| setup | calls/s offered | calls | successful | failed | achieved calls/s | node A calls | node B calls | node A CPU % | node B CPU % | Kamailio CPU % |"
echo "|---|---|---|---|---|---|---|---|---|---|---|"
for rate in $RATES; do
	total=$((rate * SECONDS_PER_RATE))
	for setup in kamailio alone; do
		target="$PROXY:$KAM_PORT"; [[ $setup == alone ]] && target="127.0.0.1:$SIP_A"
		a0=$(completed "$HTTP_A"); b0=$(completed "$HTTP_B")
		kp=$(kam_pids); ca0=$(ticks "$PID_a"); cb0=$(ticks "$PID_b"); ck0=$(ticks $kp)
		t0=$(date +%s.%N)
		(cd "$WORK" && timeout --kill-after=10 $((SECONDS_PER_RATE * 3 + 60)) sipp "$target" -sf "$ROOT/bench/sipp/uac_via_proxy.xml" -s 15551230002 -i "$CALLER" \
			-r "$rate" -m "$total" -l $((rate * (HOLD + 10))) -nostdin -timeout $((SECONDS_PER_RATE * 3 + 30)) \
			-trace_stat -stf "$WORK/stat.csv" -fd 1 -max_socket 10000 >/dev/null 2>&1) || true
		t1=$(date +%s.%N)
		wall=$(echo "$t1 - $t0" | bc)
		ca=$(( $(ticks "$PID_a") - ca0 )); cb=$(( $(ticks "$PID_b") - cb0 )); ck=$(( $(ticks $kp) - ck0 ))
		hdr=$(head -1 "$WORK/stat.csv"); last=$(tail -1 "$WORK/stat.csv")
		col() { echo "$hdr" | tr ';' '\n' | grep -n "^$1\$" | cut -d: -f1; }
		ok=$(echo "$last" | cut -d';' -f"$(col 'SuccessfulCall(C)')"); bad=$(echo "$last" | cut -d';' -f"$(col 'FailedCall(C)')")
		rm -f "$WORK/stat.csv"
		sleep 1 # a node writes a call's end just after its BYE
		da=$(( $(completed "$HTTP_A") - a0 )); db=$(( $(completed "$HTTP_B") - b0 ))
		kcpu=$(pct "$ck" "$wall"); [[ $setup == alone ]] && kcpu="-"
		echo "| $setup | $rate | $total | $ok | $bad | $(printf '%.1f' "$(echo "scale=3; $ok / $wall" | bc)") | $da | $db | $(pct "$ca" "$wall") | $(pct "$cb" "$wall") | $kcpu |"
		((ok == total && bad == 0)) || FAILED+=("$setup at $rate/s: $ok of $total succeeded, $bad failed")
		if [[ $setup == kamailio ]] && ((da == 0 || db == 0)); then FAILED+=("kamailio at $rate/s: node A took $da calls, node B $db"); fi
		sleep 2
	done
done

if ((${#FAILED[@]})); then
	printf 'cluster-load: %s\n' "${FAILED[@]}" >&2
	[[ $SMOKE == 1 ]] && { echo "cluster-load smoke: FAIL" >&2; exit 1; }
elif [[ $SMOKE == 1 ]]; then
	echo "cluster-load smoke: ok"
fi
