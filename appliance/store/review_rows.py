"""Reviews: a person's verdict on one AI result, appended and never edited; the last is in force."""

from __future__ import annotations

from appliance.store.core import InvalidReview, NotFound, StoreCore, utc_now
from appliance.store.records import DECISIONS, ReviewRecord


class ReviewRows(StoreCore):
    """Writing and reading ``reviews``."""

    def add_review(
        self,
        image_id: int,
        *,
        reviewer: str,
        agreed: bool,
        corrected_decision: str | None,
        note: str = "",
    ) -> int:
        """Append a person's review of one AI result; the AI result itself is never changed."""
        reviewer = (reviewer or "").strip()
        if not reviewer:
            raise InvalidReview("Enter the reviewer's name before saving the review.")
        if corrected_decision is not None:
            corrected_decision = str(corrected_decision)
        if agreed:
            corrected_decision = None
        else:
            if not corrected_decision:
                raise InvalidReview(
                    "When you do not agree with the AI result, choose the correct decision"
                    " (malignant, benign, indeterminate or unassessable)."
                )
            if corrected_decision not in DECISIONS:
                raise InvalidReview(
                    f"{corrected_decision!r} is not a decision; choose malignant, benign,"
                    " indeterminate or unassessable."
                )
        values = {
            "image_id": image_id,
            "reviewer": reviewer,
            "agreed": int(bool(agreed)),
            "corrected_decision": corrected_decision,
            "note": note or "",
            "created_at": utc_now(),
        }
        with self._write("save the review") as db:
            row = db.execute("SELECT scan_id FROM images WHERE id = ?", (image_id,)).fetchone()
            if row is None:
                raise NotFound(f"There is no image number {image_id} in the database.")
            review_id = self._insert(db, "reviews", values)
            self._audit_in(
                db,
                "review",
                actor=reviewer,
                scan_id=row[0],
                image_id=image_id,
                payload={
                    "review_id": review_id,
                    "agreed": bool(agreed),
                    "corrected_decision": corrected_decision,
                    "note": values["note"],
                },
            )
        return review_id

    def reviews(self, image_id: int) -> list[ReviewRecord]:
        """All reviews of an image, oldest first (the last one is in force)."""
        rows = self._rows("SELECT * FROM reviews WHERE image_id = ? ORDER BY id", (image_id,))
        return [ReviewRecord.from_row(r) for r in rows]

    def latest_reviews(self, scan_id: int) -> dict[int, ReviewRecord]:
        """The review in force for each reviewed image of a scan."""
        rows = self._rows(
            """SELECT r.* FROM reviews r
               WHERE r.id IN (SELECT MAX(r2.id) FROM reviews r2 JOIN images i ON i.id = r2.image_id
                              WHERE i.scan_id = ? GROUP BY r2.image_id)""",
            (scan_id,),
        )
        return {r["image_id"]: ReviewRecord.from_row(r) for r in rows}
