"""Installing, activating and rolling back model bundles, as an admin would from the command line:
verified before and after the copy, one audit row per change, nothing changed by a refusal."""

from __future__ import annotations

import argparse
import errno
import hashlib
import json
import os
import shutil
import sys
import tempfile
from pathlib import Path

import pytest

from appliance import config as config_module
from appliance.config import DEFAULT_MODEL, Config, load_config
from appliance.errors import ApplianceError, ModelRejected, StoreError
from appliance.inference import installed
from appliance.inference.installed import load_model
from appliance.model_cli import RESTART, add_model_parser, cmd_model
from appliance.store import Store
from tests.conftest import TINY_BUNDLE


@pytest.fixture
def shipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A shipped model (the tiny bundle under the default name) in place of the real one."""
    monkeypatch.setattr(config_module, "SOURCE_ROOT", tmp_path / "not-a-checkout")
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "venv"))
    monkeypatch.setattr(config_module, "SYSTEM_MODELS", tmp_path / "usr-share")
    folder = tmp_path / "usr-share" / DEFAULT_MODEL
    shutil.copytree(TINY_BUNDLE, folder)
    return folder


@pytest.fixture
def config(tmp_path: Path, shipped: Path) -> Config:
    return Config(models_dir=tmp_path / "models", database=tmp_path / "appliance.db")


def make_bundle(root: Path, version: str, *, extra: bytes = b"") -> Path:
    """A valid bundle differing from the tiny one in its version (and, with ``extra``, its
    file and sha256), plus a trainer's float model the appliance must not copy."""
    folder = root / f"bundle-{version}"
    shutil.copytree(TINY_BUNDLE, folder)
    model = folder / "model.tflite"
    model.write_bytes(model.read_bytes() + extra)
    card = json.loads((folder / "card.json").read_text())
    card["version"] = version
    card["sha256"] = hashlib.sha256(model.read_bytes()).hexdigest()
    (folder / "card.json").write_text(json.dumps(card))
    (folder / "float_model.keras").write_bytes(b"not for the appliance")
    return folder


def run(config: Config, *argv: str, config_file: Path | None = None) -> int:
    """``histo-appliance [--config F] model ...`` through the parser the CLI will use."""
    parser = argparse.ArgumentParser(prog="histo-appliance")
    parser.add_argument("--config", type=Path)
    add_model_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args([*(["--config", str(config_file)] if config_file else []), *argv])
    return cmd_model(args, config)


def model_events(config: Config) -> list:
    with Store.open(config.database) as store:
        return [e for e in reversed(store.audit_log()) if e.event.startswith("model_")]


def snapshot(folder: Path) -> dict[str, str]:
    """Names and link targets of a folder, to show that a refusal changed nothing."""
    if not folder.exists():
        return {}
    return {p.name: os.readlink(p) if p.is_symlink() else "" for p in folder.iterdir()}


