#!/bin/sh
# Install histo-appliance from this folder alone, with no network (run on the Pi: sudo ./install.sh).
#
# Why a local apt repository and not `apt install ./*.deb`: apt then chooses, for each package,
# between what the system already has and what this folder offers. It takes from here only what
# is missing (or too old for a dependency), never downgrades what is installed, and marks the
# dependencies as automatically installed, so `apt autoremove` can tidy them after a purge.
# The folder is the only source apt sees (the system's sources are left out, its package lists
# untouched), so nothing is fetched from a network even if one is up.
#
# @SUITE@, @ARCH@ and @VERSION@ are filled in by packaging/offline/bundle.sh.
set -eu
BUNDLE_SUITE=@SUITE@
BUNDLE_ARCH=@ARCH@
BUNDLE_VERSION=@VERSION@
PKG=histo-appliance

here=$(cd "$(dirname "$0")" && pwd)
die() {
  echo "install.sh: $*" >&2
  exit 1
}

[ "$(id -u)" -eq 0 ] || die "run it as root: sudo $here/install.sh"
command -v apt-get >/dev/null 2>&1 || die "apt-get not found: this bundle is for Raspberry Pi OS / Debian $BUNDLE_SUITE"
have_arch=$(dpkg --print-architecture)
[ "$have_arch" = "$BUNDLE_ARCH" ] ||
  die "this bundle is for $BUNDLE_ARCH systems, this one is $have_arch: use the ${have_arch} bundle"
# shellcheck source=/dev/null
have_suite=$(. /etc/os-release 2>/dev/null && echo "${VERSION_CODENAME:-}")
[ "$have_suite" = "$BUNDLE_SUITE" ] ||
  die "this bundle is for $BUNDLE_SUITE, this system is ${have_suite:-unknown}: use the bundle made for ${have_suite:-this system}"
case "$here" in
  *[[:space:]]*) die "apt cannot read a folder whose path has spaces ($here): move the folder, e.g. to /tmp" ;;
esac

echo "Checking the bundle (SHA256SUMS)..."
(cd "$here" && sha256sum --quiet --strict -c SHA256SUMS) ||
  die "the bundle is damaged: copy the .tar again and compare it with its .sha256 file"

tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT INT TERM
mkdir -p "$tmp/lists/partial" "$tmp/sources.list.d"
printf 'deb [trusted=yes] file:%s ./\n' "$here" >"$tmp/sources.list"
# Only this folder as a source; package lists and caches in a scratch folder, so the system's
# own apt state (its sources, its lists) stays as it was. The dpkg database is the real one:
# apt must see what is installed to take only what is missing.
set -- -o "Dir::Etc::SourceList=$tmp/sources.list" -o "Dir::Etc::SourceParts=$tmp/sources.list.d" \
  -o "Dir::State::Lists=$tmp/lists" -o "Dir::Cache::pkgcache=" -o "Dir::Cache::srcpkgcache=" \
  -o "Acquire::Languages=none" -o "APT::Install-Recommends=true"

apt-get "$@" -q update >"$tmp/update.log" 2>&1 || {
  cat "$tmp/update.log" >&2
  die "apt could not read the bundle's package index (see above)"
}
echo "Installing $PKG $BUNDLE_VERSION and what this system lacks of its dependencies (offline)..."
if ! apt-get "$@" install -y "$PKG"; then
  die "apt could not install $PKG from the bundle alone (see its message above). Usually a package
on this system is older or newer than the bundle's Debian $BUNDLE_SUITE version expects: install
the same Raspberry Pi OS release the bundle was made for, or run 'sudo apt full-upgrade' once on a
network, then try again."
fi
status=$(dpkg-query -W -f='${Status} ${Version}' "$PKG" 2>/dev/null || true)
case "$status" in
  "install ok installed "*) echo "Done: $PKG ${status##* } is installed. Check it with: sudo -u $PKG $PKG doctor" ;;
  *) die "$PKG is not fully installed (dpkg says: ${status:-nothing}); run: sudo dpkg --configure -a" ;;
esac
