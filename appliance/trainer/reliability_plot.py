"""The reliability diagram of the card page: predicted malignant probability against the
observed malignant fraction, per equal-width bin (``metrics.reliability_bins``).

Separate from :mod:`appliance.trainer.plots` because it is drawn from the card alone (its stored
bins), so ``card_doc`` can draw it for any bundle without the test images.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # after use("Agg"): nothing ever opens a window

DPI = 110


def plot_reliability(curves: Mapping[str, Sequence[Mapping[str, float]]], path: str | Path) -> Path:
    """One line per curve (e.g. before / after calibration) over the diagonal of perfect
    calibration; each bin's dot is sized by its patch count."""
    fig, ax = plt.subplots(figsize=(4.2, 4.2))
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
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        fig.tight_layout()
        fig.savefig(path, dpi=DPI, format="png")
    finally:
        plt.close(fig)
    return path
