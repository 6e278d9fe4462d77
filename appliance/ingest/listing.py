"""What a USB stick holds: the images on it, grouped into cases, and what was left out and why.

A stick comes from outside the lab, so the walk trusts nothing on it: it never writes, never
follows a link out of the stick, never loops on a link that points back up the tree, and stops
after ``max_files`` entries so a hostile or broken file system cannot keep the appliance busy
forever. Anything left out for a reason a technician might care about is reported as
:class:`Skipped`; operating-system clutter (recycle bins, macOS metadata, thumbnails) is left out
silently because nobody put it there on purpose.
"""

from __future__ import annotations

import errno
import os
import re
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from appliance.errors import VolumeGone
from appliance.ingest.decode import kind_of
from appliance.text import display_text, natural_key

SUPPORTED_SUFFIXES = frozenset({".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"})

#: Case name used for images lying directly in the top folder of the stick.
ROOT_CASE = "(root)"

# Folders and files that operating systems create on removable media (compared case-insensitively).
_SYSTEM_NAMES = frozenset(
    name.casefold()
    for name in (
        "System Volume Information",
        "$RECYCLE.BIN",
        "RECYCLER",
        "RECYCLED",
        "lost+found",
        ".Trashes",
        ".Spotlight-V100",
        ".fseventsd",
        ".TemporaryItems",
        "__MACOSX",
        "Thumbs.db",
        "ehthumbs.db",
        "desktop.ini",
        ".DS_Store",
    )
)
# chkdsk / fsck leftovers: FOUND.000, FOUND.001, ...
_FOUND_DIR = re.compile(r"^found\.\d{3}$", re.IGNORECASE)


@dataclass(frozen=True)
class ImageRef:
    """One image file on a volume, by its path relative to the volume's top folder."""

    volume: Path
    relpath: PurePosixPath
    case: str
    size_bytes: int

    @property
    def path(self) -> Path:
        """Where to open the file (through the volume's mount point)."""
        return self.volume.joinpath(*self.relpath.parts)


@dataclass(frozen=True)
class Skipped:
    """Something on the stick that was not read, with the reason in words."""

    relpath: PurePosixPath
    reason: str

    @property
    def case(self) -> str:
        return case_of(self.relpath)


@dataclass(frozen=True)
class VolumeListing:
    """The result of :func:`list_volume`: images in a stable order, and what was left out."""

    root: Path
    images: list[ImageRef]
    skipped: list[Skipped]
    # What was left out silently, counted so an empty-looking stick can say what it did hold.
    not_images: int = 0  # files without an image suffix (documents, archives, ...)
    hidden: int = 0  # hidden entries and operating-system clutter

    def nothing_found(self, label: str) -> str:
        """What a stick without images held, in words (a scan keeps them with its record)."""
        held = []
        if self.not_images:
            held.append(
                "1 file that is not an image"
                if self.not_images == 1
                else f"{self.not_images} files that are not images"
            )
        if self.hidden:
            held.append(f"{_count(self.hidden, 'hidden or system file')} (left out)")
        if self.skipped:
            held.append(f"{_count(len(self.skipped), 'entry', 'entries')} that could not be read")
        what = "; it holds " + ", ".join(held) if held else "; the stick is empty"
        return (
            f"No images found on {display_text(label, 60)}{what}. Images are read from files"
            f" ending in {', '.join(sorted(SUPPORTED_SUFFIXES))}, in any folder."
        )

    @property
    def cases(self) -> dict[str, list[ImageRef]]:
        """Images grouped by case (their folder), in listing order."""
        grouped: dict[str, list[ImageRef]] = {}
        for ref in self.images:
            grouped.setdefault(ref.case, []).append(ref)
        return grouped


def _count(n: int, one: str, many: str | None = None) -> str:
    return f"{n} {one if n == 1 else many or one + 's'}"


def is_system_entry(name: str) -> bool:
    """True for hidden entries and the clutter operating systems leave on removable media."""
    if name.startswith("."):  # hidden files, AppleDouble "._x.png", .Trashes, .fseventsd, ...
        return True
    folded = name.casefold()
    return folded in _SYSTEM_NAMES or _FOUND_DIR.match(name) is not None


def is_supported(name: str) -> bool:
    """True when the file name has one of the image suffixes the appliance reads."""
    return os.path.splitext(name)[1].lower() in SUPPORTED_SUFFIXES


def _gone(root: Path, detail: str) -> VolumeGone:
    return VolumeGone(
        f"The USB stick was removed or cannot be read ({detail}). "
        "Plug it in again and start a new scan."
    )


def _root_readable(root: Path) -> bool:
    try:
        with os.scandir(root) as it:
            next(it, None)
    except OSError:
        return False
    return True


def _describe(error: OSError) -> str:
    if isinstance(error, PermissionError):
        return "permission denied"
    if error.errno == errno.ENAMETOOLONG:
        return "nested too deeply: the path is longer than the system allows"
    if error.errno == errno.ELOOP:
        return "links loop back on themselves"
    return error.strerror or errno.errorcode.get(error.errno or 0, "") or str(error)


