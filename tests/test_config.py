"""kara.yaml loading: merging, path resolution and one-line errors naming the YAML path."""

from __future__ import annotations

from pathlib import Path

import pytest

from kara_core.config import deep_merge, load_config
from kara_core.errors import ConfigError
from kara_core.plugins import get_plugin_manager
from tests.support.cli import REPO, run_kara, write_yaml

BASE = """\
name: exp
dataset: {mp3_dir: songs, sample_rate: 16000}
decoder: {type: lame}
transform: {type: raw, options: {frame_size: 256}}
model: {type: persistence, options: {input_frames: 4, output_frames: 2}}
train: {epochs: 1}
"""


@pytest.fixture(scope="module")
def registry():
    return get_plugin_manager().registry


def load(tmp_path: Path, text: str, registry):
    return load_config(write_yaml(tmp_path, text), registry)


def test_base_is_a_variant_and_paths_resolve_against_the_yaml_folder(tmp_path, registry):
    experiment = load(tmp_path, BASE, registry)
    base = experiment.base
    assert base.name == "base"
    assert base.dataset.mp3_dir == tmp_path.resolve() / "songs"
    assert base.dataset.wav_dir == tmp_path.resolve() / "dataset/wav"
    assert base.run_dir == tmp_path.resolve() / "runs" / "exp" / "base"
    assert base.transform.options.frame_size == 256
    assert base.transform.plugin == "kara_transforms"


def test_variants_deep_merge_over_the_base(tmp_path, registry):
    text = BASE + "variants:\n  small: {transform: {options: {frame_size: 64}}, train: {seed: 3}}\n"
    experiment = load(tmp_path, text, registry)
    small = experiment.variant("small")
    assert small.transform.options.frame_size == 64
    assert small.train.seed == 3
    assert small.train.epochs == 1  # inherited
    assert small.dataset.sample_rate == 16000
    assert [v.name for v in experiment.variants] == ["base", "small"]


def test_changing_a_component_type_drops_the_base_options():
    merged = deep_merge(
        {"transform": {"type": "stft", "options": {"n_fft": 1024}}},
        {"transform": {"type": "raw"}},
    )
    assert merged == {"transform": {"type": "raw"}}


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (BASE.replace("frame_size: 256", "frame_size: many"),
         "transform.options.frame_size: expected int, got 'many'"),
        (BASE + "bogus: 1\n", "bogus: unknown key"),
        (BASE.replace("sample_rate: 16000", "sample_rat: 16000"),
         "dataset.sample_rat: unknown key"),
        (BASE.replace("{type: lame}", "{options: {}}"), "decoder.type: required key is missing"),
        (BASE.replace("epochs: 1", "epochs: -3"), "train.epochs: must be at least 1"),
        (BASE.replace("epochs: 1", "epochs: true"), "train.epochs: expected int, got True"),
        (BASE + "variants:\n  mel: {transform: {type: rawr}}\n",
         "variants.mel.transform.type: unknown transform 'rawr'; did you mean 'raw'?"),
        (BASE + "variants:\n  a/b: {}\n", "variants.a/b: a variant name is letters"),
        (BASE + "variants:\n  base: {}\n", "variants.base: 'base' is the name"),
        (BASE + '"line\\nbreak": 1\n', "'line\\nbreak': unknown key"),
        (BASE + 'variants:\n  "trail\\n": {}\n', "variants.'trail\\n': a variant name is"),
    ],
)
def test_bad_configs_name_the_file_and_the_yaml_path(tmp_path, registry, text, message):
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text, registry)
    line = str(info.value)
    assert "\n" not in line
    assert line.startswith(str(tmp_path / "kara.yaml") + ": ")
    assert message in line


def test_unknown_type_lists_what_is_installed(tmp_path, registry):
    with pytest.raises(ConfigError) as info:
        load(tmp_path, BASE.replace("type: persistence", "type: nope"), registry)
    assert "installed: " in str(info.value)
    assert "persistence" in str(info.value).split("installed: ")[1]


def test_yaml_syntax_error_gives_file_and_line(tmp_path, registry):
    with pytest.raises(ConfigError) as info:
        load(tmp_path, "name: x\ndataset: {mp3_dir: [unclosed\n", registry)
    assert str(info.value).startswith(f"{tmp_path / 'kara.yaml'}:3: invalid YAML")


def test_yaml_tags_never_construct_objects(tmp_path, registry):
    text = BASE.replace("name: exp", "name: !!python/object/apply:os.system ['echo hi']")
    with pytest.raises(ConfigError) as info:
        load(tmp_path, text, registry)
    assert "invalid YAML" in str(info.value)


def test_check_command_exits_2_with_one_red_line(tmp_path, kara):
    config = write_yaml(tmp_path, BASE.replace("frame_size: 256", "frame_size: many"))
    result = kara("check", str(config))
    assert result.returncode == 2
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert len(lines) == 1, result.stderr
    assert "transform.options.frame_size: expected int, got 'many'" in lines[0]
    assert "Traceback" not in result.stderr


def test_check_debug_shows_the_traceback(tmp_path):
    config = write_yaml(tmp_path, BASE.replace("frame_size: 256", "frame_size: many"))
    result = run_kara("--debug", "check", str(config))
    assert result.returncode != 0
    assert "Traceback" in result.stderr


def test_check_accepts_the_shipped_kara_yaml(kara):
    result = kara("check", str(REPO / "kara.yaml"), "--json")
    assert result.returncode == 0, result.stderr
    import json

    variants = json.loads(result.stdout)["variants"]
    assert next(v["variant"] for v in variants) == "base"
    assert all(v["transform"]["plugin"] == "kara_transforms" for v in variants)


@pytest.mark.parametrize("command", ["run", "check", "prepare", "audit", "train", "generate",
                                     "clean", "compare"])
def test_every_command_reads_kara_yaml_here_by_default(tmp_path, kara, monkeypatch, command):
    monkeypatch.chdir(tmp_path)
    result = kara(command)
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    assert result.returncode == 2 and len(lines) == 1, result.stderr
    assert "no kara.yaml in" in lines[0] and "path/to/kara.yaml" in lines[0], lines[0]
    (tmp_path / "kara.yaml").write_text("transform: {type: raw}\nmodel: {type: persistence}\n")
    (tmp_path / "dataset" / "mp3").mkdir(parents=True)
    result = kara("check")  # found now: the next problem is the empty music folder
    assert result.returncode == 2 and "dataset/mp3: no .mp3 files found" in result.stderr
