#!/usr/bin/env bash
# One-time setup: the grader and its Python dependencies, then (where possible) the no-Docker stack.
#   bash scripts/setup.sh              grader + local stack (MariaDB, MinIO)
#   bash scripts/setup.sh --no-stack   grader only (grade with --stack embedded or docker)
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON="${PYTHON:-python3}"
"$PYTHON" -m pip install --quiet --upgrade pip
"$PYTHON" -m pip install --quiet -e '.[dev]'
if [ "${1:-}" != "--no-stack" ]; then
  if ! bash scripts/install-local-stack.sh; then
    echo "[setup] the local stack is not available; pytest will fall back to the embedded stack (SQLite)"
    [ "${CI:-}" = "true" ] && exit 1
  fi
fi
echo "[setup] done"
