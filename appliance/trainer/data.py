"""Datasets as lists of labelled files, split by patient, loaded with the appliance's preprocessing.

Patches of one patient are strongly correlated, so every split here is patient-wise (invariant 6):
no patient ever has files on both sides of a split.
"""

from __future__ import annotations

import csv
import random
import re
import warnings
from collections import defaultdict
from collections.abc import Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from PIL import Image

from appliance.preprocess import Scaling, preprocess
from appliance.stain import StainSpec, as_normalizer

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}
# IDC file names: <patient>_idx5_x<X>_y<Y>_class<label>.png
IDC_NAME = re.compile(
    r"^(?P<patient>\d+)_idx\d+_x(?P<x>\d+)_y(?P<y>\d+)_class(?P<label>[01])\.png$"
)


@dataclass(frozen=True)
class Sample:
    """One labelled image: its file, its class index and the patient it came from."""

    path: Path
    label: int
    patient: str


@dataclass(frozen=True)
class Split:
    train: list[Sample]
    validation: list[Sample]
    test: list[Sample]

    def summary(self) -> dict[str, dict[str, int]]:
        return {name: describe(part) for name, part in self.parts().items()}

    def parts(self) -> dict[str, list[Sample]]:
        return {"train": self.train, "validation": self.validation, "test": self.test}


def describe(samples: Sequence[Sample]) -> dict[str, int]:
    positives = sum(s.label for s in samples)
    return {
        "images": len(samples),
        "patients": len({s.patient for s in samples}),
        "positive": positives,
        "negative": len(samples) - positives,
    }


def load_idc(root: Path) -> list[Sample]:
    """The Breast Histopathology Images (IDC) layout: ``<patient>/<0|1>/<name>.png``.

    Uses ``manifest.tsv`` when present (it is the authoritative list); otherwise walks the tree
    and reads patient and label from each file name.
    """
    root = Path(root)
    manifest = root / "manifest.tsv"
    samples: list[Sample] = []
    if manifest.exists():
        with manifest.open(newline="") as handle:
            for row in csv.DictReader(handle, delimiter="\t"):
                samples.append(Sample(root / row["file"], int(row["label"]), str(row["patient"])))
    else:
        for path in sorted(root.rglob("*.png")):
            match = IDC_NAME.match(path.name)
            if match:
                samples.append(Sample(path, int(match["label"]), match["patient"]))
    if not samples:
        raise FileNotFoundError(f"no IDC patches found under {root}")
    return samples


def load_class_folders(
    root: Path, classes: Sequence[str], patient_pattern: str = r"^(?P<patient>[^_]+)_"
) -> list[Sample]:
    """A generic layout: ``<root>/<class name>/**/<image>``; the class index is its position in
    ``classes``. The patient comes from the file name through ``patient_pattern`` (a regex with a
    ``patient`` group); files it does not match are refused rather than silently split image-wise.
    """
    pattern = re.compile(patient_pattern)
    samples: list[Sample] = []
    for index, name in enumerate(classes):
        folder = Path(root) / name
        if not folder.is_dir():
            raise FileNotFoundError(f"class folder {folder} does not exist")
        for path in sorted(folder.rglob("*")):
            if path.suffix.lower() not in IMAGE_SUFFIXES or path.name.startswith("."):
                continue
            match = pattern.search(path.name)
            if not match:
                raise ValueError(
                    f"cannot find a patient id in {path.name!r} with pattern {patient_pattern!r}"
                )
            samples.append(Sample(path, index, match["patient"]))
    if not samples:
        raise FileNotFoundError(f"no images found under {root} for classes {list(classes)}")
    return samples


def patient_split(
    samples: Sequence[Sample],
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    seed: int = 42,
) -> Split:
    """Split by patient into train/validation/test, stratified by each patient's share of
    positive images so that every part sees tumour-rich and tumour-poor patients."""
    rng = random.Random(seed)
    by_patient = _group_by_patient(samples)
    # Deal patients into parts in blocks, so each part gets a proportional slice of every stratum.
    patients = _patients_by_tumour_share(by_patient, rng)
    parts: dict[str, list[str]] = {"train": [], "validation": [], "test": []}
    held_out = [f for f in fractions[1:] if f > 0]  # a part may be empty (k-fold: no test here)
    block = max(2, round(1 / min(held_out))) if held_out else len(patients)
    for start in range(0, len(patients), block):
        group = patients[start : start + block]
        rng.shuffle(group)
        n_val = round(len(group) * fractions[1])
        n_test = round(len(group) * fractions[2])
        parts["validation"] += group[:n_val]
        parts["test"] += group[n_val : n_val + n_test]
        parts["train"] += group[n_val + n_test :]
    return Split(
        *(_samples_of(parts[name], by_patient) for name in ("train", "validation", "test"))
    )


