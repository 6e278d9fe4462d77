"""Evaluation figures: valid PNG files, no window, no figure left open, phases read from history."""

from __future__ import annotations

import numpy as np
import pytest

pytest.importorskip("matplotlib")
Image = pytest.importorskip("PIL.Image")

import matplotlib  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402

from appliance.trainer import plots  # noqa: E402

TRAINER_HISTORY = {
    "head_loss": [0.7, 0.6, 0.55],
    "head_accuracy": [0.6, 0.7, 0.72],
    "head_val_loss": [0.65, 0.6, 0.58],
    "head_val_accuracy": [0.62, 0.69, 0.7],
    "finetune_loss": [0.5, 0.4],
    "finetune_accuracy": [0.78, 0.82],
    "finetune_val_loss": [0.52, 0.47],
    "finetune_val_accuracy": [0.76, 0.8],
}


@pytest.fixture
def scores():
    rng = np.random.default_rng(0)
    labels = rng.integers(0, 2, 200)
    float_scores = np.clip(0.4 * labels + rng.random(200) * 0.6, 0, 1)
    int8_scores = np.round(float_scores * 255) / 255  # quantised: ties
    return labels, float_scores, int8_scores


def assert_png(path):
    assert path.exists() and path.stat().st_size > 0
    with Image.open(path) as image:
        assert image.format == "PNG"
        assert image.size[0] > 0 and image.size[1] > 0
        image.verify()
    assert plt.get_fignums() == []  # the figure was closed


def test_backend_is_agg():
    assert matplotlib.get_backend().lower() == "agg"


def test_plot_roc_writes_png_and_closes(tmp_path, scores):
    labels, float_scores, int8_scores = scores
    path = plots.plot_roc(
        {"float": (labels, float_scores), "int8": (labels, int8_scores)}, tmp_path / "roc.png"
    )
    assert path == tmp_path / "roc.png"
    assert_png(path)


def test_plot_roc_tolerates_a_one_class_set(tmp_path):
    path = plots.plot_roc(
        {"only positives": (np.ones(5), np.linspace(0, 1, 5))}, tmp_path / "r.png"
    )
    assert_png(path)


def test_plot_confusion_writes_png_into_new_directory(tmp_path):
    path = plots.plot_confusion(
        {"tp": 40, "fn": 5, "tn": 50, "fp": 9},
        ("non-IDC", "IDC"),
        tmp_path / "sub" / "confusion.png",
        title="int8",
    )
    assert_png(path)


def test_plot_confusion_rejects_more_than_two_labels(tmp_path):
    with pytest.raises(ValueError):
        plots.plot_confusion({"tp": 1, "fn": 0, "tn": 1, "fp": 0}, ("a", "b", "c"), tmp_path / "c")
    assert plt.get_fignums() == []


def test_history_phases_are_read_from_prefixes_in_order():
    parsed = plots._parse_history(TRAINER_HISTORY | {"head_learning_rate": [1e-3] * 3})
    assert list(parsed) == ["head", "finetune"]
    assert parsed["head"]["loss"] == {"train": [0.7, 0.6, 0.55], "validation": [0.65, 0.6, 0.58]}
    assert parsed["finetune"]["accuracy"]["validation"] == [0.76, 0.8]
    assert "learning_rate" not in str(parsed)  # only loss and accuracy are drawn


def test_history_without_phase_prefix_is_one_unnamed_phase():
    parsed = plots._parse_history({"loss": [1.0, 0.8], "val_loss": [1.1, 0.9], "accuracy": [0.5]})
    assert list(parsed) == [""]
    assert parsed[""]["loss"] == {"train": [1.0, 0.8], "validation": [1.1, 0.9]}
    assert parsed[""]["accuracy"] == {"train": [0.5]}


@pytest.mark.parametrize(
    "history",
    [TRAINER_HISTORY, {"loss": [1.0, 0.8, 0.7], "val_loss": [1.1, 0.9, 0.85]}],
    ids=["phases", "plain-keras"],
)
def test_plot_learning_curves_writes_png(tmp_path, history):
    assert_png(plots.plot_learning_curves(history, tmp_path / "curves.png"))


def test_plot_learning_curves_without_loss_or_accuracy_is_an_error(tmp_path):
    with pytest.raises(ValueError, match="no loss or accuracy"):
        plots.plot_learning_curves({"head_learning_rate": [0.1]}, tmp_path / "x.png")
    assert plt.get_fignums() == []


def test_write_evaluation_plots_writes_all_three(tmp_path, scores):
    labels, float_scores, int8_scores = scores
    written = plots.write_evaluation_plots(
        tmp_path, labels, float_scores, int8_scores, 0.5, TRAINER_HISTORY, ("non-IDC", "IDC")
    )
    assert [p.name for p in written] == ["roc.png", "confusion_int8.png", "learning_curves.png"]
    for path in written:
        assert_png(path)


def test_write_evaluation_plots_skips_learning_curves_without_history(tmp_path, scores):
    labels, float_scores, int8_scores = scores
    written = plots.write_evaluation_plots(
        tmp_path, labels, float_scores, int8_scores, 0.5, {}, ("non-IDC", "IDC")
    )
    assert [p.name for p in written] == ["roc.png", "confusion_int8.png"]
    assert not (tmp_path / "learning_curves.png").exists()
    assert plt.get_fignums() == []
