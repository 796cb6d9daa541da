"""``kara run``: prepare -> featurize -> train -> generate -> evaluate, for every variant.

The experiment driver: :func:`run_variant` builds a variant's parts once (decoders,
transform, model, baselines; the builders are in :mod:`kara_core.pipeline.parts`) and
calls each stage package's entry point with the parts it uses. Below it no function takes
the whole :class:`~kara_core.config.VariantConfig` (``tests/test_architecture.py``).

Each stage reuses its own cache, so a second run only redoes what changed. A variant that
fails is reported in one line, recorded as failed in its ``metrics.json``, and the others
go on (a variant that succeeded before keeps that record; the failure goes beside it).
After generation each run folder holds its listening page, the experiment folder an index.
"""

from __future__ import annotations

import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from kara_core.errors import KaraError, one_line
from kara_core.pipeline.parts import DatasetCache, components_of, model_options, run_estimates
from kara_core.pipeline.progress import RunClock
from kara_core.report import records
from kara_core.storage import atomic, owned

if TYPE_CHECKING:
    from kara_core.config import ExperimentConfig, VariantConfig
    from kara_core.pipeline.prepare import NamedDecoder

CONFIG_FILE = "config.resolved.yaml"
VERSIONS_FILE = "versions.json"


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


def write_run_record(
    variant: VariantConfig, plugin_infos: Any = None,
    decoders: Sequence[NamedDecoder] | None = None,
) -> None:
    """``config.resolved.yaml`` and ``versions.json`` in the variant's run folder (the
    primary decoder's version from ``decoders`` when they are built already)."""
    from kara_core.pipeline import parts
    from kara_core.report.versions import collect_versions

    run_dir = variant.run_dir
    write_config_record(variant)
    decoder_version: str | None
    try:
        chain = decoders if decoders is not None else parts.decoders_of(variant)
        decoder_version = chain[0].decoder.version()
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

    from kara_core.pipeline.train import CheckpointStore

    run_dir = variant.run_dir
    record = variant.resolved(relative_to=run_dir)
    state = CheckpointStore(run_dir / "checkpoints").recorded_state()
    if state is not None and isinstance(state.get("train"), dict):
        record["trained_with"] = {"epochs_completed": state.get("epoch"),
                                  "train": state["train"]}
    text = yaml.safe_dump(record, sort_keys=False, allow_unicode=True)
    atomic.write_text(run_dir / CONFIG_FILE, text)


def describe_transform(variant: VariantConfig) -> str:
    """The table's transform column: the transform's own short description."""
    return str(variant.build_transform().describe())


# --------------------------------------------------------------------------- stages


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
    from kara_core.pipeline import parts
    from kara_core.pipeline.train import load_trained, train
    from kara_core.report.html import write_variant_report
    from kara_core.storage.locks import folder_lock

    with folder_lock(variant.run_dir, f"kara run {variant.name}"):
        owned.claim(variant.run_dir, "run", f"kara run {variant.name}")  # for kara clean
        atomic.clean_stale_temps(variant.run_dir)
        records.keep_last_success(variant.run_dir)
        # the parts, each built once
        decoders = parts.decoders_of(variant)
        write_run_record(variant, plugin_infos, decoders)
        records.update_metrics(variant.run_dir, {"status": "running", "error": None})
        transform = variant.build_transform()
        model = variant.build_model(transform.frame_dim)  # no graph built yet
        baselines = parts.build_baselines(variant, model)
        settings = parts.train_settings(variant)
        features = cache.features(variant, reload=reload, show_progress=show_progress,
                                  transform=transform, model=model, decoders=decoders)
        # the held-out music, read once: the judge, generation and the evaluation share it
        music = parts.held_out_music(variant, features)
        train(features, model, settings, baselines=baselines,
              judge=parts.build_judge(variant, features, music), rebuild=rebuild,
              show_progress=show_progress)
        write_config_record(variant)  # now with the settings the kept model was trained with
        # the kept model, loaded from the run folder and checked against the features
        trained = load_trained(variant.build_model(features.frame_dim), features, settings)
        parts.generate_and_evaluate(variant, features, trained, show_progress=show_progress,
                                    music=music)
        metrics = records.update_metrics(variant.run_dir, {"status": "ok", "error": None,
                                                          "last_failure": None})
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
    from kara_core.pipeline.parts import distinct_datasets
    from kara_core.pipeline.prepare import check_collection

    distinct_datasets(variants)  # two variants writing different wavs into one folder
    check_collection([v.dataset.mp3_dir for v in variants])  # once, before anything is written
    cache = DatasetCache()
    outcomes: list[VariantOutcome] = []
    clock = RunClock(run_estimates(variants) if show_progress else {})
    for number, variant in enumerate(variants, 1):
        if show_progress:
            left = clock.line([v.name for v in variants[number - 1:]])
            err.rule(f"variant {variant.name} ({number}/{len(variants)})"
                     + (f": {left}" if left else ""), style="cyan")
        clock.start()
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
            message = failure_line(exc, components_of(variant))
            if on_error is not None:
                on_error(variant.name, message)
            metrics = _record_failure(variant, message)
            outcomes.append(VariantOutcome(variant.name, variant.run_dir, metrics, message))
        finally:
            clock.finish(variant.name)
            _release_models()
    from kara_core.report.html import write_experiment_index

    write_experiment_index(experiment)
    return outcomes


def _record_failure(variant: VariantConfig, message: str) -> dict[str, Any]:
    """The failure in ``metrics.json``; when the variant succeeded before, its successful
    record is kept as it was (``kara compare`` and the pages still show those results) and
    the failure goes beside it under ``last_failure``."""
    earlier = records.restore_last_success(variant.run_dir, message)
    if earlier is not None:
        return {**earlier, "status": "failed", "error": message}
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


def failure_line(exc: BaseException, components: Sequence[Any]) -> str:
    """A :class:`KaraError`'s message; an exception raised in the code of one of a variant's
    ``components`` names it, its plugin, version and file:line
    (:func:`kara_core.errors.plugin_fault`)."""
    from kara_core.errors import plugin_fault

    if isinstance(exc, KaraError):
        return one_line(exc)
    return plugin_fault(exc, components) or one_line(exc)


def _release_models() -> None:
    """Free the previous variant's Keras graph before the next one builds its own."""
    keras = sys.modules.get("keras")
    if keras is not None:
        keras.backend.clear_session()
