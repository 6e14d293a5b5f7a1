#!/usr/bin/env bash
# Container images, built with no Docker daemon and no registry pulls; and a kind cluster
# for machines that do have a Docker engine.
#
#   bash .ci/images.sh build            # make images: bases, web, worker, operator,
#                                       #   SecantusDB and MinIO, as archives in $IMAGES
#   bash .ci/images.sh check            # builds nothing; fails naming each stale image
#   bash .ci/images.sh list             # reference <TAB> archive, for `ctr images import`
#   bash .ci/images.sh from-binary REF BINARY DEST [ARGS...]   # one static binary
#   bash .ci/images.sh from-rootfs REF DIR [ENTRYPOINT...]     # a root filesystem dir
#   bash .ci/images.sh kind-up          # make kind-up (needs Docker + kind): docker build,
#                                       #   kind cluster, helm install, a Gallery
#
# `build` uses buildah (Debian's, installed here when missing; see .ci/images-lib.sh).
# The FROM images the Dockerfiles name are made locally: python:3.11-slim and
# node:22-bookworm-slim stand-ins from `debootstrap --variant=minbase` (rootfs tarballs
# cached under $IMAGES/base, keyed by what they are built from). Each image is skipped
# when the hash of its inputs matches the one recorded next to its archive, and every
# image prints its time. Archives are docker-archives: $IMAGES/<name>-<tag>.tar.
#
# App images are tagged with the chart's appVersion (charts/picsource/Chart.yaml), so the
# chart's default image tags always name images built from the same commit. REGISTRY
# (default ghcr.io/picsource) and TAG override the names. The build context is the
# repository root because core/ is shared; each image has its own Dockerfile.dockerignore.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
# shellcheck source=versions.env
source .ci/versions.env
# shellcheck source=images-lib.sh
source .ci/images-lib.sh

REGISTRY="${REGISTRY:-ghcr.io/picsource}"
TAG="${TAG:-$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' charts/picsource/Chart.yaml)}"
COMPONENTS=(web worker operator)
CLUSTER="${KIND_CLUSTER:-picsource}"
NAMESPACE="${NAMESPACE:-picsource}"
GALLERY_NAMESPACE="${GALLERY_NAMESPACE:-photos}"

need() { command -v "$1" >/dev/null || die "$1 not found: $2"; }

helm_bin() {
  local pinned="${PICSOURCE_TOOLS:-$HOME/.cache/picsource/tools}/helm-$HELM_VERSION/helm"
  if [ -x "$pinned" ]; then echo "$pinned"; elif command -v helm >/dev/null; then command -v helm
  else die "helm not found: run \`make tools\`"; fi
}
kubectl_bin() {
  if [ -x "$repo/.venv/bin/kubectl" ]; then echo "$repo/.venv/bin/kubectl"
  elif command -v kubectl >/dev/null; then command -v kubectl
  else die "kubectl not found: run \`make python\`"; fi
}

