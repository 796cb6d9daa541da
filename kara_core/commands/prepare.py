"""``kara prepare kara.yaml``: decode every mp3 of the dataset into WAVs, incrementally."""

from __future__ import annotations

import argparse
import os
from typing import Any

from kara_core.commands._args import add_config_argument, positive_int


def add_parser(subparsers: Any) -> None:
    """Register the sub-command."""
    parser = subparsers.add_parser(
        "prepare", help="decode the dataset's mp3s into WAVs (incremental, parallel)",
        description="Decode every *.mp3 under dataset.mp3_dir (any depth) into "
        "<wav_dir>/<relative path>.wav at the configured rate and channels, with a "
        "manifest; unchanged files are not decoded again. Bad files are skipped with a "
        "one-line reason. Exit 0 when at least one song is usable, 2 when none is (or, "
        "with --strict, when any file was skipped).",
    )
    add_config_argument(parser)
    parser.add_argument("--json", action="store_true",
                        help="print {files: [...], summary: {...}} as JSON on stdout")
    parser.add_argument("--workers", type=positive_int, default=None, metavar="N",
                        help="decoding processes (default: one per core)")
    parser.add_argument("--strict", action="store_true",
                        help="exit 2 when any file was skipped")
    parser.set_defaults(func=run)


def _merge(reports: list[Any]) -> dict[str, Any]:
    """One ``--json`` document for one or more datasets."""
    if len(reports) == 1:
        return dict(reports[0].to_json())
    files = [f for r in reports for f in r.files]
    summary: dict[str, Any] = {"decoded": 0, "cached": 0, "skipped": 0, "usable": 0}
    for report in reports:
        for key in summary:
            summary[key] += report.summary[key]
    return {"files": files, "summary": summary, "datasets": [r.summary for r in reports]}


def run(args: argparse.Namespace) -> int:
    """Prepare each distinct (dataset, decoder) of the experiment; see the description."""
    # prepare never calls BLAS, but OpenBLAS starts a thread per core when numpy is
    # imported, and it spins for some 50 ms of CPU the decoders need (bench_prepare.py);
    # numpy is not imported yet here, and a user's own setting wins
    os.environ.setdefault("OPENBLAS_NUM_THREADS", "1")
    from kara_core.commands._session import load_experiment
    from kara_core.console import print_error, print_json
    from kara_core.pipeline.parts import distinct_datasets, prepare_settings, run_prepare
    from kara_core.pipeline.prepare import check_collection, no_usable_message

    _plugins, experiment = load_experiment(args.config)
    empty = check_collection([v.dataset.mp3_dir for v in experiment.variants])
    reports = []
    problems = list(dict.fromkeys(empty.values()))
    for variant in distinct_datasets(experiment.variants):
        if variant.dataset.mp3_dir in empty:
            continue  # its WAVs stay as they are
        report = run_prepare(variant, workers=args.workers, show_progress=True)
        reports.append(report)
        if not report.summary["usable"]:
            problems.append(no_usable_message(prepare_settings(variant), report))
        elif args.strict and report.summary["skipped"]:
            problems.append(
                f"{variant.dataset.mp3_dir}: {report.summary['skipped']} file(s) skipped "
                "(--strict)"
            )
    if args.json:
        print_json(_merge(reports))
    for problem in problems:
        print_error(problem)
    return 2 if problems else 0
