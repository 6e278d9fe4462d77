#!/usr/bin/env bash
# Make the offline install bundle of one target: our .deb plus every Debian package that
# installing it pulls onto a minimal system, as a flat local apt repository with install.sh,
# in one tar an admin copies to the Pi on a stick (packaging/offline/README.md).
#
#   packaging/offline/bundle.sh SUITE ARCH      e.g. bookworm arm64 | trixie arm64 | bookworm amd64
#
# Writes dist/histo-appliance_<ver>+debNN_<arch>-offline.tar and its .sha256. Needs root (the
# baseline root is made with mmdebstrap) and Debian's archive (the dependencies are downloaded);
# the Pi needs neither.
#
# Environment: DEB=<file> (default dist/histo-appliance_<ver>+debNN_<arch>.deb), MIRROR,
# SECURITY_MIRROR, ROOTS (default build/offline-roots), EXTRA_SOURCES=<file of one-line
# "deb [signed-by=...] URI SUITE COMPONENT" entries added to the archive lines, e.g. Raspberry
# Pi's own archive where it is reachable, so the bundle carries Pi OS's builds (see README.md).
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
MIRROR="${MIRROR:-http://deb.debian.org/debian}"
SECURITY_MIRROR="${SECURITY_MIRROR:-http://deb.debian.org/debian-security}"
ROOTS="${ROOTS:-$REPO/build/offline-roots}"
KEYRING=/usr/share/keyrings/debian-archive-keyring.gpg

die() { printf 'bundle: %s\n' "$*" >&2; exit 2; }
say() { printf '\n=== %s\n' "$*" >&2; }

[ $# -eq 2 ] || die "usage: $0 SUITE ARCH (bookworm arm64 | trixie arm64 | bookworm amd64)"
SUITE="$1"
ARCH="$2"
case "$SUITE-$ARCH" in
  bookworm-arm64 | bookworm-amd64) TAG=deb12 ;;
  trixie-arm64) TAG=deb13 ;;
  *) die "no target $SUITE-$ARCH (bookworm arm64, trixie arm64, bookworm amd64)" ;;
esac
[ "$(id -u)" = 0 ] || die "run as root (mmdebstrap makes the baseline root)"
for tool in mmdebstrap apt-ftparchive dpkg-deb; do
  command -v "$tool" >/dev/null || die "$tool not found (apt-get install mmdebstrap apt-utils dpkg-dev)"
done
[ -z "${EXTRA_SOURCES:-}" ] || [ -f "$EXTRA_SOURCES" ] || die "EXTRA_SOURCES=$EXTRA_SOURCES: no such file"
VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$REPO/appliance/__init__.py")
DEB="${DEB:-$REPO/dist/histo-appliance_${VERSION}+${TAG}_${ARCH}.deb}"
[ -f "$DEB" ] || die "no $DEB: build it first (make deb ARCH=$ARCH SUITE=$SUITE)"
NAME="histo-appliance_${VERSION}+${TAG}_${ARCH}-offline"
OUT="$REPO/dist/$NAME.tar"
W="$REPO/build/offline/$SUITE-$ARCH"
T0=$(date +%s)

# The archive lines: the release, its updates and its security fixes, as a Pi OS Lite image
# that was kept up to date (Pi OS takes these from Debian for every package it does not rebuild).
sources() {
  printf 'deb [signed-by=%s] %s %s main\n' "$KEYRING" "$MIRROR" "$SUITE"
  printf 'deb [signed-by=%s] %s %s main\n' "$KEYRING" "$MIRROR" "$SUITE-updates"
  printf 'deb [signed-by=%s] %s %s-security main\n' "$KEYRING" "$SECURITY_MIRROR" "$SUITE"
  if [ -n "${EXTRA_SOURCES:-}" ]; then grep -E '^deb ' "$EXTRA_SOURCES"; fi
}

