"""The wheel, installed as a user would install it, finds its model and scans a stick.

Why: a wheel used to carry no model, so a non-editable install failed at its first scan. Here the
wheel is built from the checkout, installed into a fresh venv outside the source tree, and run
from a folder outside it. Its dependencies come from the dev venv through a .pth line (offline,
fast); that adds only the dev venv's site-packages folder to sys.path, not the editable install
of the project, so ``appliance`` can only come from the wheel — the test checks that too.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

import appliance
from tests.conftest import DEMO_STICK, ROOT, SHIPPED_MODEL

SCRIPT_TIMEOUT = 300


def _run(args: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        args, cwd=cwd, env=env, capture_output=True, text=True, timeout=SCRIPT_TIMEOUT, check=False
    )


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("wheel")
    env = {**os.environ, "PYTHON": sys.executable}
    done = _run(["bash", str(ROOT / "packaging" / "build_wheel.sh"), str(out)], ROOT, env)
    assert done.returncode == 0, done.stderr
    (built,) = out.glob("histo_appliance-*.whl")
    return built


@pytest.fixture(scope="module")
def installed(wheel: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A fresh venv holding the wheel; its dependencies are the dev venv's."""
    venv = tmp_path_factory.mktemp("venv") / "v"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    done = subprocess.run(
        [sys.executable, "-m", "pip", "--isolated", "--python", str(venv / "bin" / "python"),
         "install", "--quiet", "--no-deps", "--no-index", str(wheel)],
        capture_output=True, text=True, check=False,
    )
    assert done.returncode == 0, done.stderr
    site = next((venv / "lib").glob("python3*/site-packages"))
    (site / "dev_dependencies.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    return venv


@pytest.fixture
def outside(tmp_path: Path, installed: Path) -> tuple[Path, dict[str, str]]:
    """A working folder and an environment that know nothing of the checkout."""
    home = tmp_path / "home"
    home.mkdir()
    config = tmp_path / "config.toml"
    config.write_text(f'database = "{tmp_path / "app.db"}"\nreports = "{tmp_path / "reports"}"\n')
    env = {
        key: value for key, value in os.environ.items()
        if not key.startswith(("PYTHON", "VIRTUAL_ENV", "HISTO_"))
    }
    env.update(HOME=str(home), XDG_DATA_HOME=str(home / "data"), QT_QPA_PLATFORM="offscreen",
               HISTO_APPLIANCE_CONFIG=str(config), PATH=f"{installed / 'bin'}:{env['PATH']}")
    return tmp_path, env


def test_wheel_carries_the_model_runtime_files_only(wheel: Path) -> None:
    names = zipfile.ZipFile(wheel).namelist()
    version = appliance.__version__
    assert wheel.name == f"histo_appliance-{version}-py3-none-any.whl"
    data = f"histo_appliance-{version}.data/data/share/histo-appliance/models/idc-mobilenetv2/"
    assert {data + "model.tflite", data + "card.json"} <= set(names)
    assert not [n for n in names if n.endswith(".keras")], "the float model is a trainer output"


def test_installed_wheel_resolves_the_model_it_carries(
    installed: Path, outside: tuple[Path, dict[str, str]]
) -> None:
    cwd, env = outside
    probe = (
        "import json, appliance; from appliance.config import load_config; "
        "print(json.dumps({'package': appliance.__file__, 'model': str(load_config().model)}))"
    )
    done = _run([str(installed / "bin" / "python"), "-c", probe], cwd, env)
    assert done.returncode == 0, done.stderr
    found = json.loads(done.stdout)
    assert Path(found["package"]).is_relative_to(installed), "appliance came from the checkout"
    shipped = installed / "share" / "histo-appliance" / "models" / "idc-mobilenetv2"
    assert Path(found["model"]) == shipped

    doctor = _run([str(installed / "bin" / "histo-appliance"), "doctor"], cwd, env)
    model_line = next(line for line in doctor.stdout.splitlines() if " model " in line)
    assert model_line.startswith("[ok ]"), doctor.stdout + doctor.stderr
    assert str(shipped) in model_line


def _small_stick(root: Path) -> Path:
    """Two patients' first four patches and the damaged file: every kind of row, quickly."""
    stick = root / "stick"
    for case, count in (("patient-9036", 4), ("patient-9077", 4), ("damaged-example", 1)):
        (stick / case).mkdir(parents=True)
        for image in sorted((DEMO_STICK / case).iterdir())[:count]:
            shutil.copy2(image, stick / case / image.name)
    return stick


def test_installed_wheel_scans_a_stick_completely(
    installed: Path, outside: tuple[Path, dict[str, str]]
) -> None:
    cwd, env = outside
    stick = _small_stick(cwd)
    done = _run(
        [str(installed / "bin" / "histo-appliance"), "scan", str(stick), "--format", "json"],
        cwd, env,
    )
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    card = json.loads((SHIPPED_MODEL / "card.json").read_text())
    assert result["model"]["sha256"] == card["sha256"]
    assert result["status"] == "complete"
    files = sorted(str(p.relative_to(stick)) for p in stick.rglob("*.png"))
    rows = sorted(row["path"] for row in result["images"])
    assert rows == files, "every image on the stick is a row"
    errors = [row for row in result["images"] if row["status"] == "error"]
    assert [row["case"] for row in errors] == ["damaged-example"]
    scored = [row for row in result["images"] if row["status"] != "error"]
    assert all(0.0 <= row["p_malignant"] <= 1.0 for row in scored)
