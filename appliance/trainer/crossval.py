"""Patient-wise k-fold cross-validation: one full run (bundle, card, plots) per fold, then the
mean ± SD over folds.

Each fold is an ordinary run whose test patients are that fold's, so every fold's numbers come
from the same code as the shipped model's. A fold whose card exists is kept on ``resume``, which
makes a long study restartable fold by fold.
"""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Iterable
from pathlib import Path

from appliance.trainer import metrics
from appliance.trainer.train import TrainConfig, run

# What the study compares, from each fold's card: (section of card["metrics"], metric keys).
SUMMARISED = {
    "test_int8": ("balanced_accuracy", "sensitivity", "specificity", "auc", "f1", "mcc"),
    "test_float": ("balanced_accuracy", "sensitivity", "specificity", "auc", "f1", "mcc"),
    "test_int8_patient_level": ("balanced_accuracy", "sensitivity", "specificity", "auc"),
    "float_vs_int8_test": ("decision_agreement", "mean_abs_diff"),
}


def fold_dir(output: Path, fold: int) -> Path:
    return Path(output) / f"fold-{fold}"


def run_kfold(config: TrainConfig, folds: Iterable[int] | None = None, log=print) -> Path:
    """Run the chosen folds (all by default) and write ``cv-summary.json`` over every fold
    that has a card so far."""
    if not config.kfold or config.kfold < 2:
        raise ValueError("cross-validation needs --kfold 2 or more")
    chosen = sorted(set(folds or range(1, config.kfold + 1)))
    for fold in chosen:
        target = fold_dir(config.output, fold)
        if config.resume and (target / "card.json").exists():
            log(f"fold {fold}/{config.kfold}: done earlier, kept ({target})")
            continue
        log(f"fold {fold}/{config.kfold} → {target}")
        run(dataclasses.replace(config, fold=fold, output=target), log)
    return write_summary(config.output, config.kfold)


def write_summary(output: Path, k: int) -> Path:
    cards = {
        fold: json.loads((fold_dir(output, fold) / "card.json").read_text())
        for fold in range(1, k + 1)
        if (fold_dir(output, fold) / "card.json").exists()
    }
    summary = summarise(list(cards.values()))
    model_files = [fold_dir(output, f) / "model.tflite" for f in cards]
    summary["int8_bytes"] = model_files[0].stat().st_size if model_files else None
    summary["folds_done"] = sorted(cards)
    summary["folds_total"] = k
    path = Path(output) / "cv-summary.json"
    path.write_text(json.dumps(summary, indent=1) + "\n")
    return path


def summarise(cards: list[dict]) -> dict:
    """Mean ± SD (over folds) of the study's metrics, training time and model size."""
    rows = []
    for card in cards:
        row: dict[str, float] = {}
        for section, keys in SUMMARISED.items():
            values = card["metrics"].get(section, {})
            row.update({f"{section}.{k}": values[k] for k in keys if k in values})
        seconds = card["provenance"].get("train_seconds")
        if seconds is not None:
            row["train_seconds"] = float(seconds)
        rows.append(row)
    first = cards[0] if cards else {}
    return {
        "preset": first.get("provenance", {}).get("preset"),
        "pretrained": first.get("provenance", {}).get("pretrained"),
        "parameters": first.get("provenance", {}).get("parameters"),
        "input": first.get("input"),
        "split": first.get("metrics", {}).get("split"),
        "per_fold": rows,
        "mean_sd": metrics.fold_summary(rows) if rows else {},
    }
