"""``kara run``: prepare -> featurize -> train -> generate -> evaluate, for every variant.

Each stage reuses its own cache, so a second run only redoes what changed. A variant that
fails is reported in one line, recorded as failed in its ``metrics.json``, and the others
go on. After generation each run folder holds its listening page, and the experiment
folder an index of all variants.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kara_core.audio.wav import write_wav
from kara_core.components.measure import SongExcerpt
from kara_core.errors import KaraError, one_line
from kara_core.report import records
from kara_core.storage import atomic

if TYPE_CHECKING:
    from kara_core.components import HeldOutMusic, Measure, Model, Transform
    from kara_core.config import ExperimentConfig, VariantConfig

CONFIG_FILE = "config.resolved.yaml"
VERSIONS_FILE = "versions.json"
DRIFT_FILE = "drift.json"


@dataclass
class VariantOutcome:
    """What one variant produced: its record, or the one line saying why it failed."""

    variant: str
    run_dir: Path
    metrics: dict[str, Any] = field(default_factory=dict)
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when every stage of the variant completed."""
        return self.error is None


# --------------------------------------------------------------------------- records


def write_run_record(variant: VariantConfig, plugin_infos: Any = None) -> None:
    """``config.resolved.yaml`` and ``versions.json`` in the variant's run folder."""
    from kara_core.report.versions import collect_versions

    run_dir = variant.run_dir
    write_config_record(variant)
    decoder_version: str | None
    try:
        decoder_version = variant.build_decoders()[0].version()
    except KaraError as exc:
        decoder_version = f"unavailable: {exc}"
    atomic.write_json(
        run_dir / VERSIONS_FILE, collect_versions(plugin_infos, decoder_version=decoder_version)
    )


def write_config_record(variant: VariantConfig) -> None:
    """``config.resolved.yaml``: the variant as configured, paths relative to the run
    folder, and under ``trained_with`` the training settings the model in the run folder
    was trained with (from its checkpoint: a reused model may predate a change to
    ``train:``)."""
    import yaml

    from kara_core.pipeline.train.checkpoints import CheckpointStore

    run_dir = variant.run_dir
    record = variant.resolved(relative_to=run_dir)
    state = CheckpointStore(run_dir / "checkpoints").recorded_state()
    if state is not None and isinstance(state.get("train"), dict):
        record["trained_with"] = {"epochs_completed": state.get("epoch"),
                                  "train": state["train"]}
    text = yaml.safe_dump(record, sort_keys=False, allow_unicode=True)
    atomic.write_text(run_dir / CONFIG_FILE, text)


def model_options(variant: VariantConfig) -> dict[str, Any]:
    """The model's options as plain data: the table names those that tell rows apart."""
    from kara_core.options import to_plain

    options = to_plain(variant.model.options)
    return options if isinstance(options, dict) else {}


def describe_transform(variant: VariantConfig) -> str:
    """The table's transform column: the transform's own short description."""
    return str(variant.build_transform().describe())


# --------------------------------------------------------------------------- stages


class DatasetCache:
    """Prepared songs and feature sets shared between the variants of one command: each
    dataset is prepared once, and ``--reload`` rebuilds each transform's cache once, however
    many variants share it."""

    def __init__(self) -> None:
        self.prepared: dict[str, Any] = {}
        self.reloaded: set[str] = set()

    def songs(self, variant: VariantConfig, show_progress: bool) -> list[Any]:
        """Prepared songs (decoded wavs) of ``variant``'s dataset; decoded once per dataset."""
        from kara_core.pipeline.prepare.stage import prepare_dataset, prepare_identity

        key = repr(prepare_identity(variant))
        if key not in self.prepared:
            self.prepared[key] = prepare_dataset(variant, show_progress=show_progress)
        return list(self.prepared[key].songs)

    def features(self, variant: VariantConfig, reload: bool, show_progress: bool) -> Any:
        """The variant's :class:`FeatureSet` (cached on disk by the featurize stage)."""
        from kara_core.pipeline.featurize.stage import featurize, transform_key

        songs = self.songs(variant, show_progress)
        cache_key = f"{variant.dataset.cache_dir}/{transform_key(variant)}"
        reload = reload and cache_key not in self.reloaded
        self.reloaded.add(cache_key)
        return featurize(variant, songs, reload=reload, show_progress=show_progress)


def generate_and_evaluate(
    variant: VariantConfig, features: Any, model: Model, *,
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
    from kara_core.console import print_warning
    from kara_core.pipeline import evaluate as ev
    from kara_core.pipeline import generate as gen
    from kara_core.pipeline.audit import roundtrip

    run_dir = variant.run_dir
    rate = variant.dataset.sample_rate
    transform = features.transform  # built once, by featurize
    from kara_core.plugins import registered_measures

    measures = list(measures) if measures is not None else registered_measures()
    note = _notifier(show_progress)
    length = seconds if seconds is not None else variant.generate.seconds
    if music is None:
        music = ev.held_out_music(features, transform.hop, rate, ev.PromptPlan(
            variant.generate.prompts, variant.generate.prompt_seconds, length))
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
    _remove_stale_clips(run_dir, len(made.generations))
    if variant.generate.mp3:
        gen.write_audio(run_dir / "generated.mp3", generation.wave, rate,
                        variant.build_decoders())
        files.append("generated.mp3")

    note(f"{variant.name}: measuring the round trip, the generated audio and the drift")
    ceiling: dict[str, Any] = {k: _plain(v) for k, v in roundtrip_scores.items()}
    ceiling.update(seconds=round(len(prompt.wave) / rate, 3), source=prompt.source)
    reference = np.concatenate(music.waves)[: int(ev.REFERENCE_AUDIO_SECONDS * rate)]
    evaluation = ev.evaluate_audio(generation.wave, reference, rate)
    record = ev.evaluate(made, music, measures)
    for line in ev.collapse_lines(variant.name, record, made):
        print_warning(line)
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
    variant: VariantConfig, features: Any, model: Model,
    music: HeldOutMusic | Callable[[], HeldOutMusic], transform: Transform,
    measures: Sequence[Measure], override: float | None, show_progress: bool,
) -> tuple[float, dict[str, Any]]:
    """The temperature to generate ``variant`` at (:func:`~kara_core.pipeline.train.judge.
    temperature_for`): ``override`` (the command line), else ``generate.temperature``,
    ``auto`` being the judge's calibration for the kept model."""
    from kara_core.pipeline.train.judge import JudgeSettings, temperature_for

    settings = JudgeSettings.of(variant.train, variant.generate, variant.dataset.sample_rate)
    return temperature_for(
        variant.generate.temperature if override is None else override, settings,
        variant.run_dir, model, music, transform, features, measures,
        lambda line: _notifier(show_progress)(f"{variant.name}: {line}"),
        source="configured" if override is None else "command line")


