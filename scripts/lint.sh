#!/usr/bin/env bash
# ruff over the repository, then mypy over the package as it installs (embedscope.ingest, …):
# the folders only become embedscope.* once installed, so mypy reads a throw-away install.
set -euo pipefail
cd "$(dirname "$0")/.."
[ -x .venv/bin/python ] || bash scripts/setup.sh dev
. .venv/bin/activate
python -m pip show -q ruff mypy >/dev/null 2>&1 || python -m pip install -q -e ".[dev]"
ruff check .
site=$(mktemp -d)
trap 'rm -rf "$site"' EXIT
python -m pip install -q --no-deps --no-build-isolation --target "$site" . 2>/dev/null
(cd "$site" && mypy -p embedscope --config-file "$OLDPWD/pyproject.toml")
