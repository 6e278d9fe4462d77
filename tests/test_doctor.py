"""``doctor``: the GUI check really loads Qt platform plugins, the clock and health lines.

The plugin tests build tiny shared libraries with the C compiler: one that loads, one that needs
a library that is not there (as Qt's xcb plugin needs libxcb-cursor.so.0), and a file that is no
library at all. The check must find out by loading them, in a child process, like Qt would.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

import pytest

from appliance import doctor, qtplugins
from appliance.buildinfo import ClockStatus, Reference
from appliance.config import Config
from appliance.health import Sources

FAKE_SONAME = "libhisto-absent-probe.so.3"


def compile_so(folder: Path, name: str, *, needs: str | None = None) -> Path:
    """A shared library; with ``needs``, one whose DT_NEEDED names a library that is then
    removed, exactly the state of a plugin whose dependency is not installed."""
    gcc = shutil.which("gcc") or shutil.which("cc")
    if gcc is None:
        pytest.skip("needs a C compiler (gcc) to build test libraries")
    source = folder / f"{name}.c"
    source.write_text("int histo_probe(void) { return 42; }\n")
    target = folder / name
    command = [gcc, "-shared", "-fPIC", "-o", str(target), str(source)]
    if needs:
        stub_dir = folder / "stub"
        stub_dir.mkdir(exist_ok=True)
        stub = stub_dir / needs
        stub_src = stub_dir / "stub.c"
        stub_src.write_text("int histo_stub(void) { return 1; }\n")
        subprocess.run(
            [gcc, "-shared", "-fPIC", f"-Wl,-soname,{needs}", "-o", str(stub), str(stub_src)],
            check=True,
        )
        command += ["-Wl,--no-as-needed", str(stub)]
    subprocess.run(command, check=True)
    if needs:
        shutil.rmtree(folder / "stub")
    return target


def test_a_loadable_plugin_is_ok(tmp_path: Path) -> None:
    good = compile_so(tmp_path, "libgood.so")
    found = qtplugins.check_files("xcb", [good])
    assert found.ok, found.words()
    assert found.words() == "libgood.so load"


def test_a_missing_library_is_named_with_its_package(tmp_path: Path, monkeypatch) -> None:
    broken = compile_so(tmp_path, "libqxcb.so", needs=FAKE_SONAME)
    found = qtplugins.check_files("xcb", [broken])
    assert not found.ok
    assert found.missing == [FAKE_SONAME]
    assert f"apt-file search {FAKE_SONAME}" in found.words()

    monkeypatch.setitem(qtplugins.DEBIAN_PACKAGES, FAKE_SONAME, "libhisto-probe3")
    words = qtplugins.check_files("xcb", [broken]).words()
    assert f"missing {FAKE_SONAME} (Debian package libhisto-probe3)" in words
    assert words.endswith("Install: sudo apt-get install libhisto-probe3")


def test_a_file_that_is_not_a_library_fails_in_words(tmp_path: Path) -> None:
    fake = tmp_path / "libqwayland.so"
    fake.write_bytes(b"this is not an ELF file")
    found = qtplugins.check_files("wayland", [fake])
    assert not found.ok and not found.missing
    assert "libqwayland.so cannot load" in found.words()


def test_plugin_files_are_found_by_platform(tmp_path: Path) -> None:
    plugins = tmp_path / "plugins"
    (plugins / "platforms").mkdir(parents=True)
    (plugins / "wayland-shell-integration").mkdir()
    for name in (
        "platforms/libqwayland-egl.so",
        "platforms/libqwayland-generic.so",
        "wayland-shell-integration/libxdg-shell.so",
        "platforms/libqxcb.so",
    ):
        (plugins / name).write_bytes(b"")
    assert [p.name for p in qtplugins.plugin_files("wayland", plugins)] == [
        "libqwayland-egl.so",
        "libqwayland-generic.so",
        "libxdg-shell.so",
    ]
    assert [p.name for p in qtplugins.plugin_files("xcb", plugins)] == ["libqxcb.so"]
    assert not qtplugins.check_platform("wayland", tmp_path / "empty").ok


def test_the_dlerror_text_is_parsed() -> None:
    text = "libxcb-cursor.so.0: cannot open shared object file: No such file or directory"
    assert qtplugins._MISSING.findall(text) == ["libxcb-cursor.so.0"]
    assert qtplugins.debian_package("libxcb-cursor.so.0") == "libxcb-cursor0"
    assert qtplugins.debian_package("libwayland-cursor.so.0") == "libwayland-cursor0"


def test_the_real_pyside6_plugins_are_checked() -> None:
    """Whatever this machine has installed, the line says ok or names what is missing."""
    if qtplugins.qt_plugins_dir() is None:
        pytest.skip("PySide6 is not installed (the gui extra)")
    for platform in ("wayland", "xcb"):
        found = qtplugins.check_platform(platform)
        assert found.files, f"no {platform} plugin in {qtplugins.qt_plugins_dir()}"
        assert found.ok or found.missing or found.errors


# -- doctor lines --------------------------------------------------------------------------------


def test_wrong_clock_is_a_failing_line_with_what_to_do(monkeypatch, tmp_path: Path) -> None:
    wrong = ClockStatus(
        datetime(2020, 1, 1, tzinfo=UTC),
        Reference(datetime(2026, 11, 30, tzinfo=UTC), "build time in /usr/share/…"),
        believable=False,
    )
    monkeypatch.setattr("appliance.buildinfo.judge_clock", lambda **_: wrong)
    line = doctor._check("clock", lambda: doctor._clock(Config(model=tmp_path)))
    assert not line.ok and line.required
    assert "EARLIER" in line.detail and "fake-hwclock save" in line.detail


def test_right_clock_is_ok(tmp_path: Path) -> None:
    line = doctor._check("clock", lambda: doctor._clock(Config(model=tmp_path)))
    assert line.ok, line.detail


def test_health_lines_from_a_fake_pi(tmp_path: Path) -> None:
    (tmp_path / "temp").write_text("51000\n")
    (tmp_path / "get_throttled").write_text("50005\n")
    (tmp_path / "meminfo").write_text("MemAvailable:    2000000 kB\n")
    sources = Sources(
        tmp_path / "temp", tmp_path / "get_throttled", tmp_path / "meminfo", None, tmp_path
    )
    config = Config(database=tmp_path / "db" / "a.db", reports=tmp_path / "reports")
    lines = {c.name: c for c in doctor._health(config, sources)}
    assert set(lines) == {
        "temperature",
        "throttling",
        "disk (database)",
        "disk (reports)",
        "memory",
    }
    assert lines["temperature"].ok and lines["temperature"].detail == "51.0 °C"
    assert not lines["throttling"].ok and not lines["throttling"].required
    assert "UNDER-VOLTAGE now: use the official" in lines["throttling"].detail


def test_without_a_child_process_the_plugins_are_loaded_here(tmp_path: Path) -> None:
    """Under qemu-user without binfmt_misc an arm64 program cannot start another one."""
    broken = compile_so(tmp_path, "libqxcb.so", needs=FAKE_SONAME)
    found = qtplugins.check_files("xcb", [broken], python=str(tmp_path / "no-such-python"))
    assert not found.ok and FAKE_SONAME in found.missing
    assert "checked in this process" in found.words()


def _stick_config(tmp_path: Path) -> Config:
    return Config(database=tmp_path / "a.db", reports=tmp_path / "r", models_dir=tmp_path / "m")


def test_sticks_need_udisks_and_the_polkit_rule(tmp_path: Path, monkeypatch) -> None:
    pytest.importorskip("pyudev")

    class NoSticks:
        def present(self) -> list:
            return []

    monkeypatch.setattr("appliance.ingest.udev.UdevSource", NoSticks)
    config = _stick_config(tmp_path)
    monkeypatch.setattr("appliance.ingest.udisks.default_mounter", lambda: None)
    with pytest.raises(doctor.ApplianceError, match="apt-get install udisks2"):
        doctor._usb(config)

    monkeypatch.setattr("appliance.ingest.udisks.default_mounter", lambda: object())
    missing = tmp_path / "50-histo-appliance.rules"
    with pytest.raises(doctor.ApplianceError, match=r"polkit rule .* is missing"):
        doctor._usb(config, polkit_rule=missing)
    missing.write_text("// rule")
    assert "udisks2 available" in doctor._usb(config, polkit_rule=missing)


def test_the_model_line_says_where_the_model_comes_from(tmp_path: Path) -> None:
    shipped = _stick_config(tmp_path)
    assert doctor._model_origin(shipped) == "the shipped model"
    pinned = shipped.with_overrides(model=tmp_path / "elsewhere")
    assert doctor._model_origin(pinned) == "pinned by the configuration"
    installed = Config(
        model=tmp_path / "m" / "current", model_pinned=False, models_dir=tmp_path / "m"
    )
    assert "model install" in doctor._model_origin(installed)


def test_an_unreadable_polkit_folder_counts_as_installed(tmp_path: Path, monkeypatch) -> None:
    """/usr/share/polkit-1/rules.d is polkitd's alone (0700): the service user gets EACCES."""

    class Unreadable(type(tmp_path)):
        def exists(self, *args, **kwargs) -> bool:
            raise PermissionError(13, "Permission denied", str(self))

    assert doctor._installed(Unreadable(tmp_path / "rules.d" / "50-histo-appliance.rules"))
    assert not doctor._installed(tmp_path / "absent.rules")


