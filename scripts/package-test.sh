#!/usr/bin/env bash
# Installs the Debian package on this machine and checks it the way an
# operator would use it: lintian, dpkg -i, the installed binary serving with
# the installed settings as the minivoice user, /healthz, `minivoice backup`
# while it serves, `minivoice restore` as root into an emptied data
# directory and a start on it, then dpkg -r and dpkg -P. Needs root and a Debian machine with the package's dependencies
# installable (flite, pocketsphinx, pocketsphinx-en-us).
#
#   scripts/package-test.sh [dist/minivoice_VERSION_amd64.deb]
#
# systemd is not PID 1 where this runs (CI, containers), so the test starts
# the unit's ExecStart itself, as the unit would: as User=minivoice with no
# supplementary groups beyond its own, NoNewPrivileges, no capabilities
# (CapabilityBoundingSet= and AmbientCapabilities= empty), UMask=0027, the
# environment of /etc/minivoice/minivoice.env if present. The addresses are
# overridden with MINIVOICE_HTTP and MINIVOICE_SIP (free loopback ports),
# which also checks that the environment wins over the settings file.
# Warning: it installs into /usr/bin, /etc and /var/lib and purges
# the package at the end, deleting /var/lib/minivoice.
set -euo pipefail
cd "$(dirname "$0")/.."

deb=${1:-$(ls -t dist/minivoice_*_amd64.deb 2>/dev/null | head -1)}
[ -f "$deb" ] || { echo "package-test: no .deb (run scripts/release.sh first)" >&2; exit 2; }
[ "$(id -u)" = 0 ] || { echo "package-test: needs root (dpkg -i)" >&2; exit 2; }
unit=/lib/systemd/system/minivoice.service
work=$(mktemp -d)
pid=""
cleanup() {
  [ -n "$pid" ] && kill -TERM "$pid" 2>/dev/null && wait "$pid" 2>/dev/null || true
  if dpkg-query -W -f='${Status}' minivoice 2>/dev/null | grep -q installed; then dpkg -P minivoice > /dev/null 2>&1 || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "package-test: FAIL: $*" >&2; [ -f "$work/serve.log" ] && tail -30 "$work/serve.log" >&2; exit 1; }
step() { echo "package-test: $*"; }

if command -v lintian > /dev/null; then
  step "lintian $deb"
  # lintian warns when run as root; the tags are what matter.
  lintian_rc=0
  lintian --fail-on error,warning "$deb" > "$work/lintian.log" 2>&1 || lintian_rc=$?
  grep -v 'running with root privileges' "$work/lintian.log" || true
  [ "$lintian_rc" = 0 ] || fail "lintian reports errors or warnings"
else
  step "lintian is not installed: skipped (apt-get install lintian)"
fi

version=$(dpkg-deb -f "$deb" Version)
step "dpkg -i $deb ($version)"
dpkg -i "$deb" > "$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -i"; }

step "checking the installed files"
[ -x /usr/bin/minivoice ] || fail "/usr/bin/minivoice missing"
getent passwd minivoice > /dev/null || fail "no minivoice user"
[ "$(getent passwd minivoice | cut -d: -f7)" = /usr/sbin/nologin ] || fail "the minivoice user has a login shell"
[ "$(stat -c '%a %U %G' /var/lib/minivoice)" = "700 minivoice minivoice" ] || fail "/var/lib/minivoice is $(stat -c '%a %U %G' /var/lib/minivoice), want 700 minivoice minivoice"
[ "$(stat -c '%a %U %G' /etc/minivoice/minivoice.conf)" = "640 root minivoice" ] || fail "minivoice.conf is $(stat -c '%a %U %G' /etc/minivoice/minivoice.conf)"
[ -f "$unit" ] || fail "no $unit"
for want in 'ProtectSystem=strict' 'NoNewPrivileges=yes' 'ReadWritePaths=/var/lib/minivoice' 'Restart=on-failure' 'AmbientCapabilities=$' 'User=minivoice'; do
  grep -q "^$want" "$unit" || fail "$unit lacks $want"
done
reported=$(/usr/bin/minivoice version 2>&1) || fail "minivoice version: $reported"
grep -qF "minivoice $version," <<< "$reported" || fail "minivoice version does not report $version: $reported"

# The unit's command line, exactly.
exec_start=$(sed -n 's/^ExecStart=//p' "$unit")
[ -n "$exec_start" ] || fail "no ExecStart in $unit"
env_file=()
[ -f /etc/minivoice/minivoice.env ] && mapfile -t env_file < <(grep -E '^[A-Z_]+=' /etc/minivoice/minivoice.env)

