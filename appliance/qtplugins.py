"""Can Qt's platform plugins load here? Checked without a display, in a separate process.

Why: importing PySide6 proves nothing about the GUI. Qt picks a *platform plugin* at start
(``wayland`` for the kiosk under cage, ``xcb`` on an X desktop); each is a shared library that
needs system libraries PySide6's wheel does not carry (``libxcb-cursor0``, ``libwayland-cursor0``,
…). When one is missing the app dies at start with a misleading "could not load the Qt platform
plugin" message. Loading the plugin file with ``dlopen`` (lazily, as Qt itself does) fails in
exactly the same way, needs no display, and ``dlerror`` names the missing library; ``ldd`` then
lists every missing one, and each is mapped to the Debian package that provides it.

The loading runs in a child interpreter so a broken library cannot take ``doctor`` down with it.
"""

from __future__ import annotations

import ctypes
import importlib.util
import json
import os
import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

# Which files each platform needs: the platform plugin, and for Wayland the xdg-shell
# integration cage's clients use. Globs, because Qt 6.8 names them libqwayland-egl/-generic.so
# and Qt 6.10+ libqwayland.so.
PLATFORM_FILES: dict[str, tuple[str, ...]] = {
    "wayland": ("platforms/libqwayland*.so", "wayland-shell-integration/libxdg-shell.so"),
    "xcb": ("platforms/libqxcb.so",),
}

# The sonames Qt's plugins and libraries load, and the Debian (Bookworm/Trixie) package of each.
DEBIAN_PACKAGES: dict[str, str] = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libxcb-glx.so.0": "libxcb-glx0",
    "libxcb.so.1": "libxcb1",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libX11.so.6": "libx11-6",
    "libSM.so.6": "libsm6",
    "libICE.so.6": "libice6",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-egl.so.1": "libwayland-egl1",
    "libGL.so.1": "libgl1",
    "libEGL.so.1": "libegl1",
    "libOpenGL.so.0": "libopengl0",
    "libGLX.so.0": "libglx0",
    "libdrm.so.2": "libdrm2",
    "libgbm.so.1": "libgbm1",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libudev.so.1": "libudev1",
}

# Runs in the child: the same function, so child and in-process fallback cannot differ.
_PROBE = (
    "import json, sys; from appliance.qtplugins import dlopen_errors;"
    " print(json.dumps(dlopen_errors(sys.argv[1:])))"
)


def dlopen_errors(paths: list[str]) -> dict[str, str | None]:
    """dlopen each file with RTLD_LAZY (what QLibrary does); dlerror's text, or None if it loads.

    The handles are never closed: this is meant to run in a throw-away child process.
    """
    libc = ctypes.CDLL(None)
    libc.dlopen.restype = ctypes.c_void_p
    libc.dlopen.argtypes = [ctypes.c_char_p, ctypes.c_int]
    libc.dlerror.restype = ctypes.c_char_p
    out: dict[str, str | None] = {}
    for path in paths:
        handle = libc.dlopen(os.fsencode(path), os.RTLD_LAZY | os.RTLD_LOCAL)
        error = None
        if not handle:
            error = (libc.dlerror() or b"unknown dlopen error").decode(errors="replace")
        out[str(path)] = error
    return out


_MISSING = re.compile(r"([\w.+-]+\.so(?:\.[\w.]+)?): cannot open shared object file")
_NOT_FOUND = re.compile(r"^\s*(\S+) => not found", re.MULTILINE)


def debian_package(soname: str) -> str | None:
    return DEBIAN_PACKAGES.get(soname)


def qt_plugins_dir() -> Path | None:
    """PySide6's bundled plugin folder, found without importing PySide6."""
    spec = importlib.util.find_spec("PySide6")
    if spec is None or spec.origin is None:
        return None
    folder = Path(spec.origin).parent / "Qt" / "plugins"
    return folder if folder.is_dir() else None


