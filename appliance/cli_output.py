"""What the command line prints about a scan: the JSON contract and the table for a person.

Apart from :mod:`appliance.cli` (the commands) so each stays short; ``scan`` and ``watch`` print
the same table, and ``scan --format json`` / ``history --format json`` are contracts for scripts.
"""

from __future__ import annotations

from pathlib import Path

from appliance.config import Config
from appliance.report import RESEARCH_ONLY
from appliance.text import display_text


def scan_json(summary, card, config: Config, report_path: Path | None) -> dict:
    """``scan --format json``: a stable contract for scripts (keys are only ever added)."""
    return {
        "model": {"name": card.name, "version": card.version, "sha256": card.sha256},
        "notice": RESEARCH_ONLY,
        "scan_id": summary.scan_id,
        "status": summary.status,
        "message": summary.message,
        "database": str(Path(config.database).resolve()),
        "report": str(report_path.resolve()) if report_path else None,
        "images": [o.to_json() for o in summary.outcomes],
        "cases": [
            {
                "case": v.case,
                "decision": v.decision.value,
                "counts": v.counts,
                "evidence": list(v.evidence),
                "explanation": v.explanation(),
            }
            for v in summary.cases
        ],
    }


def scan_record_json(record) -> dict:
    """One row of ``history --format json``."""
    return {
        "scan_id": record.id,
        "started_at": record.started_at,
        "status": record.status,
        "stick": record.volume_label,
        "images": record.n_images,
        "errors": record.n_errors,
        "model_sha256": record.model_sha256,
    }


def print_scan_table(summary, card, config: Config, report_path: Path | None) -> None:
    """The table ``scan`` and ``watch`` print for a person: notice, model, images, cases."""
    print(f"{RESEARCH_ONLY}.")
    print(
        f"model {card.name} {card.version} (sha256 {card.sha256[:16]}…)"
        f"   scan {summary.scan_id}: {summary.status}"
    )
    if summary.message:
        print(f"  {summary.message}")
    # Names come from the stick: shown through display_text (no raw bytes, newlines or terminal
    # escapes reach the terminal), shortened in the middle so the file name stays visible.
    shown = [display_text(o.path, 60) for o in summary.outcomes]
    width = max((len(name) for name in shown), default=10)
    print(f"{'image':<{width}}  {'decision':<13} {'p(malig.)':>9}  note")
    for name, o in zip(shown, summary.outcomes, strict=True):
        p = "" if o.p_malignant is None else card.thresholds.show(o.p_malignant)
        note = o.error or ("already analysed; stored result reused" if o.reused else "")
        print(f"{name:<{width}}  {o.decision.value:<13} {p:>9}  {display_text(note)}")
    print("cases:")
    for verdict in summary.cases:
        print(
            f"  {display_text(verdict.case, 60)}: {verdict.decision.value.upper()}"
            f" — {display_text(verdict.explanation())}"
        )
    print(f"database: {Path(config.database).resolve()}")
    if report_path:
        print(f"report:   {Path(report_path).resolve()}")
