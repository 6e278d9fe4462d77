"""Three-way decisions per image and the case verdict rules."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from appliance.decision import SEVERITY, Decision, case_verdict, decide, group_cases, most_serious
from appliance.values import ScanRules, Thresholds, TileMap

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


# -- one rule, every caller ----------------------------------------------------------------------
# A probability exactly at a cut-off (and at the card's own precision, 0.0588) must get the same
# word from every face: the pipeline (decide), the trainer (decide_array), the GUI's tile map,
# the PDF's tile count and the history's ranking.

CARD = Thresholds(operating_point=0.3, benign_below=0.0588, malignant_at=0.5794)
EDGES = (0.0, 0.0587, 0.0588, 0.0589, 0.3, 0.5793, 0.5794, 0.5795, 1.0)


def test_decide_array_gives_decide_s_word_for_every_score() -> None:
    import numpy as np

    from appliance.decision import CODES, decide_array

    scores = np.array([*EDGES, float("nan")])
    codes = decide_array(scores, CARD)
    assert codes.dtype == np.int8 and codes.shape == scores.shape
    assert [CODES[c] for c in codes] == [decide(float(p), CARD) for p in scores]
    assert [CODES[c] for c in decide_array(np.array(EDGES, np.float32), CARD)] == [
        decide(float(np.float32(p)), CARD) for p in EDGES
    ]


def test_the_trainer_refers_exactly_what_the_appliance_refers() -> None:
    pytest.importorskip("keras", reason="the trainer extra is not installed")
    import numpy as np

    from appliance.trainer.evaluation import band_outcome

    scores = np.array(EDGES)
    labels = (scores > 0.5).astype(int)
    referred = sum(decide(p, CARD) is Decision.INDETERMINATE for p in EDGES)
    outcome = band_outcome(labels, scores, CARD)
    assert outcome["indeterminate_fraction"] == pytest.approx(referred / len(EDGES))


def _tile_map() -> TileMap:
    origins = tuple((10 * i, 0) for i in range(len(EDGES)))
    return TileMap(10, 10, 10 * len(EDGES), 10, origins, EDGES, 0)


def test_the_pdf_counts_malignant_tiles_by_the_same_rule() -> None:
    from appliance.report.words import describe_tiles

    words = describe_tiles(_tile_map(), CARD, unicode=True)
    malignant = sum(decide(p, CARD) is Decision.MALIGNANT for p in EDGES)
    assert words == f"tiles: {len(EDGES)} ({malignant} ≥ threshold 0.5794)"


def test_the_gui_tile_map_colours_each_tile_by_the_same_rule(qapp) -> None:
    pytest.importorskip("PySide6", reason="the gui extra is not installed")
    from PySide6.QtGui import QColor

    from appliance.gui import style
    from appliance.gui.image_view import tile_overlay

    image, factor = tile_overlay(_tile_map(), CARD)
    assert factor == 1.0
    for index, p in enumerate(EDGES):
        expected = QColor(style.DECISION_COLOURS[decide(p, CARD)])
        # the centre of the tile is plain colour or hatch; one of its pixels shows the colour
        seen = {image.pixelColor(10 * index + dx, 5).rgb() for dx in range(2, 9)}
        assert expected.rgb() in seen, (p, decide(p, CARD))


def test_the_history_ranks_a_scan_as_its_most_serious_case_would() -> None:
    for decisions in (
        [Decision.BENIGN, Decision.UNASSESSABLE],
        [Decision.INDETERMINATE, Decision.UNASSESSABLE, Decision.BENIGN],
        [Decision.MALIGNANT, Decision.INDETERMINATE],
        [Decision.BENIGN],
    ):
        verdict = case_verdict("c", [(str(i), d, None) for i, d in enumerate(decisions)])
        assert most_serious(verdict.counts) is verdict.decision
    assert most_serious({}) is None
    assert tuple(SEVERITY) == (
        Decision.MALIGNANT,
        Decision.INDETERMINATE,
        Decision.UNASSESSABLE,
        Decision.BENIGN,
    )


# -- cases: grouped once, in natural order ---------------------------------------------------


@dataclass(frozen=True)
class _Image:
    path: str
    case: str
    effective_decision: Decision
    p_malignant: float | None


def test_group_cases_sorts_naturally_and_names_the_lead_image() -> None:
    images = [
        _Image("patient-10262/img10.png", "patient-10262", Decision.MALIGNANT, 0.9),
        _Image("patient-9036/img10.png", "patient-9036", Decision.BENIGN, 0.01),
        _Image("patient-9036/img2.png", "patient-9036", Decision.INDETERMINATE, 0.4),
        _Image("patient-10262/img2.png", "patient-10262", Decision.MALIGNANT, 0.95),
        _Image("patient-10262/bad.png", "patient-10262", Decision.UNASSESSABLE, None),
    ]
    cases = group_cases(images, shown=lambda image: image.path.rsplit("/", 1)[-1])
    assert [c.name for c in cases] == ["patient-9036", "patient-10262"]
    assert [i.path for i in cases[0].images] == [
        "patient-9036/img2.png",
        "patient-9036/img10.png",
    ]
    assert [i.path for i in cases[1].images] == [
        "patient-10262/bad.png",
        "patient-10262/img2.png",
        "patient-10262/img10.png",
    ]
    assert cases[0].verdict.decision is Decision.INDETERMINATE
    assert cases[1].verdict.decision is Decision.MALIGNANT
    assert cases[1].verdict.evidence == ("img2.png", "img10.png")  # most probable first
    assert cases[1].lead.path == "patient-10262/img2.png"


def test_every_face_groups_cases_with_the_one_function(tmp_path) -> None:
    """The pipeline's summary, the stored rows (PDF, GUI) and decision.group_cases agree on
    order and verdicts."""
    from appliance.pipeline import ScanSummary
    from appliance.store import Store
    from appliance.values import ImageOutcome
    from tests.conftest import start_test_scan

    names = [("case10", "a.png", 0.9), ("case2", "b10.png", 0.1), ("case2", "b2.png", 0.45)]
    with Store.open(tmp_path / "db.sqlite") as store:
        scan_id = start_test_scan(store, thresholds=ScanRules(CARD).to_dict())
        outcomes = []
        for case, name, p in names:
            decision = decide(p, CARD)
            image_id = store.record_image(
                scan_id, path=f"{case}/{name}", case=case, sha256=None, size_bytes=1,
                width=1, height=1, status="ok", decision=decision.value, p_malignant=p,
                error=None, tiles=None, thumbnail=None, elapsed_ms=1.0,
            )  # fmt: skip
            outcomes.append(ImageOutcome(f"{case}/{name}", case, "ok", decision, p, None, image_id))
        stored = store.images(scan_id)
        assert store.scan(scan_id).thresholds == CARD
    summary = ScanSummary(scan_id, "complete", None, outcomes)
    from_rows = [c.verdict for c in group_cases(stored)]
    assert [v.case for v in summary.cases] == [v.case for v in from_rows] == ["case2", "case10"]
    assert [v.decision for v in summary.cases] == [v.decision for v in from_rows]
    assert [i.path for i in stored] == ["case2/b2.png", "case2/b10.png", "case10/a.png"]
