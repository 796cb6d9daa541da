"""``check_transform``: the contract every transform passes, built-in or third-party.

Run it in your plugin's tests::

    from kara_core.testing import check_transform

    def test_my_transform():
        check_transform(MyTransform, n_bins=64)

It builds the transform the way Kara does (options validated like kara.yaml's), then checks
shapes against ``frame_dim`` and ``hop``, float32 output, determinism, the exact output
length, the round trip against the declared ``tolerance`` on a standard music-like signal,
silence, inputs shorter than one frame, odd lengths, and that frames a model might produce
(noisy, extreme) still invert to finite audio. A transform that declares ``context`` must
give, block by block as featurize computes a long song, the frames of the whole signal
(to float32 rounding), for blocks of several sizes. Each failure is an ``AssertionError`` whose
message says what was expected.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from kara_core.components import RoundTripTolerance, Transform
from kara_core.options import build

KIT_SECONDS = 2.0
"""Length of the music-like signal the round trip is measured on."""


def music_like_signal(
    seconds: float = KIT_SECONDS, rate: int = 22050, seed: int = 0
) -> np.ndarray:
    """A deterministic float32 mono test signal with the structure of music.

    Quarter-note grid at 120 bpm; one to three harmonic notes per beat (a major scale over
    three octaves, eleven slightly inharmonic partials, 10 ms attack, exponential decay,
    5 Hz vibrato), hi-hat noise bursts and kick-drum sweeps, a -60 dB noise floor; peak 0.5.
    """
    rng = np.random.default_rng(seed)
    n = max(0, round(seconds * rate))
    t = np.arange(n) / rate
    out = np.zeros(n)
    scale = np.array([0, 2, 4, 5, 7, 9, 11])
    position = 0.0
    while position < seconds:
        duration = 0.25 * float(rng.choice([1, 2, 2, 4]))
        start = int(position * rate)
        for _ in range(int(rng.integers(1, 4))):
            midi = 48 + int(rng.choice(scale)) + 12 * int(rng.integers(0, 3))
            f0 = 440.0 * 2.0 ** ((midi - 69) / 12.0)
            stop = min(n, int((position + duration * 1.5) * rate))
            tt = t[start:stop] - position
            envelope = np.minimum(tt / 0.01, 1.0) * np.exp(-tt / (0.3 + duration))
            vibrato = 1.0 + 0.003 * np.sin(2.0 * np.pi * 5.0 * tt)
            for k in range(1, 12):
                fk = f0 * k * (1.0 + 0.0005 * k * k)
                if fk >= 0.45 * rate:
                    break
                phase = rng.uniform(0.0, 2.0 * np.pi)
                partial = np.sin(2.0 * np.pi * fk * tt * vibrato + phase)
                out[start:stop] += 0.15 / k**1.3 * envelope * partial
        if rng.random() < 0.7:  # hi-hat: bright noise, 20 ms decay
            stop = min(n, start + int(0.08 * rate))
            tt = t[start:stop] - position
            noise = np.diff(rng.standard_normal(stop - start), prepend=0.0)
            out[start:stop] += 0.15 * noise * np.exp(-tt / 0.02)
        if rng.random() < 0.4:  # kick: a sweep down to 50 Hz
            stop = min(n, start + int(0.2 * rate))
            tt = t[start:stop] - position
            sweep = 50.0 * tt + 3.0 * (1.0 - np.exp(-tt / 0.03))
            out[start:stop] += 0.5 * np.sin(2.0 * np.pi * sweep) * np.exp(-tt / 0.08)
        position += duration
    out += 1e-3 * rng.standard_normal(n)
    peak = float(np.max(np.abs(out))) if n else 0.0
    return (0.5 * out / peak if peak > 0 else out).astype(np.float32)


def check_transform(cls: type[Transform], *, sample_rate: int = 22050, **options: Any) -> None:
    """Assert that ``cls`` built with ``options`` honours the :class:`Transform` contract.

    :param cls: the transform class, as registered (``cls.name``, ``cls.Options``).
    :param sample_rate: the rate the transform is built for and the test signal made at.
    :param options: values for ``cls.Options``, validated as kara.yaml's would be.
    :raises AssertionError: with a message naming the broken promise.
    """
    transform = _build(cls, sample_rate, options)
    twin = _build(cls, sample_rate, options)
    label = f"{cls.name}({', '.join(f'{k}={v!r}' for k, v in options.items())})"
    wave = music_like_signal(KIT_SECONDS, sample_rate)

    frames = _forward(transform, wave, label)
    again = transform.forward(wave.copy())
    assert np.array_equal(frames, again), f"{label}: forward() is not deterministic"
    assert np.array_equal(frames, twin.forward(wave.copy())), (
        f"{label}: two instances with the same options give different frames"
    )
    out = _inverse(transform, frames, wave.shape[0], label)
    assert np.array_equal(out, transform.inverse(frames.copy(), wave.shape[0])), (
        f"{label}: inverse() is not deterministic (seed any random phase)"
    )
    _check_round_trip(transform.tolerance, wave, out, label, "the music-like signal")

    odd = wave[: (wave.shape[0] // 2) * 2 - 1]
    odd_out = _inverse(transform, _forward(transform, odd, label), odd.shape[0], label)
    _check_round_trip(transform.tolerance, odd, odd_out, label, f"an odd length ({odd.shape[0]})")

    _check_silence(transform, sample_rate, label)
    _check_short_inputs(transform, label)
    _check_blocks(transform, wave, label)
    _check_model_like_frames(transform, frames, label)


def _build(cls: type[Transform], sample_rate: int, options: dict[str, Any]) -> Transform:
    assert isinstance(cls, type) and issubclass(cls, Transform), (
        f"{cls!r} is not a subclass of kara_core.components.Transform"
    )
    name = getattr(cls, "name", None)
    assert isinstance(name, str) and name.strip(), f"{cls.__name__}.name must be a non-empty str"
    assert dataclasses.is_dataclass(cls.Options), f"{name}: Options must be a dataclass"
    instance = cls(build(cls.Options, options, f"{name} options"), sample_rate=sample_rate)
    for prop in ("frame_dim", "hop"):
        value = getattr(instance, prop)
        assert isinstance(value, int | np.integer) and value > 0, (
            f"{name}: {prop} must be a positive int, got {value!r}"
        )
    tolerance = instance.tolerance
    assert isinstance(tolerance, RoundTripTolerance), (
        f"{name}: tolerance must be a RoundTripTolerance, got {tolerance!r}"
    )
    assert tolerance.min_snr_db is not None or tolerance.max_spectral_convergence is not None, (
        f"{name}: tolerance must declare min_snr_db (lossless) or max_spectral_convergence"
    )
    assert isinstance(instance.describe(), str), f"{name}: describe() must return a str"
    return instance


def _frame_bounds(length: int, hop: int) -> tuple[int, int]:
    """Frames a wave of ``length`` samples may have: enough to cover it, not many more."""
    cover = -(-length // hop)
    return cover, cover + max(4, cover // 10)


def _forward(transform: Transform, wave: np.ndarray, label: str) -> np.ndarray:
    frames = transform.forward(wave)
    assert isinstance(frames, np.ndarray), f"{label}: forward() must return a numpy array"
    assert frames.dtype == np.float32, f"{label}: forward() must return float32, got {frames.dtype}"
    assert frames.ndim == 2 and frames.shape[1] == transform.frame_dim, (
        f"{label}: forward() of {wave.shape[0]} samples must have shape [T, frame_dim="
        f"{transform.frame_dim}], got {frames.shape}"
    )
    low, high = _frame_bounds(wave.shape[0], transform.hop)
    assert low <= frames.shape[0] <= high, (
        f"{label}: {wave.shape[0]} samples at hop {transform.hop} should give between {low} "
        f"and {high} frames (enough to cover the input), got {frames.shape[0]}"
    )
    assert np.all(np.isfinite(frames)), f"{label}: forward() produced NaN or inf"
    return frames


def _inverse(transform: Transform, frames: np.ndarray, length: int, label: str) -> np.ndarray:
    out = transform.inverse(frames, length)
    assert isinstance(out, np.ndarray) and out.dtype == np.float32, (
        f"{label}: inverse() must return a float32 numpy array, got "
        f"{getattr(out, 'dtype', type(out))}"
    )
    assert out.shape == (length,), (
        f"{label}: inverse(frames, {length}) must return exactly {length} samples, "
        f"got shape {out.shape}"
    )
    assert np.all(np.isfinite(out)), f"{label}: inverse() produced NaN or inf"
    return out


def _check_round_trip(
    tolerance: RoundTripTolerance, wave: np.ndarray, out: np.ndarray, label: str, what: str
) -> None:
    from kara_core.audio.spectral import snr_db, spectral_convergence

    if tolerance.min_snr_db is not None:
        snr = snr_db(wave, out)
        assert snr >= tolerance.min_snr_db, (
            f"{label}: round-trip SNR on {what} is {snr:.1f} dB, expected at least "
            f"{tolerance.min_snr_db:g} dB (its declared tolerance)"
        )
    if tolerance.max_spectral_convergence is not None:
        sc = spectral_convergence(wave, out)
        assert sc <= tolerance.max_spectral_convergence, (
            f"{label}: round-trip spectral convergence on {what} is {sc:.3f}, expected at "
            f"most {tolerance.max_spectral_convergence:g} (its declared tolerance)"
        )


def _check_silence(transform: Transform, sample_rate: int, label: str) -> None:
    silence = np.zeros(sample_rate // 2, dtype=np.float32)
    frames = _forward(transform, silence, label)
    assert float(np.max(np.abs(frames), initial=0.0)) <= 1e3, (
        f"{label}: silence gives feature values up to {np.max(np.abs(frames)):.3g}; expected "
        "|value| <= 1e3 (use log(x + eps) with a sensible eps, not log(x))"
    )
    out = _inverse(transform, frames, silence.shape[0], label)
    peak = float(np.max(np.abs(out), initial=0.0))
    assert peak <= 1e-3, f"{label}: silence came back with peak {peak:.3g}, expected <= 1e-3"


def _check_short_inputs(transform: Transform, label: str) -> None:
    rng = np.random.default_rng(1)
    for length in sorted({0, 1, max(1, transform.hop // 2), max(1, transform.hop - 1), 3}):
        wave = (0.1 * rng.standard_normal(length)).astype(np.float32)
        frames = transform.forward(wave)
        assert isinstance(frames, np.ndarray) and frames.ndim == 2, (
            f"{label}: forward() of {length} samples must return [T, frame_dim] frames"
        )
        assert frames.shape[1] == transform.frame_dim and frames.dtype == np.float32, (
            f"{label}: forward() of {length} samples gave {frames.shape} {frames.dtype}, "
            f"expected [T, {transform.frame_dim}] float32"
        )
        _inverse(transform, frames, length, label)


BLOCK_RTOL = 1e-5
"""How far block-wise frames may be from whole-signal frames, relative to each value and
to the largest one: float32 rounding (a matrix product summed in another order), never an
edge effect (a wrong ``context`` changes the frames near block edges by far more)."""


def _check_blocks(transform: Transform, wave: np.ndarray, label: str) -> None:
    """Frames computed block by block, as featurize does for a long song, equal the frames
    of the whole signal when the transform declares ``context``."""
    from kara_core.pipeline.featurize import forward_in_blocks

    context = transform.context
    if context is None:
        return
    assert isinstance(context, int | np.integer) and not isinstance(context, bool) and (
        context >= 0), f"{label}: context must be None or an int >= 0, got {context!r}"
    hop = transform.hop
    total = max(1, wave.shape[0] // hop)
    sizes = sorted({1, 2, 7, max(1, total // 3)})
    for size in sizes:
        exact = size * hop * max(1, total // (2 * size))  # ends on a block edge
        for length in sorted({wave.shape[0], wave.shape[0] - 1, exact}):
            piece = wave[:length]
            whole = transform.forward(piece)
            blocks = forward_in_blocks(transform, piece, size)
            assert blocks.shape == whole.shape, (
                f"{label}: with context={context}, {length} samples in blocks of {size} "
                f"frames give {blocks.shape[0]} frames, the whole signal {whole.shape[0]}"
            )
            scale = float(np.max(np.abs(whole), initial=0.0))
            wrong = ~np.isclose(blocks, whole, rtol=BLOCK_RTOL, atol=BLOCK_RTOL * scale)
            if wrong.any():
                frame = int(np.flatnonzero(wrong.any(axis=1))[0])
                raise AssertionError(
                    f"{label}: with context={context}, {length} samples in blocks of {size} "
                    f"frames differ from the whole signal's, first at frame {frame} "
                    f"(block edges every {size} frames): forward needs more context than it "
                    "declares, or its frames are not aligned to hop from the first sample"
                )


def _check_model_like_frames(transform: Transform, frames: np.ndarray, label: str) -> None:
    """A model's output is not a valid spectrum: noisy, extreme, more or fewer frames."""
    rng = np.random.default_rng(2)
    spread = float(np.std(frames)) or 1.0
    noisy = (frames + spread * rng.standard_normal(frames.shape)).astype(np.float32)
    length = frames.shape[0] * transform.hop
    _inverse(transform, noisy, length, label + " on noisy frames")
    for value in (-50.0, 50.0):
        extreme = np.full((8, transform.frame_dim), value, dtype=np.float32)
        _inverse(transform, extreme, 8 * transform.hop, label + f" on frames of {value:g}")
    _inverse(transform, frames[: max(1, frames.shape[0] // 2)], length, label + " on few frames")
    _inverse(transform, frames, max(1, length // 3), label + " cut short")
