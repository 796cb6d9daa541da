"""``kara audit``: how much each variant's transform loses, measured on the user's own songs.

For every variant (the base first) the transform's round trip ``inverse(forward(x))`` is
scored against the prepared wav: SNR, SI-SDR, spectral convergence, log-spectral distance,
multi-resolution STFT distance, real-time factor, lossless or not, and the *error
sensitivity*: what a model's error does to the audio in this representation.

Error sensitivity: Gaussian noise with, per feature, 0.1 times that feature's standard
deviation (floored as the pipeline's normalisation floors it) is added to the frames: an
error 20 dB below the unit RMS of the model's normalised feature space, where the model
works. The value is the spectral SNR of the audio that comes back against the clean round
trip, ``-20 log10(spectral convergence)``, in dB: phase-blind, so transforms that
re-estimate phase are judged by what the error does, not by a new phase. The table also
shows the log-spectral distance of the same pair, which exposes an added noise floor.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kara_core.audio import spectral as metrics
from kara_core.audio.wav import read_mono, write_wav
from kara_core.components.boundary import ContractError
from kara_core.errors import KaraError
from kara_core.pipeline.prepare import NamedDecoder, PrepareSettings
from kara_core.pipeline.roundtrip import roundtrip_metrics as roundtrip_metrics  # tests
from kara_core.pipeline.roundtrip import scores as _scores
from kara_core.pipeline.roundtrip import tolerance_misses

if TYPE_CHECKING:
    from kara_core.components import RoundTripTolerance, Transform

ERROR_LEVEL_DB = -20.0
"""Level of the error-sensitivity noise relative to the normalised features' unit RMS."""
PLOT_SECONDS = 20.0
"""Longest excerpt drawn in the audit spectrograms."""
SENSITIVITY_SEED = 0


@dataclass(frozen=True)
class AuditSubject:
    """One variant as the audit takes it: its dataset, its transform built (or why it
    could not be) and where its spectrograms go.

    :ivar name: the variant's name (the row).
    :ivar prepare: the variant's dataset, prepared first if needed.
    :ivar decoders: the built decoder chain, primary first.
    :ivar transform_type: the transform's registered name.
    :ivar transform_options: its options (variants with equal type and options share one
        computation).
    :ivar transform: the built transform, ``None`` when building it failed.
    :ivar error: why the transform could not be built (its row says failed).
    :ivar run_dir: the variant's run folder; spectrograms go to ``<run_dir>/audit``.
    """

    name: str
    prepare: PrepareSettings
    decoders: Sequence[NamedDecoder]
    transform_type: str
    transform_options: Any
    transform: Transform | None
    error: str | None
    run_dir: Path


def feature_noise(frames: np.ndarray, seed: int = SENSITIVITY_SEED) -> np.ndarray:
    """Noise shaped like a model's error: ``ERROR_LEVEL_DB`` below each feature's spread."""
    from kara_core.pipeline.featurize import STD_FLOOR

    frames = np.asarray(frames, dtype=np.float64)
    std = frames.std(axis=0) if frames.shape[0] else np.zeros(frames.shape[1])
    std = np.maximum(std, STD_FLOOR * math.sqrt(float(np.mean(std**2))) + 1e-12)
    scale = 10.0 ** (ERROR_LEVEL_DB / 20.0)
    rng = np.random.default_rng(seed)
    return (scale * std * rng.standard_normal(frames.shape)).astype(np.float32)


def error_sensitivity(
    transform: Transform, frames: np.ndarray, clean: np.ndarray, length: int
) -> tuple[float, float]:
    """How :func:`feature_noise` added to ``frames`` reaches the audio, against the clean
    round trip ``clean``: ``(spectral SNR in dB, log-spectral distance in dB)``.

    The spectral SNR, ``-20 log10(spectral convergence)``, weighs loud bins (how much the
    music changes); the log-spectral distance weighs every bin alike, so it also shows a
    noise floor filling the quiet gaps between partials (how noisy it sounds).
    """
    noisy = np.asarray(transform.inverse(frames + feature_noise(frames), length), np.float32)
    sc = metrics.spectral_convergence(clean, noisy)
    snr = metrics.MAX_DB if sc <= 0.0 else float(min(metrics.MAX_DB, -20.0 * math.log10(sc)))
    return snr, metrics.log_spectral_distance_db(clean, noisy)


@dataclass
class SongAudit:
    """One song's round trip under one transform."""

    song: str
    seconds: float
    scores: dict[str, float]
    error_sensitivity_db: float
    error_lsd_db: float


