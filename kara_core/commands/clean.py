"""``kara clean kara.yaml...``: show, then remove, caches and runs no given config uses."""

from __future__ import annotations

import argparse
from typing import Any

from kara_core.commands._args import add_config_argument, config_path


def add_parser(subparsers: Any) -> None:
    """Register the sub-command."""
    parser = subparsers.add_parser(
        "clean", help="show (and with --yes remove) caches and runs no config uses",
        description="List the feature caches under each config's cache_dir and the run "
        "folders under its runs_dir that none of the given configs' variants uses any "
        "more, with their sizes. Nothing is removed without --yes. Give every config that "
        "shares those folders: a cache only another config uses looks unused otherwise.",
    )
    add_config_argument(parser, several=True)
    parser.add_argument("--yes", action="store_true", help="remove what is listed")
    parser.add_argument("--json", action="store_true", help="print the list as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Exit 0; 1 when --yes could not remove a folder another process holds."""
    from kara_core.commands._session import load_plugins
    from kara_core.config import load_config
    from kara_core.console import human_bytes, out, print_json, print_note, print_warning
    from kara_core.pipeline.housekeeping import remove, unused_outputs

    plugins = load_plugins()
    experiments = [load_config(path, plugins.registry) for path in map(config_path, args.config)]
    unused = unused_outputs(experiments)
    total = sum(u.bytes for u in unused)
    if args.json:
        print_json({"unused": [{"kind": u.kind, "path": str(u.path), "bytes": u.bytes}
                               for u in unused], "bytes": total, "removed": bool(args.yes)})
    else:
        for item in unused:
            out.print(f"{item.kind:5}  {human_bytes(item.bytes):>9}  {item.path}", markup=False)
        print_note(f"{len(unused)} unused folder(s), {human_bytes(total)}"
                   + ("" if args.yes or not unused else "; --yes removes them"))
    if not args.yes:
        return 0
    busy = 0
    for item in unused:
        holder = remove(item)
        if holder is not None:
            busy += 1
            print_warning(f"{item.path}: in use by {holder}; left")
    return 1 if busy else 0
