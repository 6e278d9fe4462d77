"""The configuration: where the default model is found (the same way for a source checkout, a
wheel and the .deb), and values checked for their type with words that name key, file and rule."""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import pytest

from appliance import config as config_module
from appliance.config import (
    DEFAULT_MODEL,
    KNOWN_BACKENDS,
    Config,
    default_model_path,
    load_config,
    model_candidates,
)
from appliance.errors import ApplianceError, ModelRejected
from appliance.inference.installed import load_model
from tests.conftest import TINY_BUNDLE


@pytest.fixture
def places(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, Path]:
    """Four empty places a default model can live, with the module pointed at them."""
    paths = {
        "models_dir": tmp_path / "data" / "models",
        "source": tmp_path / "checkout",
        "prefix": tmp_path / "venv",
        "system": tmp_path / "usr-share" / "models",
    }
    (paths["source"] / "appliance").mkdir(parents=True)
    (paths["source"] / "appliance" / "__init__.py").write_text("")
    (paths["source"] / "pyproject.toml").write_text("[project]\n")
    monkeypatch.setattr(config_module, "SOURCE_ROOT", paths["source"])
    monkeypatch.setattr(config_module, "SYSTEM_MODELS", paths["system"])
    monkeypatch.setattr(sys, "prefix", str(paths["prefix"]))
    return paths


def _bundle_at(folder: Path) -> Path:
    folder.parent.mkdir(parents=True, exist_ok=True)
    shutil.copytree(TINY_BUNDLE, folder)
    return folder


def test_default_model_is_looked_up_in_one_order(places: dict[str, Path]) -> None:
    installed = _bundle_at(places["models_dir"] / "tiny-1-abc")
    (places["models_dir"] / "current").symlink_to(installed.name)
    source = _bundle_at(places["source"] / "models" / DEFAULT_MODEL)
    wheel = _bundle_at(places["prefix"] / "share" / "histo-appliance" / "models" / DEFAULT_MODEL)
    deb = _bundle_at(places["system"] / DEFAULT_MODEL)

    assert default_model_path(places["models_dir"]) == installed  # the link, resolved
    (places["models_dir"] / "current").unlink()
    assert default_model_path(places["models_dir"]) == source
    (places["source"] / "pyproject.toml").unlink()  # site-packages: no checkout models
    assert default_model_path(places["models_dir"]) == wheel
    shutil.rmtree(wheel)
    assert default_model_path(places["models_dir"]) == deb
    assert Config(models_dir=places["models_dir"]).model == deb


def test_a_dangling_current_link_falls_through(places: dict[str, Path]) -> None:
    deb = _bundle_at(places["system"] / DEFAULT_MODEL)
    places["models_dir"].mkdir(parents=True)
    (places["models_dir"] / "current").symlink_to("removed-by-hand")
    assert default_model_path(places["models_dir"]) == deb


def test_no_model_anywhere_lists_every_place(places: dict[str, Path]) -> None:
    config = Config(models_dir=places["models_dir"])
    assert not config.model_pinned
    with pytest.raises(ModelRejected) as caught:
        load_model(config)
    message = str(caught.value)
    for place in model_candidates(places["models_dir"]):
        assert str(place) in message
    assert len(model_candidates(places["models_dir"])) == 4
    assert "histo-appliance model install" in message


def test_a_pinned_model_is_loaded_as_named(places: dict[str, Path], tmp_path: Path) -> None:
    config = Config(model=tmp_path / "missing")
    assert config.model_pinned
    with pytest.raises(ModelRejected, match="does not exist"):
        load_model(config)
    assert load_model(Config(model=TINY_BUNDLE)).card.name == "tiny-redness"


def test_file_settings_paths_and_pinning(places: dict[str, Path], tmp_path: Path) -> None:
    deb = _bundle_at(places["system"] / DEFAULT_MODEL)
    path = tmp_path / "etc" / "config.toml"
    path.parent.mkdir()
    path.write_text('models_dir = "models"\nnum_threads = 4\nkiosk = true\nbackend = "LiteRT"\n')
    config = load_config(path)
    assert config.models_dir == path.parent / "models"
    assert (config.model, config.model_pinned) == (deb, False)
    assert (config.num_threads, config.kiosk, config.backend) == (4, True, "litert")

    installed = _bundle_at(tmp_path / "other" / "tiny")
    moved = config.with_overrides(models_dir=tmp_path / "other")
    assert moved.model == deb  # no "current" there yet
    (tmp_path / "other" / "current").symlink_to("tiny")
    assert config.with_overrides(models_dir=tmp_path / "other").model == installed
    assert config.with_overrides(model=TINY_BUNDLE).model_pinned

    path.write_text(f'model = "{TINY_BUNDLE}"\n')
    assert load_config(path).model_pinned


