#!/usr/bin/env bash
# Create .venv (if needed) and install embedscope into it. Usage: scripts/setup.sh [EXTRAS]
# EXTRAS is a pip extras list such as "test" or "dev". Safe to re-run.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
. .venv/bin/activate
python -m pip install -q --upgrade pip
# torch first, pinned, so pip does not pick a build for us: on machines with a local CPU wheel
# this is instant; elsewhere it is PyPI's default build (CUDA on Linux).
if ! python -c "import torch" 2>/dev/null; then
  python -m pip install -q "torch==${EMBEDSCOPE_TORCH_VERSION:-2.13.0}"
fi
extras=${1:-}
python -m pip install -q -e ".${extras:+[$extras]}"
