"""Training throughput and memory of Kara's training path, in one run.

1. **Throughput**: samples per second of ``lstm_seq2seq.fit`` (Kara's path: windows
   streamed with tf.data from memory-mapped ``.npy`` frames, normalised per batch, Kara's
   compiled training step) against a bare Keras ``fit`` of the same network on in-memory
   numpy arrays of the same windows: same batch size, same number of steps, untimed
   warm-up (tracing), interleaved rounds, best of each. Keras is measured with and without
   XLA and the ratio taken against the faster. Target (DESIGN §7): ratio at least 0.9.
2. **Memory**: peak memory of the training path (windows, baselines' statistics over every
   training frame, a few training steps drawn from the whole shuffled set) with 1x and 10x
   as many songs, each in a fresh subprocess. Memory-mapped cache pages are page cache the
   kernel reclaims at will, yet Linux counts the touched ones in RSS; the target is on the
   peak *anonymous* RSS (what the process itself allocated), sampled every 10 ms. Peak
   total RSS (VmHWM) is reported beside it. Target: 10x songs at most 1.3x the memory.

Frames are synthetic, stft-sized (513 features, 30 s "songs" of 2584 frames): neither the
transform nor the content changes either measure. Writes ``benchmarks/results/train.json``.

    .venv/bin/python benchmarks/bench_train.py [--songs 40] [--steps 20] [--quick]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from kara_core.components import TrainingMonitor

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
REPO = Path(__file__).resolve().parent.parent
RESULTS = REPO / "benchmarks" / "results" / "train.json"
FRAME_DIM, SONG_FRAMES = 513, 2584
MODEL = {"layers": 3, "units": 128, "input_frames": 40, "output_frames": 40}
BATCH = 64
TARGET_THROUGHPUT, TARGET_MEMORY = 0.9, 1.3


def write_songs(folder: Path, count: int) -> list[Path]:
    """``count`` cached songs of slowly varying frames, as featurize writes them."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = []
    for number in range(count):
        path = folder / f"song{number:04d}.npy"
        if not path.exists():
            rng = np.random.default_rng(number)
            steps = rng.standard_normal((SONG_FRAMES, FRAME_DIM), dtype=np.float32) * 0.1
            np.save(path, np.cumsum(steps, axis=0, dtype=np.float32))
        paths.append(path)
    return paths


def windows(paths: list[Path]) -> Any:
    """Kara's training windows over the memory-mapped songs."""
    from kara_core.pipeline.train.windows import WindowSet, default_stride

    songs = [np.load(p, mmap_mode="r") for p in paths]
    tin, tout = MODEL["input_frames"], MODEL["output_frames"]
    return WindowSet(songs, tin, tout, default_stride(tin, tout))


def build_model() -> Any:
    """The default model, from the registry as kara.yaml builds it."""
    from kara_core.options import build
    from kara_core.plugins import get_plugin_manager

    cls: Any = get_plugin_manager().registry.get("models", "lstm_seq2seq").cls
    return cls(build(cls.Options, MODEL, "model"), frame_dim=FRAME_DIM, seed=0)


class EpochTimer(TrainingMonitor):
    """A Kara training monitor that times each epoch (and nothing else)."""

    def __init__(self) -> None:
        self.seconds: list[float] = []
        self._start = 0.0

    def on_epoch_begin(self, epoch: int) -> None:
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: dict[str, float]) -> None:
        self.seconds.append(time.perf_counter() - self._start)


def kara_epoch(model: Any, train: Any, steps: int) -> float:
    """Seconds of one epoch of Kara's path (the second of a ``fit`` call: the first traces)."""
    from kara_core.components import FitSettings

    timer = EpochTimer()
    settings = FitSettings(epochs=2, batch_size=BATCH, steps_per_epoch=steps, patience=0)
    model.fit(train, train, settings, [timer])
    return timer.seconds[-1]


def bare_keras(train: Any, steps: int, jit_compile: bool) -> tuple[Any, Any]:
    """The same network compiled by plain Keras, and its in-memory arrays of windows."""
    import keras
    from kara_lstm.seq2seq.network import build_network

    rows = np.random.default_rng(0).permutation(len(train))[: steps * BATCH]
    context, targets = train.load(train.index[rows])
    previous = np.concatenate([context[:, -1:], targets[:, :-1]], axis=1)
    net = build_network(FRAME_DIM, MODEL["input_frames"], MODEL["output_frames"],
                        MODEL["layers"], MODEL["units"], 0.0, True)
    net.compile(optimizer=keras.optimizers.Adam(1e-3, clipnorm=1.0), loss="mse",
                jit_compile=jit_compile)
    return net, ([context, previous], targets)


def bare_epoch(net: Any, data: Any) -> float:
    """Seconds of one ``keras.Model.fit`` epoch over the in-memory arrays."""
    start = time.perf_counter()
    net.fit(data[0], data[1], batch_size=BATCH, epochs=1, shuffle=True, verbose=0)
    return time.perf_counter() - start


