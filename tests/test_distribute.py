"""train.distribute: mirrored over two devices, and two workers training as one.

The strategies run in subprocesses: logical devices and collective ops are configured
once per process and must not leak into the other tests.
"""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys

import pytest

from kara_core.errors import ConfigError
from kara_core.pipeline.train import distribute
from tests.support.cli import REPO
from tests.support.training import MODEL, write_config, write_songs

TRAIN = "{{epochs: 1, batch_size: 16, seed: 0, distribute: {mode}, steps_per_epoch: 6}}"

SCRIPT = """
import json, sys
from pathlib import Path
import numpy as np
if sys.argv[2] == "two-cpus":
    import tensorflow as tf
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
from kara_core.pipeline.parts import featurize
from kara_core.pipeline.parts import train_variant
from tests.support.training import variant_of, write_songs
folder = Path(sys.argv[1])
variant = variant_of(folder / "kara.yaml")
features = featurize(variant, write_songs(folder), show_progress=False)
metrics = train_variant(variant, features, show_progress=False)
model = variant.build_model(features.frame_dim)
model.load(Path(sys.argv[3]))
probe = np.linspace(-1, 1, 8 * 64, dtype=np.float32).reshape(1, 8, 64)
print("RESULT " + json.dumps({"metrics": metrics,
                              "probe": model.predict(probe).ravel().tolist()}), flush=True)
"""


def run_script(folder, mode, model_dir, env=None, wait=True):
    full_env = {**os.environ, "PYTHONPATH": str(REPO), "TF_CPP_MIN_LOG_LEVEL": "3", **(env or {})}
    proc = subprocess.Popen(
        [sys.executable, "-c", SCRIPT, str(folder), mode, str(model_dir)], cwd=REPO,
        env=full_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )
    return proc if not wait else result_of(proc)


def result_of(proc):
    out, err = proc.communicate(timeout=300)
    lines = [line for line in out.splitlines() if line.startswith("RESULT ")]
    assert proc.returncode == 0 and lines, err[-8000:]
    return json.loads(lines[-1][len("RESULT "):])


def test_mirrored_training_over_two_logical_cpus_equals_training_on_one(tmp_path):
    """Each batch split over two replicas, the gradients summed: the same steps as one
    device taking the whole batch, so the same losses and weights (to float rounding)."""
    mirrored, single = tmp_path / "mirrored", tmp_path / "single"
    for folder, mode in ((mirrored, "mirrored"), (single, "none")):
        folder.mkdir()
        write_songs(folder)
        write_config(folder, model=MODEL, train=TRAIN.format(mode=mode))
    result = run_script(mirrored, "two-cpus", mirrored / "runs/t/base/model")
    metrics = result["metrics"]
    assert metrics["training"]["distribute"] == "mirrored over 2 device(s)"
    assert metrics["epochs_completed"] == 1
    assert metrics["val_loss"] > 0 and metrics["skill"] is not None
    assert (mirrored / "runs/t/base/metrics.json").is_file()
    alone, probe = train_here(single)
    assert alone["training"]["distribute"] == "one device"
    for key in ("loss", "val_loss"):
        assert metrics["history"][key] == pytest.approx(alone["history"][key], rel=1e-5), key
    assert result["probe"] == pytest.approx(probe, abs=1e-5)  # measured: 1e-8 apart


def train_here(folder):
    """SCRIPT's training and probe, in this process (one device needs no set-up)."""
    import numpy as np

    from kara_core.pipeline.parts import featurize, train_variant
    from tests.support.training import variant_of

    variant = variant_of(folder / "kara.yaml")
    features = featurize(variant, write_songs(folder), show_progress=False)
    metrics = train_variant(variant, features, show_progress=False)
    model = variant.build_model(features.frame_dim)
    model.load(folder / "runs/t/base/model")
    probe = np.linspace(-1, 1, 8 * 64, dtype=np.float32).reshape(1, 8, 64)
    return metrics, model.predict(probe).ravel().tolist()


