#!/usr/bin/env bash
# Prove the amd64 .deb for real: install it in a clean Debian 12 root with the network cut,
# maintainer scripts and all, then use it as the service user, check what it put where, purge
# it, and install it again over a database an earlier version left.
#
#   packaging/prove/amd64-install.sh          (run as root)
#
# Environment: DEB=<file> (default dist/histo-appliance_<ver>+deb12_amd64.deb, made with
# `make deb` when missing), OLD_REF (git revision whose code makes the "earlier" database;
# default c141318, the last 0.1.0 commit), X86_PYTHON (default .venv/bin/python), MIRROR,
# KEEP=1 (keep build/prove/bookworm-amd64). See packaging/prove/README.md.
set -euo pipefail
source "$(dirname "$0")/lib.sh"

[ "$(id -u)" = 0 ] || die "run as root (mmdebstrap, chroot, mounts in private namespaces)"
W="$REPO/build/prove/bookworm-amd64"
X86_PYTHON="${X86_PYTHON:-$REPO/.venv/bin/python}"
OLD_REF="${OLD_REF:-c141318}"
PKG=histo-appliance
SVC=histo-appliance

if [ "${PROVE_PHASE:-}" != inside ]; then
  # Outside: what needs the network (the .deb's build, the root from Debian's archive).
  deb=$(deb_path deb12 amd64)
  if [ ! -f "$deb" ]; then
    echo "no $deb: building it (make deb)"
    make -C "$REPO" deb || die "make deb failed"
    [ -f "$deb" ] || die "make deb did not write $deb"
  fi
  [ -x "$X86_PYTHON" ] || die "no x86 interpreter at $X86_PYTHON (run scripts/setup-env.sh gui)"
  say "the package"
  rm -rf "$W"
  mkdir -p "$W/out"
  deb_sizes "$deb" | tee "$W/out/sizes.txt"
  mapfile -t deps < <(deb_depends "$deb")
  echo "Depends (first alternatives): ${deps[*]}"
  say "a clean Debian 12 amd64 root (mmdebstrap --variant=apt + the Depends, cached)"
  root=$(ensure_root bookworm-amd64 bookworm amd64 apt "${deps[@]}")
  echo "root: $root ($(du -sh "$root" | cut -f1))"
  # Inside: new mount, network and PID namespaces. No network from here on; every mount and
  # process of the root goes away with the namespace.
  export PROVE_PHASE=inside DEB_FILE="$deb" PROVE_ROOT="$root"
  exec unshare --mount --net --pid --fork --propagation private "$0" "$@"
fi

# ---------------------------------------------------------------------------- inside
declare -a RESULTS=()
FAILED=0
check() { # check "what" command... : PASS when the command succeeds
  local what="$1"
  shift
  if "$@" >/dev/null 2>&1; then
    RESULTS+=("PASS  $what")
  else
    RESULTS+=("FAIL  $what")
    FAILED=1
  fi
}
info() { RESULTS+=("info  $*"); }
fail() {
  RESULTS+=("FAIL  $*")
  FAILED=1
}

R=$(overlay "$PROVE_ROOT" "$W/ov")
mount -t proc proc "$R/proc"
mount --rbind /dev "$R/dev"
mount -t sysfs sysfs "$R/sys"
mount -t tmpfs -o mode=755 tmpfs "$R/run" # no /run/systemd/system: systemctl works offline
mkdir -p "$R/run/lock"
CH=(chroot "$R" env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8
  DEBIAN_FRONTEND=noninteractive)
rstat() { "${CH[@]}" stat -c "$1" "$2" 2>/dev/null || echo missing; } # owner names of the root
# As the service user, the way its units run it (runuser sets up the user's groups).
AS=("${CH[@]}" runuser -u "$SVC" --)

say "network is cut"
if python3 -c 'import socket; socket.create_connection(("deb.debian.org", 80), timeout=3)' 2>/dev/null; then
  die "the network is reachable inside the namespace"
fi
echo "  links: $(ip -o link 2>/dev/null | awk -F': ' '{print $2}' | paste -sd' ')"
info "network cut (unshare --net): deb.debian.org unreachable during install and use"

