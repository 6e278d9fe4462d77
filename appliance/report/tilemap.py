"""The tile map of a large image in the PDF: every analysed tile coloured by its decision,
over the image's thumbnail, with a legend that says what each colour means and how many.

Why drawn here and not left to the thumbnail: a slide region is mostly background, so its
thumbnail alone is "a few pink specks"; the map shows where the tissue was and which parts the
model called malignant or referred, by the scan's own cut-offs
(:func:`appliance.decision.decide`, the rule every image is decided by). Colours are the GUI's
(:mod:`appliance.palette`) and never the only signal: malignant tiles are cross-hatched,
indeterminate ones hatched, so a grey print still reads.
"""

from __future__ import annotations

import io
import logging
from collections import Counter

from PIL import Image as PILImage
from PIL import ImageDraw
from reportlab.lib import colors
from reportlab.lib.units import cm
from reportlab.platypus import Flowable, Image, Paragraph, Table, TableStyle

from appliance.decision import decide
from appliance.palette import DECISION_COLOURS, GREY, rgb
from appliance.report.layout import FRAME_W, Styles
from appliance.values import Decision, Thresholds, TileMap, show_probability

log = logging.getLogger(__name__)

MAP_SIDE = 720  # pixels on the long side of the rendered map (about 190 dpi at 9.5 cm)
MAP_BOX = 9.5 * cm  # the map's longest side on the page
SWATCH = 18  # pixels of a legend swatch
FILL_ALPHA = 150  # tiles let the tissue show through
LIGHTEN = 0.15  # the thumbnail is blended this much towards white, so the tiles stand out
HATCH = (0, 0, 0, 170)
OUT_OF_SCOPE = "out_of_scope"


def _paint_tile(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int], kind: object) -> None:
    """One tile: its colour, a white edge, and the hatch of its decision."""
    x0, y0, x1, y1 = box
    colour = rgb(GREY if kind == OUT_OF_SCOPE else DECISION_COLOURS[kind])  # type: ignore[index]
    edge = tuple(round(c * 0.6) for c in colour)
    draw.rectangle(box, fill=(*colour, FILL_ALPHA), outline=(*edge, 255))
    if kind is Decision.MALIGNANT or kind is Decision.INDETERMINATE:
        draw.line((x0, y1, x1, y0), fill=HATCH, width=1)
    if kind is Decision.MALIGNANT:
        draw.line((x0, y0, x1, y1), fill=HATCH, width=1)


def _background(thumbnail: bytes | None, size: tuple[int, int]) -> PILImage.Image:
    """The thumbnail scaled to the map and a little lightened (so the tiles stand out); grey
    when there is no readable thumbnail."""
    if thumbnail:
        try:
            with PILImage.open(io.BytesIO(thumbnail)) as opened:
                base = opened.convert("RGB").resize(size, PILImage.Resampling.BILINEAR)
            return PILImage.blend(base, PILImage.new("RGB", size, "white"), LIGHTEN).convert("RGBA")
        except Exception:  # a damaged thumbnail must not stop the map
            log.warning("unreadable thumbnail under a tile map", exc_info=True)
    return PILImage.new("RGBA", size, (235, 235, 235, 255))


def render_tile_map(tiles: TileMap, thresholds: Thresholds, thumbnail: bytes | None) -> bytes:
    """The map as PNG bytes: the lightened thumbnail, every tissue tile painted by decision,
    tiles outside the model's scope in grey (background tiles are not drawn)."""
    scale = MAP_SIDE / max(tiles.image_width, tiles.image_height, 1)
    size = (max(1, round(tiles.image_width * scale)), max(1, round(tiles.image_height * scale)))
    canvas = _background(thumbnail, size)
    overlay = PILImage.new("RGBA", size, (0, 0, 0, 0))
    draw = ImageDraw.Draw(overlay)
    side = max(2, round(tiles.tile_size * scale))

    def box(x: int, y: int) -> tuple[int, int, int, int]:
        left, top = round(x * scale), round(y * scale)
        return left, top, min(size[0] - 1, left + side - 1), min(size[1] - 1, top + side - 1)

    for x, y in tiles.out_of_scope:
        _paint_tile(draw, box(x, y), OUT_OF_SCOPE)
    for (x, y), p in zip(tiles.origins, tiles.probabilities, strict=True):
        _paint_tile(draw, box(x, y), decide(p, thresholds))
    out = io.BytesIO()
    PILImage.alpha_composite(canvas, overlay).convert("RGB").save(out, "PNG", optimize=True)
    return out.getvalue()


