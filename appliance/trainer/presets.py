"""The seed papers' architectures as named, overridable training presets.

Each :class:`Preset` carries the hyper-parameters its paper gives and a ``build`` function that
returns ``(model, base)``: the full classifier and the backbone (the part whose learning rate and
trainability differ from the new layers). Nothing is ever downloaded: every
``keras.applications`` call uses ``weights=None`` and a user-supplied local file is loaded after.
Without one the preset trains from scratch and :meth:`Preset.is_pretrained` says so, for the card.

The appliance feeds every model pixels scaled by :func:`appliance.preprocess.preprocess`
(``zero_to_one`` or ``minus_one_to_one``; never ``raw``, whose int8 input contract is fixed).
Backbones whose ImageNet weights expect another normalisation ("caffe" BGR mean subtraction for
ResNet50/101, "torch" mean/std for DenseNet and WRN) get a frozen 1x1 convolution in front that
does it, so the exported int8 model needs no extra step on the Pi.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import keras
import numpy as np
from keras import layers

from appliance.trainer.model import build_classifier

IMAGENET_MEAN = np.array([0.485, 0.456, 0.406], np.float32)
IMAGENET_STD = np.array([0.229, 0.224, 0.225], np.float32)
CAFFE_MEAN_BGR = np.array([103.939, 116.779, 123.68], np.float32)
ADAPTER_PREFIX = "imagenet_norm"

BuildFn = Callable[..., tuple[keras.Model, keras.Model]]


@dataclass(frozen=True)
class OptimizerSettings:
    """How a preset is optimised; ``new_layers_lr`` for the head, ``backbone_lr`` for the base."""

    algorithm: str = "adam"  # "adam" or "rmsprop"
    new_layers_lr: float = 1e-3
    backbone_lr: float = 1e-4
    l2: float = 0.0  # on the new layers' kernels (and on every layer of a network built here)
    batch_size: int = 64
    loss: str = "sparse_categorical_crossentropy"  # or "mse" (on one-hot labels)
    lr_decay: str | None = None  # None, "exponential" (per epoch) or "cosine" (to 0 over the run)
    decay_rate: float = 0.9  # per epoch, when lr_decay == "exponential"
    # The rate of the head-only warm-up that precedes fine-tuning a pretrained backbone
    # (new_layers_lr when None); see appliance.trainer.train.fit.
    head_phase_lr: float | None = None


@dataclass(frozen=True)
class Preset:
    """One architecture and its paper's recipe. Change any field with :meth:`with_overrides`."""

    name: str
    description: str
    input_size: tuple[int, int]  # (height, width) the paper used
    scaling: str  # appliance.preprocess scaling of the model's input
    optimizer: OptimizerSettings
    epochs: int
    builder: BuildFn = field(repr=False)
    seed: int = 42
    early_stopping_patience: int | None = None  # on validation loss
    # The paper trains only the new layers on a pretrained backbone. A backbone from scratch is
    # never frozen: a frozen random network is a random feature extractor.
    freeze_backbone: bool = False
    weights_hint: str = ""  # what local ImageNet weights file ``weights=`` expects
    source: str = ""  # the seed paper
    alpha: float = 1.0  # width multiplier (MobileNets only)

    def build(
        self,
        input_size: int | tuple[int, int] | None = None,
        n_classes: int = 2,
        weights: Path | None = None,
    ) -> tuple[keras.Model, keras.Model]:
        """``(model, base)`` for square ``input_size`` or ``(height, width)``; the paper's size
        when None. ``weights`` is a local ImageNet weights file (or folder, see weights_hint)."""
        size = self.input_size if input_size is None else _hw(input_size)
        model, base = self.builder(
            size,
            n_classes,
            None if weights is None else Path(weights),
            l2=self.optimizer.l2,
            alpha=self.alpha,
        )
        if self.freeze_backbone and weights is not None:
            set_trainable(base, False, pretrained=True)
        return model, base

    def is_pretrained(self, weights: Path | None) -> bool:
        """Whether a build with ``weights`` starts from ImageNet (else: from scratch)."""
        return weights is not None

    def with_overrides(self, **changes) -> Preset:
        """A copy with fields changed; optimizer fields (``batch_size``, ``new_layers_lr``, ...)
        may be given directly."""
        opt_fields = {f.name for f in dataclasses.fields(OptimizerSettings)}
        opt = {k: changes.pop(k) for k in list(changes) if k in opt_fields}
        if "input_size" in changes:
            changes["input_size"] = _hw(changes["input_size"])
        if opt:
            changes["optimizer"] = dataclasses.replace(self.optimizer, **opt)
        return dataclasses.replace(self, **changes)

    def loss(self) -> keras.losses.Loss | str:
        """The loss on integer labels (MSE one-hot encodes them, as the ResNet-50 paper did)."""
        if self.optimizer.loss == "mse":
            return SparseMeanSquaredError()
        return self.optimizer.loss

    def make_optimizer(
        self, base: keras.Model, steps_per_epoch: int = 1, epochs: int = 1
    ) -> keras.optimizers.Optimizer:
        """The optimizer with the head's learning rate; ``base``'s variables get backbone_lr."""
        settings = self.optimizer
        lr: float | keras.optimizers.schedules.LearningRateSchedule = settings.new_layers_lr
        if settings.lr_decay == "exponential":
            lr = keras.optimizers.schedules.ExponentialDecay(
                settings.new_layers_lr, max(1, steps_per_epoch), settings.decay_rate
            )
        elif settings.lr_decay == "cosine":
            lr = keras.optimizers.schedules.CosineDecay(
                settings.new_layers_lr, max(1, steps_per_epoch * epochs)
            )
        elif settings.lr_decay is not None:
            raise ValueError(f"unknown lr_decay {settings.lr_decay!r}")
        ratio = settings.backbone_lr / settings.new_layers_lr
        return two_rate_optimizer(settings.algorithm, lr, {v.path for v in base.weights}, ratio)

    def compile(
        self, model: keras.Model, base: keras.Model, steps_per_epoch: int = 1, epochs: int = 1
    ) -> None:
        model.compile(
            optimizer=self.make_optimizer(base, steps_per_epoch, epochs),
            loss=self.loss(),
            metrics=["accuracy"],
        )

    def callbacks(self) -> list[keras.callbacks.Callback]:
        if self.early_stopping_patience is None:
            return []
        return [
            keras.callbacks.EarlyStopping(
                monitor="val_loss",
                patience=self.early_stopping_patience,
                restore_best_weights=True,
            )
        ]


