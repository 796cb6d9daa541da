"""kara.yaml written to hurt: alias bombs, numbers too long to print, output folders in
the music folder, files where folders belong (issue 13). Each is one line from
``kara check``, exit 2, in well under a second and without gigabytes."""

from __future__ import annotations

import resource
import time
from pathlib import Path

import pytest

from kara_core.config import load_config
from kara_core.errors import ConfigError
from kara_core.options import describe
from kara_core.plugins import get_plugin_manager
from tests.support.cli import some_music, write_yaml

BASE = """\
name: t
dataset: {mp3_dir: music, wav_dir: wav, cache_dir: cache}
decoder: {type: soundfile}
transform: {type: raw}
model: {type: persistence}
"""


def bomb(depth: int = 9, width: int = 9) -> str:
    """Billion laughs as one flow value: ``width ** depth`` strings from a few hundred
    bytes, each level's anchor defined inside its first use."""
    value = "&a0 [" + ", ".join(['"lol"'] * width) + "]"
    for level in range(1, depth + 1):
        value = f"&a{level} [{value}" + f", *a{level - 1}" * (width - 1) + "]"
    return value


def check(kara, tmp_path: Path, text: str) -> str:
    path = write_yaml(tmp_path, text)
    started = time.monotonic()
    result = kara("check", str(path))
    assert time.monotonic() - started < 5, "kara check took seconds on a hostile config"
    assert result.returncode == 2, (result.stdout, result.stderr)
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "Traceback" not in result.stderr, result.stderr
    return lines[0]


@pytest.mark.parametrize("where", ["train: {stride: BOMB}",
                                   "model: {type: persistence, options: {input_frames: BOMB}}"])
def test_an_alias_bomb_is_refused_quickly_and_in_bounded_memory(tmp_path, where):
    """In a subprocess held to 1 GB and 30 s: before the fix it ran for minutes and took
    gigabytes (repr() of the expanded value)."""
    import subprocess
    import sys

    from tests.support.cli import REPO

    text = BASE.replace("model: {type: persistence}\n", "") if "model" in where else BASE
    path = write_yaml(tmp_path, text + where.replace("BOMB", bomb()) + "\n")

    def limit() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (1 << 30, 1 << 30))

    started = time.monotonic()
    try:
        result = subprocess.run([sys.executable, "-m", "kara_core", "check", str(path)],
                                cwd=REPO, capture_output=True, text=True, timeout=30,
                                preexec_fn=limit, check=False)
    except subprocess.TimeoutExpired:
        pytest.fail("kara check ran for more than 30 s on an alias bomb")
    assert time.monotonic() - started < 10
    assert result.returncode == 2, result.stderr[-2000:]
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "aliases expand to 3,922,632,477 values" in lines[0], lines


def test_a_few_aliases_are_still_fine(kara, tmp_path):
    text = BASE.replace("model: {type: persistence}\n", "") + (
        "model: {type: persistence, options: &opts {input_frames: 8}}\n"
        "variants:\n  other: {model: {type: persistence, options: *opts}}\n")
    some_music(tmp_path / "music")
    assert kara("check", str(write_yaml(tmp_path, text))).returncode == 0


def test_a_value_that_contains_itself_is_one_line(kara, tmp_path):
    line = check(kara, tmp_path, BASE + "train: &t {stride: *t}\n")
    assert "contains itself" in line or "nested too deeply" in line


def test_types_are_checked_before_values_are_described():
    huge = [["lol"] * 9] * 9
    for _ in range(7):
        huge = [huge] * 9
    started = time.monotonic()
    assert describe(huge) == "a list"
    assert describe(10**5000).startswith("an integer of about 5000 digits")
    assert describe("x" * 10**6).endswith("...") and len(describe("x" * 10**6)) <= 60
    assert time.monotonic() - started < 0.1


