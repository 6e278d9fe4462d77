#!/usr/bin/env bash
# Set up everything the tests need (runtime, trainer, GUI, test tools) and run lint + tests.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-env.sh test,train,gui
export QT_QPA_PLATFORM=offscreen
.venv/bin/ruff check appliance tests bench demo
.venv/bin/python -m pytest -q "$@"
