#!/usr/bin/env bash
# Regenerate packaging/locks/<target>.txt: the appliance's run-time dependencies (the project's
# own requirements + the `gui` extra), resolved by uv for each target's platform and Python, every
# distribution pinned with its sha256. The .deb installs exactly these (packaging/wheelhouse.sh).
#
#   packaging/lock.sh                 all targets
#   packaging/lock.sh trixie-arm64    one target
#   UPGRADE=1 packaging/lock.sh       take the newest allowed versions (default: keep the pins)
#
# uv is pinned (UV_VERSION); when that version is not on PATH it is installed from PyPI into a
# throwaway venv under ${XDG_CACHE_HOME:-~/.cache}/histo-appliance/.
set -euo pipefail
cd "$(dirname "$0")/.."

UV_VERSION=0.13.8
# target -> "uv platform tag|Python version". glibc: Bookworm 2.36, Trixie 2.41 (uv knows up to 2.40).
declare -A TARGETS=(
  [bookworm-arm64]="aarch64-manylinux_2_36|3.11"
  [trixie-arm64]="aarch64-manylinux_2_40|3.13"
  [bookworm-amd64]="x86_64-manylinux_2_36|3.11"
)

find_uv() {
  local candidate
  for candidate in "${UV:-}" "$(command -v uv || true)" /tmp/uvenv/bin/uv; do
    if [[ -n "$candidate" && -x "$candidate" ]] \
      && [[ "$("$candidate" --version 2>/dev/null)" == "uv $UV_VERSION"* ]]; then
      echo "$candidate"
      return
    fi
  done
  local venv="${XDG_CACHE_HOME:-$HOME/.cache}/histo-appliance/uv-$UV_VERSION"
  if [[ ! -x "$venv/bin/uv" ]]; then
    echo "lock.sh: installing uv $UV_VERSION into $venv" >&2
    python3 -m venv "$venv"
    "$venv/bin/python" -m pip install -q --isolated "uv==$UV_VERSION"
  fi
  echo "$venv/bin/uv"
}

uv_bin="$(find_uv)"
targets=("$@")
[[ ${#targets[@]} -gt 0 ]] || targets=(bookworm-arm64 trixie-arm64 bookworm-amd64)
mkdir -p packaging/locks
for target in "${targets[@]}"; do
  spec="${TARGETS[$target]:-}"
  [[ -n "$spec" ]] || { echo "lock.sh: unknown target $target (known: ${!TARGETS[*]})" >&2; exit 2; }
  platform="${spec%%|*}"
  python="${spec##*|}"
  out="packaging/locks/$target.txt"
  upgrade=()
  [[ -z "${UPGRADE:-}" ]] || upgrade=(--upgrade)
  echo "lock.sh: $target ($platform, Python $python) -> $out" >&2
  # --no-config: no uv.toml or pip.conf of this machine changes the result; --only-binary: the
  # wheelhouse is downloaded for a foreign platform, where nothing can be built from source.
  "$uv_bin" pip compile pyproject.toml --extra gui \
    --no-config --index-url https://pypi.org/simple \
    --python-platform "$platform" --python-version "$python" \
    --constraint packaging/lock-constraints.txt \
    --only-binary :all: --generate-hashes "${upgrade[@]}" \
    --custom-compile-command "packaging/lock.sh $target" \
    --quiet --output-file "$out"
done
