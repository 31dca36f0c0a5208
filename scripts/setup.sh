#!/usr/bin/env bash
# One-time setup: a virtual environment at .venv holding the grader and its Python dependencies, then
# (where possible) the no-Docker stack. Safe to run again: a working .venv and installed tools are reused.
#   bash scripts/setup.sh              grader + local stack (MariaDB, bubblewrap, MinIO)
#   bash scripts/setup.sh --no-stack   grader only (grade with --stack embedded or docker)
#   bash scripts/setup.sh --with-browser  also Chromium, Japanese fonts and Playwright (the suite's own tests of
#                                      the HTML report drive a real browser), tmux and shellcheck (.ci/run passes it)
# PYTHON=/path/to/python3 picks the interpreter .venv is built from (default: python3, Python >= 3.10).
# What apt-get, pip and go print goes to .setup.log; the terminal shows a few progress lines.
# Afterwards: .venv/bin/python -m pytest, or `. .venv/bin/activate` once per terminal, then pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT="$PWD"
WITH_STACK=1
WITH_BROWSER=0
for arg in "$@"; do
  case "$arg" in
    --no-stack) WITH_STACK=0 ;;
    --with-browser) WITH_BROWSER=1 ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "[setup] unknown option: $arg (bash scripts/setup.sh [--no-stack] [--with-browser])" >&2; exit 2 ;;
  esac
done

export SETUP_LOG="$ROOT/.setup.log"
PREFIX="[setup]"
# shellcheck source=scripts/progress.sh
. "$ROOT/scripts/progress.sh"
VENV="$ROOT/.venv"
VPY="$VENV/bin/python"
BASE="${PYTHON:-python3}"
printf '=== setup started %s in %s %s\n' "$(date '+%F %T')" "$ROOT" "$*" >"$SETUP_LOG"

show_log_tail() {
  echo "$PREFIX last ${1:-30} lines of $SETUP_LOG:" >&2
  tail -n "${1:-30}" "$SETUP_LOG" | sed 's/^/  | /' >&2
  echo "$PREFIX full log: $SETUP_LOG" >&2
}

on_exit() {
  local rc=$?
  stop_ticker
  if [ "$rc" != 0 ]; then
    echo "$PREFIX failed after $(duration "$SECONDS")" >&2
    show_log_tail 30
  fi
}
trap on_exit EXIT

die() { echo "$PREFIX $*" >&2; exit 1; }

# --- the base interpreter ------------------------------------------------------------------------
command -v "$BASE" >/dev/null 2>&1 \
  || die "no '$BASE' here: install Python >= 3.10 (Debian/Ubuntu: apt-get install python3) or set PYTHON=/path/to/python3"
"$BASE" -c 'import sys; sys.exit(sys.version_info < (3, 10))' \
  || die "$BASE is Python $("$BASE" -c 'import platform; print(platform.python_version())'); the grader needs >= 3.10 (set PYTHON=…)"
BASE_PATH="$("$BASE" -c 'import os, sys; print(os.path.realpath(sys.executable))')"
BASE_MM="$("$BASE" -c 'import sys; print("%d.%d" % sys.version_info[:2])')"

# --- .venv ---------------------------------------------------------------------------------------
venv_works() {
  [ -x "$VPY" ] && "$VPY" -c 'import sys; sys.exit(sys.prefix == sys.base_prefix)' >/dev/null 2>&1 \
    && "$VPY" -m pip --version >/dev/null 2>&1
}

create_venv() {
  rm -rf "$VENV" && "$BASE" -m venv "$VENV" && venv_works
}

