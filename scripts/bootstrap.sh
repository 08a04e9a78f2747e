# Sourced by scripts/app and scripts/test: makes .venv and installs the project
# into it when it is missing or pyproject.toml has changed since the last install.
set -euo pipefail

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
VENV="$REPO/.venv"
STAMP="$VENV/.lookalike-installed"

find_python() {
    for candidate in python3.11 python3.12 python3.13 python3; do
        if command -v "$candidate" >/dev/null 2>&1 &&
            "$candidate" -c 'import sys; raise SystemExit(sys.version_info < (3, 11))'; then
            echo "$candidate"
            return
        fi
    done
    echo "Lookalike needs Python 3.11 or newer; please install it first." >&2
    exit 1
}

bootstrap() {
    local wanted
    wanted="$(sha256sum "$REPO/pyproject.toml" | cut -d' ' -f1)"
    if [[ -x "$VENV/bin/python" && -f "$STAMP" && "$(cat "$STAMP")" == "$wanted" ]]; then
        return
    fi
    if [[ ! -x "$VENV/bin/python" ]]; then
        echo "Setting up $VENV (first run only)..." >&2
        "$(find_python)" -m venv "$VENV"
    fi
    "$VENV/bin/python" -m pip install --quiet --upgrade pip >&2
    "$VENV/bin/python" -m pip install --quiet -e "$REPO[test]" >&2
    # onnxruntime and onnxruntime-gpu unpack into the same folder: when an older
    # set-up left the other one behind, remove both and install the right one again.
    if "$VENV/bin/python" -m pip show onnxruntime >/dev/null 2>&1 &&
        "$VENV/bin/python" -m pip show onnxruntime-gpu >/dev/null 2>&1; then
        "$VENV/bin/python" -m pip uninstall --quiet --yes onnxruntime onnxruntime-gpu >&2
        "$VENV/bin/python" -m pip install --quiet -e "$REPO[test]" >&2
    fi
    echo "$wanted" >"$STAMP"
}

bootstrap
