#!/usr/bin/env bash
# Create (or reuse) the project's virtualenv in .venv and install the package with the given
# extras. Works on a fresh Debian 12 / Python 3.11: installs the few Debian packages that
# python venvs and Qt need when they are missing and we are root.
# Usage: scripts/setup-env.sh [extras]   e.g. scripts/setup-env.sh gui   or   test,train,gui
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-gui}"
venv="${VENV:-.venv}"

need_debs=()
python3 -c 'import venv, ensurepip' 2>/dev/null || need_debs+=(python3-venv)
# Qt's xcb/offscreen platform plugins need these shared libraries (present on a desktop).
for lib in libEGL.so.1 libxkbcommon.so.0 libfontconfig.so.1 libGL.so.1 libdbus-1.so.3 libudev.so.1; do
  ldconfig -p 2>/dev/null | grep -q "$lib" || need_debs+=("$lib")
done
if [ ${#need_debs[@]} -gt 0 ]; then
  declare -A deb_of=([python3-venv]=python3-venv [libEGL.so.1]=libegl1 [libxkbcommon.so.0]=libxkbcommon0
    [libfontconfig.so.1]=libfontconfig1 [libGL.so.1]=libgl1 [libdbus-1.so.3]=libdbus-1-3 [libudev.so.1]=libudev1)
  pkgs=(); for n in "${need_debs[@]}"; do pkgs+=("${deb_of[$n]}"); done
  if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
    echo "installing Debian packages: ${pkgs[*]}" >&2
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${pkgs[@]}" >/dev/null
  else
    echo "missing Debian packages: ${pkgs[*]} (run: sudo apt-get install ${pkgs[*]})" >&2
  fi
fi

[ -x "$venv/bin/python" ] || python3 -m venv "$venv"
"$venv/bin/python" -m pip install -q --upgrade pip >/dev/null
"$venv/bin/python" -m pip install -q -e ".[${extras}]"
echo "$venv ready with extras [$extras]" >&2