class SparseMeanSquaredError(keras.losses.Loss):
    """MSE between the softmax output and the one-hot label, for integer labels."""

    def __init__(self, name: str = "sparse_mse", **kwargs) -> None:
        super().__init__(name=name, **kwargs)

    def call(self, y_true, y_pred):
        n = keras.ops.shape(y_pred)[-1]
        labels = keras.ops.reshape(keras.ops.cast(y_true, "int32"), (-1,))
        one_hot = keras.ops.one_hot(labels, n)
        return keras.ops.mean(keras.ops.square(one_hot - y_pred), axis=-1)


def two_rate_optimizer(
    name: str, learning_rate, slow_paths: set[str], ratio: float
) -> keras.optimizers.Optimizer:
    """Adam or RMSprop whose variables in ``slow_paths`` move at ``ratio`` times the rate.

    Keras 3 has no per-layer learning rates; the WRN paper uses 0.01 for the new softmax and 0.001
    for the pretrained layers, so the per-variable update is scaled here.
    """
    classes = {"adam": keras.optimizers.Adam, "rmsprop": keras.optimizers.RMSprop}
    if name not in classes:
        raise ValueError(f"unknown optimizer {name!r}; expected one of {sorted(classes)}")

    class TwoRate(classes[name]):
        def update_step(self, gradient, variable, learning_rate):
            # The TF backend passes tf.Variables; map back to the Keras variable for its path.
            keras_variable = self._trainable_variables[self._get_variable_index(variable)]
            if ratio != 1.0 and keras_variable.path in slow_paths:
                learning_rate = learning_rate * ratio
            return super().update_step(gradient, variable, learning_rate)

    return TwoRate(learning_rate=learning_rate)


