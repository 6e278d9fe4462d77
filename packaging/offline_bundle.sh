#!/usr/bin/env bash
# An offline install folder for a machine without network: the .deb plus every Debian package it
# needs (Depends and Recommends, recursively), as a small apt repository with an install script.
#
#   packaging/offline_bundle.sh bookworm-arm64     (after `make deb ARCH=arm64`)
#   -> dist/histo-appliance-offline_<ver>+deb12_arm64/   copy it to a stick, then on the Pi:
#      sudo bash /media/<stick>/histo-appliance-offline_<ver>+deb12_arm64/install.sh
#
# Why a repository and not `apt install ./*.deb`: the machine already has many of these packages,
# often newer (Raspberry Pi OS rebuilds some); apt given a folder as a source installs only what
# is missing and never downgrades, while a list of files would ask to install each one.
# The closure is computed against an empty system, so the folder also holds packages a Pi OS Lite
# image already has (libc6, python3.11, ...); apt skips those.
set -euo pipefail
cd "$(dirname "$0")/.."

target="${1:?usage: packaging/offline_bundle.sh <target>}"
suite="${target%-*}"
arch="${target#*-}"
case "$suite" in bookworm) suffix=deb12 ;; trixie) suffix=deb13 ;; *) echo "unknown suite $suite" >&2; exit 2 ;; esac
version="$(sed -n 's/^__version__ = "\(.*\)"/\1/p' appliance/__init__.py)"
deb="dist/histo-appliance_${version}+${suffix}_${arch}.deb"
[[ -f "$deb" ]] || { echo "offline_bundle: $deb is missing: run make deb ARCH=$arch SUITE=$suite" >&2; exit 1; }

# A private apt for the target suite and architecture: nothing of this machine's apt changes.
apt_dir="$PWD/build/apt/$target"
mkdir -p "$apt_dir"/{lists/partial,archives/partial,etc/preferences.d,etc/apt.conf.d}
: >"$apt_dir/status"
keyring=/usr/share/keyrings/debian-archive-keyring.gpg
cat >"$apt_dir/etc/sources.list" <<EOF
deb [signed-by=$keyring] http://deb.debian.org/debian $suite main
deb [signed-by=$keyring] http://deb.debian.org/debian $suite-updates main
deb [signed-by=$keyring] http://deb.debian.org/debian-security $suite-security main
EOF
cat >"$apt_dir/apt.conf" <<EOF
Dir::State "$apt_dir";
Dir::State::lists "$apt_dir/lists";
Dir::State::status "$apt_dir/status";
Dir::Cache "$apt_dir";
Dir::Cache::archives "$apt_dir/archives";
Dir::Etc "$apt_dir/etc";
Dir::Etc::sourcelist "$apt_dir/etc/sources.list";
Dir::Etc::sourceparts "-";
APT::Architecture "$arch";
APT::Architectures { "$arch"; };
APT::Install-Recommends "true";
EOF
export APT_CONFIG="$apt_dir/apt.conf"
apt-get update -qq
rm -f "$apt_dir"/archives/*.deb
apt-get install -qq -y --download-only "$PWD/$deb" >/dev/null

out="dist/histo-appliance-offline_${version}+${suffix}_${arch}"
rm -rf "$out"
mkdir -p "$out/debs"
cp "$apt_dir"/archives/*.deb "$deb" "$out/debs/"
(cd "$out" && dpkg-scanpackages --multiversion debs /dev/null 2>/dev/null | gzip -9n >Packages.gz)
cat >"$out/install.sh" <<'EOF'
#!/bin/sh
# Install histo-appliance and what it needs from this folder, without network.
# For research use only — not for diagnostic use.
set -e
here="$(cd "$(dirname "$0")" && pwd)"
[ "$(id -u)" = 0 ] || { echo "run it as root: sudo sh $0" >&2; exit 1; }
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
mkdir -p "$work/lists/partial"
echo "deb [trusted=yes] file:$here ./" >"$work/sources.list"
set -- -o Dir::Etc::SourceList="$work/sources.list" -o Dir::Etc::SourceParts=- \
  -o Dir::State::Lists="$work/lists" -o APT::Get::List-Cleanup=false
apt-get "$@" update
DEBIAN_FRONTEND=noninteractive apt-get "$@" install -y histo-appliance
echo "histo-appliance installed; reboot to start the kiosk, or: histo-appliance doctor"
EOF
chmod +x "$out/install.sh"
echo "offline_bundle: $out ($(find "$out/debs" -name '*.deb' | wc -l) packages, $(du -sh "$out" | cut -f1))" >&2
