"""Writing a report file so that a half-written one never appears under its real name.

Why: a stick can be pulled and a disk can fill while a report is written. Every format is
written beside its destination as ``<name>.part``, flushed to disk, and renamed into place only
when complete; on failure the part file is removed and the person gets words to act on.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path

from appliance.errors import ApplianceError


class ReportError(ApplianceError):
    """The report could not be written (disk full, stick removed, folder not writable)."""


def write_failed(path: Path, exc: OSError) -> ReportError:
    """The one wording for a destination that could not be written."""
    return ReportError(
        f"Could not write the report to {path}: {exc.strerror or exc}. Check that the"
        " destination is still plugged in, writable and not full, then try again."
    )


@contextlib.contextmanager
def atomic_output(path: Path) -> Iterator[Path]:
    """Yield the part file to write; on success it is fsynced and renamed to ``path``.

    An :class:`OSError` becomes a :class:`ReportError` worded for a person; any exception leaves
    no part file behind.
    """
    path = Path(path)
    part = path.with_name(path.name + ".part")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        yield part
        with open(part, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(part, path)
    except OSError as exc:
        with contextlib.suppress(OSError):
            part.unlink(missing_ok=True)
        raise write_failed(path, exc) from exc
    except BaseException:
        with contextlib.suppress(OSError):
            part.unlink(missing_ok=True)
        raise