def set_trainable(base: keras.Model, trainable: bool, pretrained: bool) -> None:
    """(Un)freeze the backbone. BatchNorm stays frozen in a pretrained backbone (its ImageNet
    statistics drift otherwise, shared/README.md) but must learn in one trained from scratch.
    The fixed ImageNet-normalisation adapters never train."""
    base.trainable = trainable
    for layer in _all_layers(base):
        fixed = layer.name.startswith(ADAPTER_PREFIX) or (
            pretrained and isinstance(layer, layers.BatchNormalization)
        )
        layer.trainable = trainable and not fixed


def _all_layers(model: keras.Model):
    for layer in model.layers:
        yield layer
        if isinstance(layer, keras.Model):
            yield from _all_layers(layer)


def _hw(size: int | tuple[int, int] | list[int]) -> tuple[int, int]:
    if isinstance(size, int):
        return (size, size)
    height, width = size
    return (int(height), int(width))


def _adapter(x, mode: str, scaling: str, name: str):
    """A frozen 1x1 convolution mapping the appliance's scaled input to what ImageNet weights of
    ``mode`` ("caffe", "torch" or "tf") expect."""
    unit_scale, unit_shift = (1.0, 0.0) if scaling == "zero_to_one" else (0.5, 0.5)
    matrix = np.zeros((3, 3), np.float32)  # in-channel x out-channel, acting on [0, 1] pixels
    if mode == "torch":
        np.fill_diagonal(matrix, 1.0 / IMAGENET_STD)
        bias = -IMAGENET_MEAN / IMAGENET_STD
    elif mode == "caffe":  # RGB -> BGR, x 255, minus the BGR mean
        for out_channel in range(3):
            matrix[2 - out_channel, out_channel] = 255.0
        bias = -CAFFE_MEAN_BGR
    elif mode == "tf":
        np.fill_diagonal(matrix, 2.0)
        bias = np.full(3, -1.0, np.float32)
    else:
        raise ValueError(f"unknown normalisation {mode!r}")
    # Fold the appliance scaling (x_unit = x * unit_scale + unit_shift) into the same conv.
    kernel = matrix * unit_scale
    bias = bias + unit_shift * matrix.sum(axis=0)
    conv = layers.Conv2D(
        3,
        1,
        name=f"{ADAPTER_PREFIX}_{name}",
        kernel_initializer=keras.initializers.Constant(kernel.reshape(1, 1, 3, 3)),
        bias_initializer=keras.initializers.Constant(bias.astype(np.float32)),
        trainable=False,
    )
    return conv(x)


def _load(base: keras.Model, weights: Path | None) -> None:
    if weights is not None:
        if not Path(weights).is_file():
            raise FileNotFoundError(f"weights file {weights} does not exist")
        base.load_weights(str(weights))


def _dense(units: int, l2: float, name: str, activation: str | None = None) -> layers.Dense:
    reg = keras.regularizers.L2(l2) if l2 else None
    return layers.Dense(units, activation=activation, kernel_regularizer=reg, name=name)


# --- WRN-28-2 -------------------------------------------------------------------------------


