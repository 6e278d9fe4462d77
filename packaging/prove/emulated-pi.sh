#!/usr/bin/env bash
# Prove the arm64 .deb on an emulated Raspberry Pi 4: Debian's arm64 root + the package's files,
# run under qemu-aarch64-static -cpu cortex-a72 with a Pi 4 /proc/cpuinfo, then `doctor`, a
# headless scan compared with the same scan on x86, and the kiosk GUI offscreen until it says
# it is ready.
#
#   packaging/prove/emulated-pi.sh [bookworm|trixie|all]      (default: bookworm; run as root)
#
# Environment: DEB=<file> (this .deb instead of dist/...; with one suite only), N_IMAGES
# (default 6, incl. the damaged one), GUI_RUNS (kiosk starts timed, default 3), GUI_LINGER (s
# the last one keeps running after ready, default 10), X86_PYTHON (the reference interpreter,
# default .venv/bin/python), MIRROR, KEEP=1 (keep the overlays in build/prove/<suite>-arm64).
# Roots are cached in build/roots/<suite>-arm64 (gitignored). See packaging/prove/README.md.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || die "run as root (mmdebstrap, mounts in a private namespace)"
# Everything below runs in a private mount namespace: the overlay, the cpuinfo bind mount and
# anything else mounted disappears with the script and never touches the host's view.
if [ "${PROVE_IN_NS:-}" != 1 ]; then
  PROVE_IN_NS=1 exec unshare --mount --propagation private "$0" "$@"
fi

QEMU="${QEMU:-qemu-aarch64-static}"
N_IMAGES="${N_IMAGES:-6}"
GUI_LINGER="${GUI_LINGER:-10}"
GUI_RUNS="${GUI_RUNS:-3}"
X86_PYTHON="${X86_PYTHON:-$REPO/.venv/bin/python}"
VENV=/opt/venvs/histo-appliance
command -v "$QEMU" >/dev/null || die "$QEMU not found (apt-get install qemu-user-static)"
command -v mmdebstrap >/dev/null || die "mmdebstrap not found (apt-get install mmdebstrap)"
[ -x "$X86_PYTHON" ] || die "no x86 reference interpreter at $X86_PYTHON (run scripts/setup-env.sh gui)"

declare -a RESULTS=()
result() { RESULTS+=("$(printf '%-9s %-5s %s' "$1" "$2" "$3")"); }

