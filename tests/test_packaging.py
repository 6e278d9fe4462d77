"""The locks and the .deb: what an admin installs is what the project says it is.

Lock checks are quick. The .deb checks build the amd64 package with `make deb` (about a minute
with gzip instead of xz; the wheelhouse comes from PyPI the first time, 130 MB): `make deb`
installs its build tools from Debian's archive when it runs as root; otherwise, without them, or
without PyPI, those tests skip with the reason. lintian runs when it is installed.
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import subprocess
import tomllib
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

import appliance
from tests.conftest import ROOT

LOCKS = ROOT / "packaging" / "locks"
# target -> (uv --python-platform, Python): what packaging/lock.sh must say for each lock.
TARGETS = {
    "bookworm-arm64": ("aarch64-manylinux_2_36", "3.11"),
    "trixie-arm64": ("aarch64-manylinux_2_40", "3.13"),
    "bookworm-amd64": ("x86_64-manylinux_2_36", "3.11"),
}
PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^ \\;]+)")


def parse_lock(path: Path) -> dict[str, tuple[str, list[str]]]:
    """name -> (version, hashes). Fails on any requirement that is not pinned with hashes."""
    entries: dict[str, tuple[str, list[str]]] = {}
    blocks = re.split(r"\n(?=[^\s#])", path.read_text(encoding="utf-8"))
    for block in blocks:
        first = block.splitlines()[0] if block.strip() else ""
        if not first or first.startswith("#"):
            continue
        match = PIN.match(first)
        assert match, f"{path.name}: not pinned with ==: {first!r}"
        hashes = re.findall(r"--hash=sha256:([0-9a-f]{64})", block)
        assert hashes, f"{path.name}: {first.split()[0]} has no --hash"
        entries[canonicalize_name(match.group(1))] = (match.group(2), hashes)
    return entries


def runtime_requirements() -> list[Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    names = project["dependencies"] + project["optional-dependencies"]["gui"]
    return [Requirement(r) for r in names]


@pytest.mark.parametrize("target", sorted(TARGETS))
def test_lock_pins_every_runtime_requirement_with_hashes(target: str) -> None:
    lock = LOCKS / f"{target}.txt"
    entries = parse_lock(lock)
    for requirement in runtime_requirements():
        name = canonicalize_name(requirement.name)
        assert name in entries, f"{target}: {requirement.name} is not locked"
        assert requirement.specifier.contains(entries[name][0], prereleases=True), (
            f"{target}: {name}=={entries[name][0]} does not satisfy {requirement}"
        )
    # Not the trainer, the test tools, or the build tools.
    for absent in ("tensorflow-cpu", "tensorflow", "keras", "pytest", "setuptools", "ruff"):
        assert absent not in entries, f"{target}: {absent} has no place at run time"
    assert f"packaging/lock.sh {target}" in lock.read_text().splitlines()[1]


def test_lock_script_resolves_each_target_for_its_platform_and_python() -> None:
    script = (ROOT / "packaging" / "lock.sh").read_text()
    for target, (platform, python) in TARGETS.items():
        assert f'[{target}]="{platform}|{python}"' in script


def test_locks_hold_the_versions_each_target_can_run() -> None:
    bookworm = parse_lock(LOCKS / "bookworm-arm64.txt")
    trixie = parse_lock(LOCKS / "trixie-arm64.txt")
    # PySide6 6.8.1 and later need glibc 2.39; Bookworm has 2.36.
    assert bookworm["pyside6-essentials"][0] == "6.8.0.2"
    assert bookworm["shiboken6"][0] == "6.8.0.2"
    for lock in (bookworm, trixie, parse_lock(LOCKS / "bookworm-amd64.txt")):
        assert "ai-edge-litert" in lock
        assert "backports-strenum" not in lock or lock["backports-strenum"][0] != "1.3.1"


# --- the .deb -------------------------------------------------------------------------------

def _build_tools_missing() -> str | None:
    """Why `make deb` cannot run here, or None. As root it installs what is missing itself."""
    if not shutil.which("dpkg") or not Path("/usr/bin/python3").exists():
        return "needs a Debian system (dpkg, /usr/bin/python3)"
    if os.geteuid() == 0 and shutil.which("apt-get"):
        return None
    have_installer = subprocess.run(
        ["/usr/bin/python3", "-c", "import installer"], capture_output=True, check=False
    ).returncode == 0
    if not (shutil.which("dpkg-buildpackage") and shutil.which("dh") and have_installer):
        return "needs dpkg-dev, debhelper and python3-installer (or root to install them)"
    return None


needs_deb_tools = pytest.mark.skipif(
    _build_tools_missing() is not None, reason=str(_build_tools_missing())
)


@pytest.fixture(scope="module")
def deb(tmp_path_factory: pytest.TempPathFactory) -> Path:
    arch = subprocess.run(
        ["dpkg", "--print-architecture"], capture_output=True, text=True, check=True
    ).stdout.strip()
    if arch != "amd64":
        pytest.skip(f"builds the host's package, checked here as amd64 (this host: {arch})")
    wheelhouse = subprocess.run(
        ["bash", "packaging/wheelhouse.sh", "bookworm-amd64"], cwd=ROOT,
        capture_output=True, text=True, timeout=900, check=False,
    )
    if wheelhouse.returncode != 0 and re.search(
        r"(?i)connection|resolve|network is unreachable|timed out", wheelhouse.stderr
    ):
        pytest.skip(f"PyPI is not reachable for the wheelhouse: {wheelhouse.stderr[-300:]}")
    assert wheelhouse.returncode == 0, wheelhouse.stderr[-3000:]
    env = {**os.environ, "HISTO_DEB_COMPRESSION": "gzip"}
    out = tmp_path_factory.mktemp("dist")
    done = subprocess.run(
        ["make", "deb", "ARCH=amd64", "SUITE=bookworm", f"DIST={out}"], cwd=ROOT, env=env,
        capture_output=True, text=True, timeout=1200, check=False,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    path = out / f"histo-appliance_{appliance.__version__}+deb12_amd64.deb"
    assert path.exists()
    return path


def _field(deb: Path, name: str) -> str:
    return subprocess.run(
        ["dpkg-deb", "--field", str(deb), name], capture_output=True, text=True, check=True
    ).stdout.strip()


@needs_deb_tools
def test_deb_control_says_what_it_needs(deb: Path) -> None:
    assert _field(deb, "Package") == "histo-appliance"
    assert _field(deb, "Version") == f"{appliance.__version__}+deb12"
    assert _field(deb, "Architecture") == "amd64"
    depends = {d.strip().split()[0] for d in _field(deb, "Depends").split(",")}
    for needed in (
        "python3.11", "libc6", "libxcb-icccm4", "libxcb-keysyms1", "libxcb-cursor0",
        "libxkbcommon0", "libegl1", "libgl1", "libfontconfig1", "libdbus-1-3",
        "libwayland-client0", "libwayland-cursor0", "libwayland-egl1", "libglib2.0-0",
        "cage", "udisks2", "polkitd", "fake-hwclock", "adduser",
    ):
        assert needed in depends, f"Depends lacks {needed}"


@needs_deb_tools
def test_deb_holds_the_venv_model_config_and_units(deb: Path, tmp_path: Path) -> None:
    listing = subprocess.run(
        ["dpkg-deb", "--contents", str(deb)], capture_output=True, text=True, check=True
    ).stdout.splitlines()
    entries = {line.split()[-1] if "->" not in line else line.split()[-3]: line for line in listing}
    paths = set(entries)
    venv = "./opt/venvs/histo-appliance"
    for expected in (
        "./etc/histo-appliance/config.toml",
        f"{venv}/pyvenv.cfg",
        f"{venv}/bin/histo-appliance",
        "./usr/share/histo-appliance/models/idc-mobilenetv2/model.tflite",
        "./usr/share/histo-appliance/models/idc-mobilenetv2/card.json",
        "./usr/share/histo-appliance/build-info.json",
        "./usr/share/doc/histo-appliance/copyright",
        "./usr/share/doc/histo-appliance/changelog.gz",
        "./usr/bin/histo-appliance",
    ):
        assert expected in paths, f"{expected} is not in the package"
    assert all(" root/root " in line for line in listing), "every file belongs to root"
    assert "-> /usr/bin/python3.11" in entries[f"{venv}/bin/python"]
    command = entries["./usr/bin/histo-appliance"]
    assert "-> /opt/venvs/histo-appliance/bin/histo-appliance" in command
    for absent in (".pyc", ".keras", "/appliance/trainer/", "/bin/histo-appliance-train"):
        assert not [p for p in paths if absent in p], f"{absent} files are in the package"
    for unit in (ROOT / "systemd").glob("*.service"):
        assert f"./usr/lib/systemd/system/{unit.name}" in paths
    for rule in (ROOT / "systemd" / "polkit").glob("*.rules"):
        assert f"./usr/share/polkit-1/rules.d/{rule.name}" in paths

    subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp_path)], check=True)
    info = json.loads((tmp_path / "usr/share/histo-appliance/build-info.json").read_text())
    assert info["version"] == appliance.__version__
    assert info["target"] == "bookworm-amd64"
    assert re.fullmatch(r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ", info["built_at"])
    config = tomllib.loads((tmp_path / "etc/histo-appliance/config.toml").read_text())
    assert config["models_dir"] == "/var/lib/histo-appliance/models"
    assert config["database"].startswith("/var/lib/histo-appliance/")
    assert config["kiosk"] is True and config["num_threads"] == 4
    shebang = (tmp_path / venv / "bin/histo-appliance").read_text().splitlines()[0]
    assert shebang == "#!/opt/venvs/histo-appliance/bin/python"


@needs_deb_tools
def test_deb_maintainer_scripts_and_conffile(deb: Path, tmp_path: Path) -> None:
    control = tmp_path / "DEBIAN"
    subprocess.run(["dpkg-deb", "--control", str(deb), str(control)], check=True)
    assert (control / "conffiles").read_text().split() == ["/etc/histo-appliance/config.toml"]
    postinst = (control / "postinst").read_text()
    assert "DATA=/var/lib/histo-appliance" in postinst
    assert 'adduser --system --group --home "$DATA"' in postinst
    assert "video render input" in postinst
    assert "compileall" in postinst
    # debhelper's snippets: "debian-installed" guards the enable of a unit installed disabled.
    assert "deb-systemd-helper enable 'histo-appliance-kiosk.service'" in postinst
    assert "debian-installed 'histo-appliance-kiosk.service'" not in postinst, "kiosk enabled"
    assert "debian-installed 'histo-appliance-watch.service'" in postinst, "watch disabled"
    assert "try-restart" in postinst  # an upgrade restarts a running kiosk, starts nothing new
    assert "deb-systemd-invoke stop" in (control / "prerm").read_text()
    postrm = (control / "postrm").read_text()
    before_purge, purge = postrm.split('if [ "$1" = "purge" ]', 1)
    assert "rm -rf /var/lib/histo-appliance" in purge
    assert "rm " not in before_purge, "data is removed on purge only"
    for script in ("postinst", "prerm", "postrm"):
        done = subprocess.run(["sh", "-n", str(control / script)], capture_output=True, check=False)
        assert done.returncode == 0, f"{script}: {done.stderr!r}"


@needs_deb_tools
@pytest.mark.skipif(not shutil.which("lintian"), reason="lintian is not installed")
def test_deb_is_lintian_clean(deb: Path) -> None:
    done = subprocess.run(
        ["lintian", "--fail-on", "error,warning", str(deb)],
        capture_output=True, text=True, timeout=600, check=False,
    )
    assert done.returncode == 0, done.stdout[-4000:]


@needs_deb_tools
def test_deb_depends_cover_the_libraries_its_modules_load(deb: Path, tmp_path: Path) -> None:
    """Each system library the runtime's modules and Qt's platform plugins need (ELF NEEDED,
    packaging/needed_libs.py) comes from a package in Depends — checked for the libraries this
    host has, through dpkg -S."""
    spec = importlib.util.spec_from_file_location(
        "needed_libs", ROOT / "packaging" / "needed_libs.py"
    )
    assert spec and spec.loader
    needed_libs = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(needed_libs)
    subprocess.run(["dpkg-deb", "-x", str(deb), str(tmp_path)], check=True)
    sonames = needed_libs.system_libraries(tmp_path / "opt/venvs/histo-appliance")
    assert "libxcb-cursor.so.0" in sonames and "libwayland-client.so.0" in sonames
    depends = {d.strip().split()[0] for d in _field(deb, "Depends").split(",")}
    checked = 0
    for soname in sonames:
        owner = subprocess.run(
            ["dpkg", "-S", f"*/{soname}"], capture_output=True, text=True, check=False
        )
        if owner.returncode != 0:
            continue  # not installed on this host: nothing to compare with
        packages = {line.split(":")[0] for line in owner.stdout.splitlines()}
        assert packages & depends, f"{soname} comes from {packages}, none of which is in Depends"
        checked += 1
    assert checked >= len(sonames) // 2, "too few of the libraries could be checked here"
