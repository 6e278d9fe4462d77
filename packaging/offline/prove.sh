#!/usr/bin/env bash
# Prove an offline bundle made by bundle.sh, with the network cut.
#
#   packaging/offline/prove.sh SUITE ARCH     (run as root, after bundle.sh SUITE ARCH)
#
# On the host's architecture (amd64): a fresh copy (overlay) of the cached baseline root
# (mmdebstrap --variant=important), new mount/net/pid namespaces, the tar unpacked inside and
# its install.sh run by chroot as an admin would; then `dpkg -s`, `histo-appliance doctor` as
# the service user, and install.sh a second time (it must find nothing to do).
# On another architecture (arm64: no binfmt_misc, so no maintainer script can run): apt on the
# host, with the baseline's dpkg status and the bundle as the only source, simulates the install
# (`apt-get install -s`) with the network cut: the closure must resolve from the bundle alone.
# dpkg-query formats (${Status}) are meant literally:
# shellcheck disable=SC2016
set -euo pipefail

HERE="$(cd "$(dirname "$0")" && pwd)"
REPO="$(cd "$HERE/../.." && pwd)"
ROOTS="${ROOTS:-$REPO/build/offline-roots}"
die() { printf 'prove: %s\n' "$*" >&2; exit 2; }
say() { printf '\n=== %s\n' "$*"; }

[ $# -eq 2 ] || die "usage: $0 SUITE ARCH"
SUITE="$1"
ARCH="$2"
case "$SUITE" in bookworm) TAG=deb12 ;; trixie) TAG=deb13 ;; *) die "no suite $SUITE" ;; esac
[ "$(id -u)" = 0 ] || die "run as root (namespaces, chroot)"
VERSION=$(sed -n 's/^__version__ = "\(.*\)"/\1/p' "$REPO/appliance/__init__.py")
NAME="histo-appliance_${VERSION}+${TAG}_${ARCH}-offline"
TAR="$REPO/dist/$NAME.tar"
W="$REPO/build/offline/$SUITE-$ARCH/prove"
[ -f "$TAR" ] || die "no $TAR: run packaging/offline/bundle.sh $SUITE $ARCH"
(cd "$REPO/dist" && sha256sum --quiet -c "$NAME.tar.sha256") || die "$TAR does not match its .sha256"

no_network() { # fails when Debian's archive answers
  ! python3 -c 'import socket; socket.create_connection(("deb.debian.org", 80), timeout=3)' 2>/dev/null
}

if [ "$ARCH" != "$(dpkg --print-architecture)" ]; then
  if [ "${PROVE_PHASE:-}" != inside ]; then
    STATUS="$ROOTS/$SUITE-$ARCH.status"
    [ -s "$STATUS" ] || die "no baseline $STATUS: run bundle.sh $SUITE $ARCH"
    rm -rf "$W"
    mkdir -p "$W/lists/partial" "$W/cache/archives/partial" "$W/parts" "$W/log"
    tar -xf "$TAR" -C "$W"
    export PROVE_PHASE=inside STATUS
    exec unshare --net "$0" "$@"
  fi
  say "$NAME: apt simulation on the host, $ARCH baseline ($(grep -c '^Package:' "$STATUS") packages), network cut"
  no_network || die "the network is reachable inside the namespace"
  echo "network: cut (deb.debian.org unreachable)"
  printf 'deb [trusted=yes] file:%s ./\n' "$W/$NAME" >"$W/sources.list"
  opts=(-q -o "APT::Architecture=$ARCH" -o "APT::Architectures::=$ARCH" -o "Dir::State=$W"
    -o "Dir::State::status=$STATUS" -o "Dir::State::Lists=$W/lists" -o "Dir::Cache=$W/cache"
    -o "Dir::Etc::SourceList=$W/sources.list" -o "Dir::Etc::SourceParts=$W/parts"
    -o "Dir::Etc::Preferences=$W/parts/none" -o "Dir::Etc::PreferencesParts=$W/parts"
    -o "Dir::Log=$W/log" -o Debug::NoLocking=true -o Acquire::Languages=none
    -o APT::Install-Recommends=true)
  apt-get "${opts[@]}" update >"$W/update.log" 2>&1 || { cat "$W/update.log"; die "apt update on the bundle failed"; }
  if apt-get "${opts[@]}" install -s -y histo-appliance >"$W/sim.txt" 2>&1; then
    inst=$(grep -c '^Inst ' "$W/sim.txt")
    pool=$(find "$W/$NAME/pool" -name '*.deb' | wc -l)
    echo "PASS  apt-get install -s histo-appliance resolves from the bundle alone: $inst of $pool packages would be installed"
    grep -E '^Inst histo-appliance ' "$W/sim.txt"
    missing=$(comm -13 <(sed -n 's/^Inst \([^ ]*\) .*/\1/p' "$W/sim.txt" | sort) \
      <(find "$W/$NAME/pool" -name '*.deb' -printf '%f\n' | sed 's/_.*//' | sort) | paste -sd' ')
    [ -z "$missing" ] || echo "info  in the bundle but not needed on this baseline: $missing"
  else
    tail -20 "$W/sim.txt"
    die "FAIL: the install does not resolve from the bundle alone"
  fi
  exit 0
