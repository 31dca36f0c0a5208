#!/usr/bin/env bash
# Installs a Docker engine and the compose v2 plugin where they are missing, and starts the engine when none
# answers; on a machine whose Docker already works it changes nothing. Needs root (or sudo) for apt-get.
#   bash scripts/install-docker.sh                    engine + compose
#   bash scripts/install-docker.sh --offline-images   also build local stand-ins for the upstream images
#                                                     (for machines that cannot pull; see README, "Docker")
#   bash scripts/install-docker.sh --stop             stop the engine this script started
# The engine is Debian's docker.io, started as `dockerd --iptables=false --bridge=none` with the overlay2
# storage driver where the kernel allows it, else vfs (HANDSON_DOCKER_STORAGE_DRIVER chooses), with its own
# data root under $HANDSON_DOCKER_HOME (default /var/lib/handson-docker), its log in
# $HANDSON_DOCKER_HOME/dockerd.log, on the default socket /var/run/docker.sock. Compose is built from its Go
# module. Images already built from the same inputs are kept (a stamp file records the hash of the inputs).
# With SETUP_LOG=/path/to/file what apt-get, go and docker print goes to that file.
set -euo pipefail

PREFIX="[install-docker]"
ROOT="$(cd "$(dirname "$0")/.." && pwd)"
# shellcheck source=scripts/progress.sh
. "$ROOT/scripts/progress.sh"
on_exit() {
  local rc=$?
  stop_ticker
  if [ "$rc" != 0 ] && [ -n "${SETUP_LOG:-}" ] && [ -f "$SETUP_LOG" ]; then
    echo "$PREFIX last 30 lines of $SETUP_LOG:" >&2
    tail -n 30 "$SETUP_LOG" | sed 's/^/  | /' >&2
  fi
}
trap on_exit EXIT
die() { say "$*" >&2; exit 1; }

OFFLINE=0
STOP=0
for arg in "$@"; do
  case "$arg" in
    --offline-images) OFFLINE=1 ;;
    --stop) STOP=1 ;;
    -h|--help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "$PREFIX unknown option: $arg (bash scripts/install-docker.sh [--offline-images] [--stop])" >&2; exit 2 ;;
  esac
done

HOME_DIR="${HANDSON_DOCKER_HOME:-/var/lib/handson-docker}"
PID_FILE="$HOME_DIR/dockerd.pid"
DOCKERD_LOG="$HOME_DIR/dockerd.log"
PLUGIN_DIR=/usr/local/lib/docker/cli-plugins
COMPOSE_MODULE="github.com/docker/compose/v2"
COMPOSE_VERSION="v2.40.3"
# github.com/minio/mc has release tags only, which the Go module proxy does not serve as versions:
# this is the pseudo-version of the newest commit it serves.
MC_MODULE="github.com/minio/mc"
MC_VERSION="v0.0.0-20250313080218-cf909e1063a9"
BASE_TAG="handson-local/debian:bookworm"
DEBIAN_MIRROR="${DEBIAN_MIRROR:-http://deb.debian.org/debian}"

SUDO=""
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
apt_install() { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -q --no-install-recommends "$@"; }

engine_answers() { docker info >/dev/null 2>&1; }

stop_hint() {
  say "to stop the engine: bash scripts/install-docker.sh --stop   (or: kill \$(cat $PID_FILE))"
}

if [ "$STOP" = 1 ]; then
  if [ -f "$PID_FILE" ] && kill -0 "$(cat "$PID_FILE")" 2>/dev/null; then
    pid="$(cat "$PID_FILE")"
    $SUDO kill "$pid"
    for _ in $(seq 30); do kill -0 "$pid" 2>/dev/null || break; sleep 1; done
    say "dockerd ($pid) stopped"
  else
    say "no dockerd started by this script is running"
  fi
  exit 0
fi

# --- the engine ----------------------------------------------------------------------------------
if { ! command -v docker >/dev/null 2>&1 || ! command -v dockerd >/dev/null 2>&1; } && ! engine_answers; then
  command -v apt-get >/dev/null 2>&1 || die "no apt-get here: install Docker yourself (https://docs.docker.com/engine/install/)"
  run_logged "installing docker.io with apt-get (~1 min)" apt_install docker.io \
    || { run_logged "apt-get update" $SUDO apt-get update -q \
         && run_logged "installing docker.io with apt-get, second try" apt_install docker.io; } \
    || die "docker.io could not be installed"
fi

if engine_answers; then
  say "a Docker engine already answers ($(docker version --format '{{.Server.Version}}' 2>/dev/null || echo '?'))"
