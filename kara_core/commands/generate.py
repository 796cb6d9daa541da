"""``kara generate kara.yaml``: new audio from a trained variant."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kara_core.commands._args import add_variant_option


def add_parser(subparsers: Any) -> None:
    """Register the sub-command."""
    parser = subparsers.add_parser(
        "generate", help="generate audio with a trained variant",
        description="Continue a prompt (the start of a held-out song, or --prompt) with a "
        "trained model. Without --out the run folder's audio, measures, plots and "
        "report.html are refreshed; with --out only that file is written.",
    )
    parser.add_argument("config", help="path to kara.yaml")
    add_variant_option(parser, single=True)
    parser.add_argument("--seconds", type=float, help="seconds to generate (generate.seconds)")
    parser.add_argument("--prompt", type=Path, metavar="FILE", help="an mp3 or wav to continue")
    parser.add_argument("--out", type=Path, metavar="FILE", help="write only this .wav or .mp3")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Generate; print where the audio went and the variant's row of the table."""
    from kara_core.commands._session import load_experiment
    from kara_core.console import out, print_note
    from kara_core.errors import KaraError
    from kara_core.pipeline.experiment import DatasetCache, generate_and_evaluate

    if args.seconds is not None and not 0 < args.seconds <= 3600:
        raise KaraError(f"--seconds: expected a number of seconds in (0, 3600], got {args.seconds}")
    _plugins, experiment = load_experiment(args.config)
    from kara_core.commands._quiet import import_tensorflow
    from kara_core.console import debugging

    import_tensorflow(debug=debugging())
    variant = experiment.variant(args.variant)
    from kara_core.pipeline.train.stage import load_trained_model

    features = DatasetCache().features(variant, reload=False, show_progress=True)
    model = load_trained_model(variant, features)
    if args.out is not None:
        return _generate_to_file(args, variant, features, model)
    from kara_core.report.table import load_record, print_table
    from kara_core.storage.locks import folder_lock

    with folder_lock(variant.run_dir, f"kara generate {variant.name}"):
        generate_and_evaluate(
            variant, features, model, prompt_file=args.prompt, seconds=args.seconds
        )
    print_table([load_record(variant.run_dir)], out, title=f"variant {variant.name}")
    print_note(f"listen: {variant.run_dir / 'report.html'}")
    return 0


def _generate_to_file(args: argparse.Namespace, variant: Any, features: Any, model: Any) -> int:
    from kara_core.console import print_note
    from kara_core.pipeline import generate as gen

    transform = variant.build_transform()
    rate = variant.dataset.sample_rate
    if args.prompt is not None:
        wave = gen.load_prompt_file(args.prompt, variant)
    else:
        wave = gen.heldout_prompt(features, transform, variant).wave
    seconds = args.seconds if args.seconds is not None else variant.generate.seconds
    generation = gen.generate_audio(
        model, transform, features, wave, rate=rate,
        prompt_seconds=variant.generate.prompt_seconds, seconds=seconds,
        temperature=variant.generate.temperature, seed=variant.generate.seed,
    )
    gen.write_audio(args.out, generation.wave, rate, variant.build_decoders())
    scaled = f"; peak {generation.peak:.2f} scaled to 0.99" if generation.peak_normalised else ""
    print_note(
        f"wrote {args.out} ({generation.seconds:.1f} s, "
        f"{generation.x_realtime:.1f}x real time, RTF {generation.rtf:.3f}{scaled})"
    )
    return 0
