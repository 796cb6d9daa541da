"""The lossy transforms' declared tolerances are measured values with a margin
(kara_transforms.tolerances): tight enough that silence or noise in place of the round
trip fails the test kit, loose enough that every built-in passes at every size it takes."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
from kara_transforms import tolerances
from kara_transforms.fft import FftTransform
from kara_transforms.mel import MelTransform
from kara_transforms.stft import StftTransform

from kara_core.components import Transform
from kara_core.testing import check_transform

LOSSY: list[tuple[type[Transform], dict[str, Any]]] = [
    (FftTransform, {"layout": "magnitude"}),
    (FftTransform, {"layout": "magnitude", "phase": "zero"}),
    (StftTransform, {}),
    (StftTransform, {"n_iter": 0}),
    (MelTransform, {}),
    (MelTransform, {"n_iter": 0}),
    (MelTransform, {"n_mels": 64, "fmin": 30.0, "fmax": 8000.0, "n_iter": 4}),
]
# sizes away from the defaults; the first, third and fourth failed the kit with the
# tolerances declared before they were measured (fft 256: 0.621 against 0.6; stft 256:
# 0.338 against 0.2; stft 512 hop 256 without iterations: 0.304 against 0.3)
ONCE_FALSE: list[tuple[type[Transform], dict[str, Any]]] = [
    (FftTransform, {"layout": "magnitude", "frame_size": 256}),
    (FftTransform, {"layout": "magnitude", "frame_size": 2048, "n_iter": 8}),
    (StftTransform, {"n_fft": 256, "hop": 64}),
    (StftTransform, {"n_fft": 512, "hop": 256, "n_iter": 0}),
    (MelTransform, {"n_mels": 20}),
]


def ids(cases):
    return [f"{cls.name}-{options}" for cls, options in cases]


@pytest.mark.parametrize(("cls", "options"), ONCE_FALSE, ids=ids(ONCE_FALSE))
def test_every_size_keeps_its_declared_promise(cls, options):
    check_transform(cls, **options)


def broken(cls: type[Transform], what: str) -> type[Transform]:
    """``cls`` whose inverse gives silence, or noise as loud as the round trip."""

    class Broken(cls):  # type: ignore[misc, valid-type]
        def inverse(self, frames: np.ndarray, length: int) -> np.ndarray:
            out = super().inverse(frames, length)
            if what == "silence":
                return np.zeros_like(out)
            rms = float(np.sqrt(np.mean(np.square(out))))
            noise = np.random.default_rng(0).standard_normal(out.shape[0])
            return (noise * rms).astype(np.float32)

    Broken.name = cls.name
    return Broken


@pytest.mark.parametrize(("cls", "options"), LOSSY, ids=ids(LOSSY))
@pytest.mark.parametrize("what", ["silence", "noise"])
def test_silence_or_noise_in_place_of_the_round_trip_fails(cls, options, what):
    tolerance = cls(cls.Options(**options), 22050).tolerance.max_spectral_convergence
    assert tolerance is not None and tolerance < 0.85, tolerance
    with pytest.raises(AssertionError, match="round-trip spectral convergence"):
        check_transform(broken(cls, what), **options)


def test_the_defaults_declare_their_measured_worst_times_the_margin():
    assert tolerances.MARGIN == 1.2
    assert FftTransform(FftTransform.Options(layout="magnitude")).tolerance \
        .max_spectral_convergence == 0.62  # measured 0.51
    assert StftTransform().tolerance.max_spectral_convergence == 0.06  # measured 0.045
    assert MelTransform().tolerance.max_spectral_convergence == 0.23  # measured 0.19


def test_a_size_between_two_measured_ones_takes_the_worse():
    table = {256: 0.7, 512: 0.5, 1024: 0.6}
    assert tolerances.measured(table, 300) == 0.7
    assert tolerances.measured(table, 512) == 0.5
    assert tolerances.measured(table, 700) == 0.6
    assert tolerances.measured(table, 64) == 0.7 and tolerances.measured(table, 4096) == 0.6
    assert tolerances.declared(0.19) == 0.23 and tolerances.declared(0.5) == 0.6
