#!/usr/bin/env bash
# Install medseg into a local virtual environment (.venv) next to this file's project.
#
#   bash scripts/install.sh          # runtime: medseg, snakemake, torch, monai, SimpleITK ...
#   bash scripts/install.sh --dev    # the same plus the test tools
#
# torch: a torch already importable by $PYTHON (or already in .venv) is kept as it is.
# Otherwise torch==$MEDSEG_TORCH_VERSION (default 2.13.0) is installed:
# - on Linux x86_64 without an NVIDIA GPU, the CPU build (torch==VERSION+cpu, from
#   https://download.pytorch.org/whl/cpu or a local wheel), never the multi-GB CUDA build;
# - elsewhere (a machine with an NVIDIA GPU, macOS), torch==VERSION from PyPI;
# - MEDSEG_TORCH_INDEX=URL overrides both: torch==VERSION from that index.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$here"
extras=""
[[ "${1:-}" == "--dev" ]] && extras="[dev]"

PYTHON="${PYTHON:-}"
if [[ -z "$PYTHON" ]]; then
    for candidate in python3.11 python3.12 python3.10 python3; do
        if command -v "$candidate" >/dev/null 2>&1; then PYTHON="$candidate"; break; fi
    done
fi
[[ -n "$PYTHON" ]] || { echo "install: no python3 found; set PYTHON=/path/to/python3.11" >&2; exit 1; }
"$PYTHON" - <<'PY' || { echo "install: medseg needs Python >= 3.10 (found $("$PYTHON" --version 2>&1))" >&2; exit 1; }
import sys
sys.exit(0 if sys.version_info >= (3, 10) else 1)
PY

has_nvidia_gpu() {
    [[ -e /proc/driver/nvidia/gpus ]] && [[ -n "$(ls -A /proc/driver/nvidia/gpus 2>/dev/null)" ]] && return 0
    command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L 2>/dev/null | grep -q "^GPU"
}

venv=".venv"
if [[ -x "$venv/bin/python" ]] && ! "$venv/bin/python" -c "import torch" >/dev/null 2>&1 \
        && "$PYTHON" -c "import torch" >/dev/null 2>&1; then
    echo "install: $venv has no torch and $PYTHON has one: making $venv again on top of $PYTHON"
    rm -rf "$venv"
fi
if [[ ! -x "$venv/bin/python" ]]; then
    if "$PYTHON" -c "import torch" >/dev/null 2>&1; then
        echo "install: keeping the torch of $PYTHON ($("$PYTHON" -c 'import torch; print(torch.__version__)'))"
        "$PYTHON" -m venv --system-site-packages "$venv"
    else
        "$PYTHON" -m venv "$venv"
    fi
fi
pip=("$venv/bin/python" -m pip --disable-pip-version-check)

if "$venv/bin/python" -c "import torch" >/dev/null 2>&1; then
    torch_version="$("$venv/bin/python" -c 'import torch; print(torch.__version__.split("+")[0])')"
    echo "install: torch $torch_version present, kept"
else
    torch_requirement="torch==${MEDSEG_TORCH_VERSION:-2.13.0}"
    if [[ -n "${MEDSEG_TORCH_INDEX:-}" ]]; then
        steps=("--index-url $MEDSEG_TORCH_INDEX $torch_requirement")
    elif [[ "$(uname -s)-$(uname -m)" == "Linux-x86_64" ]] && ! has_nvidia_gpu; then
        echo "install: no NVIDIA GPU found; taking the CPU build of torch"
        torch_requirement+="+cpu"
        # torch alone from the CPU wheel index, then its dependencies from the usual one
        steps=("--no-deps --extra-index-url https://download.pytorch.org/whl/cpu $torch_requirement" "$torch_requirement")
    else
        steps=("$torch_requirement")
    fi
    echo "install: installing $torch_requirement"
    for step in "${steps[@]}"; do
        # shellcheck disable=SC2086 # each step is a list of pip arguments
        "${pip[@]}" install -q $step || {
            echo "install: could not install $torch_requirement; pre-install torch, or set" \
                 "MEDSEG_TORCH_INDEX to a wheel index that has it" >&2
            exit 1
        }
    done
fi

# Pin the torch in place so that no dependency can swap it for another build.
constraints="$(mktemp)"
trap 'rm -f "$constraints"' EXIT
"$venv/bin/python" -W ignore -c 'import torch; print("torch==" + torch.__version__)' > "$constraints"
"${pip[@]}" install -q -c "$constraints" -e ".${extras}"
echo "install: done; run tools as .venv/bin/snakemake, .venv/bin/medseg (or: source .venv/bin/activate)"
