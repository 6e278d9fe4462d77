"""Render the model study (``docs/model-study.md``'s tables) from cross-validation runs.

Reads ``<runs>/<preset>/cv-summary.json`` (written by ``histo-appliance-train --kfold``), times
each preset's fold-1 int8 model in the appliance's LiteRT backend (one image at a time, the way
the appliance classifies), and prints Markdown tables: mean ± SD over the folds that were run,
with the number of folds beside every figure so a partial run cannot pass for a full one.

    python -m appliance.trainer.study_doc runs/study > docs/model-study-tables.md
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

import numpy as np

from appliance.inference.backends import LiteRTBackend


def int8_latency_ms(model_path: Path, scaling: str, runs: int = 50, threads: int = 2) -> float:
    """Median milliseconds per single-image invoke (after warm-up) under LiteRT."""
    backend = LiteRTBackend(model_path, num_threads=threads)
    shape = (1, *backend.input_shape[1:])
    image = np.random.default_rng(0).uniform(0, 1, shape).astype(np.float32)
    for _ in range(5):
        backend.predict(image, scaling)
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        backend.predict(image, scaling)
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def _cell(mean_sd: dict, key: str, digits: int = 3) -> str:
    entry = mean_sd.get(key)
    if not entry or entry.get("n", 0) == 0:
        return "–"
    if entry["n"] == 1:
        return f"{entry['mean']:.{digits}f} (1 fold)"
    return f"{entry['mean']:.{digits}f} ± {entry['sd']:.{digits}f}"


def load_runs(root: Path) -> list[tuple[str, dict, Path]]:
    found = []
    for summary_path in sorted(Path(root).glob("*/cv-summary.json")):
        found.append((summary_path.parent.name, json.loads(summary_path.read_text()), summary_path))
    return found


def render(root: Path, latency: bool = True) -> str:
    rows_main, rows_float, rows_cost = [], [], []
    for name, summary, path in load_runs(root):
        ms = summary["mean_sd"]
        folds = f"{len(summary['folds_done'])}/{summary['folds_total']}"
        first_fold = path.parent / f"fold-{summary['folds_done'][0]}"
        size = summary["input"]  # the input contract, copied from the first fold's card
        size_text = f"{size['height']}x{size['width']}"
        pretrained = "ImageNet" if summary.get("pretrained") else "scratch"
        rows_main.append(
            f"| {name} | {pretrained} | {folds} | "
            + " | ".join(
                _cell(ms, f"test_int8.{k}")
                for k in ("balanced_accuracy", "sensitivity", "specificity", "auc")
            )
            + " |"
        )
        rows_float.append(
            f"| {name} | "
            + " | ".join(
                _cell(ms, f"test_float.{k}") for k in ("balanced_accuracy", "sensitivity", "auc")
            )
            + f" | {_cell(ms, 'float_vs_int8_test.decision_agreement')} |"
        )
        latency_text = (
            f"{int8_latency_ms(first_fold / 'model.tflite', size['scaling']):.2f}"
            if latency
            else "not measured"
        )
        train_minutes = ms.get("train_seconds", {}).get("mean")
        rows_cost.append(
            f"| {name} | {size_text} | {summary.get('parameters', 0) / 1e6:.2f} M | "
            f"{summary['int8_bytes'] / 1e6:.2f} MB | {latency_text} | "
            + (f"{train_minutes / 60:.1f}" if train_minutes is not None else "–")
            + " |"
        )
    head_main = (
        "| preset | weights | folds | balanced accuracy | sensitivity | specificity | AUC |"
        "\n|---|---|---|---|---|---|---|"
    )
    head_float = (
        "| preset | float bal. acc. | float sensitivity | float AUC | float/int8 same decision |"
        "\n|---|---|---|---|---|"
    )
    head_cost = (
        "| preset | input | parameters | int8 size | int8 latency (ms, LiteRT, 2 threads) |"
        " training minutes per fold |\n|---|---|---|---|---|---|"
    )
    return (
        "\n\n".join(
            [
                "### int8 on each fold's test patients (mean ± SD over folds)",
                head_main + "\n" + "\n".join(rows_main),
                "### Float model and quantisation",
                head_float + "\n" + "\n".join(rows_float),
                "### Cost on this machine",
                head_cost + "\n" + "\n".join(rows_cost),
            ]
        )
        + "\n"
    )


def render_fold_one(root: Path) -> str:
    """Every preset on fold 1, the one test set they all have: the fair side-by-side for
    presets too heavy for five folds, with 95 % intervals from the patient bootstrap."""
    rows = []
    for name, _, path in load_runs(root):
        card_path = path.parent / "fold-1" / "card.json"
        if not card_path.exists():
            continue
        card = json.loads(card_path.read_text())
        m, ci = card["metrics"]["test_int8"], card["metrics"]["test_int8_ci95_patient_bootstrap"]
        epochs = sum(
            len(v)
            for k, v in card["provenance"]["history"].items()
            if k.endswith("_loss") and not k.endswith("val_loss")
        )
        limit = card["provenance"]["config"].get("limit_per_patient")
        rows.append(
            f"| {name} | {epochs} | {f'≤ {limit} per patient' if limit else 'all'} | "
            + " | ".join(
                f"{m[k]:.3f} ({ci[k][0]:.3f}–{ci[k][1]:.3f})"
                for k in ("balanced_accuracy", "sensitivity", "specificity")
            )
            + f" | {m['auc']:.3f} |"
        )
    if not rows:
        return ""
    return (
        "### Fold 1: the same test patients for every preset (int8, 95 % patient-bootstrap CI)\n\n"
        "| preset | epochs | training images | balanced accuracy | sensitivity | specificity |"
        " AUC |\n|---|---|---|---|---|---|---|\n" + "\n".join(rows) + "\n"
    )


def render_leak(root: Path) -> str:
    """The image-wise run(s) under ``<runs>/image-wise/<preset>/`` beside the same preset's
    patient-wise folds: how much the seeds' split flatters a model."""
    keys = ("balanced_accuracy", "sensitivity", "specificity", "auc")
    rows = []
    for card_path in sorted(Path(root).glob("image-wise/*/card.json")):
        preset = card_path.parent.name
        leaky = json.loads(card_path.read_text())["metrics"]["test_int8"]
        rows.append(
            f"| {preset}, image-wise split (1 split) | "
            + " | ".join(f"{leaky[k]:.3f}" for k in keys)
            + " |"
        )
        summary_path = Path(root) / preset / "cv-summary.json"
        if summary_path.exists():
            ms = json.loads(summary_path.read_text())["mean_sd"]
            rows.append(
                f"| {preset}, patient-wise folds | "
                + " | ".join(_cell(ms, f"test_int8.{k}") for k in keys)
                + " |"
            )
    if not rows:
        return ""
    return (
        "### Image-wise against patient-wise (int8, same recipe)\n\n"
        "| run | balanced accuracy | sensitivity | specificity | AUC |\n|---|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n"
    )


