"""``kara plugins``: which plugins are installed and what each registers."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> None:
    """Register the sub-command."""
    parser = subparsers.add_parser("plugins", help="list installed plugins and their components")
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print each plugin: name, distribution, version, components by kind."""
    from kara_core.commands._session import load_plugins
    from kara_core.console import out, print_json

    plugins = load_plugins()
    rows = [
        {
            "name": name,
            "distribution": info.distribution,
            "version": info.version,
            "components": plugins.components_of(name),
        }
        for name, info in sorted(plugins.infos.items())
        if name not in plugins.broken
    ] + [
        {"name": name, "broken": reason} for name, reason in sorted(plugins.broken.items())
    ]
    if args.json:
        print_json(rows)
        return 0
    from rich.table import Table

    table = Table(title="Kara plugins")
    columns = ("plugin", "distribution", "version", "decoders", "transforms", "models", "measures")
    for column in columns + (("left out because",) if plugins.broken else ()):
        table.add_column(column, overflow="fold")
    blank = ("",) if plugins.broken else ()
    for name, info in sorted(plugins.infos.items()):
        if name in plugins.broken:
            continue
        comps = plugins.components_of(name)
        table.add_row(
            name, info.distribution, info.version,
            ", ".join(comps["decoders"]), ", ".join(comps["transforms"]),
            ", ".join(comps["models"]), ", ".join(comps["measures"]), *blank,
        )
    for name, reason in sorted(plugins.broken.items()):  # components of its own: none
        known = plugins.infos.get(name)
        table.add_row(f"[red]{name}[/]", known.distribution if known else "",
                      known.version if known else "", "", "", "", "", f"[red]broken: {reason}[/]")
    out.print(table)
    return 0