say "dpkg -i (maintainer scripts run for real)"
cp "$DEB_FILE" "$R/tmp/$PKG.deb"
t0=$(now)
if "${CH[@]}" dpkg -i "/tmp/$PKG.deb" >"$W/out/install.log" 2>&1; then
  t_install=$(elapsed "$t0" "$(now)")
  sed 's/^/    /' "$W/out/install.log"
  RESULTS+=("PASS  dpkg -i in $t_install s (offline, maintainer scripts ran)")
else
  sed 's/^/    /' "$W/out/install.log"
  fail "dpkg -i (see $W/out/install.log)"
fi
du_kib=$(du -sk "$R/opt/venvs/histo-appliance" "$R/usr/share/histo-appliance" 2>/dev/null | awk '{s += $1} END {print s}')
info "installed on disk: venv + share = ${du_kib} KiB; Installed-Size says $(dpkg-deb -f "$DEB_FILE" Installed-Size) KiB"
status=$("${CH[@]}" dpkg-query -W -f='${Status}' $PKG 2>/dev/null || true)
check "package state '$status'" test "$status" = "install ok installed"
verify=$("${CH[@]}" dpkg --verify $PKG 2>&1 || true)
[ -z "$verify" ] || echo "$verify" | sed 's/^/    dpkg --verify: /'
check "dpkg --verify: no file differs from the package" test -z "$verify"

say "what it put where"
pw=$("${CH[@]}" getent passwd "$SVC" || true)
echo "  passwd: $pw"
groups=$("${CH[@]}" id -nG "$SVC" 2>/dev/null | tr ' ' '\n' | sort | paste -sd' ' || true)
echo "  groups: $groups"
uid=$(echo "$pw" | cut -d: -f3)
check "service user is a system user (uid ${uid:-?} < 1000)" test -n "$uid" -a "${uid:-1000}" -lt 1000
check "service user's home is /var/lib/histo-appliance" test "$(echo "$pw" | cut -d: -f6)" = /var/lib/histo-appliance
check "service user has no login shell ($(echo "$pw" | cut -d: -f7))" \
  sh -c "echo '$pw' | cut -d: -f7 | grep -Eq '/(nologin|false)$'"
check "groups are exactly $SVC input render video (got: $groups)" test "$groups" = "$SVC input render video"
for d in /var/lib/histo-appliance /var/lib/histo-appliance/reports /var/lib/histo-appliance/models; do
  echo "  $d: $(rstat '%a %U:%G' "$d")"
done
check "/var/lib/histo-appliance is 0750 $SVC:$SVC" \
  test "$(rstat '%a %U:%G' /var/lib/histo-appliance)" = "750 $SVC:$SVC"
conffiles=$("${CH[@]}" dpkg-query -W -f='${Conffiles}' $PKG || true)
echo "  conffiles:$conffiles"
check "/etc/histo-appliance/config.toml is a conffile" grep -q /etc/histo-appliance/config.toml <<<"$conffiles"
check "config.toml is root-owned and readable (0644)" \
  test "$(rstat '%a %U' /etc/histo-appliance/config.toml)" = "644 root"
echo "  venv python -> $(readlink "$R/opt/venvs/histo-appliance/bin/python"); /usr/bin/histo-appliance -> $(readlink "$R/usr/bin/histo-appliance")"
check "venv python is a symlink to the system python3.11" test "$("${CH[@]}" readlink -f \
  /opt/venvs/histo-appliance/bin/python)" = "$("${CH[@]}" readlink -f /usr/bin/python3.11)"
check "/usr/bin/histo-appliance runs (--version)" "${CH[@]}" histo-appliance --version
check "no TensorFlow/Keras in the venv" \
  sh -c "! ls '$R'/opt/venvs/histo-appliance/lib/python3.11/site-packages | grep -Eiq '^(tensorflow|keras|tf_keras)'"
dpkg-deb -c "$DEB_FILE" >"$W/out/contents.txt"
check "no trainer command in the package" bash -c '! grep -q bin/histo-appliance-train "$1"' _ "$W/out/contents.txt"
check "no float model (.keras) in the package" bash -c '! grep -q "[.]keras$" "$1"' _ "$W/out/contents.txt"
for u in histo-appliance-kiosk.service histo-appliance-watch.service; do
  check "unit /usr/lib/systemd/system/$u" test -f "$R/usr/lib/systemd/system/$u"