class _Walker:
    """One walk over one volume; holds the state that protects against loops and huge trees."""

    def __init__(self, root: Path, max_files: int) -> None:
        self.root = root
        self.real_root = os.path.realpath(root)
        self.max_files = max_files
        self.seen = 0
        self.truncated = False
        self.images: list[ImageRef] = []
        self.skipped: list[Skipped] = []
        self.visited: set[tuple[int, int]] = set()
        self.not_images = 0
        self.hidden = 0

    def inside(self, real_path: str) -> bool:
        """True when a resolved path stays on the volume."""
        return real_path == self.real_root or real_path.startswith(
            self.real_root.rstrip(os.sep) + os.sep
        )

    def skip(self, rel: PurePosixPath, reason: str) -> None:
        self.skipped.append(Skipped(rel, reason))

    def entries(self, folder: Path, rel: PurePosixPath) -> Iterator[os.DirEntry[str]] | None:
        """Sorted entries of one folder, or None (recorded as skipped) when it cannot be read."""
        try:
            with os.scandir(folder) as it:
                return iter(sorted(it, key=lambda e: natural_key(e.name)))
        except OSError as error:
            if not _root_readable(self.root):
                raise _gone(self.root, _describe(error)) from error
            self.skip(rel, f"folder could not be read ({_describe(error)}); not scanned")
            return None

    def walk(self) -> None:
        """Depth-first walk with an explicit stack, so a very deep tree cannot overflow Python."""
        stack: list[tuple[Path, PurePosixPath]] = [(self.root, PurePosixPath())]
        while stack and not self.truncated:
            folder, rel = stack.pop()
            subfolders = self.walk_folder(folder, rel)
            stack.extend(reversed(subfolders))

    def walk_folder(self, folder: Path, rel: PurePosixPath) -> list[tuple[Path, PurePosixPath]]:
        """List one folder's images; return its sub-folders still to be walked."""
        subfolders: list[tuple[Path, PurePosixPath]] = []
        try:
            info = os.stat(folder)
        except OSError as error:
            if not _root_readable(self.root):
                raise _gone(self.root, _describe(error)) from error
            self.skip(rel, f"folder could not be read ({_describe(error)}); not scanned")
            return subfolders
        key = (info.st_dev, info.st_ino)
        if key in self.visited:
            self.skip(rel, "folder was already listed through another path; not read twice")
            return subfolders
        self.visited.add(key)
        entries = self.entries(folder, rel)
        if entries is None:
            return subfolders
        for entry in entries:
            if self.seen >= self.max_files:
                self.truncated = True
                break
            self.seen += 1
            if is_system_entry(entry.name):
                self.hidden += 1
                continue
            entry_rel = rel / entry.name
            try:
                self.visit(entry, entry_rel, subfolders)
            except OSError as error:
                if not _root_readable(self.root):
                    raise _gone(self.root, _describe(error)) from error
                self.skip(entry_rel, f"could not be read ({_describe(error)}); not read")
        return subfolders

    def visit(
        self,
        entry: os.DirEntry[str],
        rel: PurePosixPath,
        subfolders: list[tuple[Path, PurePosixPath]],
    ) -> None:
        """Decide what to do with one entry: descend, list as an image, skip, or ignore."""
        path = Path(entry.path)
        if entry.is_symlink():
            real = os.path.realpath(path)
            if not self.inside(real):
                if os.path.isdir(real):
                    self.skip(rel, "link to a folder outside the stick; not followed")
                elif is_supported(entry.name):
                    self.skip(rel, "link points outside the stick; not read")
                return
            if not os.path.exists(real):
                if is_supported(entry.name):
                    what = "points to a file that does not exist"
                    if os.path.islink(real):  # realpath stops at the link that loops
                        what = "loops back on itself"
                    self.skip(rel, f"link {what}; not read")
                return
        if entry.is_dir(follow_symlinks=True):
            subfolders.append((path, rel))
            return
        # A pipe named "notes" is ignored like any file that is not an image: a skipped entry
        # becomes an error row, which would make its case unassessable.
        if not is_supported(entry.name):
            self.not_images += 1
            return
        # stat, never open: looking at a pipe, socket or device this way cannot block or act.
        info = entry.stat(follow_symlinks=True)
        if not stat.S_ISREG(info.st_mode):
            self.skip(rel, f"not a regular file ({kind_of(info.st_mode)}); not read")
            return
        self.images.append(ImageRef(self.root, rel, case_of(rel), info.st_size))


def case_of(relpath: PurePosixPath) -> str:
    """The case of a file: the folder it is in, relative to the stick; the top folder is
    :data:`ROOT_CASE`."""
    return str(relpath.parent) if relpath.parent.parts else ROOT_CASE


def list_volume(root: Path, *, max_files: int = 100_000) -> VolumeListing:
    """List the images on a volume without writing to it.

    ``max_files`` caps how many folder entries (files and folders, any kind) are looked at; when
    the cap is reached the listing stops and a :class:`Skipped` entry says so. Raises
    :class:`~appliance.errors.VolumeGone` when the top folder itself cannot be read.
    """
    root = Path(root)
    try:
        if not os.path.isdir(root):
            raise _gone(root, f"{root} is not there")
        with os.scandir(root):
            pass
    except OSError as error:
        raise _gone(root, _describe(error)) from error
    walker = _Walker(root, max_files)
    walker.walk()
    if walker.truncated:
        walker.skip(
            PurePosixPath("."),
            f"the stick holds more than {max_files} files and folders; "
            "only the first ones were looked at",
        )
    images = sorted(
        walker.images, key=lambda ref: (natural_key(ref.case), natural_key(ref.relpath.name))
    )
    return VolumeListing(
        root=root,
        images=images,
        skipped=walker.skipped,
        not_images=walker.not_images,
        hidden=walker.hidden,
    )
