"""Speeds measured by ``benchmarks/bench_scale.py``, the figures ``kara check`` estimates
prepare and training time with (featurize's computing is timed by ``kara check`` itself;
its disk writes come from here).

Written by ``bench_scale.py --save-figures``; edit by running it again. A model, batch
size or decoder not listed here makes ``kara check`` say "unknown" rather than guess.
"""

MEASURED_ON = (
    "x86_64, 2 cores, 2026-12-01: bench_scale on the 21-song development corpus (Debian's "
    "xmoto-data, extremetuxracer-data and warzone2100-music; 10.0 h at 10x, 1.02 h at 1x)"
)
"""Which machine, music and date the figures come from."""

FEATURIZE_SONG_S: float | None = 0.0
FEATURIZE_WRITE_S_PER_GB: float | None = 1.87
"""Seconds featurize spends beyond what ``kara check`` times: per song (opening files, two
fsync'd writes, the hash memo) and per GB of cache written."""

TRAINING: list[dict[str, object]] = [{'signature': {'model': 'lstm_lm',
                'frame_dim': 128,
                'layers': 3,
                'units': 128,
                'head': 'mixture',
                'components': 8,
                'codes': 1024,
                'residual': 'gain',
                'noise_basis': 'changes'},
  'batch_size': 32,
  'transform': 'mel 128 bands, 1024/256, 32 GL iter',
  'step_s': 0.26437,
  'val_window_s': 0.0002652,
  'judge_s': 0.694,
  'judge_seconds': 6.0,
  'frame_s': 1.47e-07,
  'final_window_s': 0.0,
  'fixed_s': 10.36},
 {'signature': {'model': 'lstm_lm',
                'frame_dim': 128,
                'layers': 3,
                'units': 128,
                'head': 'tokens',
                'components': 8,
                'codes': 1024,
                'residual': 'gain',
                'noise_basis': 'changes'},
  'batch_size': 32,
  'transform': 'mel 128 bands, 1024/256, 32 GL iter',
  'step_s': 0.16489,
  'val_window_s': 0.0007931,
  'judge_s': 0.722,
  'judge_seconds': 6.0,
  'frame_s': 1.63e-07,
  'final_window_s': 0.0,
  'fixed_s': 20.18},
 {'signature': {'model': 'lstm_lm',
                'frame_dim': 128,
                'layers': 3,
                'units': 128,
                'head': 'mse',
                'components': 8,
                'codes': 1024,
                'residual': 'gain',
                'noise_basis': 'changes'},
  'batch_size': 32,
  'transform': 'mel 128 bands, 1024/256, 32 GL iter',
  'step_s': 0.13493,
  'val_window_s': 0.0002656,
  'judge_s': 0.665,
  'judge_seconds': 6.0,
  'frame_s': 1.85e-07,
  'final_window_s': 0.0,
  'fixed_s': 21.21},
 {'signature': {'model': 'lstm_lm',
                'frame_dim': 513,
                'layers': 3,
                'units': 128,
                'head': 'mixture',
                'components': 8,
                'codes': 1024,
                'residual': 'gain',
                'noise_basis': 'changes'},
  'batch_size': 32,
  'transform': 'stft 1024/256 log_magnitude, 32 GL iter',
  'step_s': 0.75739,
  'val_window_s': 0.0005057,
  'judge_s': 0.674,
  'judge_seconds': 6.0,
  'frame_s': 8.05e-07,
  'final_window_s': 0.0,
  'fixed_s': 15.18},
 {'signature': {'model': 'lstm_seq2seq',
                'frame_dim': 128,
                'layers': 3,
                'units': 128,
                'input_frames': 40,
                'output_frames': 10,
                'residual': True},
  'batch_size': 64,
  'transform': 'mel 128 bands, 1024/256, 32 GL iter',
  'step_s': 0.04289,
  'val_window_s': 0.0002501,
  'judge_s': 0.92,
  'judge_seconds': 6.0,
  'frame_s': 1.69e-07,
  'final_window_s': 0.0,
  'fixed_s': 7.81}]
"""One entry per measured model: ``signature`` (:meth:`Model.signature`), ``batch_size``,
``transform`` (describe()), and seconds: ``step_s`` per training step, ``val_window_s``
per validation window scored closed loop, ``final_window_s`` per validation window scored
by the baselines at the end, ``judge_s`` per judged epoch at ``judge_seconds`` and
``judge_prompts`` (1 when absent), ``frame_s`` per training frame read once (the
baselines' pass) and ``fixed_s`` (start-up, TensorFlow import, tracing, export)."""
