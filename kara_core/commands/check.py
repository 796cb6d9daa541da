"""``kara check kara.yaml``: validate the config and show every resolved variant."""

from __future__ import annotations

import argparse
from typing import Any


def add_parser(subparsers: Any) -> None:
    """Register the sub-command."""
    parser = subparsers.add_parser("check", help="validate kara.yaml and show resolved variants")
    parser.add_argument("config", help="path to kara.yaml")
    parser.add_argument("--json", action="store_true", help="print the resolved variants as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Exit 0 with a table of variants, or raise the one-line :class:`ConfigError`."""
    from kara_core.commands._session import load_experiment
    from kara_core.console import out, print_json

    _plugins, experiment = load_experiment(args.config)
    if args.json:
        print_json({"variants": [v.resolved() for v in experiment.variants]})
        return 0
    from rich.table import Table

    from kara_core.options import to_plain

    def show(component: Any) -> str:
        """Type plus the options that differ from the component's defaults."""
        options = to_plain(component.options)
        defaults = to_plain(type(component.options)())
        changed = {k: v for k, v in options.items() if defaults.get(k) != v}
        inner = ", ".join(f"{k}={v}" for k, v in changed.items())
        return f"{component.type} ({inner})" if inner else component.type

    table = Table(title=f"{experiment.path}: experiment '{experiment.name}'")
    for column in ("variant", "decoder", "transform", "model", "run folder"):
        table.add_column(column, overflow="fold")
    for variant in experiment.variants:
        table.add_row(
            variant.name, show(variant.decoder), show(variant.transform), show(variant.model),
            str(variant.run_dir),
        )
    out.print(table)
    out.print(
        f"[green]ok[/]: {len(experiment.variants)} variant(s) resolved "
        "(options shown where they differ from the defaults; --json shows all)"
    )
    return 0
