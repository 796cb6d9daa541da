"""Hostile kara.yaml files: always a valid config or a one-line ConfigError, never a crash."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kara_core.config import load_config
from kara_core.errors import ConfigError
from kara_core.plugins import get_plugin_manager
from tests.support.cli import some_music

VALID: dict[str, Any] = {
    "name": "hostile",
    "runs_dir": "runs",
    "dataset": {"mp3_dir": "songs", "sample_rate": 16000, "channels": 1, "val_fraction": 0.2},
    "decoder": {"type": "soundfile"},
    "transform": {"type": "raw", "options": {"frame_size": 128}},
    "model": {"type": "persistence", "options": {"input_frames": 4, "output_frames": 2}},
    "train": {"epochs": 1, "batch_size": 8, "learning_rate": 0.001, "seed": 0},
    "generate": {"seconds": 1.0, "prompt_seconds": 0.5},
    "variants": {"small": {"transform": {"options": {"frame_size": 64}}}},
}

REGISTRY = get_plugin_manager().registry
FIXTURE_CHECK = HealthCheck.function_scoped_fixture

hostile_scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(10**30), max_value=10**30),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=20),
    st.sampled_from(["", " ", "../../etc", "a/b", "raw", "mel", "base", "\x00", "é" * 70]),
)
hostile_values = st.recursive(
    hostile_scalars,
    lambda children: st.one_of(
        st.lists(children, max_size=4),
        st.dictionaries(st.text(max_size=8), children, max_size=4),
    ),
    max_leaves=12,
)


def paths_of(tree: Any, prefix: tuple = ()) -> list[tuple]:
    found = [prefix]
    if isinstance(tree, dict):
        for key, value in tree.items():
            found.extend(paths_of(value, (*prefix, key)))
    return found


def set_at(tree: dict, path: tuple, value: Any) -> Any:
    if not path:
        return value
    node = tree
    for key in path[:-1]:
        node = node[key]
    node[path[-1]] = value
    return tree


def assert_valid_or_one_line_error(path: Path) -> None:
    try:
        load_config(path, REGISTRY)
    except ConfigError as exc:
        message = str(exc)
        assert message.startswith(str(path)), message
        assert "\n" not in message, message
        assert len(message) < 2000


@settings(max_examples=150, deadline=None, suppress_health_check=[FIXTURE_CHECK])
@given(data=st.data())
def test_mutated_values_give_a_config_or_a_one_line_error(tmp_path, data):
    tree = copy.deepcopy(VALID)
    targets = paths_of(tree)
    path = data.draw(st.sampled_from(targets))
    tree = set_at(tree, path, data.draw(hostile_values))
    if data.draw(st.booleans()):  # sometimes also add an unknown key somewhere
        where = data.draw(st.sampled_from([p for p in paths_of(tree)
                                           if isinstance(_get(tree, p), dict)] or [()]))
        node = _get(tree, where)
        if isinstance(node, dict):
            node[data.draw(st.text(min_size=1, max_size=6))] = data.draw(hostile_scalars)
    config = tmp_path / "kara.yaml"
    config.write_text(yaml.safe_dump(tree, allow_unicode=True), encoding="utf-8")
    assert_valid_or_one_line_error(config)


def _get(tree: Any, path: tuple) -> Any:
    for key in path:
        tree = tree[key]
    return tree


@settings(max_examples=100, deadline=None, suppress_health_check=[FIXTURE_CHECK])
@given(cut=st.integers(min_value=0, max_value=2000), junk=st.binary(max_size=12))
def test_corrupted_bytes_give_a_config_or_a_one_line_error(tmp_path, cut, junk):
    text = yaml.safe_dump(VALID).encode()
    cut = min(cut, len(text))
    config = tmp_path / "kara.yaml"
    config.write_bytes(text[:cut] + junk + text[cut:])
    assert_valid_or_one_line_error(config)


LAUGHS = ("a: &a [1, 2]\nb: &b [*a, *a, *a, *a, *a, *a, *a, *a, *a]\n"
          "c: &c [*b, *b, *b, *b, *b, *b, *b, *b, *b]\nd: &d [*c, *c, *c, *c, *c, *c, *c, *c]\n")


@pytest.mark.parametrize(
    ("text", "code", "says"),
    [
        (b"\xff\xfe not utf-8", 2, "kara.yaml: not UTF-8 text (byte 0)"),
        ("name: " + "[" * 5000 + "]" * 5000, 2, "kara.yaml: invalid YAML: "),
        (LAUGHS + "e: [*d, *d, *d, *d, *d, *d, *d, *d, *d]\n", 2, "kara.yaml: a: unknown key"),
        (LAUGHS + "e: &e [*d, *d, *d, *d, *d, *d, *d, *d, *d]\nf: [*e, *e, *e, *e, *e, *e, *e, "
         "*e, *e]\n", 2, "its anchors and aliases expand to 184,577 values (at most 100,000"),
        ("dataset: &d {sample_rate: 16000}\nvariants: {x: {dataset: *d}}\n"
         "transform: {type: raw}\nmodel: {type: persistence}\n", 0, None),
        ("!!python/object/apply:os.system ['touch /tmp/kara-pwned']", 2,
         "kara.yaml:1: invalid YAML: could not determine a constructor for the tag"),
        ("train: {epochs: 1e400}", 2, "kara.yaml: train.epochs: expected int, got '1e400'"),
        ("train: {epochs: 99999999999999999999999}", 2,
         "kara.yaml: train.epochs: must be at most 100000"),
        ("variants: {../../evil: {}}", 2,
         "kara.yaml: variants.../../evil: a variant name is letters, digits, '.', '_' or '-' "
         "(no slashes)"),
        ("name: ../../evil", 2,
         "kara.yaml: name: expected a name of letters, digits, '.', '_' or '-', got '../../evil'"),
        ("variants: {ok: {}, a/b: {}}", 2, "kara.yaml: variants.a/b: a variant name is letters"),
        ("runs_dir: ''", 2, "kara.yaml: runs_dir: expected a path, got ''"),
        ("- a\n- b\n", 2, "kara.yaml: (top level): expected a mapping, got a list"),
        ("", 0, None),  # every default
    ],
)
def test_hand_written_hostile_configs_exit_cleanly(tmp_path, kara, monkeypatch, text, code, says):
    """Each is a valid config (exit 0) or one error line saying what is wrong (exit 2):
    names with slashes never reach a path."""
    monkeypatch.chdir(tmp_path)
    config = tmp_path / "kara.yaml"
    config.write_bytes(text if isinstance(text, bytes) else text.encode("utf-8"))
    some_music(tmp_path / "dataset" / "mp3")
    result = kara("check", "kara.yaml")
    assert result.returncode == code, result.stderr
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.strip()]
    if code == 2:
        assert len(lines) == 1 and lines[0].startswith("error: kara.yaml"), result.stderr
        assert says in lines[0], lines[0]
    else:
        assert not [line for line in lines if line.startswith("error:")], result.stderr
    assert not Path("/tmp/kara-pwned").exists()
    assert not (tmp_path.parent / "evil").exists() and not list(tmp_path.rglob("evil"))
