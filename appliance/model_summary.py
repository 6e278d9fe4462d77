"""What a model card means for the person using the appliance, in plain words and typed values.

Why a module of its own: the technician's About page, the trainer's model-card page
(``docs/model-card.md``) and the PDF must say the same thing about a model: what it looks at, what
it must not be used for and how often each of its three answers was right on patients it never
saw. Each face renders these values; none re-derives them from the card's JSON.

Why derived here rather than stored on the card: the card keeps the trainer's raw measurements
(``metrics.test_int8`` at the operating point, ``metrics.test_int8_three_way`` for the images the
three-way rule decided). What a technician asks ("when it says benign, how often is that right?",
"how many does it refer, and are those mostly cancers?") follows from them by counting, so older
cards get the same page. A card without these measurements says "not measured", never crashes.

Qt-free and light: imports only the value types, so the CLI, the PDF and the trainer can use it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from appliance.values import Decision, Thresholds

if TYPE_CHECKING:
    from appliance.inference.card import ModelCard

NOT_MEASURED = "not measured"
# Plain words for label abbreviations a card may use (shown once, in brackets).
EXPANSIONS = {"IDC": "invasive ductal carcinoma"}


def percent(share: float) -> str:
    """A share as a technician reads it: one decimal, so 98.5 % is not shown as 99 %."""
    return f"{100 * share:.1f} %"


@dataclass(frozen=True)
class AnswerRecord:
    """How often one answer ("malignant" or "benign") was right on the test images."""

    answer: Decision
    given: int  # test images the model gave this answer
    right: int  # of those, the ones whose true label was this answer

    @property
    def share_right(self) -> float | None:
        return self.right / self.given if self.given else None

    def sentence(self) -> str:
        share = self.share_right
        word = self.answer.value
        if share is None:
            return f"never answered “{word}” on the test images"
        return (
            f"right {percent(share)} of the time: {self.right} of the {self.given} test images"
            f" it called {word} were {word}"
        )


@dataclass(frozen=True)
class ThreeWayFigures:
    """The three answers on unseen (test) patients, counted from the card's measurements.

    ``malignant_images`` is how many test images were truly malignant; they were called
    malignant (``malignant.right``), referred (``referred_malignant``) or called benign
    (``missed``). Measured with the card's own cut-offs (``measured_with``).
    """

    images: int
    patients: int | None
    malignant: AnswerRecord
    benign: AnswerRecord
    referred: int
    referred_malignant: int
    malignant_images: int
    measured_with: Thresholds

    @property
    def missed(self) -> int:
        """Malignant test images the model called benign."""
        return self.benign.given - self.benign.right

    @property
    def referred_share(self) -> float:
        return self.referred / self.images if self.images else 0.0

    def unseen(self) -> str:
        """Which images these are, in words."""
        who = f" of {self.patients} patients" if self.patients else ""
        return (
            f"{self.images} images{who} the model never saw in training (its test patients),"
            f" with the card's cut-offs ({self.measured_with.describe()})"
        )

    def referred_sentence(self) -> str:
        text = (
            f"{self.referred} of the {self.images} test images ({percent(self.referred_share)})"
            " were referred"
        )
        if not self.referred:
            return text
        share = self.referred_malignant / self.referred
        return (
            f"{text}; {self.referred_malignant} of them ({percent(share)}) were malignant,"
            f" against {percent(self.malignant_images / self.images)} of all test images"
        )

    def malignant_sentence(self) -> str:
        """Where the truly malignant test images went (the misses matter most)."""
        return (
            f"of the {self.malignant_images} malignant test images, {self.malignant.right} were"
            f" called malignant, {self.referred_malignant} referred and {self.missed} called"
            " benign"
        )

    def rows(self) -> list[tuple[str, str]]:
        """(answer, what it was worth) lines, the same on every face."""
        return [
            (f"Answered “{Decision.MALIGNANT.value}”", self.malignant.sentence()),
            (f"Answered “{Decision.BENIGN.value}”", self.benign.sentence()),
            (f"Referred (“{Decision.INDETERMINATE.value}”)", self.referred_sentence()),
            ("The malignant images", self.malignant_sentence()),
        ]


@dataclass(frozen=True)
class ModelSummary:
    """A model card for people: identity, purpose, limits, the three-way figures."""

    name: str
    version: str
    sha256: str
    purpose: str
    not_for: tuple[str, ...]
    thresholds: Thresholds
    three_way: ThreeWayFigures | None
    why_not_measured: str = ""  # set when ``three_way`` is None

    @property
    def short_sha(self) -> str:
        return self.sha256[:12]

    @property
    def identity(self) -> str:
        return f"{self.name} {self.version} (sha256 {self.short_sha})"

    def figure_rows(self) -> list[tuple[str, str]]:
        """The three-way rows, or one row saying they were not measured and why."""
        if self.three_way is None:
            return [("Test results", f"{NOT_MEASURED}: {self.why_not_measured}")]
        return self.three_way.rows()


def summarise(card: ModelCard) -> ModelSummary:
    """The summary of ``card``; missing or inconsistent measurements give ``three_way=None``."""
    try:
        figures, why = three_way_figures(card.metrics, card.training_data, card.thresholds), ""
    except ValueError as exc:
        figures, why = None, str(exc)
    return ModelSummary(
        name=card.name,
        version=card.version,
        sha256=card.sha256,
        purpose=purpose(card),
        not_for=not_for(card),
        thresholds=card.thresholds,
        three_way=figures,
        why_not_measured=why,
    )


def _label_words(label: str) -> str:
    expansion = EXPANSIONS.get(label)
    return f"{label} ({expansion})" if expansion else label


def purpose(card: ModelCard) -> str:
    """What the model looks at and what its answers mean, from the card's labels and data."""
    malignant = card.malignant_label
    other = next((label for label in card.labels if label != malignant), "the rest")
    dataset = card.training_data.get("dataset")
    seen = f" like those it was trained on ({dataset})" if dataset else ""
    if malignant.lower() == Decision.MALIGNANT.value:
        tells = "tells whether they look malignant or benign"
    else:
        tells = (
            f"tells whether they show {_label_words(malignant)}, answered"
            f" “{Decision.MALIGNANT.value}”, or {other}, answered “{Decision.BENIGN.value}”"
        )
    text = (
        f"Looks at images of stained tissue{seen} and {tells}. When it is unsure it answers"
        f" “{Decision.INDETERMINATE.wording}”."
    )
    contract = card.input
    if contract.mode == "tiled" and contract.tile_size:
        size = f"{contract.tile_size}×{contract.tile_size} px"
        text += (
            f" Images larger than {size} are cut into {size} patches; glass is skipped and the"
            " image is judged by its most suspicious tissue patches."
        )
    return text