@dataclass
class TransformAudit:
    """One variant's transform over every audited song."""

    variant: str
    type: str
    options: dict[str, Any]
    description: str
    lossless_declared: bool
    min_snr_db: float | None
    songs: list[SongAudit] = field(default_factory=list)
    error: str | None = None
    tolerance: RoundTripTolerance | None = None

    def misses(self) -> list[str]:
        """Round trips worse than silence or than the declared tolerance
        (:func:`~kara_core.pipeline.roundtrip.tolerance_misses`)."""
        if self.tolerance is None or self.error is not None:
            return []
        return tolerance_misses(self.tolerance, [(s.song, s.scores) for s in self.songs])

    def mean(self, key: str) -> float:
        """Duration-weighted mean of a per-song score (``rtf``: total time over total audio)."""
        weights = np.array([s.seconds for s in self.songs], dtype=np.float64)
        if key in ("error_sensitivity_db", "error_lsd_db"):
            values = np.array([getattr(s, key) for s in self.songs], dtype=np.float64)
        else:
            values = np.array([s.scores[key] for s in self.songs], dtype=np.float64)
        if values.size == 0:
            return float("nan")
        if weights.sum() <= 0:
            return float(values.mean())
        return float(np.average(values, weights=weights))

    @property
    def lossless(self) -> bool:
        """Declared lossless and measured so: every song reached the promised SNR."""
        if not self.lossless_declared or not self.songs or self.min_snr_db is None:
            return False
        return all(s.scores["snr_db"] >= self.min_snr_db for s in self.songs)

    def to_json(self) -> dict[str, Any]:
        """The row of ``kara audit --json``."""
        def number(key: str) -> float | None:
            value = self.mean(key)
            return None if math.isnan(value) else round(value, 6)

        return {
            "variant": self.variant,
            "transform": self.type,
            "options": self.options,
            "snr_db": number("snr_db"),
            "si_sdr_db": number("si_sdr_db"),
            "spectral_convergence": number("spectral_convergence"),
            "lsd_db": number("lsd_db"),
            "mrstft": number("mrstft"),
            "rtf": number("rtf"),
            "lossless": self.lossless,
            "error_sensitivity_db": number("error_sensitivity_db"),
            "tolerance_misses": self.misses(),
        }


@dataclass
class Excerpt:
    """The audio one song contributes to the audit."""

    name: str
    wave: np.ndarray
    rate: int


def read_excerpt(
    path: Path, rate: int, seconds: float | None, name: str | None = None
) -> Excerpt:
    """A prepared wav as mono float32 (channels averaged); with ``seconds``, the middle
    ``seconds`` of it (song openings are often silence)."""
    wave = read_mono(path, rate)
    if seconds is not None:
        keep = round(seconds * rate)
        if keep < wave.shape[0]:
            start = (wave.shape[0] - keep) // 2
            wave = wave[start : start + keep]
    return Excerpt(name or path.stem, np.ascontiguousarray(wave), rate)


class TransformAuditor:
    """Scores one transform song by song; variants with the same transform share it."""

    def __init__(self, subject: AuditSubject, transform: Transform) -> None:
        from kara_core.options import to_plain

        self.transform: Transform = transform
        self.result = TransformAudit(
            variant=subject.name,
            type=subject.transform_type,
            options=to_plain(subject.transform_options),
            description=self.transform.describe(),
            lossless_declared=self.transform.lossless,
            min_snr_db=self.transform.tolerance.min_snr_db,
            tolerance=self.transform.tolerance,
        )

    def add(self, excerpt: Excerpt) -> np.ndarray:
        """Score one song; return its round trip."""
        wave, rate, transform = excerpt.wave, excerpt.rate, self.transform
        start = time.perf_counter()
        frames = transform.forward(wave)
        restored = np.asarray(transform.inverse(frames, wave.shape[0]), dtype=np.float32)
        elapsed = time.perf_counter() - start
        sensitivity, error_lsd = error_sensitivity(transform, frames, restored, wave.shape[0])
        self.result.songs.append(SongAudit(
            song=excerpt.name,
            seconds=wave.shape[0] / rate,
            scores=_scores(wave, restored, rate, elapsed),
            error_sensitivity_db=sensitivity,
            error_lsd_db=error_lsd,
        ))
        return restored


@dataclass(frozen=True)
class SongFile:
    """A prepared wav and the name it is reported under (its source, without extension)."""

    name: str
    wav: Path


def prepared_songs(
    settings: PrepareSettings, decoders: Sequence[NamedDecoder], show_progress: bool,
    warn: Callable[[str], None],
) -> list[SongFile]:
    """A dataset's prepared songs, decoding whatever is missing first; silent songs
    (nothing to measure a round trip on) are left out with a note."""
    from pathlib import PurePosixPath

    from kara_core.pipeline.prepare import prepare

    report = prepare(settings, decoders, show_progress=show_progress)
    songs = []
    for song in report.songs:
        if "silent" in song.flags:
            warn(f"{song.source}: silent, not audited")
            continue
        songs.append(SongFile(str(PurePosixPath(song.source).with_suffix("")), Path(song.wav)))
    return songs