# No rm -rf across a mount point: an interrupted mmdebstrap can leave /proc or /dev mounted
# inside its unfinished root, and removing through those would touch the host.
safe_rm() {
  local d
  for d in "$@"; do
    [ -e "$d" ] || continue
    if grep -q " $(realpath "$d")[/ ]" /proc/mounts; then
      die "$d still has something mounted inside it; unmount it first (grep $d /proc/mounts)"
    fi
    rm -rf --one-file-system "$d"
  done
}

# apt on the host, for the target's architecture, against the baseline's dpkg status: no
# emulation is needed to resolve and download. Its own lists, cache and state under $W/apt.
host_apt_config() { # host_apt_config STATUS_FILE -> writes $W/apt/apt.conf
  local status="$1"
  safe_rm "$W/apt"
  mkdir -p "$W/apt/state/lists/partial" "$W/apt/cache/archives/partial" "$W/apt/etc/sources.list.d" \
    "$W/apt/etc/preferences.d" "$W/apt/log"
  sources >"$W/apt/etc/sources.list"
  cat >"$W/apt/apt.conf" <<CONF
APT::Architecture "$ARCH";
APT::Architectures { "$ARCH"; };
Dir::State "$W/apt/state";
Dir::State::status "$status";
Dir::Cache "$W/apt/cache";
Dir::Etc::SourceList "$W/apt/etc/sources.list";
Dir::Etc::SourceParts "$W/apt/etc/sources.list.d";
Dir::Etc::Preferences "$W/apt/etc/preferences";
Dir::Etc::PreferencesParts "$W/apt/etc/preferences.d";
Dir::Log "$W/apt/log";
Debug::NoLocking "true";
Acquire::Languages "none";
APT::Install-Recommends "false";
CONF
}
happ() { APT_CONFIG="$W/apt/apt.conf" apt-get -q "$@"; }

# The baseline: what a minimal system of the suite already has. mmdebstrap --variant=important
# is what debootstrap installs by default (Priority required + important), the first stage of
# the Pi OS Lite image build; Pi OS Lite adds to it, never takes from it, so a bundle that
# completes this baseline completes Pi OS Lite too (apt skips what the Pi already has).
# On the host's own architecture it is a real root (also used by prove.sh); for another one
# (no binfmt_misc here, so mmdebstrap cannot run its maintainer scripts) the same package set
# is resolved by host apt from an empty system and written as a dpkg status file.
baseline_status() {
  local root="$ROOTS/$SUITE-$ARCH"
  mkdir -p "$ROOTS"
  if [ "$ARCH" = "$(dpkg --print-architecture)" ]; then
    if [ ! -f "$root/var/lib/dpkg/status" ]; then
      say "baseline root: mmdebstrap --variant=important $SUITE $ARCH (cached at $root)"
      safe_rm "$root.new"
      local -a lines=()
      mapfile -t lines < <(sources)
      mmdebstrap --quiet --variant=important --arch="$ARCH" "$SUITE" "$root.new" "${lines[@]}" >&2 ||
        die "mmdebstrap failed (is $MIRROR reachable?)"
      safe_rm "$root"
      mv "$root.new" "$root"
    fi
    echo "$root/var/lib/dpkg/status"
    return
  fi
  local status="$ROOTS/$SUITE-$ARCH.status"
  if [ ! -s "$status" ]; then
    say "baseline: the --variant=important package set of $SUITE $ARCH, resolved by host apt"
    : >"$W/empty-status"
    host_apt_config "$W/empty-status"
    happ update >&2
    # mmdebstrap's own selection for this variant: Essential, then Priority required + important.
    happ install -s -y '?or(?essential,?priority(required),?priority(important))' >"$W/baseline-sim.txt"
    sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) .*/\1=\2/p' "$W/baseline-sim.txt" | sort >"$W/baseline.txt"
    [ -s "$W/baseline.txt" ] || die "apt resolved no baseline package (see $W/baseline-sim.txt)"
    local spec
    while read -r spec; do
      # The archive's stanza as an installed package: apt reads Package/Version/Depends/
      # Provides/Status from a status file and ignores the archive-only fields.
      APT_CONFIG="$W/apt/apt.conf" apt-cache show "$spec" | awk 'NR == 1 { print; print "Status: install ok installed"; next } /^$/ { exit } { print }'
      echo
    done <"$W/baseline.txt" >"$status.new"
    mv "$status.new" "$status"
  fi
  echo "$status"
}

