"""Summarise issue 14's with/without-synthetic study as Markdown (``scripts/gan-study.sh``).

Reads every classifier run's ``card.json`` under RUNS_ROOT, groups them by condition (no
synthetic images, or ``--synthetic-ratio R`` from the card's ``training_data.synthetic``) and
prints the int8 test metrics as mean ± SD over the runs of each condition (their init seeds
listed, so a missing run shows), then the FID/KID curve when ``--curve`` names its TSV.
Nothing here needs TensorFlow.

    python -m appliance.trainer.gan.study RUNS/classifier --curve RUNS/fid-curve.tsv
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from appliance.trainer import metrics
from appliance.trainer.candidates_doc import card_metric

# (card["metrics"] section, key, column title): what the study compares, all int8 on test patients.
COLUMNS = (
    ("test_int8", "balanced_accuracy", "balanced accuracy"),
    ("test_int8", "sensitivity", "sensitivity"),
    ("test_int8", "specificity", "specificity"),
    ("test_int8", "auc", "AUC"),
    ("test_int8_three_way", "indeterminate_fraction", "referred"),
    ("test_int8_three_way", "decided.balanced_accuracy", "decided bal. acc."),
    ("test_int8_three_way", "decided.sensitivity", "decided sensitivity"),
)
NONE = "no synthetic"


@dataclass(frozen=True)
class StudyRun:
    """One classifier run of the study, as its card describes it."""

    folder: Path
    condition: str
    ratio: float | None  # None: no synthetic images
    init_seed: int | None
    added: dict[str, int]  # class -> synthetic images added to its training part
    values: dict[str, float]  # "section.key" -> value


def read_run(card_path: Path) -> StudyRun:
    """The condition, init seed and compared metrics of one run's card."""
    card = json.loads(Path(card_path).read_text())
    synthetic = card.get("training_data", {}).get("synthetic")
    ratio = None if synthetic is None else float(synthetic["ratio"])
    provenance = card.get("provenance", {})
    init_seed = provenance.get("init_seed", card.get("training_data", {}).get("seed"))
    values = {f"{s}.{k}": card_metric(card, f"{s}.{k}") for s, k, _ in COLUMNS}
    return StudyRun(
        folder=Path(card_path).parent,
        condition=NONE if ratio is None else f"synthetic ratio {ratio:g}",
        ratio=ratio,
        init_seed=init_seed,
        added=dict(synthetic.get("added", {})) if synthetic else {},
        values=values,
    )


def load_runs(root: Path) -> list[StudyRun]:
    """Every run (``card.json``) under ``root``; none at all is an error, not an empty table."""
    cards = sorted(Path(root).rglob("card.json"))
    if not cards:
        raise FileNotFoundError(f"no card.json under {root}")
    return [read_run(path) for path in cards]


def _cell(entry: dict | None) -> str:
    if not entry or entry.get("n", 0) == 0:
        return "–"
    if entry["n"] == 1:  # one run has no spread to show: "± 0.000" would claim one
        return f"{entry['mean']:.3f}"
    return f"{entry['mean']:.3f} ± {entry['sd']:.3f}"


def render_runs(runs: list[StudyRun]) -> str:
    """One row per condition (no synthetic first, then by ratio): mean ± SD (sample SD over
    runs) of every compared metric, with the number of runs and their init seeds."""
    groups: dict[str, list[StudyRun]] = {}
    for r in sorted(runs, key=lambda r: (r.ratio is not None, r.ratio or 0.0)):
        groups.setdefault(r.condition, []).append(r)
    head = (
        "| condition | synthetic added | runs (init seeds) | "
        + " | ".join(title for *_, title in COLUMNS)
        + " |\n|"
        + "---|" * (3 + len(COLUMNS))
    )
    rows = []
    for condition, members in groups.items():
        summary = metrics.fold_summary([r.values for r in members])
        added = sorted({", ".join(f"+{n} {c}" for c, n in r.added.items()) for r in members})
        seeds = ", ".join(str(r.init_seed) for r in members)
        cells = [_cell(summary.get(f"{section}.{key}")) for section, key, _ in COLUMNS]
        rows.append(
            f"| {condition} | {' / '.join(added) or '–'} | {len(members)} ({seeds}) | "
            + " | ".join(cells)
            + " |"
        )
    return (
        "### int8 on the test patients (mean ± SD over init seeds, one patient split)\n\n"
        + head
        + "\n"
        + "\n".join(rows)
        + "\n"
    )


def render(root: Path, curve: Path | None = None) -> str:
    """The study's Markdown: the with/without table, then the FID/KID curve if given."""
    text = render_runs(load_runs(root))
    if curve is not None:
        from appliance.trainer.gan.curve import markdown_table, read_tsv

        text += "\n### FID/KID over GAN training\n\n" + markdown_table(read_tsv(curve))
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, help="folder holding the study's classifier runs")
    parser.add_argument("--curve", type=Path, help="the TSV written by 'gan curve'")
    args = parser.parse_args(argv)
    print(render(args.runs, args.curve), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
