"""kara.yaml -> :mod:`kara_core.config.schema`: read, merge the variants over the base,
resolve paths and components, validate.

Every error is one line naming the file and the YAML path.
"""

from __future__ import annotations

import copy
import dataclasses
import re
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from kara_core.config.schema import (
    ComponentConfig,
    DatasetConfig,
    ExperimentConfig,
    GenerateConfig,
    TrainConfig,
    VariantConfig,
)
from kara_core.errors import ConfigError
from kara_core.options import OptionError, build, coerce, describe, key_text
from kara_core.registry import Registry

BASE_VARIANT = "base"
VARIANT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


TOP_LEVEL_KEYS = (
    "name", "runs_dir", "dataset", "decoder", "transform", "model", "train", "generate",
    "variants",
)
COMPONENT_KEYS = {"decoder": "decoders", "transform": "transforms", "model": "models"}
"""The component keys of kara.yaml; one left out is the installed plugins' default."""


def deep_merge(base: Mapping[str, Any], override: Mapping[str, Any]) -> dict[str, Any]:
    """``override`` over ``base``: mappings merge key by key, anything else replaces.

    Changing a component's ``type`` drops the base's ``options``: options of one transform
    mean nothing to another.
    """
    merged: dict[str, Any] = copy.deepcopy(dict(base))
    for key, value in override.items():
        old = merged.get(key)
        if isinstance(old, Mapping) and isinstance(value, Mapping):
            if "type" in value and value.get("type") != old.get("type"):
                merged[key] = copy.deepcopy(dict(value))
            else:
                merged[key] = deep_merge(old, value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_config(path: Path | str, registry: Registry) -> ExperimentConfig:
    """Load, merge and validate every variant of ``path`` against the installed components."""
    path = Path(path)
    from kara_core.options import read_yaml  # also bounds what YAML aliases expand to

    data = read_yaml(path)
    try:
        return _resolve(path, data, registry)
    except OptionError as exc:
        raise ConfigError(f"{path}: {exc}") from None
    except RecursionError:
        raise ConfigError(f"{path}: nested too deeply") from None


def _resolve(path: Path, data: Any, registry: Registry) -> ExperimentConfig:
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise OptionError(f"(top level): expected a mapping, got {describe(data)}")
    for key in data:
        if key not in TOP_LEVEL_KEYS:
            raise OptionError(
                f"{key_text(key)}: unknown key; expected one of: {', '.join(TOP_LEVEL_KEYS)}"
            )
    name = data.get("name", path.stem)
    if not isinstance(name, str) or not VARIANT_NAME.fullmatch(name):
        raise OptionError(
            f"name: expected a name of letters, digits, '.', '_' or '-', got {describe(name)}"
        )
    variants_raw = data.get("variants") or {}
    if not isinstance(variants_raw, Mapping):
        raise OptionError(f"variants: expected a mapping, got {describe(variants_raw)}")
    base_raw = {k: v for k, v in data.items() if k not in ("variants", "name")}
    for key, kind in COMPONENT_KEYS.items():
        if key not in base_raw:
            try:
                base_raw[key] = {"type": registry.default(kind).name}
            except KeyError as exc:
                raise OptionError(f"{key}: {exc.args[0]}") from None
    folder = path.resolve().parent

    variants = [_variant(BASE_VARIANT, "", base_raw, name, folder, registry)]
    for variant_name, override in variants_raw.items():
        where = f"variants.{key_text(variant_name)}"
        if not isinstance(variant_name, str) or not VARIANT_NAME.fullmatch(variant_name):
            raise OptionError(
                f"{where}: a variant name is letters, digits, '.', '_' or '-' "
                "(no slashes), at most 64 characters"
            )
        if variant_name == BASE_VARIANT:
            raise OptionError(f"{where}: 'base' is the name of the top-level experiment")
        if override is None:
            override = {}
        if not isinstance(override, Mapping):
            raise OptionError(f"{where}: expected a mapping, got {describe(override)}")
        for key in override:
            if key not in TOP_LEVEL_KEYS or key in ("name", "variants"):
                raise OptionError(f"{where}.{key_text(key)}: unknown key for a variant")
        merged = deep_merge(base_raw, override)
        variants.append(_variant(variant_name, where + ".", merged, name, folder, registry))
    return ExperimentConfig(path=path, name=name, variants=tuple(variants))


def _resolve_path(folder: Path, value: Path) -> Path:
    return value if value.is_absolute() else folder / value


def _variant(
    name: str, prefix: str, raw: Mapping[str, Any], experiment: str, folder: Path,
    registry: Registry,
) -> VariantConfig:
    dataset = build(DatasetConfig, raw.get("dataset"), f"{prefix}dataset")
    dataset = dataclasses.replace(
        dataset,
        mp3_dir=_resolve_path(folder, dataset.mp3_dir),
        wav_dir=_resolve_path(folder, dataset.wav_dir),
        cache_dir=_resolve_path(folder, dataset.cache_dir),
    )
    runs_raw = raw.get("runs_dir", "runs")
    runs_dir = _resolve_path(folder, coerce(runs_raw, Path, f"{prefix}runs_dir"))  # no NUL
    check_outputs(dataset, runs_dir / experiment / name, prefix)
    decoder_raw = raw.get("decoder")
    fallback = None
    if isinstance(decoder_raw, Mapping) and "fallback" in decoder_raw:
        decoder_raw = dict(decoder_raw)
        fallback_name = decoder_raw.pop("fallback")
        if fallback_name is not None:
            fallback = _component(
                "decoders", {"type": fallback_name}, f"{prefix}decoder.fallback", registry,
                type_path=f"{prefix}decoder.fallback",
            )
    train = build(TrainConfig, raw.get("train"), f"{prefix}train")
    return VariantConfig(
        name=name,
        experiment=experiment,
        runs_dir=runs_dir,
        dataset=dataset,
        decoder=_component("decoders", decoder_raw, f"{prefix}decoder", registry),
        decoder_fallback=fallback,
        transform=_component("transforms", raw.get("transform"), f"{prefix}transform", registry),
        model=_component("models", raw.get("model"), f"{prefix}model", registry),
        train=train,
        baselines=_baselines(train, f"{prefix}train.baselines", registry),
        damage_decoders=tuple(name for name in registry.names("decoders")
                              if getattr(registry.get("decoders", name).cls,
                                         "decodes_damaged", False)),
        generate=build(GenerateConfig, raw.get("generate"), f"{prefix}generate"),
        raw=raw,
    )


def check_outputs(dataset: DatasetConfig, run_dir: Path, prefix: str = "") -> None:
    """:class:`OptionError` when ``wav_dir``, ``cache_dir`` or ``run_dir`` lies inside
    ``mp3_dir`` or contains it, or cannot be a folder (:mod:`kara_core.storage.layout`)."""
    from kara_core.storage.layout import LayoutError, check_not_broad
    from kara_core.storage.layout import check_outputs as check

    outputs = [("dataset.wav_dir", dataset.wav_dir), ("dataset.cache_dir", dataset.cache_dir)]
    try:
        check_not_broad([*outputs, ("runs_dir", run_dir.parent.parent)])
        check(dataset.mp3_dir, [*outputs, ("runs_dir", run_dir)])
    except LayoutError as exc:
        raise OptionError(f"{prefix}{exc.key}: {exc.message}") from None


def _baselines(
    train: TrainConfig, where: str, registry: Registry
) -> tuple[ComponentConfig, ...]:
    """The baseline models named by ``train.baselines`` (every installed one when unset)."""
    names = registry.baselines() if train.baselines is None else list(train.baselines)
    found = []
    for number, name in enumerate(names):
        here = where if train.baselines is None else f"{where}[{number}]"
        try:
            entry = registry.get("models", name)
        except KeyError as exc:
            raise OptionError(f"{here}: {exc.args[0]}") from None
        if not getattr(entry.cls, "baseline", False):
            raise OptionError(
                f"{here}: model {name!r} (plugin {entry.plugin!r}) is not a baseline; "
                f"installed baselines: {', '.join(registry.baselines()) or '(none)'}"
            )
        options = entry.cls.Options()  # type: ignore[attr-defined]
        found.append(ComponentConfig(
            kind="models", type=name, options=options, plugin=entry.plugin, cls=entry.cls,
            distribution=entry.distribution, version=entry.version,
        ))
    return tuple(found)


def _component(
    kind: str, raw: Any, where: str, registry: Registry, type_path: str | None = None
) -> ComponentConfig:
    if not isinstance(raw, Mapping):
        raise OptionError(f"{where}: expected a mapping with 'type', got {describe(raw)}")
    for key in raw:
        if key not in ("type", "options"):
            raise OptionError(
                f"{where}.{key_text(key)}: unknown key; expected one of: options, type"
            )
    if "type" not in raw:
        raise OptionError(f"{where}.type: required key is missing")
    type_name = raw["type"]
    type_where = type_path or f"{where}.type"
    if not isinstance(type_name, str):
        raise OptionError(f"{type_where}: expected a string, got {describe(type_name)}")
    try:
        entry = registry.get(kind, type_name)
    except KeyError as exc:
        raise OptionError(f"{type_where}: {exc.args[0]}") from None
    options = build(entry.cls.Options, raw.get("options"), f"{where}.options")  # type: ignore[attr-defined]
    return ComponentConfig(
        kind=kind, type=type_name, options=options, plugin=entry.plugin, cls=entry.cls,
        distribution=entry.distribution, version=entry.version,
    )