def run_audit(
    variants: Sequence[AuditSubject],
    files: int | None = None,
    seconds: float | None = None,
    write_audio: Path | None = None,
    show_progress: bool = True,
    warn: Callable[[str], None] = lambda message: None,
) -> list[TransformAudit]:
    """Audit every variant's transform; one row per variant, in the order given: the
    audit's entry point.

    Songs are read once per dataset and scored by every transform that uses it; variants
    whose transform and options are equal share one computation. A song that cannot be read
    and a transform that cannot be built are reported through ``warn`` and skipped.
    """
    from kara_core.pipeline.prepare import distinct_datasets, prepare_identity
    from kara_core.pipeline.progress import progress

    # two datasets sharing one wav_dir is a config error
    distinct_datasets([(v.name, v.prepare, v.decoders) for v in variants])
    groups: dict[tuple[Any, ...], list[AuditSubject]] = {}
    for variant in variants:
        groups.setdefault(prepare_identity(variant.prepare, variant.decoders), []).append(variant)
    rows: dict[str, TransformAudit] = {}
    for members in groups.values():
        songs = prepared_songs(members[0].prepare, members[0].decoders, show_progress, warn)
        if files is not None:
            songs = songs[:files]
        if not songs:
            raise KaraError(f"{members[0].prepare.mp3_dir}: no songs to audit")
        auditors: dict[str, TransformAuditor] = {}
        owners: dict[str, list[AuditSubject]] = {}
        for variant in members:
            key = repr((variant.transform_type, variant.transform_options))
            if key not in auditors:
                if variant.transform is None:
                    error = variant.error or "the transform could not be built"
                    warn(f"{variant.name}: {error}")
                    rows[variant.name] = _failed(variant, error)
                    continue
                auditors[key] = TransformAuditor(variant, variant.transform)
            owners.setdefault(key, []).append(variant)
        rate = members[0].prepare.sample_rate
        plotted = False
        with progress(show_progress) as bar:
            task = bar.add_task("audit", total=len(songs) * len(auditors))
            for song in songs:
                try:
                    excerpt = read_excerpt(song.wav, rate, seconds, song.name)
                except KaraError as exc:
                    warn(str(exc))
                    bar.advance(task, len(auditors))
                    continue
                for key, auditor in list(auditors.items()):
                    bar.update(task, description=f"audit {excerpt.name}: {auditor.result.type}")
                    try:
                        restored = auditor.add(excerpt)
                    except ContractError as exc:  # the transform is broken, not the song
                        warn(str(exc))
                        for variant in owners.pop(key):
                            rows[variant.name] = _failed(variant, str(exc))
                        del auditors[key]
                        bar.advance(task)
                        continue
                    for variant in owners[key]:
                        _write_outputs(variant, auditor, excerpt, restored, write_audio, plotted)
                    bar.advance(task)
                plotted = True
        for key, auditor in auditors.items():
            for variant in owners[key]:
                rows[variant.name] = _for_variant(auditor.result, variant.name)
    return [rows[v.name] for v in variants if v.name in rows]


def _failed(variant: AuditSubject, error: str) -> TransformAudit:
    from kara_core.options import to_plain

    return TransformAudit(
        variant=variant.name, type=variant.transform_type,
        options=to_plain(variant.transform_options), description=variant.transform_type,
        lossless_declared=False, min_snr_db=None, error=error,
    )


def _for_variant(result: TransformAudit, name: str) -> TransformAudit:
    return TransformAudit(
        variant=name, type=result.type, options=result.options, description=result.description,
        lossless_declared=result.lossless_declared, min_snr_db=result.min_snr_db,
        songs=result.songs, error=result.error, tolerance=result.tolerance,
    )


def _write_outputs(
    variant: AuditSubject, auditor: TransformAuditor, excerpt: Excerpt,
    restored: np.ndarray, write_audio: Path | None, plotted: bool,
) -> None:
    """``--write-audio`` files for every song; spectrogram PNGs for the first one."""
    wave, rate = excerpt.wave, excerpt.rate
    if write_audio is not None:
        folder = write_audio / variant.name
        write_wav(folder / f"{excerpt.name}.original.wav", wave, rate, "FLOAT")
        write_wav(folder / f"{excerpt.name}.roundtrip.wav", restored, rate, "FLOAT")
    if not plotted:
        from kara_core.report import plots
        cut = min(wave.shape[0], round(PLOT_SECONDS * rate))
        plots.plot_roundtrip_spectrograms(
            wave[:cut], restored[:cut], rate, variant.run_dir / "audit",
            title=f"{variant.name}: {auditor.transform.describe()} on {excerpt.name}",
        )
