# shellcheck shell=bash
# Shared helpers of the proof scripts (sourced, not run).
# Why one file: both proofs read the .deb the same way (version, Depends, sizes) and cache
# their Debian roots the same way (build/roots/<name>, rebuilt only when the package list grows).

PROVE_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$PROVE_DIR/../.." && pwd)"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
ROOTS="${ROOTS:-$REPO/build/roots}"

say() { printf '\n=== %s\n' "$*"; }
note() { printf '  - %s\n' "$*"; }
die() { printf 'prove: %s\n' "$*" >&2; exit 2; }
now() { date +%s.%N; }
elapsed() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.1f", b - a }'; }

# The version the .debs carry: appliance.__version__ (the packaging derives it from there).
app_version() {
  sed -n 's/^__version__ = "\(.*\)"/\1/p' "$REPO/appliance/__init__.py"
}

# deb_path TAG ARCH -> dist/histo-appliance_<ver>+TAG_ARCH.deb (or $DEB when given).
deb_path() {
  echo "${DEB:-$REPO/dist/histo-appliance_$(app_version)+$1_$2.deb}"
}

# deb_depends DEB -> one package name a line: Pre-Depends and Depends, the first of each
# alternative, versions and arch qualifiers stripped (mmdebstrap --include takes names).
deb_depends() {
  local deb="$1" field
  for field in Pre-Depends Depends; do
    dpkg-deb -f "$deb" "$field" 2>/dev/null
    echo
  done | tr ',' '\n' | sed -e 's/|.*//' -e 's/(.*)//' -e 's/:any//' -e 's/[[:space:]]//g' \
    | grep -v '^$' | sort -u
}

# deb_sizes DEB: packed size (bytes and MB) and Installed-Size (KiB and MB) from dpkg-deb.
deb_sizes() {
  local deb="$1" packed inst
  packed=$(stat -c %s "$deb")
  inst=$(dpkg-deb -f "$deb" Installed-Size)
  printf '%s: packed %s bytes (%.1f MB), Installed-Size %s KiB (%.1f MB)\n' \
    "$(basename "$deb")" "$packed" "$(awk -v b="$packed" 'BEGIN{print b/1e6}')" \
    "$inst" "$(awk -v k="$inst" 'BEGIN{print k*1024/1e6}')"
}

# ensure_root NAME SUITE ARCH VARIANT PKG... : a cached Debian root at $ROOTS/NAME made by
# mmdebstrap from Debian's archive. Reused when its recorded package list already holds
# every PKG; rebuilt (into NAME.new, then renamed) otherwise. Prints the root's path.
ensure_root() {
  local name="$1" suite="$2" arch="$3" variant="$4"
  shift 4
  local root="$ROOTS/$name" stamp="$ROOTS/$name.include" want missing
  want=$(printf '%s\n' "$@" | sort -u)
  mkdir -p "$ROOTS"
  if [ -d "$root" ] && [ -f "$stamp" ]; then
    missing=$(comm -23 <(echo "$want") <(sort -u "$stamp"))
    if [ -z "$missing" ]; then
      echo "$root"
      return 0
    fi
    echo "root $name lacks: $missing -- rebuilding" >&2
  fi
  rm -rf "$root.new"
  local t0
  t0=$(now)
  echo "mmdebstrap --variant=$variant --arch=$arch $suite $root --include=$(echo "$want" | paste -sd,)" >&2
  # An extract root has no base-files to make /lib -> usr/lib: the merged-usr hook makes the
  # links a Pi OS Bookworm or Debian 13 system has (trixie's python needs /lib/ld-linux-*).
  local -a hooks=()
  [ "$variant" = extract ] && hooks=(--hook-dir=/usr/share/mmdebstrap/hooks/merged-usr)
  mmdebstrap --quiet --variant="$variant" --arch="$arch" "${hooks[@]}" \
    --include="$(echo "$want" | paste -sd,)" "$suite" "$root.new" "$MIRROR" >&2 \
    || die "mmdebstrap failed for $name (is $MIRROR reachable?)"
  rm -rf "$root"
  mv "$root.new" "$root"
  echo "$want" >"$stamp"
  echo "root $name made in $(elapsed "$t0" "$(now)") s ($(du -sh "$root" | cut -f1))" >&2
  echo "$root"
}

# overlay LOWER WORKDIR -> mounts a writable overlay of LOWER at WORKDIR/root (call inside a
# private mount namespace) so the cached root stays pristine; prints the mount point.
overlay() {
  local lower="$1" dir="$2"
  rm -rf "$dir"
  mkdir -p "$dir/upper" "$dir/work" "$dir/root"
  mount -t overlay overlay -o "lowerdir=$lower,upperdir=$dir/upper,workdir=$dir/work" "$dir/root"
  echo "$dir/root"
}

# demo_subset DEST N: the damaged image plus the first N-1 images of the patient folders of
# demo/usb, in their case folders (a small stick: emulation is slow).
demo_subset() {
  local dest="$1" n="$2" f
  rm -rf "$dest"
  mkdir -p "$dest/damaged-example"
  cp "$REPO/demo/usb/damaged-example/"* "$dest/damaged-example/"
  find "$REPO/demo/usb" -path '*/patient-*' -name '*.png' | sort | awk -v n="$n" '
    { split($0, p, "/"); c = p[length(p) - 1]; if (seen[c]++ < 2) print }' \
    | head -n "$((n - 1))" | while read -r f; do
      mkdir -p "$dest/$(basename "$(dirname "$f")")"
      cp "$f" "$dest/$(basename "$(dirname "$f")")/"
    done
}
