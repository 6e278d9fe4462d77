"""Cheap checks of the proof scripts in packaging/prove/ (the proofs themselves need root,
mmdebstrap, qemu and minutes: they are run by hand, see packaging/prove/README.md).

Why: a syntax error or a broken comparison would only show when someone runs the long proof
before a release; these catch it in the normal test run.
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

PROVE = Path(__file__).resolve().parent.parent / "packaging" / "prove"
SCRIPTS = ["lib.sh", "emulated-pi.sh", "amd64-install.sh"]


@pytest.mark.parametrize("script", SCRIPTS)
def test_script_parses(script: str) -> None:
    result = subprocess.run(["bash", "-n", str(PROVE / script)], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr


@pytest.mark.skipif(shutil.which("shellcheck") is None, reason="shellcheck is not installed")
def test_shellcheck_has_no_warnings() -> None:
    result = subprocess.run(
        ["shellcheck", "-x", "-S", "warning", *SCRIPTS], cwd=PROVE, capture_output=True, text=True
    )
    assert result.returncode == 0, result.stdout


def test_cpuinfo_is_a_pi4() -> None:
    text = (PROVE / "pi4-cpuinfo").read_text()
    assert text.count("CPU part\t: 0xd08") == 4  # four Cortex-A72 cores
    assert "Features\t: fp asimd evtstrm crc32 cpuid" in text
    assert "Hardware\t: BCM2835" in text
    assert "Model\t\t: Raspberry Pi 4 Model B Rev 1.4" in text


def _compare_module():
    spec = importlib.util.spec_from_file_location("compare_scans", PROVE / "compare_scans.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules["compare_scans"] = module
    spec.loader.exec_module(module)
    return module


def _scan(p: float, decision: str = "malignant") -> dict:
    return {
        "model": {"sha256": "ab" * 32},
        "images": [
            {
                "path": "a/1.png",
                "status": "ok",
                "decision": decision,
                "p_malignant": p,
                "error": None,
            },
            {
                "path": "bad/x.png",
                "status": "error",
                "decision": "unassessable",
                "p_malignant": None,
                "error": "damaged",
            },
        ],
        "cases": [{"case": "a", "decision": decision}],
    }


def test_compare_accepts_equal_within_tolerance(tmp_path: Path) -> None:
    compare = _compare_module()
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(_scan(0.9)))
    b.write_text(json.dumps(_scan(0.9 + 5e-7)))
    assert compare.main([str(a), str(b)]) == 0


@pytest.mark.parametrize(("p", "decision"), [(0.9 + 2e-6, "malignant"), (0.9, "benign")])
def test_compare_rejects_a_difference(tmp_path: Path, p: float, decision: str) -> None:
    compare = _compare_module()
    a, b = tmp_path / "a.json", tmp_path / "b.json"
    a.write_text(json.dumps(_scan(0.9)))
    b.write_text(json.dumps(_scan(p, decision)))
    assert compare.main([str(a), str(b)]) == 1
