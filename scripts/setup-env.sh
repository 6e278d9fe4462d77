#!/usr/bin/env bash
# Create (or reuse) the project's virtualenv in .venv and install the package with the given
# extras. Works on a fresh Debian 12 / Python 3.11: installs the Debian packages that python venvs
# and Qt need when they are missing and we are root (otherwise prints the apt-get line to run).
# Idempotent: a second run finds everything present and installs nothing.
# Usage: scripts/setup-env.sh [extras]   e.g. scripts/setup-env.sh gui   or   test,train,gui
set -euo pipefail
cd "$(dirname "$0")/.."
extras="${1:-gui}"
venv="${VENV:-.venv}"

# The shared libraries Qt loads, by soname, and the Debian package of each: the GUI library
# itself, the xcb platform plugin (libqxcb.so + libQt6XcbQpa: an X desktop) and the Wayland one
# (libqwayland*.so + the wayland-egl integration: the kiosk under cage). PySide6's wheel does not
# carry them; without libxcb-cursor0, libxcb-icccm4 or libxcb-keysyms1 the GUI does not start.
declare -A deb_of=(
  [libEGL.so.1]=libegl1 [libGL.so.1]=libgl1 [libfontconfig.so.1]=libfontconfig1
  [libfreetype.so.6]=libfreetype6 [libdbus-1.so.3]=libdbus-1-3 [libudev.so.1]=libudev1
  [libglib-2.0.so.0]=libglib2.0-0 [libgthread-2.0.so.0]=libglib2.0-0
  [libxkbcommon.so.0]=libxkbcommon0 [libxkbcommon-x11.so.0]=libxkbcommon-x11-0
  [libxcb.so.1]=libxcb1 [libX11.so.6]=libx11-6 [libX11-xcb.so.1]=libx11-xcb1
  [libxcb-cursor.so.0]=libxcb-cursor0 [libxcb-icccm.so.4]=libxcb-icccm4
  [libxcb-keysyms.so.1]=libxcb-keysyms1 [libxcb-image.so.0]=libxcb-image0
  [libxcb-util.so.1]=libxcb-util1 [libxcb-randr.so.0]=libxcb-randr0
  [libxcb-render.so.0]=libxcb-render0 [libxcb-render-util.so.0]=libxcb-render-util0
  [libxcb-shape.so.0]=libxcb-shape0 [libxcb-shm.so.0]=libxcb-shm0 [libxcb-sync.so.1]=libxcb-sync1
  [libxcb-xfixes.so.0]=libxcb-xfixes0 [libxcb-xkb.so.1]=libxcb-xkb1
  [libwayland-client.so.0]=libwayland-client0 [libwayland-cursor.so.0]=libwayland-cursor0
  [libwayland-egl.so.1]=libwayland-egl1
)

need_debs=()
python3 -c 'import venv, ensurepip' 2>/dev/null || need_debs+=(python3-venv)

# Read the linker cache once and match in bash: `ldconfig -p | grep -q` under pipefail fails at
# random (grep exits at the first match, ldconfig gets SIGPIPE, the pipeline reports failure).
# ldconfig lives in /sbin, which is not on a normal user's PATH on Debian.
ldconfig_bin="$(command -v ldconfig || true)"
for candidate in /sbin/ldconfig /usr/sbin/ldconfig; do
  [ -n "$ldconfig_bin" ] || { [ -x "$candidate" ] && ldconfig_bin="$candidate"; }
done
if [ -n "$ldconfig_bin" ]; then
  cache="$("$ldconfig_bin" -p 2>/dev/null || true)"
  for lib in "${!deb_of[@]}"; do
    # Lines look like "<TAB>libxcb.so.1 (libc6,x86-64) => /lib/…": the tab and " (" make the
    # match exact (libxcb.so.1 must not match inside libxcb-xkb.so.1's line).
    [[ "$cache" == *$'\t'"$lib ("* ]] || need_debs+=("${deb_of[$lib]}")
  done
else
  echo "ldconfig not found: not checking Qt's system libraries" >&2
fi

if [ ${#need_debs[@]} -gt 0 ]; then
  mapfile -t pkgs < <(printf '%s\n' "${need_debs[@]}" | sort -u)
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

# Say whether the GUI can really start: load Qt's platform plugins as the app would (the same
# check as `histo-appliance doctor`), rather than trusting the list above.
if [[ ",$extras," == *,gui,* ]]; then
  "$venv/bin/python" - <<'EOF' >&2 || true
from appliance.qtplugins import check_platform

for platform in ("wayland", "xcb"):
    found = check_platform(platform)
    print(f"Qt {platform} plugin: {'ok' if found.ok else 'NOT OK'}: {found.words()}")
EOF
fi
echo "$venv ready with extras [$extras]" >&2