fi

# ------------------------------------------------------------------ host architecture: real
ROOT="$ROOTS/$SUITE-$ARCH"
[ -f "$ROOT/var/lib/dpkg/status" ] || die "no baseline root $ROOT: run bundle.sh $SUITE $ARCH"
if [ "${PROVE_PHASE:-}" != inside ]; then
  export PROVE_PHASE=inside
  exec unshare --mount --net --pid --fork --propagation private "$0" "$@"
fi

rm -rf --one-file-system "$W"
mkdir -p "$W/upper" "$W/work" "$W/root"
mount -t overlay overlay -o "lowerdir=$ROOT,upperdir=$W/upper,workdir=$W/work" "$W/root"
R="$W/root"
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
mount -t sysfs sysfs "$R/sys"
mount -t tmpfs -o mode=755 tmpfs "$R/run"
mkdir -p "$R/run/lock"
CH=(chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8 DEBIAN_FRONTEND=noninteractive)

say "$NAME: real install in a fresh $SUITE $ARCH --variant=important root, network cut"
no_network || die "the network is reachable inside the namespace"
echo "network: cut (deb.debian.org unreachable); baseline: $("${CH[@]}" dpkg-query -W -f='${db:Status-Abbrev}\n' | grep -c '^ii') packages installed"
"${CH[@]}" dpkg-query -W histo-appliance >/dev/null 2>&1 && die "histo-appliance is already in the baseline root"
lists_before=$(find "$R/var/lib/apt/lists" -type f | wc -l)
mkdir -p "$R/root/stick"
tar -xf "$TAR" -C "$R/root/stick"
t0=$(date +%s)
if "${CH[@]}" "/root/stick/$NAME/install.sh" >"$W/install.log" 2>&1; then
  echo "PASS  install.sh exited 0 in $(($(date +%s) - t0)) s"
else
  tail -30 "$W/install.log"
  die "FAIL: install.sh exited non-zero (log: $W/install.log)"
fi
grep -E '^(Checking|Installing|Done|[0-9]+ upgraded)' "$W/install.log" | sed 's/^/    /'
unpacked=$(grep -c '^Unpacking ' "$W/install.log" || true)
pool=$(find "$R/root/stick/$NAME/pool" -name '*.deb' | wc -l)
echo "info  $unpacked of the bundle's $pool packages unpacked"
status=$("${CH[@]}" dpkg-query -W -f='${Status} ${Version}' histo-appliance)
if [ "${status% *}" = "install ok installed" ]; then echo "PASS  dpkg -s histo-appliance: $status"; else die "FAIL: dpkg status '$status'"; fi
broken=$("${CH[@]}" dpkg --audit 2>&1 || true)
if [ -z "$broken" ]; then echo "PASS  dpkg --audit: nothing half-installed or unconfigured"; else echo "$broken"; die "FAIL: dpkg --audit"; fi
lists_after=$(find "$R/var/lib/apt/lists" -type f | wc -l)
if [ "$lists_before" = "$lists_after" ]; then echo "PASS  the system's apt lists untouched ($lists_after files)"; else echo "FAIL  apt lists changed: $lists_before -> $lists_after files"; fi

say "histo-appliance doctor, as the service user"
"${CH[@]}" runuser -u histo-appliance -- histo-appliance doctor 2>&1 | tee "$W/doctor.txt" | sed 's/^/    /' || true
if grep -q '\[FAIL\]' "$W/doctor.txt"; then echo "info  doctor printed FAIL lines (above)"; fi
[ -s "$W/doctor.txt" ] && echo "PASS  doctor ran as histo-appliance and printed $(wc -l <"$W/doctor.txt") lines"

say "install.sh again: nothing left to take"
"${CH[@]}" "/root/stick/$NAME/install.sh" >"$W/install2.log" 2>&1 || { tail -20 "$W/install2.log"; die "FAIL: second install.sh"; }
line=$(grep -E '^[0-9]+ upgraded' "$W/install2.log" || true)
echo "    $line"
case "$line" in "0 upgraded, 0 newly installed, 0 to remove"*) echo "PASS  second run installs nothing" ;; *) echo "FAIL  second run: $line" ;; esac