# The host file a guest path of ROOT leads to, following symlinks the way the Pi's kernel would
# (absolute links stay inside ROOT): checks the venv's python symlink from the host side.
guest_file() {
  local root="$1" path="$2" link
  for _ in 1 2 3 4 5 6 7 8; do
    [ -L "$root$path" ] || break
    link=$(readlink "$root$path")
    case "$link" in /*) path="$link" ;; *) path="$(dirname "$path")/$link" ;; esac
  done
  echo "$root$path"
}

# A Pi 4's /sys/devices/system/cpu, as far as the cpuinfo library inside XNNPACK reads it
# (possible/present CPUs, frequencies, topology). Without it (chroot mode has no /sys) XNNPACK
# logs "Error in cpuinfo: failed to parse both lists of possible and present processors" and
# the int8 model computes different numbers (p_malignant off by up to 1e-2); with the host's
# own /sys it would see the host's CPU count.
make_pi4_sys_cpu() {
  local d="$1" i f
  rm -rf "$d"
  mkdir -p "$d"
  for f in possible present online; do echo 0-3 >"$d/$f"; done
  echo 3 >"$d/kernel_max"
  for i in 0 1 2 3; do
    mkdir -p "$d/cpu$i/cpufreq" "$d/cpu$i/topology"
    echo 1 >"$d/cpu$i/online"
    echo 1800000 >"$d/cpu$i/cpufreq/cpuinfo_max_freq"
    echo 600000 >"$d/cpu$i/cpufreq/cpuinfo_min_freq"
    echo 0 >"$d/cpu$i/topology/physical_package_id"
    echo "$i" >"$d/cpu$i/topology/core_id"
    echo 0-3 >"$d/cpu$i/topology/core_siblings_list"
    echo 0-3 >"$d/cpu$i/topology/package_cpus_list"
    echo "$i" >"$d/cpu$i/topology/thread_siblings_list"
  done
}

build_deb_if_missing() {
  local deb="$1" suite="$2"
  [ -f "$deb" ] && return 0
  echo "no $deb: building it (make deb ARCH=arm64 SUITE=$suite)"
  make -C "$REPO" deb ARCH=arm64 SUITE="$suite" || die "could not build $deb"
  [ -f "$deb" ] || die "make deb did not write $deb"
}

prove_suite() {
  local suite="$1" py tag
  case "$suite" in
    bookworm) py=3.11 tag=deb12 ;;
    trixie) py=3.13 tag=deb13 ;;
    *) die "unknown suite $suite (bookworm, trixie or all)" ;;
  esac
  local deb W R ROOT
  deb=$(deb_path "$tag" arm64)
  build_deb_if_missing "$deb" "$suite"
  W="$REPO/build/prove/$suite-arm64"
  rm -rf "$W"
  mkdir -p "$W/out"

  say "$suite arm64: the package"
  deb_sizes "$deb" | tee "$W/out/sizes.txt"
  mapfile -t deps < <(deb_depends "$deb")
  echo "Depends (first alternatives): ${deps[*]}"

  say "$suite arm64: the root (mmdebstrap --variant=extract, cached)"
  # libc-bin is Essential (on every Pi) but no dependency: it holds the C.UTF-8 locale Qt wants.
  ROOT=$(ensure_root "$suite-arm64" "$suite" arm64 extract libc-bin "python$py" "${deps[@]}")
  echo "root: $ROOT ($(du -sh "$ROOT" | cut -f1)); python: $(ls "$ROOT/usr/bin/python$py")"

  say "$suite arm64: dpkg --root (a throwaway overlay of the root)"
  local R2
  R2=$(overlay "$ROOT" "$W/ov-dpkg")
  if dpkg --root="$R2" --force-depends -i "$deb" >"$W/out/dpkg-root.log" 2>&1; then
    result "$suite" ok "dpkg --root -i: installed and configured (no maintainer script had to run)"
  else
    tail -n 8 "$W/out/dpkg-root.log" | sed 's/^/    /'
    local state
    state=$(dpkg --root="$R2" -s histo-appliance 2>/dev/null | sed -n 's/^Status: //p' || true)
    echo "  package state in the root's dpkg database: ${state:-not installed}"
    result "$suite" info "dpkg --root -i: files unpacked, state '${state:-none}': its maintainer scripts are arm64 /bin/sh programs and cannot start without binfmt_misc (covered by amd64-install.sh)"
  fi
  umount "$R2"

  say "$suite arm64: the package's files in the root (dpkg -x) + what postinst would make"
  R=$(overlay "$ROOT" "$W/ov")
  dpkg -x "$deb" "$R"
  dpkg-deb -e "$deb" "$W/out/control"
  ls "$W/out/control" | sed 's/^/  control: /'
  # postinst steps that cannot run here (they need arm64 adduser, python, deb-systemd-helper):
  # make the state folders it would make (owned by root here: the emulated runs are root's).
  mkdir -p "$R/var/lib/histo-appliance/reports" "$R/var/lib/histo-appliance/models"
  local shebang pytarget
  shebang=$(head -n1 "$R$VENV/bin/histo-appliance")
  pytarget=$(readlink "$R$VENV/bin/python" || true)
  echo "  $VENV/bin/histo-appliance starts with: $shebang"
  echo "  $VENV/bin/python -> $pytarget; /usr/bin/histo-appliance -> $(readlink "$R/usr/bin/histo-appliance" || echo MISSING)"
  if [ "$shebang" = "#!$VENV/bin/python" ] && [ -e "$(guest_file "$R" "$VENV/bin/python")" ]; then
    result "$suite" ok "venv layout: console script shebang and python symlink resolve inside the root"
  else
    result "$suite" FAIL "venv layout: shebang '$shebang', python -> '$pytarget'"
  fi
  # The static qemu runs inside the root (chroot), so every path -- the venv's python ->
  # /usr/bin/python3.X symlink included -- resolves in the root exactly as on a Pi, and nothing
  # can be written to the host. (`qemu -L ROOT` from the host was tried: the venv's absolute
  # symlink then leads to the host's x86 python, any path missing from the root falls through
  # to the host -- it created /var/lib/histo-appliance there -- and Qt found no platform
  # plugin. See README.md.) A Pi 4's /proc/cpuinfo and /sys/devices/system/cpu are mounted
  # where the guest reads them: LiteRT >= 2.2 parses cpuinfo and aborts on the host's x86 one.
  make_pi4_sys_cpu "$W/sys-cpu"
  install -D -m 0755 "$(command -v "$QEMU")" "$R/usr/local/bin/qemu-aarch64-static"
  mkdir -p "$R/proc" "$R/dev" "$R/sys" "$R$W"
  mount -t proc proc "$R/proc"
  mount --bind "$PROVE_DIR/pi4-cpuinfo" "$R/proc/cpuinfo"
  mount -t sysfs -o ro sysfs "$R/sys"
  mount --bind "$W/sys-cpu" "$R/sys/devices/system/cpu"
  mount --rbind /dev "$R/dev"
  mount --bind "$W" "$R$W" # the stick, databases and logs: the same path inside and out
  grep -m1 '^Model' "$R/proc/cpuinfo"
  # The venv's python started as its venv path (argv[0]), so it finds pyvenv.cfg and the venv's
  # site-packages, running the console script: what the kernel makes of its shebang.
  local -a PY APP
  PY=("$(command -v chroot)" "$R" /usr/local/bin/qemu-aarch64-static -cpu cortex-a72 "$VENV/bin/python")
  # The console script run by the venv's python: what the kernel does with its shebang.
  APP=("${PY[@]}" "$VENV/bin/histo-appliance")
  local -a ENV=(env -i PATH=/usr/bin:/bin HOME=/var/lib/histo-appliance LANG=C.UTF-8
    XDG_RUNTIME_DIR="$W/xdg" QT_QPA_PLATFORM=offscreen)
  mkdir -p "$W/xdg" && chmod 700 "$W/xdg"
  local -a CONF=()
  [ -f "$R/etc/histo-appliance/config.toml" ] && CONF=(--config /etc/histo-appliance/config.toml)

  say "$suite arm64: python and the platform it sees"
  "${ENV[@]}" "${PY[@]}" -c \
    'import sys, platform; print(sys.version.split()[0], platform.machine(), platform.libc_ver()[1], "prefix", sys.prefix, "base", sys.base_prefix)'

  say "$suite arm64: doctor"
  local t0 rc
  t0=$(now)
  set +e
  "${ENV[@]}" timeout 900 "${APP[@]}" "${CONF[@]}" doctor --db "$W/out/doctor.db" >"$W/out/doctor.txt" 2>&1
  rc=$?
  set -e
  sed 's/^/    /' "$W/out/doctor.txt"
  echo "  doctor exit $rc after $(elapsed "$t0" "$(now)") s"
  if grep -q Traceback "$W/out/doctor.txt"; then
    result "$suite" FAIL "doctor: traceback (exit $rc)"
  else
    result "$suite" ran "doctor: exit $rc (lines marked failing above are listed in the README with the reason)"
  fi

  say "$suite arm64: headless scan of $N_IMAGES demo images (emulated) vs x86"
  demo_subset "$W/stick" "$N_IMAGES"
  t0=$(now)
  set +e
  "${ENV[@]}" timeout 1800 "${APP[@]}" "${CONF[@]}" scan "$W/stick" --format json \
    --db "$W/out/arm64.db" >"$W/out/arm64.json" 2>"$W/out/arm64.err"
  rc=$?
  set -e
  local t_scan
  t_scan=$(elapsed "$t0" "$(now)")
  echo "  emulated scan: exit $rc in $t_scan s (process start to JSON, $N_IMAGES images)"
  if [ "$rc" != 0 ]; then
    cat "$W/out/arm64.err"
    result "$suite" FAIL "scan: exit $rc"
  else
    "$X86_PYTHON" -m appliance.cli scan "$W/stick" --format json --db "$W/out/x86.db" \
      --model "$R/usr/share/histo-appliance/models/idc-mobilenetv2" >"$W/out/x86.json" 2>"$W/out/x86.err" \
      || { cat "$W/out/x86.err"; die "the x86 reference scan failed"; }
    if python3 "$PROVE_DIR/compare_scans.py" "$W/out/x86.json" "$W/out/arm64.json" | tee "$W/out/compare.txt"; then
      result "$suite" ok "scan: $N_IMAGES images in $t_scan s emulated; decisions equal to x86, $(grep -o 'largest |diff| [^ ]*' "$W/out/compare.txt")"
    else
      result "$suite" FAIL "scan: differs from x86 (see $W/out/compare.txt)"
    fi
  fi

  say "$suite arm64: kiosk GUI offscreen until READY=1 (emulated)"
  mkdir -p "$W/sticks"
  cp -r "$W/stick" "$W/sticks/demo-stick"
  # GUI_RUNS starts (the machine is shared, one figure is noise); the last one keeps the kiosk
  # up GUI_LINGER s to show it does not fall over after its first window.
  local run linger ok=1 times=()
  for ((run = 1; run <= GUI_RUNS; run++)); do
    linger=0
    [ "$run" = "$GUI_RUNS" ] && linger="$GUI_LINGER"
    rm -f "$W/out/gui.db"*
    set +e
    "${ENV[@]}" PYTHONUNBUFFERED=1 python3 "$PROVE_DIR/kiosk_ready.py" --timeout 900 \
      --linger "$linger" --log "$W/out/gui-$run.log" --result "$W/out/gui-$run.json" \
      --socket "$W/notify" -- \
      "${APP[@]}" "${CONF[@]}" gui --kiosk --mock-usb "$W/sticks" --db "$W/out/gui.db" >/dev/null
    rc=$?
    set -e
    [ "$rc" = 0 ] || ok=0
    times+=("$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["ready_notify_s"])' "$W/out/gui-$run.json")")
  done
  sed 's/^/    /' "$W/out/gui-$GUI_RUNS.log" | tail -n 15
  cat "$W/out/gui-$GUI_RUNS.json"
  local stats
  stats=$(printf '%s\n' "${times[@]}" | sort -g | awk '{v[NR] = $1} END {
    printf "median %s s (min %s, max %s, %d starts)", v[int((NR + 1) / 2)], v[1], v[NR], NR }')
  echo "  process start -> READY=1: ${times[*]} s -> $stats"
  if [ "$ok" = 1 ]; then
    result "$suite" ok "gui: process start -> READY=1 $stats (emulated); alive ${GUI_LINGER} s after"
  else
    result "$suite" FAIL "gui: READY=1 times '${times[*]}'; see $W/out/gui-*.json and gui-*.log"
  fi

  # Nothing of the package may appear on the host (it would mean a write escaped the root).
  local leaked=""
  for p in /var/lib/histo-appliance /etc/histo-appliance /opt/venvs/histo-appliance /usr/share/histo-appliance; do
    [ -e "$p" ] && leaked="$leaked $p"
  done
  if [ -n "$leaked" ]; then
    result "$suite" WARN "host paths exist (escaped the root, or installed on the host):$leaked"
  fi
  umount -R "$R"
  [ "${KEEP:-}" = 1 ] || rm -rf "$W/ov" "$W/ov-dpkg"
}

suites=("${1:-bookworm}")
[ "${1:-}" = all ] && suites=(bookworm trixie)
for s in "${suites[@]}"; do
  prove_suite "$s"
done

say "summary"
printf '%s\n' "${RESULTS[@]}" | tee "$REPO/build/prove/emulated-pi-summary.txt"
if printf '%s\n' "${RESULTS[@]}" | grep -q '^[a-z]* *FAIL'; then
  echo "emulated-pi: FAILED"
  exit 1
fi
echo "emulated-pi: PASSED"
