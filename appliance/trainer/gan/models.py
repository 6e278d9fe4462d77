"""The conditional generator and critic, for any image size from 8 px up.

The generator starts from a small square (at most 8 px), doubles it until it reaches the target
and crops the centre (50 px: 7 → 56 → crop 50). The critic is a projection critic (Miyato and
Koyama 2018): its score is a linear read-out of pooled features plus their dot product with the
label's embedding, so conditioning costs one embedding at any size. No batch normalisation in the
critic: the gradient penalty is defined per sample.
"""

from __future__ import annotations

import math

import keras
from keras import layers, ops


def doublings(image_size: int) -> tuple[int, int]:
    """``(n, start)``: n doublings from a ``start`` px square reach at least ``image_size``."""
    n = max(2, math.ceil(math.log2(image_size / 8)))
    return n, math.ceil(image_size / 2**n)


def _channels(width: int, level: int) -> int:
    return width * min(2**level, 8)


def build_generator(
    image_size: int, latent_dim: int, n_classes: int, width: int = 64
) -> keras.Model:
    """``G(z, y)`` → images in [-1, 1], shape ``(image_size, image_size, 3)``."""
    n, start = doublings(image_size)
    z = keras.Input((latent_dim,), name="latent")
    y = keras.Input((), dtype="int32", name="label")
    embedded = layers.Embedding(n_classes, latent_dim, name="label_embedding")(y)
    h = layers.Concatenate()([z, embedded])
    channels = _channels(width, n)
    h = layers.Dense(start * start * channels)(h)
    h = layers.Reshape((start, start, channels))(h)
    h = layers.LeakyReLU(0.2)(h)
    for level in range(n - 1, -1, -1):
        h = layers.UpSampling2D(interpolation="nearest")(h)
        h = layers.Conv2D(_channels(width, level), 3, padding="same")(h)
        h = layers.LeakyReLU(0.2)(h)
    h = layers.Conv2D(3, 3, padding="same", activation="tanh")(h)
    if start * 2**n != image_size:
        h = layers.CenterCrop(image_size, image_size)(h)
    return keras.Model([z, y], h, name="generator")


class _Projection(layers.Layer):
    """``sum(embed(y) * h)``: the projection critic's class term."""

    def __init__(self, n_classes: int, features: int, **kwargs) -> None:
        super().__init__(**kwargs)
        self.embedding = layers.Embedding(n_classes, features)

    def call(self, inputs):
        features, label = inputs
        return ops.sum(self.embedding(label) * features, axis=-1, keepdims=True)


def build_critic(image_size: int, n_classes: int, width: int = 64) -> keras.Model:
    """``D(x, y)`` → one unbounded score per image."""
    n, _ = doublings(image_size)
    x = keras.Input((image_size, image_size, 3), name="image")
    y = keras.Input((), dtype="int32", name="label")
    h = layers.Conv2D(width, 3, padding="same")(x)
    h = layers.LeakyReLU(0.2)(h)
    for level in range(1, n + 1):
        h = layers.Conv2D(_channels(width, level), 4, strides=2, padding="same")(h)
        h = layers.LeakyReLU(0.2)(h)
    pooled = layers.GlobalAveragePooling2D()(h)
    score = layers.Dense(1)(pooled)
    score = layers.Add()([score, _Projection(n_classes, pooled.shape[-1])([pooled, y])])
    return keras.Model([x, y], score, name="critic")
