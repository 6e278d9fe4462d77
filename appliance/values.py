"""The appliance's value types: what crosses from one stage to the next and into the store.

Why a leaf module: the store, the report, the GUI and the trainer read thresholds, tile maps and
decisions without loading the model stack (an interpreter, numpy-heavy preprocessing, the scope
gate). This module imports nothing of the appliance but its error type and card-field checks, so
``import appliance.store`` stays cheap and no stage restates another's types.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from enum import StrEnum
from typing import TYPE_CHECKING, Any

from appliance.errors import ModelRejected
from appliance.schema import check_number, number
from appliance.text import display, raw_bytes

if TYPE_CHECKING:
    import numpy as np


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


@dataclass(frozen=True)
class Thresholds:
    """Cut-offs on the malignant probability.

    ``p >= malignant_at`` is malignant, ``p < benign_below`` is benign, anything between is
    indeterminate ("refer to a pathologist"). ``operating_point`` is the single threshold the card's
    metrics were measured at; it lies inside the band. An admin may move the cut-offs only inside
    ``allowed_range``.
    """

    operating_point: float
    benign_below: float
    malignant_at: float
    allowed_range: tuple[float, float] = (0.01, 0.99)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Thresholds:
        """Read ``thresholds`` with every value checked by type and range.

        Cut-offs of exactly 0 or 1 are refused: ``benign_below = malignant_at = 0`` would call
        every image malignant, 1 every image benign. The allowed range is strictly inside (0, 1).
        """
        where = "thresholds"
        allowed = data.get("allowed_range", [0.01, 0.99])
        if not isinstance(allowed, list | tuple) or len(allowed) != 2:
            raise ModelRejected(
                f"{where}.allowed_range must be two numbers [low, high], found {allowed!r}"
            )
        low = check_number(allowed[0], 0.0, 1.0, f"{where}.allowed_range[0]")
        high = check_number(allowed[1], 0.0, 1.0, f"{where}.allowed_range[1]")
        thresholds = cls(
            operating_point=number(data, "operating_point", 0.0, 1.0, where),
            benign_below=number(data, "benign_below", 0.0, 1.0, where),
            malignant_at=number(data, "malignant_at", 0.0, 1.0, where),
            allowed_range=(low, high),
        )
        thresholds.validate()
        return thresholds

    @property
    def decimals(self) -> int:
        """Decimal places the card gives its cut-offs (at least 2, at most 6).

        Why: a cut-off shown rounded is a different cut-off (0.0588 shown as 0.06 reads as a
        change nobody made), so every face shows them with the card's own precision.
        """
        places = [_decimal_places(v) for v in (self.benign_below, self.malignant_at)]
        return min(6, max(2, *places))

    def show(self, value: float) -> str:
        """``value`` (a cut-off or a probability beside one) at this card's precision."""
        return f"{value:.{self.decimals}f}"

    def describe(self) -> str:
        """The band in words, the same on every screen, PDF and terminal."""
        return (
            f"benign below {self.show(self.benign_below)},"
            f" malignant from {self.show(self.malignant_at)}, indeterminate between"
        )

    def validate(self) -> None:
        low, high = self.allowed_range
        if not 0.0 < low < high < 1.0:
            raise ModelRejected(
                f"thresholds.allowed_range must satisfy 0 < low < high < 1; got [{low}, {high}]."
                " A cut-off of 0 or 1 would give every image the same answer"
            )
        if not 0.0 <= low <= self.benign_below <= self.malignant_at <= high <= 1.0:
            raise ModelRejected(
                "thresholds must satisfy 0 <= allowed low <= benign_below <= malignant_at"
                f" <= allowed high <= 1; got {self}"
            )


_RECORDED_KEYS = ("operating_point", "benign_below", "malignant_at", "allowed_range")


