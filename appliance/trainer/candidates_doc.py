"""Issue 13's comparison table: the shipped model and every candidate, side by side, from cards.

    python -m appliance.trainer.candidates_doc models/idc-mobilenetv2 runs/study/*/

One row per bundle, every figure read from its ``card.json`` (nothing scored again, so printing
the table does not read the test patients another time): the three-way decision on test patients
(share decided, sensitivity and balanced accuracy of the decided), the operating point's balanced
accuracy, AUC, ECE, backbone passes per patch, int8 against float, and the validation share
decided (what a candidate is chosen on). A figure a card does not hold prints as "–", never as 0.
Compute per patch in milliseconds is a timing, so it is ``python -m bench.candidates``'s.
"""

from __future__ import annotations

import argparse
import json
from dataclasses import dataclass
from pathlib import Path

from appliance.preprocess import view_count

# issue 13's targets, printed under the table so a reader checks each row against them
TARGETS = (
    "targets: decided ≥ 90 %, sensitivity of the decided ≥ 0.95, balanced accuracy of the"
    " decided ≥ 0.88, ECE ≤ 0.05, ≤ 4 passes per patch, int8 within 1 point of float on"
    " balanced accuracy, ≥ 97 % identical decisions"
)


def card_metric(card: dict, path: str) -> float | None:
    """``card["metrics"]`` at a dotted ``path`` ("test_int8_three_way.decided.sensitivity"), or
    None where the card does not hold it."""
    value: object = card.get("metrics", {})
    for part in path.split("."):
        value = value.get(part) if isinstance(value, dict) else None
    return float(value) if isinstance(value, int | float) else None


@dataclass(frozen=True)
class Candidate:
    """The figures issue 13 asks for, of one bundle."""

    name: str
    decided: float | None
    decided_sensitivity: float | None
    decided_balanced_accuracy: float | None
    balanced_accuracy: float | None  # at the operating point
    auc: float | None
    ece: float | None
    passes_per_patch: int
    int8_minus_float: float | None  # balanced accuracy at the operating point, int8 - float
    identical_decisions: float | None  # three-way when recorded, else the two-way agreement
    identical_is_three_way: bool
    validation_decided: float | None


def passes(metrics: dict, provenance: dict, test_time_augmentation: str) -> int:
    """Backbone passes per patch: the card's own figure, else members x test-time views."""
    recorded = metrics.get("passes_per_patch")
    if isinstance(recorded, int | float):
        return int(recorded)
    members = int((provenance.get("ensemble") or {}).get("members", 1))
    return members * view_count(test_time_augmentation)


def _share(indeterminate: float | None) -> float | None:
    return None if indeterminate is None else 1.0 - indeterminate


def read_candidate(bundle: Path) -> Candidate:
    card = json.loads((Path(bundle) / "card.json").read_text())
    int8, float_ = (
        card_metric(card, f"{s}.balanced_accuracy") for s in ("test_int8", "test_float")
    )
    three_way = card_metric(card, "float_vs_int8_three_way.decision_agreement")
    return Candidate(
        name=f"{card['name']} {card['version']} ({Path(bundle).name})",
        decided=_share(card_metric(card, "test_int8_three_way.indeterminate_fraction")),
        decided_sensitivity=card_metric(card, "test_int8_three_way.decided.sensitivity"),
        decided_balanced_accuracy=card_metric(
            card, "test_int8_three_way.decided.balanced_accuracy"
        ),
        balanced_accuracy=int8,
        auc=card_metric(card, "test_int8.auc"),
        ece=card_metric(card, "test_int8_ece"),
        passes_per_patch=passes(
            card.get("metrics", {}),
            card.get("provenance", {}),
            card["input"].get("test_time_augmentation", "none"),
        ),
        int8_minus_float=None if int8 is None or float_ is None else int8 - float_,
        identical_decisions=three_way
        if three_way is not None
        else card_metric(card, "float_vs_int8_test.decision_agreement"),
        identical_is_three_way=three_way is not None,
        validation_decided=_share(
            card_metric(card, "validation_int8_three_way.indeterminate_fraction")
        ),
    )


def _f(value: float | None, digits: int = 3, percent: bool = False) -> str:
    if value is None:
        return "–"
    return f"{100 * value:.1f} %" if percent else f"{value:.{digits}f}"