def wide_resnet(
    input_shape: tuple[int, int, int], depth: int = 28, width: int = 2, l2: float = 1e-4
) -> keras.Model:
    """Wide ResNet (Zagoruyko & Komodakis 2016), pre-activation, no top, globally pooled.
    ``depth = 6n + 4``; widths 16k, 32k, 64k over three groups of n blocks."""
    if (depth - 4) % 6:
        raise ValueError("WRN depth must be 6n + 4")
    blocks = (depth - 4) // 6
    reg = keras.regularizers.L2(l2) if l2 else None

    def conv(filters, kernel, stride, name):
        return layers.Conv2D(
            filters,
            kernel,
            stride,
            padding="same",
            use_bias=False,
            kernel_initializer="he_normal",
            kernel_regularizer=reg,
            name=name,
        )

    inputs = keras.Input(input_shape)
    x = conv(16, 3, 1, "conv0")(inputs)
    for group, filters in enumerate((16 * width, 32 * width, 64 * width)):
        for block in range(blocks):
            stride = 2 if group > 0 and block == 0 else 1
            tag = f"g{group}b{block}"
            pre = layers.ReLU(name=f"{tag}_relu1")(layers.BatchNormalization(name=f"{tag}_bn1")(x))
            shortcut = x
            if stride != 1 or x.shape[-1] != filters:
                shortcut = conv(filters, 1, stride, f"{tag}_proj")(pre)
            y = conv(filters, 3, stride, f"{tag}_conv1")(pre)
            y = layers.ReLU(name=f"{tag}_relu2")(layers.BatchNormalization(name=f"{tag}_bn2")(y))
            y = conv(filters, 3, 1, f"{tag}_conv2")(y)
            x = layers.Add(name=f"{tag}_add")([shortcut, y])
    x = layers.ReLU(name="final_relu")(layers.BatchNormalization(name="final_bn")(x))
    x = layers.GlobalAveragePooling2D(name="final_pool")(x)
    return keras.Model(inputs, x, name=f"wrn_{depth}_{width}")


def _build_wrn(size, n_classes, weights, *, l2: float = 1e-4, **_):
    base = wide_resnet((*size, 3), 28, 2, l2)
    _load(base, weights)
    inputs = keras.Input((*size, 3), name="image")
    x = _adapter(inputs, "torch", "zero_to_one", "wrn")
    x = base(x, training=False) if weights is not None else base(x)
    outputs = _dense(n_classes, l2, "probabilities", "softmax")(x)
    return keras.Model(inputs, outputs, name="wrn_28_2_classifier"), base


# --- ResNet-50 (BreakHis, FC 1024 + dropout 0.4) --------------------------------------------


def _build_resnet50(size, n_classes, weights, *, l2: float = 0.0, **_):
    base = keras.applications.ResNet50(
        include_top=False, weights=None, input_shape=(*size, 3), pooling="avg"
    )
    _load(base, weights)
    inputs = keras.Input((*size, 3), name="image")
    x = _adapter(inputs, "caffe", "zero_to_one", "resnet50")
    x = base(x, training=False) if weights is not None else base(x)
    x = _dense(1024, l2, "fc1024", "relu")(x)
    x = layers.Dropout(0.4, name="dropout")(x)
    outputs = _dense(n_classes, l2, "probabilities", "softmax")(x)
    return keras.Model(inputs, outputs, name="resnet50_classifier"), base


# --- ResNet152V2 + the ICIAR paper's head (Table II) ----------------------------------------


def _build_resnet152v2_head(size, n_classes, weights, *, l2: float = 0.0, **_):
    base = keras.applications.ResNet152V2(include_top=False, weights=None, input_shape=(*size, 3))
    _load(base, weights)
    inputs = keras.Input((*size, 3), name="image")  # minus_one_to_one = the "tf" mode of V2
    x = base(inputs, training=False)
    x = layers.Conv2D(64, 1, activation="relu", name="head_conv64")(x)
    x = layers.MaxPooling2D(2, padding="same", name="head_pool")(x)
    x = layers.Conv2D(32, 1, activation="relu", name="head_conv32")(x)
    x = layers.Conv2D(64, 1, activation="relu", name="head_conv64b")(x)
    x = _dense(32, l2, "head_dense32", "relu")(x)
    x = _dense(64, l2, "head_dense64", "relu")(x)
    x = layers.Flatten(name="head_flatten")(x)
    outputs = _dense(n_classes, l2, "probabilities", "softmax")(x)
    return keras.Model(inputs, outputs, name="resnet152v2_head_classifier"), base


