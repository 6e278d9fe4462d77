"""Issue 13's side-by-side table is read from cards alone, and says "–" for what a card lacks."""

from __future__ import annotations

import json
from pathlib import Path

from appliance.trainer.candidates_doc import card_metric, main, read_candidate


def _card(folder: Path, **metrics: object) -> Path:
    folder.mkdir(parents=True)
    card = {
        "name": "idc-mobilenetv2",
        "version": folder.name,
        "input": {"test_time_augmentation": "dihedral8"},
        "provenance": {"ensemble": {"members": 3}},
        "metrics": metrics,
    }
    (folder / "card.json").write_text(json.dumps(card))
    return folder


def test_a_full_card_gives_every_figure_and_an_old_one_says_what_it_lacks(
    tmp_path: Path, capsys
) -> None:
    old = _card(
        tmp_path / "1.3.0",
        test_int8={"balanced_accuracy": 0.856, "auc": 0.931},
        test_float={"balanced_accuracy": 0.852},
        test_int8_three_way={
            "indeterminate_fraction": 0.257,
            "decided": {"sensitivity": 0.968, "balanced_accuracy": 0.921},
        },
        float_vs_int8_test={"decision_agreement": 0.967},
    )
    new = _card(
        tmp_path / "2.0.0",
        test_int8={"balanced_accuracy": 0.87, "auc": 0.94},
        test_float={"balanced_accuracy": 0.875},
        test_int8_three_way={
            "indeterminate_fraction": 0.12,
            "decided": {"sensitivity": 0.955, "balanced_accuracy": 0.9},
        },
        test_int8_ece=0.031,
        passes_per_patch=4,
        float_vs_int8_three_way={"decision_agreement": 0.981},
        validation_int8_three_way={"indeterminate_fraction": 0.1},
    )
    first, second = read_candidate(old), read_candidate(new)
    assert first.passes_per_patch == 24  # 3 members x 8 views, from the card's input and provenance
    assert first.ece is None and first.validation_decided is None
    assert not first.identical_is_three_way and first.identical_decisions == 0.967
    assert abs(first.decided - 0.743) < 1e-9
    assert abs(first.int8_minus_float - 0.004) < 1e-9
    assert second.passes_per_patch == 4 and second.identical_is_three_way
    assert abs(second.validation_decided - 0.9) < 1e-9
    assert main([str(old), str(new)]) == 0
    table = capsys.readouterr().out.splitlines()
    assert table[2].startswith("| idc-mobilenetv2 1.3.0 (1.3.0) | 74.3 % | 0.968 | 0.921 |")
    assert "| – | 24 |" in table[2] and "96.7 % (two-way)" in table[2]
    assert (
        "| 88.0 % | 0.955 | 0.900 | 0.870 | 0.940 | 0.031 | 4 | -0.005 | 98.1 % | 90.0 % |"
        in (table[3])
    )


def test_card_metric_follows_dotted_paths_and_refuses_non_numbers() -> None:
    card = {"metrics": {"a": {"b": {"c": 2}}, "s": "text"}}
    assert card_metric(card, "a.b.c") == 2.0
    assert card_metric(card, "a.x.c") is None
    assert card_metric(card, "s") is None


def test_band_rules_are_replayed_on_the_validation_scores_only(tmp_path: Path, capsys) -> None:
    """The replay reads calibration_scores.npz (where the band is chosen), never test scores;
    the decided rule decides more than the safety rule and keeps its floors there."""
    import numpy as np

    from appliance.trainer.candidates_doc import band_rule_effect

    bundle = _card(tmp_path / "2.0.0-x")
    card = json.loads((bundle / "card.json").read_text())
    card["labels"] = ["non-IDC", "IDC"]
    card["provenance"]["config"] = {"decided_sensitivity": 0.95, "decided_balanced_accuracy": 0.88}
    (bundle / "card.json").write_text(json.dumps(card))
    rng = np.random.default_rng(5)
    labels = (rng.random(3000) < 0.27).astype(int)
    scores = 1 / (1 + np.exp(-(rng.normal(0, 1, 3000) + 2.5 * labels - 1.5)))
    np.savez(bundle / "calibration_scores.npz", labels=labels, scores=scores)
    safety, decided = band_rule_effect(bundle)
    assert (safety.rule, decided.rule) == ("safety", "decided")
    assert decided.decided > safety.decided
    assert decided.decided_sensitivity >= 0.95 and decided.decided_balanced_accuracy >= 0.88
    assert main(["--band-rules", str(bundle)]) == 0
    assert "| idc-mobilenetv2 2.0.0-x | decided |" in capsys.readouterr().out
