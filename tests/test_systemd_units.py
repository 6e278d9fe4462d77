"""The systemd units and the polkit rule: what they promise, checked by systemd's own tools.

``systemd-analyze verify`` needs the binaries a unit names, so the units are verified inside a
temporary root holding the host's unit files, the two units and stub executables for
``/usr/bin/cage`` and ``/usr/bin/histo-appliance``. The security exposure bounds come from the
measured scores (systemd 252, Debian 12: kiosk 1.8, watch 0.9) with a little room; a change that
weakens the sandbox fails here.
"""

from __future__ import annotations

import json
import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SYSTEMD = ROOT / "systemd"
UNITS = {
    "kiosk": SYSTEMD / "histo-appliance-kiosk.service",
    "watch": SYSTEMD / "histo-appliance-watch.service",
}
POLKIT_RULE = SYSTEMD / "polkit" / "50-histo-appliance.rules"
MAX_EXPOSURE = {"kiosk": 2.2, "watch": 1.2}
HOST_UNITS = next(
    (p for p in (Path("/usr/lib/systemd/system"), Path("/lib/systemd/system")) if p.is_dir()), None
)


def settings(path: Path) -> dict[str, list[str]]:
    """``Section.Key`` -> every value it is given (systemd allows repeating keys)."""
    found: dict[str, list[str]] = {}
    section = ""
    for raw in path.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not line or line.startswith(("#", ";")):
            continue
        if line.startswith("["):
            section = line.strip("[]")
            continue
        key, _, value = line.partition("=")
        found.setdefault(f"{section}.{key.strip()}", []).append(value.strip())
    return found


def one(values: dict[str, list[str]], key: str) -> str:
    assert key in values, f"{key} is not set"
    return values[key][-1]


@pytest.mark.parametrize("name", sorted(UNITS))
def test_no_network_and_no_privileges(name: str) -> None:
    unit = settings(UNITS[name])
    assert one(unit, "Service.User") == "histo-appliance"
    assert one(unit, "Service.RestrictAddressFamilies").split() == ["AF_UNIX", "AF_NETLINK"]
    assert one(unit, "Service.IPAddressDeny") == "any"
    # udev's netlink events do not reach a private network namespace: sticks would go unseen.
    assert "Service.PrivateNetwork" not in unit
    assert one(unit, "Service.ProtectSystem") == "strict"
    assert one(unit, "Service.ReadWritePaths") == "/var/lib/histo-appliance"
    assert one(unit, "Service.CapabilityBoundingSet") == ""
    assert one(unit, "Service.UMask") == "0027"
    assert "@system-service" in unit["Service.SystemCallFilter"]
    for key in (
        "NoNewPrivileges",
        "PrivateTmp",
        "ProtectKernelTunables",
        "ProtectKernelModules",
        "ProtectControlGroups",
        "RestrictNamespaces",
        "LockPersonality",
    ):
        assert one(unit, f"Service.{key}") == "yes", key
    assert one(unit, "Service.Type") == "notify"
    assert one(unit, "Service.StandardOutput") == "journal"


def test_kiosk_takes_tty1_under_cage() -> None:
    unit = settings(UNITS["kiosk"])
    assert one(unit, "Service.ExecStart") == "/usr/bin/cage -- /usr/bin/histo-appliance gui --kiosk"
    assert "getty@tty1.service" in one(unit, "Unit.Conflicts").split()
    assert one(unit, "Service.TTYPath") == "/dev/tty1"
    assert one(unit, "Service.PAMName") == "login"
    assert one(unit, "Service.NotifyAccess") == "all"  # READY=1 comes from cage's child
    assert one(unit, "Service.Restart") in ("always", "on-failure")
    assert "QT_QPA_PLATFORM=wayland;xcb" in " ".join(unit["Service.Environment"])
    assert one(settings(UNITS["watch"]), "Service.MemoryDenyWriteExecute") == "yes"


