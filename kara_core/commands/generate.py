"""``kara generate kara.yaml``: new audio from a trained variant."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

from kara_core.commands._args import add_config_argument, add_variant_option


def add_parser(subparsers: Any) -> None:
    """Register the sub-command."""
    parser = subparsers.add_parser(
        "generate", help="generate audio with a trained variant",
        description="Continue a prompt (the start of a held-out song, or --prompt) with a "
        "trained model. Without --out the run folder's audio, measures, plots and "
        "report.html are refreshed; with --out only that file is written.",
    )
    add_config_argument(parser)
    add_variant_option(parser, single=True)
    parser.add_argument("--seconds", type=float, help="seconds to generate (generate.seconds)")
    parser.add_argument("--prompt", type=Path, metavar="FILE",
                        help="an mp3 or wav (any sample rate) to continue")
    parser.add_argument("--seed", type=int, help="the sampling seed (generate.seed)")
    parser.add_argument("--temperature", type=float,
                        help="how hot to sample, 0 = most likely (generate.temperature; "
                        "'auto' there uses the calibrated one)")
    parser.add_argument("--out", type=Path, metavar="FILE", help="write only this .wav or .mp3")
    parser.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    """Generate; print where the audio went and the variant's row of the table."""
    from kara_core.commands._session import load_experiment
    from kara_core.console import out, print_note
    from kara_core.errors import KaraError
    from kara_core.pipeline.parts import DatasetCache, generate_and_evaluate

    if args.seconds is not None and not 0 < args.seconds <= 3600:
        raise KaraError(f"--seconds: expected a number of seconds in (0, 3600], got {args.seconds}")
    if args.temperature is not None and not 0 <= args.temperature <= 10:
        raise KaraError(f"--temperature: expected a number in [0, 10], got {args.temperature}")
    if args.seed is not None and not 0 <= args.seed < 2**31:
        raise KaraError(f"--seed: expected an integer in [0, 2^31), got {args.seed}")
    _plugins, experiment = load_experiment(args.config)
    variant = experiment.variant(args.variant)
    if args.prompt is not None:  # checked before TensorFlow loads: a mistake costs no time
        _check_prompt(args.prompt)
    if args.out is not None:
        _check_out(args.out, variant)
    from kara_core.commands._quiet import import_tensorflow
    from kara_core.console import debugging

    import_tensorflow(debug=debugging())
    from kara_core.pipeline.parts import load_trained_model

    features = DatasetCache().features(variant, reload=False, show_progress=True)
    _check_trained_on(variant, features, args.config)
    model = load_trained_model(variant, features)
    if args.out is not None:
        return _generate_to_file(args, variant, features, model)
    from kara_core.report.table import load_record, print_table
    from kara_core.storage.locks import folder_lock

    with folder_lock(variant.run_dir, f"kara generate {variant.name}"):
        from kara_core.storage import owned

        owned.claim(variant.run_dir, "run", f"kara generate {variant.name}")
        generate_and_evaluate(
            variant, features, model, prompt_file=args.prompt, seconds=args.seconds,
            temperature=args.temperature, seed=args.seed,
        )
    print_table([load_record(variant.run_dir)], out, title=f"variant {variant.name}")
    print_note(f"listen: {variant.run_dir / 'report.html'}")
    return 0


def _check_trained_on(variant: Any, features: Any, config: str) -> None:
    """:class:`KaraError` saying what changed, and the command that retrains, when the
    variant's model was trained on other data than the current dataset."""
    from kara_core.errors import KaraError
    from kara_core.pipeline.featurize import explain_change
    from kara_core.pipeline.train import read_model_record

    directory = variant.run_dir / "model"
    record = read_model_record(directory)
    if record is None or "data" not in record or record["data"] == features.identity():
        return  # not trained, or trained on these features: load_trained_model says the rest
    import shlex

    again = shlex.join(["kara", "train", str(config), "--variant", variant.name])
    raise KaraError(
        f"variant {variant.name!r}: {directory} was trained on other data than the current "
        f"dataset: {explain_change(features, record['data'])}; retrain it on the current "
        f"songs with '{again}'"
    )


def _check_prompt(path: Path) -> None:
    """A prompt must be a regular file: a folder, a FIFO or a device (``/dev/zero`` never
    ends) is one line saying what it is."""
    import stat

    from kara_core.errors import KaraError

    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise KaraError(f"--prompt {path}: no such file") from None
    except OSError as exc:
        raise KaraError(f"--prompt {path}: cannot read it ({exc.strerror or exc})") from None
    if stat.S_ISDIR(mode):
        raise KaraError(f"--prompt {path}: is a folder; give an mp3 or wav file")
    if not stat.S_ISREG(mode):
        raise KaraError(f"--prompt {path}: not a regular file (a pipe, socket or device); "
                        "give an mp3 or wav file")


def _check_out(path: Path, variant: Any) -> None:
    """``--out`` must not write into the music folder (Kara would take it for a song), and
    temporary files of an earlier killed ``--out`` to the same file are removed."""
    from kara_core.errors import KaraError
    from kara_core.storage import atomic
    from kara_core.storage.layout import inside

    target = path.absolute()
    if inside(target, variant.dataset.mp3_dir):
        raise KaraError(
            f"--out {path}: inside dataset.mp3_dir ({variant.dataset.mp3_dir}); Kara never "
            "writes into the music folder (the next run would train on it): write elsewhere"
        )
    if target.is_dir():
        raise KaraError(f"--out {path}: is a folder; give a .wav or .mp3 file name")
    atomic.clean_stale_temps_of(target)


def _generate_to_file(args: argparse.Namespace, variant: Any, features: Any, model: Any) -> int:
    from kara_core.console import print_note
    from kara_core.pipeline import generate as gen
    from kara_core.pipeline.parts import held_out_music, resolve_generate_temperature
    from kara_core.plugins import registered_measures

    transform = features.transform
    rate = variant.dataset.sample_rate
    settings = variant.generate
    seconds = args.seconds if args.seconds is not None else settings.seconds

    def music() -> Any:  # read only when a prompt or the calibration needs it
        return held_out_music(variant, features, seconds=seconds)

    if args.prompt is not None:
        wave = gen.load_prompt_file(args.prompt, rate, settings.prompt_seconds,
                                    variant.build_decoders())
        gen.note_short_prompt(variant.name, wave, rate, settings.prompt_seconds,
                          model.input_frames, transform.hop, print_note)
        shared: Any = music
    else:
        shared = music()
        wave = shared.prompts[0].wave
    temperature, _how = resolve_generate_temperature(
        variant, features, model, shared, transform, registered_measures(), args.temperature,
        show_progress=True)
    generation = gen.generate_audio(
        model, transform, features, wave, rate=rate, prompt_seconds=settings.prompt_seconds,
        seconds=seconds, temperature=temperature,
        seed=settings.seed if args.seed is None else args.seed,
    )
    gen.write_audio(args.out, generation.wave, rate, variant.build_decoders())
    scaled = f"; peak {generation.peak:.2f} limited to 0.99" if generation.peak_limited else ""
    print_note(
        f"wrote {args.out} ({generation.seconds:.1f} s at temperature {temperature:g}, "
        f"{generation.x_realtime:.1f}x real time, RTF {generation.rtf:.3f}{scaled})"
    )
    return 0
