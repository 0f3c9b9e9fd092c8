#!/usr/bin/env bash
# Sets up everything coldkit needs on a fresh machine, in a virtualenv (default .venv):
# the Rust extension (release build), coldkit with its extras, the encoder plugins and the
# test/benchmark tools. Idempotent: re-running it only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
export PIP_DISABLE_PIP_VERSION_CHECK=1 PIP_PROGRESS_BAR=off

if [ ! -x "$VENV/bin/python" ]; then
  echo "==> creating virtualenv $VENV"
  "$PYTHON" -m venv "$VENV"
fi
pip() { "$VENV/bin/python" -m pip "$@"; }

pip install -q --upgrade pip setuptools wheel maturin

echo "==> building and installing coldkit (Rust core, release profile)"
pip install -q -e ".[eval,serve,ray,test,docs,privacy,lightfm,rank]"

echo "==> installing Flower for federated training (the [federated] extra)"
# --no-deps: flwr 1.42 pins fastapi<0.139, starlette<1.4, uvicorn<0.50 and protobuf<7 for its own
# server stack, which would downgrade what [serve] and [ray] run on; coldkit only uses its client,
# messages and FedAvg strategy in-process, which need just these (tested together).
pip install -q --no-deps flwr==1.42.0 grpcio==1.85.3 grpcio-health-checking==1.85.1 cryptography==50.0.2 \
  pycryptodome==4.4.0 iterators==0.2.0 tomli==2.5.0 tomli_w==1.2.0
# ...and what those import, with their own dependencies (no-ops where [serve]/[ray] already brought them)
pip install -q typer rich click cffi protobuf httpx

echo "==> installing plugins"
for plugin in plugins/*/; do
  [ -f "$plugin/pyproject.toml" ] || continue
  # --no-build-isolation: plugins build with the setuptools already in the venv (no extra download).
  pip install -q --no-build-isolation -e "$plugin"
done

echo "==> installing benchmark baselines and test-only assets"
# faiss-cpu / sentence-transformers: baselines measured in the same benchmark run.
pip install -q faiss-cpu sentence-transformers
if [ -f scripts/test-assets.txt ]; then
  # Wheels that only carry files the tests read (tokenizer vocabularies); their own
  # dependencies (e.g. open_clip's torchvision) are not needed.
  pip install -q --no-deps -r scripts/test-assets.txt
fi
echo "==> wheelhouse for the offline packaging test (.wheelhouse/)"
# The wheels of coldkit's runtime dependencies: tests/test_packaging.py installs the freshly built
# coldkit and plugin wheels into a new, empty virtualenv from these with --no-index (no network in tests).
mkdir -p .wheelhouse
"$VENV/bin/python" - > .wheelhouse/requirements.txt <<'PY'
try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    from pip._vendor import tomli as tomllib
with open("pyproject.toml", "rb") as fh:
    print("\n".join(tomllib.load(fh)["project"]["dependencies"]))
PY
pip download -q --only-binary=:all: -d .wheelhouse -r .wheelhouse/requirements.txt

echo "==> setup done: $("$VENV/bin/python" -c 'import coldkit; print("coldkit", coldkit.__version__, coldkit.build_info)')"
