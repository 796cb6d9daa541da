"""Hook specifications: how a plugin adds decoders, transforms, models and measures to Kara.

Each hook receives a ``register`` callback and calls it once per component class. The
registry records which plugin registered what and refuses two components with one name,
so ``type:`` in kara.yaml always means exactly one class. See docs/plugins.md for a
tutorial and examples.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol, TypeVar

import pluggy

if TYPE_CHECKING:
    from kara_core.components import Decoder, Measure, Model, Transform

PROJECT_NAME = "kara"
hookspec = pluggy.HookspecMarker(PROJECT_NAME)
hookimpl = pluggy.HookimplMarker(PROJECT_NAME)

C_contra = TypeVar("C_contra", contravariant=True)


class Register(Protocol[C_contra]):
    """The callback a registration hook receives: ``register(cls)`` stores ``cls`` under
    ``cls.name``."""

    def __call__(self, cls: type[C_contra]) -> None: ...


@hookspec
def kara_register_decoders(register: Register[Decoder]) -> None:
    """Register :class:`~kara_core.components.Decoder` classes: call ``register(cls)`` once
    per class.

    :param register: stores ``cls`` under ``cls.name``, the key used by ``decoder.type`` in
        kara.yaml. Raises :class:`~kara_core.errors.PluginError` if the name is taken.

    Called once per plugin manager, when the registry is first built (``kara plugins``,
    ``kara check`` and every command that reads kara.yaml). Must be cheap: do not start
    external programs here; do that in ``Decoder.check()``.
    """


@hookspec
def kara_register_transforms(register: Register[Transform]) -> None:
    """Register :class:`~kara_core.components.Transform` classes: call ``register(cls)`` once
    per class.

    :param register: stores ``cls`` under ``cls.name``, the key used by ``transform.type`` in
        kara.yaml. Raises :class:`~kara_core.errors.PluginError` if the name is taken.

    Called once per plugin manager, when the registry is first built. Import heavy
    libraries inside the transform's methods, not at module level.
    """


@hookspec
def kara_register_models(register: Register[Model]) -> None:
    """Register :class:`~kara_core.components.Model` classes: call ``register(cls)`` once
    per class.

    :param register: stores ``cls`` under ``cls.name``, the key used by ``model.type`` in
        kara.yaml. Raises :class:`~kara_core.errors.PluginError` if the name is taken.

    Called once per plugin manager, when the registry is first built. ``kara plugins`` and
    ``kara check`` call it and must not import TensorFlow: keep framework imports inside
    ``fit``/``generate``/``load``.
    """


@hookspec
def kara_register_measures(register: Register[Measure]) -> None:
    """Register :class:`~kara_core.components.Measure` classes: call ``register(cls)`` once
    per class.

    :param register: stores ``cls`` under ``cls.name``, its key in metrics.json and the
        comparison table. Raises :class:`~kara_core.errors.PluginError` if the name is
        taken (Kara's own measures are registered the same way, by plugin ``kara``).

    Called once per plugin manager, when the registry is first built. Every registered
    measure is computed on every generated clip and shown as a column of the table.
    """