# start_unit: runs ExecStart as the unit would, sets pid and api.
start_unit() {
  step "starting, as the unit would: $exec_start"
  (
    umask 0027
    cd /
    # shellcheck disable=SC2086 # ExecStart is split on spaces, as systemd does here.
    exec setpriv --reuid=minivoice --regid=minivoice --init-groups --no-new-privs \
      --inh-caps=-all --bounding-set=-all \
      env -i PATH=/usr/bin:/bin HOME=/var/lib/minivoice "${env_file[@]}" \
      MINIVOICE_HTTP=127.0.0.1:0 MINIVOICE_SIP=127.0.0.1:0 $exec_start
  ) > "$work/serve.out" 2> "$work/serve.log" &
  pid=$!
  api=""
  for _ in $(seq 120); do
    api=$(sed -nE 's/.*serving the API on (http:[^ ]+) .*/\1/p' "$work/serve.out")
    [ -n "$api" ] && break
    kill -0 "$pid" 2>/dev/null || fail "serve exited"
    sleep 0.5
  done
  [ -n "$api" ] || fail "serve did not start"
  health=$(curl -fsS "$api/healthz") || fail "GET /healthz"
  step "GET $api/healthz: $health"
  echo "$health" | grep -qF "\"version\":\"$version\"" || fail "/healthz does not report version $version"
  curl -fsS "$api/readyz" > /dev/null || fail "GET /readyz"
  # The subshell execs setpriv, which execs env, which execs minivoice: $pid is serve.
  [ "$(stat -c %U /proc/"$pid")" = minivoice ] && [ "$(cat /proc/"$pid"/comm)" = minivoice ] || fail "serve does not run as the minivoice user"
  grep -q '^NoNewPrivs:[[:space:]]*1' /proc/"$pid"/status || fail "serve runs without no_new_privs"
  grep -q '^CapEff:[[:space:]]*0*$' /proc/"$pid"/status || fail "serve has capabilities"
}

stop_unit() {
  kill -TERM "$pid"
  local rc=0
  wait "$pid" || rc=$?
  pid=""
  [ "$rc" = 0 ] || fail "serve exited $rc on SIGTERM"
}

start_unit
[ "$(stat -c %U /var/lib/minivoice/admin.key)" = minivoice ] || fail "admin.key not written by minivoice into /var/lib/minivoice"
ls /var/lib/minivoice/*.db > /dev/null 2>&1 || fail "no database in /var/lib/minivoice"
key=$(cat /var/lib/minivoice/admin.key)
customer=$(curl -fsS "$api/v1/customers" -H "Authorization: Bearer $key" -d '{"name": "package-test"}') || fail "POST /v1/customers"

step "minivoice backup while it serves (docs/operations.md)"
/usr/bin/minivoice backup --config /etc/minivoice/minivoice.conf --to "$work/backup" || fail "minivoice backup"
stop_unit

step "minivoice restore into an emptied /var/lib/minivoice, as root"
mv /var/lib/minivoice "$work/data-before"
install -d -o minivoice -g minivoice -m 0700 /var/lib/minivoice
/usr/bin/minivoice restore --config /etc/minivoice/minivoice.conf --from "$work/backup" || fail "minivoice restore"
[ -z "$(find /var/lib/minivoice ! -user minivoice)" ] || fail "restored files not owned by minivoice: $(find /var/lib/minivoice ! -user minivoice)"
start_unit
id=$(jq -r .id <<< "$customer")
curl -fsS "$api/v1/customers/$id" -H "Authorization: Bearer $key" > /dev/null || fail "the customer made before the backup is not in the restored data"
stop_unit

step "dpkg -r minivoice (keeps settings and data)"
dpkg -r minivoice > "$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -r"; }
[ ! -e /usr/bin/minivoice ] || fail "/usr/bin/minivoice left after remove"
[ -f /etc/minivoice/minivoice.conf ] || fail "remove deleted the settings"
[ -f /var/lib/minivoice/admin.key ] || fail "remove deleted the data"

step "dpkg -P minivoice (deletes settings and /var/lib/minivoice, keeps the user)"
dpkg -P minivoice > "$work/dpkg.log" 2>&1 || { cat "$work/dpkg.log"; fail "dpkg -P"; }
[ ! -e /etc/minivoice ] || fail "/etc/minivoice left after purge"
[ ! -e /var/lib/minivoice ] || fail "/var/lib/minivoice left after purge"
[ ! -e "$unit" ] || fail "$unit left after purge"
getent passwd minivoice > /dev/null || fail "purge removed the minivoice user (Debian keeps system users)"
step "PASS"
