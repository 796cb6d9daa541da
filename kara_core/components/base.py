"""What every component shares: the ``Options`` a component without options declares."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class NoOptions:
    """Options of a component that takes none: any key under ``options:`` is an error."""
