"""``generate_and_evaluate``: a trained variant's clips generated, measured, plotted and
written with its listening page (``kara run`` after training, ``kara generate``), and the
temperature it samples at; the generate and evaluate stages' narrow inputs built from the
variant (see :mod:`kara_core.pipeline.parts`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kara_core.pipeline.parts.build import held_out_music, judge_settings, model_options

DRIFT_FILE = "drift.json"
"""The drift curve's record in the run folder."""

if TYPE_CHECKING:
    from kara_core.components import HeldOutMusic, Measure, Model, Transform
    from kara_core.config import VariantConfig
    from kara_core.pipeline.featurize import FeatureSet


def generate_and_evaluate(
    variant: VariantConfig, features: FeatureSet, model: Model, *,
    prompt_file: Path | None = None, seconds: float | None = None,
    temperature: float | None = None, seed: int | None = None, show_progress: bool = True,
    measures: Sequence[Measure] | None = None, music: HeldOutMusic | None = None,
) -> dict[str, Any]:
    """Generate, measure, plot and write the listening page; return the merged metrics.

    Uses ``music`` or builds the variant's held-out music once (:func:`~kara_core.
    pipeline.evaluate.held_out_music`: prompts and real music to measure against; pass the
    one the training judge used, and each held-out song is read once per variant) and
    continues
    ``generate.prompts`` prompts (only the user's with ``prompt_file``), plus the extra
    clips ``diversity`` and ``prompt_sensitivity`` compare; writes ``prompt.wav``,
    ``roundtrip.wav`` (both of the first prompt), ``generated.wav``, ``generated-2.wav`` ...
    (and ``generated.mp3`` when ``generate.mp3`` is on), ``spectrograms.png``,
    ``drift.png``, ``drift.json``, ``loss.png`` (when a training history exists) and
    ``report.html``. The ``music`` section of metrics.json holds every registered
    measure of every clip (``measures``: the registry's by default) beside the real
    continuations'; one line names each collapsed clip. ``temperature`` and ``seed``
    override kara.yaml's; ``auto`` is resolved through the judge's calibration.
    """
    import numpy as np

    from kara_core.audio.wav import write_wav
    from kara_core.components.measure import SongExcerpt
    from kara_core.console import print_warning
    from kara_core.pipeline import evaluate as ev
    from kara_core.pipeline import generate as gen
    from kara_core.pipeline.roundtrip import roundtrip, tolerance_misses
    from kara_core.report import records
    from kara_core.storage import atomic

    run_dir = variant.run_dir
    rate = variant.dataset.sample_rate
    transform = features.transform  # built once, by featurize
    from kara_core.plugins import registered_measures

    measures = list(measures) if measures is not None else registered_measures()
    note = _notifier(show_progress)
    length = seconds if seconds is not None else variant.generate.seconds
    if music is None:
        music = held_out_music(variant, features, seconds=length)
    used_temperature, calibration = resolve_generate_temperature(
        variant, features, model, music, transform, measures, temperature, show_progress)
    settings = gen.GenerateSettings.of(
        variant.generate, rate, used_temperature, seconds=length, seed=seed,
        sensitivity=prompt_file is None)
    if prompt_file is not None:
        wave = gen.load_prompt_file(prompt_file, rate, variant.generate.prompt_seconds,
                                    variant.build_decoders())
        prompts = [SongExcerpt(wave=wave, source=str(prompt_file), held_out=False)]
        gen.note_short_prompt(variant.name, wave, rate, variant.generate.prompt_seconds,
                          model.input_frames, transform.hop, note)
    else:
        prompts = list(music.prompts)
        if not prompts[0].held_out:
            note(f"{variant.name}: no song is held out: the prompts and the real music the "
                 "audio is measured against come from training songs")
    prompt = prompts[0]
    sources = sorted({Path(p.source).name for p in prompts})
    note(f"{variant.name}: generating {len(prompts)} x {length:g} s at temperature "
         f"{used_temperature:g} from {', '.join(sources[:3])}"
         f"{' ...' if len(sources) > 3 else ''}")
    made = gen.generate(model, transform, prompts, settings, features)
    generation = made.generations[0]
    for line in made.notes(variant.name, used_temperature):
        note(line)
    write_wav(run_dir / "prompt.wav", generation.prompt_wave, rate)
    restored, roundtrip_scores = roundtrip(transform, prompt.wave, rate)
    write_wav(run_dir / "roundtrip.wav", restored, rate)
    files = ["prompt.wav", "roundtrip.wav"]
    for number, clip in enumerate(made.generations):
        files.append(gen.clip_file(number))
        write_wav(run_dir / files[-1], clip.wave, rate)
    records.remove_stale_clips(run_dir, len(made.generations))
    if variant.generate.mp3:
        gen.write_audio(run_dir / "generated.mp3", generation.wave, rate,
                        variant.build_decoders())
        files.append("generated.mp3")

    note(f"{variant.name}: measuring the round trip, the generated audio and the drift")
    ceiling: dict[str, Any] = {k: v.item() if isinstance(v, np.generic) else v
                               for k, v in roundtrip_scores.items()}
    ceiling.update(seconds=round(len(prompt.wave) / rate, 3), source=prompt.source)
    ceiling["tolerance_misses"] = tolerance_misses(
        transform.tolerance, [(Path(prompt.source).name, roundtrip_scores)])
    for miss in ceiling["tolerance_misses"]:
        print_warning(f"{variant.name}: round trip of transform {transform.describe()}: {miss}")
    reference = np.concatenate(music.waves)[: int(ev.REFERENCE_AUDIO_SECONDS * rate)]
    evaluation = ev.evaluate_audio(generation.wave, reference, rate)
    record = ev.evaluate(made, music, measures)
    collapsed = ev.collapse_summary(variant.name, record, made)
    if collapsed is not None:
        print_warning(collapsed)
    if record["yardstick"]["excerpt_seconds"] < record["seconds"] - 0.01:
        note(f"{variant.name}: the held-out songs are shorter than twice {length:g} s: the "
             f"real music is measured in excerpts of {record['yardstick']['excerpt_seconds']:g} s")
    prompt_frames = gen.frames_for(variant.generate.prompt_seconds, rate, transform.hop)
    steps = generation.frames.shape[0]  # the curve reads the prompt, then at most this many
    frames = music.frames if music.frames is not None else np.zeros((0, transform.frame_dim))
    drift = ev.drift_curve(
        model, frames[: max(prompt_frames, model.input_frames) + steps + 1],
        prompt_frames, max_steps=steps, seed=settings.seed,
    )
    evaluation["drift"] = drift.summary()
    atomic.write_json(run_dir / DRIFT_FILE, drift.to_json(transform.hop, rate))
    if generation.wave.size and evaluation["silent_fraction"] > 0.9:
        note(f"{variant.name}: the generated audio is {evaluation['silent_fraction']:.0%} silent")
    elif 0 < evaluation["rms_ratio"] < 0.1:
        quieter = -20 * np.log10(evaluation["rms_ratio"])
        note(f"{variant.name}: the generated audio is {quieter:.0f} dB quieter than the music "
             "(the model predicts little more than the mean frame)")

    metrics = records.update_metrics(run_dir, {
        "variant": variant.name,
        "transform": transform.describe(),
        "model": variant.model.type,
        "model_options": model_options(variant),
        "roundtrip": ceiling,
        "generation": {**gen.generation_record(generation, prompt, settings, files),
                       "prompts": len(prompts), "temperature_source": calibration["source"],
                       "temperature_calibration": calibration if calibration.get("scores")
                       else None},
        "evaluation": evaluation,
        "music": record,
    })
    ev.write_plots(run_dir, f"{variant.experiment} / {variant.name}", variant.name, rate, metrics,
                drift, transform.hop, {
                    "prompt": generation.prompt_wave, "round trip": restored,
                    "generated": generation.wave,
                })
    from kara_core.report.html import write_variant_report

    write_variant_report(run_dir, metrics)
    return metrics


def resolve_generate_temperature(
    variant: VariantConfig, features: FeatureSet, model: Model,
    music: HeldOutMusic | Callable[[], HeldOutMusic], transform: Transform,
    measures: Sequence[Measure], override: float | None, show_progress: bool,
) -> tuple[float, dict[str, Any]]:
    """The temperature to generate ``variant`` at (:func:`~kara_core.pipeline.train.judge.
    temperature_for`): ``override`` (the command line), else ``generate.temperature``,
    ``auto`` being the judge's calibration for the kept model."""
    from kara_core.pipeline.train import temperature_for

    return temperature_for(
        variant.generate.temperature if override is None else override, judge_settings(variant),
        variant.run_dir, model, music, transform, features, measures,
        lambda line: _notifier(show_progress)(f"{variant.name}: {line}"),
        source="configured" if override is None else "command line")


def _notifier(show: bool) -> Callable[[str], None]:
    from kara_core.console import print_note

    return print_note if show else (lambda _message: None)
