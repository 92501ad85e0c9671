#!/usr/bin/env bash
# Set up everything the tests need (venv, package, Chromium for the browser tests) and run them.
# Extra arguments go to pytest, e.g. scripts/test.sh -m "not browser" -x
set -euo pipefail
cd "$(dirname "$0")/.."
bash scripts/setup.sh test
if { [ ! -x /usr/bin/chromium ] || ! command -v docker-compose >/dev/null; } && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "installing Chromium (browser tests) and docker-compose (compose file check) with apt-get…"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium docker-compose >/dev/null) \
    || echo "warning: could not install chromium; browser tests will be skipped"
fi
. .venv/bin/activate
export GRADIO_ANALYTICS_ENABLED=False HF_HUB_OFFLINE=1 PYTHONUNBUFFERED=1
exec python -m pytest "$@"
