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
    python3 packaging/needed_libs.py --depends bookworm <venv>   # Debian packages, one line

``--depends`` is what debian/rules puts in the package's Depends: every soname must have a
package in PACKAGE_OF (a new one stops the build, so a lock update cannot drop a library).
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
BASE = re.compile(
    r"^(ld-linux.*|libc|libm|libdl|libpthread|librt|libresolv|libutil|libgcc_s|libstdc\+\+)\.so"
)
# soname -> Debian package (Bookworm's name; TRIXIE_RENAMES for the t64 transition). Names checked
# in both suites' arm64 package indexes.
PACKAGE_OF = {
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libICE.so.6": "libice6",
    "libSM.so.6": "libsm6",
    "libX11.so.6": "libx11-6",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libdbus-1.so.3": "libdbus-1-3",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libglib-2.0.so.0": "libglib2.0-0",
    "libgthread-2.0.so.0": "libglib2.0-0",
    "libgobject-2.0.so.0": "libglib2.0-0",
    "libgio-2.0.so.0": "libglib2.0-0",
    "libwayland-client.so.0": "libwayland-client0",
    "libwayland-cursor.so.0": "libwayland-cursor0",
    "libwayland-egl.so.1": "libwayland-egl1",
    "libxcb.so.1": "libxcb1",
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-glx.so.0": "libxcb-glx0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-util.so.1": "libxcb-util1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libz.so.1": "zlib1g",
    "libzstd.so.1": "libzstd1",
}
TRIXIE_RENAMES = {"libglib2.0-0": "libglib2.0-0t64"}
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


def debian_depends(venv: Path, suite: str) -> list[str]:
    """The Debian packages that provide the venv's system libraries, in the suite's names."""
    libraries = system_libraries(venv)
    unknown = sorted(set(libraries) - set(PACKAGE_OF))
    if unknown:
        raise SystemExit(
            f"needed_libs: no Debian package known for {', '.join(unknown)} "
            f"(needed by {sorted(libraries[unknown[0]])[0]}): add it to PACKAGE_OF"
        )
    renames = TRIXIE_RENAMES if suite == "trixie" else {}
    return sorted({renames.get(PACKAGE_OF[s], PACKAGE_OF[s]) for s in libraries})


def main() -> int:
    if sys.argv[1:2] == ["--glibc"]:
        print(glibc_floor(Path(sys.argv[2])))
        return 0
    if sys.argv[1:2] == ["--depends"]:
        print(", ".join(debian_depends(Path(sys.argv[3]), sys.argv[2])))
        return 0
    venv = Path(sys.argv[1] if len(sys.argv) > 1 else "/opt/venvs/histo-appliance")
    for soname, users in sorted(system_libraries(venv).items()):
        print(f"{soname:28} {sorted(users)[0]}{' …' if len(users) > 1 else ''}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
