"""Evaluation figures for the trainer: ROC curves, a confusion matrix and learning curves.

The trainer runs on headless workstations and in tests, so the Agg backend is selected here before
pyplot is imported: nothing ever opens a window, and every figure is closed once written so long
runs do not pile up figures in pyplot's registry. Numbers come from :mod:`metrics`, so a figure
always agrees with the model card it sits beside.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib
import numpy as np

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # after use("Agg"): the backend must be chosen first
from matplotlib.ticker import MaxNLocator

from appliance.trainer import metrics

DPI = 110
SQUARE = (4.2, 4.2)

# ``[phase_][val_]metric`` as the trainer writes history (``head_val_loss``) or plain Keras does
# (``val_loss``). Only loss and accuracy are drawn; other series (learning rate, ...) are ignored.
_HISTORY_KEY = re.compile(r"^(?:(?P<phase>.+?)_)??(?P<val>val_)?(?P<metric>loss|accuracy|acc)$")
_PANELS = {"loss": "loss", "accuracy": "accuracy", "acc": "accuracy"}


def _save(fig: plt.Figure, path: str | Path) -> Path:
    """Write ``fig`` as PNG and close it whatever happens, so no figure outlives its call."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.tight_layout()
        fig.savefig(path, dpi=DPI, format="png")
    finally:
        plt.close(fig)
    return path


def plot_roc(curves: Mapping[str, tuple[np.ndarray, np.ndarray]], path: str | Path) -> Path:
    """One ROC curve per name (e.g. ``{"float": (y, p), "int8": (y, q)}``), AUC in the legend.

    Drawing float and int8 on one axis shows at a glance whether quantisation cost anything.
    A curve whose labels hold one class only has no ROC; it is listed in the legend as "n/a".
    """
    fig, ax = plt.subplots(figsize=SQUARE)
    try:
        ax.plot([0, 1], [0, 1], linestyle="--", color="0.6", linewidth=1, label="chance")
        for name, (labels, scores) in curves.items():
            fpr, tpr, _ = metrics.roc_curve(labels, scores)
            auc = metrics.roc_auc(labels, scores)
            if np.isnan(auc):
                ax.plot([], [], label=f"{name} (AUC n/a)")
                continue
            ax.plot(fpr, tpr, linewidth=1.5, label=f"{name} (AUC {auc:.3f})")
        ax.set(
            xlim=(0, 1),
            ylim=(0, 1.01),
            xlabel="False-positive rate (1 − specificity)",
            ylabel="True-positive rate (sensitivity)",
            title="ROC",
        )
        ax.set_aspect("equal")
        ax.legend(loc="lower right", fontsize="small")
    except BaseException:
        plt.close(fig)
        raise
    return _save(fig, path)


def plot_confusion(
    confusion: Mapping[str, int], labels: tuple[str, str], path: str | Path, title: str = ""
) -> Path:
    """A 2×2 confusion matrix with counts: rows are the true class, columns the predicted one.

    ``confusion`` has ``tp``/``fn``/``tn``/``fp`` as from :func:`metrics.confusion`; ``labels``
    names (negative, positive), and the negative class comes first on both axes.
    """
    if len(labels) != 2:
        raise ValueError(f"labels must name (negative, positive), got {labels!r}")
    matrix = np.array(
        [[confusion["tn"], confusion["fp"]], [confusion["fn"], confusion["tp"]]], dtype=int
    )
    fig, ax = plt.subplots(figsize=SQUARE)
    try:
        ax.imshow(matrix, cmap="Blues", vmin=0, vmax=max(int(matrix.max()), 1))
        row_totals = matrix.sum(axis=1)
        for row in range(2):
            for col in range(2):
                count = int(matrix[row, col])
                share = f"\n{count / row_totals[row]:.1%}" if row_totals[row] else ""
                dark = count > matrix.max() / 2
                ax.text(
                    col,
                    row,
                    f"{count}{share}",
                    ha="center",
                    va="center",
                    color="white" if dark else "black",
                )
        ax.set_xticks([0, 1], labels=list(labels))
        ax.set_yticks([0, 1], labels=list(labels))
        ax.set(xlabel="Predicted", ylabel="True", title=title)
    except BaseException:
        plt.close(fig)
        raise
    return _save(fig, path)


def _parse_history(history: Mapping[str, Sequence[float]]) -> dict[str, dict[str, dict]]:
    """``{phase: {panel: {"train"|"validation": values}}}``, phases in order of appearance."""
    phases: dict[str, dict[str, dict]] = {}
    for key, values in history.items():
        match = _HISTORY_KEY.match(key)
        if match is None or len(values) == 0:
            continue
        phase = match["phase"] or ""
        panel = _PANELS[match["metric"]]
        split = "validation" if match["val"] else "train"
        phases.setdefault(phase, {}).setdefault(panel, {})[split] = [float(v) for v in values]
    return phases


