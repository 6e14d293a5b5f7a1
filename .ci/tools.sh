#!/usr/bin/env bash
# Installs every pinned external component into a per-user cache outside the repo.
#
# Why a script and not a README paragraph: a fresh machine must get from a clone to a
# green `make test` with no hand-installed tools. Each step is skipped when its result is
# already cached, prints what it does (some Go builds take minutes), and fails with a
# message naming the step. Only PyPI, Debian apt, npm and the Go module proxy are used.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
# shellcheck source=versions.env
source "$here/versions.env"

CACHE="${PICSOURCE_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/picsource/tools}"
mkdir -p "$CACHE"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=-mod=mod
export GOSUMDB="${GOSUMDB:-off}"
only="${1:-all}"

step=""
trap 'echo "tools: FAILED at step: $step (see output above)" >&2' ERR
say() { step="$1"; echo "==> tools: $1 [$(date -u +%H:%M:%S), ${SECONDS}s since start]"; }

want() { [[ "$only" == all || " $only " == *" $1 "* ]]; }

# --- Debian packages -------------------------------------------------------------
install_apt() {
  local missing=()
  command -v prometheus >/dev/null || missing+=(prometheus)
  command -v promtool >/dev/null || missing+=(prometheus)
  [ -x /usr/bin/chromium ] || missing+=(chromium)
  [ -x /usr/bin/chromedriver ] || missing+=(chromium-driver)
  command -v vipsthumbnail >/dev/null || missing+=(libvips-tools)
  command -v wrk >/dev/null || missing+=(wrk)
  # The real node (tests/harness/realnode.py); policy-rc.d below keeps containerd's
  # system service from starting: the node runs its own containerd in a namespace.
  command -v containerd >/dev/null || missing+=(containerd)
  command -v runc >/dev/null || missing+=(runc)
  [ -x /usr/lib/cni/bridge ] || missing+=(containernetworking-plugins)
  command -v iptables >/dev/null || missing+=(iptables)
  command -v ip >/dev/null || missing+=(iproute2)
  [ -x /bin/busybox ] || missing+=(busybox-static)
  # jemalloc for the worker's analysis processes (worker/picsource_worker/allocator.py),
  # as in the worker image: the tests and benches run the allocator it ships with.
  compgen -G "/usr/lib/*-linux-gnu/libjemalloc.so.2" >/dev/null || missing+=(libjemalloc2)
  if [ ${#missing[@]} -eq 0 ]; then echo "==> tools: apt packages present"; return; fi
  say "apt-get install ${missing[*]}"
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  # policy-rc.d keeps the prometheus package from starting a system service.
  printf '#!/bin/sh\nexit 101\n' | $sudo tee /usr/sbin/policy-rc.d >/dev/null
  $sudo chmod +x /usr/sbin/policy-rc.d
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
  $sudo rm -f /usr/sbin/policy-rc.d
}

# --- Python environment ----------------------------------------------------------
# The lock (.ci/requirements/dev.txt, written by `make lock`) is the only input: every
# package, transitive ones included, pinned with its hashes. Its files are downloaded
# once into a wheelhouse in the cache (hash-checked), then installed from there with no
# index, so the virtualenv holds exactly the lock. The venv is keyed by the hash of the
# lock and the interpreter's version (nothing else), so a fresh clone reuses it; the project's own packages come from
# PYTHONPATH (Makefile), never an editable install that would pin one clone's path.
LOCK="$here/requirements/dev.txt"
WHEELHOUSE="$CACHE/../wheels"
venv_dir() {
  local key; key=$( (cat "$LOCK"; python3 -VV) | sha256sum | cut -c1-12)
  echo "$CACHE/../venv-$key"
}
pip_quiet=(-q --disable-pip-version-check --require-hashes --no-deps)
install_python() {
  local venv; venv=$(venv_dir)
  if [ -x "$venv/bin/python" ] && [ -f "$venv/.complete" ]; then
    echo "==> tools: python environment cached ($venv)"
  else
    say "download the locked Python packages into $WHEELHOUSE (hash-checked; skips what is there)"
    mkdir -p "$WHEELHOUSE"
    python3 -m pip download "${pip_quiet[@]}" -d "$WHEELHOUSE" -r "$LOCK"
    say "python environment in $venv from the lock, offline (a few minutes cold)"
    rm -rf "$venv"; python3 -m venv "$venv"
    # --no-deps: the lock is complete; it leaves out opencv-python, which rapidocr and
    # mtcnn require but which clashes with the headless build (pyproject [tool.picsource.lock]).
    "$venv/bin/pip" install "${pip_quiet[@]}" --no-index --find-links "$WHEELHOUSE" -r "$LOCK"
    touch "$venv/.complete"
  fi
  ln -sfn "$venv" "$here/../.venv"
}

# --- Go-built servers --------------------------------------------------------------
go_install() {  # name version package@version
  local name=$1 version=$2 pkg=$3 dest="$CACHE/$1-$2"
  if [ -x "$dest/$name" ]; then echo "==> tools: $name $version cached"; return; fi
  say "go install $pkg (may take several minutes)"
  rm -rf "$dest.tmp"; mkdir -p "$dest.tmp"
  GOBIN="$dest.tmp" go install -trimpath -ldflags "${4:-}" "$pkg"
  mv "$dest.tmp" "$dest"
}

# Kubernetes binaries from the k8s.io/kubernetes module: a wrapper module requiring it,
# with every `k8s.io/* v0.0.0` staging module replaced by the matching v0.x release, and
# version stamps so each binary reports $KUBERNETES_VERSION.
#   build_kube_binaries DIR CMD...   builds k8s.io/kubernetes/cmd/CMD into $CACHE/DIR-<v>
build_kube_binaries() {
  local v=$KUBERNETES_VERSION dir=$1; shift
  local dest="$CACHE/$dir-$KUBERNETES_VERSION" cmd cached=1
  for cmd in "$@"; do [ -x "$dest/$cmd" ] || cached=0; done
  if [ $cached = 1 ]; then echo "==> tools: $* $v cached"; return; fi
  say "build $* $v (a few minutes with a warm Go cache, 10-25 cold)"
  local minor=${v#v1.}; minor=${minor%%.*}
  local staging="v0.${v#v1.}"
  local work; work=$(mktemp -d)
  {
    echo "module picsource.local/kubebuild"
    echo "go 1.26.0"
    echo "require k8s.io/kubernetes $v"
    curl -fsS "${GOPROXY_URL:-https://proxy.golang.org}/k8s.io/kubernetes/@v/$v.mod" \
      | awk '/^\tk8s.io\/[^ ]+ v0\.0\.0$/ {print "replace " $1 " => " $1 " '"$staging"'"}'
  } > "$work/go.mod"
  printf 'package main\n\nfunc main() {}\n' > "$work/main.go"
  local ld="-s -w" p
  for p in k8s.io/component-base/version k8s.io/client-go/pkg/version; do
    ld="$ld -X $p.gitVersion=$v -X $p.gitMajor=1 -X $p.gitMinor=$minor -X $p.gitTreeState=clean -X $p.buildDate=1970-01-01T00:00:00Z"
  done
  local pkgs=(); for cmd in "$@"; do pkgs+=("k8s.io/kubernetes/cmd/$cmd"); done
  rm -rf "$dest.tmp"; mkdir -p "$dest.tmp"
  (cd "$work" && go build -trimpath -ldflags "$ld" -o "$dest.tmp/" "${pkgs[@]}")
  rm -rf "$work" "$dest"; mv "$dest.tmp" "$dest"
}

build_etcd() {
  local v=$ETCD_VERSION dest="$CACHE/etcd-$ETCD_VERSION"
  if [ -x "$dest/etcd" ]; then echo "==> tools: etcd $v cached"; return; fi
  say "build etcd $v"
  local work; work=$(mktemp -d)
  printf 'module picsource.local/etcdbuild\ngo 1.26.0\nrequire go.etcd.io/etcd/server/v3 %s\n' "$v" > "$work/go.mod"
  printf 'package main\n\nfunc main() {}\n' > "$work/main.go"
  mkdir -p "$dest.tmp"
  (cd "$work" && go build -trimpath -ldflags "-s -w" -o "$dest.tmp/etcd" go.etcd.io/etcd/server/v3)
  rm -rf "$work" "$dest"; mv "$dest.tmp" "$dest"
}

build_minio() {
  # The module proxy serves this pseudo-version's .mod and .zip but answers 403 for its
  # .info, which `go install` asks for first. A local file:// proxy holding the three
  # files (the .info written from the pseudo-version's own timestamp) sits in front of
  # the real proxy, so the build still uses only module-proxy bytes.
  local v=$MINIO_VERSION
  if [ -x "$CACHE/minio-$v/minio" ]; then echo "==> tools: minio $v cached"; return; fi
  say "fetch minio module $v from the Go module proxy"
  local fp="$CACHE/goproxy/github.com/minio/minio/@v" base="${GOPROXY_URL:-https://proxy.golang.org}/github.com/minio/minio/@v"
  mkdir -p "$fp"
  [ -s "$fp/$v.mod" ] || curl -fsS -o "$fp/$v.mod" "$base/$v.mod"
  [ -s "$fp/$v.zip" ] || curl -fsS -o "$fp/$v.zip" "$base/$v.zip"
  local ts=${v#v0.0.0-}; ts=${ts%%-*}
  printf '{"Version":"%s","Time":"%s-%s-%sT%s:%s:%sZ"}\n' "$v" "${ts:0:4}" "${ts:4:2}" "${ts:6:2}" "${ts:8:2}" "${ts:10:2}" "${ts:12:2}" > "$fp/$v.info"
  printf '%s\n' "$v" > "$fp/list"
  GOPROXY="file://$CACHE/goproxy,${GOPROXY_URL:-https://proxy.golang.org}" \
    go_install minio "$v" "github.com/minio/minio@$v" "-s -w"
}

build_helm() {
  local v=$HELM_VERSION
  local ld="-s -w -X helm.sh/helm/v3/internal/version.version=$v -X helm.sh/helm/v3/internal/version.gitTreeState=clean"
  local minor=${KUBERNETES_VERSION#v1.}; minor=${minor%%.*}
  for p in helm.sh/helm/v3/pkg/chartutil helm.sh/helm/v3/pkg/lint/rules; do
    ld="$ld -X $p.k8sVersionMajor=1 -X $p.k8sVersionMinor=$minor"
  done
  go_install helm "$v" "helm.sh/helm/v3/cmd/helm@$v" "$ld"
}

want apt && install_apt
want python && install_python
want minio && build_minio
want kwok && go_install kwok "$KWOK_VERSION" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION" "-s -w"
want etcd && build_etcd
want helm && build_helm
want vegeta && go_install vegeta "$VEGETA_VERSION" "github.com/tsenart/vegeta/v12@$VEGETA_VERSION" "-s -w"
want kubernetes && build_kube_binaries kubernetes kube-apiserver kube-controller-manager kube-scheduler
# kubelet and kube-proxy for the real node, in a dir of their own so adding them did not
# invalidate the control plane's cached build.
want kubernetes-node && build_kube_binaries kubernetes-node kubelet kube-proxy
# pause, CoreDNS and busybox image archives for the real node (.ci/node-images.sh)
want node-images && bash "$here/node-images.sh"
echo "==> tools: all components ready in $CACHE (${SECONDS}s)"
