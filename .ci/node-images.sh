#!/usr/bin/env bash
# Image archives the real node needs and no registry can give us: pause, CoreDNS and a
# busybox test image, written to ~/.cache/picsource/images/<name>-<tag>.tar next to the
# app images .ci/images.sh exports, so one `ctr images import` loop loads them all.
#
# Why no buildah here: each image is one static binary. tests/harness/image_archive.py
# writes the one-layer archive directly (reproducible, no daemon, no root), and the image
# names come from tests/harness/realnode_config.py, their single home.
#   pause   - build/pause/linux/pause.c from the k8s.io/kubernetes module, gcc -static
#   coredns - go install github.com/coredns/coredns@$COREDNS_VERSION, CGO_ENABLED=0
#   busybox - /bin/busybox from Debian's busybox-static, one symlink per applet
# Each archive is skipped when present. Run by `bash .ci/tools.sh node-images`.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
repo="$(cd "$here/.." && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"
CACHE="${PICSOURCE_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/picsource/tools}"
IMAGES="${PICSOURCE_IMAGES:-$CACHE/../images}"
mkdir -p "$IMAGES"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod GOSUMDB="${GOSUMDB:-off}"

step=""
trap 'echo "node-images: FAILED at step: $step (see output above)" >&2' ERR
say() { step="$1"; echo "==> node-images: $1 [$(date -u +%H:%M:%S), ${SECONDS}s since start]"; }
archive() { PYTHONPATH="$repo" python3 -m tests.harness.image_archive "$@"; }
image_name() { PYTHONPATH="$repo" python3 -m tests.harness.realnode_config image "$1"; }
file_for() { local n="${1##*/}"; echo "$IMAGES/${n%%:*}-${n##*:}.tar"; }

build_pause() {
  local name out; name=$(image_name pause); out=$(file_for "$name")
  if [ -s "$out" ]; then echo "==> node-images: $name cached"; return; fi
  say "pause from k8s.io/kubernetes@$KUBERNETES_VERSION build/pause/linux/pause.c (gcc -static)"
  local dir; dir=$(GOFLAGS= go mod download -json "k8s.io/kubernetes@$KUBERNETES_VERSION" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
  local work; work=$(mktemp -d)
  gcc -Os -Wall -Werror -static "-DVERSION=v${name##*:}" -o "$work/pause" "$dir/build/pause/linux/pause.c"
  strip "$work/pause"
  archive "$out" "$name" --file "/pause=$work/pause" --entrypoint /pause --user 65535:65535
  rm -rf "$work"
}

build_coredns() {
  local name out bin="$CACHE/coredns-$COREDNS_VERSION/coredns"
  name=$(image_name coredns); out=$(file_for "$name")
  if [ -s "$out" ]; then echo "==> node-images: $name cached"; return; fi
  if [ ! -x "$bin" ]; then
    say "go install github.com/coredns/coredns@$COREDNS_VERSION (CGO_ENABLED=0, a few minutes cold)"
    rm -rf "$bin.tmp.d"; mkdir -p "$bin.tmp.d"
    GOBIN="$bin.tmp.d" go install -trimpath -ldflags "-s -w" "github.com/coredns/coredns@$COREDNS_VERSION"
    mkdir -p "$(dirname "$bin")"; mv "$bin.tmp.d/coredns" "$bin"; rm -rf "$bin.tmp.d"
  fi
  say "image $name"
  archive "$out" "$name" --file "/coredns=$bin" --entrypoint /coredns --port 53/udp --port 53/tcp
}

build_busybox() {
  local name out; name=$(image_name busybox); out=$(file_for "$name")
  if [ -s "$out" ]; then echo "==> node-images: $name cached"; return; fi
  [ -x /bin/busybox ] || { echo "node-images: /bin/busybox missing: run \`bash .ci/tools.sh apt\`" >&2; exit 1; }
  say "image $name from Debian's busybox-static"
  local links=()
  while read -r applet; do
    [ "$applet" = busybox ] || links+=(--symlink "/bin/$applet=busybox")
  done < <(/bin/busybox --list)
  archive "$out" "$name" --file "/bin/busybox=/bin/busybox" "${links[@]}" --cmd /bin/sh
}

build_pause
build_coredns
build_busybox
echo "==> node-images: ready in $IMAGES (${SECONDS}s)"
