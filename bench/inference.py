"""Per-pass latency of the shipped model and of each seed preset's int8 export, under every
interpreter, at several thread counts; plus the float Keras model; and each model's MACs.

Every interpreter runs in a child process (:mod:`bench.runner`): LiteRT and ``tf.lite`` with the
dev venv's python, tflite-runtime 2.14 with its own venv's (it needs numpy < 2), created under
``build/bench/venv-tflite-runtime`` on first use (that one step needs PyPI). Medians and p95 are
over ``runs`` passes after ``warmup`` passes; ``ratio`` is a row's median over the fastest median
of the same model.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import venv
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from bench.data import SHARED

ROOT = Path(__file__).resolve().parent.parent
BUILD = ROOT / "build" / "bench"
TFLITE_RUNTIME_VENV = BUILD / "venv-tflite-runtime"
TFLITE_RUNTIME_PINS = ("tflite-runtime==2.14.0", "numpy<2")
SHIPPED = ROOT / "models" / "idc-mobilenetv2"
REFERENCE = SHARED / "weights" / "tflite-imagenet"
REFERENCE_FILES = {
    "ref MobileNetV2 1.0 224 quant (uint8)": "mobilenet_v2_1.0_224_quant.tflite",
    # The anchor of the Pi estimate (bench.pi): per-channel int8, as in XNNPACK's Pi table.
    "ref MobileNetV2 1.0 224 ptq (int8)": "tf2_mobilenet_v2_1.0_224_ptq.tflite",
}


@dataclass(frozen=True)
class Subject:
    """One model file to time, and what it is."""

    label: str
    path: Path
    kind: str  # "shipped", "preset", "reference"


@dataclass(frozen=True)
class LatencyRow:
    model: str
    interpreter: str
    version: str
    threads: int
    median_ms: float
    p95_ms: float
    load_ms: float
    ratio: float  # median / fastest median of the same model


@dataclass(frozen=True)
class ModelOps:
    """Multiply-accumulates of one pass (batch 1), counted from the .tflite graph."""

    model: str
    input_shape: tuple[int, ...]
    macs: int
    file_mb: float


def shipped_subject() -> Subject:
    card = json.loads((SHIPPED / "card.json").read_text())
    return Subject(f"{card['name']} {card['version']} (shipped)", SHIPPED / card["file"], "shipped")


def reference_subjects() -> list[Subject]:
    return [
        Subject(label, REFERENCE / name, "reference")
        for label, name in REFERENCE_FILES.items()
        if (REFERENCE / name).exists()
    ]


def preset_subjects(names: list[str] | None, log) -> list[Subject]:
    """Each preset's cached int8 export (built on first use by :mod:`bench.presets_export`)."""
    command = [sys.executable, "-m", "bench.presets_export", str(BUILD / "presets"), *(names or [])]
    log("presets: building/reusing int8 exports under build/bench/presets (first run: minutes)")
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:  # e.g. on a Pi without TensorFlow: time the files copied there
        log("presets: export failed: " + " | ".join(done.stderr.strip().splitlines()[-2:]))
        cached = sorted((BUILD / "presets").glob("*.tflite"))
        log(f"presets: timing the {len(cached)} cached exports in build/bench/presets instead")
        return [
            Subject(f"preset {p.stem.rsplit('-', 1)[0]} {p.stem.rsplit('-', 1)[1]}", p, "preset")
            for p in cached
        ]
    exported = json.loads(done.stdout.strip().splitlines()[-1])
    subjects = []
    for name, info in exported.items():
        if info["same_as"]:
            log(f"presets: {name} has the architecture of {info['same_as']} (timed once)")
            continue
        h, w = info["input_size"]
        subjects.append(Subject(f"preset {name} {h}x{w}", Path(info["file"]), "preset"))
    return subjects


