"""Transfer-learning classifiers: an ImageNet backbone from a local weights file and a small head.

Only the trainer imports this module (it needs TensorFlow/Keras). Weights are always read from a
local path: nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import keras
from keras import layers

# The backbones built here; their input scaling is the presets' (appliance.trainer.presets).
BACKBONES = ("mobilenetv2", "mobilenetv3small")


def _freeze_batchnorm(model: keras.Model) -> None:
    """Keep every BatchNormalization layer frozen.

    The shared ImageNet weights need this: with BatchNorm trainable, fine-tuning let the moving
    statistics drift and the model predicted a single class on unseen patients even though the
    training log looked good (shared/README.md).
    """
    for layer in model.layers:
        if isinstance(layer, layers.BatchNormalization):
            layer.trainable = False


def build_backbone(
    backbone: str, input_size: int, alpha: float, weights: Path | None
) -> keras.Model:
    shape = (input_size, input_size, 3)
    if backbone == "mobilenetv2":
        base = keras.applications.MobileNetV2(
            input_shape=shape, alpha=alpha, include_top=False, weights=None
        )
    elif backbone == "mobilenetv3small":
        # The model's own rescaling is disabled: inputs arrive already scaled to [-1, 1].
        base = keras.applications.MobileNetV3Small(
            input_shape=shape,
            alpha=alpha,
            include_top=False,
            weights=None,
            include_preprocessing=False,
        )
    else:
        raise ValueError(f"unknown backbone {backbone!r}; expected one of {sorted(BACKBONES)}")
    if weights is not None:
        base.load_weights(str(weights))
    _freeze_batchnorm(base)
    return base


def build_classifier(
    backbone: str,
    input_size: int,
    n_classes: int = 2,
    alpha: float = 1.0,
    weights: Path | None = None,
    dropout: float = 0.3,
) -> tuple[keras.Model, keras.Model]:
    """Return ``(model, base)``: the backbone in inference mode, pooled, dropout, softmax."""
    base = build_backbone(backbone, input_size, alpha, weights)
    inputs = keras.Input((input_size, input_size, 3), name="image")
    features = base(inputs, training=False)
    pooled = layers.GlobalAveragePooling2D(name="pool")(features)
    pooled = layers.Dropout(dropout, name="dropout")(pooled)
    outputs = layers.Dense(n_classes, activation="softmax", name="probabilities")(pooled)
    return keras.Model(inputs, outputs, name=f"{backbone}_classifier"), base
