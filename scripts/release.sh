#!/usr/bin/env bash
# Release build of MiniVoice: static linux/amd64 and linux/arm64 binaries of
# the committed HEAD, a Debian package of each, SHA256SUMS, and
# THIRD_PARTY_LICENSES, all in dist/ (or --out DIR). Reproducible: the
# version, commit and build date come from git (the build date is the
# commit's time, SOURCE_DATE_EPOCH style), the sources from `git archive`,
# and -trimpath drops the paths, so building the same commit twice gives the
# same bytes; the script checks it by building linux/amd64 a second time from
# a second copy of the sources at another path with an empty build cache.
#
#   scripts/release.sh            everything (several minutes)
#   scripts/release.sh --smoke    linux/amd64 only, the second build sharing
#                                 the build cache (what .ci/run calls)
#   VERSION=1.2.0 scripts/release.sh   name the version (default: the tag
#                                 v* on HEAD without its v, else 0.0.0~gitDATE.COMMIT)
#
# Uncommitted changes are not built: commit first.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$PATH:/usr/local/go/bin"

# nfpm builds the .deb; a Go module, run at a fixed version.
NFPM=github.com/goreleaser/nfpm/v2/cmd/nfpm@v2.48.0

smoke=0 out=dist
while (($#)); do
  case $1 in
    --smoke) smoke=1 ;;
    --out) out=$2; shift ;;
    *) echo "usage: scripts/release.sh [--smoke] [--out DIR]" >&2; exit 2 ;;
  esac
  shift
done

