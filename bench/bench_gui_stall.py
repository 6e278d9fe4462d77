"""How long does the GUI's event loop ever stall during a 200-image scan, and how much memory?

A QTimer fires every 5 ms on the GUI thread; the longest gap between two firings (minus the 5 ms)
is the longest time the screen could not react to a touch. Meanwhile a "user" switches between
the History page and the scan every second, so reads from the database and page changes happen
while the worker writes results. Peak memory is the process's maximum resident set size.

The 200 images are copies of the demo stick's IDC patches, each given a different PNG text chunk
so that every file has its own sha256 (otherwise the pipeline would reuse the first result and
skip inference). Pixels are unchanged.

    python bench/bench_gui_stall.py [--images 200] [--model models/idc-mobilenetv2]

Prints figures; it is not a test. Target from issue 3: longest stall < 100 ms.
"""

from __future__ import annotations

import argparse
import os
import resource
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")


def make_stick(target: Path, count: int) -> int:
    """``count`` unique PNGs in case folders of 20, from the demo patches; returns the count."""
    from PIL import Image, PngImagePlugin

    patches = sorted((ROOT / "demo" / "usb").glob("patient-*/*.png"))
    if not patches:
        raise SystemExit("no demo patches found under demo/usb/patient-*")
    for index in range(count):
        source = patches[index % len(patches)]
        case = target / f"case-{index // 20:02d}"
        case.mkdir(parents=True, exist_ok=True)
        info = PngImagePlugin.PngInfo()
        info.add_text("bench-copy", str(index))
        with Image.open(source) as image:
            image.save(case / f"{index:04d}-{source.name}", pnginfo=info)
    return count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=200)
    parser.add_argument("--model", type=Path, default=None)
    parser.add_argument("--interval-ms", type=int, default=5)
    args = parser.parse_args()

    from PySide6.QtCore import QElapsedTimer, QEventLoop, QTimer

    from appliance.config import Config
    from appliance.gui.app import create_window, show

    model = args.model
    if model is None:
        shipped = ROOT / "models" / "idc-mobilenetv2"
        model = shipped if (shipped / "card.json").exists() else ROOT / "tests/data/tiny_bundle"
    work = Path(tempfile.mkdtemp(prefix="bench-gui-"))
    try:
        port = work / "port"
        port.mkdir()
        staging = work / "staging"
        n = make_stick(staging, args.images)
        config = Config(
            model=model,
            database=work / "bench.db",
            reports=work / "reports",
            device_name="bench",
            mock_usb=port,
        )
        window = create_window(config, poll_interval=0.2)
        show(window)
        rss_idle = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        if window.session.problem is not None:
            raise SystemExit(
                f"cannot scan: {window.session.problem.title}: {window.session.problem.detail}"
            )

        gaps: list[float] = []
        clock = QElapsedTimer()
        ticker = QTimer()
        ticker.setInterval(args.interval_ms)
        ticker.setTimerType(ticker.timerType().PreciseTimer)

        def tick() -> None:
            if clock.isValid():
                gaps.append(clock.nsecsElapsed() / 1e6)
            clock.restart()

        ticker.timeout.connect(tick)
        user = QTimer()
        user.setInterval(1000)
        pages = iter(["history", "home"] * 10_000)
        user.timeout.connect(lambda: window.go(next(pages)))

        done: list = []
        loop = QEventLoop()
        window.scan_done.connect(lambda summary: (done.append(summary), loop.quit()))
        started = time.perf_counter()
        ticker.start()
        user.start()
        clock.start()
        (staging).rename(port / "BENCH")  # plug the stick in
        QTimer.singleShot(30 * 60 * 1000, loop.quit)
        loop.exec()
        elapsed = time.perf_counter() - started
        ticker.stop()
        user.stop()
        rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
        summary = done[0] if done else None
        status = getattr(summary, "status", summary)
        stalls = sorted((g - args.interval_ms for g in gaps), reverse=True)
        print(
            f"model                : {window.session.card.name} {window.session.card.version}"
            f" ({window.session.backend_name})"
        )
        print(f"images               : {n}, scan status {status}")
        print(f"scan wall time       : {elapsed:.1f} s ({n / elapsed:.1f} images/s, incl. watcher)")
        print(f"timer ticks          : {len(gaps)} at {args.interval_ms} ms")
        print(f"longest stall        : {stalls[0]:.1f} ms" if stalls else "no ticks")
        if stalls:
            p99 = stalls[max(0, len(stalls) // 100 - 1)]
            print(f"99th percentile gap  : {p99:.1f} ms beyond the interval")
            print(
                f"gaps > 50 ms / 100 ms: {sum(s > 50 for s in stalls)} / "
                f"{sum(s > 100 for s in stalls)}"
            )
        print(
            f"peak memory (maxrss) : {rss_peak:.0f} MB (after start-up, before scan: "
            f"{rss_idle:.0f} MB)"
        )
        window.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