def tflite_runtime_python(log, create: bool = True) -> Path | None:
    """The python of the tflite-runtime venv, created on first use; None if impossible."""
    python = TFLITE_RUNTIME_VENV / "bin" / "python"
    if python.exists():
        return python
    if not create:
        return None
    pins = " ".join(TFLITE_RUNTIME_PINS)
    log(f"tflite-runtime: creating {TFLITE_RUNTIME_VENV} (pip install {pins})")
    venv.create(TFLITE_RUNTIME_VENV, with_pip=True)
    pip = [str(python), "-m", "pip", "install", "-q", *TFLITE_RUNTIME_PINS]
    done = subprocess.run(pip, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        log("tflite-runtime: install failed (offline?): " + done.stderr.strip()[-200:])
        return None
    return python


def run_runner(
    python: Path | str, interpreter: str, subjects, threads, runs, warmup, budget_s: float = 10.0
) -> dict:
    command = [
        str(python),
        str(ROOT / "bench" / "runner.py"),
        "--interpreter",
        interpreter,
        "--threads",
        *map(str, threads),
        "--runs",
        str(runs),
        "--warmup",
        str(warmup),
        "--budget-s",
        str(budget_s),
        *(str(s.path) for s in subjects),
    ]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        return {"interpreter": interpreter, "error": done.stderr.strip()[-300:]}
    return json.loads(done.stdout)


def run_keras(model: Path, threads: list[int], runs: int, warmup: int) -> list[dict]:
    outputs = []
    for count in threads:
        command = [
            sys.executable,
            "-m",
            "bench.keras_runner",
            str(model),
            "--threads",
            str(count),
            "--runs",
            str(runs),
            "--warmup",
            str(warmup),
        ]
        done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
        if done.returncode == 0:
            outputs.append(json.loads(done.stdout))
        else:
            outputs.append({"interpreter": "keras float32", "error": done.stderr.strip()[-300:]})
    return outputs


def to_rows(outputs: list[dict], labels: dict[str, str], log) -> list[LatencyRow]:
    """Rows with medians, p95 and the ratio to the fastest row of the same model."""
    raw = []
    for output in outputs:
        if "error" in output:
            log(f"{output['interpreter']}: {output['error']}")
            continue
        for row in output["rows"]:
            if "error" in row:
                log(f"{output['interpreter']} {row['model']}: {row['error']}")
                continue
            samples = row["samples_ms"]
            raw.append(
                (
                    labels.get(row["model"], row["model"]),
                    output["interpreter"],
                    output.get("version", ""),
                    row["threads"],
                    statistics.median(samples),
                    float(np.percentile(samples, 95)),
                    row["load_ms"],
                )
            )
    fastest: dict[str, float] = {}
    for model, *_, median, _p95, _load in raw:
        fastest[model] = min(fastest.get(model, float("inf")), median)
    return [
        LatencyRow(m, i, v, t, med, p95, load, med / fastest[m])
        for m, i, v, t, med, p95, load in raw
    ]


def count_macs(subject: Subject) -> ModelOps:
    """MACs of CONV_2D, DEPTHWISE_CONV_2D and FULLY_CONNECTED at batch 1 (the rest is noise)."""
    from ai_edge_litert.interpreter import Interpreter, OpResolverType

    interpreter = Interpreter(
        model_path=str(subject.path),
        experimental_op_resolver_type=OpResolverType.BUILTIN_WITHOUT_DEFAULT_DELEGATES,
    )
    interpreter.allocate_tensors()
    details = interpreter.get_tensor_details()
    shapes = {t["index"]: tuple(int(d) for d in t["shape"]) for t in details}
    macs = 0
    for op in interpreter._get_ops_details():  # the graph, before any delegate
        name, inputs, outputs = op["op_name"], op["inputs"], op["outputs"]
        if name not in ("CONV_2D", "DEPTHWISE_CONV_2D", "FULLY_CONNECTED"):
            continue
        out = int(np.prod(shapes[int(outputs[0])]))
        weights = shapes[int(inputs[1])]
        if name == "CONV_2D":  # (out_ch, kh, kw, in_ch)
            macs += out * weights[1] * weights[2] * weights[3]
        elif name == "DEPTHWISE_CONV_2D":  # (1, kh, kw, out_ch)
            macs += out * weights[1] * weights[2]
        else:  # (out, in)
            macs += out * weights[1]
    shape = tuple(int(d) for d in interpreter.get_input_details()[0]["shape"])
    return ModelOps(subject.label, shape, macs, subject.path.stat().st_size / 2**20)
