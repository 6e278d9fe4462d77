"""Screenshots of the real app for docs/technician.md, taken from a real X window under Xvfb.

    python scripts/screenshots.py                  # re-runs itself under xvfb-run at each size
    python scripts/screenshots.py --size 800x480   # one size

It drives the app like a technician on a copy of the demo stick (a mock USB port in a temporary
folder): waiting, scanning, finished, a result with its tile map, changing a result (with the
on-screen keyboard), the reviewer prompt, the review saved, history, about, admin, and the
problem screens (refused model, stick pulled out). The same tour runs at 1920x1080 (files
``NN-name.png``) and at 800x480 (``small-NN-name.png``). Each PNG is a grab of the whole X
screen, so what is saved is what the kiosk shows.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
SIZES = ("1920x1080", "800x480")  # a 1080p monitor and the official 7" touch screen


def relaunch_under_xvfb(size: str, model: Path | None) -> int:
    """Run the tour on a virtual screen of ``size``: an X server (xvfb-run) when there is one,
    else Qt's offscreen platform given a screen of that size (the window is grabbed instead of
    the screen; both show the real window, with the research-use banner)."""
    width, height = size.split("x")
    inside = [sys.executable, str(Path(__file__).resolve()), "--inside", "--size", size]
    if model is not None:
        inside += ["--model", str(model.resolve())]
    if shutil.which("xvfb-run"):
        command = ["xvfb-run", "-a", "-s", f"-screen 0 {width}x{height}x24 -dpi 96", *inside]
        return subprocess.call(command, env={**os.environ, "QT_QPA_PLATFORM": "xcb"})
    with tempfile.TemporaryDirectory() as folder:
        config = Path(folder) / "screen.json"
        screen = {"name": "kiosk", "x": 0, "y": 0, "width": int(width), "height": int(height)}
        config.write_text(json.dumps({"screens": [{**screen, "logicalDpi": 96, "dpr": 1}]}))
        platform = f"offscreen:configfile={config}"
        return subprocess.call(inside, env={**os.environ, "QT_QPA_PLATFORM": platform})


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--inside", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--size", choices=SIZES)
    parser.add_argument("--model", type=Path)
    args = parser.parse_args()
    if not args.inside:
        sizes = [args.size] if args.size else list(SIZES)
        codes = [relaunch_under_xvfb(size, args.model) for size in sizes]
        return max(codes)
    sys.path.insert(0, str(ROOT))
    return Shooter(args.size, args.model).run()


class Shooter:
    def __init__(self, size: str, model: Path | None) -> None:
        self.size = size
        self.small = size == "800x480"
        shipped = ROOT / "models" / "idc-mobilenetv2"
        self.model = model or (
            shipped if (shipped / "card.json").exists() else ROOT / "tests/data/tiny_bundle"
        )
        self.work = Path(tempfile.mkdtemp(prefix="histo-screens-"))
        OUT.mkdir(parents=True, exist_ok=True)

    # -- plumbing ------------------------------------------------------------------------------

    def spin(self, seconds: float) -> None:
        from PySide6.QtCore import QEventLoop, QTimer

        loop = QEventLoop()
        QTimer.singleShot(int(seconds * 1000), loop.quit)
        loop.exec()

    def until(self, condition, timeout: float = 300.0, what: str = "") -> None:
        deadline = time.monotonic() + timeout
        while not condition():
            if time.monotonic() > deadline:
                raise SystemExit(f"timed out waiting for {what}")
            self.spin(0.05)

    def shot(self, name: str) -> None:
        from PySide6.QtGui import QGuiApplication

        self.spin(0.4)
        if QGuiApplication.platformName() == "offscreen":  # no screen to grab: the window
            from PySide6.QtWidgets import QApplication

            shown = [w for w in QApplication.topLevelWidgets() if w.isVisible()]
            pixmap = shown[-1].grab()
        else:
            pixmap = QGuiApplication.primaryScreen().grabWindow(0)
        prefix = "" if not self.small else "small-"
        path = OUT / f"{prefix}{name}.png"
        pixmap.save(str(path))
        print(f"saved {path.relative_to(ROOT)} ({pixmap.width()}x{pixmap.height()})")

    def config(self, port: Path, **overrides):
        from appliance.config import Config

        values = {
            "model": self.model,
            "database": self.work / "appliance.db",
            "reports": self.work / "reports",
            "device_name": "histo-lab-pi-01",
            "mock_usb": port,
            "admin_pin": "2468",
            "kiosk": True,
        }
        values.update(overrides)
        return Config(**values)

    def window(self, config):
        from appliance.gui.app import create_window, show

        window = create_window(config, poll_interval=0.1)
        show(window)
        self.spin(0.5)
        return window

    def plug(self, port: Path, name: str, source: Path | None = None) -> Path:
        staging = self.work / f"staging-{name}"
        shutil.copytree(source or ROOT / "demo" / "usb", staging)
        stick = port / name
        staging.rename(stick)
        return stick

    # -- the tour --------------------------------------------------------------------------------

    def run(self) -> int:
        try:
            self.tour()
            self.problems()
        finally:
            shutil.rmtree(self.work, ignore_errors=True)
        return 0

    def slow_down(self, window, seconds: float) -> None:
        classifier = window.session.analyzer.classifier
        real = classifier.classify

        def slow(*args, **kwargs):
            time.sleep(seconds)
            return real(*args, **kwargs)

        classifier.classify = slow
        return real

    def tour(self) -> None:
        port = self.work / "port"
        port.mkdir()
        window = self.window(self.config(port))
        self.shot("01-waiting")

        real = self.slow_down(window, 0.25)
        self.plug(port, "DEMO-STICK")
        self.until(lambda: window.live.images.rowCount() >= 12, what="rows")
        self.shot("02-scanning")
        window.session.analyzer.classifier.classify = real
        self.until(
            lambda: window.scans.worker is None and window.live.scan_id is not None,
            what="the scan to finish",
        )
        self.shot("03-finished-cases")
        window.live.tabs.setCurrentWidget(window.live.images)
        self.shot("04-finished-images")

        scan_id = window.live.scan_id
        images = window.session.store.images(scan_id)
        slide = next(i for i in images if i.case.startswith("slide"))
        self.open(window, slide.id)
        window.result.opacity.setValue(60)
        self.zoom_on_tiles(window, slide, 2.5)
        self.shot("05-result-tile-map")

        patch = next(i for i in images if i.case == "patient-10262" and i.status == "ok")
        self.open(window, patch.id)
        for name in ("M. Okafor", "J. Lindqvist", "S. Haddad"):
            window.controller.audit_sign_in(name)
        review = window.result.review
        review.change_button.setChecked(True)
        corrected = "benign" if patch.decision != "benign" else "malignant"
        from appliance.decision import Decision

        review.choice_buttons[Decision(corrected)].setChecked(True)
        review.save_button.click()  # no note yet: the screen says so beside the note
        self.shot("06-review-change")
        review.keyboard_button.click()
        from appliance.gui.keyboard import keyboard_for

        keyboard = keyboard_for(review)
        keyboard.pick("Artefact")
        for char in "; re-cut":
            keyboard.type(char)
        self.shot("06b-keyboard")
        keyboard.done_button.click()
        review.save_button.click()
        self.until(
            lambda: (
                window.pages.currentWidget() is window.operator_page
                and window.operator_page.recent.count() > 0
            ),
            what="reviewer prompt",
        )
        self.shot("07-reviewer-prompt")
        window.operator_page.recent.itemAt(0).widget().click()
        self.until(lambda: window.result.human_detail.text() != "", what="review saved")
        self.shot("08-reviewed")

        window.result.back_button.click()
        window.live.export_button.click()
        self.until(lambda: "Report saved" in window.toast.text(), what="export")
        self.shot("09-exported")

        window.go("history")
        self.until(lambda: window.history.table.rowCount() > 0, what="history")
        self.shot("10-history")
        window.go("about")
        self.shot("11-about")
        window.go("admin")
        self.shot("12-admin-locked")
        window.admin.try_pin("2468")
        self.shot("13-admin")
        window.go("home")

        # Pull the stick out in the middle of a second scan.
        shutil.rmtree(port / "DEMO-STICK")
        self.spin(0.5)
        self.slow_down(window, 0.2)
        second = self.work / "second"
        (second / "patient-9036").mkdir(parents=True)
        (second / "patient-9077").mkdir(parents=True)
        from PIL import Image, PngImagePlugin

        for case in ("patient-9036", "patient-9077"):
            for index, path in enumerate(sorted((ROOT / "demo" / "usb" / case).glob("*.png"))):
                # Same pixels, new bytes: otherwise the first scan's results would be reused.
                info = PngImagePlugin.PngInfo()
                info.add_text("copy", str(index))
                with Image.open(path) as image:
                    image.save(second / case / f"copy-{index}-{path.name}", pnginfo=info)
        stick = port / "STICK-2"
        second.rename(stick)
        self.until(lambda: window.scans.worker is not None, what="the second scan to start")
        self.until(lambda: window.live.images.rowCount() >= 6, what="second scan rows")
        shutil.rmtree(stick)
        self.until(lambda: window.scans.worker is None, what="interrupted scan")
        self.spin(0.6)
        self.shot("14-stick-removed")
        window.close()

    @staticmethod
    def zoom_on_tiles(window, image, factor: float) -> None:
        """Zoom in on the middle of the most suspicious tiles, so the map's patterns show."""
        tiles = image.tiles
        if tiles is None:
            return
        scored = sorted(zip(tiles.probabilities, tiles.origins, strict=False), reverse=True)[:12]
        if not scored:
            return
        size = tiles.tile_size
        x = sum(o[0] for _, o in scored) / len(scored) + size / 2
        y = sum(o[1] for _, o in scored) / len(scored) + size / 2
        window.result.view.zoom_by(factor)
        window.result.view.centerOn(x, y)

    def open(self, window, image_id: int) -> None:
        shown: list[int] = []
        window.image_shown.connect(shown.append)
        window.results.open_image(image_id, window.live)
        self.until(lambda: image_id in shown, what=f"image {image_id}")
        window.image_shown.disconnect(shown.append)

    def problems(self) -> None:
        port = self.work / "port-bad"
        port.mkdir()
        bundle = self.work / "tampered-model"
        shutil.copytree(self.model, bundle)
        card = __import__("json").loads((bundle / "card.json").read_text())
        model = bundle / card["file"]
        data = bytearray(model.read_bytes())
        data[len(data) // 2] ^= 0xFF
        model.write_bytes(bytes(data))
        window = self.window(self.config(port, model=bundle, database=self.work / "bad.db"))
        self.shot("15-error-model-refused")
        window.close()


if __name__ == "__main__":
    raise SystemExit(main())
