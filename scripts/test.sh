#!/usr/bin/env bash
# The whole test suite, from a clean clone: creates .venv, installs the project with its
# test extras and the system packages the tests use, then runs pytest.
set -euo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}
if [ ! -x .venv/bin/python ]; then
  "$PYTHON" -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null
.venv/bin/python -m pip install -q -e ".[test]"
# System packages used by tests (OCR, headless browser); installed when missing and possible.
need=()
command -v tesseract >/dev/null 2>&1 || need+=(tesseract-ocr)
command -v chromium >/dev/null 2>&1 || need+=(chromium)
if [ ${#need[@]} -gt 0 ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need[@]}" >/dev/null) \
    || echo "warning: could not install ${need[*]}; tests that need them will be skipped"
fi
exec .venv/bin/python -m pytest "$@"
