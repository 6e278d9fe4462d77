"""The study summariser (``python -m appliance.trainer.gan.study``) on fake cards and a fake
FID/KID curve: mean ± SD over init seeds per condition, no TensorFlow needed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from appliance.trainer.gan import study
from appliance.trainer.gan.curve import CurvePoint, markdown_table, write_tsv


def _card(folder: Path, init_seed: int, bal_acc: float, ratio: float | None = None) -> None:
    training = {"seed": 42}
    if ratio is not None:
        training["synthetic"] = {"ratio": ratio, "added": {"IDC": round(ratio * 1780)}}
    card = {
        "training_data": training,
        "provenance": {"init_seed": init_seed},
        "metrics": {
            "test_int8": {"balanced_accuracy": bal_acc, "sensitivity": 0.9, "auc": 0.93},
            "test_int8_three_way": {
                "indeterminate_fraction": 0.25,
                "decided": {"balanced_accuracy": 0.92, "sensitivity": 0.97},
            },
        },
    }
    folder.mkdir(parents=True)
    (folder / "card.json").write_text(json.dumps(card))


def test_conditions_are_summarised_as_mean_and_sd_over_init_seeds(tmp_path, capsys):
    for seed, value in zip((42, 43, 44), (0.80, 0.82, 0.84), strict=True):
        _card(tmp_path / "none" / f"init-{seed}", seed, value)
        _card(tmp_path / "ratio-1.0" / f"init-{seed}", seed, value + 0.01, ratio=1.0)
    _card(tmp_path / "ratio-0.5" / "init-42", 42, 0.83, ratio=0.5)
    points = [
        CurvePoint(500, "ImageNet MobileNetV2", 300.0, 0.2, 0.01, 500, 1780),
        CurvePoint(1000, "ImageNet MobileNetV2", 150.5, 0.1, 0.01, 500, 1780),
    ]
    curve = write_tsv(points, tmp_path / "fid-curve.tsv")

    assert study.main([str(tmp_path), "--curve", str(curve)]) == 0
    text = capsys.readouterr().out
    rows = [line for line in text.splitlines() if line.startswith("| no synthetic")]
    assert rows == [
        "| no synthetic | – | 3 (42, 43, 44) | 0.820 ± 0.020 | 0.900 ± 0.000 | – | 0.930 ± 0.000"
        " | 0.250 ± 0.000 | 0.920 ± 0.000 | 0.970 ± 0.000 |"
    ]
    assert "| synthetic ratio 1 | +1780 IDC | 3 (42, 43, 44) | 0.830 ± 0.020 |" in text
    # one run is one run: no "± 0.000" claiming a spread, and the count says so
    assert "| synthetic ratio 0.5 | +890 IDC | 1 (42) | 0.830 | 0.900 | – | 0.930 |" in text
    order = [text.index(c) for c in ("| no synthetic", "| synthetic ratio 0.5", "ratio 1 |")]
    assert order == sorted(order)
    assert "| 1000 | 150.5 | 0.1000 ± 0.0100 |" in text and "InceptionV3" in text


def test_curve_table_leaves_a_missing_extractor_empty():
    table = markdown_table(
        [CurvePoint(2, "a", 1.0, 0.1, 0.0, 4, 5), CurvePoint(4, "b", 2.0, 0.2, 0.0, 4, 5)]
    )
    assert "| 2 | 1.0 | 0.1000 ± 0.0000 | – | – |" in table


def test_an_empty_root_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError, match=r"no card\.json"):
        study.load_runs(tmp_path)
