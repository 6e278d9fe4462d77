#!/usr/bin/env python3
"""Compare two ``histo-appliance scan --format json`` outputs image by image.

Why: the proof that the arm64 package classifies exactly like the x86 development setup is
that every image gets the same decision and a ``p_malignant`` within a tolerance (the int8
model's kernels differ between XNNPACK on x86 and on Arm). Prints a table, exits 1 on any
difference. Standard library only, so it runs with the host's python3.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path


def _load(path: Path) -> dict:
    return json.loads(path.read_text(encoding="utf-8"))


def compare(ref: dict, other: dict, tol: float, names: tuple[str, str]) -> list[str]:
    """Print the per-image table and return the list of differences found (empty = equal)."""
    problems: list[str] = []
    if ref["model"]["sha256"] != other["model"]["sha256"]:
        problems.append(
            f"model differs: {ref['model']['sha256'][:16]} vs {other['model']['sha256'][:16]}"
        )
    a = {img["path"]: img for img in ref["images"]}
    b = {img["path"]: img for img in other["images"]}
    for missing in sorted(set(a) ^ set(b)):
        problems.append(f"{missing}: only in {names[0] if missing in a else names[1]}")
    width = max((len(p) for p in a), default=10)
    print(
        f"{'image':<{width}}  {names[0] + ' decision':<22} {names[1] + ' decision':<22}"
        f" {'p ' + names[0]:>10} {'p ' + names[1]:>10} {'|diff|':>9}  ok"
    )
    worst = 0.0
    for path in sorted(set(a) & set(b)):
        x, y = a[path], b[path]
        px, py = x.get("p_malignant"), y.get("p_malignant")
        diff = abs(px - py) if px is not None and py is not None else None
        ok = x["decision"] == y["decision"] and x["status"] == y["status"]
        ok = ok and ((px is None and py is None) or (diff is not None and diff <= tol))
        ok = ok and x.get("error") == y.get("error")
        if diff is not None:
            worst = max(worst, diff)
        if not ok:
            problems.append(f"{path}: {x['decision']} p={px} vs {y['decision']} p={py}")
        print(
            f"{path:<{width}}  {x['decision']:<22} {y['decision']:<22}"
            f" {_fmt(px):>10} {_fmt(py):>10} {_fmt(diff, 2):>9}  {'yes' if ok else 'NO'}"
        )
    case_a = {c["case"]: c["decision"] for c in ref.get("cases", [])}
    case_b = {c["case"]: c["decision"] for c in other.get("cases", [])}
    if case_a != case_b:
        problems.append(f"case verdicts differ: {case_a} vs {case_b}")
    print(
        f"{len(set(a) & set(b))} images compared, largest |diff| "
        f"{worst:.2e} (tolerance {tol:g});"
        f" case verdicts {'equal' if case_a == case_b else 'DIFFER'}"
    )
    return problems


def _fmt(value: float | None, kind: int = 1) -> str:
    if value is None:
        return "-"
    return f"{value:.6f}" if kind == 1 else f"{value:.1e}"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("reference", type=Path, help="scan JSON of the reference run (x86)")
    parser.add_argument("other", type=Path, help="scan JSON to check (emulated arm64)")
    parser.add_argument("--tol", type=float, default=1e-6, help="largest |p_malignant| gap")
    parser.add_argument("--names", default="x86,arm64", help="two column names, comma-separated")
    args = parser.parse_args(argv)
    name_a, name_b = args.names.split(",", 1)
    problems = compare(_load(args.reference), _load(args.other), args.tol, (name_a, name_b))
    for problem in problems:
        print(f"DIFFERENCE: {problem}")
    print("comparison:", "EQUAL" if not problems else f"{len(problems)} DIFFERENCE(S)")
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
