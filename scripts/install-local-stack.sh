#!/usr/bin/env bash
# Installs the no-Docker stack for `--stack local`: MariaDB from Debian packages, MinIO built with Go.
# Idempotent: what is already installed is skipped. Safe to run again.
# With SETUP_LOG=/path/to/file (scripts/setup.sh sets it) what apt-get and go print goes to that file and the
# terminal shows only this script's own [install-local-stack] lines, with a dot every 10 s on long steps.
set -euo pipefail

PREFIX="[install-local-stack]"
# shellcheck source=scripts/progress.sh
. "$(dirname "$0")/progress.sh"
trap stop_ticker EXIT
log() { say "$@"; }
apt_install() { $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "$@"; }

SUDO=""
if [ "$(id -u)" != 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; fi
fi
# Ask for the sudo password up front, not in the middle of a quiet apt-get.
sudo_ready() {
  if [ -n "$SUDO" ] && ! sudo -n true 2>/dev/null; then
    log "sudo asks for your password to run apt-get"
    sudo -v
  fi
}

# --- MariaDB -------------------------------------------------------------------------------------
if command -v mariadbd >/dev/null 2>&1 || [ -x /usr/sbin/mariadbd ] || command -v mysqld >/dev/null 2>&1 \
   || [ -x /usr/sbin/mysqld ]; then
  log "MariaDB/MySQL server already installed"
elif command -v apt-get >/dev/null 2>&1; then
  sudo_ready
  run_logged "apt-get update" $SUDO apt-get update -q
  run_logged "installing mariadb-server with apt-get (~1 min)" apt_install mariadb-server
  # The grader starts its own mariadbd in a temp dir; the distribution's service is not needed.
  if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl disable --now mariadb >/dev/null 2>&1 || true; fi
else
  log "no apt-get here: install MariaDB or MySQL yourself, or grade with --stack embedded"
  exit 1
fi

# --- bubblewrap: the sandbox for learners' scripts when the grader runs as root ------------------------
if command -v bwrap >/dev/null 2>&1; then
  log "bubblewrap already installed"
elif command -v apt-get >/dev/null 2>&1 && { [ "$(id -u)" = 0 ] || [ -n "$SUDO" ]; }; then
  sudo_ready
  run_logged "installing bubblewrap with apt-get (sandboxes learners' scripts when grading as root)" \
    apt_install bubblewrap \
    || { run_logged "apt-get update" $SUDO apt-get update -q \
         && run_logged "installing bubblewrap with apt-get, second try" apt_install bubblewrap; }
else
  log "bubblewrap not installed: as root the grader falls back to a weaker sandbox (see README, threat model)"
fi

# --- MinIO ---------------------------------------------------------------------------------------
# The community edition ships as source only. The release tags are tried first; where the Go module
# proxy refuses them, the pinned pseudo-version of the final upstream commit is used.
MINIO_VERSIONS=(
  "RELEASE.2025-10-15T17-29-55Z"
  "RELEASE.2025-09-07T16-13-09Z"
  "v0.0.0-20260212201848-7aac2a2c5b7c"
)
GOBIN_DIR="$(go env GOBIN 2>/dev/null || true)"
[ -n "$GOBIN_DIR" ] || GOBIN_DIR="$(go env GOPATH 2>/dev/null || echo "$HOME/go")/bin"
MARKER="$GOBIN_DIR/.minio-version"

if [ -x "$GOBIN_DIR/minio" ] && [ -f "$MARKER" ]; then
  log "minio $(cat "$MARKER") already built in $GOBIN_DIR"
elif command -v minio >/dev/null 2>&1 && minio --version >/dev/null 2>&1; then
  log "using the minio already on PATH: $(command -v minio)"
else
  if ! command -v go >/dev/null 2>&1; then
    log "Go is needed to build MinIO (apt-get install golang, or https://go.dev/dl/)"
    exit 1
  fi
  built=""
  for version in "${MINIO_VERSIONS[@]}"; do
    if run_logged "building MinIO $version with go install (takes a few minutes the first time)" \
         go install "github.com/minio/minio@$version"; then
      built="$version"
      break
    fi
    log "that version could not be installed; trying the next"
  done
  if [ -z "$built" ]; then
    log "MinIO could not be built; grade with --stack embedded instead"
    exit 1
  fi
  echo "$built" > "$MARKER"
fi
log "minio: $GOBIN_DIR/minio (the grader also looks in ~/go/bin when it is not on PATH)"