@pytest.mark.parametrize("value", ["1" * 400, "1" * 5000, "-" + "9" * 400])
def test_integers_of_hundreds_of_digits_are_one_line(kara, tmp_path, value):
    check(kara, tmp_path, BASE + f"train: {{epochs: {value}}}\n")
    check(kara, tmp_path, BASE + f"train: {{learning_rate: {value}}}\n")


# --------------------------------------------------------------------------- output folders


@pytest.mark.parametrize("folders, refused", [
    ("runs_dir: music/runs\ndataset: {mp3_dir: music}", True),
    ("dataset: {mp3_dir: music, cache_dir: music/cache}", True),
    ("dataset: {mp3_dir: music, wav_dir: music/wav}", True),
    ("dataset: {mp3_dir: music, cache_dir: .}", True),       # contains the music folder
    ("dataset: {mp3_dir: sub/music, wav_dir: sub}", True),
    ("runs_dir: .\ndataset: {mp3_dir: music}", False),  # ./t is beside music/: allowed
])
def test_no_output_folder_lies_inside_the_music_folder(kara, tmp_path, folders, refused):
    text = BASE.replace("dataset: {mp3_dir: music, wav_dir: wav, cache_dir: cache}\n", "")
    text += folders + "\n"
    if not refused:
        some_music(tmp_path / "music")
        assert kara("check", str(write_yaml(tmp_path, text))).returncode == 0
        return
    line = check(kara, tmp_path, text)
    assert "must not contain each other" in line and "mp3_dir" in line


def test_generated_mp3_cannot_land_in_the_music_folder(tmp_path):
    """The issue's case: runs_dir and cache_dir under mp3_dir with generate.mp3 on."""
    text = BASE.replace("cache_dir: cache", "cache_dir: music/cache") + \
        "runs_dir: music/runs\ngenerate: {mp3: true}\n"
    with pytest.raises(ConfigError, match="must not contain each other"):
        load_config(write_yaml(tmp_path, text), get_plugin_manager().registry)


def test_a_symlinked_output_folder_pointing_into_the_music_is_refused(tmp_path):
    (tmp_path / "music" / "inside").mkdir(parents=True)
    (tmp_path / "cache").symlink_to(tmp_path / "music" / "inside")
    with pytest.raises(ConfigError, match=r"dataset\.cache_dir.*must not contain each other"):
        load_config(write_yaml(tmp_path, BASE), get_plugin_manager().registry)


def test_a_run_folder_that_is_a_file_is_one_line(kara, tmp_path):
    """Before, kara run died with NotADirectoryError while recording the failure."""
    (tmp_path / "runs" / "t").mkdir(parents=True)
    (tmp_path / "runs" / "t" / "base").write_text("a file")
    line = check(kara, tmp_path, BASE)
    assert "runs_dir:" in line and "base is a file" in line


@pytest.mark.parametrize("key", ["runs_dir", "wav_dir", "mp3_dir"])
def test_a_file_where_a_folder_belongs_is_one_line(kara, tmp_path, key):
    (tmp_path / "blocker").write_text("a file")
    if key == "runs_dir":
        text = BASE + "runs_dir: blocker\n"
    else:
        text = BASE.replace(f"{key}: {'music' if key == 'mp3_dir' else 'wav'}",
                            f"{key}: blocker/sub")
    line = check(kara, tmp_path, text)
    assert "blocker is a file" in line


def test_the_resolved_record_can_hold_relative_paths(tmp_path):
    variant = load_config(write_yaml(tmp_path, BASE), get_plugin_manager().registry).base
    record = variant.resolved(relative_to=variant.run_dir)
    assert record["dataset"]["mp3_dir"] == "../../../music"
    assert record["runs_dir"] == "../.."
    assert Path(variant.resolved()["dataset"]["mp3_dir"]).is_absolute()


def test_a_nul_in_runs_dir_is_refused(kara, tmp_path):
    line = check(kara, tmp_path, BASE + 'runs_dir: "a\\0b"\n')
    assert "NUL" in line