# HEAD is read once: everything below names this commit, so a commit made
# meanwhile (another clone's push, a colleague in the same tree) cannot get
# into one build and not the other.
commit=$(git rev-parse HEAD)
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct "$commit")}
build_date=$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y-%m-%dT%H:%M:%SZ)
if [ -z "${VERSION:-}" ]; then
  if tag=$(git describe --tags --exact-match --match 'v[0-9]*' "$commit" 2>/dev/null); then
    VERSION=${tag#v}
  else
    VERSION="0.0.0~git$(date -u -d "@$SOURCE_DATE_EPOCH" +%Y%m%d).${commit:0:12}"
  fi
fi
if [ -n "$(git status --porcelain --untracked-files=no)" ]; then
  echo "release: the working tree has uncommitted changes; building HEAD ($commit) without them" >&2
fi

mkdir -p "$out"
out=$(cd "$out" && pwd)
work=$(mktemp -d)
trap 'chmod -R u+w "$work" 2>/dev/null; rm -rf "$work"' EXIT

# The sources exactly as committed.
export_source() { mkdir -p "$1" && git archive --format=tar "$commit" | tar -x -C "$1"; }
export_source "$work/src"

ldflags="-s -w -X github.com/minivoice/minivoice/internal/cli.Version=$VERSION"
ldflags+=" -X github.com/minivoice/minivoice/internal/cli.Commit=$commit"
ldflags+=" -X github.com/minivoice/minivoice/internal/cli.BuildDate=$build_date"

# build SRC GOARCH OUTPUT [env...]: one static binary. CGO_ENABLED=0 works
# because every dependency is pure Go (SQLite is modernc.org/sqlite).
build() {
  local src=$1 arch=$2 dst=$3; shift 3
  (cd "$src" && env "$@" CGO_ENABLED=0 GOOS=linux GOARCH="$arch" GOFLAGS=-mod=readonly \
    go build -trimpath -buildvcs=false -ldflags "$ldflags" -o "$dst" ./cmd/minivoice)
}

arches=(amd64 arm64)
((smoke)) && arches=(amd64)
rm -f "$out"/minivoice-linux-* "$out"/minivoice_*.deb "$out"/SHA256SUMS
for arch in "${arches[@]}"; do
  echo "release: building minivoice $VERSION linux/$arch"
  build "$work/src" "$arch" "$out/minivoice-linux-$arch"
done

# Reproducibility: the same commit from another directory gives the same
# bytes. The full run also starts from an empty build cache, so nothing is
# reused from the first build.
echo "release: building linux/amd64 again to check it is reproducible"
export_source "$work/again/src"
if ((smoke)); then
  build "$work/again/src" amd64 "$work/again/minivoice"
else
  build "$work/again/src" amd64 "$work/again/minivoice" GOCACHE="$work/again/cache"
fi
if ! cmp -s "$out/minivoice-linux-amd64" "$work/again/minivoice"; then
  echo "release: NOT reproducible: two builds of $commit differ" >&2
  exit 1
fi
echo "release: reproducible: both builds have sha256 $(sha256sum < "$work/again/minivoice" | cut -c1-64)"

# Third-party licence texts of every module compiled into the binary,
# from the module cache at the versions go.sum pins.
licenses="$out/THIRD_PARTY_LICENSES"
modcache=$(go env GOMODCACHE)
{
  echo "Third-party software compiled into minivoice $VERSION (commit $commit)."
  echo "See NOTICE for the summary and the embedded data files."
  go version -m "$out/minivoice-linux-amd64" | awk '$1 == "dep" {print $2, $3}' | while read -r mod ver; do
    # The module cache escapes upper-case letters as !lower.
    dir="$modcache/$(printf '%s@%s' "$mod" "$ver" | sed -E 's/([A-Z])/!\L\1/g')"
    file=$(find "$dir" -maxdepth 1 -type f \( -iname 'LICEN[CS]E*' -o -iname 'COPYING*' \) 2>/dev/null | sort | head -1)
    if [ -z "$file" ]; then
      echo "release: no licence file for $mod $ver in $dir" >&2
      exit 1
    fi
    printf '\n==============================================================================\n%s %s\n\n' "$mod" "$ver"
    cat "$file"
  done
  printf '\n==============================================================================\nThe Go standard library %s\n\n' "$(go env GOVERSION)"
  cat "$(go env GOROOT)/LICENSE"
} > "$licenses"

# The Debian packages, from the packaging files as committed.
cd "$work/src"
for arch in "${arches[@]}"; do
  stage="$work/deb-$arch"
  mkdir -p "$stage"
  # The packaged unit is deploy/systemd/minivoice.service with the
  # package's paths: the binary in /usr/bin, the settings in
  # /etc/minivoice/minivoice.conf (which names the data directory), and a
  # data directory only its owner can read.
  sed -e 's#^ExecStart=.*#ExecStart=/usr/bin/minivoice serve --config /etc/minivoice/minivoice.conf#' \
      -e 's#^StateDirectoryMode=.*#StateDirectoryMode=0700#' \
      deploy/systemd/minivoice.service > "$stage/minivoice.service"
  grep -q '^ExecStart=/usr/bin/minivoice serve --config' "$stage/minivoice.service"
  grep -q '^StateDirectoryMode=0700' "$stage/minivoice.service"
  sed -e "s#@VERSION@#$VERSION#" -e "s#@COMMIT@#${commit:0:12}#" \
      -e "s#@DATE@#$(date -u -R -d "@$SOURCE_DATE_EPOCH")#" deploy/debian/changelog.in | gzip -n -9 > "$stage/changelog.gz"
  gzip -n -9 < CHANGELOG.md > "$stage/CHANGELOG.md.gz"
  gzip -n -9 < deploy/debian/minivoice.1 > "$stage/minivoice.1.gz"
  gzip -n -9 < "$licenses" > "$stage/THIRD_PARTY_LICENSES.gz"
  cp "$out/minivoice-linux-$arch" "$stage/minivoice"
  cp -r deploy/debian "$stage/debian"
  (cd "$stage" && DEB_ARCH="$arch" DEB_VERSION="$VERSION" \
    go run "$NFPM" package --config debian/nfpm.yaml --packager deb --target "$out/") > "$work/nfpm.log" 2>&1 \
    || { cat "$work/nfpm.log" >&2; exit 1; }
done

cd "$out"
sha256sum minivoice-linux-* minivoice_*.deb > SHA256SUMS
echo "release: minivoice $VERSION ($commit, built $build_date) in $out:"
ls -l minivoice-linux-* minivoice_*.deb THIRD_PARTY_LICENSES SHA256SUMS