def test_no_file_means_defaults_and_no_pin(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(config_module, "config_path", lambda: None)
    config = load_config()
    assert config.model_pinned is False
    assert config.models_dir == config_module.default_models_dir()


@pytest.mark.parametrize(
    ("line", "allowed"),
    [
        ('num_threads = "4"', "whole number from 1 to 64"),
        ("num_threads = 0", "whole number from 1 to 64"),
        ("num_threads = 65", "whole number from 1 to 64"),
        ("num_threads = 2.5", "whole number from 1 to 64"),
        ("num_threads = true", "whole number from 1 to 64"),
        ('kiosk = "yes"', "true or false"),
        ("kiosk = 1", "true or false"),
        ('backend = "fast"', '"auto", "litert", "tflite-runtime", "tensorflow"'),
        ("backend = 3", '"auto", "litert"'),
        ("database = 5", "a path in quotes"),
        ('models_dir = ""', "a path in quotes"),
        ("reports = true", "a path in quotes"),
        (
            "admin_pin = 4711",
            'text in quotes: 4 to 12 digits (the keypad has digits only), e.g. admin_pin = "4711"',
        ),
        ('admin_pin = "abcd"', 'admin_pin = "4821", or "" to keep the admin corner locked'),
        ('admin_pin = "12"', "4 to 12 digits"),
        ('admin_pin = "١٢٣٤"', "4 to 12 digits"),  # Arabic-Indic digits: not on the keypad
        ("device_name = [1]", "text in quotes"),
        ('device_name = ""', "1 to 64 characters on one line"),
        ('device_name = "lab\\npi"', "1 to 64 characters on one line"),
        (f'device_name = "{"x" * 65}"', "1 to 64 characters"),
        ('num_threads = "four"', "whole number from 1 to 64"),
        ("num_threads = -2", "whole number from 1 to 64"),
        ('kiosk = "no"', "true or false"),
        ('backend = ""', '"auto", "litert"'),
        ('database = "a\\u0000b"', "a path in quotes"),
        ('mock_usb = "usb\\n"', "a path in quotes"),
        ("model = {path = 'x'}", "a path in quotes"),
    ],
)
def test_wrong_types_are_refused_with_key_file_and_rule(
    tmp_path: Path, line: str, allowed: str
) -> None:
    path = tmp_path / "config.toml"
    path.write_text(line + "\n", encoding="utf-8")
    key = line.split(" =")[0]
    with pytest.raises(ApplianceError) as caught:
        load_config(path)
    message = str(caught.value)
    assert f"setting {key} = " in message
    assert str(path) in message
    assert allowed in message


def test_unknown_keys_are_still_refused(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("model_pinned = true\nnum_thread = 2\n")
    with pytest.raises(ApplianceError, match=r"unknown setting\(s\) model_pinned, num_thread"):
        load_config(path)


def test_known_backends_match_the_interpreters() -> None:
    from appliance.inference.backends import BACKENDS

    assert ("auto", *(backend.name for backend in BACKENDS)) == KNOWN_BACKENDS


def test_good_pins_and_names_are_kept(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text('admin_pin = "004821"\ndevice_name = "Labor Pi 2 (Zürich)"\n')
    config = load_config(path)
    assert (config.admin_pin, config.device_name) == ("004821", "Labor Pi 2 (Zürich)")
    path.write_text('admin_pin = ""\n')
    assert load_config(path).admin_pin == ""


def test_a_section_or_misspelt_key_is_named(tmp_path: Path) -> None:
    path = tmp_path / "config.toml"
    path.write_text("[gui]\nkiosk = true\n")
    with pytest.raises(ApplianceError, match=rf"unknown setting\(s\) gui in {path}; known: model,"):
        load_config(path)


@pytest.mark.parametrize(
    ("content", "words"),
    [
        (b"num_threads = \n", "cannot be read"),
        (b'device_name = "caf\xe9"\n', "cannot be read"),  # not UTF-8
    ],
)
def test_a_broken_file_is_a_message(tmp_path: Path, content: bytes, words: str) -> None:
    path = tmp_path / "config.toml"
    path.write_bytes(content)
    with pytest.raises(ApplianceError, match=words) as caught:
        load_config(path)
    assert str(path) in str(caught.value)


def test_a_pipe_or_folder_as_the_file_never_waits(tmp_path: Path) -> None:
    import os

    os.mkfifo(tmp_path / "fifo.toml")
    (tmp_path / "dir.toml").mkdir()
    for name in ("fifo.toml", "dir.toml"):
        with pytest.raises(ApplianceError, match="is not a regular file"):
            load_config(tmp_path / name)
    assert load_config(Path("/dev/null")).kiosk is False  # an empty file: the defaults


@pytest.mark.parametrize(
    ("values", "found", "allowed"),
    [
        ({"num_threads": "four"}, 'num_threads = "four"', "whole number from 1 to 64"),
        ({"num_threads": 0}, "num_threads = 0", "whole number from 1 to 64"),
        ({"kiosk": "no"}, 'kiosk = "no"', "true or false"),
        ({"kiosk": 0}, "kiosk = 0", "true or false"),
        ({"backend": "fast"}, 'backend = "fast"', '"auto", "litert", "tflite-runtime"'),
        ({"database": ""}, 'database = ""', "a path in quotes"),
        ({"reports": 5}, "reports = 5", "a path in quotes"),
        ({"device_name": "lab\npi"}, 'device_name = "lab\\npi"', "1 to 64 characters"),
        ({"admin_pin": 4821}, "admin_pin = 4821", "4 to 12 digits"),
    ],
)
def test_values_from_a_program_or_the_command_line_are_checked_too(
    values: dict, found: str, allowed: str
) -> None:
    """Not only the file: a Config built in code, or with the command line's overrides, refuses
    a wrong value in words naming the key, what was found and what is allowed."""
    for build in (lambda: Config(**values), lambda: Config().with_overrides(**values)):
        with pytest.raises(ApplianceError) as caught:
            build()
        message = str(caught.value)
        assert f"the setting {found} is not allowed" in message
        assert allowed in message


def test_good_values_from_a_program_are_normalised_like_the_file_s(tmp_path: Path) -> None:
    config = Config(backend="LiteRT", database=str(tmp_path / "a.db"), kiosk=True, num_threads=4)
    assert config.backend == "litert"
    assert config.database == tmp_path / "a.db" and isinstance(config.database, Path)
    assert (config.kiosk, config.num_threads) == (True, 4)
    assert Config().device_name  # never empty, even where the host has no name
