"""Plugin discovery: entry points, env filters, broken plugins, duplicates, inline plugins."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Literal

import pytest

from kara_core.components import NoOptions, RoundTripTolerance, Transform
from kara_core.config import load_config
from kara_core.errors import ConfigError, PluginError
from kara_core.hookspecs import hookimpl
from kara_core.plugins import get_plugin_manager
from tests.support.cli import fake_distribution, run_kara, some_music

BUILTINS = {"kara_baselines", "kara_lame", "kara_lstm", "kara_soundfile", "kara_transforms"}


class Echo(Transform):
    name = "echo_test"
    Options = NoOptions

    frame_dim = 1  # type: ignore[assignment]
    hop = 1  # type: ignore[assignment]
    tolerance = RoundTripTolerance(min_snr_db=100.0)  # type: ignore[assignment]

    def forward(self, wave):
        return wave.reshape(-1, 1)

    def inverse(self, frames, length):
        return frames.reshape(-1)[:length]


class InlinePlugin:
    @hookimpl
    def kara_register_transforms(self, register):
        register(Echo)


def test_plugins_json_lists_each_component_under_its_plugin(kara):
    result = kara("plugins", "--json")
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert set(rows) >= BUILTINS
    assert "lame" in rows["kara_lame"]["components"]["decoders"]
    assert "raw" in rows["kara_transforms"]["components"]["transforms"]
    assert "persistence" in rows["kara_baselines"]["components"]["models"]
    assert rows["kara_lame"]["distribution"] == "kara"
    for row in rows.values():
        assert set(row) == {"name", "distribution", "version", "components"}
        assert set(row["components"]) == {"decoders", "transforms", "models", "measures"}


def test_inline_plugin_registers_and_records_its_owner():
    plugins = get_plugin_manager(extra_plugins=(("inline_test", InlinePlugin()),))
    entry = plugins.registry.get("transforms", "echo_test")
    assert entry.cls is Echo
    assert entry.plugin == "inline_test"
    # a fresh manager does not keep it: nothing registered at import time
    assert "echo_test" not in get_plugin_manager().registry.names("transforms")


def test_duplicate_component_names_are_refused_naming_both_plugins():
    with pytest.raises(PluginError) as info:
        get_plugin_manager(
            extra_plugins=(("first_plugin", InlinePlugin()), ("second_plugin", InlinePlugin()))
        )
    assert "'first_plugin'" in str(info.value) and "'second_plugin'" in str(info.value)


def test_registering_a_non_component_is_a_plugin_error():
    class Bad:
        @hookimpl
        def kara_register_models(self, register):
            register(dict)

    with pytest.raises(PluginError, match="not a subclass"):
        get_plugin_manager(extra_plugins=(("bad_plugin", Bad()),))


class Typo:
    @hookimpl
    def kara_register_transfroms(self, register):
        register(Echo)


def test_misspelled_hook_is_named_with_the_nearest_real_one_and_the_rest_load():
    plugins = get_plugin_manager(extra_plugins=(("typo_plugin", Typo()),))
    assert plugins.load_errors == [
        "plugin 'typo_plugin' implements unknown hook 'kara_register_transfroms' (did you "
        "mean 'kara_register_transforms'?); left out (KARA_DISABLE_PLUGINS=typo_plugin "
        "hides this)"
    ]
    assert "echo_test" not in plugins.registry.names("transforms")
    assert "stft" in plugins.registry.names("transforms")  # the others still load


def test_kara_plugins_lists_the_rest_and_marks_the_broken_one(tmp_path):
    fake_distribution(tmp_path, "typoplug", """
        from kara_core import hookimpl

        @hookimpl
        def kara_register_transfroms(register):
            pass
    """)
    result = run_kara("plugins", "--json", env={"PYTHONPATH": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    rows = {row["name"]: row for row in json.loads(result.stdout)}
    assert set(rows) >= BUILTINS | {"typoplug"}
    assert "did you mean 'kara_register_transforms'" in rows["typoplug"]["broken"]
    table = run_kara("plugins", env={"PYTHONPATH": str(tmp_path)})
    assert "left out because" in table.stdout and "kara_transforms" in table.stdout
    [row] = [line for line in table.stdout.splitlines() if "typoplug" in line]
    cells = [cell.strip() for cell in row.split("│")[1:-1]]
    assert cells[0] == "typoplug" and cells[3:7] == ["", "", "", ""], cells  # no components
    assert cells[7].startswith("broken: implements unknown hook"), cells


def test_load_plugins_env_loads_only_the_named(monkeypatch):
    monkeypatch.setenv("KARA_LOAD_PLUGINS", "kara_transforms,kara_lame")
    plugins = get_plugin_manager()
    assert set(plugins.infos) == {"kara_transforms", "kara_lame", "kara"}  # Kara's measures
    assert plugins.registry.names("models") == []
    assert "pulse" in plugins.registry.names("measures")


def test_disable_plugins_env_blocks_the_named(monkeypatch):
    monkeypatch.setenv("KARA_DISABLE_PLUGINS", "kara_lame")
    plugins = get_plugin_manager()
    assert "kara_lame" not in plugins.infos
    assert "lame" not in plugins.registry.names("decoders")
    assert "kara_transforms" in plugins.infos


def test_disabled_decoder_in_config_is_a_one_line_error(tmp_path, kara):
    config = tmp_path / "kara.yaml"
    config.write_text("decoder: {type: lame}\ntransform: {type: raw}\nmodel: {type: persistence}\n")
    result = kara("check", str(config), env={"KARA_DISABLE_PLUGINS": "kara_lame"})
    assert result.returncode == 2
    assert "decoder.type: unknown decoder 'lame'" in result.stderr


def test_a_plugin_that_fails_to_import_is_named_and_the_rest_load(tmp_path):
    fake_distribution(tmp_path, "brokenplug", "raise ImportError('needs libfoo')\n")
    result = run_kara("plugins", "--json", env={"PYTHONPATH": str(tmp_path)})
    assert result.returncode == 0, result.stderr
    assert "plugin 'brokenplug' failed to load: ImportError: needs libfoo" in result.stderr
    assert {row["name"] for row in json.loads(result.stdout)} >= BUILTINS


def test_an_entry_point_plugin_is_usable_by_type_in_yaml(tmp_path):
    fake_distribution(
        tmp_path / "site",
        "thirdparty",
        """
        from kara_core.hookspecs import hookimpl
        from kara_transforms.raw import RawTransform

        class Doubled(RawTransform):
            name = "doubled"

        @hookimpl
        def kara_register_transforms(register):
            register(Doubled)
        """,
    )
    config = tmp_path / "kara.yaml"
    config.write_text("transform: {type: doubled, options: {frame_size: 8}}\n"
                      "model: {type: persistence}\n")
    env = {"PYTHONPATH": str(tmp_path / "site")}
    some_music(tmp_path / "dataset" / "mp3")
    result = run_kara("check", str(config), "--json", env=env)
    assert result.returncode == 0, result.stderr
    base = json.loads(result.stdout)["variants"][0]
    assert base["transform"] == {
        "type": "doubled", "plugin": "thirdparty", "distribution": "thirdparty",
        "version": "0.1", "options": {"frame_size": 8}
    }


def _registered_by(plugin: object, kind: str, name: str) -> str:
    registry = get_plugin_manager(extra_plugins=(("inline", plugin),)).registry
    return registry.get(kind, name).plugin


def test_hook_kara_register_decoders():
    from kara_soundfile.decoder import SoundfileDecoder

    class MyDecoder(SoundfileDecoder):
        name = "my_decoder"

    class Plugin:
        @hookimpl
        def kara_register_decoders(self, register):
            register(MyDecoder)

    assert _registered_by(Plugin(), "decoders", "my_decoder") == "inline"


def test_hook_kara_register_transforms():
    assert _registered_by(InlinePlugin(), "transforms", "echo_test") == "inline"


def test_hook_kara_register_models():
    from kara_baselines.models import PersistenceModel

    class MyModel(PersistenceModel):
        name = "my_model"
        baseline = False

    class Plugin:
        @hookimpl
        def kara_register_models(self, register):
            register(MyModel)

    assert _registered_by(Plugin(), "models", "my_model") == "inline"


def test_defaults_and_baselines_come_from_the_plugins_not_the_core():
    registry = get_plugin_manager().registry
    assert registry.default("decoders").plugin == "kara_lame"
    assert registry.default("transforms").plugin == "kara_transforms"
    assert registry.default("models").plugin == "kara_lstm"
    assert registry.baselines() == ["mean", "persistence"]


def test_two_plugins_offering_a_default_make_the_user_choose():
    from kara_transforms.raw import RawTransform

    class OtherDefault(RawTransform):
        name = "other_default"
        default = True

    class Plugin:
        @hookimpl
        def kara_register_transforms(self, register):
            register(OtherDefault)

    registry = get_plugin_manager(extra_plugins=(("inline", Plugin()),)).registry
    with pytest.raises(KeyError, match=r"several plugins offer a default transform.*"
                       r"'other_default' by plugin 'inline'.*set transform\.type"):
        registry.default("transforms")


def _transform_with(options_cls: type) -> type:
    class WithOptions(Echo):
        name = "with_options"
        Options = options_cls

    return WithOptions


def _register_transform(cls: type) -> object:
    class Plugin:
        @hookimpl
        def kara_register_transforms(self, register):
            register(cls)

    return get_plugin_manager(extra_plugins=(("author", Plugin()),))


def test_options_mistakes_are_the_authors_error_at_registration():
    @dataclass
    class Mutable:
        bins: int = 4

    @dataclass(frozen=True)
    class WrongDefault:
        bins: int = "four"  # type: ignore[assignment]

    with pytest.raises(PluginError, match=r"plugin 'author': transform 'with_options': "
                       r"Options must be a frozen dataclass"):
        _register_transform(_transform_with(Mutable))
    with pytest.raises(PluginError, match=r"'with_options': Options.bins default: "
                       r"expected int, got 'four'"):
        _register_transform(_transform_with(WrongDefault))


def test_list_literal_and_optional_options_reach_the_component(tmp_path):
    @dataclass(frozen=True)
    class Rich:
        sizes: list[int] = field(default_factory=lambda: [1, 2])
        pair: tuple[int, float] = (1, 2.0)
        mode: Literal["a", "b"] = "a"
        limit: float | None = None

    plugins = _register_transform(_transform_with(Rich))
    config = tmp_path / "kara.yaml"
    config.write_text("transform: {type: with_options, options: {sizes: [3, 4, 5], "
                      "pair: [2, 3], mode: b, limit: 0.5}}\n")
    options = load_config(config, plugins.registry).base.transform.options
    assert options == Rich(sizes=[3, 4, 5], pair=(2, 3.0), mode="b", limit=0.5)
    config.write_text("transform: {type: with_options, options: {pair: [1]}}\n")
    with pytest.raises(ConfigError, match=r"transform.options.pair: expected a "
                       r"list of 2, got 1"):
        load_config(config, plugins.registry)


def test_piped_tables_are_not_cut_at_80_columns():
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "COLUMNS"}
    result = subprocess.run([sys.executable, "-m", "kara_core", "plugins"], env=env,
                            capture_output=True, text=True, check=False)
    assert result.returncode == 0, result.stderr
    row = next(line for line in result.stdout.splitlines() if "kara_transforms" in line)
    assert "fft, mel, raw, stft" in row  # one row, not folded into an 80-column box


def test_registry_with_names_a_misspelled_hook():
    from kara_core.testing import registry_with

    class Typo:
        @hookimpl
        def kara_register_transfroms(self, register):
            register(Echo)

    with pytest.raises(PluginError) as info:
        registry_with("typo_test", Typo())
    assert "plugin 'typo_test' implements unknown hook 'kara_register_transfroms' (did you " \
           "mean 'kara_register_transforms'?)" in str(info.value)
