"""Three-way decisions per image and a verdict per case.

A probability inside the indeterminate band is not rounded to a side: it is referred to a
pathologist. A case is as serious as its most serious image, and says which images made it so.
"""

from __future__ import annotations

from collections.abc import Iterable

from appliance.values import CaseVerdict, Decision, Thresholds

# Most serious first: a case takes the first of these that any of its images has.
SEVERITY = (Decision.MALIGNANT, Decision.INDETERMINATE, Decision.UNASSESSABLE, Decision.BENIGN)


def decide(p_malignant: float, thresholds: Thresholds) -> Decision:
    """``malignant`` at or above ``malignant_at``, ``benign`` below ``benign_below``,
    ``indeterminate`` in between."""
    if p_malignant >= thresholds.malignant_at:
        return Decision.MALIGNANT
    if p_malignant < thresholds.benign_below:
        return Decision.BENIGN
    return Decision.INDETERMINATE


def case_verdict(case: str, results: Iterable[tuple[str, Decision, float | None]]) -> CaseVerdict:
    """Combine ``(image name, decision, p_malignant)`` of one case.

    The case takes the most serious decision among its images (:data:`SEVERITY`). A case whose
    other images are benign but one could not be assessed is *unassessable*, not benign: an image
    nobody could read must not let a case pass as clear.
    """
    rows = list(results)
    counts = {d.value: 0 for d in SEVERITY}
    for _, decision, _ in rows:
        counts[decision.value] += 1
    verdict = next((d for d in SEVERITY if counts[d.value]), Decision.UNASSESSABLE)
    evidence_rows = [r for r in rows if r[1] is verdict]
    evidence_rows.sort(key=lambda r: -(r[2] if r[2] is not None else -1.0))
    return CaseVerdict(case, verdict, counts, tuple(name for name, _, _ in evidence_rows))
