"""The scope gate: before any diagnosis, is this an input the model may answer for?

A model trained on 50-px H&E patches at low magnification has no business calling a photograph
of a cat malignant, yet its softmax will happily say 0.97. The gate judges each image (and each
tile of a large one) against the limits in the card's ``scope`` section and against the model's
own feature-space distance to its training tissue. What fails is *unassessable* with the reason
in words, never benign or malignant (:class:`OutOfScope`, an :class:`ImageError`, so every face
of the appliance records and shows it like any other image that cannot be assessed).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from enum import StrEnum

import numpy as np

from appliance.errors import ImageError
from appliance.scope.measures import Measures, measure
from appliance.scope.ood import FeatureScope
from appliance.scope.spec import ScopeSpec


class ScopeReason(StrEnum):
    """Why an input is outside the model's scope, most basic first."""

    TOO_SMALL = "too_small"
    NO_TISSUE = "no_tissue"
    NOT_HE = "not_he"
    OUT_OF_FOCUS = "out_of_focus"
    UNFAMILIAR = "unfamiliar"

    @property
    def wording(self) -> str:
        return {
            ScopeReason.TOO_SMALL: "too small for this model",
            ScopeReason.NO_TISSUE: "no tissue found (only background)",
            ScopeReason.NOT_HE: (
                "not H&E-stained tissue (its colours are not haematoxylin and eosin)"
            ),
            ScopeReason.OUT_OF_FOCUS: "out of focus (too blurred to assess)",
            ScopeReason.UNFAMILIAR: (
                "unlike the tissue this model was trained on (another magnification, scanner,"
                " stain or tissue type)"
            ),
        }[self]


@dataclass(frozen=True)
class ScopeVerdict:
    """The gate's answer for one image: which tiles failed and why."""

    checked: int
    rejected: int
    reasons: tuple[ScopeReason, ...]  # the reasons of the rejected tiles, most frequent first
    in_scope: bool
    detail: str = ""

    def message(self) -> str:
        """The words recorded for an unassessable image."""
        why = "; ".join(reason.wording for reason in self.reasons[:2])
        extent = f" in {self.rejected} of {self.checked} tissue tiles" if self.checked > 1 else ""
        detail = f"; {self.detail}" if self.detail else ""
        return f"outside the model's scope{extent}: {why}{detail}. Not assessed"


class OutOfScope(ImageError):
    """An image the model must not answer for; the message says why."""

    def __init__(self, verdict: ScopeVerdict) -> None:
        super().__init__(verdict.message())
        self.verdict = verdict


class ScopeGate:
    """Applies a card's :class:`ScopeSpec` (and its fitted :class:`FeatureScope`, if any)."""

    def __init__(self, spec: ScopeSpec | None, features: FeatureScope | None = None) -> None:
        self.spec = spec
        self.features = features

    @property
    def uses_features(self) -> bool:
        return self.features is not None

    def check_size(self, width: int, height: int, minimum_default: int) -> None:
        """Refuse images too small to hold what the model looks at (e.g. 1 px high)."""
        minimum = self.spec.min_side_px if self.spec else minimum_default
        if min(width, height) < minimum:
            raise OutOfScope(
                ScopeVerdict(
                    1,
                    1,
                    (ScopeReason.TOO_SMALL,),
                    False,
                    f"{width}×{height} px, it needs at least {minimum} px on each side",
                )
            )

    def measure(self, pixels: np.ndarray) -> Measures | None:
        return None if self.spec is None else measure(pixels, self.spec.he_hue_range)

    def tile_reasons(
        self, measures: Measures | None, feature_score: float | None, whole: bool = False
    ) -> tuple[ScopeReason, ...]:
        """Every limit one image or tile breaks (empty: in scope)."""
        spec = self.spec
        if spec is None or measures is None:
            return ()
        reasons: list[ScopeReason] = []
        if whole and measures.tissue_fraction < spec.min_tissue_fraction:
            reasons.append(ScopeReason.NO_TISSUE)
        if measures.he_fraction < spec.min_he_fraction:
            reasons.append(ScopeReason.NOT_HE)
        if measures.sharpness < spec.min_sharpness:
            reasons.append(ScopeReason.OUT_OF_FOCUS)
        if (
            feature_score is not None
            and spec.features is not None
            and not feature_score <= spec.features.max_score  # NaN fails too
        ):
            reasons.append(ScopeReason.UNFAMILIAR)
        return tuple(reasons)

    def feature_scores(self, features: np.ndarray) -> np.ndarray | None:
        """Scores of view-averaged features ``(n, d)``; None when the model has no scope file."""
        if self.features is None or features.shape[1] == 0:
            return None
        return self.features.scores(features)

    def assess(
        self, crops: list[np.ndarray], features: np.ndarray, whole: bool = False
    ) -> list[tuple[ScopeReason, ...]]:
        """The limits each image or tile breaks, from its pixels and its model features."""
        scores = self.feature_scores(features)
        return [
            self.tile_reasons(
                self.measure(crop), None if scores is None else float(scores[i]), whole
            )
            for i, crop in enumerate(crops)
        ]

    def judge(self, per_tile: list[tuple[ScopeReason, ...]]) -> ScopeVerdict:
        """Combine the tiles of one image (a whole image is one tile)."""
        checked = len(per_tile)
        failed = [reasons for reasons in per_tile if reasons]
        counts = Counter(reason for reasons in failed for reason in reasons[:1])
        ranked = tuple(reason for reason, _ in counts.most_common())
        share = self.spec.max_rejected_tile_share if self.spec else 1.0
        in_scope = checked > len(failed) and len(failed) <= share * checked
        return ScopeVerdict(checked, len(failed), ranked, in_scope)
