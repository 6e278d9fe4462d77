"""Three-way decisions per image, the severity order, and a verdict per case.

A probability inside the indeterminate band is not rounded to a side: it is referred to a
pathologist. A case is as serious as its most serious image, and says which images made it so.

Every face asks here and restates nothing: the pipeline decides each image with :func:`decide`,
the trainer decides whole arrays with :func:`decide_array` (the same comparisons, vectorised),
the tile map colours tiles with :func:`decide`, the history list ranks scans with
:func:`most_serious`, and the CLI, the GUI and the PDF group images into cases with
:func:`group_cases`.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Generic, Protocol, TypeVar

from appliance.text import natural_key
from appliance.values import CaseVerdict, Decision, Thresholds

if TYPE_CHECKING:
    import numpy as np

# Most serious first: a case takes the first of these that any of its images has.
SEVERITY = (Decision.MALIGNANT, Decision.INDETERMINATE, Decision.UNASSESSABLE, Decision.BENIGN)

#: The decision each code of :func:`decide_array` stands for (``CODES[code]``).
CODES = (Decision.BENIGN, Decision.INDETERMINATE, Decision.MALIGNANT)
BENIGN_CODE, INDETERMINATE_CODE, MALIGNANT_CODE = 0, 1, 2


def decide(p_malignant: float, thresholds: Thresholds) -> Decision:
    """``malignant`` at or above ``malignant_at``, ``benign`` below ``benign_below``,
    ``indeterminate`` in between (a probability exactly at a cut-off takes the more serious side
    of ``malignant_at`` and the indeterminate side of ``benign_below``)."""
    if p_malignant >= thresholds.malignant_at:
        return Decision.MALIGNANT
    if p_malignant < thresholds.benign_below:
        return Decision.BENIGN
    return Decision.INDETERMINATE


def decide_array(p_malignant: np.ndarray, thresholds: Thresholds) -> np.ndarray:
    """:func:`decide` for every element of an array: codes into :data:`CODES` (int8).

    For the trainer, which decides thousands of scores at once; the comparisons are those of
    :func:`decide`, so a score gets the same word in training as on the appliance (NaN, like
    :func:`decide`, is indeterminate). numpy is imported here only, so the rest of the module
    stays free of it.
    """
    import numpy as np

    p = np.asarray(p_malignant, dtype=np.float64)
    codes = np.full(p.shape, INDETERMINATE_CODE, dtype=np.int8)
    codes[p < thresholds.benign_below] = BENIGN_CODE
    codes[p >= thresholds.malignant_at] = MALIGNANT_CODE
    return codes


def most_serious(counts: Mapping[str, int]) -> Decision | None:
    """The most serious decision with a non-zero count (keys: decision words), or None."""
    return next((d for d in SEVERITY if counts.get(d.value)), None)


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
    verdict = most_serious(counts) or Decision.UNASSESSABLE
    evidence_rows = [r for r in rows if r[1] is verdict]
    evidence_rows.sort(key=lambda r: -(r[2] if r[2] is not None else -1.0))
    return CaseVerdict(case, verdict, counts, tuple(name for name, _, _ in evidence_rows))


class Judged(Protocol):
    """An image with its result: a scan's :class:`~appliance.values.ImageOutcome` or a stored
    :class:`~appliance.store.ImageRecord` (both read as one by :func:`group_cases`)."""

    @property
    def path(self) -> str: ...

    @property
    def case(self) -> str: ...

    @property
    def effective_decision(self) -> Decision: ...

    @property
    def p_malignant(self) -> float | None: ...


J = TypeVar("J", bound=Judged)


@dataclass(frozen=True)
class Case(Generic[J]):
    """One case: its images in natural order, its verdict, and the image that leads it."""

    verdict: CaseVerdict
    images: tuple[J, ...]
    lead: J  # the most probable image carrying the verdict (the one to open first)

    @property
    def name(self) -> str:
        return self.verdict.case


def group_cases(images: Iterable[J], *, shown: Callable[[J], str] | None = None) -> list[Case[J]]:
    """Group images by case, then give each case its verdict: THE order and rule of every face.

    Cases and the images inside each come in natural order (:func:`appliance.text.natural_key`:
    patient-9036 before patient-10262), the order the stick was listed in. ``shown`` words an
    image for the verdict's evidence (default: its path); each face shortens names its own way.
    """
    word = shown or (lambda image: image.path)
    grouped: dict[str, list[J]] = {}
    for image in images:
        grouped.setdefault(image.case, []).append(image)
    cases: list[Case[J]] = []
    for name in sorted(grouped, key=natural_key):
        items = sorted(grouped[name], key=lambda image: natural_key(image.path))
        rows = [
            (str(index), image.effective_decision, image.p_malignant)
            for index, image in enumerate(items)
        ]
        ranked = case_verdict(name, rows)
        lead = items[int(ranked.evidence[0])] if ranked.evidence else items[0]
        evidence = tuple(word(items[int(index)]) for index in ranked.evidence)
        verdict = CaseVerdict(name, ranked.decision, ranked.counts, evidence)
        cases.append(Case(verdict, tuple(items), lead))
    return cases
