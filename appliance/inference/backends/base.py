"""The interpreter interface every TFLite backend implements, and the parts they all share.

The three interpreters the appliance can use (LiteRT, tflite-runtime, TensorFlow's own) expose the
same ``Interpreter`` API; they differ only in where it is imported from and how fast it is. So a
backend supplies one thing, :meth:`Backend._make_interpreter`, and this class does the rest once:
quantising the preprocessed input, dequantising the output, and batching. Keeping that logic in
one place means every backend returns the same numbers for the same model.
"""

from __future__ import annotations

import importlib
import logging
import os
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from appliance.errors import BackendUnavailable, ModelRejected

log = logging.getLogger(__name__)

# Availability is probed once per backend name: the answer cannot change while the process runs.
_AVAILABILITY: dict[str, bool] = {}
# XNNPACK's int8 kernels stop gaining beyond the Pi 4's four cores for models this small.
MAX_DEFAULT_THREADS = 4


def usable_cores() -> int:
    """CPUs this process may run on (a container or ``taskset`` may allow fewer than exist)."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def default_threads() -> int:
    """Interpreter threads when nobody chose: every usable core, at most four (a Pi 4's).

    XNNPACK splits each convolution over its threads, and the appliance has nothing else to run
    meanwhile except the image reader, which spends its time in Pillow and numpy with the GIL
    released. Measured here (a 2-core x86 shared with other jobs, load 5): 1 and 2 threads gave
    the same 23-38 ms per 8-view patch within noise, so this machine cannot settle it;
    ``bench/`` times 1/2/4 threads on a quiet Pi and the config's ``num_threads`` overrides."""
    return min(MAX_DEFAULT_THREADS, usable_cores())


class Backend(ABC):
    """One loaded ``.tflite`` model behind one interpreter.

    ``predict`` takes float32 images already prepared by :func:`appliance.preprocess.preprocess`
    and returns the model's output as float32, dequantised but otherwise untouched: the models
    end in a softmax, so the output already is a probability vector.

    A model may expose more outputs after the probabilities: inner activations added by the
    trainer (:mod:`appliance.trainer.feature_outputs`). They carry no decision; the scope gate
    measures how far an input lies from the training tissue in that space.
    :meth:`predict_with_features` returns them dequantised and concatenated; an activation map
    ``(n, h, w, c)`` is reduced to its per-channel mean and standard deviation (the "style"
    statistics that carry stain, texture and scale), a vector ``(n, c)`` is taken as it is.
    """

    name: ClassVar[str]
    #: The module whose import tells whether this backend is installed.
    module: ClassVar[str]

    def __init__(self, model_path: Path, num_threads: int | None = None) -> None:
        self.model_path = Path(model_path)
        self.num_threads = num_threads or default_threads()
        self._interpreter = self._load()
        inputs = self._interpreter.get_input_details()
        outputs = self._interpreter.get_output_details()
        if (
            len(inputs) != 1
            or not outputs
            or len(outputs[0]["shape"]) != 2
            or any(len(o["shape"]) not in (2, 4) for o in outputs[1:])
        ):
            raise ModelRejected(
                f"the model {self.model_path.name} has {len(inputs)} inputs and {len(outputs)}"
                " outputs; the appliance runs image classifiers with one input and a probability"
                " output of shape (batch, classes), optionally followed by feature outputs"
            )
        self._input = inputs[0]
        self._output = outputs[0]
        self._features = outputs[1:]
        self._batch = int(self._input["shape"][0])
        self._resizable = True

    @classmethod
    def available(cls) -> bool:
        """Whether this backend's interpreter can be imported here (probed once, then cached)."""
        if cls.name not in _AVAILABILITY:
            _AVAILABILITY[cls.name] = cls._probe()
        return _AVAILABILITY[cls.name]

    @classmethod
    def _probe(cls) -> bool:
        try:
            importlib.import_module(cls.module)
        except Exception:  # a broken install (e.g. a numpy ABI mismatch) counts as absent
            log.debug("backend %s unavailable", cls.name, exc_info=True)
            return False
        return True

    @staticmethod
    @abstractmethod
    def _make_interpreter(model_path: Path, num_threads: int) -> Any:
        """Create (not allocate) this backend's ``Interpreter`` for ``model_path``."""

    @property
    def input_shape(self) -> tuple[int, ...]:
        """The model's input shape with batch size 1, e.g. ``(1, 96, 96, 3)``."""
        return (1, *(int(d) for d in self._input["shape"][1:]))

    @property
    def input_dtype(self) -> np.dtype:
        return np.dtype(self._input["dtype"])

    @property
    def output_classes(self) -> int:
        return int(self._output["shape"][-1])

    @property
    def feature_size(self) -> int:
        """Width of the concatenated feature outputs; 0 when the model has none."""
        return sum(
            int(o["shape"][-1]) * (2 if len(o["shape"]) == 4 else 1) for o in self._features
        )

    def predict(self, batch: np.ndarray, scaling: str) -> np.ndarray:
        """Return float32 outputs of shape ``(n, classes)`` for a float32 ``(n, h, w, c)`` batch."""
        return self.predict_with_features(batch, scaling)[0]

    def predict_with_features(
        self, batch: np.ndarray, scaling: str
    ) -> tuple[np.ndarray, np.ndarray]:
        """Probabilities ``(n, classes)`` and features ``(n, feature_size)``, both float32."""
        return self.predict_quantised(self.quantise(batch, scaling))

    def quantise(self, batch: np.ndarray, scaling: str) -> np.ndarray:
        """Float32 model inputs ``(n, h, w, c)`` → the input tensor's dtype.

        Public so a caller can quantise a batch once and then build its test-time views from
        the integers (rotations and mirrors only move values, so the result is the same as
        quantising every view, at an eighth of the work and a quarter of the memory)."""
        self._check_shape(batch)
        return self._quantise(batch, scaling)

    def predict_quantised(self, quantised: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Like :meth:`predict_with_features` for input already in the tensor's dtype."""
        self._check_shape(quantised)
        if len(quantised) == 0:
            return (
                np.zeros((0, self.output_classes), np.float32),
                np.zeros((0, self.feature_size), np.float32),
            )
        if self._resizable and self._resize(len(quantised)):
            return self._invoke(quantised)
        self._resize(1)
        rows = [self._invoke(one[None]) for one in quantised]
        return (
            np.concatenate([probabilities for probabilities, _ in rows]),
            np.concatenate([features for _, features in rows]),
        )

    # -- shared internals ------------------------------------------------------------------

    def _check_shape(self, batch: np.ndarray) -> None:
        expected = self.input_shape[1:]
        if batch.ndim != 4 or tuple(batch.shape[1:]) != expected:
            raise ValueError(f"batch shape {batch.shape} does not match the model input {expected}")

    def _load(self) -> Any:
        try:
            interpreter = self._make_interpreter(self.model_path, self.num_threads)
            interpreter.allocate_tensors()
        except ImportError as exc:
            raise BackendUnavailable(
                f"the '{self.name}' interpreter is not installed ({exc})"
            ) from exc
        except (ValueError, RuntimeError, OSError) as exc:
            raise ModelRejected(
                f"the model file could not be loaded by {self.name}: {exc}"
                " — reinstall the model bundle"
            ) from exc
        return interpreter

    def _quantise(self, batch: np.ndarray, scaling: str) -> np.ndarray:
        """Float input → the input tensor's dtype.

        A ``raw`` uint8 model (e.g. Google's quantised MobileNets) takes pixel values as its
        quantised input, so they are cast directly; an int8 model with ``raw`` scaling takes them
        shifted by -128, the same shift TFLite applies when it turns a uint8 interface into int8.
        Otherwise ``q = round(x / scale + zero_point)``, clipped to the dtype's range.
        """
        dtype = self.input_dtype
        if not np.issubdtype(dtype, np.integer):
            return batch.astype(dtype, copy=False)
        info = np.iinfo(dtype)
        if scaling == "raw":
            values = np.rint(batch) - (128 if dtype == np.int8 else 0)
        else:
            scale, zero_point = self._input["quantization"]
            if not scale:
                raise ModelRejected(
                    f"the model's {dtype} input has no quantisation parameters; re-export it"
                )
            values = np.rint(batch / np.float32(scale) + np.float32(zero_point))
        return np.clip(values, info.min, info.max).astype(dtype)

    @staticmethod
    def _dequantise(raw: np.ndarray, detail: dict[str, Any]) -> np.ndarray:
        """Integer output → ``(q - zero_point) * scale``; float output is returned as float32."""
        scale, zero_point = detail["quantization"]
        if np.issubdtype(raw.dtype, np.integer) and scale:
            return (raw.astype(np.float32) - np.float32(zero_point)) * np.float32(scale)
        return raw.astype(np.float32)

    def _resize(self, size: int) -> bool:
        """Make the interpreter take batches of ``size``; False if the model cannot.

        Models with a fixed batch of 1 (a hard-coded Reshape, or XNNPACK refusing to re-plan)
        fail here; the interpreter is then rebuilt at batch 1 and later batches run one by one.
        """
        if size == self._batch:
            return True
        try:
            shape = [size, *self.input_shape[1:]]
            self._interpreter.resize_tensor_input(self._input["index"], shape)
            self._interpreter.allocate_tensors()
            output_shape = tuple(self._interpreter.get_output_details()[0]["shape"])
            if output_shape != (size, self.output_classes):
                raise RuntimeError(f"output shape {output_shape} after resizing")
        except (ValueError, RuntimeError) as exc:
            log.info("%s: batch size %d unsupported (%s); running one by one", self.name, size, exc)
            self._resizable = False
            self._interpreter = self._load()
            self._batch = 1
            return size == 1
        self._batch = size
        return True

    def _invoke(self, quantised: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        interpreter = self._interpreter
        interpreter.set_tensor(self._input["index"], quantised)
        interpreter.invoke()
        output = interpreter.get_tensor(self._output["index"])
        probabilities = self._dequantise(output, self._output)
        features = [
            _pooled(self._dequantise(interpreter.get_tensor(detail["index"]), detail))
            for detail in self._features
        ]
        if not features:
            return probabilities, np.zeros((len(probabilities), 0), np.float32)
        return probabilities, np.concatenate(features, axis=1)


def _pooled(values: np.ndarray) -> np.ndarray:
    """``(n, c)`` as it is; ``(n, h, w, c)`` as per-channel mean and standard deviation."""
    if values.ndim == 2:
        return values
    return np.concatenate([values.mean(axis=(1, 2)), values.std(axis=(1, 2))], axis=1)
