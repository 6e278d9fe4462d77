"""Cutting a large image into model-sized tiles, and telling tissue from empty glass.

A tiled model is trained on small patches (e.g. 50x50 px IDC patches); a larger image is scored
tile by tile at the same scale instead of being shrunk into one input, which would blur away the
cells the model learnt from. Tiles that are mostly glass are skipped: they carry no diagnosis and
would only dilute (or, with a badly calibrated model, distort) the image's score. The glass rule
itself is a scope measure and lives in :mod:`appliance.scope.measures`.
"""

from __future__ import annotations

from appliance.scope.measures import tissue_fraction
from appliance.values import grid_starts

__all__ = ["grid_starts", "tile_origins", "tissue_fraction"]

def tile_origins(width: int, height: int, tile: int, stride: int) -> list[tuple[int, int]]:
    """Top-left corners ``(x, y)`` of tiles covering a ``width x height`` image, row by row.

    Tiles start every ``stride`` pixels; when the grid does not end exactly at the border, one
    more row/column is added flush with it (overlapping its neighbour), so no image strip is left
    out and no tile reaches beyond the image. A dimension smaller than one tile gets the single
    origin 0; the caller crops that tile to the image (or treats the image whole).
    """
    if min(width, height, tile, stride) <= 0:
        raise ValueError(f"need positive sizes, got {width}x{height}, tile {tile}, stride {stride}")
    columns = grid_starts(width, tile, stride)
    rows = grid_starts(height, tile, stride)
    return [(x, y) for y in rows for x in columns]