# --- Multi-scale fusion: DenseNet201 + NASNetMobile + ResNet101 -----------------------------

MULTISCALE_WEIGHTS = {
    "densenet201": "densenet201.weights.h5",
    "nasnetmobile": "nasnetmobile.weights.h5",
    "resnet101": "resnet101.weights.h5",
}


def _build_multiscale(size, n_classes, weights, *, l2: float = 0.0, **_):
    """``weights`` is a folder holding the three files named in MULTISCALE_WEIGHTS."""
    shape = (*size, 3)
    backbones = {
        "densenet201": (keras.applications.DenseNet201, "torch"),
        "nasnetmobile": (keras.applications.NASNetMobile, "tf"),
        "resnet101": (keras.applications.ResNet101, "caffe"),
    }
    inputs = keras.Input(shape, name="image")
    pooled = []
    for name, (factory, mode) in backbones.items():
        net = factory(include_top=False, weights=None, input_shape=shape, pooling="avg", name=name)
        if weights is not None:
            _load(net, Path(weights) / MULTISCALE_WEIGHTS[name])
        x = _adapter(inputs, mode, "zero_to_one", name)
        pooled.append(net(x, training=False) if weights is not None else net(x))
    base = keras.Model(inputs, layers.Concatenate(name="fused")(pooled), name="multiscale_base")
    image = keras.Input(shape, name="image")
    x = base(image, training=False) if weights is not None else base(image)
    x = layers.Dropout(0.2, name="dropout_0.2")(x)
    x = layers.BatchNormalization(name="head_bn1")(x)
    x = _dense(128, l2, "dense128", "relu")(x)
    x = layers.Dropout(0.4, name="dropout_0.4")(x)
    x = layers.BatchNormalization(name="head_bn2")(x)
    outputs = _dense(n_classes, l2, "probabilities", "softmax")(x)
    return keras.Model(image, outputs, name="multiscale_classifier"), base


# --- MobileNets (the existing Pi-sized builders) --------------------------------------------


def _mobilenet(backbone: str) -> BuildFn:
    def build(size, n_classes, weights, *, alpha: float = 1.0, **_):
        if size[0] != size[1]:
            raise ValueError(f"{backbone} is built square here; got {size}")
        return build_classifier(backbone, size[0], n_classes, alpha, weights)

    return build


MOBILENET_OPTIMIZER = OptimizerSettings(
    "adam", 1e-4, 1e-4, 0.0, 64, lr_decay="cosine", head_phase_lr=1e-3
)