def render_breakhis(root: Path) -> str:
    """One line per preset trained on the BreakHis sample tree: that it ran end to end, what it
    saw and what it exported. 19 images of 16 patients measure nothing, so no accuracy."""
    rows = []
    for card_path in sorted(Path(root).glob("breakhis/*/card.json")):
        card = json.loads(card_path.read_text())
        counts = card["training_data"]["counts"]
        size = (card_path.parent / card["file"]).stat().st_size
        per_mag = card["metrics"].get("test_int8_per_magnification", {})
        rows.append(
            f"| {card_path.parent.name} | "
            + " / ".join(str(counts[p]["images"]) for p in ("train", "validation", "test"))
            + f" | {', '.join(sorted(per_mag))} | {size / 1e6:.2f} MB | "
            f"{card['metrics']['float_vs_int8_test']['decision_agreement']:.2f} | "
            f"{card['provenance'].get('train_seconds', 0):.0f} |"
        )
    if not rows:
        return ""
    return (
        "### BreakHis sample tree (end to end only)\n\n"
        "| preset | images train / val / test | test magnifications | int8 size |"
        " float/int8 same decision | fit seconds |\n|---|---|---|---|---|---|\n"
        + "\n".join(rows)
        + "\n"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("runs", type=Path, help="folder holding <preset>/cv-summary.json")
    parser.add_argument("--no-latency", action="store_true", help="skip the LiteRT timing")
    args = parser.parse_args(argv)
    print(render(args.runs, latency=not args.no_latency), end="")
    for extra in (render_fold_one(args.runs), render_leak(args.runs), render_breakhis(args.runs)):
        if extra:
            print("\n" + extra, end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
