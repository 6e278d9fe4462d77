"""Assemble the appliance's private virtualenv for a Debian package, without running its Python.

Why not ``python -m venv`` + ``pip install``: the arm64 package is built on x86, where the
target's interpreter cannot run (no binfmt_misc here), and the Pi has no network. A virtualenv is
only files: ``pyvenv.cfg``, ``bin/python`` as a link to the system interpreter, and the wheels
unpacked into ``lib/pythonX.Y/site-packages``. The ``installer`` library (the reference wheel
installer, Debian's python3-installer) unpacks each wheel of the target's wheelhouse into that
layout and writes console scripts whose ``#!`` names the target's venv python. The same route is
used for amd64, so every package is built one way.

Nothing is byte-compiled here: .pyc files are made on the target by the package's postinst, with
the target's own interpreter.

    python3 packaging/build_venv.py --wheelhouse build/wheelhouse/bookworm-arm64 \\
        --python 3.11 --destdir debian/histo-appliance
"""

from __future__ import annotations

import argparse
import os
import shutil
import sys
from pathlib import Path

from installer import install
from installer.destinations import SchemeDictionaryDestination
from installer.sources import WheelFile

VENV = "/opt/venvs/histo-appliance"
# The wheel's data files land under <venv>/share/histo-appliance; the package keeps them in
# /usr/share/histo-appliance, where appliance.config looks for the shipped model.
SHARE = "share/histo-appliance"
SYSTEM_SHARE = "/usr/share/histo-appliance"
# Left out of the package (paths under the venv; {site} = site-packages): the trainer (a
# workstation tool that needs TensorFlow), Qt's developer tools, build-time headers and QML
# modules (the kiosk is a Qt Widgets app and runs none of them), and LiteRT's NPU vendor plugins
# and ahead-of-time compiler (the appliance runs the CPU interpreter): about 85 MB installed.
PRUNE = (
    "bin/histo-appliance-train",
    "{site}/appliance/trainer",
    "bin/pyside6-*",
    "{site}/PySide6/scripts",
    *(f"{{site}}/PySide6/{tool}" for tool in (
        "lupdate", "lrelease", "linguist", "assistant", "designer", "qmlls", "qmlformat",
        "qmllint", "svgtoqml", "balsam", "balsamui", "qsb",
    )),
    "{site}/PySide6/Qt/libexec",
    "{site}/PySide6/Qt/metatypes",
    "{site}/PySide6/Qt/qml",
    "{site}/PySide6/include",
    "{site}/PySide6/typesystems",
    "{site}/PySide6/glue",
    "{site}/ai_edge_litert/vendors",
    "{site}/ai_edge_litert/tools/apply_plugin_main",
)


def scheme(venv: str, python: str) -> dict[str, str]:
    """The install scheme of a POSIX venv (what sysconfig's 'venv' scheme gives on Debian)."""
    site = f"{venv}/lib/python{python}/site-packages"
    return {
        "purelib": site,
        "platlib": site,
        "headers": f"{venv}/include/site/python{python}",
        "scripts": f"{venv}/bin",
        "data": venv,
    }


def write_venv_skeleton(root: Path, venv: str, python: str) -> None:
    """pyvenv.cfg and the interpreter links; ``home`` is where the target's python lives."""
    base = root / venv.lstrip("/")
    (base / "bin").mkdir(parents=True, exist_ok=True)
    (base / "pyvenv.cfg").write_text(
        "home = /usr/bin\n"
        "include-system-site-packages = false\n"
        f"version = {python}\n"
        f"executable = /usr/bin/python{python}\n",
        encoding="utf-8",
    )
    for name, target in (
        ("python", f"/usr/bin/python{python}"),
        ("python3", "python"),
        (f"python{python}", "python"),
    ):
        link = base / "bin" / name
        if link.is_symlink() or link.exists():
            link.unlink()
        link.symlink_to(target)
    lib64 = base / "lib64"
    if not lib64.is_symlink():
        lib64.symlink_to("lib")