def free_ports(count):
    sockets = [socket.socket() for _ in range(count)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


LM_MODEL = ("{layers: 1, units: 8, head: mixture, components: 2, crop_frames: 16, "
            "input_frames: 8, output_frames: 4}")
LM_TRAIN = ("{{steps: 6, steps_per_epoch: 6, batch_size: 16, seed: 0, distribute: {mode}, "
            "judge_seconds: 0}}")


def write_lm_config(folder, mode):
    """The tiny config with the frame language model in place of the seq2seq."""
    config = write_config(folder, model=MODEL, train=LM_TRAIN.format(mode=mode))
    config.write_text(config.read_text().replace(
        f"model: {{type: lstm_seq2seq, options: {MODEL}}}",
        f"model: {{type: lstm_lm, options: {LM_MODEL}}}"))


def train_on_two_workers(tmp_path):
    """Both workers' results, after checking they trained one epoch together."""
    cluster = {"worker": [f"127.0.0.1:{port}" for port in free_ports(2)]}
    run_dir = tmp_path / "runs/t/base"
    procs = [
        run_script(tmp_path, "worker", run_dir / "model" if index == 0 else
                   run_dir / f"worker-{index}" / "model",
                   env={"TF_CONFIG": json.dumps({"cluster": cluster,
                                                 "task": {"type": "worker", "index": index}})},
                   wait=False)
        for index in range(2)
    ]
    try:
        chief, worker = (result_of(p) for p in procs)
    finally:
        for proc in procs:
            proc.kill()
    for result in (chief, worker):
        assert result["metrics"]["training"]["distribute"].startswith("multi-worker over 2")
        assert result["metrics"]["epochs_completed"] == 1
    assert chief["probe"] == worker["probe"], "the workers ended with different weights"
    assert chief["metrics"]["val_loss"] == worker["metrics"]["val_loss"]
    recorded = json.loads((run_dir / "metrics.json").read_text())
    assert recorded["val_loss"] == chief["metrics"]["val_loss"]
    assert (run_dir / "worker-1" / "checkpoints" / "latest.json").is_file()
    assert not (run_dir / "worker-1" / "metrics.json").exists()
    return chief, worker


def test_two_workers_train_one_epoch_together_and_end_with_the_same_weights(tmp_path):
    write_songs(tmp_path)
    write_config(tmp_path, model=MODEL, train=TRAIN.format(mode="multi_worker"))
    train_on_two_workers(tmp_path)


def test_two_workers_train_the_frame_language_model_together(tmp_path):
    write_songs(tmp_path)
    write_lm_config(tmp_path, "multi_worker")
    chief, _worker = train_on_two_workers(tmp_path)
    assert chief["metrics"]["heldout"]["measure"] == "nll_bits_per_frame"


def test_auto_picks_multi_worker_from_tf_config_and_finds_the_chief(monkeypatch):
    cluster = {"worker": ["a:1", "b:2"]}
    monkeypatch.setenv("TF_CONFIG", json.dumps({"cluster": cluster,
                                                "task": {"type": "worker", "index": 1}}))
    assert distribute.resolve("auto") == "multi_worker"
    assert distribute.role(distribute.tf_config()) == (False, 1)
    with_chief = {"cluster": {"chief": ["c:0"], **cluster}, "task": {"type": "worker",
                                                                       "index": 0}}
    assert distribute.role(with_chief) == (False, 1)
    assert distribute.role({**with_chief, "task": {"type": "chief", "index": 0}}) == (True, 0)


def test_multi_worker_without_tf_config_is_a_clear_config_error(monkeypatch):
    monkeypatch.delenv("TF_CONFIG", raising=False)
    with pytest.raises(ConfigError, match="multi_worker needs TF_CONFIG"):
        distribute.placement("multi_worker")
    monkeypatch.setenv("TF_CONFIG", "{not json")
    with pytest.raises(ConfigError, match="TF_CONFIG: not valid JSON"):
        distribute.tf_config()
