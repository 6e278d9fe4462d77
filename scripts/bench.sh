#!/usr/bin/env bash
# Every benchmark in one command: tables on screen, JSON under bench/results/ (docs/performance.md).
#   scripts/bench.sh --quick        # seconds (the CI smoke run)
#   scripts/bench.sh                # full: long; prints its time estimate first
# Arguments go to `python -m bench` (--help lists them). Needs the dev venv with the train extra
# (TensorFlow exports the presets and runs tf.lite); it is set up here as scripts/test.sh does.
# The first full run also creates build/bench/venv-tflite-runtime (needs PyPI once).
set -euo pipefail
cd "$(dirname "$0")/.."
if [[ ! -x .venv/bin/python ]]; then
  scripts/setup-env.sh "${BENCH_EXTRAS:-test,train}"  # on a Pi: BENCH_EXTRAS=test
fi
exec nice -n "${BENCH_NICE:-10}" .venv/bin/python -m bench "$@"
