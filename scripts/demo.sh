#!/usr/bin/env bash
# Set up and run the appliance on its bundled demo stick (demo/usb) with the shipped model.
# With a display: the touch-screen GUI on the demo folder. Without one: a headless scan that
# prints the table and writes the database and the PDF report under out/.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-env.sh gui
mkdir -p out
if [ -n "${DISPLAY:-}${WAYLAND_DISPLAY:-}" ] && [ -z "${HEADLESS:-}" ]; then
  exec .venv/bin/histo-appliance gui --mock-usb demo --db out/demo.db
fi
.venv/bin/histo-appliance scan demo/usb --db out/demo.db --report out/demo-report.pdf
