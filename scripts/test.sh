#!/usr/bin/env bash
# The test command from the README (offscreen Qt, no GPU needed).
set -euo pipefail
cd "$(dirname "$0")/.."
export QT_QPA_PLATFORM=offscreen
.venv/bin/lint-imports --no-cache     # the layering in setup.cfg [importlinter]: stages import downwards, no cycles
.venv/bin/python scripts/update_docs.py --check   # README and docs/ figure blocks match docs/measured/
exec .venv/bin/python -m pytest -q "$@"