@dataclass(frozen=True)
class ScanRules:
    """What a scan ran under, as recorded with it: its cut-offs and its scope gate's limits.

    Why a value and not the stored dict: a report is read long after the scan, on whatever the
    admin has set since, so the PDF and the GUI must read the cut-offs the scan *used*, and read
    them one way. ``thresholds`` is None when a row recorded no usable cut-offs (a damaged or very
    old row); whatever such a row did record is kept in ``partial``, so nothing is hidden.
    ``scope`` lists the scope gate's limits as ``(what, limit)`` lines; None: no gate ran.
    """

    thresholds: Thresholds | None
    scope: tuple[tuple[str, str], ...] | None = None
    partial: tuple[tuple[str, str], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        """The stored form (``scans.thresholds_json``); the keys older releases wrote, kept."""
        scope = None if self.scope is None else [list(line) for line in self.scope]
        data: dict[str, Any] = {"scope": scope}
        t = self.thresholds
        if t is not None:
            data.update(
                benign_below=t.benign_below,
                malignant_at=t.malignant_at,
                operating_point=t.operating_point,
                allowed_range=list(t.allowed_range),
            )
        return data

    @classmethod
    def from_dict(cls, data: object) -> ScanRules:
        """Read any stored form: today's, an older release's (no scope, no allowed range), or a
        damaged one (what cannot be read as cut-offs is kept as text in ``partial``)."""
        if not isinstance(data, dict):
            return cls(None)
        scope = data.get("scope")
        lines = (
            tuple((str(line[0]), str(line[1])) for line in scope if _is_pair(line))
            if isinstance(scope, list)
            else None
        )
        benign, malignant = data.get("benign_below"), data.get("malignant_at")
        point, allowed = data.get("operating_point"), data.get("allowed_range")
        thresholds, partial = None, []
        if _is_number(benign) and _is_number(malignant):
            # The operating point only says where the card's metrics were measured; a row
            # without one still decided with its two cut-offs (and says it lacks the point).
            if not _is_number(point):
                point = malignant
                partial.append(("operating_point", "not recorded"))
            thresholds = Thresholds(float(point), float(benign), float(malignant))
            if _is_pair(allowed) and all(map(_is_number, allowed)):
                low, high = float(allowed[0]), float(allowed[1])
                thresholds = replace(thresholds, allowed_range=(low, high))
        known = ("scope",) if thresholds is None else ("scope", *_RECORDED_KEYS)
        partial += [(str(key), str(value)) for key, value in data.items() if key not in known]
        return cls(thresholds, lines, tuple(partial))

    def describe(self) -> str:
        """The cut-offs in words (:meth:`Thresholds.describe`), or what was recorded instead."""
        if self.thresholds is not None:
            return self.thresholds.describe()
        if self.partial:
            return "partly recorded: " + "; ".join(f"{k} {v}" for k, v in self.partial)
        return "not recorded"

    def describe_scope(self) -> str:
        """The scope gate's limits the scan ran with: what an image had to be to get an answer."""
        if not self.scope:
            return "none recorded (only images too small were refused)"
        return "; ".join(f"{what}: {limit}" for what, limit in self.scope)


@dataclass(frozen=True)
class TileMap:
    """Where the tissue tiles of an image were and what each scored (for the DB and the GUI).

    ``origins`` and ``probabilities`` list the tissue tiles inside the model's scope, in the
    same order; background tiles are counted in ``skipped_background``; tissue tiles the scope
    gate left out are listed in ``out_of_scope`` without a probability, so no map shows a score
    the model had no business giving.
    """

    tile_size: int
    stride: int
    image_width: int
    image_height: int
    origins: tuple[tuple[int, int], ...]
    probabilities: tuple[float, ...]
    skipped_background: int
    out_of_scope: tuple[tuple[int, int], ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "tile_size": self.tile_size,
            "stride": self.stride,
            "image_width": self.image_width,
            "image_height": self.image_height,
            "origins": [list(origin) for origin in self.origins],
            "probabilities": list(self.probabilities),
            "skipped_background": self.skipped_background,
            "out_of_scope": [list(origin) for origin in self.out_of_scope],
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> TileMap:
        return cls(
            tile_size=int(data["tile_size"]),
            stride=int(data["stride"]),
            image_width=int(data["image_width"]),
            image_height=int(data["image_height"]),
            origins=tuple((int(x), int(y)) for x, y in data["origins"]),
            probabilities=tuple(float(p) for p in data["probabilities"]),
            skipped_background=int(data["skipped_background"]),
            out_of_scope=tuple((int(x), int(y)) for x, y in data.get("out_of_scope", ())),
        )

    def grid_axes(self) -> tuple[list[int], list[int]]:
        """The x of each grid column and the y of each grid row (the last may overlap)."""
        return (
            grid_starts(self.image_width, self.tile_size, self.stride),
            grid_starts(self.image_height, self.tile_size, self.stride),
        )

    def as_grid(self) -> np.ndarray:
        """Tile probabilities as a ``rows x cols`` float array, NaN where a tile was background."""
        import numpy as np  # only the readers that draw a map pay for numpy

        xs, ys = self.grid_axes()
        column = {x: i for i, x in enumerate(xs)}
        row = {y: i for i, y in enumerate(ys)}
        grid = np.full((len(ys), len(xs)), np.nan)
        for (x, y), p in zip(self.origins, self.probabilities, strict=True):
            grid[row[y], column[x]] = p
        return grid


@dataclass(frozen=True)
class ImageOutcome:
    """What happened to one image in a scan: the JSON contract of ``scan --format json``."""

    path: str
    case: str
    status: str  # "ok" or "error"
    decision: Decision
    p_malignant: float | None
    error: str | None
    image_id: int
    reused: bool = False

    @property
    def effective_decision(self) -> Decision:
        """The decision its case counts (named as on :class:`~appliance.store.ImageRecord`, so
        :func:`appliance.decision.group_cases` reads outcomes and stored rows alike)."""
        return self.decision

    def to_json(self) -> dict[str, object]:
        """Valid JSON for any name: text with U+FFFD where the stick's bytes were not UTF-8,
        and then the exact bytes in hex as well, so a program can still find the file."""
        shown = display(self.path)
        data: dict[str, object] = {
            "path": shown,
            "case": display(self.case),
            "status": self.status,
            "decision": self.decision.value,
            "p_malignant": None if self.p_malignant is None else round(self.p_malignant, 6),
            "error": None if self.error is None else display(self.error),
        }
        if shown != self.path:
            data["path_bytes_hex"] = raw_bytes(self.path).hex()
        return data


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


def grid_starts(length: int, tile: int, stride: int) -> list[int]:
    """The tile starts along one axis: every ``stride`` pixels, plus one flush with the far
    border when the grid does not end exactly there (so no strip is left out)."""
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile + 1, stride))
    if starts[-1] + tile < length:
        starts.append(length - tile)
    return starts



def show_probability(p: float, thresholds: Thresholds | None) -> str:
    """A probability as every face shows it: at the card's precision beside its cut-offs
    (:meth:`Thresholds.show`), three decimals when no cut-offs were recorded."""
    return thresholds.show(p) if thresholds is not None else f"{p:.3f}"

def _decimal_places(value: float) -> int:
    """Digits after the point in the shortest text that reads back as ``value`` (0.0588 → 4)."""
    text = repr(float(value))
    if "e" in text or "." not in text:
        return 6
    return len(text.split(".")[1].rstrip("0"))


def _is_number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _is_pair(value: object) -> bool:
    return isinstance(value, list | tuple) and len(value) == 2