else
  [ "$(id -u)" = 0 ] || die "no Docker engine answers and starting one needs root: run this script with sudo"
  mkdir -p "$HOME_DIR/data" "$HOME_DIR/exec"
  # overlay2 where the kernel mounts an overlay on this disk (no copy per layer or container); else vfs,
  # which works everywhere but copies the whole file system for every instruction and every container.
  overlay_works() {
    local d
    d="$(mktemp -d "$HOME_DIR/overlay-probe.XXXXXX")" && mkdir -p "$d/l" "$d/u" "$d/w" "$d/m" \
      && mount -t overlay overlay -o "lowerdir=$d/l,upperdir=$d/u,workdir=$d/w" "$d/m" 2>/dev/null \
      && umount "$d/m"
    local rc=$?
    rm -rf "$d"
    return $rc
  }
  start_dockerd() {  # DRIVER: start it in the background, wait up to 60 s for an answer
    say "starting dockerd with the $1 storage driver (log: $DOCKERD_LOG)"
    # No bridge and no iptables rules: this machine kind allows neither; compose's own networks,
    # service-name DNS and ports published on 127.0.0.1 (userland proxy) work without them.
    nohup dockerd --storage-driver="$1" --iptables=false --bridge=none \
      --data-root="$HOME_DIR/data" --exec-root="$HOME_DIR/exec" --pidfile="$PID_FILE" \
      --host=unix:///var/run/docker.sock >>"$DOCKERD_LOG" 2>&1 </dev/null &
    local pid=$!
    for _ in $(seq 60); do
      engine_answers && return 0
      kill -0 "$pid" 2>/dev/null || return 1
      sleep 1
    done
    return 1
  }
  DRIVER="${HANDSON_DOCKER_STORAGE_DRIVER:-}"
  if [ -z "$DRIVER" ]; then
    if overlay_works; then DRIVER=overlay2; else DRIVER=vfs; fi
  fi
  if ! start_dockerd "$DRIVER"; then
    tail -n 20 "$DOCKERD_LOG" >&2
    if [ "$DRIVER" = vfs ]; then die "dockerd did not answer within 60 s (log: $DOCKERD_LOG)"; fi
    [ -f "$PID_FILE" ] && kill "$(cat "$PID_FILE")" 2>/dev/null && sleep 3
    start_dockerd vfs || { tail -n 20 "$DOCKERD_LOG" >&2; die "dockerd did not answer within 60 s (log: $DOCKERD_LOG)"; }
  fi
  say "dockerd answers on /var/run/docker.sock"
  stop_hint
fi

# --- compose v2 ----------------------------------------------------------------------------------
if docker compose version >/dev/null 2>&1; then
  say "docker compose already works ($(docker compose version --short 2>/dev/null))"
else
  command -v go >/dev/null 2>&1 || die "Go is needed to build the compose plugin (apt-get install golang)"
  # `go install …@version` is refused (the module's go.mod has exclude directives): build inside a
  # writable copy of the downloaded module instead.
  build_compose() {
    local dir src
    dir="$(go mod download -json "$COMPOSE_MODULE@$COMPOSE_VERSION" | python3 -c 'import json, sys; print(json.load(sys.stdin)["Dir"])')" \
      && src="$HOME_DIR/src/compose-$COMPOSE_VERSION" && rm -rf "$src" && mkdir -p "$HOME_DIR/src" \
      && cp -r "$dir" "$src" && chmod -R u+w "$src" && $SUDO mkdir -p "$PLUGIN_DIR" \
      && (cd "$src" && GOFLAGS=-buildvcs=false go build -trimpath \
           -ldflags "-w -X $COMPOSE_MODULE/internal.Version=$COMPOSE_VERSION" -o "$PLUGIN_DIR/docker-compose.new" ./cmd) \
      && $SUDO mv "$PLUGIN_DIR/docker-compose.new" "$PLUGIN_DIR/docker-compose" && rm -rf "$src"
  }
  run_logged "building docker compose $COMPOSE_VERSION with Go (~3 min)" build_compose \
    || die "docker compose could not be built"
  docker compose version >/dev/null 2>&1 || die "docker compose built in $PLUGIN_DIR but 'docker compose version' fails"
  say "docker compose $(docker compose version --short) in $PLUGIN_DIR"
fi

[ "$OFFLINE" = 1 ] || exit 0

# --- offline stand-in images ---------------------------------------------------------------------
OFFLINE_DIR="$ROOT/docker/offline"
image_id() { docker image inspect --format '{{.Id}}' "$1" 2>/dev/null || true; }
STAMPS="$HOME_DIR/stamps"
mkdir -p "$STAMPS"

