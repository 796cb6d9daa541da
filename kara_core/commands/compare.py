"""``kara compare RUN_DIR...``: the comparison table from saved run records, no recomputing."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any


def add_parser(subparsers: Any) -> None:
    """Register the sub-command."""
    parser = subparsers.add_parser(
        "compare", help="compare saved runs in one table",
        description="Print the comparison table of 'kara run' from saved records. Each "
        "RUN_DIR is a variant's run folder or an experiment folder holding them.",
    )
    parser.add_argument("run_dirs", nargs="*", metavar="RUN_DIR",
                        help="run or experiment folder (default: the experiment of ./kara.yaml)")
    parser.add_argument("--all", action="store_true", dest="all_measures",
                        help="show every measure in the table, not only the deciding ones")
    form = parser.add_mutually_exclusive_group()
    form.add_argument("--json", action="store_true", help="print JSON instead of a table")
    form.add_argument("--csv", action="store_true", help="print CSV instead of a table")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Print the table; a folder without records is a one-line error, and a record that
    cannot be read is marked in its row and makes the exit status 2."""
    from kara_core.console import out, print_json
    from kara_core.errors import KaraError
    from kara_core.report.short import print_results
    from kara_core.report.table import find_records, to_csv, to_json

    if not args.run_dirs:
        args.run_dirs = [str(_default_experiment_folder())]
    for run_dir in args.run_dirs:
        check_records(Path(run_dir))
    try:
        return _show(args, find_records(args.run_dirs), out, print_json, print_results, to_csv,
                     to_json)
    except (OverflowError, RecursionError, ValueError) as exc:  # a record Kara did not write
        raise KaraError(
            f"{', '.join(args.run_dirs)}: a record there holds values Kara cannot show "
            f"({type(exc).__name__}: {str(exc)[:100]})"
        ) from None


def _default_experiment_folder() -> Path:
    """The experiment folder of ``./kara.yaml`` (its runs_dir/name), for ``kara compare``
    without arguments."""
    from kara_core.commands._args import DEFAULT_CONFIG
    from kara_core.commands._session import load_experiment

    _plugins, experiment = load_experiment(DEFAULT_CONFIG)
    return experiment.base.run_dir.parent


MAX_DEPTH = 32
MAX_NUMBER = 1e300


def check_records(folder: Path) -> None:
    """:class:`KaraError` naming the first ``metrics.json`` (of ``folder`` and its
    variants) that Kara could not have written: nested too deeply, numbers that do not fit
    a float, or not JSON at all."""
    import json

    from kara_core.errors import KaraError

    for path in (folder / "metrics.json", *sorted(folder.glob("*/metrics.json"))):
        try:
            text = path.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError):
            continue  # missing or unreadable: the table says so
        try:
            problem = _problem(json.loads(text), 0)
        except RecursionError:
            problem = "nested too deeply"
        except ValueError:
            continue  # not JSON: the table shows the run without figures
        if problem is not None:
            raise KaraError(f"{path}: {problem}; not a record Kara wrote (rerun the variant "
                            "to write it again)")


def _problem(value: Any, depth: int) -> str | None:
    if depth > MAX_DEPTH:
        return "nested too deeply"
    if isinstance(value, dict):
        children: Any = value.values()
    elif isinstance(value, list):
        children = value
    elif isinstance(value, int) and not isinstance(value, bool):
        return None if abs(value) <= MAX_NUMBER else "holds a number too large to show"
    else:
        return None
    for child in children:
        found = _problem(child, depth + 1)
        if found is not None:
            return found
    return None


def _show(args: argparse.Namespace, records: Any, out: Any, print_json: Any,
          print_results: Any, to_csv: Any, to_json: Any) -> int:
    if args.json:
        print_json(to_json(records))
    elif args.csv:
        sys.stdout.write(to_csv(records))
    else:
        print_results(records, out, title="saved runs", every=args.all_measures)
    return 2 if any(record.problem is not None for record in records) else 0
