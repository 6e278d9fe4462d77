"""FID and KID over a GAN run's training: every kept checkpoint against one folder of real images,
on each stated extractor (``histo-appliance-train gan curve``; issue 14).

Every checkpoint generates from the same latent seed, so the curve moves with the generator
alone. Generated images go through the appliance's preprocessing exactly as ``gan fid`` reads
a folder of them (PNG is lossless), so a point of the curve equals ``gan fid`` on that
checkpoint's ``gan generate`` folder. The real features are computed once per extractor.
"""

from __future__ import annotations

import csv
import dataclasses
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from appliance.preprocess import preprocess
from appliance.trainer import fid

Extractor = tuple[Callable[[np.ndarray], np.ndarray], str]


@dataclass(frozen=True)
class CurvePoint:
    """One checkpoint measured on one extractor: a row of the curve's TSV."""

    step: int
    extractor: str
    fid: float
    kid_mean: float
    kid_std: float
    n_generated: int
    n_real: int


COLUMNS = tuple(f.name for f in dataclasses.fields(CurvePoint))


def measure(
    run: Path,
    real: np.ndarray,
    extractors: Sequence[Extractor],
    n: int = 500,
    size: int = 96,
    seed: int = 0,
    log: Callable[[str], None] = print,
) -> list[CurvePoint]:
    """FID/KID of ``n`` images of the run's class from every checkpoint against ``real``
    (images in [-1, 1] at ``size``, as :func:`fid.folder_images` reads them)."""
    from appliance.trainer.gan.training import checkpoint_path, checkpoint_steps, load_generator

    steps = checkpoint_steps(run)
    if not steps:
        raise FileNotFoundError(f"{run} has no checkpoint yet")
    if n < 2:
        raise ValueError(f"-n {n}: KID needs at least two generated images")
    real_features = [(extract, name, extract(real)) for extract, name in extractors]
    trainer = load_generator(run, steps[0])
    label = trainer.config.target_class
    points = []
    for step in steps:
        trainer.restore(checkpoint_path(run, step))
        generated = np.stack(
            [
                preprocess(image, (size, size), "minus_one_to_one")
                for image in trainer.generate(n, label, seed)
            ]
        )
        for extract, name, features in real_features:
            result = fid.compare(extract(generated), features, name)
            points.append(
                CurvePoint(step, name, result.fid, result.kid, result.kid_std, n, len(real))
            )
        log(f"step {step}: " + "; ".join(f"FID {p.fid:.2f}" for p in points[-len(extractors) :]))
    return points


def write_tsv(points: Sequence[CurvePoint], path: Path) -> Path:
    """The curve as a TSV, one row per checkpoint per extractor."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("w", newline="") as handle:
        writer = csv.writer(handle, delimiter="\t", lineterminator="\n")
        writer.writerow(COLUMNS)
        for p in points:
            writer.writerow(
                [
                    p.step,
                    p.extractor,
                    f"{p.fid:.6g}",
                    f"{p.kid_mean:.6g}",
                    f"{p.kid_std:.6g}",
                    p.n_generated,
                    p.n_real,
                ]
            )
    return path


def read_tsv(path: Path) -> list[CurvePoint]:
    """A curve written by :func:`write_tsv`."""
    with Path(path).open(newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter="\t"))
    if rows and set(COLUMNS) - set(rows[0]):
        raise ValueError(f"{path}: not a gan curve TSV (columns {', '.join(COLUMNS)})")
    return [
        CurvePoint(
            int(r["step"]),
            r["extractor"],
            float(r["fid"]),
            float(r["kid_mean"]),
            float(r["kid_std"]),
            int(r["n_generated"]),
            int(r["n_real"]),
        )
        for r in rows
    ]


def markdown_table(points: Sequence[CurvePoint]) -> str:
    """The curve as a Markdown table: a step per row, FID and KID per extractor, and the
    caveat that these are not InceptionV3 numbers."""
    names = list(dict.fromkeys(p.extractor for p in points))
    by_key = {(p.step, p.extractor): p for p in points}
    head = "| step | " + " | ".join(f"FID, {x} | KID, {x}" for x in names) + " |"
    rule = "|---|" + "---|---|" * len(names)
    rows = []
    for step in sorted({p.step for p in points}):
        cells = []
        for name in names:
            p = by_key.get((step, name))
            cells += [f"{p.fid:.1f}", f"{p.kid_mean:.4f} ± {p.kid_std:.4f}"] if p else ["–", "–"]
        rows.append(f"| {step} | " + " | ".join(cells) + " |")
    counts = sorted({(p.n_generated, p.n_real) for p in points})
    note = (
        f"{', '.join(f'{g} generated vs {r} real' for g, r in counts)} images;"
        f" {fid.NOT_COMPARABLE}."
    )
    return "\n".join([head, rule, *rows]) + "\n\n" + note + "\n"


def plot(points: Sequence[CurvePoint], path: Path) -> Path:
    """FID against step, a panel per extractor (:func:`appliance.trainer.plots.plot_fid_curve`)."""
    from appliance.trainer.plots import plot_fid_curve

    curves: dict[str, list[tuple[int, float]]] = {}
    for p in points:
        curves.setdefault(p.extractor, []).append((p.step, p.fid))
    return plot_fid_curve(curves, path)
