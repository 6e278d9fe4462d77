"""A case's specimen details, read from a small text file the lab puts in the case's folder.

The format (``specimen.txt``, one per case folder; in the stick's top folder for images lying
there) is plain ``key: value`` lines, so anyone can write it in Notepad or export it from a lab
system::

    # lines starting with # are comments; keys are not case-sensitive
    Accession: S24-01234
    Specimen: S24-01234-A
    Type: core needle biopsy
    Site: left breast, upper outer quadrant
    Collected: 2024-05-01
    Note: three cores, H&E

Keys (and the spellings also accepted): ``accession`` (accession number), ``specimen``
(specimen id), ``type`` (specimen type), ``site`` (body site), ``collected`` (collection date,
collected on), ``note``. Anything else is kept out and said in the record's problems.

Why so careful: the file comes from outside the lab like everything on a stick. It is read only
when it is a regular file inside the case folder (a link is not followed: it could point off the
stick or at a device), at most :data:`MAX_BYTES`; bytes that are not UTF-8 read as U+FFFD, and
every value is made safe to show (:func:`appliance.text.display_text`: no control or bidi
characters) and shortened to :data:`MAX_VALUE` characters. Nothing here raises: a missing or
unusable file leaves the case with its folder name, and the reason is recorded.
"""

from __future__ import annotations

import errno
import os
import stat
from pathlib import Path

from appliance.ingest.listing import ROOT_CASE, VolumeListing
from appliance.store.cases import FOLDER, SIDECAR, SIDECAR_NAME, CaseDetails
from appliance.text import display_text, natural_key

MAX_BYTES = 4096  # a sidecar holds a few short lines; anything bigger is not one
MAX_LINES = 40
MAX_VALUE = 200  # characters per value (a note may have NOTE_VALUE)
NOTE_VALUE = 500

# Accepted spellings (lower case, spaces/underscores/hyphens as one space) -> CaseDetails field.
KEYS: dict[str, str] = {
    "accession": "accession",
    "accession number": "accession",
    "accession no": "accession",
    "specimen": "specimen",
    "specimen id": "specimen",
    "type": "specimen_type",
    "specimen type": "specimen_type",
    "site": "body_site",
    "body site": "body_site",
    "collected": "collected",
    "collection date": "collected",
    "collected on": "collected",
    "note": "note",
}


def case_folder(root: Path, case: str) -> Path:
    """The folder a case's images are in (the stick's top folder for :data:`ROOT_CASE`)."""
    return Path(root) if case == ROOT_CASE else Path(root).joinpath(*case.split("/"))


def _normal_key(key: str) -> str:
    return " ".join(key.replace("_", " ").replace("-", " ").split()).casefold().rstrip(".")


def _read_bytes(path: Path) -> tuple[bytes | None, str | None]:
    """The file's bytes, or None with the reason when it is absent (no reason) or unusable."""
    flags = os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0) | getattr(os, "O_NONBLOCK", 0)
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        return None, None
    except OSError as exc:
        if exc.errno == errno.ELOOP:
            return None, f"{SIDECAR_NAME} is a link; links are not followed, so it was not read"
        return None, f"{SIDECAR_NAME} could not be read ({exc.strerror or exc})"
    try:
        info = os.fstat(fd)
        if not stat.S_ISREG(info.st_mode):
            return None, f"{SIDECAR_NAME} is not a regular file; not read"
        if info.st_size > MAX_BYTES:
            return None, (
                f"{SIDECAR_NAME} is {info.st_size} bytes, more than the {MAX_BYTES} a specimen"
                " file may have; not read"
            )
        data = os.read(fd, MAX_BYTES + 1)
    except OSError as exc:
        return None, f"{SIDECAR_NAME} could not be read ({exc.strerror or exc})"
    finally:
        os.close(fd)
    if len(data) > MAX_BYTES:  # it grew between the check and the read
        return None, f"{SIDECAR_NAME} is larger than {MAX_BYTES} bytes; not read"
    return data, None


def parse_sidecar(case: str, data: bytes) -> CaseDetails:
    """The details a sidecar's bytes give for ``case``, with what could not be used."""
    text = data.decode("utf-8", "replace").removeprefix("\ufeff")
    values: dict[str, str] = {}
    problems: list[str] = []
    lines = text.splitlines()
    if len(lines) > MAX_LINES:
        problems.append(f"only the first {MAX_LINES} lines of {SIDECAR_NAME} were read")
    for number, line in enumerate(lines[:MAX_LINES], start=1):
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, colon, value = line.partition(":")
        field = KEYS.get(_normal_key(key)) if colon else None
        if field is None:
            shown = display_text(key if colon else line, 40)
            problems.append(f"line {number} of {SIDECAR_NAME} ({shown!r}) is not a known field")
            continue
        limit = NOTE_VALUE if field == "note" else MAX_VALUE
        cleaned = display_text(value.strip(), limit)
        if not cleaned:
            continue
        if field in values:
            problems.append(f"{field.replace('_', ' ')} is given twice; the first one is kept")
            continue
        values[field] = cleaned
    return CaseDetails(case=case, source=SIDECAR, problems=tuple(problems), **values)


def read_case_details(root: Path, case: str) -> CaseDetails:
    """The details of one case: from its sidecar file when there is a usable one, else only the
    folder name (with the reason when a sidecar was there but could not be used)."""
    data, problem = _read_bytes(case_folder(root, case) / SIDECAR_NAME)
    if data is None:
        return CaseDetails(case=case, source=FOLDER, problems=(problem,) if problem else ())
    return parse_sidecar(case, data)


def listing_case_details(listing: VolumeListing) -> list[CaseDetails]:
    """The details of every case on a listed stick (images and skipped entries alike), in
    natural order."""
    cases = {ref.case for ref in listing.images} | {skipped.case for skipped in listing.skipped}
    return [read_case_details(listing.root, case) for case in sorted(cases, key=natural_key)]
