"""The decision colours, without any toolkit: the GUI, the PDF and its tile maps use these.

Why these colours: they are from the Okabe-Ito palette, chosen to stay distinguishable for the
common colour-vision deficiencies. Malignant (vermillion) and benign (blue) differ in hue *and*
lightness; indeterminate is orange, unassessable grey. A colour is never the only signal: every
decision also has its word, and on a tile map malignant tiles are cross-hatched and indeterminate
ones hatched one way, so a map printed in grey still reads.
"""

from __future__ import annotations

from appliance.values import Decision

# Okabe-Ito.
VERMILLION = "#D55E00"
ORANGE = "#E69F00"
BLUE = "#0072B2"
GREY = "#8C8C8C"
SKY = "#56B4E9"

DECISION_COLOURS: dict[Decision, str] = {
    Decision.MALIGNANT: VERMILLION,
    Decision.INDETERMINATE: ORANGE,
    Decision.BENIGN: BLUE,
    Decision.UNASSESSABLE: GREY,
}


def rgb(hex_colour: str) -> tuple[int, int, int]:
    """``"#D55E00"`` -> ``(213, 94, 0)``."""
    value = hex_colour.lstrip("#")
    return int(value[0:2], 16), int(value[2:4], 16), int(value[4:6], 16)
