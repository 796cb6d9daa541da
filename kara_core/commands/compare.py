"""``kara compare RUN_DIR...``: the comparison table from saved run records, no recomputing."""

from __future__ import annotations

import argparse
import sys
from typing import Any


def add_parser(subparsers: Any) -> None:
    """Register the sub-command."""
    parser = subparsers.add_parser(
        "compare", help="compare saved runs in one table",
        description="Print the comparison table of 'kara run' from saved records. Each "
        "RUN_DIR is a variant's run folder or an experiment folder holding them.",
    )
    parser.add_argument("run_dirs", nargs="+", metavar="RUN_DIR", help="run or experiment folder")
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="print JSON instead of a table")
    form.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the table; a folder without records is a one-line error."""
    from kara_core.console import out, print_json
    from kara_core.report.table import find_records, print_table, to_csv, to_json

    records = find_records(args.run_dirs)
    if args.json:
        print_json(to_json(records))
    elif args.csv:
        sys.stdout.write(to_csv(records))
    else:
        print_table(records, out, title="saved runs")
    return 0
