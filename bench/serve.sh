# bench/serve.sh: sourced by bench/bridge.sh, bench/postanswer.sh and
# bench/streams.sh, which each run `minivoice serve` as its own process
# against a load program: a work directory removed on exit, the server
# built into it, started on loopback and stopped with SIGTERM (so it writes
# its CPU profile), its log and the load program's result.json kept in OUT.
#
#   bench_work NAME           WORK=a temp dir; cleanup on EXIT, exit 130 on INT/TERM
#   bench_build PKG...        go build cmd/minivoice and each ./bench/PKG into WORK
#   start_serve PREFIX ARGS   serve with --data WORK/data, the operator key KEY,
#                             HTTP on 127.0.0.1:HTTP_PORT, CPUPROFILE if set,
#                             PREFIX a command word list to run it under (e.g.
#                             "taskset -c 0"; "" for none), then ARGS; waits
#                             for /healthz; SERVER is its pid
#
# A script may define bench_before_cleanup (e.g. to stop its load program
# first). ROOT, KEY and HTTP_PORT are the script's.

bench_work() {
	WORK=$(mktemp -d -t "minivoice-$1.XXXXXX")
	SERVER=""
	trap bench_cleanup EXIT
	trap 'exit 130' INT TERM
}

bench_cleanup() {
	if declare -F bench_before_cleanup >/dev/null; then bench_before_cleanup; fi
	if [[ -n $SERVER ]] && kill -0 "$SERVER" 2>/dev/null; then
		kill -TERM "$SERVER" 2>/dev/null || true # SIGTERM: serve writes its CPU profile
		for _ in $(seq 200); do kill -0 "$SERVER" 2>/dev/null || break; sleep 0.1; done
		kill -KILL "$SERVER" 2>/dev/null || true
	fi
	wait 2>/dev/null || true
	if [[ -n ${OUT:-} ]]; then mkdir -p "$OUT"; cp "$WORK"/serve.err "$WORK"/result.json "$OUT"/ 2>/dev/null || true; fi
	rm -rf "$WORK"
}

bench_build() {
	go build -o "$WORK/minivoice" "$ROOT/cmd/minivoice"
	local pkg
	for pkg in "$@"; do go build -o "$WORK/$pkg" "$ROOT/bench/$pkg"; done
}

start_serve() {
	local prefix=$1
	shift
	# shellcheck disable=SC2086 # the prefix is a word list
	MINIVOICE_CPUPROFILE=${CPUPROFILE:-} MINIVOICE_ADMIN_KEY=$KEY $prefix "$WORK/minivoice" serve \
		--data "$WORK/data" --http "127.0.0.1:$HTTP_PORT" "$@" >"$WORK/serve.out" 2>"$WORK/serve.err" &
	SERVER=$!
	for _ in $(seq 100); do curl -fs "127.0.0.1:$HTTP_PORT/healthz" >/dev/null && break; sleep 0.1; done
	curl -fs "127.0.0.1:$HTTP_PORT/healthz" >/dev/null || { echo "serve did not start:" >&2; cat "$WORK/serve.err" >&2; exit 1; }
}