def plot_learning_curves(history: Mapping[str, Sequence[float]], path: str | Path) -> Path:
    """Loss and accuracy against the global epoch, training phases concatenated.

    ``history`` is what the trainer records: ``{phase}_{metric}`` keys such as ``head_loss`` or
    ``finetune_val_accuracy``, or plain Keras keys (``loss``, ``val_loss``). Phases follow one
    another in the order they appear, and a dotted vertical line marks where one hands over to the
    next, so a jump in loss at the start of fine-tuning is read as the phase change it is.
    """
    phases = _parse_history(history)
    panels = [p for p in ("loss", "accuracy") if any(p in series for series in phases.values())]
    if not panels:
        raise ValueError(f"no loss or accuracy series in history keys {sorted(history)}")
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 3.4), squeeze=False)
    try:
        styles = {"train": {"color": "C0"}, "validation": {"color": "C1", "linestyle": "--"}}
        offset, labelled, boundaries = 0, set(), []
        for phase, by_panel in phases.items():
            length = max(len(v) for series in by_panel.values() for v in series.values())
            if offset:
                boundaries.append(offset + 0.5)
            for ax, panel in zip(axes[0], panels, strict=True):
                for split, values in by_panel.get(panel, {}).items():
                    epochs = offset + np.arange(1, len(values) + 1)
                    label = split if (panel, split) not in labelled else None
                    labelled.add((panel, split))
                    ax.plot(epochs, values, marker=".", label=label, **styles[split])
                if phase and len(phases) > 1:
                    # Named at its start: the boundary line, or the left edge for the first.
                    ax.annotate(
                        phase,
                        xy=(offset + 0.5, 1.0) if offset else (0.0, 1.0),
                        xycoords=("data" if offset else "axes fraction", "axes fraction"),
                        xytext=(3, -10),
                        textcoords="offset points",
                        fontsize="small",
                        color="0.4",
                    )
            offset += length
        for ax, panel in zip(axes[0], panels, strict=True):
            for x in boundaries:
                ax.axvline(x, color="0.5", linestyle=":", linewidth=1)
            ax.set(xlabel="epoch", ylabel=panel, title=panel)
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
            ax.margins(y=0.15)  # headroom for the phase names
            ax.legend(fontsize="small")
    except BaseException:
        plt.close(fig)
        raise
    return _save(fig, path)


def write_evaluation_plots(
    directory: str | Path,
    labels: np.ndarray,
    float_scores: np.ndarray,
    int8_scores: np.ndarray,
    threshold: float,
    history: Mapping[str, Sequence[float]],
    label_names: tuple[str, str],
) -> list[Path]:
    """Write ``roc.png``, ``confusion_int8.png`` and ``learning_curves.png`` into ``directory``.

    ``labels`` are 1 for the positive (malignant) class and ``label_names`` is
    (negative, positive). The confusion matrix is the int8 model's, the one that ships, at
    ``scores >= threshold``. Learning curves are skipped when there is no history (e.g. a run
    resumed from a model saved without one).
    """
    directory = Path(directory)
    labels = np.asarray(labels)
    written = [
        plot_roc(
            {"float": (labels, float_scores), "int8": (labels, int8_scores)},
            directory / "roc.png",
        ),
        plot_confusion(
            metrics.confusion(labels, np.asarray(int8_scores) >= threshold),
            tuple(label_names),
            directory / "confusion_int8.png",
            title=f"int8, threshold {threshold:.3f}",
        ),
    ]
    if history:
        written.append(plot_learning_curves(history, directory / "learning_curves.png"))
    return written


def plot_reliability(curves: Mapping[str, Sequence[Mapping[str, float]]], path: str | Path) -> Path:
    """The card page's reliability diagram, drawn from the card's stored bins alone
    (``metrics.reliability_bins``): one line per curve (e.g. before / after calibration) over
    the diagonal of perfect calibration; each bin's dot is sized by its patch count."""
    fig, ax = plt.subplots(figsize=SQUARE)
    try:
        diagonal = {"color": "0.6", "linestyle": "--", "linewidth": 1}
        ax.plot([0, 1], [0, 1], label="perfect calibration", **diagonal)
        for name, bins in curves.items():
            if not bins:
                continue
            x = [b["mean_predicted"] for b in bins]
            y = [b["observed"] for b in bins]
            total = sum(b["n"] for b in bins)
            sizes = [12 + 300 * b["n"] / total for b in bins]
            (line,) = ax.plot(x, y, marker="", linewidth=1.5, label=name)
            ax.scatter(x, y, s=sizes, color=line.get_color(), alpha=0.7)
        ax.set_xlim(0, 1)
        ax.set_ylim(0, 1)
        ax.set_xlabel("predicted malignant probability (bin mean)")
        ax.set_ylabel("observed malignant fraction")
        ax.set_title("Reliability, test patients (15 bins)")
        ax.legend(loc="upper left", fontsize=8)
    except BaseException:
        plt.close(fig)
        raise
    return _save(fig, path)


def plot_fid_curve(curves: Mapping[str, Sequence[tuple[int, float]]], path: str | Path) -> Path:
    """FID against the GAN's training step, one line per feature extractor (``gan curve``).

    One panel per extractor: their scales differ by orders of magnitude (an ImageNet backbone's
    1,280 features against a classifier's few hundred), so a shared axis would flatten all but
    one. The caveat of :mod:`appliance.trainer.fid` is the figure's title.
    """
    if not curves:
        raise ValueError("no FID curve to draw")
    fig, axes = plt.subplots(len(curves), 1, figsize=(6.4, 2.6 * len(curves)), squeeze=False)
    try:
        for ax, (name, points) in zip(axes[:, 0], curves.items(), strict=True):
            steps, values = zip(*sorted(points), strict=True)
            ax.plot(steps, values, marker=".", color="C0")
            ax.set(xlabel="generator step", ylabel="FID", title=name)
            ax.title.set_fontsize("small")
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        fig.suptitle("FID over GAN training (not comparable with InceptionV3 FID)", fontsize=9)
    except BaseException:
        plt.close(fig)
        raise
    return _save(fig, path)
