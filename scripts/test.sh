#!/usr/bin/env bash
# The test command from the README (offscreen Qt, no GPU needed).
set -euo pipefail
cd "$(dirname "$0")/.."
export QT_QPA_PLATFORM=offscreen
exec .venv/bin/python -m pytest -q "$@"