done
wants=$(cd "$R/etc/systemd/system" 2>/dev/null && find . -name 'histo-appliance*' | sort | paste -sd' ')
info "enabled at install (symlinks in /etc/systemd/system): ${wants:-none}"
M=/usr/share/histo-appliance/models/idc-mobilenetv2
model_sha=$(sha256sum "$R$M/model.tflite" | cut -d' ' -f1)
card_sha=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["sha256"])' "$R$M/card.json")
repo_sha=$(sha256sum "$REPO/models/idc-mobilenetv2/model.tflite" | cut -d' ' -f1)
check "model.tflite sha256 = card.json's (${model_sha:0:16}…)" test "$model_sha" = "$card_sha"
check "model.tflite = the repository's shipped model" test "$model_sha" = "$repo_sha"
bi="$R/usr/share/histo-appliance/build-info.json"
echo "  build-info: $(cat "$bi" 2>/dev/null || echo missing)"
check "build-info.json: target bookworm-amd64, version $(app_version)" python3 -c '
import json, sys
b = json.load(open(sys.argv[1]))
assert b["target"] == "bookworm-amd64" and b["version"] == sys.argv[2] and b["built_at"]' "$bi" "$(app_version)"

say "systemd-analyze verify / security (offline, against the root)"
units=("$R"/usr/lib/systemd/system/histo-appliance*.service)
if (cd "$R" && systemd-analyze verify --root="$R" "${units[@]#"$R"}") >"$W/out/verify.txt" 2>&1; then
  RESULTS+=("PASS  systemd-analyze verify --root (host systemd $(systemd-analyze --version | head -1 | cut -d' ' -f2))")
else
  fail "systemd-analyze verify --root: $(head -c 300 "$W/out/verify.txt" | tr '\n' ' ')"
fi
sed 's/^/    /' "$W/out/verify.txt"
for u in "${units[@]}"; do
  score=$(systemd-analyze security --offline=true --root="$R" "${u#"$R"}" 2>/dev/null | tail -n1 || true)
  info "systemd-analyze security $(basename "$u"): ${score:-n/a}"
done

say "as the service user: doctor, a scan of demo/usb, a report, the kiosk offscreen"
mkdir -p "$R/srv/demo-usb"
cp -r "$REPO/demo/usb/." "$R/srv/demo-usb/"
chmod -R a+rX "$R/srv"
set +e
"${AS[@]}" histo-appliance doctor >"$W/out/doctor.txt" 2>&1
rc=$?
set -e
sed 's/^/    /' "$W/out/doctor.txt"
# Installed for real, every doctor line must be ok (the Pi-only readings say "not available").
failing=$(grep -F '[FAIL]' "$W/out/doctor.txt" | sed 's/^ *\[FAIL\] *//' | cut -c1-160 | paste -sd';' || true)
if grep -q Traceback "$W/out/doctor.txt"; then
  fail "doctor as $SVC: traceback"
elif [ -n "$failing" ]; then
  fail "doctor as $SVC (exit $rc) has FAIL lines: $failing"
else
  RESULTS+=("PASS  doctor as $SVC: every line ok (exit $rc)")
fi
t0=$(now)
if "${AS[@]}" histo-appliance scan /srv/demo-usb --format json >"$W/out/deb.json" 2>"$W/out/deb.err"; then
  n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["images"]))' "$W/out/deb.json")
  RESULTS+=("PASS  scan of demo/usb as $SVC: $n images in $(elapsed "$t0" "$(now)") s (default database)")
  "$X86_PYTHON" -m appliance.cli scan "$REPO/demo/usb" --format json --db "$W/out/dev.db" \
    --model "$R$M" >"$W/out/dev.json" 2>/dev/null
  if python3 "$PROVE_DIR/compare_scans.py" --names dev-venv,deb "$W/out/dev.json" "$W/out/deb.json" >"$W/out/compare.txt"; then
    RESULTS+=("PASS  .deb scan = dev .venv scan ($(grep -o 'largest |diff| [^ ]*' "$W/out/compare.txt"))")
  else
    tail -n 5 "$W/out/compare.txt"
    fail ".deb scan differs from the dev .venv (see $W/out/compare.txt)"
  fi
else
  cat "$W/out/deb.err"
  fail "scan of demo/usb as $SVC"
