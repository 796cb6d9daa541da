"""``kara clean kara.yaml...``: show, then remove, caches and runs no given config uses
(only what Kara wrote: see :mod:`kara_core.pipeline.housekeeping`)."""

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
        "more, with their sizes. Nothing is removed without --yes, and only what Kara can "
        "prove it wrote: folders carrying its marker, and in them the files it recorded "
        "writing, unchanged since; other files, links, and folders a running kara command "
        "uses are left, each said in one line. Give every config that shares those "
        "folders: a cache only another config uses looks unused otherwise.",
    )
    add_config_argument(parser, several=True)
    parser.add_argument("--yes", action="store_true", help="remove what is listed")
    parser.add_argument("--json", action="store_true", help="print the list as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Exit 0; 1 when --yes could not remove a folder another process holds, or left
    files Kara did not write."""
    from kara_core.commands._session import load_plugins
    from kara_core.config import load_config
    from kara_core.console import human_bytes, out, print_json, print_note, print_warning
    from kara_core.pipeline.housekeeping import remove, unused_outputs

    plugins = load_plugins()
    experiments = [load_config(path, plugins.registry) for path in map(config_path, args.config)]
    found = unused_outputs(experiments)
    unused = [u for u in found if u.proven]
    unproven = [u for u in found if not u.proven]
    total = sum(u.bytes for u in unused)
    if args.json:
        print_json({"unused": [{"kind": u.kind, "path": str(u.path), "bytes": u.bytes}
                               for u in unused], "bytes": total, "removed": bool(args.yes),
                    "unproven": [{"kind": u.kind, "path": str(u.path), "bytes": u.bytes}
                                 for u in unproven]})
    else:
        for item in unused:
            out.print(f"{item.kind:5}  {human_bytes(item.bytes):>9}  {item.path}", markup=False)
        print_note(f"{len(unused)} unused folder(s), {human_bytes(total)}"
                   + ("" if args.yes or not unused else "; --yes removes them"))
    for item in unproven:
        print_warning(f"{item.path}: looks like a Kara {item.kind} folder but carries no "
                      "record of what Kara wrote (an older Kara, or not Kara's): never "
                      "removed by kara clean; delete it yourself if it is yours to delete")
    if not args.yes:
        return 0
    trouble = 0
    for item in unused:
        done = remove(item)
        if done.holder is not None:
            trouble += 1
            print_warning(f"{item.path}: in use by {done.holder}; left")
        elif done.left:
            trouble += 1
            shown = ", ".join(str(p.relative_to(item.path)) if p != item.path else "."
                              for p in done.left[:3])
            more = f" and {len(done.left) - 3} more" if len(done.left) > 3 else ""
            print_warning(f"{item.path}: removed what Kara wrote; left {len(done.left)} "
                          f"file(s) Kara did not write or that changed since ({shown}{more}) "
                          "and the folder holding them")
    return 1 if trouble else 0
