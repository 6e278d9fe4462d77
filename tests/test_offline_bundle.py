"""Cheap checks of the offline install bundle scripts in packaging/offline/ (making a bundle
needs root, mmdebstrap and Debian's archive; proving it needs namespaces and minutes: both are
run by hand, see packaging/offline/README.md).

Why: install.sh runs once, on an offline Pi, where a syntax slip or a placeholder left unfilled
cannot be fixed by the admin; these catch it in the normal test run.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

OFFLINE = Path(__file__).resolve().parent.parent / "packaging" / "offline"
BASH_SCRIPTS = ["bundle.sh", "prove.sh"]


@pytest.mark.parametrize("script", BASH_SCRIPTS)
def test_bash_script_parses(script: str) -> None:
    result = subprocess.run(["bash", "-n", str(OFFLINE / script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


def test_install_sh_is_posix_sh() -> None:
    """The Pi runs it with /bin/sh (dash): no bash-only syntax."""
    shell = shutil.which("dash") or "sh"
    result = subprocess.run(
        [shell, "-n", str(OFFLINE / "install.sh")], capture_output=True, text=True
    )
    assert result.returncode == 0, result.stderr
    assert (OFFLINE / "install.sh").read_text().startswith("#!/bin/sh\n")


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_shellcheck_has_no_findings() -> None:
    result = subprocess.run(
        ["shellcheck", *BASH_SCRIPTS, "install.sh"], cwd=OFFLINE, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


def test_bundle_fills_every_placeholder_of_install_sh() -> None:
    placeholders = set(re.findall(r"@([A-Z]+)@", (OFFLINE / "install.sh").read_text()))
    filled = set(re.findall(r"s/@([A-Z]+)@/", (OFFLINE / "bundle.sh").read_text()))
    assert placeholders == {"SUITE", "ARCH", "VERSION"}
    assert placeholders <= filled


def test_install_sh_uses_only_the_bundle_as_source() -> None:
    """The offline promise: the folder is apt's only source; its lists stay as they were."""
    text = (OFFLINE / "install.sh").read_text()
    for option in ("Dir::Etc::SourceList=", "Dir::Etc::SourceParts=", "Dir::State::Lists="):
        assert option in text
    assert "deb [trusted=yes] file:" in text
    assert "dpkg -i" not in text  # apt decides what is missing; never a forced list of files


def test_install_sh_refuses_another_architecture(tmp_path: Path) -> None:
    """The real script, for an architecture no machine has: it stops with a message."""
    script = tmp_path / "install.sh"
    text = (OFFLINE / "install.sh").read_text()
    text = (
        text.replace("@SUITE@", "bookworm")
        .replace("@ARCH@", "nonesuch")
        .replace("@VERSION@", "0+deb12")
    )
    script.write_text(text)
    script.chmod(0o755)
    if shutil.which("dpkg") is None:
        pytest.skip("dpkg is not installed (not a Debian system)")
    result = subprocess.run([str(script)], capture_output=True, text=True, timeout=30)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    assert (
        "run it as root" in result.stderr or "this bundle is for nonesuch systems" in result.stderr
    )


def test_bundle_sh_rejects_an_unknown_target() -> None:
    result = subprocess.run(
        ["bash", str(OFFLINE / "bundle.sh"), "bullseye", "armhf"],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 2
    assert "no target bullseye-armhf" in result.stderr
