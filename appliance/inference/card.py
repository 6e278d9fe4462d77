"""The model card: what a model is, what it expects and how far it may be trusted (invariant 3).

The card is a JSON file beside the ``.tflite`` file. The trainer writes it with
:meth:`ModelCard.to_dict`; the appliance reads it with :meth:`ModelCard.from_dict`, so both sides
share one schema. Validation errors are worded for the admin who swapped the model.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import asdict, dataclass, field, fields
from typing import Any, Literal

from appliance.calibration import Calibration
from appliance.errors import ModelRejected
from appliance.preprocess import (
    SCALINGS,
    TEST_TIME_AUGMENTATIONS,
    Scaling,
    TestTimeAugmentation,
)
from appliance.schema import integer, number, section, text
from appliance.scope.spec import ScopeSpec
from appliance.stain import StainNormalizer, normalizer_from_dict
from appliance.values import Thresholds

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

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InputContract:
        """Read ``input`` with every value checked by type and range."""
        where = "input"
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ModelRejected(f"{where} has unknown keys {unknown}; update the appliance")
        checks: dict[str, Callable[[], Any]] = {
            "channels": lambda: integer(data, "channels", 3, 3, where),
            "dtype": lambda: text(data, "dtype", where, ("int8", "uint8", "float32")),
            "scaling": lambda: text(data, "scaling", where, SCALINGS),
            "resize": lambda: text(data, "resize", where, ("bilinear",)),
            "mode": lambda: text(data, "mode", where, ("whole", "tiled")),
            "min_tissue_fraction": lambda: number(data, "min_tissue_fraction", 0.0, 1.0, where),
            "test_time_augmentation": lambda: text(
                data, "test_time_augmentation", where, TEST_TIME_AUGMENTATIONS
            ),
        }
        # Optional keys fall back to the field defaults above; only what the card gives is read.
        values = {key: check() for key, check in checks.items() if key in data}
        if values.get("mode") == "tiled":
            values["tile_size"] = integer(data, "tile_size", 1, 4096, where)
            values["tile_stride"] = integer(data, "tile_stride", 1, 4096, where)
        return cls(
            height=integer(data, "height", 1, 4096, where),
            width=integer(data, "width", 1, 4096, where),
            # checked by stain_normalizer() in validate()
            stain_normalization=data.get("stain_normalization"),
            **values,
        )

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
    # The limits of the inputs the model may answer for (appliance.scope); None: size check only.
    scope: ScopeSpec | None = None
    # The map to calibrated probabilities (appliance.calibration); None: probabilities as the
    # model gives them. When present, the thresholds above are on the calibrated scale.
    calibration: Calibration | None = None

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
        if self.calibration is None and isinstance(self.metrics.get("calibration"), dict):
            # The trainer chose the thresholds on calibrated scores: without the map they
            # would be compared with uncalibrated probabilities.
            raise ModelRejected(
                "the card's metrics were measured on calibrated probabilities but the card has"
                " no calibration section, so its thresholds would be misapplied. The bundle is"
                " inconsistent; re-export it with a trainer that writes the section."
            )

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["labels"] = list(self.labels)
        data["thresholds"]["allowed_range"] = list(self.thresholds.allowed_range)
        if self.input.stain_normalization is None:
            # Cards of models trained without it stay as before, so older appliances read them.
            del data["input"]["stain_normalization"]
        if self.scope is None:
            del data["scope"]
        else:
            data["scope"] = self.scope.to_dict()
        if self.calibration is None:
            del data["calibration"]  # uncalibrated cards stay as before
        else:
            data["calibration"] = self.calibration.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> ModelCard:
        schema = data.get("schema", CARD_SCHEMA)
        if isinstance(schema, int) and not isinstance(schema, bool) and schema > CARD_SCHEMA:
            raise ModelRejected(
                f"the card uses schema {schema}; this appliance reads up to {CARD_SCHEMA}."
                " Update the appliance before installing this model."
            )
        labels = data.get("labels")
        if not isinstance(labels, list) or len(labels) < 2 or not all(
            isinstance(label, str) and label for label in labels
        ):
            raise ModelRejected(
                f"the card's labels must be a list of two or more names, found {labels!r}"
            )
        for key in ("training_data", "metrics", "provenance"):
            if not isinstance(data.get(key, {}), dict):
                raise ModelRejected(f"the card's {key} must be an object")
        card = cls(
            name=text(data, "name", "the card"),
            version=text(data, "version", "the card"),
            file=text(data, "file", "the card"),
            sha256=text(data, "sha256", "the card").lower(),
            labels=tuple(labels),
            malignant_label=text(data, "malignant_label", "the card"),
            input=InputContract.from_dict(section(data, "input")),
            thresholds=Thresholds.from_dict(section(data, "thresholds")),
            training_data=dict(data.get("training_data", {})),
            metrics=dict(data.get("metrics", {})),
            provenance=dict(data.get("provenance", {})),
            intended_use=str(data.get("intended_use", cls.intended_use)),
            schema=integer(data, "schema", 1, CARD_SCHEMA, "the card") if "schema" in data else 1,
            scope=ScopeSpec.from_dict(data["scope"]) if data.get("scope") is not None else None,
            calibration=Calibration.from_dict(data["calibration"], len(labels))
            if data.get("calibration") is not None
            else None,
        )
        card.validate()
        return card