# build_image TAG DOCKERFILE CONTEXT [--build-arg NAME=VALUE …]: skipped when TAG is the image built last time
# from the same inputs (the Dockerfile, the context's files, the build arguments and the ids of the images
# they name). The record is a stamp file, not a label: with vfs every extra instruction copies the image.
build_image() {
  local tag=$1 dockerfile=$2 context=$3 hash stamp
  shift 3
  hash="$( { cat "$dockerfile"; (cd "$context" && find . -type f ! -name '*.Dockerfile' -print0 | sort -z | xargs -0 sha256sum)
             local arg; for arg in "$@"; do printf '%s %s\n' "$arg" "$(image_id "${arg#*=}")"; done; } | sha256sum | cut -c1-16)"
  stamp="$STAMPS/$(printf '%s' "$tag" | tr '/:' '__')"
  if [ -n "$(image_id "$tag")" ] && [ "$(cat "$stamp" 2>/dev/null)" = "$hash $(image_id "$tag")" ]; then
    say "$tag is up to date"
    return 0
  fi
  run_logged "building $tag" docker build --network host -t "$tag" -f "$dockerfile" "$@" "$context" \
    || die "building $tag failed"
  echo "$hash $(image_id "$tag")" >"$stamp"
}

# The Debian base: a bookworm minbase made with debootstrap, its tarball cached for the next machine start.
if [ -n "$(image_id "$BASE_TAG")" ]; then
  say "$BASE_TAG already imported"
else
  TARBALL="$HOME_DIR/cache/debian-bookworm-minbase.tar"
  if [ ! -s "$TARBALL" ]; then
    command -v debootstrap >/dev/null 2>&1 || run_logged "installing debootstrap with apt-get" apt_install debootstrap \
      || die "debootstrap could not be installed"
    make_rootfs() {
      local dir="$HOME_DIR/cache/rootfs"
      rm -rf "$dir" && mkdir -p "$dir" \
        && debootstrap --variant=minbase bookworm "$dir" "$DEBIAN_MIRROR" \
        && rm -rf "$dir/var/cache/apt/archives/"*.deb "$dir/var/lib/apt/lists/"* \
        && tar --numeric-owner -C "$dir" -cf "$TARBALL.new" . && mv "$TARBALL.new" "$TARBALL" && rm -rf "$dir"
    }
    run_logged "debootstrap of a Debian bookworm minbase (~1-2 min)" make_rootfs || die "debootstrap failed"
  fi
  run_logged "importing $BASE_TAG" docker import "$TARBALL" "$BASE_TAG" || die "docker import failed"
fi

# minio and mc: Go-built binaries, copied into a build context of their own.
GOBIN_DIR="$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin"
MINIO_BIN="$(command -v minio || true)"
[ -n "$MINIO_BIN" ] || MINIO_BIN="$GOBIN_DIR/minio"
if [ ! -x "$MINIO_BIN" ]; then
  bash "$ROOT/scripts/install-local-stack.sh" || die "minio could not be built"
fi
MC_BIN="$HOME_DIR/bin/mc"
if [ -x "$MC_BIN" ] && [ "$(cat "$MC_BIN.version" 2>/dev/null)" = "$MC_VERSION" ]; then
  say "mc $MC_VERSION already built"
else
  mkdir -p "$HOME_DIR/bin"
  run_logged "building mc with Go (~3 min)" \
    env GOBIN="$HOME_DIR/bin" GOFLAGS=-buildvcs=false go install "$MC_MODULE@$MC_VERSION" \
    || die "mc could not be built"
  echo "$MC_VERSION" >"$MC_BIN.version"
fi
MINIO_CONTEXT="$HOME_DIR/context/minio"
mkdir -p "$MINIO_CONTEXT"
cmp -s "$MINIO_BIN" "$MINIO_CONTEXT/minio" || cp "$MINIO_BIN" "$MINIO_CONTEXT/minio"
cmp -s "$MC_BIN" "$MINIO_CONTEXT/mc" || cp "$MC_BIN" "$MINIO_CONTEXT/mc"

# The Python base trusts the certificate authorities this machine added to its own store (a TLS-inspecting
# proxy in front of PyPI, for one), so that pip inside the MLflow image build reaches PyPI as the host does.
PYTHON_CONTEXT="$HOME_DIR/context/python"
rm -rf "$PYTHON_CONTEXT" && mkdir -p "$PYTHON_CONTEXT/ca"
touch "$PYTHON_CONTEXT/ca/.keep"
find /usr/local/share/ca-certificates -name '*.crt' -type f -exec cp {} "$PYTHON_CONTEXT/ca/" \; 2>/dev/null || true

# The tags below are the ones docker/compose.offline.yml names.
build_image handson-local/python:3.11 "$OFFLINE_DIR/python.Dockerfile" "$PYTHON_CONTEXT" --build-arg "BASE_IMAGE=$BASE_TAG"
build_image handson-local/mysql:8.4 "$OFFLINE_DIR/mysql.Dockerfile" "$OFFLINE_DIR" --build-arg "BASE_IMAGE=$BASE_TAG"
build_image handson-local/minio:offline "$OFFLINE_DIR/minio.Dockerfile" "$MINIO_CONTEXT" --build-arg "BASE_IMAGE=$BASE_TAG"
build_image handson-local/mc:offline "$OFFLINE_DIR/mc.Dockerfile" "$MINIO_CONTEXT" --build-arg "BASE_IMAGE=$BASE_TAG"
# The MLflow image from docker/Dockerfile on the local Python base, under the name compose.offline.yml gives
# it; `docker compose up --build` then finds every step in the build cache and needs no network.
build_image handson-local/mlflow:3.17.2 "$ROOT/docker/Dockerfile" "$ROOT/docker" \
  --build-arg "PYTHON_IMAGE=handson-local/python:3.11"
say "stand-in images ready: pytest --stack docker --compose-file docker-compose.yml --compose-file docker/compose.offline.yml"
