"""``kara run kara.yaml``: the whole experiment, every variant, one comparison table."""

from __future__ import annotations

import argparse
from typing import Any

from kara_core.commands._args import add_config_argument, add_variant_option


def add_parser(subparsers: Any) -> None:
    """Register the sub-command."""
    parser = subparsers.add_parser(
        "run", help="prepare, featurize, train, generate and evaluate every variant",
        description="Run the whole experiment in kara.yaml: prepare -> featurize -> train -> "
        "generate -> evaluate for the base and each variant, reusing every cache, then print "
        "one comparison table. Each run folder gets a report.html to listen to.",
    )
    add_config_argument(parser)
    add_variant_option(parser)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--all", action="store_true", dest="all_measures",
                        help="show every measure in the table, not only the deciding ones")
    parser.add_argument("--rebuild", action="store_true", help="train from scratch")
    parser.add_argument(
        "--reload", action="store_true", help="re-read the wavs and rebuild the feature cache"
    )
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Exit 0 when at least one variant succeeded, 2 when all failed."""
    from kara_core.commands._session import load_experiment
    from kara_core.console import err, out, print_error, print_json, print_note
    from kara_core.pipeline.experiment import run_experiment
    from kara_core.pipeline.prepare import check_collection
    from kara_core.report.short import print_results
    from kara_core.report.table import experiment_records, load_record, to_json
    from kara_core.report.verdict import is_demo_folder

    plugins, experiment = load_experiment(args.config)
    variants = experiment.select(args.variant)
    check_collection([v.dataset.mp3_dir for v in variants])  # before TensorFlow's start-up
    from kara_core.commands._quiet import import_tensorflow
    from kara_core.console import debugging

    import_tensorflow(debug=debugging())

    def on_error(variant: str, message: str) -> None:
        print_error(f"variant {variant}: {message}")

    outcomes = run_experiment(
        experiment, variants, plugin_infos=plugins.infos, rebuild=args.rebuild,
        reload=args.reload, show_progress=True,
        on_error=on_error,
    )
    records = [load_record(o.run_dir) for o in outcomes]
    demo = is_demo_folder(experiment.base.dataset.mp3_dir)
    if args.json:
        print_json(to_json(records, demo=demo))
    else:
        print_results(records, out, f"experiment '{experiment.name}'", every=args.all_measures,
                      demo=demo)
    index = experiment.base.run_dir.parent / "index.html"
    ok = sum(o.ok for o in outcomes)
    shown = len(experiment_records(experiment))
    print_note(f"{ok}/{len(outcomes)} variant(s) succeeded; listen: {index} ({shown} variant(s))")
    if ok == 0:
        err.print("[red]every variant failed[/]")
        return 2
    return 0