def _remove_stale_clips(run_dir: Path, count: int) -> None:
    """Remove ``generated-N.wav`` left by an earlier run with more prompts than this one."""
    import re

    for path in run_dir.glob("generated-*.wav"):
        match = re.fullmatch(r"generated-(\d+)\.wav", path.name)
        if match and int(match.group(1)) > count:
            path.unlink(missing_ok=True)


# --------------------------------------------------------------------------- the whole run


def run_variant(
    variant: VariantConfig, cache: DatasetCache, *, plugin_infos: Any = None,
    rebuild: bool = False, reload: bool = False, show_progress: bool = True,
) -> dict[str, Any]:
    """Every stage of one variant; returns its metrics. Raises on failure.

    Holds the run folder's lock throughout, so a second ``kara run`` on the same variant
    waits instead of interleaving writes, and first removes temporary files a killed run
    left there.
    """
    from kara_core.pipeline.train.stage import load_trained_model, train_variant
    from kara_core.report.html import write_variant_report
    from kara_core.storage.locks import folder_lock

    with folder_lock(variant.run_dir, f"kara run {variant.name}"):
        atomic.clean_stale_temps(variant.run_dir)
        write_run_record(variant, plugin_infos)
        records.update_metrics(variant.run_dir, {"status": "running", "error": None})
        features = cache.features(variant, reload=reload, show_progress=show_progress)
        train_variant(variant, features, rebuild=rebuild, show_progress=show_progress)
        write_config_record(variant)  # now with the settings the kept model was trained with
        model = load_trained_model(variant, features)
        generate_and_evaluate(variant, features, model, show_progress=show_progress)
        metrics = records.update_metrics(variant.run_dir, {"status": "ok", "error": None})
        write_variant_report(variant.run_dir, metrics)
    return metrics


def run_experiment(
    experiment: ExperimentConfig, variants: Sequence[VariantConfig], *,
    plugin_infos: Any = None, rebuild: bool = False, reload: bool = False,
    show_progress: bool = True,
    on_error: Callable[[str, str], None] | None = None,
) -> list[VariantOutcome]:
    """Run ``variants`` one after the other; a failure is reported through ``on_error``
    (variant, one line) and recorded, and the next variant starts. Writes the index."""
    from kara_core.console import debugging, err
    from kara_core.pipeline.prepare.stage import distinct_datasets

    distinct_datasets(variants)  # two variants writing different wavs into one folder
    cache = DatasetCache()
    outcomes: list[VariantOutcome] = []
    for number, variant in enumerate(variants, 1):
        if show_progress:
            err.rule(f"variant {variant.name} ({number}/{len(variants)})", style="cyan")
        try:
            metrics = run_variant(
                variant, cache, plugin_infos=plugin_infos, rebuild=rebuild, reload=reload,
                show_progress=show_progress,
            )
            outcomes.append(VariantOutcome(variant.name, variant.run_dir, metrics))
        except KeyboardInterrupt:
            raise
        except Exception as exc:  # one variant's failure must not stop the others
            if debugging():
                raise
            message = one_line(exc)
            if on_error is not None:
                on_error(variant.name, message)
            metrics = _record_failure(variant, message)
            outcomes.append(VariantOutcome(variant.name, variant.run_dir, metrics, message))
        finally:
            _release_models()
    from kara_core.report.html import write_experiment_index

    write_experiment_index(experiment)
    return outcomes


def _record_failure(variant: VariantConfig, message: str) -> dict[str, Any]:
    try:
        transform = describe_transform(variant)
    except Exception as exc:  # the transform itself may be what fails
        transform = f"{variant.transform.type} ({type(exc).__name__})"
    from kara_core.report.html import write_variant_report

    try:
        metrics = records.update_metrics(variant.run_dir, {
            "variant": variant.name, "transform": transform, "model": variant.model.type,
            "model_options": model_options(variant), "status": "failed", "error": message,
        })
        write_variant_report(variant.run_dir, metrics)  # the page must not claim success
        return metrics
    except (KaraError, OSError, ValueError, RecursionError):
        # the run folder itself is unwritable (or not a folder): the message says why
        return {"variant": variant.name, "status": "failed", "error": message}


def _release_models() -> None:
    """Free the previous variant's Keras graph before the next one builds its own."""
    keras = sys.modules.get("keras")
    if keras is not None:
        keras.backend.clear_session()


def _plain(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    return value


def _notifier(show: bool) -> Callable[[str], None]:
    from kara_core.console import print_note

    return print_note if show else (lambda _message: None)
