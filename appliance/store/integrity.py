"""A fingerprint of each stored result, so a result reused by a later scan is the one stored.

Why: an earlier result for the same image bytes under the same model is reused instead of
running the model again. If someone edited that row (a raw ``sqlite3`` with the append-only
triggers dropped), the edited probability would be reused as if the model had said it. Each row
carries ``result_sha256`` over what a reuse copies; a row whose fingerprint no longer matches is
never reused.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def result_sha256(
    *,
    image_sha256: str | None,
    model_sha256: str,
    status: str,
    decision: str | None,
    p_malignant: float | None,
    tiles_json: str | None,
    thumbnail: bytes | None,
) -> str:
    """SHA-256 of a canonical JSON of one stored result (as stored: ``tiles_json`` is the text).

    ``p_malignant`` is a float64 both in Python and in SQLite's REAL, and ``json`` writes the
    shortest repr that round-trips, so the value read back hashes the same as the value written.
    """
    canonical: dict[str, Any] = {
        "v": 1,
        "image_sha256": image_sha256,
        "model_sha256": model_sha256,
        "status": status,
        "decision": decision,
        "p_malignant": None if p_malignant is None else float(p_malignant),
        "tiles_json": tiles_json,
        "thumbnail_sha256": None if thumbnail is None else hashlib.sha256(thumbnail).hexdigest(),
    }
    text = json.dumps(canonical, sort_keys=True, separators=(",", ":"), ensure_ascii=True)
    return hashlib.sha256(text.encode("ascii")).hexdigest()


def row_result_sha256(row: dict[str, Any], model_sha256: str) -> str:
    """The fingerprint recomputed from a stored ``images`` row."""
    return result_sha256(
        image_sha256=row["sha256"],
        model_sha256=model_sha256,
        status=row["status"],
        decision=row["decision"],
        p_malignant=row["p_malignant"],
        tiles_json=row["tiles_json"],
        thumbnail=row["thumbnail"],
    )


__all__ = ["result_sha256", "row_result_sha256"]
