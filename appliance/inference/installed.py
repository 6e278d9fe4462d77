"""Model bundles an admin installed on this appliance: install, list, activate, roll back.

Layout, inside the config's ``models_dir``::

    <name>-<version>-<sha256[:12]>/   card.json, model.tflite (+ scope file), one folder per bundle
    current  -> the active bundle      (what the appliance runs unless the config pins a model)
    previous -> the bundle before it   (what ``rollback`` returns to)

Why this shape: every step that changes what runs is a rename (a folder copied under a temporary
name, a symlink made under a temporary name and moved over ``current`` with ``os.replace``), so a
power cut leaves either the old model or the new one active, never half a copy. Bundles are
verified with :meth:`ModelBundle.load` before they are copied and again after, and nothing is
deleted, so the previous model is always there to go back to. Every change is one audit row.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import os
import pwd
import re
import shutil
import tempfile
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from appliance.config import (
    CURRENT_LINK,
    PREVIOUS_LINK,
    Config,
    default_model_path,
    is_bundle,
    model_candidates,
    shipped_model_path,
)
from appliance.errors import ApplianceError, ModelRejected
from appliance.inference.bundle import ModelBundle

SHIPPED = "shipped"  # the name ``activate`` accepts for the model the package carries
_LOCK = ".lock"
_UNSAFE = re.compile(r"[^A-Za-z0-9._+-]+")


def load_model(config: Config) -> ModelBundle:
    """Load and verify the configured model; when no bundle exists anywhere, say every place
    that was looked at and how to put one there (instead of naming only the last guess)."""
    if not config.model_pinned and not is_bundle(config.model):
        places = "\n  ".join(str(p) for p in model_candidates(config.models_dir))
        raise ModelRejected(
            f"no model bundle was found. Looked in:\n  {places}\nInstall one with"
            " `histo-appliance model install BUNDLE_DIR`, set `model = ...` in the"
            " configuration, or reinstall the histo-appliance package."
        )
    return ModelBundle.load(config.model)


@dataclass(frozen=True)
class Change:
    """What one command did, for the message and the audit row."""

    action: str  # "installed", "activated", "rolled_back", "unchanged"
    old: dict[str, Any] | None
    new: dict[str, Any] | None
    detail: str

    @property
    def changed(self) -> bool:
        return self.action != "unchanged"


def folder_name(bundle: ModelBundle) -> str:
    """``<name>-<version>-<sha256[:12]>``: readable, and two different files never share it."""
    card = bundle.card
    return f"{_UNSAFE.sub('_', card.name)}-{_UNSAFE.sub('_', card.version)}-{card.short_sha}"


def describe(path: Path | None) -> dict[str, Any] | None:
    """Name, version, sha256 and folder of a bundle (verified), or the reason it is unusable."""
    if path is None:
        return None
    try:
        card = ModelBundle.load(path).card
    except ModelRejected as exc:
        return {"path": str(path), "problem": str(exc)}
    return {
        "name": card.name,
        "version": card.version,
        "sha256": card.sha256,
        "path": str(Path(path).resolve()),
    }


def link_target(models_dir: Path, name: str) -> Path | None:
    """Where ``current`` or ``previous`` points (resolved), or None when the link is absent."""
    link = Path(models_dir) / name
    return link.resolve() if link.is_symlink() else None


def active_bundle(models_dir: Path) -> Path | None:
    """What runs unless the config pins a model (the same lookup as the config's default)."""
    path = default_model_path(models_dir)
    return path if is_bundle(path) else None


def installed_bundles(models_dir: Path) -> list[Path]:
    """The bundle folders inside ``models_dir``, by name (links and temporary copies left out)."""
    folder = Path(models_dir)
    if not folder.is_dir():
        return []
    return sorted(
        p
        for p in folder.iterdir()
        if p.is_dir() and not p.is_symlink() and not p.name.startswith(".")
    )


Recorder = Callable[["Change"], None]


def install(source: Path, models_dir: Path, record: Recorder | None = None) -> Change:
    """Verify ``source``, copy its runtime files into ``models_dir`` and make it ``current``.

    A bundle that fails verification is refused with the card's own message and nothing on
    disk changes. The same bundle installed twice is a no-op that says so. ``record`` (the
    audit row) runs after the switch; if it fails, the links are put back as they were."""
    bundle = ModelBundle.load(source)  # hash and card checked before anything is copied
    models_dir = Path(models_dir)
    with _writing(models_dir, "install the model"), _locked(models_dir):
        target = models_dir / folder_name(bundle)
        old = active_bundle(models_dir)
        detail = "installed"
        if target.exists():
            try:
                ModelBundle.load(target)
            except ModelRejected:
                _set_aside(target)
                detail = "installed (the damaged copy installed earlier was moved aside)"
            else:
                if old is not None and old == target.resolve():
                    return Change("unchanged", describe(old), describe(target), _same(target))
                detail = "was already installed; made active again"
        if not target.exists():
            _copy_verified(bundle, target)
        change = Change("installed", describe(old), describe(target), detail)
        _switch(models_dir, new=target, previous=old, change=change, record=record)
        return change


def activate(name: str, models_dir: Path, record: Recorder | None = None) -> Change:
    """Make the installed bundle ``name`` (folder name, or a unique ``name``, ``name-version``
    or sha256 prefix; ``shipped`` for the package's own model) the active one."""
    models_dir = Path(models_dir)
    with _writing(models_dir, "activate the model"), _locked(models_dir):
        target = find(name, models_dir)
        ModelBundle.load(target)  # never point ``current`` at a damaged bundle
        old = active_bundle(models_dir)
        if old is not None and old == target.resolve():
            return Change("unchanged", describe(old), describe(target), _same(target))
        change = Change("activated", describe(old), describe(target), "activated")
        _switch(models_dir, new=target, previous=old, change=change, record=record)
        return change


def rollback(models_dir: Path, record: Recorder | None = None) -> Change:
    """Swap ``current`` and ``previous``: the model active before the last change runs again."""
    models_dir = Path(models_dir)
    with _writing(models_dir, "roll back the model"), _locked(models_dir):
        previous = link_target(models_dir, PREVIOUS_LINK)
        if previous is None:
            raise ApplianceError(
                f"there is no previous model to roll back to in {models_dir}: nothing was"
                " installed or activated there yet. `histo-appliance model list` shows what is"
                " installed."
            )
        try:
            ModelBundle.load(previous)
        except ModelRejected as exc:
            raise ModelRejected(
                f"cannot roll back: the previous model is unusable, so the current one stays. {exc}"
            ) from exc
        old = active_bundle(models_dir)
        if old is not None and old == previous:
            return Change(
                "unchanged", describe(old), describe(previous), "the previous model is active"
            )
        change = Change("rolled_back", describe(old), describe(previous), "rolled back")
        _switch(models_dir, new=previous, previous=old, change=change, record=record)
        return change


def find(name: str, models_dir: Path) -> Path:
    """The installed bundle a person named; an unknown or ambiguous name lists the choices."""
    if name == SHIPPED:
        shipped = shipped_model_path()
        if shipped is None:
            raise ApplianceError("this installation carries no shipped model")
        return shipped
    folders = installed_bundles(models_dir)
    exact = [p for p in folders if p.name == name]
    matches = exact or [
        p
        for p in folders
        if p.name.startswith(f"{name}-") or p.name.rsplit("-", 1)[-1].startswith(name.lower())
    ]
    if len(matches) == 1:
        return matches[0]
    choices = ", ".join(p.name for p in folders) or "none"
    what = "matches several installed models" if matches else "is not an installed model"
    raise ApplianceError(
        f"{name!r} {what}; installed in {models_dir}: {choices} (or {SHIPPED!r} for the model"
        " the package carries)"
    )


# --- on disk -------------------------------------------------------------------------------


def _same(target: Path) -> str:
    return f"{target.name} is already installed and active: nothing changed"


def _copy_verified(bundle: ModelBundle, target: Path) -> None:
    """Copy the card and the file it names (not a trainer's float model) under a temporary
    name, verify the copy, then rename it into place."""
    temporary = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
    try:
        for relative in bundle.runtime_files:
            destination = temporary / relative
            destination.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(bundle.directory / relative, destination)
            destination.chmod(0o644)
            with destination.open("rb") as stream:
                os.fsync(stream.fileno())
        for folder in [temporary, *(p for p in temporary.rglob("*") if p.is_dir())]:
            folder.chmod(0o755)  # mkdtemp makes 0700; the service user must read it
        copy = ModelBundle.load(temporary)
        if copy.card.sha256 != bundle.card.sha256:
            raise ModelRejected("the copied card differs from the bundle's; try again")
        _follow_owner(temporary, target.parent)
        os.rename(temporary, target)
        _sync_dir(target.parent)
    except BaseException:
        shutil.rmtree(temporary, ignore_errors=True)
        raise


def _set_aside(target: Path) -> None:
    """Keep a damaged installed copy for inspection, out of the way of a fresh one."""
    aside = target.with_name(f".{target.name}.damaged")
    shutil.rmtree(aside, ignore_errors=True)
    os.rename(target, aside)


def _switch(
    models_dir: Path,
    *,
    new: Path,
    previous: Path | None,
    change: Change,
    record: Recorder | None,
) -> None:
    """Point ``previous`` at what ran until now, then ``current`` at ``new`` (in that order:
    a power cut in between leaves the old model active and merely a fresh ``previous``), then
    record the change; a change that cannot be recorded is undone."""
    links = [models_dir / PREVIOUS_LINK, models_dir / CURRENT_LINK]
    before = {link: os.readlink(link) if link.is_symlink() else None for link in links}
    try:
        if previous is not None and previous.resolve() != new.resolve():
            _point(links[0], previous)
        _point(links[1], new)
        _sync_dir(models_dir)
        if record is not None:
            record(change)
    except BaseException:
        for link, value in before.items():
            if value is None:
                link.unlink(missing_ok=True)
            else:
                _point(link, Path(value) if Path(value).is_absolute() else models_dir / value)
        raise


def _point(link: Path, target: Path) -> None:
    """Make ``link`` point at ``target`` atomically (new link under a temporary name, then
    ``os.replace``). Relative inside ``models_dir``, so the folder can be moved or restored."""
    target = target.resolve()
    folder = link.parent.resolve()
    value = target.relative_to(folder) if target.is_relative_to(folder) else target
    temporary = link.with_name(f".{link.name}.{os.getpid()}.tmp")
    temporary.unlink(missing_ok=True)
    os.symlink(value, temporary)
    _follow_owner(temporary, link.parent)
    os.replace(temporary, link)


def _sync_dir(folder: Path) -> None:
    """fsync a folder so a rename in it survives a power cut."""
    descriptor = os.open(folder, os.O_RDONLY)
    try:
        os.fsync(descriptor)
    finally:
        os.close(descriptor)


def _follow_owner(path: Path, folder: Path) -> None:
    """When root (``sudo``) writes into a folder the service user owns, hand the new files to
    that user: otherwise the appliance could not replace or read them later."""
    if os.geteuid() != 0:
        return
    owner = folder.stat()
    if owner.st_uid == 0:
        return
    for item in [path, *(path.rglob("*") if path.is_dir() and not path.is_symlink() else [])]:
        os.chown(item, owner.st_uid, owner.st_gid, follow_symlinks=False)


def hand_over_database(database: Path) -> None:
    """The database files root just created or wrote go to the owner of their folder."""
    database = Path(database)
    for suffix in ("", "-wal", "-shm"):
        path = database.with_name(database.name + suffix)
        if path.exists() and path.stat().st_uid == 0:
            _follow_owner(path, database.parent)


@contextlib.contextmanager
def _locked(models_dir: Path) -> Iterator[None]:
    """One change at a time: two admins installing at once must not interleave the links."""
    with (models_dir / _LOCK).open("a") as lock:
        _follow_owner(models_dir / _LOCK, models_dir)
        fcntl.flock(lock, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(lock, fcntl.LOCK_UN)


@contextlib.contextmanager
def _writing(models_dir: Path, action: str) -> Iterator[None]:
    """Turn OS failures into words an admin can act on (who may write, how much space)."""
    try:
        if not models_dir.is_dir():
            models_dir.mkdir(parents=True)
            _follow_owner(models_dir, models_dir.parent)
        yield
    except OSError as exc:
        raise ApplianceError(_os_message(exc, models_dir, action)) from exc


def _os_message(exc: OSError, models_dir: Path, action: str) -> str:
    where = f"the models folder {models_dir}"
    if exc.errno in (errno.EACCES, errno.EPERM, errno.EROFS):
        return (
            f"could not {action}: {where} cannot be written ({exc.strerror}: {exc.filename})."
            " Run the command as root (`sudo histo-appliance model ...`) or as the user that"
            " owns that folder; on a read-only system, remount it writable first. Nothing was"
            " changed."
        )
    if exc.errno == errno.ENOSPC:
        return (
            f"could not {action}: the disk holding {where} is full. Free some space (old"
            " reports, backups or unused model folders) and try again. Nothing was changed."
        )
    return f"could not {action} in {where}: {exc}. Nothing was changed."


def os_actor() -> str:
    """Who made the change, for the audit log: the OS user, and who used sudo to become it."""
    try:
        user = pwd.getpwuid(os.geteuid()).pw_name
    except KeyError:
        user = f"uid {os.geteuid()}"
    via = os.environ.get("SUDO_USER")
    return f"{via} (sudo as {user})" if via and via != user else user
