"""Speeds measured by ``benchmarks/bench_scale.py``, the figures ``kara check`` estimates
prepare and training time with (featurize's computing is timed by ``kara check`` itself;
its disk writes come from here).

Written by ``bench_scale.py --save-figures``; edit by running it again. A model, batch
size or decoder not listed here makes ``kara check`` say "unknown" rather than guess.
"""

MEASURED_ON = (
    "x86_64, 2 cores, 2026-12-01: bench_scale on /work/shared/music (10.0 h at 10x, "
    "1.02 h at 1x)"
)
"""Which machine, music and date the figures come from."""

DECODE_X_REAL_TIME_PER_CORE: dict[str, float] = {'lame': 646.0, 'soundfile': 1103.5}
"""Seconds of audio ``kara prepare`` turns into wavs per second of wall time, per core
(worker), by decoder type."""

FEATURIZE_SONG_S: float | None = 0.0
FEATURIZE_WRITE_S_PER_GB: float | None = 2.3
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
  'step_s': 0.2757,
  'val_window_s': 0.0002923,
  'judge_s': 0.737,
  'judge_seconds': 6.0,
  'frame_s': 1.97e-07,
  'final_window_s': 0.0002463,
  'fixed_s': 6.16},
 {'signature': {'model': 'lstm_lm',
                'frame_dim': 128,
                'layers': 3,
                'units': 128,
                'head': 'tokens',
                'components': 8,
                'codes': 1024,
                'residual': 'gain'},
  'batch_size': 32,
  'transform': 'mel 128 bands, 1024/256, 32 GL iter',
  'step_s': 0.18835,
  'val_window_s': 0.0008619,
  'judge_s': 0.792,
  'judge_seconds': 6.0,
  'frame_s': 1.77e-07,
  'final_window_s': 0.0002463,
  'fixed_s': 16.89},
 {'signature': {'model': 'lstm_lm',
                'frame_dim': 128,
                'layers': 3,
                'units': 128,
                'head': 'mse',
                'components': 8,
                'codes': 1024,
                'residual': 'gain'},
  'batch_size': 32,
  'transform': 'mel 128 bands, 1024/256, 32 GL iter',
  'step_s': 0.14406,
  'val_window_s': 0.000277,
  'judge_s': 0.651,
  'judge_seconds': 6.0,
  'frame_s': 1.84e-07,
  'final_window_s': 0.0002463,
  'fixed_s': 14.99},
 {'signature': {'model': 'lstm_lm',
                'frame_dim': 513,
                'layers': 3,
                'units': 128,
                'head': 'mixture',
                'components': 8,
                'codes': 1024,
                'residual': 'gain'},
  'batch_size': 32,
  'transform': 'stft 1024/256 log_magnitude, 32 GL iter',
  'step_s': 0.79685,
  'val_window_s': 0.0005103,
  'judge_s': 0.608,
  'judge_seconds': 6.0,
  'frame_s': 1.264e-06,
  'final_window_s': 0.0002463,
  'fixed_s': 7.92},
 {'signature': {'model': 'lstm_seq2seq',
                'frame_dim': 128,
                'layers': 3,
                'units': 128,
                'input_frames': 40,
                'output_frames': 10,
                'residual': True},
  'batch_size': 64,
  'transform': 'mel 128 bands, 1024/256, 32 GL iter',
  'step_s': 0.04818,
  'val_window_s': 0.0002565,
  'judge_s': 0.801,
  'judge_seconds': 6.0,
  'frame_s': 1.79e-07,
  'final_window_s': 0.0002463,
  'fixed_s': 4.01}]
"""One entry per measured model: ``signature`` (:meth:`Model.signature`), ``batch_size``,
``transform`` (describe()), and seconds: ``step_s`` per training step, ``val_window_s``
per validation window scored closed loop, ``final_window_s`` per validation window scored
by the baselines at the end, ``judge_s`` per judged epoch at ``judge_seconds``, ``frame_s``
per training frame read once (the baselines' pass) and ``fixed_s`` (start-up, TensorFlow
import, tracing, export)."""
