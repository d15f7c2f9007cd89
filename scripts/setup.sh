#!/usr/bin/env bash
# Create .venv with the verified stack. paddleseg 2.8.0 goes in with --no-deps because its
# opencv-python<=4.6 pin cannot load with NumPy 2; its real needs are in setup.cfg.
#
#   scripts/setup.sh                     CPU runtimes: onnxruntime + paddlepaddle (what CI runs)
#   scripts/setup.sh --gpu               onnxruntime-gpu (CUDA + TensorRT providers) INSTEAD of onnxruntime
#   scripts/setup.sh --gpu --paddle-gpu  also paddlepaddle-gpu 3.x from PaddlePaddle's index INSTEAD of paddlepaddle
#
# The CPU and GPU wheels of each runtime own the same Python module, so the other flavour is
# removed first and the result is checked: exactly one of each must be installed.
# VENV=path picks another virtual environment (default .venv); PADDLE_GPU_INDEX another CUDA build.
set -euo pipefail
cd "$(dirname "$0")/.."
PY=${PYTHON:-python3}
VENV=${VENV:-.venv}
PADDLE_VERSION=3.3.1            # same pin as the `cpu` extra in setup.cfg
PADDLE_GPU_INDEX=${PADDLE_GPU_INDEX:-https://www.paddlepaddle.org.cn/packages/stable/cu126/}
GPU=0
PADDLE_GPU=0
for arg in "$@"; do
  case "$arg" in
    --gpu) GPU=1 ;;
    --paddle-gpu) PADDLE_GPU=1 ;;
    -h|--help) sed -n 2,11p "$0"; exit 0 ;;
    *) echo "setup.sh: unknown option $arg (use --gpu, --paddle-gpu)" >&2; exit 2 ;;
  esac
done

[ -x "$VENV/bin/python" ] || "$PY" -m venv "$VENV"
pip() { "$VENV/bin/python" -m pip "$@"; }
installed() { pip show -q "$1" >/dev/null 2>&1; }
drop() { for d in "$@"; do if installed "$d"; then echo "removing $d (replaced by the other flavour)"; pip uninstall -q -y "$d"; fi; done; }

pip install -q --upgrade pip
if [ "$GPU" = 1 ]; then
  drop onnxruntime
  [ "$PADDLE_GPU" = 1 ] && drop paddlepaddle
  pip install -q -e ".[test,gpu]"
  if [ "$PADDLE_GPU" = 1 ]; then
    pip install -q "paddlepaddle-gpu==$PADDLE_VERSION" -i "$PADDLE_GPU_INDEX"
  else
    pip install -q "paddlepaddle==$PADDLE_VERSION"
  fi
elif [ "$PADDLE_GPU" = 1 ]; then
  drop onnxruntime-gpu paddlepaddle
  pip install -q -e ".[test]" "onnxruntime==1.32.0"
  pip install -q "paddlepaddle-gpu==$PADDLE_VERSION" -i "$PADDLE_GPU_INDEX"
else
  drop onnxruntime-gpu paddlepaddle-gpu
  pip install -q -e ".[test,cpu]"
fi
pip install -q --no-deps paddleseg==2.8.0

# Exactly one distribution of each runtime, or the shared module is whichever was written last.
for pair in "onnxruntime onnxruntime-gpu" "paddlepaddle paddlepaddle-gpu"; do
  set -- $pair
  if installed "$1" && installed "$2"; then
    echo "setup.sh: both $1 and $2 are installed in $VENV; remove one (pip uninstall -y $1 $2) and run again" >&2
    exit 1
  fi
done
"$VENV/bin/python" -c "import paddleseg, cv2, paddle; print('surgical-seg environment ready: paddle', paddle.__version__, 'opencv', cv2.__version__)"
"$VENV/bin/python" -m surgical_seg doctor --backends
