"""The plugin manager: hook specs, entry points in group ``kara``, and the env filters.

Built from a factory, not at import time, so tests and tools can make fresh managers.
``KARA_LOAD_PLUGINS=a,b`` loads only the named plugins (empty string: none);
``KARA_DISABLE_PLUGINS=a,b`` blocks them. A plugin that fails to import is reported by
name in one line and the others still load.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from importlib.metadata import EntryPoint, entry_points
from typing import Any

import pluggy

from kara_core import hookspecs
from kara_core.components import BASE_CLASSES, COMPONENT_KINDS
from kara_core.errors import PluginError
from kara_core.options import options_class_problem
from kara_core.registry import Registry

ENTRY_POINT_GROUP = "kara"
CORE_PLUGIN = "kara"
"""The name Kara's own measures are registered under (always loaded: every run measures
its audio with them)."""


@dataclass(frozen=True)
class PluginInfo:
    """Where a plugin came from, for ``kara plugins`` and run records."""

    name: str
    distribution: str
    version: str


@dataclass
class Plugins:
    """A loaded plugin manager, what it registered, and what failed to load."""

    manager: pluggy.PluginManager
    registry: Registry
    infos: dict[str, PluginInfo] = field(default_factory=dict)
    load_errors: list[str] = field(default_factory=list)
    broken: dict[str, str] = field(default_factory=dict)
    """Plugins left out, by name, with the one-line reason (``kara plugins`` marks them)."""

    def components_of(self, plugin: str) -> dict[str, list[str]]:
        """Component names registered by ``plugin``, by kind."""
        result: dict[str, list[str]] = {kind: [] for kind in COMPONENT_KINDS}
        for entry in self.registry:
            if entry.plugin == plugin:
                result[entry.kind].append(entry.name)
        return {kind: sorted(names) for kind, names in result.items()}


def _name_filter(variable: str) -> set[str] | None:
    raw = os.environ.get(variable)
    if raw is None:
        return None
    return {part.strip() for part in raw.split(",") if part.strip()}


def _dist_of(entry_point: EntryPoint) -> PluginInfo:
    dist = entry_point.dist
    if dist is None:
        return PluginInfo(entry_point.name, "(unknown)", "(unknown)")
    return PluginInfo(entry_point.name, dist.metadata["Name"] or "(unknown)", dist.version)


class _CoreMeasures:
    """Kara's own measures (:data:`kara_core.measures.BUILTIN`), registered through the hook
    every plugin's measures use."""

    @hookspecs.hookimpl
    def kara_register_measures(self, register: Any) -> None:
        from kara_core.measures import BUILTIN

        for cls in BUILTIN:
            register(cls)


def _core_info() -> PluginInfo:
    from importlib.metadata import PackageNotFoundError, version

    try:
        return PluginInfo(CORE_PLUGIN, "kara", version("kara"))
    except PackageNotFoundError:  # a source tree that was never installed
        return PluginInfo(CORE_PLUGIN, "kara", "0.0.0+unknown")


def get_plugin_manager(extra_plugins: tuple[tuple[str, Any], ...] = ()) -> Plugins:
    """Build a plugin manager with Kara's hook specs and every allowed entry point loaded.

    :param extra_plugins: ``(name, object)`` pairs registered directly; tests use this to
        add inline plugins without packaging them. An inline plugin replaces an installed one
        of the same name (a plugin's own tests register the code under test).
    """
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    only = _name_filter("KARA_LOAD_PLUGINS")
    blocked = _name_filter("KARA_DISABLE_PLUGINS") or set()
    plugins = Plugins(manager=manager, registry=Registry())

    seen: set[str] = {CORE_PLUGIN, *(name for name, _obj in extra_plugins)}
    for entry_point in sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name):
        name = entry_point.name
        if name in seen or name in blocked or (only is not None and name not in only):
            continue
        seen.add(name)
        try:
            module = entry_point.load()
        except Exception as exc:  # a broken plugin must not take the others down
            _leave_out(plugins, name, f"failed to load: {type(exc).__name__}: {exc}")
            continue
        manager.register(module, name=name)
        plugins.infos[name] = _dist_of(entry_point)

    manager.register(_CoreMeasures(), name=CORE_PLUGIN)  # Kara's own, like any plugin's
    plugins.infos[CORE_PLUGIN] = _core_info()
    for name, obj in extra_plugins:
        manager.register(obj, name=name)
        plugins.infos[name] = PluginInfo(name, "(inline)", "(inline)")

    for name, plugin in list(manager.list_name_plugin()):
        unknown = unknown_hooks(plugin)
        if unknown:
            manager.unregister(plugin)
            _leave_out(plugins, name, f"implements {unknown}")
    try:
        manager.check_pending()
    except pluggy.PluginValidationError as exc:  # what unknown_hooks() cannot see
        owner = manager.get_name(exc.plugin) or repr(exc.plugin)
        raise PluginError(f"plugin {owner!r}: {exc}") from exc
    _fill_registry(plugins)
    return plugins


HOOK_NAMES = tuple(sorted(n for n in dir(hookspecs) if n.startswith("kara_")))


def unknown_hooks(plugin: Any) -> str:
    """``unknown hook 'kara_register_transfroms' (did you mean 'kara_register_transforms'?)``
    for each hook implementation of ``plugin`` that Kara does not define; empty if none."""
    import difflib

    marker = f"{hookspecs.PROJECT_NAME}_impl"  # what @hookimpl sets on a function
    found = []
    for attribute in dir(plugin):
        if attribute in HOOK_NAMES or not hasattr(getattr(plugin, attribute, None), marker):
            continue
        close = difflib.get_close_matches(attribute, HOOK_NAMES, n=1, cutoff=0.6)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        found.append(f"unknown hook {attribute!r}{hint}")
    return "; ".join(found)


def _leave_out(plugins: Plugins, name: str, reason: str) -> None:
    plugins.broken[name] = reason
    plugins.load_errors.append(
        f"plugin {name!r} {reason}; left out (KARA_DISABLE_PLUGINS={name} hides this)"
    )


def _fill_registry(plugins: Plugins) -> None:
    hooks = {
        "decoders": plugins.manager.hook.kara_register_decoders,
        "transforms": plugins.manager.hook.kara_register_transforms,
        "models": plugins.manager.hook.kara_register_models,
        "measures": plugins.manager.hook.kara_register_measures,
    }
    for kind, caller in hooks.items():
        for impl in caller.get_hookimpls():
            owner = impl.plugin_name

            def register(cls: Any, _kind: str = kind, _owner: str = owner) -> None:
                base = BASE_CLASSES[_kind]
                is_component = isinstance(cls, type) and issubclass(cls, base)
                problem = options_class_problem(cls.Options) if is_component else None
                if problem is not None:
                    raise PluginError(f"plugin {_owner!r}: {_kind[:-1]} "
                                      f"{getattr(cls, 'name', cls)!r}: {problem}")
                info = plugins.infos.get(_owner)
                if info is None:
                    plugins.registry.add(_kind, cls, _owner)
                else:
                    plugins.registry.add(_kind, cls, _owner, info.distribution, info.version)

            try:
                impl.function(register=register)
            except PluginError:
                raise
            except Exception as exc:
                raise PluginError(
                    f"plugin {owner!r} failed in {caller.name}: {type(exc).__name__}: {exc}"
                ) from exc


def registered_measures() -> list[Any]:
    """One instance of every measure the allowed plugins (Kara's own included) register, in
    column order: what a run measures its clips with."""
    return get_plugin_manager().registry.measures()