@pytest.fixture(scope="module")
def unit_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    if shutil.which("systemd-analyze") is None:
        pytest.skip("systemd-analyze is not installed")
    if HOST_UNITS is None:
        pytest.skip("no systemd unit folder on this machine to verify against")
    root = tmp_path_factory.mktemp("root")
    units = root / "usr" / "lib" / "systemd" / "system"
    shutil.copytree(HOST_UNITS, units, symlinks=True)
    for unit in UNITS.values():
        shutil.copy(unit, units / unit.name)
    (root / "etc").mkdir()
    (root / "usr" / "bin").mkdir(parents=True)
    for stub in ("cage", "histo-appliance"):
        path = root / "usr" / "bin" / stub
        path.write_text("#!/bin/sh\nexit 0\n")
        path.chmod(0o755)
    return root


def test_systemd_analyze_verify(unit_root: Path) -> None:
    paths = [f"/usr/lib/systemd/system/{u.name}" for u in UNITS.values()]
    # --man=no: cage's man page is on the Pi (package cage), not necessarily here.
    done = subprocess.run(
        ["systemd-analyze", "verify", "--man=no", f"--root={unit_root}", *paths],
        capture_output=True,
        text=True,
        cwd=unit_root,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr + done.stdout


@pytest.mark.parametrize("name", sorted(UNITS))
def test_security_exposure(unit_root: Path, name: str) -> None:
    done = subprocess.run(
        ["systemd-analyze", "security", "--offline=true", f"--root={unit_root}", UNITS[name].name],
        capture_output=True,
        text=True,
        cwd=unit_root,
        timeout=120,
    )
    found = re.search(r"Overall exposure level for \S+: (\d+\.\d+)", done.stdout)
    if found is None:
        pytest.skip(f"this systemd-analyze cannot score unit files offline: {done.stderr[:200]}")
    assert float(found.group(1)) <= MAX_EXPOSURE[name], done.stdout


# ---------------------------------------------------------------- polkit rule (JavaScript)

POLKIT_HARNESS = """
const fs = require("fs");
let rule = null;
const polkit = {Result: {YES: "yes", NO: "no", NOT_HANDLED: null},
                addRule: (f) => { rule = f; }};
new Function("polkit", fs.readFileSync(process.argv[2], "utf8"))(polkit);
const cases = JSON.parse(process.argv[3]);
console.log(JSON.stringify(cases.map(([id, user, details]) =>
    rule({id: id, lookup: (k) => details[k]}, {user: user}))));
"""


def test_polkit_rule_allows_only_usb_mounts_for_the_service_user(tmp_path: Path) -> None:
    node = shutil.which("node") or shutil.which("nodejs")
    if node is None:
        pytest.skip("node is not installed (it only runs the polkit rule's JavaScript here)")
    usb = {"drive.removable": "true", "drive.removable.bus": "usb", "id.usage": "filesystem"}
    internal = {"id.usage": "filesystem"}
    mount = "org.freedesktop.udisks2.filesystem-mount"
    cases = [
        [mount, "histo-appliance", usb],
        ["org.freedesktop.udisks2.filesystem-mount-other-seat", "histo-appliance", usb],
        ["org.freedesktop.udisks2.filesystem-unmount-others", "histo-appliance", usb],
        [mount, "someone", usb],
        [mount, "histo-appliance", internal],
        [mount, "histo-appliance", {**usb, "drive.removable.bus": "sdio"}],
        ["org.freedesktop.udisks2.filesystem-mount-system", "histo-appliance", usb],
        ["org.freedesktop.udisks2.modify-device", "histo-appliance", usb],
    ]
    harness = tmp_path / "harness.js"
    harness.write_text(POLKIT_HARNESS)
    done = subprocess.run(
        [node, str(harness), str(POLKIT_RULE), json.dumps(cases)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == ["yes", "yes", "yes", None, None, None, None, None]