# The MinIO tag names the community release the pinned module pseudo-version is: the
# chart's minio.image.tag (RELEASE.2025-10-15T17-29-55Z for v0.0.0-20251015172955-...).
minio_tag() {
  local ts=${MINIO_VERSION#v0.0.0-}; ts=${ts%%-*}
  echo "RELEASE.${ts:0:4}-${ts:4:2}-${ts:6:2}T${ts:8:2}-${ts:10:2}-${ts:12:2}Z"
}

secantusdb_image() {
  local ref="$REGISTRY/secantusdb:$SECANTUSDB_VERSION" context="$IMAGES/inputs/secantusdb"
  mkdir -p "$context"
  cp .ci/secantusdb.Dockerfile "$context/Dockerfile"
  # The versions the test suite runs with: secantusdb and its dependencies, hashes kept.
  py_helper lock-subset .ci/requirements/dev.txt secantusdb > "$context/requirements.txt"
  dockerfile_image "$ref" "$context/Dockerfile" "$context" "python=$PYTHON_KEY"
}

minio_image() {
  local binary="${PICSOURCE_TOOLS:-$HOME/.cache/picsource/tools}/minio-$MINIO_VERSION/minio"
  [ -x "$binary" ] || die "$binary not found: run \`make tools\` (or bash .ci/tools.sh minio)"
  image_from_binary "$REGISTRY/minio:$(minio_tag)" "$binary" /usr/bin/minio
}

build() {
  [ -n "$TAG" ] || die "could not read appVersion from charts/picsource/Chart.yaml"
  [ -f .ci/requirements/web.txt ] || die ".ci/requirements/ is missing: run \`make lock\`"
  [ -n "$CHECK_ONLY" ] || install_image_tools
  mkdir -p "$IMAGES"
  # One build at a time per cache (make images and a test fixture may both ask).
  exec 9>"$IMAGES/.lock"
  flock 9
  local t0=$SECONDS
  say "archives in $IMAGES (buildah, storage driver $STORAGE_DRIVER, runtime runc)"
  base_images
  local python="python=$PYTHON_KEY" node="node=$NODE_KEY"
  dockerfile_image "$REGISTRY/web:$TAG" web/Dockerfile . "$python" "$node"
  dockerfile_image "$REGISTRY/worker:$TAG" worker/Dockerfile . "$python"
  dockerfile_image "$REGISTRY/operator:$TAG" operator/Dockerfile . "$python"
  secantusdb_image
  minio_image
  if [ -n "$CHECK_ONLY" ]; then
    [ ${#STALE[@]} -eq 0 ] || die "missing or out of date: ${STALE[*]}: run \`make images\`"
    say "every image is up to date"; return
  fi
  say "all images in $((SECONDS - t0))s; import each with: ctr -n k8s.io images import <archive>"
  py_helper list
}

# For kind: the same Dockerfiles through a Docker engine (BuildKit).
docker_build() {
  need docker "install a Docker engine (kind-up cannot run without one)"
  docker info >/dev/null 2>&1 || die "the Docker engine is not reachable (is dockerd running?)"
  [ -n "$TAG" ] || die "could not read appVersion from charts/picsource/Chart.yaml"
  for c in "${COMPONENTS[@]}"; do
    echo "==> images: docker build $REGISTRY/$c:$TAG"
    DOCKER_BUILDKIT=1 docker build -f "$c/Dockerfile" -t "$REGISTRY/$c:$TAG" .
  done
  docker image ls --filter "reference=$REGISTRY/*:$TAG"
}

kind_up() {
  need kind "install kind (https://kind.sigs.k8s.io) and a Docker engine"
  docker_build
  local helm kubectl
  helm=$(helm_bin); kubectl=$(kubectl_bin)
  if ! kind get clusters 2>/dev/null | grep -qx "$CLUSTER"; then
    echo "==> images: kind create cluster $CLUSTER"
    kind create cluster --name "$CLUSTER" --wait 120s
  fi
  export KUBECONFIG; KUBECONFIG="$(mktemp)"
  kind get kubeconfig --name "$CLUSTER" > "$KUBECONFIG"
  for c in "${COMPONENTS[@]}"; do
    echo "==> images: kind load $REGISTRY/$c:$TAG"
    kind load docker-image --name "$CLUSTER" "$REGISTRY/$c:$TAG"
  done
  echo "==> images: helm upgrade --install picsource (with the bundled MongoDB and MinIO)"
  "$helm" upgrade --install picsource charts/picsource \
    --namespace "$GALLERY_NAMESPACE" --create-namespace \
    --set operator.image.repository="$REGISTRY/operator" --set operator.image.tag="$TAG" \
    --set images.web.repository="$REGISTRY/web" --set images.web.tag="$TAG" \
    --set images.worker.repository="$REGISTRY/worker" --set images.worker.tag="$TAG" \
    --set mongodb.enabled=true --set minio.enabled=true \
    --set gallery.enabled=true --set gallery.name=photos \
    --wait --timeout 10m
  echo "==> images: waiting for Gallery photos to be Ready"
  "$kubectl" -n "$GALLERY_NAMESPACE" wait --for=condition=Ready gallery/photos --timeout=10m
  local svc
  svc=$("$kubectl" -n "$GALLERY_NAMESPACE" get gallery photos -o jsonpath='{.status.url}')
  cat <<MSG

PicSource runs in kind cluster "$CLUSTER" (kubeconfig: $KUBECONFIG).
  Gallery URL inside the cluster: ${svc:-"(see kubectl get gallery -n $GALLERY_NAMESPACE)"}
  From this machine: KUBECONFIG=$KUBECONFIG kubectl -n $GALLERY_NAMESPACE port-forward svc/photos-web 8080:80
  then open http://127.0.0.1:8080
  Remove everything: kind delete cluster --name $CLUSTER
MSG
}

case "${1:-}" in
  build) build ;;
  check) CHECK_ONLY=1 build ;;
  list) py_helper list ;;
  from-binary) [ $# -ge 4 ] || die "usage: $0 from-binary REF BINARY DEST [ARGS...]"
    shift; install_image_tools; image_from_binary "$@" ;;
  from-rootfs) [ $# -ge 3 ] || die "usage: $0 from-rootfs REF DIR [ENTRYPOINT...]"
    shift; install_image_tools; image_from_rootfs "$@" ;;
  kind-up) kind_up ;;
  *) echo "usage: $0 build|check|list|from-binary|from-rootfs|kind-up" >&2; exit 2 ;;
esac
