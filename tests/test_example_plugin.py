"""The example third-party plugin installs with pip and works exactly like a built-in."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from tests.support.cli import REPO, run_kara, some_music

EXAMPLE = REPO / "examples" / "kara-plugin-example"


@pytest.fixture(scope="module")
def installed_example(tmp_path_factory):
    """pip-install the example into a private target folder (the test venv stays clean)."""
    target = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(EXAMPLE)],
        capture_output=True, text=True, check=False, timeout=300,
    )
    assert result.returncode == 0, result.stderr
    return {"PYTHONPATH": str(target)}


def test_installed_example_appears_in_kara_plugins(installed_example):
    result = run_kara("plugins", "--json", env=installed_example)
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert rows["kara_example"]["distribution"] == "kara-plugin-example"
    assert rows["kara_example"]["version"] == "0.1.0"
    assert rows["kara_example"]["components"]["transforms"] == ["mulaw"]


def test_installed_example_is_usable_by_type_in_yaml(installed_example, tmp_path):
    config = tmp_path / "kara.yaml"
    config.write_text(
        "transform: {type: raw}\nmodel: {type: persistence}\n"
        "variants:\n  mu: {transform: {type: mulaw, options: {frame_size: 128, mu: 63}}}\n"
    )
    some_music(tmp_path / "dataset" / "mp3")
    result = run_kara("check", str(config), "--json", env=installed_example)
    assert result.returncode == 0, result.stderr
    mu = json.loads(result.stdout)["variants"][1]
    assert mu["transform"]["plugin"] == "kara_example"
    assert mu["transform"]["options"] == {"frame_size": 128, "mu": 63.0}


def test_example_plugin_passes_its_own_test_suite(installed_example):
    import os

    env = {**os.environ, **installed_example}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", str(EXAMPLE / "tests")],
        cwd=EXAMPLE, env=env, capture_output=True, text=True, check=False, timeout=300,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "2 passed" in result.stdout
