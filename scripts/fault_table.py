#!/usr/bin/env python3
"""Turn a fault-suite record (``FAULTS_RECORD=<file> pytest tests/test_faults*.py``) into the
Markdown table and totals of docs/reliability.md, so the document is written from a real run.

    FAULTS_RECORD=/tmp/faults.jsonl .venv/bin/python -m pytest -q tests/test_faults*.py
    .venv/bin/python scripts/fault_table.py /tmp/faults.jsonl
"""

from __future__ import annotations

import argparse
import json
import re
from collections import Counter
from pathlib import Path


def cell(text: str, limit: int = 160) -> str:
    """One Markdown table cell: one line, pipes escaped, shortened."""
    text = re.sub(r"/tmp/pytest-of-[^/]+/pytest-\d+/[^/]+/", "<tmp>/", str(text))
    text = " ".join(text.split()).replace("|", "\\|")
    return text if len(text) <= limit else text[: limit - 1] + "…"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("record", type=Path)
    args = parser.parse_args()
    rows = [json.loads(line) for line in args.record.read_text().splitlines() if line.strip()]
    latest = {row["name"]: row for row in rows}  # a re-run case counts once, as last seen
    print("| # | fault kind | area | what was done | expected | outcome | what the user sees |")
    print("|---|---|---|---|---|---|---|")
    for number, row in enumerate(latest.values(), 1):
        outcome = {"pass": "pass", "skipped": "skipped"}.get(row["outcome"], "**FAIL**")
        if row["outcome"] == "fail":
            outcome += f" ({cell(row['detail'], 80)})"
        seen = "; ".join(row["messages"]) or "—"
        print(
            f"| {number} | `{row['name']}` | {row['area']} | {cell(row['fault'])} |"
            f" {cell(row['expected'])} | {outcome} | {cell(seen)} |"
        )
    counts = Counter(row["outcome"] for row in latest.values())
    print()
    print(
        f"Fault kinds tried: {len(latest)}; passed {counts['pass']}, failed {counts['fail']},"
        f" skipped {counts['skipped']}."
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