def throughput(paths: list[Path], steps: int, rounds: int) -> dict[str, Any]:
    """Samples/s of each path, best of ``rounds`` interleaved measurements (the machine's
    load changes between them; interleaving exposes every path to the same changes)."""
    train = windows(paths)
    model = build_model()
    plain, plain_data = bare_keras(train, steps, jit_compile=False)
    xla, xla_data = bare_keras(train, steps, jit_compile=True)
    for net, data in ((plain, plain_data), (xla, xla_data)):
        bare_epoch(net, data)  # trace
    seconds: dict[str, list[float]] = {"kara": [], "keras": [], "keras_xla": []}
    for _ in range(rounds):
        seconds["kara"].append(kara_epoch(model, train, steps))
        seconds["keras"].append(bare_epoch(plain, plain_data))
        seconds["keras_xla"].append(bare_epoch(xla, xla_data))
    rate = {k: steps * BATCH / min(v) for k, v in seconds.items()}
    fastest_bare = max(rate["keras"], rate["keras_xla"])
    return {
        "kara_samples_per_s": round(rate["kara"], 1),
        "bare_keras_samples_per_s": round(rate["keras"], 1),
        "bare_keras_xla_samples_per_s": round(rate["keras_xla"], 1),
        "ratio": round(rate["kara"] / fastest_bare, 3),
        "ratio_is_against": "the faster bare Keras fit (plain graph or XLA)",
        "steps": steps, "batch_size": BATCH, "rounds": rounds,
    }


MEMORY_CHILD = """
import json, os, sys, threading, time
sys.path.insert(0, sys.argv[1])
from pathlib import Path
import benchmarks.bench_train as bench
peak = {"anon": 0, "stop": False}
def status(key):
    for line in open("/proc/self/status"):
        if line.startswith(key + ":"):
            return int(line.split()[1])
    return 0
def sample():
    while not peak["stop"]:
        peak["anon"] = max(peak["anon"], status("RssAnon"))
        time.sleep(0.01)
thread = threading.Thread(target=sample, daemon=True)
thread.start()
from kara_core.components import FitSettings
paths = sorted(Path(sys.argv[2]).glob("*.npy"))[: int(sys.argv[3])]
train = bench.windows(paths)
mean = train.mean_frame()
model = bench.build_model()
model.fit(train, train, FitSettings(epochs=1, batch_size=bench.BATCH, steps_per_epoch=10))
peak["stop"] = True
thread.join()
peak["anon"] = max(peak["anon"], status("RssAnon"))
print("RESULT " + json.dumps({"songs": len(paths), "windows": len(train),
                              "peak_anon_mb": peak["anon"] / 1024,
                              "peak_rss_mb": status("VmHWM") / 1024}))
"""


def memory(folder: Path, songs: int) -> dict[str, Any]:
    """Peak memory of the training path on the first ``songs`` songs, in a subprocess."""
    result = subprocess.run(
        [sys.executable, "-c", MEMORY_CHILD, str(REPO), str(folder), str(songs)],
        capture_output=True, text=True, check=False, timeout=1800,
    )
    lines = [x for x in result.stdout.splitlines() if x.startswith("RESULT ")]
    if result.returncode != 0 or not lines:
        raise SystemExit(f"memory child failed:\n{result.stderr[-3000:]}")
    data: dict[str, Any] = json.loads(lines[-1][len("RESULT "):])
    data["gigabytes_of_frames"] = round(songs * SONG_FRAMES * FRAME_DIM * 4 / 1e9, 3)
    return data


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--songs", type=int, default=40, help="songs in the 1x set")
    parser.add_argument("--steps", type=int, default=20, help="timed steps per epoch")
    parser.add_argument("--rounds", type=int, default=3,
                        help="interleaved timed epochs per path (the best is kept)")
    parser.add_argument("--quick", action="store_true", help="4 songs, 5 steps: a smoke run")
    args = parser.parse_args(argv)
    if args.quick:
        args.songs, args.steps, args.rounds = 4, 5, 1
    import tensorflow as tf

    with tempfile.TemporaryDirectory(prefix="kara-bench-train-") as tmp:
        folder = Path(tmp)
        paths = write_songs(folder, args.songs * 10)
        speed = throughput(paths[: args.songs], args.steps, args.rounds)
        one, ten = memory(folder, args.songs), memory(folder, args.songs * 10)
    ratio = ten["peak_anon_mb"] / one["peak_anon_mb"]
    record = {
        "benchmark": "train",
        "model": "lstm_seq2seq 3x128, input_frames 40, output_frames 40",
        "frames": f"synthetic, {FRAME_DIM} features (stft n_fft 1024), {SONG_FRAMES} per song",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, TensorFlow {tf.__version__}, "
                   f"Python {platform.python_version()}",
        "throughput": speed,
        "memory": {"1x": one, "10x": ten, "anon_ratio": round(ratio, 3),
                   "rss_ratio": round(ten["peak_rss_mb"] / one["peak_rss_mb"], 3)},
        "targets": {"throughput_ratio": TARGET_THROUGHPUT, "memory_ratio": TARGET_MEMORY},
        "passed": speed["ratio"] >= TARGET_THROUGHPUT and ratio <= TARGET_MEMORY,
    }
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    from kara_core.storage import atomic
    atomic.write_json(RESULTS, record)
    print(json.dumps(record, indent=2))
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(REPO))
    raise SystemExit(main())