def not_for(card: ModelCard) -> tuple[str, ...]:
    """What the model must not be used for: the card's intended use first, then the limits
    that follow from how it was trained."""
    malignant = card.malignant_label
    dataset = card.training_data.get("dataset")
    trained_on = f"{dataset}" if dataset else "the images its trainer chose"
    return (
        card.intended_use,
        "Not a diagnosis: every result, whatever the answer, needs a pathologist.",
        f"Only for images like its training data ({trained_on}). Other stains, scanners,"
        " magnifications or tissue types were never tested: its figures do not apply there,"
        " and the scope gate refuses the ones it recognises.",
        f"It tells {malignant} from the rest only: it does not find other kinds of disease,"
        " and it does not grade or stage.",
    )


def three_way_figures(
    metrics: Mapping[str, Any], training_data: Mapping[str, Any], thresholds: Thresholds
) -> ThreeWayFigures:
    """Count the three answers from ``metrics.test_int8_three_way`` and ``metrics.test_int8``.

    ``three_way.decided.confusion`` counts the images outside the refer band (true positive:
    truly malignant, called malignant); ``test_int8`` gives all test images and how many were
    truly malignant, so the referred images are the difference. :class:`ValueError` (worded for
    the page) when a measurement is missing or the counts do not add up.
    """
    three = _section(metrics, "test_int8_three_way", "no test results for the three answers")
    decided = _section(three, "decided", "no test results for the decided images")
    at = decided.get("threshold")
    if isinstance(at, int | float) and round(at, 6) != round(thresholds.malignant_at, 6):
        raise ValueError(
            f"the card's test results were measured with malignant from {at}, not with its"
            f" own cut-off {thresholds.show(thresholds.malignant_at)}"
        )
    counts = _confusion(decided, "the decided test images")
    everything = _section(metrics, "test_int8", "no test results for the shipped (int8) model")
    total = _confusion(everything, "the test images")
    images = sum(total.values())
    malignant_images = total["tp"] + total["fn"]
    decided_images = sum(counts.values())
    referred = images - decided_images
    referred_malignant = malignant_images - counts["tp"] - counts["fn"]
    if not 0 <= referred_malignant <= referred:
        raise ValueError(
            f"the model card's test counts do not add up ({decided_images} decided of {images}"
            f" images, {referred_malignant} malignant among {referred} referred)"
        )
    test = training_data.get("counts", {}).get("test", {})
    patients = test.get("patients") if isinstance(test, Mapping) else None
    return ThreeWayFigures(
        images=images,
        patients=patients if isinstance(patients, int) and patients > 0 else None,
        malignant=AnswerRecord(Decision.MALIGNANT, counts["tp"] + counts["fp"], counts["tp"]),
        benign=AnswerRecord(Decision.BENIGN, counts["tn"] + counts["fn"], counts["tn"]),
        referred=referred,
        referred_malignant=referred_malignant,
        malignant_images=malignant_images,
        measured_with=thresholds,
    )


def _section(data: Mapping[str, Any], key: str, missing: str) -> Mapping[str, Any]:
    value = data.get(key)
    if not isinstance(value, Mapping) or not value:
        raise ValueError(f"the model card records {missing}")
    return value


def _confusion(data: Mapping[str, Any], where: str) -> dict[str, int]:
    confusion = data.get("confusion")
    if not isinstance(confusion, Mapping):
        raise ValueError(f"the model card does not count right and wrong answers for {where}")
    counts = {}
    for key in ("tp", "fn", "tn", "fp"):
        value = confusion.get(key)
        if isinstance(value, bool) or not isinstance(value, int) or value < 0:
            raise ValueError(f"the model card's counts for {where} are damaged ({value!r})")
        counts[key] = value
    if not sum(counts.values()):
        raise ValueError(f"the model card counted no images for {where}")
    return counts