def render(candidates: list[Candidate]) -> str:
    head = (
        "| model | decided | sens. (decided) | bal. acc. (decided) | bal. acc. (op. point) | AUC"
        " | ECE | passes / patch | int8 − float bal. acc. | identical decisions"
        " | validation decided |\n|" + "---|" * 11
    )
    rows = [
        f"| {c.name} | {_f(c.decided, percent=True)} | {_f(c.decided_sensitivity)}"
        f" | {_f(c.decided_balanced_accuracy)} | {_f(c.balanced_accuracy)} | {_f(c.auc)}"
        f" | {_f(c.ece)} | {c.passes_per_patch} | {_f(c.int8_minus_float)}"
        f" | {_f(c.identical_decisions, percent=True)}"
        f"{'' if c.identical_is_three_way else ' (two-way)'}"
        f" | {_f(c.validation_decided, percent=True)} |"
        for c in candidates
    ]
    return "\n".join([head, *rows, "", TARGETS, ""])


@dataclass(frozen=True)
class BandRuleEffect:
    """One bundle's band under each rule, on the patients its thresholds were chosen on."""

    name: str
    rule: str
    benign_below: float
    malignant_at: float
    decided: float
    decided_sensitivity: float
    decided_balanced_accuracy: float


def band_rule_effect(bundle: Path) -> list[BandRuleEffect]:
    """Where a candidate's decided share comes from: both band rules replayed on the scores its
    thresholds were chosen on (``calibration_scores.npz``, validation or out-of-fold patients,
    through the card's calibration), so the comparison never touches a test patient."""
    from types import SimpleNamespace

    import numpy as np

    from appliance.calibration import Calibration
    from appliance.trainer.evaluation import band_outcome, choose_thresholds

    card = json.loads((Path(bundle) / "card.json").read_text())
    fitted = np.load(Path(bundle) / "calibration_scores.npz")
    labels, scores = fitted["labels"], fitted["scores"]
    if card.get("calibration"):
        scores = Calibration.from_dict(card["calibration"], len(card["labels"])).apply_scores(
            scores
        )
    config = card.get("provenance", {}).get("config", {})
    effects = []
    for rule in ("safety", "decided"):
        settings = SimpleNamespace(
            target_sensitivity=config.get("target_sensitivity", 0.92),
            band_rule=rule,
            band_sensitivity=config.get("band_sensitivity", 0.97),
            band_specificity=config.get("band_specificity", 0.90),
            decided_sensitivity=config.get("decided_sensitivity", 0.95),
            decided_balanced_accuracy=config.get("decided_balanced_accuracy", 0.88),
        )
        t = choose_thresholds(labels, scores, settings)
        outcome = band_outcome(labels, scores, t)
        decided = outcome.get("decided", {})
        effects.append(
            BandRuleEffect(
                f"{card['name']} {card['version']}",
                rule,
                t.benign_below,
                t.malignant_at,
                1.0 - outcome["indeterminate_fraction"],
                decided.get("sensitivity", float("nan")),
                decided.get("balanced_accuracy", float("nan")),
            )
        )
    return effects


def render_band_effects(effects: list[BandRuleEffect]) -> str:
    head = (
        "| model | band rule | band | decided | sens. (decided) | bal. acc. (decided) |\n"
        "|---|---|---|---|---|---|"
    )
    rows = [
        f"| {e.name} | {e.rule} | {e.benign_below:.4f} – {e.malignant_at:.4f}"
        f" | {_f(e.decided, percent=True)} | {_f(e.decided_sensitivity)}"
        f" | {_f(e.decided_balanced_accuracy)} |"
        for e in effects
    ]
    return "\n".join(
        ["On the patients each band is chosen on (validation), never test:", "", head, *rows, ""]
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("bundles", nargs="+", type=Path, help="bundle folders (card.json)")
    parser.add_argument(
        "--band-rules",
        action="store_true",
        help="also replay both band rules on each bundle's calibration_scores.npz (validation)",
    )
    args = parser.parse_args(argv)
    print(render([read_candidate(b) for b in args.bundles]), end="")
    if args.band_rules:
        replayable = [b for b in args.bundles if (b / "calibration_scores.npz").exists()]
        effects = [e for b in replayable for e in band_rule_effect(b)]
        print("\n" + render_band_effects(effects), end="")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