def _swatch(kind: object) -> Image:
    tile = PILImage.new("RGBA", (SWATCH, SWATCH), (255, 255, 255, 255))
    _paint_tile(ImageDraw.Draw(tile), (0, 0, SWATCH - 1, SWATCH - 1), kind)
    out = io.BytesIO()
    tile.convert("RGB").save(out, "PNG")
    return Image(io.BytesIO(out.getvalue()), width=0.45 * cm, height=0.45 * cm)


def legend_rows(
    tiles: TileMap, thresholds: Thresholds, *, unicode: bool
) -> list[tuple[object, str]]:
    """``(kind, words)`` for each line of the legend, with the count of tiles of that kind."""
    counts = Counter(decide(p, thresholds) for p in tiles.probabilities)
    ge, le = ("≥", "≤") if unicode else (">=", "<=")
    low = show_probability(thresholds.benign_below, thresholds)
    high = show_probability(thresholds.malignant_at, thresholds)
    bands = [
        (Decision.MALIGNANT, f"Malignant: p {ge} {high}"),
        (Decision.INDETERMINATE, f"Indeterminate (refer): {low} {le} p &lt; {high}"),
        (Decision.BENIGN, f"Benign: p &lt; {low}"),
    ]
    lines: list[tuple[object, str]] = [
        (kind, f"{words} — {counts[kind]} tiles") for kind, words in bands
    ]
    if tiles.out_of_scope:
        lines.append(
            (OUT_OF_SCOPE, f"Outside the model's scope (not scored) — {len(tiles.out_of_scope)}")
        )
    return lines


def has_tile_map(tiles: TileMap | None, thresholds: Thresholds | None) -> bool:
    """True when an image gets a map: it was tiled, has tiles to show, and the scan recorded
    cut-offs to colour them by."""
    return (
        tiles is not None and thresholds is not None and bool(tiles.origins or tiles.out_of_scope)
    )


def tile_map_flowable(
    tiles: TileMap | None,
    thresholds: Thresholds | None,
    thumbnail: bytes | None,
    st: Styles,
    *,
    unicode: bool,
) -> Flowable | None:
    """The map beside its legend, or None when there is nothing to map (an image analysed
    whole) or the scan recorded no cut-offs to colour by."""
    if tiles is None or thresholds is None or not has_tile_map(tiles, thresholds):
        return None
    scale = MAP_BOX / max(tiles.image_width, tiles.image_height, 1)
    picture = Image(
        io.BytesIO(render_tile_map(tiles, thresholds, thumbnail)),
        width=tiles.image_width * scale,
        height=tiles.image_height * scale,
    )
    legend = [
        [_swatch(kind), Paragraph(words, st.cell)]
        for kind, words in legend_rows(tiles, thresholds, unicode=unicode)
    ]
    legend.append(
        [
            "",
            Paragraph(
                f"Not drawn: {tiles.skipped_background} background tiles (no tissue)."
                f" Tiles of {tiles.tile_size} px every {tiles.stride} px on a"
                f" {tiles.image_width} × {tiles.image_height} px image.",
                st.small,
            ),
        ]
    )
    key = Table(legend, colWidths=[0.7 * cm, None])
    key.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "MIDDLE")]))
    side = FRAME_W - MAP_BOX - 0.8 * cm
    heading = Paragraph("<b>Tile map</b> (each analysed tile, by the scan's cut-offs)", st.cell)
    table = Table([[picture, [heading, key]]], colWidths=[MAP_BOX + 0.3 * cm, side])
    table.setStyle(
        TableStyle(
            [
                ("VALIGN", (0, 0), (-1, -1), "TOP"),
                ("BOX", (0, 0), (0, 0), 0.25, colors.grey),
            ]
        )
    )
    return table
