"""``histo-appliance model list | install BUNDLE_DIR | activate NAME | rollback``.

One command each for the admin's model changes, so that swapping a model on an appliance never
means editing links or the config by hand. The work is in :mod:`appliance.inference.installed`;
this module words the outcome, writes the audit row, and says what must happen next (the
running kiosk or watch service keeps the model it started with until it is restarted).
"""

from __future__ import annotations

import argparse
import json
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from appliance.config import Config, config_path
from appliance.errors import ApplianceError

RESTART = "sudo systemctl restart histo-appliance-kiosk"
RESTART_HEADLESS = "sudo systemctl restart histo-appliance-watch"
EXIT_OK = 0


def add_model_parser(commands: argparse._SubParsersAction) -> None:
    """Add ``model`` and its sub-commands to the ``histo-appliance`` parser."""
    model = commands.add_parser("model", help="list, install, activate or roll back model bundles")
    actions = model.add_subparsers(dest="model_command", required=True, metavar="ACTION")

    listing = actions.add_parser("list", help="installed bundles and which one runs")
    listing.add_argument("--json", action="store_true", help="one JSON object")

    install = actions.add_parser(
        "install", help="verify a bundle folder, copy it in and make it active"
    )
    install.add_argument("bundle", type=Path, help="folder with card.json and model.tflite")
    install.add_argument("--json", action="store_true", help="one JSON object")

    activate = actions.add_parser("activate", help="make an installed bundle the active one")
    activate.add_argument(
        "name",
        help="folder name from `model list` (or name, name-version, sha256 prefix, or 'shipped')",
    )
    activate.add_argument("--json", action="store_true", help="one JSON object")

    rollback = actions.add_parser("rollback", help="go back to the model active before")
    rollback.add_argument("--json", action="store_true", help="one JSON object")

    for action in (listing, install, activate, rollback):
        action.add_argument(
            "--db", type=Path, dest="database", help="SQLite database (the audit log)"
        )


def cmd_model(args: argparse.Namespace, config: Config) -> int:
    """Run ``histo-appliance model ...``; errors are :class:`ApplianceError` with words."""
    from appliance.inference import installed

    if args.model_command == "list":
        return _list(args, config)
    if args.model_command == "install":
        source = Path(args.bundle)
        if not source.exists():
            raise ApplianceError(
                f"there is no model bundle at {source}: give the folder that holds card.json"
                " and model.tflite (for example on a mounted stick)"
            )
        _refuse_unverified(source)
        action = partial(installed.install, source, config.models_dir)
    elif args.model_command == "activate":
        action = partial(installed.activate, args.name, config.models_dir)
    else:
        action = partial(installed.rollback, config.models_dir)
    change = _audited(config, action, source=getattr(args, "bundle", None))
    _report(args, config, change)
    return EXIT_OK


def _refuse_unverified(source: Path) -> None:
    """Verify the bundle (hash, card) before anything is opened or copied, and say that a
    refused bundle left the appliance as it was."""
    from appliance.errors import ModelRejected
    from appliance.inference.bundle import ModelBundle

    try:
        ModelBundle.load(source)
    except ModelRejected as exc:
        raise ModelRejected(f"refused to install {source}: {exc} Nothing was changed.") from exc


def _audited(config: Config, action: Callable[..., Any], source: Path | None) -> Any:
    """Run ``action`` with the audit row as its last step. The database is opened first, so an
    unwritable database stops the command before any model link moves."""
    from appliance.inference.installed import hand_over_database, os_actor
    from appliance.store import Store

    try:
        with Store.open(config.database) as store:

            def record(change: Any) -> None:
                payload: dict[str, Any] = {
                    "old": change.old,
                    "new": change.new,
                    "models_dir": str(config.models_dir),
                }
                if source is not None:
                    payload["source"] = str(Path(source).resolve())
                store.audit(f"model_{change.action}", actor=os_actor(), **payload)

            return action(record=record)
    finally:
        hand_over_database(config.database)


def _report(args: argparse.Namespace, config: Config, change: Any) -> None:
    pinned = _pinned_note(args, config)
    if args.json:
        print(
            json.dumps(
                {
                    "action": change.action,
                    "changed": change.changed,
                    "old": change.old,
                    "new": change.new,
                    "config_pins_model": str(config.model) if config.model_pinned else None,
                    "restart": RESTART if change.changed else None,
                },
                indent=2,
            )
        )
        return
    new = change.new or {}
    print(f"{_label(new)}: {change.detail}.")
    if change.changed:
        print(f"  before: {_label(change.old) if change.old else 'no model'}")
        print(f"  now:    {_label(new)} — sha256 {new.get('sha256', '?')[:16]}… verified")
        print("  (audit log: histo-appliance audit)")
    if pinned:
        print(pinned)
    elif change.changed:
        print(
            "The running appliance keeps the model it started with. Restart it to use this one:\n"
            f"  {RESTART}\n  (on an appliance without a screen: {RESTART_HEADLESS})"
        )


def _pinned_note(args: argparse.Namespace, config: Config) -> str | None:
    """The words for a config that names a model: installing changes the active bundle, but
    the appliance keeps running the pinned one until that line is removed."""
    if not config.model_pinned:
        return None
    where = getattr(args, "config", None) or config_path() or "the configuration"
    return (
        f'Note: {where} sets model = "{config.model}", which overrides the active model: the'
        " appliance keeps running that one. Remove the `model =` line to use the active"
        f" model, then restart the appliance ({RESTART})."
    )


def _label(info: dict[str, Any] | None) -> str:
    if not info:
        return "no model"
    if "problem" in info:
        return f"{info['path']} (unusable)"
    return f"{info['name']} {info['version']}"


def _list(args: argparse.Namespace, config: Config) -> int:
    from appliance.config import CURRENT_LINK, PREVIOUS_LINK, shipped_model_path
    from appliance.inference import installed

    models_dir = Path(config.models_dir)
    current = installed.link_target(models_dir, CURRENT_LINK)
    previous = installed.link_target(models_dir, PREVIOUS_LINK)
    active = installed.active_bundle(models_dir)
    shipped = shipped_model_path()
    folders = installed.installed_bundles(models_dir)
    if shipped is not None and shipped not in folders:
        folders.append(shipped)
    rows = []
    for folder in folders:
        info = installed.describe(folder) or {}
        resolved = folder.resolve()
        rows.append(
            {
                **info,
                "folder": folder.name if folder != shipped else installed.SHIPPED,
                "path": str(resolved),
                "active": resolved == active,
                "previous": resolved == previous,
                "shipped": folder == shipped,
            }
        )
    running = str(config.model)
    if args.json:
        print(
            json.dumps(
                {
                    "models_dir": str(models_dir),
                    "current": str(current) if current else None,
                    "previous": str(previous) if previous else None,
                    "config_pins_model": running if config.model_pinned else None,
                    "runs": running,
                    "bundles": rows,
                },
                indent=2,
            )
        )
        return EXIT_OK
    print(f"installed models in {models_dir}:")
    if not rows:
        print("  none (install one with: histo-appliance model install BUNDLE_DIR)")
    for row in rows:
        mark = "*" if row["active"] else ("<" if row["previous"] else " ")
        what = (
            f"{row['name']} {row['version']}  sha256 {row['sha256'][:12]}"
            if "problem" not in row
            else f"UNUSABLE: {row['problem']}"
        )
        print(f" {mark} {row['folder']:<40} {what}")
    print("  (* active, < previous: `histo-appliance model rollback` returns to it)")
    note = _pinned_note(args, config)
    print(note if note else f"the appliance runs: {running}")
    return EXIT_OK
