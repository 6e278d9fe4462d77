"""One picture of a GAN run for people: real patches beside the run's sample grids.

``histo-appliance-train gan sheet RUN --real DIR --out PNG [--steps 500 1000 1500]``: a 4 x 4
grid of real images (every k-th file of DIR, so the whole folder is sampled) and the sample grid
the run wrote at each named step (``RUN/samples/step-NNNNNNN.png``, all from one latent seed),
side by side and enlarged without smoothing, each under its title. Only Pillow: a sheet can be
made where TensorFlow is not installed.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

PANEL = 400  # pixels of each enlarged panel
GAP = 20
TITLE = 25
SIDE = 4  # the run's sample grids are 4 x 4 (training.GRID_SIDE)


def real_grid(folder: Path, cell: int) -> Image.Image:
    """16 real images spread over the whole (sorted) folder, ``cell`` pixels each."""
    files = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in {".png", ".jpg"})
    if len(files) < SIDE * SIDE:
        raise ValueError(f"{folder} holds {len(files)} images; the sheet shows {SIDE * SIDE}")
    every = len(files) // (SIDE * SIDE)
    grid = Image.new("RGB", (SIDE * cell, SIDE * cell), "white")
    for index, path in enumerate(files[::every][: SIDE * SIDE]):
        with Image.open(path) as image:
            tile = image.convert("RGB").resize((cell, cell))
        grid.paste(tile, ((index % SIDE) * cell, (index // SIDE) * cell))
    return grid


def sample_grid(run: Path, step: int) -> Image.Image:
    path = Path(run) / "samples" / f"step-{step:07d}.png"
    if not path.exists():
        raise FileNotFoundError(f"{path}: the run wrote no sample grid at step {step}")
    with Image.open(path) as image:
        return image.convert("RGB")


def write_sheet(run: Path, real: Path, out: Path, steps: list[int]) -> Path:
    grids = [sample_grid(run, step) for step in steps]
    cell = grids[0].width // SIDE if grids else 50
    panels = [("real (training patients)", real_grid(real, cell))]
    panels += [(f"GAN step {step}", grid) for step, grid in zip(steps, grids, strict=True)]
    sheet = Image.new("RGB", (len(panels) * (PANEL + GAP), PANEL + TITLE + GAP), "white")
    draw = ImageDraw.Draw(sheet)
    for k, (title, panel) in enumerate(panels):
        left = k * (PANEL + GAP) + GAP // 2
        sheet.paste(panel.resize((PANEL, PANEL), Image.Resampling.NEAREST), (left, TITLE + 10))
        draw.text((left, 8), title, fill="black")
    out = Path(out)
    out.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(out, optimize=True)
    return out