def _no_child_processes(*args, **kwargs):
    raise OSError(8, "Exec format error")


def _forget_tensorflow(monkeypatch) -> None:
    """Earlier tests in this process may have loaded TensorFlow (the trainer's tests)."""
    for name in ("tensorflow", "keras"):
        monkeypatch.delitem(sys.modules, name, raising=False)


def test_without_child_processes_tensorflow_is_checked_here(monkeypatch) -> None:
    monkeypatch.setattr(subprocess, "run", _no_child_processes)
    _forget_tensorflow(monkeypatch)
    assert "checked in this process" in doctor._no_tensorflow()
    monkeypatch.setitem(sys.modules, "keras", object())
    with pytest.raises(doctor.ApplianceError, match="already loaded TensorFlow"):
        doctor._no_tensorflow()


def test_a_child_that_could_not_exec_is_recognised(monkeypatch) -> None:
    """posix_spawn (Python 3.13) reports a failed exec as exit status 127 with no output."""
    failed = subprocess.CompletedProcess(
        args=[], returncode=qtplugins.EXEC_FAILED, stdout="", stderr=""
    )
    monkeypatch.setattr(subprocess, "run", lambda *a, **k: failed)
    _forget_tensorflow(monkeypatch)
    assert "checked in this process" in doctor._no_tensorflow()
    with pytest.raises(OSError):
        qtplugins._dlopen_in_child([Path("/nonexistent.so")], "python")
