"""Named components, each remembered with the plugin that registered it."""

from __future__ import annotations

import difflib
from collections.abc import Iterator
from dataclasses import dataclass, field, is_dataclass
from typing import Any

from kara_core.components import BASE_CLASSES, COMPONENT_KINDS
from kara_core.errors import PluginError

KIND_SINGULAR = {"decoders": "decoder", "transforms": "transform", "models": "model",
                 "measures": "measure"}


UNKNOWN = "(unknown)"


@dataclass(frozen=True)
class Entry:
    """A registered component class, the plugin that owns it, and the distribution that
    installed that plugin with its version (part of every cache key made with the
    component, so upgrading the plugin never reuses what the old one made)."""

    kind: str
    name: str
    cls: type
    plugin: str
    distribution: str = UNKNOWN
    version: str = UNKNOWN


@dataclass
class Registry:
    """All components by kind and name. Duplicate names are refused, naming both owners."""

    entries: dict[str, dict[str, Entry]] = field(
        default_factory=lambda: {kind: {} for kind in COMPONENT_KINDS}
    )

    def add(
        self, kind: str, cls: Any, plugin: str, distribution: str = UNKNOWN,
        version: str = UNKNOWN,
    ) -> None:
        """Store ``cls`` under ``cls.name`` as a component of ``plugin`` (installed by
        ``distribution`` at ``version``); raise :class:`PluginError` when invalid or taken."""
        base = BASE_CLASSES[kind]
        singular = KIND_SINGULAR[kind]
        if not isinstance(cls, type) or not issubclass(cls, base):
            raise PluginError(
                f"plugin {plugin!r} registered {cls!r} as a {singular}, "
                f"but it is not a subclass of {base.__module__}.{base.__name__}"
            )
        name = getattr(cls, "name", None)
        if not isinstance(name, str) or not name:
            raise PluginError(f"plugin {plugin!r}: {singular} {cls.__name__} has no 'name'")
        if not is_dataclass(getattr(cls, "Options", None)):
            raise PluginError(
                f"plugin {plugin!r}: {singular} {name!r} Options must be a dataclass"
            )
        existing = self.entries[kind].get(name)
        if existing is not None:
            raise PluginError(
                f"{singular} {name!r} is registered twice: by plugin {existing.plugin!r} "
                f"and by plugin {plugin!r}; disable one with KARA_DISABLE_PLUGINS"
            )
        self.entries[kind][name] = Entry(kind=kind, name=name, cls=cls, plugin=plugin,
                                         distribution=distribution, version=version)

    def get(self, kind: str, name: str) -> Entry:
        """The entry for ``name``; :class:`KeyError` carries a did-you-mean message."""
        try:
            return self.entries[kind][name]
        except KeyError:
            raise KeyError(self.unknown_message(kind, name)) from None

    def unknown_message(self, kind: str, name: str) -> str:
        """``unknown transform 'mell'; did you mean 'mel'? installed: fft, mel, raw, stft``."""
        installed = sorted(self.entries[kind])
        message = f"unknown {KIND_SINGULAR[kind]} {name!r}"
        close = difflib.get_close_matches(str(name), installed, n=1, cutoff=0.5)
        if close:
            message += f"; did you mean {close[0]!r}?"
        else:
            message += ";"
        return message + f" installed: {', '.join(installed) or '(none)'}"

    def default(self, kind: str) -> Entry:
        """The one component of ``kind`` a plugin offers as the default (``default = True``).

        :class:`KeyError` with a one-line message when none or several are offered: the
        user then names the component in kara.yaml.
        """
        offered = [e for e in self.entries[kind].values() if getattr(e.cls, "default", False)]
        singular = KIND_SINGULAR[kind]
        if len(offered) == 1:
            return offered[0]
        installed = ", ".join(self.names(kind)) or "(none)"
        if not offered:
            raise KeyError(f"no installed plugin offers a default {singular}; set "
                           f"{singular}.type (installed: {installed})")
        owners = ", ".join(f"{e.name!r} by plugin {e.plugin!r}" for e in offered)
        raise KeyError(f"several plugins offer a default {singular} ({owners}); set "
                       f"{singular}.type")

    def baselines(self) -> list[str]:
        """Names of the installed baseline models (``baseline = True``), sorted."""
        return sorted(e.name for e in self.entries["models"].values()
                      if getattr(e.cls, "baseline", False))

    def measures(self) -> list[Any]:
        """One instance of every registered measure, in column order (``order``, then
        name): what the evaluation computes and the table shows."""
        entries = sorted(self.entries["measures"].values(),
                         key=lambda e: (getattr(e.cls, "order", 100), e.name))
        return [entry.cls() for entry in entries]

    def names(self, kind: str) -> list[str]:
        """Sorted names of one kind."""
        return sorted(self.entries[kind])

    def __iter__(self) -> Iterator[Entry]:
        for kind in COMPONENT_KINDS:
            yield from self.entries[kind].values()
