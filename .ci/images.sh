#!/usr/bin/env bash
# Container images and a kind cluster, for machines with a Docker engine.
#
#   bash .ci/images.sh build     # make images: build web, worker, operator
#   bash .ci/images.sh kind-up   # make kind-up: kind cluster + images + helm install + a Gallery
#
# Images are tagged with the chart's appVersion (charts/picsource/Chart.yaml), so the
# chart's default image tags always name images built from the same commit. REGISTRY
# (default ghcr.io/picsource) and TAG override the names. The build context is the
# repository root because core/ is shared; each image has its own Dockerfile.dockerignore.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo"
# shellcheck source=versions.env
source .ci/versions.env

REGISTRY="${REGISTRY:-ghcr.io/picsource}"
TAG="${TAG:-$(sed -n 's/^appVersion: *"\{0,1\}\([^"]*\)"\{0,1\}$/\1/p' charts/picsource/Chart.yaml)}"
COMPONENTS=(web worker operator)
CLUSTER="${KIND_CLUSTER:-picsource}"
NAMESPACE="${NAMESPACE:-picsource}"
GALLERY_NAMESPACE="${GALLERY_NAMESPACE:-photos}"

die() { echo "images: $*" >&2; exit 1; }
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

build() {
  need docker "install a Docker engine (this target cannot run without one)"
  docker info >/dev/null 2>&1 || die "the Docker engine is not reachable (is dockerd running?)"
  [ -n "$TAG" ] || die "could not read appVersion from charts/picsource/Chart.yaml"
  for c in "${COMPONENTS[@]}"; do
    echo "==> images: $REGISTRY/$c:$TAG"
    DOCKER_BUILDKIT=1 docker build -f "$c/Dockerfile" -t "$REGISTRY/$c:$TAG" .
  done
  docker image ls --filter "reference=$REGISTRY/*:$TAG"
}

kind_up() {
  need kind "install kind (https://kind.sigs.k8s.io) and a Docker engine"
  build
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
  kind-up) kind_up ;;
  *) echo "usage: $0 build|kind-up" >&2; exit 2 ;;
esac