def patient_folds(samples: Sequence[Sample], k: int = 5, seed: int = 42) -> list[list[str]]:
    """Patients dealt into ``k`` folds, stratified like :func:`patient_split`."""
    rng = random.Random(seed)
    patients = _patients_by_tumour_share(_group_by_patient(samples), rng)
    folds: list[list[str]] = [[] for _ in range(k)]
    for start in range(0, len(patients), k):
        group = patients[start : start + k]
        rng.shuffle(group)
        for fold, patient in zip(folds, group, strict=False):
            fold.append(patient)
    return folds


def patient_kfold(
    samples: Sequence[Sample], k: int = 5, seed: int = 42
) -> list[tuple[list[Sample], list[Sample]]]:
    """Patient-wise k-fold cross-validation: ``k`` pairs ``(train, test)``; each patient is in
    exactly one test fold and never on both sides of a pair (folds from :func:`patient_folds`)."""
    if k < 2:
        raise ValueError("k-fold cross-validation needs k >= 2")
    by_patient = _group_by_patient(samples)
    if len(by_patient) < k:
        raise ValueError(f"{len(by_patient)} patients cannot fill {k} patient-disjoint folds")
    folds = patient_folds(samples, k, seed)
    pairs = []
    for index, test_patients in enumerate(folds):
        train_patients = [p for j, fold in enumerate(folds) if j != index for p in fold]
        pairs.append(
            (_samples_of(train_patients, by_patient), _samples_of(test_patients, by_patient))
        )
    return pairs


LEAK_WARNING = (
    "image-wise split: images of one patient fall on both sides of the split, so test scores"
    " measure recognising patients already seen, not generalising to new ones. Use it only to"
    " show how far the seed papers' numbers are from patient-wise ones."
)


def image_wise_split(
    samples: Sequence[Sample],
    fractions: tuple[float, float, float] = (0.7, 0.15, 0.15),
    seed: int = 42,
    *,
    i_understand_this_leaks: bool = False,
) -> Split:
    """The seed papers' random image-wise split, kept only to demonstrate its leakage.

    Refuses unless ``i_understand_this_leaks`` is set, and then warns (UserWarning) every time.
    """
    if not i_understand_this_leaks:
        raise ValueError(
            "image-wise splits leak patients between train and test; pass"
            " i_understand_this_leaks=True to run one on purpose, or use patient_split"
        )
    warnings.warn(LEAK_WARNING, UserWarning, stacklevel=2)
    order = list(samples)
    random.Random(seed).shuffle(order)
    n_val = round(len(order) * fractions[1])
    n_test = round(len(order) * fractions[2])
    return Split(
        train=order[n_val + n_test :],
        validation=order[:n_val],
        test=order[n_val : n_val + n_test],
    )


def _group_by_patient(samples: Iterable[Sample]) -> dict[str, list[Sample]]:
    by_patient: dict[str, list[Sample]] = defaultdict(list)
    for sample in samples:
        by_patient[sample.patient].append(sample)
    return by_patient


def _patients_by_tumour_share(by_patient: dict[str, list[Sample]], rng: random.Random) -> list[str]:
    """Patients in random order, then stably sorted by their share of positive images: the
    strata that the splits deal from."""
    patients = sorted(by_patient)
    rng.shuffle(patients)
    patients.sort(key=lambda p: np.mean([s.label for s in by_patient[p]]))
    return patients


def _samples_of(patients: Iterable[str], by_patient: dict[str, list[Sample]]) -> list[Sample]:
    return [s for p in sorted(patients) for s in by_patient[p]]


def load_arrays(
    samples: Sequence[Sample],
    size: tuple[int, int],
    scaling: Scaling,
    workers: int = 4,
    stain: StainSpec = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Read and preprocess every sample with :func:`appliance.preprocess.preprocess`.

    ``stain`` (a fitted normaliser or its ``to_dict()`` form) normalises every sample as the
    appliance will; a dict is rebuilt once here, so a bad one fails before any file is read.
    Returns ``(images, labels)``: float32 ``(n, h, w, 3)`` and int32 ``(n,)``.
    """
    normalizer = as_normalizer(stain)

    def read(sample: Sample) -> np.ndarray:
        with Image.open(sample.path) as image:
            return preprocess(image, size, scaling, normalizer)

    with ThreadPoolExecutor(max_workers=workers) as pool:
        images = list(pool.map(read, samples))
    return np.stack(images).astype(np.float32), np.array([s.label for s in samples], np.int32)
