#!/usr/bin/env bash
# Fill build/wheelhouse/<target>/ with exactly the wheels of packaging/locks/<target>.txt, for the
# target's platform and Python (not this machine's), plus the project's own wheel. Nothing is
# built from source for the target, so an arm64 wheelhouse can be made on x86.
#
#   packaging/wheelhouse.sh bookworm-arm64 | trixie-arm64 | bookworm-amd64
#
# Needs python3 with pip (Debian: python3-pip) and setuptools >= 61 (python3-setuptools) for the
# project's wheel. pip runs --isolated: no pip.conf or PIP_* variable of this machine (extra
# indexes, constraints, find-links) can change what is downloaded; the lock's hashes are checked.
set -euo pipefail
cd "$(dirname "$0")/.."

target="${1:?usage: packaging/wheelhouse.sh <target>}"
case "$target" in
  bookworm-arm64) arch=aarch64 glibc=36 python=3.11 ;;
  trixie-arm64)   arch=aarch64 glibc=41 python=3.13 ;;
  bookworm-amd64) arch=x86_64  glibc=36 python=3.11 ;;
  *) echo "wheelhouse.sh: unknown target $target" >&2; exit 2 ;;
esac
lock="packaging/locks/$target.txt"
out="build/wheelhouse/$target"
PYTHON="${PYTHON:-/usr/bin/python3}"
INDEX_URL="${INDEX_URL:-https://pypi.org/simple}"

# pip does not widen a manylinux_2_X platform to the older glibc versions it also runs, so list
# them all (manylinux_2_17 = manylinux2014), plus the pure-Python tag via 'any'.
platforms=()
for ((v = glibc; v >= 17; v--)); do platforms+=(--platform "manylinux_2_${v}_${arch}"); done
platforms+=(--platform "manylinux2014_${arch}" --platform any)

mkdir -p "$out"
if [[ -f "$out/.lock" ]] && cmp -s "$lock" "$out/.lock"; then
  echo "wheelhouse.sh: $out already holds $lock's wheels (offline rebuild)" >&2
  rm -f "$out"/histo_appliance-*.whl
else
  rm -rf "$out"
  mkdir -p "$out"
  "$PYTHON" -m pip download --isolated --quiet --disable-pip-version-check \
    --index-url "$INDEX_URL" -r "$lock" --require-hashes --no-deps \
    --only-binary=:all: "${platforms[@]}" --python-version "$python" --implementation cp \
    -d "$out"
  cp "$lock" "$out/.lock"
fi

# The project itself: a pure wheel, built offline from this checkout.
PYTHON="$PYTHON" packaging/build_wheel.sh "$out" >/dev/null

count=$(find "$out" -name '*.whl' | wc -l)
expected=$(($(grep -c '^[A-Za-z0-9]' "$lock") + 1))
if [[ "$count" -ne "$expected" ]]; then
  echo "wheelhouse.sh: $out holds $count wheels, the lock asks for $expected" >&2
  exit 1
fi
echo "wheelhouse.sh: $out ($count wheels, $(du -sh "$out" | cut -f1))" >&2