PRESETS: dict[str, Preset] = {
    p.name: p
    for p in (
        Preset(
            name="wrn-28-2",
            description="Wide ResNet 28-2, new 2-class softmax; Adam 0.01 new / 0.001 rest,"
            " L2 1e-4, batch 32, 100 epochs, seed 42 (BreakHis, deployed int8 on a Pi 4)",
            input_size=(224, 224),
            scaling="zero_to_one",
            optimizer=OptimizerSettings("adam", 1e-2, 1e-3, 1e-4, 32),
            epochs=100,
            builder=_build_wrn,
            weights_hint="a .weights.h5 for wide_resnet(depth 28, width 2), ImageNet-normalised",
            source="seeds/000",
        ),
        Preset(
            name="resnet50",
            description="ResNet-50 + FC 1024 + dropout 0.4 + softmax (BreakHis; paper input"
            " 144x96). Variant: resnet50-mse-rmsprop",
            input_size=(96, 144),
            scaling="zero_to_one",
            optimizer=OptimizerSettings("adam", 1e-4, 1e-4, 0.0, 32),
            epochs=30,
            builder=_build_resnet50,
            weights_hint="resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
            source="seeds/002, seeds/003",
        ),
        Preset(
            name="resnet50-mse-rmsprop",
            description="the ResNet-50 paper's variant: same network, MSE loss on one-hot"
            " labels, RMSprop",
            input_size=(96, 144),
            scaling="zero_to_one",
            optimizer=OptimizerSettings("rmsprop", 1e-4, 1e-4, 0.0, 32, loss="mse"),
            epochs=30,
            builder=_build_resnet50,
            weights_hint="resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5",
            source="seeds/002, seeds/003",
        ),
        Preset(
            name="resnet152v2-head",
            description="frozen ResNet152V2 at 256 px + Conv64/MaxPool/Conv32/Conv64/Dense32/"
            "Dense64/Flatten/Dense head; Adam 1e-4, batch 128, 25 epochs (ICIAR 2018, 4 class)",
            input_size=(256, 256),
            scaling="minus_one_to_one",
            optimizer=OptimizerSettings("adam", 1e-4, 1e-4, 0.0, 128),
            epochs=25,
            builder=_build_resnet152v2_head,
            freeze_backbone=True,
            weights_hint="resnet152v2_weights_tf_dim_ordering_tf_kernels_notop.h5",
            source="seeds/001",
        ),
        Preset(
            name="multiscale",
            description="DenseNet201 + NASNetMobile + ResNet101, pooled and fused; dropout 0.2/"
            "BN/Dense 128/dropout 0.4/BN/softmax; Adam 1e-4, batch 64, early stopping 10,"
            " exponential decay (BreakHis binary, ICIAR 4 class)",
            input_size=(224, 224),
            scaling="zero_to_one",
            optimizer=OptimizerSettings(
                "adam", 1e-4, 1e-4, 0.0, 64, lr_decay="exponential", decay_rate=0.9
            ),
            epochs=50,
            builder=_build_multiscale,
            early_stopping_patience=10,
            freeze_backbone=True,
            weights_hint="a folder with " + ", ".join(MULTISCALE_WEIGHTS.values()),
            source="seeds/004",
        ),
        Preset(
            name="mobilenetv2",
            description="MobileNetV2 alpha 1.0 + dropout + softmax: the shipped Pi-sized model",
            input_size=(96, 96),
            scaling="minus_one_to_one",
            # The shipped recipe: 2 head epochs at 1e-3, then everything (BatchNorm excepted)
            # at 1e-4 with cosine decay for 10 epochs.
            optimizer=MOBILENET_OPTIMIZER,
            epochs=10,
            builder=_mobilenet("mobilenetv2"),
            weights_hint="shared/weights/keras-imagenet/mobilenet_v2_*.h5 (matching alpha)",
        ),
        Preset(
            name="mobilenetv3small",
            description="MobileNetV3-Small 1.0 + dropout + softmax: the smallest Pi backbone",
            input_size=(96, 96),
            scaling="minus_one_to_one",
            optimizer=MOBILENET_OPTIMIZER,
            epochs=10,
            builder=_mobilenet("mobilenetv3small"),
            weights_hint="shared/weights/keras-imagenet/mobilenet_v3_small_*.weights.h5",
        ),
    )
}


def get_preset(name: str, **overrides) -> Preset:
    """The named preset, with any field overridden (see :meth:`Preset.with_overrides`)."""
    if name not in PRESETS:
        raise ValueError(f"unknown preset {name!r}; expected one of {', '.join(PRESETS)}")
    preset = PRESETS[name]
    return preset.with_overrides(**overrides) if overrides else preset


def build_preset(
    name: str,
    input_size: int | tuple[int, int] | None = None,
    n_classes: int = 2,
    weights: Path | None = None,
) -> tuple[keras.Model, keras.Model]:
    """Shortcut: ``PRESETS[name].build(...)``."""
    return get_preset(name).build(input_size, n_classes, weights)
