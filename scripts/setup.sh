#!/usr/bin/env bash
# Create .venv with the verified stack. paddleseg 2.8.0 goes in with --no-deps because its
# opencv-python<=4.6 pin cannot load with NumPy 2; its real needs are in setup.cfg.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
[ -x .venv/bin/python ] || "$PY" -m venv .venv
.venv/bin/python -m pip install -q --upgrade pip
.venv/bin/python -m pip install -q -e ".[test]"
.venv/bin/python -m pip install -q --no-deps paddleseg==2.8.0
.venv/bin/python -c "import paddleseg, cv2, paddle; print('surgical-seg environment ready: paddle', paddle.__version__, 'opencv', cv2.__version__)"
