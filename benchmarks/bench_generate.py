"""Generation speed of the default model, three ways, in one run.

The default kara.yaml model (``lstm_seq2seq``, 3 x 128 units, 40 frames of context) on the
default transform's frames (stft, n_fft 1024, hop 256 at 22050 Hz: 513 features, 11.6 ms
of audio per frame), with untrained weights (speed does not depend on them):

- ``compiled``: ``Model.generate``, the whole closed loop inside one ``tf.function`` per
  chunk of ``output_frames`` with the LSTM states carried from step to step;
- ``predict``: Keras ``model.predict`` once per generated frame, on a one-step network
  that shares the trained layers' weights (what the original project did);
- ``eager``: the same one-step network called directly (``net(x)``) once per frame.

Targets (DESIGN §7, issue 6): compiled at least 100x faster than per-step predict, and at
least 30x faster than real time. Writes ``benchmarks/results/generate.json``.

    .venv/bin/python benchmarks/bench_generate.py [--frames 2000] [--step-frames 60]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
RESULTS = Path(__file__).resolve().parent / "results" / "generate.json"
RATE, N_FFT, HOP = 22050, 1024, 256
TARGET_VS_PREDICT = 100.0
TARGET_X_REALTIME = 30.0


FRAME_DIM = N_FFT // 2 + 1  # the default stft features: log magnitudes of n_fft/2+1 bins


def build_model() -> Any:
    """The default model exactly as kara.yaml builds it, from the plugin registry."""
    from kara_core.options import build
    from kara_core.plugins import get_plugin_manager

    cls: Any = get_plugin_manager().registry.get("models", "lstm_seq2seq").cls
    options = build(cls.Options, {"layers": 3, "units": 128, "input_frames": 40,
                                  "output_frames": 40}, "model")
    return cls(options, frame_dim=FRAME_DIM, seed=0)


def step_network(model: Any) -> Any:
    """A one-output-frame copy of the model's Keras network (weights do not depend on the
    number of frames, so they are shared by value)."""
    from kara_lstm.seq2seq.network import build_network

    model.generate(np.zeros((model.input_frames, model.frame_dim), np.float32), 1)
    o = model.options
    net = build_network(model.frame_dim, o.input_frames, 1, o.layers, o.units, 0.0, o.residual)
    net.set_weights(model._net.get_weights())  # the benchmark's one look inside the plugin
    return net


def per_step(call: Any, context: np.ndarray, n_frames: int) -> float:
    """Seconds to generate ``n_frames`` frames calling ``call(context, previous)`` once per
    frame, feeding each output back into the sliding context."""
    context = context.copy()
    start = time.perf_counter()
    for _ in range(n_frames):
        frame = np.asarray(call(context[None], context[None, -1:]))[0, 0]
        context = np.concatenate([context[1:], frame[None]])
    return time.perf_counter() - start


def measure(n_frames: int, step_frames: int) -> dict[str, Any]:
    """All three ways on the same model and prompt; per-frame costs and ratios."""
    import tensorflow as tf

    model = build_model()
    rng = np.random.default_rng(0)
    prompt = rng.standard_normal((model.input_frames, model.frame_dim)).astype(np.float32)
    frame_seconds = HOP / RATE

    model.generate(prompt, model.output_frames * 2)  # trace once, as any real run does
    start = time.perf_counter()
    frames = model.generate(prompt, n_frames)
    compiled = (time.perf_counter() - start) / n_frames
    assert frames.shape == (n_frames, model.frame_dim)

    net = step_network(model)
    net.predict([prompt[None], prompt[None, -1:]], verbose=0)  # warm up both paths
    net([tf.constant(prompt[None]), tf.constant(prompt[None, -1:])], training=False)
    predict = per_step(
        lambda c, p: net.predict([c, p], verbose=0), prompt, step_frames) / step_frames
    eager = per_step(
        lambda c, p: net([tf.constant(c), tf.constant(p)], training=False).numpy(),
        prompt, step_frames) / step_frames

    def way(seconds_per_frame: float, frames_run: int) -> dict[str, float]:
        return {
            "ms_per_frame": round(seconds_per_frame * 1000, 4),
            "x_realtime": round(frame_seconds / seconds_per_frame, 2),
            "rtf": round(seconds_per_frame / frame_seconds, 5),
            "frames": frames_run,
        }

    result: dict[str, Any] = {
        "benchmark": "generate",
        "model": "lstm_seq2seq 3x128, input_frames 40, output_frames 40 (untrained)",
        "frames": f"stft n_fft {N_FFT} hop {HOP} at {RATE} Hz: {FRAME_DIM} "
                  f"features, {frame_seconds * 1000:.2f} ms of audio per frame",
        "machine": f"{platform.machine()}, {os.cpu_count()} CPUs, "
                   f"TensorFlow {tf.__version__}, Python {platform.python_version()}",
        "compiled": way(compiled, n_frames),
        "predict_per_step": way(predict, step_frames),
        "eager_per_step": way(eager, step_frames),
        "compiled_vs_predict": round(predict / compiled, 1),
        "compiled_vs_eager": round(eager / compiled, 1),
        "targets": {"compiled_vs_predict": TARGET_VS_PREDICT,
                    "compiled_x_realtime": TARGET_X_REALTIME},
    }
    result["passed"] = bool(
        result["compiled_vs_predict"] >= TARGET_VS_PREDICT
        and result["compiled"]["x_realtime"] >= TARGET_X_REALTIME
    )
    return result


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--frames", type=int, default=2000, help="frames for the compiled way")
    parser.add_argument("--step-frames", type=int, default=60,
                        help="frames for the per-step ways (each costs milliseconds)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    result = measure(args.frames, args.step_frames)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=2) + "\n", encoding="utf-8")
    for key in ("compiled", "predict_per_step", "eager_per_step"):
        way = result[key]
        print(f"{key:17s} {way['ms_per_frame']:9.3f} ms/frame  "
              f"{way['x_realtime']:8.2f}x real time")
    print(f"compiled is {result['compiled_vs_predict']}x faster than predict per step "
          f"(target {TARGET_VS_PREDICT:g}x), {result['compiled_vs_eager']}x faster than eager; "
          f"{'PASS' if result['passed'] else 'FAIL'}; wrote {args.out}")
    return 0 if result["passed"] else 1


if __name__ == "__main__":
    sys.exit(main())
