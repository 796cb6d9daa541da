"""``kara train kara.yaml``: prepare, featurize and train each variant, scored against
its naive baselines (``train.baselines``) on held-out songs."""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING, Any

from kara_core.commands._args import add_config_argument, add_variant_option, positive_int

if TYPE_CHECKING:
    from kara_core.pipeline.experiment import DatasetCache


def add_parser(subparsers: Any) -> None:
    """Register the sub-command."""
    parser = subparsers.add_parser(
        "train", help="train each variant's model and score it against naive baselines",
        description="Train the model of each variant on the prepared songs, resuming from "
        "the last checkpoint, and report its closed-loop MSE on held-out songs beside the "
        "naive baselines of train.baselines (skill = 1 - val_loss / the reference "
        "baseline's).",
    )
    add_config_argument(parser)
    add_variant_option(parser)
    parser.add_argument("--rebuild", action="store_true",
                        help="forget checkpoints and train from scratch")
    parser.add_argument("--reload", action="store_true",
                        help="re-read the wavs and rebuild the feature cache")
    parser.add_argument("--epochs", type=positive_int, metavar="N",
                        help="train to N epochs in total (overrides train.epochs)")
    parser.add_argument("--json", action="store_true",
                        help="print the metrics as JSON on stdout (no progress output)")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Exit 0 when at least one variant trained, 2 when every variant failed."""
    from kara_core.commands._session import load_experiment
    from kara_core.console import print_error, print_json
    from kara_core.errors import KaraError, one_line

    _plugins, experiment = load_experiment(args.config)
    from kara_core.commands._quiet import import_tensorflow
    from kara_core.console import debugging

    import_tensorflow(debug=debugging())
    variants = experiment.select(args.variant)
    show = not args.json
    from kara_core.pipeline.experiment import DatasetCache

    cache = DatasetCache()
    results: list[dict[str, Any]] = []
    for variant in variants:
        try:
            metrics = _train_one(variant, cache, args, show)
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # one variant's failure must not stop the others
            if debugging() and not isinstance(exc, KaraError):
                raise
            print_error(f"variant {variant.name}: {one_line(exc)}")
            _record_failure(variant, one_line(exc))
            results.append({"variant": variant.name, "run_dir": str(variant.run_dir),
                            "error": one_line(exc)})
            continue
        results.append({"variant": variant.name, "run_dir": str(variant.run_dir),
                        "metrics": metrics})
    if args.json:
        print_json({"variants": results})
    else:
        _table(results)
    return 0 if any("metrics" in r for r in results) else 2


def _record_failure(variant: Any, message: str) -> None:
    """Mark an existing record ``failed`` (a failed ``--rebuild`` has removed the model it
    described); a variant never trained has no record to mark."""
    from kara_core.errors import KaraError
    from kara_core.report import records

    metrics, problem = records.read_metrics_checked(variant.run_dir)
    if metrics and problem is None and metrics.get("status") == "training":
        try:
            records.update_metrics(variant.run_dir, {"status": "failed", "error": message})
        except (KaraError, OSError):
            return  # the run folder cannot be written: the error line above says enough


def _train_one(
    variant: Any, cache: DatasetCache, args: argparse.Namespace, show: bool
) -> dict[str, Any]:
    from kara_core.pipeline.parts import train_variant

    features = cache.features(variant, reload=bool(args.reload), show_progress=show)
    return train_variant(variant, features, rebuild=args.rebuild, epochs=args.epochs,
                         show_progress=show)


def _table(results: list[dict[str, Any]]) -> None:
    from rich.table import Table

    from kara_core.console import out

    # the baselines' columns come from the metrics (train.baselines), not from their names
    trained = [r["metrics"] for r in results if r.get("metrics") is not None]
    names = list(dict.fromkeys(n for m in trained for n in (m.get("baselines") or {})))
    reference = next((str(m["skill_against"]) for m in trained if m.get("skill_against")),
                     None)
    names.sort(key=lambda name: name != reference)  # the reference first, as before
    others = [n for n in names if any(f"skill_vs_{n}" in m for m in trained)]
    table = Table(title="validation MSE on held-out songs (normalised features; lower is better)")
    columns = ("variant", "model", "untrained", *names, "skill",
               *(f"skill vs {n}" for n in others), "epochs", "run folder")
    for column in columns:
        table.add_column(column, overflow="fold")

    def fmt(value: Any, sign: bool = False) -> str:
        if not isinstance(value, int | float):
            return "-"
        return f"{value:+.3f}" if sign else f"{value:.4f}"

    for result in results:
        metrics = result.get("metrics")
        if metrics is None:
            table.add_row(result["variant"], "[red]failed[/]", *[""] * (len(columns) - 3),
                          result["run_dir"])
            continue
        base = metrics.get("baselines") or {}
        untrained = (metrics.get("training") or {}).get("untrained_val_loss")
        table.add_row(
            result["variant"], fmt(metrics.get("val_loss")), fmt(untrained),
            *(fmt(base.get(n)) for n in names), fmt(metrics.get("skill"), sign=True),
            *(fmt(metrics.get(f"skill_vs_{n}"), sign=True) for n in others),
            str(metrics.get("epochs_completed")), result["run_dir"],
        )
    out.print(table)
    against = f" / {reference}" if reference else " / the reference baseline"
    out.print(f"skill = 1 - model{against}: above 0 the model beats that baseline; "
              "skill vs a baseline: the same against that one; "
              "'untrained' is the model before its first training step")
