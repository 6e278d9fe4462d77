"""The model's own sense of scope: how far an input's features lie from the training tissue.

Each model brings its own scope. The trainer runs the model over its training patients, takes
the pooled features its heads read (view-averaged, as the appliance scores), and fits a Gaussian
in their principal subspace. An input's score is the sum of two parts, each about 1 for
training tissue:

- the squared Mahalanobis distance inside the top ``k`` principal components, divided by ``k``
  (how unusual the input is *along* the directions tissue varies in), and
- the squared residual outside them, divided by its training mean (how much of the input lies
  in directions tissue never goes: a photograph's fur or a face lights up features no patch
  of breast tissue did).

This is the feature-space Mahalanobis detector of Lee et al. (NeurIPS 2018) with the PCA
residual that makes it robust when ``k`` is much smaller than the feature width. The limit on
the score is a high quantile of training patients' scores, chosen by the trainer and written
in the card; the parameters live in a file of the bundle whose sha256 the card holds.
"""

from __future__ import annotations

import hashlib
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from appliance.errors import ModelRejected


@dataclass(frozen=True)
class FeatureScope:
    """A fitted Gaussian of training features: mean, top components, their variances."""

    mean: np.ndarray  # (d,)
    components: np.ndarray  # (k, d), orthonormal rows
    variances: np.ndarray  # (k,)
    residual_mean: float  # mean squared residual of the training features

    @property
    def width(self) -> int:
        return int(self.mean.shape[0])

    def scores(self, features: np.ndarray) -> np.ndarray:
        """One score per row of ``features`` ``(n, d)``; about 2 for training tissue."""
        features = np.asarray(features, np.float32)
        if features.ndim != 2 or features.shape[1] != self.width:
            raise ValueError(
                f"features of shape {features.shape}, the scope expects width {self.width}"
            )
        centred = features - self.mean
        projected = centred @ self.components.T
        inside = (projected**2 / self.variances).mean(axis=1)
        residual = np.maximum((centred**2).sum(axis=1) - (projected**2).sum(axis=1), 0.0)
        return inside + residual / self.residual_mean

    def to_bytes(self) -> bytes:
        buffer = io.BytesIO()
        np.savez(
            buffer,
            mean=self.mean.astype(np.float32),
            components=self.components.astype(np.float32),
            variances=self.variances.astype(np.float32),
            residual_mean=np.float32(self.residual_mean),
        )
        return buffer.getvalue()

    @classmethod
    def load(cls, path: Path, sha256: str) -> FeatureScope:
        """Read the bundle's scope file, refusing it unless its sha256 matches the card."""
        try:
            data = Path(path).read_bytes()
        except OSError as exc:
            raise ModelRejected(
                f"the scope file {Path(path).name} of the model bundle cannot be read ({exc});"
                " reinstall the model bundle"
            ) from exc
        if hashlib.sha256(data).hexdigest() != sha256:
            raise ModelRejected(
                f"the scope file {Path(path).name} does not match the sha256 in the card: it is"
                " damaged or was changed; reinstall the model bundle"
            )
        try:
            with np.load(io.BytesIO(data), allow_pickle=False) as arrays:
                scope = cls(
                    mean=arrays["mean"],
                    components=arrays["components"],
                    variances=arrays["variances"],
                    residual_mean=float(arrays["residual_mean"]),
                )
        except (KeyError, ValueError, OSError) as exc:
            raise ModelRejected(
                f"the scope file {Path(path).name} is malformed ({exc}); reinstall the bundle"
            ) from exc
        k, d = scope.components.shape
        if scope.mean.shape != (d,) or scope.variances.shape != (k,) or scope.residual_mean <= 0:
            raise ModelRejected(f"the scope file {Path(path).name} has inconsistent shapes")
        return scope


def fit_feature_scope(features: np.ndarray, components: int = 64) -> FeatureScope:
    """Fit :class:`FeatureScope` to training features ``(n, d)`` (the trainer's step)."""
    features = np.asarray(features, np.float64)
    mean = features.mean(axis=0)
    centred = features - mean
    covariance = centred.T @ centred / max(len(features) - 1, 1)
    eigenvalues, eigenvectors = np.linalg.eigh(covariance)
    order = np.argsort(eigenvalues)[::-1][:components]
    top = eigenvectors[:, order].T
    variances = np.maximum(eigenvalues[order], 1e-6 * max(float(eigenvalues.max()), 1e-12))
    projected = centred @ top.T
    residual = np.maximum((centred**2).sum(axis=1) - (projected**2).sum(axis=1), 0.0)
    return FeatureScope(
        mean=mean.astype(np.float32),
        components=top.astype(np.float32),
        variances=variances.astype(np.float32),
        residual_mean=float(max(residual.mean(), 1e-12)),
    )