@dataclass(frozen=True)
class PluginCheck:
    """Whether one platform's plugin files load, and what is missing when they do not."""

    platform: str
    files: list[Path] = field(default_factory=list)
    errors: dict[str, str] = field(default_factory=dict)  # file name -> dlerror text
    missing: list[str] = field(default_factory=list)  # sonames not found
    note: str = ""

    @property
    def ok(self) -> bool:
        return bool(self.files) and not self.errors

    @property
    def packages(self) -> list[str]:
        names = [debian_package(s) for s in self.missing]
        return sorted({n for n in names if n})

    def words(self) -> str:
        if not self.files:
            return f"no {self.platform} platform plugin found{self.note}"
        names = ", ".join(f.name for f in self.files)
        if self.ok:
            return f"{names} load{self.note}"
        if self.missing:
            listed = ", ".join(
                f"{s} (Debian package {debian_package(s)})"
                if debian_package(s)
                else f"{s} (find its package: apt-file search {s})"
                for s in self.missing
            )
            text = f"{names} cannot load: missing {listed}"
            if self.packages:
                text += f". Install: sudo apt-get install {' '.join(self.packages)}"
            return text + self.note
        detail = "; ".join(f"{k}: {v}" for k, v in self.errors.items())
        return f"{names} cannot load: {detail}{self.note}"


def plugin_files(platform: str, plugins: Path) -> list[Path]:
    files: list[Path] = []
    for pattern in PLATFORM_FILES[platform]:
        files.extend(sorted(plugins.glob(pattern)))
    return files


# The exit status a shell or posix_spawn gives a child whose program could not be executed.
EXEC_FAILED = 127


def _dlopen_in_child(paths: list[Path], python: str) -> dict[str, str | None]:
    done = subprocess.run(
        [python, "-c", _PROBE, *map(str, paths)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    if done.returncode == EXEC_FAILED and not done.stdout and not done.stderr.strip():
        # glibc's posix_spawn reports a failed exec as the child's status 127 (Python 3.13 uses
        # it): the same situation as an OSError from exec, so the caller falls back alike.
        raise OSError(f"{python} could not be started (exit status {EXEC_FAILED})")
    if done.returncode != 0:
        tail = (done.stderr.strip() or f"exit status {done.returncode}")[-300:]
        raise RuntimeError(f"the loading test itself failed: {tail}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def missing_from_ldd(path: Path) -> list[str]:
    """Every library ``ldd`` cannot find for ``path`` (dlerror names only the first)."""
    ldd = shutil.which("ldd")
    if ldd is None:
        return []
    try:
        done = subprocess.run(
            [ldd, str(path)], capture_output=True, text=True, timeout=30, check=False
        )
    except (OSError, subprocess.SubprocessError):
        return []
    return _NOT_FOUND.findall(done.stdout)


def check_files(platform: str, files: list[Path], python: str | None = None) -> PluginCheck:
    """Load ``files`` in a child interpreter and explain any failure."""
    if not files:
        return PluginCheck(platform)
    note = ""
    try:
        results = _dlopen_in_child(files, python or sys.executable)
    except OSError:
        # e.g. under qemu-user without binfmt_misc a program cannot start another one: load
        # them here instead (a broken library could then hurt this process, hence second choice).
        results = dlopen_errors([str(f) for f in files])
        note = " (checked in this process: a child process could not be started)"
    except (RuntimeError, ValueError, subprocess.SubprocessError) as exc:
        return PluginCheck(platform, files, {"probe": str(exc)})
    errors = {Path(k).name: v for k, v in results.items() if v}
    missing: list[str] = []
    for path_text, error in results.items():
        if not error:
            continue
        found = _MISSING.findall(error) + missing_from_ldd(Path(path_text))
        for soname in found:
            if soname not in missing:
                missing.append(soname)
    return PluginCheck(platform, files, errors, missing, note)


def check_platform(platform: str, plugins: Path | None = None) -> PluginCheck:
    """Check one platform (``wayland`` or ``xcb``) of the installed PySide6."""
    plugins = plugins or qt_plugins_dir()
    if plugins is None:
        return PluginCheck(platform, note=" (PySide6 is not installed)")
    return check_files(platform, plugin_files(platform, plugins))
