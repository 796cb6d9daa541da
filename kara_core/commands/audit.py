"""``kara audit kara.yaml``: what each variant's transform loses, on your own songs."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kara_core.commands._args import (
    add_config_argument,
    add_variant_option,
    positive_int,
    positive_seconds,
)

NOTES = (
    "SNR / SI-SDR: waveform match (meaningless once phase is re-estimated: read SC beside it). "
    "SC: spectral convergence, 0 = identical magnitudes. LSD: log-spectral distance. "
    "MR-STFT: multi-resolution STFT distance (2048/1024/512/256). RTF: compute time per "
    "second of audio. Err. sens. / err. LSD: an error 20 dB below the normalised features "
    "(what a model sees) is added to the frames; spectral SNR and log-spectral distance of "
    "the audio that comes back against the clean round trip. A high err. LSD means the "
    "error comes back as a noise floor."
)


def add_parser(subparsers: Any) -> None:
    """Register the sub-command."""
    parser = subparsers.add_parser(
        "audit", help="measure every variant's transform round trip on the prepared songs",
        description="For the base and every variant, turn each prepared song into frames and "
        "back, and score what is lost (SNR, SI-SDR, spectral convergence, LSD, MR-STFT, "
        "speed, and how a model's error would reach the audio). Writes spectrogram PNGs "
        "to <runs_dir>/<name>/<variant>/audit/.",
    )
    add_config_argument(parser)
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument(
        "--files", type=positive_int, metavar="N", help="audit only the first N songs"
    )
    parser.add_argument(
        "--seconds", type=positive_seconds, metavar="S",
        help="audit S seconds from the middle of each song (default: whole songs)",
    )
    parser.add_argument(
        "--write-audio", type=Path, metavar="DIR",
        help="write DIR/<variant>/<song>.original.wav and <song>.roundtrip.wav",
    )
    add_variant_option(parser)
    parser.set_defaults(func=run)




def run(args: argparse.Namespace) -> int:
    """Print the audit table (or JSON); exit 2 when no transform could be audited, 1 when a
    round trip is worse than silence or than its transform's declared tolerance."""
    from kara_core.commands._session import load_experiment
    from kara_core.console import out, print_json, print_note, print_warning
    from kara_core.pipeline.audit import run_audit
    from kara_core.pipeline.parts import audit_subjects

    _plugins, experiment = load_experiment(args.config)
    if args.write_audio is not None:
        _check_write_audio(args.write_audio, experiment.select(args.variant))
    rows = run_audit(
        audit_subjects(experiment.select(args.variant)), files=args.files, seconds=args.seconds,
        write_audio=args.write_audio, show_progress=True, warn=print_warning,
    )
    if args.json:
        print_json({"transforms": [_json_row(row) for row in rows]})
    else:
        out.print(_table(rows, f"{experiment.path}: transform round trips"))
        out.print(NOTES)
        print_note(f"spectrograms: {experiment.base.run_dir.parent}/<variant>/audit/")
        if args.write_audio is not None:
            print_note(f"audio: {args.write_audio}/<variant>/")
    missed = [(row, miss) for row in rows for miss in row.misses()]
    for row, miss in missed:
        print_warning(f"{row.variant}: transform {row.description}: {miss}: its inverse may be "
                      "broken (a round trip should keep the music)")
    if not any(row.error is None and row.songs for row in rows):
        return 2
    return 1 if missed else 0


def _check_write_audio(folder: Path, variants: list[Any]) -> None:
    """``--write-audio`` must not point into a music folder (Kara never writes there)."""
    from kara_core.errors import KaraError
    from kara_core.storage.layout import inside

    for variant in variants:
        music = variant.dataset.mp3_dir
        if inside(folder.absolute(), music):
            raise KaraError(
                f"--write-audio {folder}: inside dataset.mp3_dir ({music}); Kara never "
                "writes into the music folder: write elsewhere"
            )


def _json_row(row: Any) -> dict[str, Any]:
    data: dict[str, Any] = row.to_json()
    if row.error is not None:
        data["error"] = row.error
    return data


def _table(rows: list[Any], title: str) -> Any:
    from rich.table import Table

    table = Table(title=title)
    table.add_column("variant", no_wrap=True)
    table.add_column("transform", overflow="fold", min_width=12)
    for column in ("SNR dB", "SI-SDR dB", "SC", "LSD dB", "MR-STFT", "RTF"):
        table.add_column(column, justify="right", no_wrap=True)
    table.add_column("lossless", justify="center", no_wrap=True)
    table.add_column("err. sens. dB", justify="right", no_wrap=True)
    table.add_column("err. LSD dB", justify="right", no_wrap=True)
    for row in rows:
        if row.error is not None or not row.songs:
            table.add_row(row.variant, row.description, "[red]failed[/]", *[""] * 8)
            continue
        table.add_row(
            row.variant, row.description,
            _db(row.mean("snr_db")), _db(row.mean("si_sdr_db")),
            f"{row.mean('spectral_convergence'):.3f}", f"{row.mean('lsd_db'):.2f}",
            f"{row.mean('mrstft'):.3f}", f"{row.mean('rtf'):.2g}",
            "[green]yes[/]" if row.lossless else "no",
            _db(row.mean("error_sensitivity_db")), f"{row.mean('error_lsd_db'):.1f}",
        )
    return table


def _db(value: float) -> str:
    from kara_core.audio.spectral import MAX_DB

    if value >= MAX_DB:
        return "exact"
    return f"{value:.1f}"
