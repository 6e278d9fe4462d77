"""Three-way decisions per image and a verdict per case.

A probability inside the indeterminate band is not rounded to a side: it is referred to a
pathologist. A case is as serious as its most serious image, and says which images made it so.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from enum import StrEnum

from appliance.inference.card import Thresholds


class Decision(StrEnum):
    MALIGNANT = "malignant"
    INDETERMINATE = "indeterminate"
    BENIGN = "benign"
    # No decision could be made (unreadable image, no tissue): shown, never silently dropped.
    UNASSESSABLE = "unassessable"

    @property
    def wording(self) -> str:
        """The words shown to the technician beside the colour."""
        return {
            Decision.MALIGNANT: "Malignant",
            Decision.INDETERMINATE: "Indeterminate — refer to a pathologist",
            Decision.BENIGN: "Benign",
            Decision.UNASSESSABLE: "Unassessable",
        }[self]


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


@dataclass(frozen=True)
class CaseVerdict:
    """A case's verdict and the evidence behind it."""

    case: str
    decision: Decision
    counts: dict[str, int] = field(default_factory=dict)
    evidence: tuple[str, ...] = ()  # the images that carry the verdict, most probable first

    @property
    def n_images(self) -> int:
        return sum(self.counts.values())

    def explanation(self) -> str:
        parts = [f"{n} {name}" for name, n in self.counts.items() if n]
        basis = ", ".join(parts) if parts else "no images"
        if self.decision is Decision.BENIGN:
            return f"All {self.n_images} images benign."
        if not self.evidence:
            return "No images."
        shown = ", ".join(self.evidence[:3]) + (" …" if len(self.evidence) > 3 else "")
        return f"{self.decision.wording} because of {shown} ({basis})."


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
