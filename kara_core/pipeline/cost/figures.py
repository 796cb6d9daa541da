"""Speeds measured by ``benchmarks/bench_scale.py``, the figures ``kara check`` estimates
prepare and training time with (featurize's computing is timed by ``kara check`` itself;
its disk writes come from here).

Written by ``bench_scale.py --save-figures``; edit by running it again. A model, batch
size or decoder not listed here makes ``kara check`` say "unknown" rather than guess.
"""

MEASURED_ON = (
    "x86_64, 2 cores, 2026-12-01: bench_scale on /work/main/dataset/mp3 (0.5 h at "
    "10x, 0.05 h at 1x)"
)
"""Which machine, music and date the figures come from."""

DECODE_X_REAL_TIME_PER_CORE: dict[str, float] = {'lame': 300.6, 'soundfile': 198.8}
"""Seconds of audio ``kara prepare`` turns into wavs per second of wall time, per core
(worker), by decoder type."""

FEATURIZE_SONG_S: float | None = 0.0212
FEATURIZE_WRITE_S_PER_GB: float | None = 0.65
"""Seconds featurize spends beyond what ``kara check`` times: per song (opening files, two
fsync'd writes, the hash memo) and per GB of cache written."""

TRAINING: list[dict[str, object]] = [{'signature': {'model': 'lstm_lm',
                'frame_dim': 128,
                'layers': 3,
                'units': 128,
                'head': 'mixture',
                'components': 8,
                'codes': 1024,
                'residual': 'gain'},
  'batch_size': 32,
  'transform': 'mel 128 bands, 1024/256, 32 GL iter',
  'step_s': 0.44111,
  'val_window_s': 0.0004371,
  'judge_s': 4.811,
  'judge_seconds': 6.0,
  'frame_s': 9.3e-08,
  'final_window_s': 0.0,
  'fixed_s': 26.67}]
"""One entry per measured model: ``signature`` (:meth:`Model.signature`), ``batch_size``,
``transform`` (describe()), and seconds: ``step_s`` per training step, ``val_window_s``
per validation window scored closed loop, ``final_window_s`` per validation window scored
by the baselines at the end, ``judge_s`` per judged epoch at ``judge_seconds``, ``frame_s``
per training frame read once (the baselines' pass) and ``fixed_s`` (start-up, TensorFlow
import, tracing, export)."""
