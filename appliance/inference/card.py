"""The model card: what a model is, what it expects and how far it may be trusted (invariant 3).

The card is a JSON file beside the ``.tflite`` file. The trainer writes it with
:meth:`ModelCard.to_dict`; the appliance reads it with :meth:`ModelCard.from_dict`, so both sides
share one schema. Validation errors are worded for the admin who swapped the model.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from appliance.errors import ModelRejected
from appliance.preprocess import (
    SCALINGS,
    TEST_TIME_AUGMENTATIONS,
    Scaling,
    TestTimeAugmentation,
)
from appliance.stain import StainNormalizer, normalizer_from_dict

CARD_SCHEMA = 1
InputMode = Literal["whole", "tiled"]


@dataclass(frozen=True)
class InputContract:
    """How an image becomes the model's input.

    ``mode == "whole"`` resizes the whole image to ``height x width``. ``mode == "tiled"`` cuts an
    image larger than one tile into ``tile_size`` squares every ``tile_stride`` pixels (source
    pixels), drops tiles with less than ``min_tissue_fraction`` tissue, and resizes each tile; an
    image no larger than a tile is treated whole.

    ``stain_normalization`` is the fitted stain normaliser the model was trained with, in the
    form of :func:`appliance.stain.normalizer_from_dict` (``None``: no normalisation); every image
    or tile is normalised with it before resizing, as in training.
    """

    height: int
    width: int
    channels: int = 3
    dtype: str = "int8"
    scaling: Scaling = "minus_one_to_one"
    resize: str = "bilinear"
    mode: InputMode = "whole"
    tile_size: int | None = None
    tile_stride: int | None = None
    min_tissue_fraction: float = 0.5
    # Scored views per input, averaged (appliance.preprocess.augmented_views).
    test_time_augmentation: TestTimeAugmentation = "none"
    stain_normalization: dict[str, Any] | None = None

    @property
    def size(self) -> tuple[int, int]:
        return (self.height, self.width)

    def stain_normalizer(self) -> StainNormalizer | None:
        """The card's stain normaliser, rebuilt; :class:`ModelRejected` if it is unusable."""
        if self.stain_normalization is None:
            return None
        try:
            return normalizer_from_dict(self.stain_normalization)
        except ValueError as exc:
            raise ModelRejected(
                f"the card's input.stain_normalization is unusable ({exc}). The model was"
                " trained on stain-normalised images and gives wrong answers without the same"
                " normalisation; reinstall the bundle exactly as the trainer exported it, or"
                " update the appliance if the trainer is newer."
            ) from exc

    def validate(self) -> None:
        if self.height <= 0 or self.width <= 0 or self.channels != 3:
            raise ModelRejected(
                f"input size {self.height}x{self.width}x{self.channels} is not usable"
            )
        if self.scaling not in SCALINGS:
            raise ModelRejected(f"input scaling {self.scaling!r} is unknown")
        if self.mode not in ("whole", "tiled"):
            raise ModelRejected(f"input mode {self.mode!r} is unknown; expected 'whole' or 'tiled'")
        if self.test_time_augmentation not in TEST_TIME_AUGMENTATIONS:
            raise ModelRejected(
                f"test-time augmentation {self.test_time_augmentation!r} is unknown"
            )
        if self.mode == "tiled" and not (self.tile_size and self.tile_stride):
            raise ModelRejected("a tiled model's card must give tile_size and tile_stride")
        self.stain_normalizer()


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

    def validate(self) -> None:
        low, high = self.allowed_range
        if not 0.0 <= low <= self.benign_below <= self.malignant_at <= high <= 1.0:
            raise ModelRejected(
                "thresholds must satisfy 0 <= allowed low <= benign_below <= malignant_at"
                f" <= allowed high <= 1; got {self}"
            )


@dataclass(frozen=True)
class ModelCard:
    name: str
    version: str
    file: str
    sha256: str
    labels: tuple[str, ...]
    malignant_label: str
    input: InputContract
    thresholds: Thresholds
    training_data: dict[str, Any] = field(default_factory=dict)
    metrics: dict[str, Any] = field(default_factory=dict)
    provenance: dict[str, Any] = field(default_factory=dict)
    intended_use: str = "For research use only — not for diagnostic use."
    schema: int = CARD_SCHEMA

    @property
    def malignant_index(self) -> int:
        return self.labels.index(self.malignant_label)

    @property
    def short_sha(self) -> str:
        return self.sha256[:12]

    def validate(self) -> None:
        if len(self.sha256) != 64:
            raise ModelRejected("the card's sha256 is not a 64-character hex digest")
        if self.malignant_label not in self.labels:
            raise ModelRejected(
                f"malignant label {self.malignant_label!r} is not one of the labels {self.labels}"
            )
        self.input.validate()
        self.thresholds.validate()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["labels"] = list(self.labels)
        data["thresholds"]["allowed_range"] = list(self.thresholds.allowed_range)
        if self.input.stain_normalization is None:
            # Cards of models trained without it stay as before, so older appliances read them.
            del data["input"]["stain_normalization"]
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        try:
            card = cls(
                name=str(data["name"]),
                version=str(data["version"]),
                file=str(data["file"]),
                sha256=str(data["sha256"]).lower(),
                labels=tuple(str(label) for label in data["labels"]),
                malignant_label=str(data["malignant_label"]),
                input=InputContract(**data["input"]),
                thresholds=Thresholds(
                    **{
                        **data["thresholds"],
                        "allowed_range": tuple(
                            data["thresholds"].get("allowed_range", (0.01, 0.99))
                        ),
                    }
                ),
                training_data=dict(data.get("training_data", {})),
                metrics=dict(data.get("metrics", {})),
                provenance=dict(data.get("provenance", {})),
                intended_use=str(data.get("intended_use", cls.intended_use)),
                schema=int(data.get("schema", CARD_SCHEMA)),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ModelRejected(f"the model card is incomplete or malformed ({exc})") from exc
        if card.schema > CARD_SCHEMA:
            raise ModelRejected(
                f"the card uses schema {card.schema}; this appliance reads up to {CARD_SCHEMA}."
                " Update the appliance before installing this model."
            )
        card.validate()
        return card
