"""Three-way decisions per image and the case verdict rules."""

from __future__ import annotations

from appliance.decision import Decision, case_verdict, decide
from appliance.values import Thresholds

BAND = Thresholds(operating_point=0.4, benign_below=0.3, malignant_at=0.6)


def test_band_edges() -> None:
    assert decide(0.6, BAND) is Decision.MALIGNANT
    assert decide(0.5999, BAND) is Decision.INDETERMINATE
    assert decide(0.3, BAND) is Decision.INDETERMINATE
    assert decide(0.2999, BAND) is Decision.BENIGN


def test_no_band_when_cutoffs_meet() -> None:
    point = Thresholds(operating_point=0.5, benign_below=0.5, malignant_at=0.5)
    assert decide(0.49, point) is Decision.BENIGN
    assert decide(0.5, point) is Decision.MALIGNANT


def test_case_takes_most_serious_image_with_evidence() -> None:
    verdict = case_verdict(
        "p1",
        [
            ("a.png", Decision.BENIGN, 0.1),
            ("b.png", Decision.MALIGNANT, 0.7),
            ("c.png", Decision.MALIGNANT, 0.9),
            ("d.png", Decision.INDETERMINATE, 0.5),
        ],
    )
    assert verdict.decision is Decision.MALIGNANT
    assert verdict.evidence == ("c.png", "b.png")
    assert verdict.counts == {"malignant": 2, "indeterminate": 1, "unassessable": 0, "benign": 1}
    assert "c.png" in verdict.explanation()


def test_unreadable_image_keeps_case_from_passing_as_benign() -> None:
    verdict = case_verdict(
        "p2", [("a.png", Decision.BENIGN, 0.1), ("bad.png", Decision.UNASSESSABLE, None)]
    )
    assert verdict.decision is Decision.UNASSESSABLE
    assert verdict.evidence == ("bad.png",)


def test_all_benign() -> None:
    verdict = case_verdict("p3", [("a.png", Decision.BENIGN, 0.1), ("b.png", Decision.BENIGN, 0.2)])
    assert verdict.decision is Decision.BENIGN
    assert verdict.explanation() == "All 2 images benign."
