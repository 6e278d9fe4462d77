"""The soak (scripts/soak.py) works: three kill -9s, integrity ok, nothing lost, the scan resumes.

The real run (100 kills) is documented in docs/reliability.md; this only proves the one command
still runs, so CI catches a soak that no longer starts or no longer checks.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from tests.conftest import ROOT, TINY_BUNDLE


def test_soak_with_three_kills(tmp_path: Path) -> None:
    out = tmp_path / "soak.json"
    cmd = [
        sys.executable,
        str(ROOT / "scripts" / "soak.py"),
        "--kills",
        "3",
        "--seed",
        "7",
        "--images",
        "60",
        "--db",
        str(tmp_path / "soak.db"),
        "--model",
        str(TINY_BUNDLE),
        "--json",
        str(out),
    ]
    result = subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    summary = json.loads(out.read_text())
    assert summary["ok"] and summary["kills"] == 3
    assert summary["integrity_failures"] == 0 and summary["results_lost_or_changed"] == 0
    assert summary["final_scan_status"] == "complete" and summary["final_rows"] == 60
    assert "verdict" in result.stdout and "PASS" in result.stdout
