"""The benchmark's one command runs in quick mode and writes JSON of the agreed shape.

No timing is asserted here (timings belong to bench/, not to tests): only that every table the
quick run promises is there, that each measured ratio is a finite positive number, and that the
Pi estimate is derived from the shipped model's counted operations.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent


@pytest.fixture(scope="module")
def quick(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("bench") / "quick.json"
    done = subprocess.run(
        [sys.executable, "-m", "bench", "--quick", "--out", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )
    assert done.returncode == 0, done.stderr[-2000:]
    assert "## Inference" in done.stdout and "## End to end" in done.stdout
    return json.loads(out.read_text())


def finite_positive(value: float) -> bool:
    return isinstance(value, int | float) and math.isfinite(value) and value > 0


def test_quick_run_reports_every_part(quick: dict) -> None:
    assert quick["schema"] == 1 and quick["mode"] == "quick"
    assert quick["problems"] == []
    assert quick["machine"]["cpus"] >= 1 and len(quick["machine"]["load_before"]) == 3
    assert quick["inference"] and quick["ops"] and quick["storage"] and quick["pi_estimates"]
    assert {row["kind"] for row in quick["e2e"]} == {"stick", "region"}


def test_ratios_are_finite(quick: dict) -> None:
    for row in quick["inference"]:
        assert finite_positive(row["ratio"]) and row["ratio"] >= 1.0
        assert finite_positive(row["median_ms"]) and row["p95_ms"] >= row["median_ms"]
    assert min(row["ratio"] for row in quick["inference"]) == 1.0
    for row in quick["e2e"]:
        assert row["status"] == "complete"
        assert finite_positive(row["ratio_to_floor"]) and finite_positive(row["units_per_s"])
        assert row["units"] > 0 and finite_positive(row["peak_rss_mb"])


def test_storage_and_pdf_costs_are_measured(quick: dict) -> None:
    (row,) = quick["storage"]
    assert row["rows"] == 100
    for key in ("write_ms_per_row", "images_of_scan_ms", "pdf_ms_per_row", "pdf_mb"):
        assert finite_positive(row[key]), key


def test_pi_estimate_comes_from_counted_operations(quick: dict) -> None:
    shipped = next(op for op in quick["ops"] if op["model"].endswith("(shipped)"))
    assert shipped["macs"] > 1_000_000
    estimate = next(e for e in quick["pi_estimates"] if e["model"] == shipped["model"])
    low, high = estimate["by_ops_range_ms"]
    assert 0 < low <= estimate["by_ops_ms"] <= high
    assert [s["work"] for s in quick["pi_scans"]][:1] == ["1 patch"]


def test_candidates_table_counts_passes_and_ratios_against_the_first_model() -> None:
    from bench.candidates import CandidateCompute, render

    rows = [
        CandidateCompute("shipped", 8, 1_320_000_000, 24.0, 14.0, (75.0, 126.0)),
        CandidateCompute("student", 4, 220_000_000, 4.0, 3.5, (12.4, 20.9)),
    ]
    table = render(rows, threads=1).splitlines()
    assert "(1 thread)" in table[0]
    assert table[2] == "| shipped | 8 | 1320 | 24.0 | 14.00 | 1.00 | 75–126 |"
    assert table[3] == "| student | 4 | 220 | 4.0 | 3.50 | 0.25 | 12–21 |"