say "$NAME from $(basename "$DEB")"
mkdir -p "$W"
STATUS=$(baseline_status)
echo "baseline: $(grep -c '^Package:' "$STATUS") packages ($STATUS)" >&2

say "what installing $(basename "$DEB") pulls in (apt-get install --download-only)"
host_apt_config "$STATUS"
happ update >&2
# Our Recommends (GL driver, fonts) go in too: install.sh installs Recommends, and a Pi OS
# Lite image has no Mesa. The dependencies' own Recommends stay out (cage's xwayland, ...).
mapfile -t recs < <(dpkg-deb -f "$DEB" Recommends | tr ',' '\n' | sed -e 's/|.*//' -e 's/(.*)//' -e 's/[[:space:]]//g' | grep -v '^$' || true)
happ install --download-only -y "$DEB" "${recs[@]}" >"$W/download.log" 2>&1 ||
  { tail -30 "$W/download.log" >&2; die "apt could not resolve the dependencies (see $W/download.log)"; }

say "the local repository"
B="$W/bundle/$NAME"
safe_rm "$W/bundle"
mkdir -p "$B/pool"
mv "$W"/apt/cache/archives/*.deb "$B/pool/" 2>/dev/null || true
cp "$DEB" "$B/pool/"
sed -e "s/@SUITE@/$SUITE/" -e "s/@ARCH@/$ARCH/" -e "s/@VERSION@/$VERSION+$TAG/" "$HERE/install.sh" >"$B/install.sh"
chmod 0755 "$B/install.sh"
(
  cd "$B"
  apt-ftparchive packages pool >Packages 2>/dev/null
  apt-ftparchive -o "APT::FTPArchive::Release::Suite=$SUITE" -o "APT::FTPArchive::Release::Label=histo-appliance offline" \
    -o "APT::FTPArchive::Release::Architectures=$ARCH" release . >Release
  cat >README.txt <<TXT
histo-appliance $VERSION+$TAG offline install bundle for Raspberry Pi OS / Debian $SUITE ($ARCH).
For research use only - not for diagnostic use.

On the appliance, with no network needed:
  sudo ./install.sh

It installs histo-appliance and, from pool/, only the packages this system lacks.
Made from Debian's $SUITE archive on $(date -u +%Y-%m-%d). See packaging/offline/README.md.
TXT
  find . -type f -printf '%P\n' | LC_ALL=C sort | xargs sha256sum >../SHA256SUMS
  mv ../SHA256SUMS SHA256SUMS
)
npkg=$(find "$B/pool" -name '*.deb' | wc -l)

say "the tar"
mkdir -p "$REPO/dist"
tar --sort=name --owner=0 --group=0 --numeric-owner -cf "$OUT.part" -C "$W/bundle" "$NAME"
mv "$OUT.part" "$OUT"
(cd "$REPO/dist" && sha256sum "$NAME.tar" >"$NAME.tar.sha256")
size=$(stat -c %s "$OUT")
printf '%s: %s bytes (%.1f MB), %d packages (histo-appliance + %d dependencies), %s s\n' \
  "dist/$NAME.tar" "$size" "$(awk -v b="$size" 'BEGIN { print b / 1e6 }')" "$npkg" "$((npkg - 1))" "$(($(date +%s) - T0))"
echo "sha256: $(cut -d' ' -f1 "$REPO/dist/$NAME.tar.sha256")"
