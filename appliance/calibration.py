"""Honest probabilities: the card's calibration of the malignant probability, read and applied.

The trainer fits a map from the model's view-averaged probability to a calibrated one on
validation (or out-of-fold) patients and writes it into the card's optional ``calibration``
section; the appliance applies it here, in one place (:meth:`Calibration.apply`, called by the
classifier right after the view average and before anything decides). A card without the section
is read as ``None`` and the probabilities are left untouched, bit for bit.

Two methods, both small enough to check by eye in the card:

* ``temperature``: ``q_i ∝ p_i ** (1 / T)`` renormalised (for two classes this is
  ``sigmoid(logit(p) / T)``): one number, monotone, keeps the ranking (AUC unchanged).
* ``isotonic``: a monotone table of knots ``(x, y)`` for the malignant probability, linearly
  interpolated (two-class cards only); the other class gets ``1 - q``.

A tiled image is calibrated per tile (every tile's probability, the tile map and the top-k mean
the image score is taken from are all on the calibrated scale), so the tile map reads the same
way as the image. The card's thresholds are on the calibrated scale too: the trainer chooses them
on calibrated validation scores.

Numpy only: the runtime never imports TensorFlow.
"""

from __future__ import annotations

from dataclasses import dataclass
from itertools import pairwise
from typing import Any, Literal

import numpy as np

from appliance.errors import ModelRejected
from appliance.schema import check_number, number, text

Method = Literal["temperature", "isotonic"]
METHODS: tuple[str, ...] = ("temperature", "isotonic")
WHERE = "calibration"
# Probabilities are clipped this far from 0 and 1 before the logarithm (float32-safe).
EPSILON = 1e-7
MAX_KNOTS = 512
_HELP = (
    " The card's calibration is malformed; reinstall the bundle exactly as the trainer"
    " exported it, or remove the bundle and install the previous one."
)


@dataclass(frozen=True)
class Calibration:
    """One fitted calibration map and where it came from.

    ``ece_before``/``ece_after``: expected calibration error on the test patients (15 equal-width
    bins, :func:`appliance.trainer.metrics.expected_calibration_error`), for the card page only.
    """

    method: Method
    fitted_on: str
    temperature: float | None = None
    knots_x: tuple[float, ...] = ()
    knots_y: tuple[float, ...] = ()
    ece_before: float | None = None
    ece_after: float | None = None

    def apply(self, probabilities: np.ndarray, malignant_index: int) -> np.ndarray:
        """``(n, classes)`` view-averaged probabilities → the same on the calibrated scale."""
        p = np.asarray(probabilities, dtype=np.float64)
        if self.method == "temperature":
            assert self.temperature is not None
            logs = np.log(np.clip(p, EPSILON, 1.0)) / self.temperature
            logs -= logs.max(axis=1, keepdims=True)
            out = np.exp(logs)
            out /= out.sum(axis=1, keepdims=True)
        else:
            q = np.interp(p[:, malignant_index], self.knots_x, self.knots_y)
            out = np.empty_like(p)
            out[:, malignant_index] = q
            out[:, 1 - malignant_index] = 1.0 - q
        return out.astype(np.float32)

    def apply_scores(self, scores: np.ndarray) -> np.ndarray:
        """Malignant probabilities alone (a two-class view), for the trainer's metrics."""
        scores = np.asarray(scores, dtype=np.float64)
        pairs = np.stack([1.0 - scores, scores], axis=1)
        return self.apply(pairs, 1)[:, 1].astype(np.float64)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"method": self.method, "fitted_on": self.fitted_on}
        if self.method == "temperature":
            data["temperature"] = self.temperature
        else:
            data["knots"] = {"x": list(self.knots_x), "y": list(self.knots_y)}
        for key in ("ece_before", "ece_after"):
            if getattr(self, key) is not None:
                data[key] = getattr(self, key)
        return data

    @classmethod
    def from_dict(cls, data: Any, classes: int) -> Calibration:
        """The card's ``calibration`` section checked by type and range; :class:`ModelRejected`
        with a message for the admin otherwise."""
        if not isinstance(data, dict):
            raise ModelRejected(f"{WHERE} must be an object, found {data!r}.{_HELP}")
        known = {"method", "fitted_on", "temperature", "knots", "ece_before", "ece_after"}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ModelRejected(f"{WHERE} has unknown keys {unknown}; update the appliance")
        try:
            method = text(data, "method", WHERE, METHODS)
            fitted_on = text(data, "fitted_on", WHERE)
            ece = {
                key: number(data, key, 0.0, 1.0, WHERE)
                for key in ("ece_before", "ece_after")
                if key in data
            }
            if method == "temperature":
                temperature = number(data, "temperature", 0.05, 20.0, WHERE)
                return cls("temperature", fitted_on, temperature=temperature, **ece)
            if classes != 2:
                raise ModelRejected(f"{WHERE}: isotonic calibration needs a two-class model")
            x, y = _knots(data.get("knots"))
            return cls("isotonic", fitted_on, knots_x=x, knots_y=y, **ece)
        except ModelRejected as exc:
            raise ModelRejected(f"{exc}.{_HELP}") from exc


def _knots(value: Any) -> tuple[tuple[float, ...], tuple[float, ...]]:
    """An isotonic table: x strictly increasing in [0, 1], y non-decreasing in [0, 1]."""
    name = f"{WHERE}.knots"
    if (
        not isinstance(value, dict)
        or not isinstance(value.get("x"), list)
        or not isinstance(value.get("y"), list)
    ):
        raise ModelRejected(f"{name} must be an object with lists x and y, found {value!r}")
    xs, ys = value["x"], value["y"]
    if not 2 <= len(xs) <= MAX_KNOTS or len(xs) != len(ys):
        raise ModelRejected(f"{name} needs 2 to {MAX_KNOTS} x and as many y values")
    x = tuple(check_number(v, 0.0, 1.0, f"{name}.x[{i}]") for i, v in enumerate(xs))
    y = tuple(check_number(v, 0.0, 1.0, f"{name}.y[{i}]") for i, v in enumerate(ys))
    if any(b <= a for a, b in pairwise(x)):
        raise ModelRejected(f"{name}.x must be strictly increasing")
    if any(b < a for a, b in pairwise(y)):
        raise ModelRejected(f"{name}.y must never decrease (a calibration keeps the ranking)")
    return x, y