fi
DB=/var/lib/histo-appliance/appliance.db
echo "  $DB: $(rstat '%a %U:%G' "$DB")"
check "the database is the configured one, owned by $SVC" test "$(rstat %U "$DB")" = "$SVC"
if "${AS[@]}" histo-appliance report 1 >"$W/out/report.txt" 2>&1; then
  pdf=$(find "$R/var/lib/histo-appliance/reports" -name '*.pdf' | head -n1)
  check "report 1 as $SVC: ${pdf#"$R"} ($(rstat '%a %U' "${pdf#"$R"}"))" test -s "$pdf"
else
  fail "report 1 as $SVC: $(tr '\n' ' ' <"$W/out/report.txt")"
fi
mkdir -p "$R/srv/sticks/demo-stick"
cp -r "$R/srv/demo-usb/damaged-example" "$R/srv/demo-usb/patient-10262" "$R/srv/sticks/demo-stick/"
chmod -R a+rX "$R/srv"
set +e
python3 "$PROVE_DIR/kiosk_ready.py" --timeout 120 --linger 5 --log "$W/out/gui.log" \
  --result "$W/out/gui.json" --socket "$R/run/kiosk-notify" --socket-env /run/kiosk-notify -- \
  "${CH[@]}" QT_QPA_PLATFORM=offscreen XDG_RUNTIME_DIR=/tmp NOTIFY_SOCKET=/run/kiosk-notify runuser -u "$SVC" -- \
  histo-appliance gui --kiosk --mock-usb /srv/sticks
rc=$?
set -e
tail -n 8 "$W/out/gui.log" | sed 's/^/    /'
if [ "$rc" = 0 ]; then
  RESULTS+=("PASS  kiosk offscreen as $SVC (native): $(python3 -c '
import json, sys
r = json.load(open(sys.argv[1]))
print("READY=1 after", r["ready_notify_s"], "s, kiosk ready line after", r["ready_line_s"], "s")' "$W/out/gui.json")")
else
  fail "kiosk offscreen as $SVC: $(cat "$W/out/gui.json")"
fi

say "reinstall over itself (maintainer scripts idempotent, the admin's config kept)"
echo "# edited by the admin" >>"$R/etc/histo-appliance/config.toml"
if "${CH[@]}" dpkg -i "/tmp/$PKG.deb" >"$W/out/reinstall.log" 2>&1; then
  RESULTS+=("PASS  dpkg -i again over the installed package")
else
  sed 's/^/    /' "$W/out/reinstall.log"
  fail "dpkg -i again (see $W/out/reinstall.log)"
fi
check "the admin's edit of config.toml survives the reinstall" grep -q 'edited by the admin' "$R/etc/histo-appliance/config.toml"
check "the database survives the reinstall" test -s "$R$DB"

say "dpkg --purge"
postrm_user=$(grep -Eo '(deluser|userdel|delgroup)[^;]*' "$R/var/lib/dpkg/info/$PKG.postrm" 2>/dev/null | head -n1 || true)
if "${CH[@]}" dpkg --purge $PKG >"$W/out/purge.log" 2>&1; then
  RESULTS+=("PASS  dpkg --purge")
else
  sed 's/^/    /' "$W/out/purge.log"
  fail "dpkg --purge (see $W/out/purge.log)"
fi
for p in /var/lib/histo-appliance /etc/histo-appliance /opt/venvs/histo-appliance /usr/share/histo-appliance /usr/bin/histo-appliance; do
  check "purged: $p is gone" test ! -e "$R$p" -a ! -L "$R$p"
done
left=$(find "$R/etc/systemd" -name 'histo-appliance*' 2>/dev/null | sed "s|^$R||" | paste -sd' ')
check "purged: no unit symlinks left in /etc/systemd (${left:-none})" test -z "$left"
if "${CH[@]}" getent passwd "$SVC" >/dev/null; then
  info "after purge the user $SVC still exists (postrm: ${postrm_user:-no deluser/userdel})"
else
  info "after purge the user $SVC is removed (postrm: ${postrm_user:-?})"
fi

say "install over a database an earlier version left (git $OLD_REF)"
old="$W/old"
rm -rf "$old" && mkdir -p "$old"
git -C "$REPO" archive "$OLD_REF" appliance models/idc-mobilenetv2/model.tflite \
  models/idc-mobilenetv2/card.json | tar -x -C "$old"
mkdir -p "$W/old-stick" && cp -r "$REPO/demo/usb/damaged-example" "$REPO/demo/usb/patient-9036" "$W/old-stick/"
"$X86_PYTHON" - "$old" "$old/appliance.db" "$W/old-stick" "$old/models/idc-mobilenetv2" <<'EOF'
import sys
from pathlib import Path

# The earlier version's code first, before the checkout (the current directory, or an editable
# install's import hook) could provide the package.
sys.meta_path[:] = [f for f in sys.meta_path if "editable" not in type(f).__module__.lower()]
sys.path.insert(0, sys.argv.pop(1))
for name in [m for m in sys.modules if m == "appliance" or m.startswith("appliance.")]:
    del sys.modules[name]
from appliance.config import load_config
from appliance.runtime import open_analyzer
from appliance.store import Store

db, stick, model = (Path(a) for a in sys.argv[1:])
config = load_config(None).with_overrides(model=model, database=db)
with open_analyzer(config) as analyzer:
    summary = analyzer.scan(stick, label="old-stick")
with Store.open(db) as store:
    image = store.images(summary.scan_id)[1]
    store.add_review(image.id, reviewer="Dr Old", agreed=False,
                     corrected_decision="benign", note="made by the earlier version")
    store.set_setting("proof", "kept", actor="prove")
import appliance
print(f"  earlier database made by appliance {appliance.__version__} from {appliance.__file__}")
EOF
counts() { # counts DB -> "user_version=N scans=N images=N reviews=N audit=N settings=N"
  python3 - "$1" <<'EOF'
import sqlite3, sys
c = sqlite3.connect(f"file:{sys.argv[1]}?mode=ro", uri=True)
parts = [f"user_version={c.execute('PRAGMA user_version').fetchone()[0]}"]
for t in ("scans", "images", "reviews", "audit", "settings"):
    parts.append(f"{t}={c.execute(f'SELECT count(*) FROM {t}').fetchone()[0]}")
print(" ".join(parts))
EOF
}
before=$(counts "$old/appliance.db")
echo "  earlier database: $before"
# The state a previous install leaves: the user and /var/lib/histo-appliance with its database.
"${CH[@]}" adduser --system --group --home /var/lib/histo-appliance --no-create-home "$SVC" >/dev/null 2>&1 || true
install -d -m 0750 "$R/var/lib/histo-appliance"
cp "$old/appliance.db" "$R$DB"
"${CH[@]}" chown -R "$SVC:$SVC" /var/lib/histo-appliance
if "${CH[@]}" dpkg -i "/tmp/$PKG.deb" >"$W/out/install-over.log" 2>&1; then
  RESULTS+=("PASS  dpkg -i over an existing /var/lib/histo-appliance")
else
  sed 's/^/    /' "$W/out/install-over.log"
  fail "dpkg -i over an existing database (see $W/out/install-over.log)"
fi
"${AS[@]}" histo-appliance history --format json >"$W/out/history.json" 2>&1 || true
"${AS[@]}" histo-appliance scan /srv/sticks/demo-stick --format json >/dev/null 2>"$W/out/scan-after.err" \
  || fail "a new scan on the kept database: $(tr '\n' ' ' <"$W/out/scan-after.err")"
after=$(counts "$R$DB")
echo "  after install + one new scan: $after"
check "history as $SVC lists the earlier scan" grep -q old-stick "$W/out/history.json"
python3 - "$before" "$after" <<'EOF' && RESULTS+=("PASS  rows kept and schema migrated: $before -> $after") || fail "rows not kept or not migrated: $before -> $after"
import sys
b = dict(kv.split("=") for kv in sys.argv[1].split())
a = dict(kv.split("=") for kv in sys.argv[2].split())
assert int(a["user_version"]) >= int(b["user_version"])
assert int(a["scans"]) == int(b["scans"]) + 1
for t in ("reviews", "settings"):
    assert int(a[t]) >= int(b[t]), t
assert int(a["images"]) > int(b["images"]) and int(a["audit"]) > int(b["audit"])
EOF

say "summary (bookworm amd64, real install)"
printf '%s\n' "${RESULTS[@]}" | tee "$REPO/build/prove/amd64-install-summary.txt"
umount -R "$R" 2>/dev/null || umount -l "$R" || true
[ "${KEEP:-}" = 1 ] || rm -rf "$W/ov"
if [ "$FAILED" = 1 ]; then
  echo "amd64-install: FAILED"
  exit 1
fi
echo "amd64-install: PASSED"
