"""The ``scope`` section of a model card: the limits of the inputs a model may answer for.

The trainer measures them on the model's training patients and writes them here
(:mod:`appliance.trainer.scope_fit`); the appliance reads them back with :meth:`ScopeSpec.from_dict`
and refuses a section whose values have the wrong type or range, with words for the admin who
installed the model. The About page and the PDF show :meth:`ScopeSpec.describe`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

from appliance.errors import ModelRejected
from appliance.schema import integer, number


@dataclass(frozen=True)
class FeatureLimit:
    """The learned part of the gate: a file of the bundle and the highest score allowed."""

    file: str
    sha256: str
    components: int
    max_score: float
    quantile: float  # of the training patients' scores, where max_score was set

    @classmethod
    def from_dict(cls, data: Any) -> FeatureLimit:
        where = "scope.features"
        if not isinstance(data, dict):
            raise ModelRejected(f"{where} must be an object")
        file, sha = data.get("file"), data.get("sha256")
        if not isinstance(file, str) or not file or "/" in file or file.startswith("."):
            raise ModelRejected(
                f"{where}.file must be a file name inside the bundle, found {file!r}"
            )
        if not isinstance(sha, str) or len(sha) != 64:
            raise ModelRejected(f"{where}.sha256 must be a 64-character hex digest")
        return cls(
            file=file,
            sha256=sha.lower(),
            components=integer(data, "components", 1, 100_000, where),
            max_score=number(data, "max_score", 0.0, 1e12, where),
            quantile=number(data, "quantile", 0.0, 1.0, where),
        )


@dataclass(frozen=True)
class MeasuredRate:
    """What the gate did to one set of inputs when the trainer measured it."""

    what: str
    images: int
    stopped: int
    confident_answers: int  # answered benign or malignant

    @property
    def stopped_share(self) -> float:
        return self.stopped / self.images if self.images else 0.0


@dataclass(frozen=True)
class ScopeSpec:
    """What an input must be for the model to answer: big enough, tissue, H&E, sharp, familiar.

    A large image is judged tile by tile; tiles outside the scope are left out of its score, and
    the image is unassessable when more than ``max_rejected_tile_share`` of its tissue tiles are.
    """

    min_side_px: int
    min_tissue_fraction: float
    he_hue_range: tuple[float, float]
    min_he_fraction: float
    min_sharpness: float
    max_rejected_tile_share: float = 0.5
    features: FeatureLimit | None = None
    # How the limits were set and what they cost, as measured by the trainer (free-form, shown).
    calibration: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def from_dict(cls, data: Any) -> ScopeSpec:
        where = "scope"
        if not isinstance(data, dict):
            raise ModelRejected(f"the card's {where} section must be an object")
        hue = data.get("he_hue_range")
        if (
            not isinstance(hue, list | tuple)
            or len(hue) != 2
            or not all(isinstance(h, int | float) and not isinstance(h, bool) for h in hue)
            or not all(0 <= h <= 360 for h in hue)
        ):
            raise ModelRejected(f"{where}.he_hue_range must be two hues in degrees, found {hue!r}")
        calibration = data.get("calibration", {})
        if not isinstance(calibration, dict):
            raise ModelRejected(f"{where}.calibration must be an object")
        features = data.get("features")
        return cls(
            min_side_px=integer(data, "min_side_px", 1, 100_000, where),
            min_tissue_fraction=number(data, "min_tissue_fraction", 0.0, 1.0, where),
            he_hue_range=(float(hue[0]), float(hue[1])),
            min_he_fraction=number(data, "min_he_fraction", 0.0, 1.0, where),
            min_sharpness=number(data, "min_sharpness", 0.0, 1e9, where),
            max_rejected_tile_share=number(data, "max_rejected_tile_share", 0.0, 1.0, where),
            features=None if features is None else FeatureLimit.from_dict(features),
            calibration=calibration,
        )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["he_hue_range"] = list(self.he_hue_range)
        if self.features is None:
            del data["features"]
        return data

    def measured_rates(self) -> list[MeasuredRate]:
        """The rates in ``calibration["rates"]`` (free-form JSON), typed; malformed ones skipped."""
        rates = self.calibration.get("rates", {})
        found = []
        for name, rate in rates.items() if isinstance(rates, dict) else ():
            if not isinstance(rate, dict) or not rate.get("images"):
                continue
            found.append(
                MeasuredRate(
                    what=str(rate.get("meaning", name.replace("_", " "))),
                    images=int(rate["images"]),
                    stopped=int(rate.get("stopped", 0)),
                    confident_answers=int(rate.get("confident_answers", 0)),
                )
            )
        return found

    def describe(self) -> list[tuple[str, str]]:
        """The gate's limits as (what, limit) lines for the About page and the PDF."""
        low, high = self.he_hue_range
        lines = [
            ("Smallest image side", f"{self.min_side_px} px"),
            ("Tissue (whole images)", f"at least {self.min_tissue_fraction:.1%} of the pixels"),
            (
                "H&E colour",
                f"at least {self.min_he_fraction:.1%} of tissue pixels with hue"
                f" {low:.0f}°–{high:.0f}°",
            ),
            ("Focus (sharpness)", f"at least {self.min_sharpness:.3g}"),
        ]
        if self.features is not None:
            lines.append(
                (
                    "Likeness to training tissue",
                    f"feature score at most {self.features.max_score:.3g}"
                    f" ({self.features.quantile:.1%} of training patients' patches pass)",
                )
            )
        lines.append(
            (
                "Large images",
                f"unassessable when over {self.max_rejected_tile_share:.0%} of tissue tiles fail",
            )
        )
        return lines
