"""Which system libraries does the assembled venv need at run time? (How debian/control's
Depends were found, and a check that they still cover what the wheels need.)

Why by hand and not dh_shlibdeps: the arm64 package is built on x86, where the target's
libraries are not installed, and manylinux wheels carry most of their libraries inside. This
reads the ELF ``NEEDED`` entries (``readelf -d``, works for any architecture) of the modules the
appliance loads — Python extension modules of the runtime, Qt's xcb and wayland platform plugins
and what they load — follows them through the libraries the wheels bring, and prints the
sonames that must come from the system.

    python3 packaging/needed_libs.py /tmp/root/opt/venvs/histo-appliance
    python3 packaging/needed_libs.py --glibc build/wheelhouse/bookworm-arm64   # e.g. 2.31
"""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

# What the kiosk and the scan load. Qt plugins other than these (gtk3 theme, SQL drivers, eglfs,
# tiff/webp image formats, printing) are never loaded by the appliance and need not work.
ROOTS = (
    "numpy/**/*.so",
    "PIL/*.so",
    "ai_edge_litert/**/*.so",
    "ml_dtypes/*.so",
    "charset_normalizer/*.so",
    "PySide6/QtCore.abi3.so",
    "PySide6/QtGui.abi3.so",
    "PySide6/QtWidgets.abi3.so",
    "PySide6/Qt/plugins/platforms/libqxcb.so",
    "PySide6/Qt/plugins/platforms/libqwayland*.so",
    "PySide6/Qt/plugins/platforms/libqoffscreen.so",
    "PySide6/Qt/plugins/xcbglintegrations/*.so",
    "PySide6/Qt/plugins/wayland-shell-integration/*.so",
    "PySide6/Qt/plugins/wayland-decoration-client/*.so",
    "PySide6/Qt/plugins/wayland-graphics-integration-client/*.so",
    "PySide6/Qt/plugins/platforminputcontexts/libcomposeplatforminputcontextplugin.so",
    "PySide6/Qt/plugins/imageformats/libqjpeg.so",
    "PySide6/Qt/plugins/imageformats/libqgif.so",
    "PySide6/Qt/plugins/imageformats/libqico.so",
    "PySide6/Qt/plugins/imageformats/libqsvg.so",
    "PySide6/Qt/plugins/iconengines/*.so",
)
# Part of libc6 / libgcc / libstdc++, present on every Debian system.
BASE = re.compile(r"^(ld-linux.*|libc|libm|libdl|libpthread|librt|libresolv|libutil|libgcc_s|libstdc\+\+)\.so")
NEEDED = re.compile(r"\(NEEDED\)\s+Shared library: \[(.+)\]")


def needed(path: Path) -> list[str]:
    out = subprocess.run(
        ["readelf", "-d", str(path)], capture_output=True, text=True, check=False
    ).stdout
    return NEEDED.findall(out)


def system_libraries(venv: Path) -> dict[str, set[str]]:
    """soname -> the venv files that need it, over the closure of ROOTS."""
    site = next(venv.glob("lib/python3*/site-packages"))
    inside: dict[str, Path] = {}
    for lib in site.rglob("*.so*"):
        inside.setdefault(lib.name, lib)
    todo = [p for pattern in ROOTS for p in site.glob(pattern)]
    seen: set[Path] = set()
    outside: dict[str, set[str]] = {}
    while todo:
        current = todo.pop()
        if current in seen:
            continue
        seen.add(current)
        for soname in needed(current):
            if soname in inside:
                todo.append(inside[soname])
            elif not BASE.match(soname):
                outside.setdefault(soname, set()).add(str(current.relative_to(site)))
    return outside


def glibc_floor(wheelhouse: Path) -> str:
    """The newest glibc any wheel asks for: each wheel runs from its lowest manylinux tag on."""
    legacy = {"manylinux1": 5, "manylinux2010": 12, "manylinux2014": 17}
    floor = 17
    for wheel in wheelhouse.glob("*.whl"):
        minors = [
            int(m.group(1)) if m.group(1) else legacy[m.group(2)]
            for m in re.finditer(r"manylinux_2_(\d+)_|(manylinux1|manylinux2010|manylinux2014)_",
                                 wheel.name)
        ]
        if minors:
            floor = max(floor, min(minors))
    return f"2.{floor}"


def main() -> int:
    if sys.argv[1:2] == ["--glibc"]:
        print(glibc_floor(Path(sys.argv[2])))
        return 0
    venv = Path(sys.argv[1] if len(sys.argv) > 1 else "/opt/venvs/histo-appliance")
    for soname, users in sorted(system_libraries(venv).items()):
        print(f"{soname:28} {sorted(users)[0]}{' …' if len(users) > 1 else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
