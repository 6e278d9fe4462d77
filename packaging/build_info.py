"""Print build-info.json for a package: {"version", "built_at", "target"}.

Why: a Pi has no real-time clock; the appliance judges its clock against the moment its software
was built (appliance.buildinfo), so that moment must be fixed at build time and reproducible:
``SOURCE_DATE_EPOCH`` when set (dpkg-buildpackage sets it), else the last commit's time.

    python3 packaging/build_info.py bookworm-arm64 [checkout]
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from datetime import UTC, datetime
from pathlib import Path

TARGETS = ("bookworm-arm64", "trixie-arm64", "bookworm-amd64")


def version(checkout: Path) -> str:
    """appliance.__version__, read without importing the package."""
    text = (checkout / "appliance" / "__init__.py").read_text(encoding="utf-8")
    match = re.search(r'^__version__ = "([^"]+)"', text, re.MULTILINE)
    if not match:
        raise SystemExit("build_info: no __version__ in appliance/__init__.py")
    return match.group(1)


def build_epoch(checkout: Path) -> int:
    if os.environ.get("SOURCE_DATE_EPOCH"):
        return int(os.environ["SOURCE_DATE_EPOCH"])
    out = subprocess.run(
        ["git", "-C", str(checkout), "log", "-1", "--format=%ct"],
        capture_output=True, text=True, check=True,
    )
    return int(out.stdout.strip())


def main() -> int:
    if len(sys.argv) < 2 or sys.argv[1] not in TARGETS:
        print(f"usage: build_info.py {{{'|'.join(TARGETS)}}} [checkout]", file=sys.stderr)
        return 2
    checkout = Path(sys.argv[2] if len(sys.argv) > 2 else Path(__file__).parent.parent)
    built_at = datetime.fromtimestamp(build_epoch(checkout), UTC)
    info = {
        "version": version(checkout),
        "built_at": built_at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "target": sys.argv[1],
    }
    print(json.dumps(info, indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