def test_install_verifies_copies_runtime_files_and_switches(
    config: Config, shipped: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = make_bundle(tmp_path, "2", extra=b"\0")
    assert run(config, "model", "install", str(source)) == 0
    out = capsys.readouterr().out
    assert "tiny-redness 2: installed" in out
    assert RESTART in out

    folder = config.models_dir / installed.folder_name(load_model(Config(model=source)))
    assert sorted(p.name for p in folder.iterdir()) == ["card.json", "model.tflite"]
    assert (folder.stat().st_mode & 0o777, (folder / "model.tflite").stat().st_mode & 0o777) == (
        0o755,
        0o644,
    )
    assert os.readlink(config.models_dir / "current") == folder.name  # relative
    assert (config.models_dir / "previous").resolve() == shipped
    leftovers = [p.name for p in config.models_dir.iterdir() if p.name.startswith(".")]
    assert leftovers == [".lock"]  # no temporary copy or link left behind
    # A fresh config (what the restarted service reads) now runs the installed bundle.
    assert Config(models_dir=config.models_dir).model == folder


def test_installing_the_same_bundle_twice_changes_nothing(
    config: Config, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = make_bundle(tmp_path, "2", extra=b"\0")
    run(config, "model", "install", str(source))
    before = snapshot(config.models_dir)
    capsys.readouterr()
    assert run(config, "model", "install", str(source)) == 0
    out = capsys.readouterr().out
    assert "already installed and active: nothing changed" in out
    assert RESTART not in out
    assert snapshot(config.models_dir) == before
    assert [e.event for e in model_events(config)] == ["model_installed"]


def test_a_tampered_bundle_is_refused_and_nothing_changes(config: Config, tmp_path: Path) -> None:
    run(config, "model", "install", str(make_bundle(tmp_path, "2", extra=b"\0")))
    before = snapshot(config.models_dir)
    tampered = make_bundle(tmp_path, "3", extra=b"\1")
    with (tampered / "model.tflite").open("ab") as stream:
        stream.write(b"changed after export")
    with pytest.raises(ModelRejected) as caught:
        run(config, "model", "install", str(tampered))
    assert "does not match its card" in str(caught.value)
    assert "Nothing was changed" in str(caught.value)
    assert snapshot(config.models_dir) == before
    assert len(model_events(config)) == 1


def test_rollback_swaps_current_and_previous(config: Config, shipped: Path, tmp_path: Path) -> None:
    two = make_bundle(tmp_path, "2", extra=b"\0")
    three = make_bundle(tmp_path, "3", extra=b"\1")
    run(config, "model", "install", str(two))
    run(config, "model", "install", str(three))

    def active() -> str:
        return load_model(Config(models_dir=config.models_dir)).card.version

    assert active() == "3"
    assert run(config, "model", "rollback") == 0
    assert active() == "2"
    run(config, "model", "rollback")
    assert active() == "3"
    run(config, "model", "activate", "shipped")
    assert Config(models_dir=config.models_dir).model == shipped
    run(config, "model", "activate", "tiny-redness-2")
    assert active() == "2"


def test_audit_rows_name_old_and_new_model_and_the_os_user(
    config: Config, shipped: Path, tmp_path: Path
) -> None:
    source = make_bundle(tmp_path, "2", extra=b"\0")
    run(config, "model", "install", str(source))
    run(config, "model", "rollback")
    install, back = model_events(config)
    assert (install.event, back.event) == ("model_installed", "model_rolled_back")
    new_sha = hashlib.sha256((source / "model.tflite").read_bytes()).hexdigest()
    shipped_sha = json.loads((shipped / "card.json").read_text())["sha256"]
    assert install.payload["old"] == {
        "name": "tiny-redness",
        "version": "1",
        "sha256": shipped_sha,
        "path": str(shipped),
    }
    assert {k: install.payload["new"][k] for k in ("version", "sha256")} == {
        "version": "2",
        "sha256": new_sha,
    }
    assert install.payload["source"] == str(source)
    assert (back.payload["old"]["version"], back.payload["new"]["version"]) == ("2", "1")
    assert install.actor == installed.os_actor()
    assert install.actor  # the OS user, never empty


def test_rollback_and_activate_refusals_say_what_to_do(config: Config, tmp_path: Path) -> None:
    with pytest.raises(ApplianceError, match="no previous model to roll back to"):
        run(config, "model", "rollback")
    run(config, "model", "install", str(make_bundle(tmp_path, "2", extra=b"\0")))
    run(config, "model", "install", str(make_bundle(tmp_path, "3", extra=b"\1")))
    with pytest.raises(ApplianceError, match=r"matches several installed models.*tiny-redness-2"):
        run(config, "model", "activate", "tiny-redness")
    with pytest.raises(ApplianceError, match="'nope' is not an installed model"):
        run(config, "model", "activate", "nope")
    # The previous bundle damaged on the card: rollback refuses and the current one stays.
    previous = (config.models_dir / "previous").resolve()
    (previous / "model.tflite").write_bytes(b"corrupted")
    before = snapshot(config.models_dir)
    with pytest.raises(ModelRejected, match=r"cannot roll back.*does not match its card"):
        run(config, "model", "rollback")
    assert snapshot(config.models_dir) == before


def test_a_damaged_installed_copy_is_replaced_on_reinstall(config: Config, tmp_path: Path) -> None:
    source = make_bundle(tmp_path, "2", extra=b"\0")
    run(config, "model", "install", str(source))
    folder = (config.models_dir / "current").resolve()
    (folder / "model.tflite").write_bytes(b"bit rot")
    run(config, "model", "install", str(source))
    assert load_model(Config(models_dir=config.models_dir)).card.version == "2"
    assert (config.models_dir / f".{folder.name}.damaged").is_dir()


def test_permission_error_is_a_message_and_changes_nothing(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def refuse(*args: object, **kwargs: object) -> str:
        raise PermissionError(errno.EACCES, "Permission denied", str(config.models_dir))

    config.models_dir.mkdir(parents=True)
    monkeypatch.setattr(tempfile, "mkdtemp", refuse)
    with pytest.raises(ApplianceError) as caught:
        run(config, "model", "install", str(make_bundle(tmp_path, "2", extra=b"\0")))
    message = str(caught.value)
    assert "cannot be written (Permission denied" in message
    assert "sudo histo-appliance model" in message
    assert "current" not in snapshot(config.models_dir)
    assert model_events(config) == []


@pytest.mark.skipif(os.geteuid() == 0, reason="root may write anywhere")
def test_unwritable_models_folder_for_real(config: Config, tmp_path: Path) -> None:
    config.models_dir.mkdir(parents=True)
    config.models_dir.chmod(0o555)
    try:
        with pytest.raises(ApplianceError, match="cannot be written"):
            run(config, "model", "install", str(make_bundle(tmp_path, "2", extra=b"\0")))
    finally:
        config.models_dir.chmod(0o755)


def test_a_change_that_cannot_be_audited_is_undone(
    config: Config, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    run(config, "model", "install", str(make_bundle(tmp_path, "2", extra=b"\0")))
    before = {name: os.readlink(config.models_dir / name) for name in ("current", "previous")}

    def full(*args: object, **kwargs: object) -> int:
        raise StoreError("Could not write the audit log: the disk is full.")

    monkeypatch.setattr(Store, "audit", full)
    with pytest.raises(StoreError, match="disk is full"):
        run(config, "model", "install", str(make_bundle(tmp_path, "3", extra=b"\1")))
    after = {name: os.readlink(config.models_dir / name) for name in ("current", "previous")}
    assert after == before


def test_a_config_that_pins_the_model_is_named(
    tmp_path: Path, shipped: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(f'model = "{shipped}"\nmodels_dir = "models"\ndatabase = "appliance.db"\n')
    config = load_config(path)
    run(config, "model", "install", str(make_bundle(tmp_path, "2", extra=b"\0")), config_file=path)
    out = capsys.readouterr().out
    assert f"{path} sets model = " in out
    assert "overrides the active model" in out
    run(config, "model", "list", config_file=path)
    assert "overrides the active model" in capsys.readouterr().out


def test_list_json_shows_active_previous_and_shipped(
    config: Config, shipped: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    run(config, "model", "install", str(make_bundle(tmp_path, "2", extra=b"\0")), "--json")
    change = json.loads(capsys.readouterr().out)
    assert (change["action"], change["changed"], change["restart"]) == ("installed", True, RESTART)
    run(config, "model", "list", "--json")
    listing = json.loads(capsys.readouterr().out)
    rows = {row["folder"]: row for row in listing["bundles"]}
    assert rows["tiny-redness-2-" + change["new"]["sha256"][:12]]["active"]
    assert rows["shipped"]["previous"] and rows["shipped"]["shipped"]
    assert listing["config_pins_model"] is None


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to hand files to another user")
def test_sudo_installs_hand_files_to_the_owner_of_the_folder(
    config: Config, tmp_path: Path
) -> None:
    nobody = 65534
    os.chown(tmp_path, nobody, nobody)  # as /var/lib/histo-appliance, models_dir not made yet
    run(config, "model", "install", str(make_bundle(tmp_path, "2", extra=b"\0")))
    current = (config.models_dir / "current").resolve()
    owners = {p.name: p.lstat().st_uid for p in [current, *current.iterdir()]}
    owners["current"] = (config.models_dir / "current").lstat().st_uid
    owners["database"] = config.database.stat().st_uid
    owners["models_dir"] = config.models_dir.stat().st_uid
    owners[".lock"] = (config.models_dir / ".lock").stat().st_uid
    assert set(owners.values()) == {nobody}, owners
