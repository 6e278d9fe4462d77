"""Invariant 1: the runtime imports and scans with TensorFlow and Keras made unimportable."""

from __future__ import annotations

import json
import subprocess
import sys
import textwrap
from pathlib import Path

from tests.conftest import DEMO_STICK, ROOT, SHIPPED_MODEL

BLOCKER = textwrap.dedent(
    """
    import importlib.abc, sys

    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in ("tensorflow", "keras", "tf_keras"):
                raise ImportError(f"blocked for this test: {name}")
            return None

    sys.meta_path.insert(0, Block())
    """
)


def test_every_runtime_module_imports_without_tensorflow() -> None:
    code = BLOCKER + textwrap.dedent(
        """
        import importlib, pkgutil, appliance
        names = [m.name for m in pkgutil.walk_packages(appliance.__path__, "appliance.")
                 if not m.name.startswith(("appliance.trainer", "appliance.gui"))]
        for name in names:
            importlib.import_module(name)
        assert "tensorflow" not in sys.modules and "keras" not in sys.modules
        print(len(names))
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert int(result.stdout) >= 15


def test_a_whole_scan_runs_without_tensorflow(tmp_path: Path) -> None:
    code = BLOCKER + textwrap.dedent(
        f"""
        from appliance.cli import main
        code = main(["scan", {str(DEMO_STICK)!r}, "--model", {str(SHIPPED_MODEL)!r},
                     "--db", {str(tmp_path / "t.db")!r}, "--report", {str(tmp_path / "t.pdf")!r},
                     "--format", "json"])
        assert "tensorflow" not in sys.modules
        raise SystemExit(code)
        """
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout)["status"] == "complete"
    assert (tmp_path / "t.pdf").stat().st_size > 1000
