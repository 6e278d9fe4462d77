"""What the database and the PDF report cost at N result rows, in a process of their own.

Rows are written exactly as a scan writes them (:class:`appliance.store.batching.BatchedResults`:
up to 16 rows per transaction, a real-size JPEG thumbnail, decisions from the card's thresholds),
and, for comparison, the first 1,000 again one transaction per row (how scans wrote them before
batching: one fdatasync per image). Then the history is
listed the ways the screens list it (:meth:`Store.scans`, a search, :meth:`Store.images` of the
big scan), then the PDF of that scan is written by :func:`appliance.report.write_scan_report`.

    python -m bench.storage 10000      # prints one JSON line (StorageResult)
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
MODEL = ROOT / "models" / "idc-mobilenetv2"


@dataclass(frozen=True)
class StorageResult:
    rows: int
    write_s: float
    write_ms_per_row: float
    list_scans_ms: float
    search_ms: float
    images_of_scan_ms: float
    db_mb: float
    pdf_s: float
    pdf_ms_per_row: float
    pdf_mb: float
    peak_rss_mb: float
    write_ms_per_row_unbatched: float | None = None  # one transaction per row (before batching)


def _ms(call) -> float:
    started = time.perf_counter()
    call()
    return (time.perf_counter() - started) * 1000.0


def measure(rows: int) -> StorageResult:
    import numpy as np
    from PIL import Image

    from appliance.decision import decide
    from appliance.inference import ModelBundle
    from appliance.ingest import thumbnail_jpeg
    from appliance.report import write_scan_report
    from appliance.store import Store
    from appliance.store.batching import BatchedResults
    from appliance.store.image_rows import NewImage

    card = ModelBundle.load(MODEL).card
    patch = next((ROOT / "demo" / "usb").glob("patient-*/*.png"))
    with Image.open(patch) as image:
        thumbnail = thumbnail_jpeg(image.convert("RGB"))
    rng = np.random.default_rng(0)
    with tempfile.TemporaryDirectory() as tmp:
        db = Path(tmp) / "bench.db"
        with Store.open(db) as store:
            scan_fields = dict(
                source="folder",
                volume_label="BENCH",
                volume_path=tmp,
                device="bench",
                model_name=card.name,
                model_version=card.version,
                model_sha256=card.sha256,
                backend="litert",
                thresholds={
                    "benign_below": card.thresholds.benign_below,
                    "malignant_at": card.thresholds.malignant_at,
                    "operating_point": card.thresholds.operating_point,
                },
            )
            scan_id = store.start_scan(**scan_fields)
            def row(index: int) -> NewImage:
                p = float(rng.random())
                return NewImage(
                    path=f"case-{index // 100:04d}/{index:05d}.png",
                    case=f"case-{index // 100:04d}",
                    sha256=f"{index:064x}",
                    size_bytes=6000,
                    width=50,
                    height=50,
                    status="ok",
                    decision=str(decide(p, card.thresholds)),
                    p_malignant=p,
                    error=None,
                    tiles=None,
                    thumbnail=thumbnail,
                    elapsed_ms=20.0,
                )

            unbatched = min(rows, 1000)
            started = time.perf_counter()
            for index in range(unbatched):
                store.record_images(scan_id, [row(index)])
            unbatched_ms = (time.perf_counter() - started) * 1000.0 / unbatched
            scan_id = store.start_scan(**scan_fields)
            pending = BatchedResults(store, scan_id)
            started = time.perf_counter()
            for index in range(rows):
                pending.add(row(index), int)
                if pending.due:
                    pending.flush()
            pending.flush()
            store.finish_scan(scan_id, "complete", None)
            write_s = time.perf_counter() - started
            list_ms = _ms(lambda: store.scans(limit=200))
            search_ms = _ms(lambda: store.scans(search="case-0042"))
            images_ms = _ms(lambda: store.images(scan_id))
            pdf = Path(tmp) / "report.pdf"
            started = time.perf_counter()
            write_scan_report(store, scan_id, pdf, device="bench")
            pdf_s = time.perf_counter() - started
            pdf_mb = pdf.stat().st_size / 2**20
        db_mb = db.stat().st_size / 2**20
    return StorageResult(
        rows=rows,
        write_s=write_s,
        write_ms_per_row=write_s * 1000.0 / rows,
        list_scans_ms=list_ms,
        search_ms=search_ms,
        images_of_scan_ms=images_ms,
        db_mb=db_mb,
        pdf_s=pdf_s,
        pdf_ms_per_row=pdf_s * 1000.0 / rows,
        pdf_mb=pdf_mb,
        peak_rss_mb=resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024.0,
        write_ms_per_row_unbatched=unbatched_ms,
    )


def run(rows: int, python: str = sys.executable) -> StorageResult | str:
    """Measure in a child process; the result, or the child's error in words."""
    command = [python, "-m", "bench.storage", str(rows)]
    done = subprocess.run(command, cwd=ROOT, capture_output=True, text=True, check=False)
    if done.returncode != 0:
        tail = (done.stderr or done.stdout).strip().splitlines()[-3:]
        return f"storage {rows}: child failed ({done.returncode}): " + " | ".join(tail)
    return StorageResult(**json.loads(done.stdout.strip().splitlines()[-1]))


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("rows", type=int)
    print(json.dumps(asdict(measure(parser.parse_args().rows))))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
