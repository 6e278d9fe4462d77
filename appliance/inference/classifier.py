"""From one image to a malignant probability, whole or tile by tile, as the model card says.

The card's input contract decides the route: a ``whole`` model sees the image resized to its
input; a ``tiled`` model sees tissue tiles at the scale it was trained on, and the image's score
is the mean of its top-k tile scores (k = 3, fewer if the image has fewer tissue tiles). Why
top-k: a carcinoma focus may fill only a few tiles, so the mean of all tiles would drown it in
benign tissue, while the single highest tile would let one noisy tile (a fold, a stain blob)
decide; three tiles keep the sensitivity to a small focus and need it to be more than one tile.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

import numpy as np
from PIL import Image

from appliance.errors import ImageError, ModelRejected
from appliance.inference.ahead import run_ahead
from appliance.inference.backends import select_backend
from appliance.inference.bundle import ModelBundle
from appliance.inference.tiling import tissue_fraction
from appliance.preprocess import augmented_views, average_views, preprocess, to_rgb, view_count
from appliance.scope.gate import OutOfScope, ScopeGate, ScopeReason
from appliance.scope.measures import Measures
from appliance.scope.ood import FeatureScope
from appliance.values import TileMap, grid_starts

TOP_K = 3
# An image up to 1.5 tiles wide and high is one patch (the training patches, or smaller edge
# patches): it is scored whole rather than cut into overlapping near-duplicates.
SINGLE_TILE_FACTOR = 1.5
# Without a scope section in the card, still refuse images too thin to hold a cell.
DEFAULT_MIN_SIDE_PX = 8
# Inputs in one interpreter call (tiles x test-time views). Measured on the shipped model: per
# view, a batch of 64 is no faster than 8, while a batch of 256 (32 tiles x 8 views) took a
# 2048-px region to 294 MB; so 8 tiles of 8 views, and the activations stay a few MB.
MAX_INPUTS_PER_CALL = 64

#: Asked between batches of tiles: a message ends the image there (cancel, time budget).
StopCheck = Callable[[], str | None]
#: Told ``(tiles looked at, tiles in the image)`` as a tiled image advances.
TileProgress = Callable[[int, int], None]


@dataclass(frozen=True)
class _TileBatch:
    """Tissue tiles ready for one interpreter call, and how many tiles were looked at so far."""

    origins: tuple[tuple[int, int], ...]
    measures: list[Measures | None]
    views: np.ndarray | None  # quantised, view-major; None when the batch is empty
    seen: int


@dataclass(frozen=True)
class Prepared:
    """An image scored whole, made ready for the interpreter ahead of time (by the image
    reader's thread, while the interpreter is busy with the image before)."""

    image: Image.Image  # what it was prepared from: used only for that very image
    views: np.ndarray  # quantised, view-major
    measures: Measures | None


@dataclass(frozen=True)
class Prediction:
    """The model's answer for one image.

    ``probabilities`` is the class vector in the card's label order; for a tiled image it is the
    mean over the same top-k tiles, so ``probabilities[malignant_index] == p_malignant``.
    """

    p_malignant: float
    probabilities: tuple[float, ...]
    mode: Literal["whole", "tiled"]
    tiles: TileMap | None
    elapsed_ms: float


class Classifier:
    """One verified model bundle loaded into the fastest available (or the chosen) interpreter."""

    def __init__(
        self,
        bundle: ModelBundle,
        backend: str = "auto",
        num_threads: int | None = None,
        batch_size: int | None = None,
    ) -> None:
        """``num_threads`` None: :func:`~appliance.inference.backends.base.default_threads`;
        ``batch_size`` (tiles per interpreter call) None: as many as fill
        :data:`MAX_INPUTS_PER_CALL` with the card's test-time views."""
        self.bundle = bundle
        backend_class = select_backend(backend)
        self.backend_name = backend_class.name
        self._backend = backend_class(bundle.model_path, num_threads)
        self.num_threads = self._backend.num_threads
        views = view_count(bundle.card.input.test_time_augmentation)
        self.views = views
        self._batch_size = max(1, batch_size or MAX_INPUTS_PER_CALL // views)
        self._check_contract()
        # Built once per bundle; applied to the whole image or to every tile, as in training.
        self._stain = bundle.card.input.stain_normalizer()
        self.gate = self._load_gate()

    def _load_gate(self) -> ScopeGate:
        """The card's scope gate; its feature file must fit the model's feature outputs."""
        card, spec = self.bundle.card, self.bundle.card.scope
        if spec is None or spec.features is None:
            return ScopeGate(spec)
        limit = spec.features
        features = FeatureScope.load(self.bundle.directory / limit.file, limit.sha256)
        if features.width != self._backend.feature_size:
            raise ModelRejected(
                f"the card of {card.name} {card.version} expects {features.width} features for its"
                f" scope gate, the model file gives {self._backend.feature_size}. The bundle is"
                " inconsistent; reinstall a bundle exported by the trainer."
            )
        return ScopeGate(spec, features)

    def _check_contract(self) -> None:
        card, contract = self.bundle.card, self.bundle.card.input
        expected = (1, contract.height, contract.width, contract.channels)
        found = self._backend.input_shape
        problems = []
        if found != expected:
            problems.append(f"input shape {found}, the card says {expected}")
        if self._backend.input_dtype != np.dtype(contract.dtype):
            problems.append(
                f"input type {self._backend.input_dtype}, the card says {contract.dtype}"
            )
        if self._backend.output_classes != len(card.labels):
            problems.append(
                f"{self._backend.output_classes} output classes, the card lists {len(card.labels)}"
                f" labels {card.labels}"
            )
        if problems:
            raise ModelRejected(
                f"the model file of {card.name} {card.version} does not fit its card: "
                + "; ".join(problems)
                + ". The bundle is inconsistent; reinstall a bundle exported by the trainer."
            )

    def classify(
        self,
        image: Image.Image,
        should_stop: StopCheck | None = None,
        on_tiles: TileProgress | None = None,
        prepared: Prepared | None = None,
    ) -> Prediction:
        """Score one image; :class:`ImageError` if it cannot be decoded, holds no tissue, lies
        outside the model's scope (:class:`OutOfScope`) or ``should_stop`` ends it.
        ``on_tiles`` hears how far a tiled image has got (after every batch of tiles);
        ``prepared`` is :meth:`prepare`'s work for this image, done ahead."""
        started = time.perf_counter()
        try:
            rgb = to_rgb(image)
            rgb.load()
        except (OSError, ValueError, SyntaxError) as exc:
            raise ImageError(
                f"the image could not be decoded ({exc}); it cannot be assessed"
            ) from exc
        contract = self.bundle.card.input
        self.gate.check_size(rgb.width, rgb.height, DEFAULT_MIN_SIDE_PX)
        tile = contract.tile_size or 0
        limit = tile * SINGLE_TILE_FACTOR
        if contract.mode == "whole" or (rgb.width <= limit and rgb.height <= limit):
            ready = prepared if prepared is not None and prepared.image is image else None
            probabilities = self._classify_whole(rgb, ready or self._prepare_whole(rgb, image))
            mode: Literal["whole", "tiled"] = "whole"
            tiles = None
        else:
            probabilities, tiles = self._classify_tiled(rgb, should_stop, on_tiles)
            mode = "tiled"
        vector = tuple(float(p) for p in probabilities)
        return Prediction(
            p_malignant=vector[self.bundle.card.malignant_index],
            probabilities=vector,
            mode=mode,
            tiles=tiles,
            elapsed_ms=(time.perf_counter() - started) * 1000.0,
        )

    def features(self, pixels: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """View-averaged probabilities and features of whole images (the trainer calibrates the
        scope gate on exactly what the appliance computes)."""
        contract = self.bundle.card.input
        return self._predict(
            [preprocess(p, contract.size, contract.scaling, self._stain) for p in pixels]
        )

    def prepare(self, image: Image.Image) -> Prepared | None:
        """The work before inference for an image scored whole (preprocessing, quantising, its
        views, the scope gate's pixel measures), so another thread can do it ahead; None for
        an image that will be tiled (tiles are prepared ahead by :meth:`classify` itself) or
        that :meth:`classify` will refuse (it then says why)."""
        try:
            rgb = to_rgb(image)
            contract = self.bundle.card.input
            limit = (contract.tile_size or 0) * SINGLE_TILE_FACTOR
            if contract.mode != "whole" and (rgb.width > limit or rgb.height > limit):
                return None
            self.gate.check_size(rgb.width, rgb.height, DEFAULT_MIN_SIDE_PX)
            return self._prepare_whole(rgb, image)
        except Exception:  # classify meets the same problem and words it
            return None

    def _prepare_whole(self, rgb: Image.Image, image: Image.Image) -> Prepared:
        contract = self.bundle.card.input
        views = self._prepare([preprocess(rgb, contract.size, contract.scaling, self._stain)])
        return Prepared(image, views, self.gate.measure(np.asarray(rgb, dtype=np.uint8)))

    def _classify_whole(self, rgb: Image.Image, prepared: Prepared) -> np.ndarray:
        probabilities, features = self._score(prepared.views, 1)
        scores = self.gate.feature_scores(features)
        score = None if scores is None else float(scores[0])
        reasons = self.gate.tile_reasons(prepared.measures, score, whole=True)
        verdict = self.gate.judge([reasons])
        if not verdict.in_scope:
            raise OutOfScope(verdict)
        return probabilities[0]

    def _classify_tiled(
        self, rgb: Image.Image, should_stop: StopCheck | None, on_tiles: TileProgress | None
    ) -> tuple[np.ndarray, TileMap]:
        contract = self.bundle.card.input
        tile, stride = int(contract.tile_size or 0), int(contract.tile_stride or 0)
        width, height = rgb.size
        total = len(grid_starts(width, tile, stride)) * len(grid_starts(height, tile, stride))
        kept: list[tuple[int, int]] = []
        outputs: list[np.ndarray] = []
        reasons: list[tuple[ScopeReason, ...]] = []
        # Batches are cut, checked and quantised on a worker thread while the interpreter
        # scores the one before (it releases the GIL); at most two wait.
        for batch in run_ahead(self._tile_batches(rgb, tile, stride), depth=2):
            if should_stop is not None and (message := should_stop()):
                raise ImageError(
                    f"{message} (after {len(reasons)} tissue tiles of {total} tiles)"
                )
            if batch.origins:
                probabilities, features = self._score(batch.views, len(batch.origins))
                scores = self.gate.feature_scores(features)
                reasons.extend(
                    self.gate.tile_reasons(m, None if scores is None else float(scores[i]))
                    for i, m in enumerate(batch.measures)
                )
                outputs.append(probabilities)
                kept.extend(batch.origins)
            if on_tiles is not None:
                on_tiles(batch.seen, total)
        if not kept:
            raise ImageError(
                "no tissue found in this image (only background); it cannot be assessed"
            )
        verdict = self.gate.judge(reasons)
        if not verdict.in_scope:
            raise OutOfScope(verdict)
        inside = np.array([not r for r in reasons])
        scores = np.concatenate(outputs)[inside]
        malignant = scores[:, self.bundle.card.malignant_index]
        top = np.argsort(malignant)[::-1][: min(TOP_K, len(malignant))]
        tiles = TileMap(
            tile_size=tile,
            stride=stride,
            image_width=width,
            image_height=height,
            origins=tuple(o for o, ok in zip(kept, inside, strict=True) if ok),
            probabilities=tuple(float(p) for p in malignant),
            skipped_background=total - len(kept),
            out_of_scope=tuple(o for o, ok in zip(kept, inside, strict=True) if not ok),
        )
        return scores[top].mean(axis=0), tiles

    def _tile_batches(self, rgb: Image.Image, tile: int, stride: int) -> Iterator[_TileBatch]:
        """Batches of tissue tiles ready for the interpreter, read one band of tile rows at a
        time (the image is never copied whole into numpy, nor held as thousands of tiles);
        an empty batch after each band carries progress through stretches of glass."""
        contract = self.bundle.card.input
        width, height = rgb.size
        columns = grid_starts(width, tile, stride)
        origins: list[tuple[int, int]] = []
        crops: list[np.ndarray] = []
        inputs: list[np.ndarray] = []
        seen = 0

        def batch() -> _TileBatch:
            views = self._prepare(inputs)
            measures = [self.gate.measure(crop) for crop in crops]
            return _TileBatch(tuple(origins), measures, views, seen)

        for y in grid_starts(height, tile, stride):
            band = np.asarray(rgb.crop((0, y, width, min(y + tile, height))), dtype=np.uint8)
            for x in columns:
                seen += 1
                crop = band[:, x : x + tile]
                if tissue_fraction(crop) < contract.min_tissue_fraction:
                    continue
                origins.append((x, y))
                crops.append(crop)
                inputs.append(preprocess(crop, contract.size, contract.scaling, self._stain))
                if len(origins) == self._batch_size:
                    yield batch()
                    origins, crops, inputs = [], [], []
            yield _TileBatch((), [], None, seen)
        if origins:
            yield batch()

    def _prepare(self, arrays: list[np.ndarray]) -> np.ndarray:
        """Preprocessed inputs → the interpreter's input: quantised once, then its views built
        from the integers (exactly what quantising every view gives: rotations and mirrors only
        move values), view-major."""
        contract = self.bundle.card.input
        batch = np.stack(arrays).astype(np.float32, copy=False)
        quantised = self._backend.quantise(batch, contract.scaling)
        return augmented_views(quantised, contract.test_time_augmentation)

    def _score(self, views: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
        """View-averaged (and, if the card says so, calibrated) probabilities and features of
        ``count`` inputs from their views."""
        probabilities, features = self._backend.predict_quantised(views)
        card = self.bundle.card
        mode = card.input.test_time_augmentation
        averaged = average_views(probabilities, mode)
        # The one place the card's calibration is applied: after the view (and ensemble)
        # average, before any decision; per tile for a tiled image (appliance.calibration).
        if card.calibration is not None:
            averaged = card.calibration.apply(averaged, card.malignant_index)
        if features.shape[1] == 0:  # a model without feature outputs
            return averaged, np.zeros((count, 0), np.float32)
        return averaged, average_views(features, mode)

    def _predict(self, arrays: list[np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """View-averaged probabilities and features of preprocessed inputs."""
        return self._score(self._prepare(arrays), len(arrays))

    def inference_floor(self, inputs: int, per_call: int = 1) -> float:
        """Seconds the interpreter alone takes for ``inputs`` patches or tiles scored as a scan
        scores them (``per_call`` of them per call, each with the card's views), on inputs
        already quantised: the floor a scan's throughput is measured against. ``per_call`` is
        1 for a stick of patches (one image per call) and :attr:`tiles_per_call` for a region.
        """
        contract = self.bundle.card.input
        shape = (max(1, per_call) * self.views, contract.height, contract.width, 3)
        pixels = np.random.default_rng(0).random(shape, dtype=np.float32)
        batch = self._backend.quantise(pixels, contract.scaling)
        self._backend.predict_quantised(batch)  # warm-up: allocation, XNNPACK packing
        calls = max(1, -(-inputs // max(1, per_call)))
        started = time.perf_counter()
        for _ in range(calls):
            self._backend.predict_quantised(batch)
        return time.perf_counter() - started

    @property
    def tiles_per_call(self) -> int:
        """Tiles scored in one interpreter call (each with all the card's views)."""
        return self._batch_size
