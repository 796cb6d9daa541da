"""``kara check kara.yaml``: validate the config, show every resolved variant and what the
run will cost (songs, hours, disk, time; see :mod:`kara_core.pipeline.cost`)."""

from __future__ import annotations

import argparse
from typing import Any

from kara_core.commands._args import add_config_argument


def add_parser(subparsers: Any) -> None:
    """Register the sub-command."""
    parser = subparsers.add_parser(
        "check", help="validate kara.yaml, show resolved variants and what the run will cost",
        description="Validate kara.yaml and show every resolved variant, then what a run "
        "will cost on this machine: songs and hours, disk for the wavs and the feature "
        "cache, and prepare, featurize and training time. Never decodes audio or imports "
        "TensorFlow.",
    )
    add_config_argument(parser)
    parser.add_argument("--json", action="store_true",
                        help="print the resolved variants and their cost as JSON")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Exit 0 with the tables, or raise the one-line :class:`ConfigError`."""
    from kara_core.commands._session import load_experiment
    from kara_core.console import out, print_json, print_warning
    from kara_core.pipeline.prepare import check_collection

    _plugins, experiment = load_experiment(args.config)
    for problem in check_collection([v.dataset.mp3_dir for v in experiment.variants]).values():
        print_warning(f"{problem.split('; ')[0]}: the variants reading it will fail")
    cost = _estimate(experiment.variants)
    if args.json:
        rows = (cost or {}).get("variants", {})
        print_json({
            "variants": [{**v.resolved(), "cost": rows.get(v.name)}
                         for v in experiment.variants],
            "cost": None if cost is None else {"total": cost["total"],
                                                "warnings": cost["warnings"]},
        })
        for line in (cost or {}).get("warnings", []):
            print_warning(f"not enough disk: {line}")
        for line in folder_warnings(experiment.variants):
            print_warning(line)
        return 0
    _variants_table(experiment)
    out.print(
        f"[green]ok[/]: {len(experiment.variants)} variant(s) resolved "
        "(options shown where they differ from the defaults; --json shows all)"
    )
    if cost is not None:
        _cost_table(experiment, cost)
        for line in cost["warnings"]:
            print_warning(f"not enough disk: {line}")
    for line in folder_warnings(experiment.variants):
        print_warning(line)
    return 0


def folder_warnings(variants: Any) -> list[str]:
    """One line per output folder that holds files Kara did not write (a folder shared
    with other things: Kara never deletes them, but they are at risk from a mistaken
    rm, and hide Kara's own)."""
    from kara_core.storage.layout import foreign_entries

    seen: set[tuple[str, str]] = set()
    lines = []
    for variant in variants:
        for key, kind, folder in (("dataset.wav_dir", "wav", variant.dataset.wav_dir),
                                  ("dataset.cache_dir", "cache", variant.dataset.cache_dir),
                                  ("runs_dir", "runs", variant.runs_dir)):
            if (kind, str(folder)) in seen:
                continue
            seen.add((kind, str(folder)))
            count, names = foreign_entries(kind, folder)
            if count:
                more = ", ..." if count > len(names) else ""
                lines.append(
                    f"{key}: {folder} holds {count} entr{'y' if count == 1 else 'ies'} Kara did "
                    f"not write, or wrote before it recorded its files ({', '.join(names)}"
                    f"{more}); Kara never deletes them, but give it a folder of its own"
                )
    return lines


def _estimate(variants: Any) -> dict[str, Any] | None:
    """The cost estimate, or ``None`` (one warning line) when it cannot be made: the config
    is valid either way."""
    from kara_core.console import debugging, print_warning
    from kara_core.errors import one_line
    from kara_core.pipeline.cost import estimate
    from kara_core.pipeline.parts import cost_inputs

    try:
        return estimate(cost_inputs(variants))
    except Exception as exc:  # the estimate must never make a valid config fail
        if debugging():
            raise
        print_warning(f"cannot estimate the cost of the run: {one_line(exc)}")
        return None


def _variants_table(experiment: Any) -> None:
    from rich.table import Table

    from kara_core.console import out
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


def _cost_table(experiment: Any, cost: dict[str, Any]) -> None:
    from rich.markup import escape
    from rich.table import Table

    from kara_core.console import human_bytes, out
    from kara_core.pipeline.cost import human_seconds
    from kara_core.pipeline.prepare import default_workers

    rows = cost["variants"]
    table = Table(title=f"what the run will cost on this machine ({default_workers()} cores)")
    for column in ("variant", "songs", "audio", "training on", "wavs", "feature cache",
                   "prepare", "featurize", "train"):
        table.add_column(column, overflow="fold")
    notes: list[str] = []
    for variant in experiment.variants:
        row = rows.get(variant.name)
        if row is None or "error" in row:
            table.add_row(variant.name, *[""] * 7, "unknown")
            notes.append(f"{variant.name}: {(row or {}).get('error', 'not estimated')}")
            continue
        cache, train = row["cache"], row.get("train") or {}
        done = " (done)" if row["prepare"]["songs"] == 0 and row["songs"] else ""
        table.add_row(
            variant.name, str(row["songs"]), human_seconds(row["audio_s"], "audio"),
            f"{row['train_songs']} songs, {human_seconds(row['train_audio_s'], 'audio')}",
            human_bytes(row["wav_bytes"]),
            f"{human_bytes(cache['bytes'])} ({cache['transform'].split(',')[0]})",
            human_seconds(row["prepare"]["seconds"]) + done,
            human_seconds(row["featurize"]["seconds"])
            + (" (cached)" if row["featurize"]["songs"] == 0 and row["songs"] else ""),
            human_seconds(train.get("seconds")),
        )
        if train.get("how"):
            notes.append(f"{variant.name} training: {train['how']}")
    out.print(table)
    if not rows or all(r.get("songs", 0) == 0 for r in rows.values() if "error" not in r):
        out.print(f"no mp3 files in {experiment.base.dataset.mp3_dir} yet: put your music "
                  "there to see the cost of the run")
    first = next((r for r in rows.values() if "error" not in r), None)
    if first is not None:
        prep = first["prepare"]
        speed = (f"{prep['x_real_time_per_core']:.0f}x real time per core x "
                 f"{prep['workers']} worker(s)" if prep["x_real_time_per_core"]
                 else "unknown (never measured)")
        notes.insert(0, f"song lengths: {first['lengths_from']}"
                     + (f"; {first['unknown_length']} file(s) of unknown length"
                        if first["unknown_length"] else "")
                     + f"; prepare with {prep['decoder']}: {speed}; featurize timed just now")
    total = cost["total"]
    times = total["seconds"]
    notes.append(
        f"total, shared work counted once: prepare {human_seconds(times['prepare'])}, "
        f"featurize {human_seconds(times['featurize'])}, train {human_seconds(times['train'])}; "
        f"wavs {human_bytes(total['wav_bytes'])} + caches {human_bytes(total['cache_bytes'])}"
        f" ({human_bytes(total['bytes_to_write'])} still to write)"
    )
    for note in notes:
        out.print(f"[dim]{escape(note)}[/]")
