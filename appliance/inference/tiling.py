"""Cutting a large image into model-sized tiles, and telling tissue from empty glass.

A tiled model is trained on small patches (e.g. 50x50 px IDC patches); a larger image is scored
tile by tile at the same scale instead of being shrunk into one input, which would blur away the
cells the model learnt from. Tiles that are mostly glass are skipped: they carry no diagnosis and
would only dilute (or, with a badly calibrated model, distort) the image's score.
"""

from __future__ import annotations

import numpy as np

# Background thresholds, on 8-bit RGB. Glass in a brightfield H&E image is bright and grey
# (R ≈ G ≈ B); tissue is stained pink (eosin) or purple (haematoxylin), i.e. coloured.
# A pixel is background when its channel mean > 200 and its chroma (max - min) < 20: empty glass
# is typically 230-245 with chroma < 10 even with a scanner's colour cast, while pale stroma is
# still pink (chroma 25-40). Very dark grey pixels (mean < 50, chroma < 15) are also background:
# black scanner borders and padding, never seen in stained tissue (the 1st percentile of real
# IDC pixels has mean ~86).
# Measured here: of 2,000 random IDC patches, 92% of IDC-positive and 72% of non-IDC patches have
# >= 50% tissue by this rule (the others are mostly fat vacuoles and glass at the tissue's edge,
# checked by eye); 85% of the 50-px tiles of the 19 BreakHis samples pass. Lower thresholds (mean
# > 150) would also catch the darker glass of vignetted camera images, but drop a third of the
# BreakHis tissue tiles, which are pale and grey under that camera's white balance; a glass tile
# kept by mistake only adds a low score, which the top-k aggregation ignores.
BRIGHT_MEAN = 200
BRIGHT_MAX_CHROMA = 20
DARK_MEAN = 50
DARK_MAX_CHROMA = 15


def tile_origins(width: int, height: int, tile: int, stride: int) -> list[tuple[int, int]]:
    """Top-left corners ``(x, y)`` of tiles covering a ``width x height`` image, row by row.

    Tiles start every ``stride`` pixels; when the grid does not end exactly at the border, one
    more row/column is added flush with it (overlapping its neighbour), so no image strip is left
    out and no tile reaches beyond the image. A dimension smaller than one tile gets the single
    origin 0; the caller crops that tile to the image (or treats the image whole).
    """
    if min(width, height, tile, stride) <= 0:
        raise ValueError(f"need positive sizes, got {width}x{height}, tile {tile}, stride {stride}")
    columns = _starts(width, tile, stride)
    rows = _starts(height, tile, stride)
    return [(x, y) for y in rows for x in columns]


def grid_starts(length: int, tile: int, stride: int) -> list[int]:
    """The tile starts along one axis (the columns' x or the rows' y of :func:`tile_origins`)."""
    return _starts(length, tile, stride)


def _starts(length: int, tile: int, stride: int) -> list[int]:
    if length <= tile:
        return [0]
    starts = list(range(0, length - tile + 1, stride))
    if starts[-1] + tile < length:
        starts.append(length - tile)
    return starts


def tissue_fraction(tile_rgb_uint8: np.ndarray) -> float:
    """Fraction of the tile's pixels that are tissue rather than glass or black border.

    ``tile_rgb_uint8`` is an ``(h, w, 3)`` uint8 array; see the thresholds above for the rule
    and how it was checked on real patches.
    """
    pixels = np.asarray(tile_rgb_uint8)
    if pixels.ndim != 3 or pixels.shape[2] != 3 or pixels.size == 0:
        raise ValueError(f"expected an (h, w, 3) RGB tile, got shape {pixels.shape}")
    pixels = pixels.astype(np.int16)
    chroma = pixels.max(axis=2) - pixels.min(axis=2)
    mean = pixels.sum(axis=2) / 3.0
    glass = (mean > BRIGHT_MEAN) & (chroma < BRIGHT_MAX_CHROMA)
    border = (mean < DARK_MEAN) & (chroma < DARK_MAX_CHROMA)
    return float(1.0 - np.count_nonzero(glass | border) / chroma.size)