# Debian and Ubuntu ship venv's ensurepip separately: python3.X-venv (python3-venv for the default python3).
install_venv_package() {
  command -v apt-get >/dev/null 2>&1 || return 1
  local sudo="" pkgs=() p
  if [ "$(id -u)" != 0 ]; then
    command -v sudo >/dev/null 2>&1 || return 1
    sudo="sudo"
    if ! sudo -n true 2>/dev/null; then
      say "sudo asks for your password to run apt-get"
      sudo -v || return 1
    fi
  fi
  for attempt in cached updated; do
    pkgs=()
    for p in "python$BASE_MM-venv" python3-venv; do
      if apt-cache show "$p" >/dev/null 2>&1; then pkgs+=("$p"); fi
    done
    if [ ${#pkgs[@]} -gt 0 ] && run_logged "installing ${pkgs[*]} with apt-get" \
         $sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends "${pkgs[@]}"; then
      return 0
    fi
    [ "$attempt" = cached ] || return 1
    run_logged "apt-get update" $sudo apt-get update -q || return 1
  done
}

if venv_works; then
  VENV_NOTE="reused"
  VENV_BASE="$("$VPY" -c 'import os, sys; print(os.path.realpath(getattr(sys, "_base_executable", sys.executable)))')"
  if [ -n "${PYTHON:-}" ] && [ "$VENV_BASE" != "$BASE_PATH" ]; then
    VENV_NOTE="reused, built from $VENV_BASE; delete .venv to rebuild it from $BASE_PATH"
  fi
else
  [ -e "$VENV" ] && say ".venv exists but does not work: building it again"
  printf '\n$ %s -m venv %s\n' "$BASE" "$VENV" >>"$SETUP_LOG"
  if ! create_venv >>"$SETUP_LOG" 2>&1; then
    say "$BASE -m venv failed (venv/ensurepip missing? Debian/Ubuntu package python$BASE_MM-venv)"
    install_venv_package \
      || die "cannot install python$BASE_MM-venv here (needs apt-get and root or sudo); install it, or set PYTHON to a Python with venv"
    printf '\n$ %s -m venv %s\n' "$BASE" "$VENV" >>"$SETUP_LOG"
    create_venv >>"$SETUP_LOG" 2>&1 || die "$BASE -m venv still fails"
  fi
  VENV_NOTE="new, from $BASE_PATH"
fi
say "python venv: .venv (Python $("$VPY" -c 'import platform; print(platform.python_version())'), $VENV_NOTE)"

# --- the grader and its Python dependencies ------------------------------------------------------
pip_install() {
  PIP_DISABLE_PIP_VERSION_CHECK=1 "$VPY" -m pip install --progress-bar off --upgrade pip \
    && PIP_DISABLE_PIP_VERSION_CHECK=1 "$VPY" -m pip install --progress-bar off -e '.[dev]'
}
run_logged "installing Python packages into .venv (pip, ~1-2 min the first time)" pip_install

# --- the no-Docker stack -------------------------------------------------------------------------
if [ "$WITH_STACK" = 1 ]; then
  say "installing the no-Docker stack: MariaDB, bubblewrap, MinIO (scripts/install-local-stack.sh)"
  if ! bash scripts/install-local-stack.sh; then
    echo "$PREFIX the local stack is not available; pytest will fall back to the embedded stack (SQLite)" >&2
    if [ "${CI:-}" = "true" ]; then exit 1; fi
    show_log_tail 15
  fi
fi

# --- the browser for the suite's own HTML-report tests (not needed to grade) -----------------------
# Debian's chromium, driven through Playwright's Python package (its own browser download is not used),
# and a CJK font so Japanese pages render as text, not boxes; with them the suite's other test tools:
# tmux (tests/test_watch.py runs watch as a person would) and shellcheck (tests/test_class_workflow.py).
install_browser() {
  local sudo=""
  if [ "$(id -u)" != 0 ]; then sudo="sudo"; fi
  command -v apt-get >/dev/null 2>&1 || return 1
  local apt=($sudo env DEBIAN_FRONTEND=noninteractive apt-get -o DPkg::Lock::Timeout=900 install -y -q
             --no-install-recommends chromium fonts-noto-cjk tmux shellcheck)
  run_logged "installing chromium, fonts-noto-cjk, tmux and shellcheck with apt-get (~1-2 min)" "${apt[@]}" \
    || { run_logged "apt-get update" $sudo apt-get update -q && run_logged "installing chromium, second try" "${apt[@]}"; }
}
if [ "$WITH_BROWSER" = 1 ]; then
  if command -v chromium >/dev/null 2>&1 && fc-list 2>/dev/null | grep -qi "Noto Sans CJK" \
     && command -v tmux >/dev/null 2>&1 && command -v shellcheck >/dev/null 2>&1; then
    say "chromium, a CJK font, tmux and shellcheck already installed"
  else
    install_browser || die "cannot install chromium, fonts-noto-cjk, tmux and shellcheck (needs apt-get and root or sudo)"
  fi
  run_logged "installing playwright into .venv (drives the system chromium)" \
    env PIP_DISABLE_PIP_VERSION_CHECK=1 "$VPY" -m pip install --progress-bar off -e '.[browser]' \
    || die "cannot install playwright into .venv"
fi

say "done in $(duration "$SECONDS")"
echo "$PREFIX next: .venv/bin/python -m pytest   (or: . .venv/bin/activate, then pytest)"
