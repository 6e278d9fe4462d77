"""Loaders for the public datasets the seed papers used, as lists of :class:`Sample`.

The IDC layout and generic class folders live in :mod:`appliance.trainer.data`; this module adds
BreakHis (patients known from the file names) and ICIAR 2018 / BACH (patients unknown). Every
sample carries a patient id so the splits in ``data`` stay patient-wise.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from appliance.trainer.data import IMAGE_SUFFIXES, Sample

# SOB_<B|M>_<subtype>-<year>-<patient>-<magnification>-<sequence>.png (Spanhol et al. 2016)
BREAKHIS_NAME = re.compile(
    r"^SOB_(?P<tumour>[BM])_(?P<subtype>[A-Z]+)-(?P<year>\d+)-(?P<patient>[0-9A-Za-z]+)"
    r"-(?P<mag>\d+)-(?P<seq>\d+)\.png$",
    re.IGNORECASE,
)
BREAKHIS_SUBTYPES: dict[str, str] = {  # code -> folder name; benign first, then malignant
    "A": "adenosis",
    "F": "fibroadenoma",
    "PT": "phyllodes_tumor",
    "TA": "tubular_adenoma",
    "DC": "ductal_carcinoma",
    "LC": "lobular_carcinoma",
    "MC": "mucinous_carcinoma",
    "PC": "papillary_carcinoma",
}
BREAKHIS_BENIGN = ("A", "F", "PT", "TA")
BREAKHIS_MAGNIFICATIONS = (40, 100, 200, 400)
BREAKHIS_BINARY_LABELS = ("benign", "malignant")

BACH_CLASSES = ("Normal", "Benign", "InSitu", "Invasive")
BACH_BINARY_LABELS = ("non-carcinoma", "carcinoma")  # Normal+Benign vs InSitu+Invasive


@dataclass(frozen=True)
class BreakHisSample(Sample):
    """A BreakHis image: a :class:`Sample` (usable everywhere one is) plus its magnification
    (40, 100, 200 or 400) and tumour subtype code (A, F, PT, TA, DC, LC, MC, PC)."""

    magnification: int = 0
    subtype: str = ""


def parse_breakhis_name(name: str) -> dict[str, str | int] | None:
    """The fields of a BreakHis file name, or None when it does not follow the grammar.

    ``patient`` is ``<year>-<patient>`` (e.g. ``14-22549AB``), as the dataset's patient folders
    and published manifests name patients.
    """
    match = BREAKHIS_NAME.match(name)
    if not match:
        return None
    return {
        "malignant": int(match["tumour"].upper() == "M"),
        "subtype": match["subtype"].upper(),
        "patient": f"{match['year']}-{match['patient']}",
        "magnification": int(match["mag"]),
        "sequence": int(match["seq"]),
    }


def load_breakhis(
    root: Path,
    labels: Literal["binary", "subtype"] = "binary",
    magnifications: Iterable[int] | None = None,
) -> list[BreakHisSample]:
    """Every image under ``root`` (``BreaKHis_v1/histology_slides/breast/<benign|malignant>/SOB/
    <subtype>/<patient>/<mag>X/*.png`` or any folder inside it).

    ``labels="binary"``: 0 benign, 1 malignant; ``"subtype"``: the index in
    :data:`BREAKHIS_SUBTYPES` (4 benign, then 4 malignant). ``magnifications`` keeps only those
    (e.g. ``{100, 200, 400}`` to train and ``{40}`` to test, the ResNet-50 paper's
    cross-magnification protocol — whose parts share patients unless split by patient too).
    Label, patient and magnification come from the file name, which is checked against the
    folders it sits in so a misfiled image is refused rather than mislabelled.
    """
    if labels not in ("binary", "subtype"):
        raise ValueError(f"labels must be 'binary' or 'subtype', not {labels!r}")
    wanted = None if magnifications is None else {int(m) for m in magnifications}
    if wanted is not None and not wanted <= set(BREAKHIS_MAGNIFICATIONS):
        raise ValueError(f"BreakHis magnifications are {BREAKHIS_MAGNIFICATIONS}, not {wanted}")
    subtype_codes = list(BREAKHIS_SUBTYPES)
    samples: list[BreakHisSample] = []
    for path in sorted(Path(root).rglob("*")):
        if path.suffix.lower() != ".png" or path.name.startswith("."):
            continue
        fields = parse_breakhis_name(path.name)
        if fields is None:
            continue
        _check_folders(path, fields)
        if wanted is not None and fields["magnification"] not in wanted:
            continue
        subtype = str(fields["subtype"])
        if subtype not in BREAKHIS_SUBTYPES:
            raise ValueError(f"unknown BreakHis subtype {subtype!r} in {path.name}")
        label = int(fields["malignant"]) if labels == "binary" else subtype_codes.index(subtype)
        samples.append(
            BreakHisSample(
                path, label, str(fields["patient"]), int(fields["magnification"]), subtype
            )
        )
    if not samples:
        raise FileNotFoundError(
            f"no BreakHis images (SOB_<B|M>_<subtype>-<year>-<patient>-<mag>-<seq>.png) under"
            f" {root}" + (f" at magnifications {sorted(wanted)}" if wanted else "")
        )
    return samples


def _check_folders(path: Path, fields: dict) -> None:
    """Refuse a file whose name contradicts the class, subtype or magnification folder."""
    parts = [p.lower() for p in path.parent.parts]
    tumour = "malignant" if fields["malignant"] else "benign"
    other = "benign" if fields["malignant"] else "malignant"
    subtype_folder = BREAKHIS_SUBTYPES.get(str(fields["subtype"]), "")
    conflicts = []
    if other in parts and tumour not in parts:
        conflicts.append(f"it is {tumour} but filed under {other}/")
    wrong_subtypes = {f for f in BREAKHIS_SUBTYPES.values() if f != subtype_folder}
    if wrong_subtypes & set(parts) and subtype_folder not in parts:
        conflicts.append(f"its subtype folder is not {subtype_folder}/")
    mag_folders = {p for p in parts if re.fullmatch(r"\d+x", p)}
    if mag_folders and f"{fields['magnification']}x" not in mag_folders:
        conflicts.append(f"it is {fields['magnification']}X but filed under {mag_folders}")
    if conflicts:
        raise ValueError(f"{path}: " + "; ".join(conflicts))


def load_bach(root: Path, binary: bool = False) -> list[Sample]:
    """ICIAR 2018 / BACH microscopy images: ``<root>/<Normal|Benign|InSitu|Invasive>/*.tif``.

    Labels are the index in :data:`BACH_CLASSES`, or with ``binary`` 0 for Normal/Benign and 1
    for InSitu/Invasive. BACH publishes no patient ids, so each image is its own group
    (``patient = "<class>/<file stem>"``): a "patient-wise" split of BACH is therefore image-wise,
    and images of one patient may still fall on both sides. Say so wherever BACH numbers are
    reported.
    """
    samples: list[Sample] = []
    for index, name in enumerate(BACH_CLASSES):
        folder = _find_class_folder(Path(root), name)
        for path in sorted(folder.iterdir()):
            if path.suffix.lower() not in IMAGE_SUFFIXES or path.name.startswith("."):
                continue
            label = int(index >= 2) if binary else index
            samples.append(Sample(path, label, f"{name}/{path.stem}"))
    if not samples:
        raise FileNotFoundError(f"no BACH images under {root}")
    return samples


def _find_class_folder(root: Path, name: str) -> Path:
    """The class folder, matched case-insensitively (copies of BACH differ in case)."""
    if (root / name).is_dir():
        return root / name
    for child in root.iterdir() if root.is_dir() else ():
        if child.is_dir() and child.name.lower() == name.lower():
            return child
    raise FileNotFoundError(f"BACH class folder {root / name} does not exist")


def arrange_breakhis_tree(flat: Path, destination: Path) -> Path:
    """Symlink a flat folder of BreakHis images (such as ``shared/data/breakhis-samples``) into
    the dataset's own layout under ``destination``; returns the ``BreaKHis_v1`` folder.

    Everything comes from the file names, so the result is what :func:`load_breakhis` reads from
    a real download: ``<benign|malignant>/SOB/<subtype>/SOB_<B|M>_<subtype>_<year>-<patient>/
    <mag>X/<file>``.
    """
    root = Path(destination) / "BreaKHis_v1"
    breast = root / "histology_slides" / "breast"
    linked = 0
    for path in sorted(Path(flat).iterdir()):
        fields = parse_breakhis_name(path.name)
        if fields is None:
            continue
        code, subtype = ("M" if fields["malignant"] else "B"), str(fields["subtype"])
        folder = (
            breast
            / ("malignant" if fields["malignant"] else "benign")
            / "SOB"
            / BREAKHIS_SUBTYPES[subtype]
            / f"SOB_{code}_{subtype}_{fields['patient']}"
            / f"{fields['magnification']}X"
        )
        folder.mkdir(parents=True, exist_ok=True)
        link = folder / path.name
        if not link.exists():
            link.symlink_to(path.resolve())
        linked += 1
    if not linked:
        raise FileNotFoundError(f"no BreakHis file names under {flat}")
    return root
