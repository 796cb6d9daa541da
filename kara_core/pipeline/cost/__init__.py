"""What a run will cost before it starts: songs, hours, disk and time, per variant.

``kara check`` calls :func:`estimate`. Nothing here decodes audio or imports TensorFlow:

* **Songs and hours** come from ``<wav_dir>/manifest.json`` for songs already prepared
  (unchanged since: same size and mtime, same rate and channels), else from the mp3's own
  frame headers (:func:`kara_core.audio.mp3info.probe`, a few kilobytes per file).
  Songs the manifest marks skipped or silent are not trained on; the split into training
  and validation songs is the one featurize makes (same seed, same rule).
* **Disk** is exact for the layout Kara writes: 16-bit wavs (44-byte header), and cache
  frames (``frames x frame_dim x 4`` bytes, 2 with ``dataset.cache_dtype: float16``, plus
  a 128-byte ``.npy`` header and a sidecar), the frame count found by running the
  transform on a few short signals; a run folder holds the generated audio (16-bit) plus
  :data:`~kara_core.pipeline.cost.estimator.RUN_FOLDER_FLOOR` for plots, records and a
  small model's checkpoints, checked against ``runs_dir``'s disk.
* **Time**: prepare from the decoder's measured speed per core
  (:mod:`kara_core.pipeline.cost_figures`) times the cores; featurize by timing the
  variant's transform, and the hashing and statistics featurize does, on 10 s of
  synthetic audio right now; training from the steps (and epochs) the config asks for
  times the seconds per step, per validation window and per judged epoch measured by the
  benchmark for that model, batch size and frame size. A figure that was never measured is
  ``None`` ("unknown"), never a guess. Work already done (prepared wavs, cached frames) is
  not counted again.
"""

from kara_core.pipeline.cost.disk import human_seconds
from kara_core.pipeline.cost.estimator import CostInputs, estimate

__all__ = ["CostInputs", "estimate", "human_seconds"]