def install_wheels(wheels: list[Path], root: Path, venv: str, python: str) -> None:
    """Unpack every wheel into the venv under ``root``; scripts run ``<venv>/bin/python``."""
    destination = SchemeDictionaryDestination(
        scheme(venv, python),
        interpreter=f"{venv}/bin/python",
        script_kind="posix",
        destdir=str(root),
    )
    metadata = {"INSTALLER": b"histo-appliance-deb\n"}
    for wheel in wheels:
        with WheelFile.open(wheel) as source:
            install(source, destination, additional_metadata=metadata)


def move_shared_data(root: Path, venv: str) -> None:
    """Move <venv>/share/histo-appliance (the shipped model) to /usr/share/histo-appliance."""
    inside = root / venv.lstrip("/") / SHARE
    if not inside.is_dir():
        raise SystemExit(f"build_venv: no {inside}: the project's wheel carries no model")
    outside = root / SYSTEM_SHARE.lstrip("/")
    outside.mkdir(parents=True, exist_ok=True)
    for item in inside.iterdir():
        shutil.move(str(item), outside / item.name)
    inside.rmdir()
    share = inside.parent
    if not any(share.iterdir()):
        share.rmdir()


def prune(venv_dir: Path, python: str) -> int:
    """Delete PRUNE's paths, then drop them from every RECORD so the metadata stays true.
    Returns the number of files removed."""
    site = f"lib/python{python}/site-packages"
    removed = 0
    for pattern in PRUNE:
        for path in venv_dir.glob(pattern.format(site=site)):
            if path.is_dir() and not path.is_symlink():
                removed += sum(1 for p in path.rglob("*") if not p.is_dir())
                shutil.rmtree(path)
            else:
                removed += 1
                path.unlink()
    site_dir = venv_dir / site
    for record in site_dir.glob("*.dist-info/RECORD"):
        lines = record.read_text(encoding="utf-8").splitlines()
        kept = [
            line for line in lines
            if (site_dir / line.split(",", 1)[0]).resolve().exists()
            or line.split(",", 1)[0].endswith("/RECORD")
        ]
        if len(kept) != len(lines):
            record.write_text("\n".join(kept) + "\n", encoding="utf-8")
    return removed


def remove_bytecode(root: Path) -> None:
    """Drop any .pyc a wheel shipped: they are compiled on the target by the postinst."""
    for cache in sorted(root.rglob("__pycache__"), reverse=True):
        shutil.rmtree(cache)
    for pyc in root.rglob("*.py[co]"):
        pyc.unlink()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--wheelhouse", type=Path, required=True)
    parser.add_argument("--python", required=True, help="the target's Python, e.g. 3.11")
    parser.add_argument("--destdir", type=Path, required=True, help="the package's root")
    parser.add_argument("--venv", default=VENV)
    parser.add_argument(
        "--no-prune", action="store_true", help="keep the trainer and Qt's developer tools"
    )
    args = parser.parse_args(argv)

    wheels = sorted(args.wheelhouse.glob("*.whl"))
    if not any(w.name.startswith("histo_appliance-") for w in wheels):
        print(f"build_venv: no histo_appliance wheel in {args.wheelhouse}", file=sys.stderr)
        return 2
    root = args.destdir.resolve()
    venv_dir = root / args.venv.lstrip("/")
    if venv_dir.exists():
        shutil.rmtree(venv_dir)
    write_venv_skeleton(root, args.venv, args.python)
    install_wheels(wheels, root, args.venv, args.python)
    move_shared_data(root, args.venv)
    remove_bytecode(venv_dir)
    removed = 0 if args.no_prune else prune(venv_dir, args.python)
    print(f"build_venv: {len(wheels)} wheels into {venv_dir} ({removed} files pruned)",
          file=sys.stderr)
    return 0


if __name__ == "__main__":
    os.umask(0o022)
    sys.exit(main())
