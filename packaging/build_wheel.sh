#!/usr/bin/env bash
# Build the project's own wheel into OUTDIR, from a copy of the files the wheel needs, so setuptools'
# in-tree leftovers (build/, *.egg-info) never touch the checkout.
#
#   packaging/build_wheel.sh OUTDIR        (PYTHON=... to choose the interpreter; default python3)
#
# With setuptools >= 61 importable by PYTHON (Debian 12's python3-setuptools is 66) the build runs
# offline (--no-build-isolation); otherwise pip fetches setuptools into an isolated build env.
set -euo pipefail
src="$(cd "$(dirname "$0")/.." && pwd)"
out="$(mkdir -p "${1:?usage: packaging/build_wheel.sh OUTDIR}" && cd "$1" && pwd)"
PYTHON="${PYTHON:-python3}"

work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
(cd "$src" && tar -cf - --exclude=__pycache__ pyproject.toml README.md appliance \
  models/idc-mobilenetv2/model.tflite models/idc-mobilenetv2/card.json \
  models/idc-mobilenetv2/scope.npz) | tar -xf - -C "$work"

isolation=()
if "$PYTHON" - <<'EOF' 2>/dev/null; then isolation=(--no-build-isolation --no-index); fi
import setuptools, sys
sys.exit(0 if int(setuptools.__version__.split(".")[0]) >= 61 else 1)
EOF
"$PYTHON" -m pip wheel --isolated --quiet --disable-pip-version-check --no-deps \
  "${isolation[@]}" -w "$out" "$work"
ls "$out"/histo_appliance-*.whl
