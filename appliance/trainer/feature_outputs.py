"""Expose some of a model's inner activations as extra outputs, without touching its answers.

The scope gate (:mod:`appliance.scope`) measures how far an input lies from the training tissue
in the model's own feature space. A converted TFLite model computes those activations anyway;
they are only not listed among the graph's outputs. This adds them to the output list of the
flatbuffer, after the probabilities: no weight, op or quantisation parameter changes, so the
probability output stays bit-identical (:func:`check_same_answers` proves it on the file at
hand) and the card's metrics stay valid.

Which activations: measured on this project's model (docs/reliability.md), the pooled features
the heads read separate photographs or other magnifications from tissue poorly (AUROC 0.6-0.85
per 50-px tile: fine-tuning on two classes collapses what the last layer keeps), while the
mid-network blocks of MobileNetV2 (``block_5_add`` at 12x12, ``block_9_add`` at 6x6), reduced to
per-channel mean and standard deviation, separate them far better (0.95-0.99). So the default
is those two blocks of the first member, and :func:`head_features` is the fallback for other
architectures.

Trainer-side only: it reads the flatbuffer with TensorFlow's ``flatbuffer_utils``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

# TFLite builtin operator code of FULLY_CONNECTED (tensorflow/lite/schema/schema.fbs).
_FULLY_CONNECTED = 9


def _flatbuffer_utils():
    from tensorflow.lite.tools import flatbuffer_utils

    return flatbuffer_utils


def head_features(model) -> list[int]:
    """Indices of the rank-2 tensors that feed the model's dense (fully connected) heads.

    In a Keras classifier these are the pooled backbone features, one per ensemble member, in
    graph order. Tensors that are already graph inputs are left out.
    """
    subgraph = model.subgraphs[0]
    codes = [max(code.builtinCode, code.deprecatedBuiltinCode) for code in model.operatorCodes]
    found: list[int] = []
    for op in subgraph.operators:
        if codes[op.opcodeIndex] != _FULLY_CONNECTED:
            continue
        index = int(op.inputs[0])
        shape = list(subgraph.tensors[index].shape)
        if len(shape) == 2 and index not in list(subgraph.inputs) and index not in found:
            found.append(index)
    return found


#: Tensor-name fragments of the default feature blocks (MobileNetV2, first match each).
MOBILENETV2_BLOCKS = ("block_5_add", "block_9_add")


def named_tensors(model, fragments: tuple[str, ...]) -> list[int]:
    """The first tensor (in graph order) whose name contains each fragment."""
    tensors = model.subgraphs[0].tensors
    found = []
    for fragment in fragments:
        match = next((i for i, t in enumerate(tensors) if fragment in t.name.decode()), None)
        if match is None:
            raise ValueError(f"no tensor named like {fragment!r} in the model")
        found.append(match)
    return found


def add_feature_outputs(
    source: Path, destination: Path, fragments: tuple[str, ...] | None = MOBILENETV2_BLOCKS
) -> list[str]:
    """Write ``source`` to ``destination`` with feature tensors as extra outputs.

    ``fragments`` name the tensors (see :func:`named_tensors`); None takes the heads' inputs
    (:func:`head_features`). Returns the names added; a model that already has extra outputs
    is copied unchanged.
    """
    utils = _flatbuffer_utils()
    model = utils.read_model(str(source))
    subgraph = model.subgraphs[0]
    outputs = [int(i) for i in subgraph.outputs]
    if len(outputs) > 1:
        destination.write_bytes(Path(source).read_bytes())
        return []
    chosen = head_features(model) if fragments is None else named_tensors(model, fragments)
    added = [index for index in chosen if index not in outputs]
    if not added:
        raise ValueError(f"{source} has no tensor that could serve as features")
    subgraph.outputs = np.array(outputs + added, dtype=np.int32)
    utils.write_model(model, str(destination))
    return [subgraph.tensors[i].name.decode() for i in added]


def check_same_answers(original: Path, extended: Path, samples: np.ndarray) -> None:
    """Raise unless both files give bit-identical probabilities on ``samples`` (int8 inputs)."""
    from ai_edge_litert.interpreter import Interpreter

    answers = []
    for path in (original, extended):
        interpreter = Interpreter(model_path=str(path), num_threads=1)
        detail = interpreter.get_input_details()[0]
        interpreter.resize_tensor_input(detail["index"], list(samples.shape))
        interpreter.allocate_tensors()
        interpreter.set_tensor(detail["index"], samples)
        interpreter.invoke()
        answers.append(interpreter.get_tensor(interpreter.get_output_details()[0]["index"]))
    if not np.array_equal(*answers):
        raise AssertionError(f"{extended} answers differently from {original}")
