"""``train.distribute``: which ``tf.distribute`` strategy a training run uses, and who writes.

- ``none``: one device (TensorFlow's default strategy).
- ``mirrored``: ``MirroredStrategy`` over every GPU of this machine (or, without GPUs,
  every logical CPU device); each batch is split between the replicas.
- ``multi_worker``: ``MultiWorkerMirroredStrategy``; every machine runs the same
  ``kara train`` with its own ``TF_CONFIG`` (cluster addresses and this machine's task).
  Each worker reads its own shard of the windows; gradients are averaged every step, so
  all workers hold the same weights. Only the chief writes ``metrics.json`` and the run
  folder; other workers keep their checkpoints under ``<run_dir>/worker-<index>/``.
- ``auto``: ``multi_worker`` when ``TF_CONFIG`` names more than one task, ``mirrored``
  when this machine has several GPUs, else ``none``.

A strategy is made once per process (collective ops cannot be reconfigured), before any
other TensorFlow work, and reused by every variant.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from typing import Any

from kara_core.errors import ConfigError

_STRATEGIES: dict[str, Any] = {}


@dataclass(frozen=True)
class Placement:
    """The strategy and this process's role.

    :ivar strategy: the ``tf.distribute.Strategy`` (``None`` for one device).
    :ivar description: what the user reads, e.g. ``"mirrored over 2 devices"``.
    :ivar chief: whether this process writes the run folder.
    :ivar worker_index: this worker's index (0 outside multi-worker training).
    """

    strategy: Any
    description: str
    chief: bool = True
    worker_index: int = 0


def tf_config() -> dict[str, Any]:
    """The parsed ``TF_CONFIG`` environment variable (empty when unset)."""
    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except ValueError as exc:
        raise ConfigError(f"TF_CONFIG: not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise ConfigError("TF_CONFIG: expected a JSON object with 'cluster' and 'task'")
    return data


def cluster_size(config: dict[str, Any]) -> int:
    """Number of tasks (chief and workers) named in ``TF_CONFIG``."""
    cluster = config.get("cluster") or {}
    return sum(len(cluster.get(role) or []) for role in ("chief", "worker"))


def role(config: dict[str, Any]) -> tuple[bool, int]:
    """``(is chief, worker index)`` of this process under ``TF_CONFIG``."""
    task = config.get("task") or {}
    kind, index = str(task.get("type", "worker")), int(task.get("index", 0))
    has_chief = bool((config.get("cluster") or {}).get("chief"))
    chief = kind == "chief" or (kind == "worker" and index == 0 and not has_chief)
    return chief, (index + 1 if has_chief and kind == "worker" else index)


def resolve(name: str) -> str:
    """``auto`` resolved to what this machine and ``TF_CONFIG`` call for."""
    if name != "auto":
        return name
    if cluster_size(tf_config()) > 1:
        return "multi_worker"
    import tensorflow as tf

    return "mirrored" if len(tf.config.list_physical_devices("GPU")) > 1 else "none"


def placement(name: str) -> Placement:
    """The strategy for ``train.distribute = name``, made once per process."""
    chosen = resolve(name)
    if chosen == "none":
        return Placement(None, "one device")
    import tensorflow as tf

    if chosen == "mirrored":
        if "mirrored" not in _STRATEGIES:
            gpus = tf.config.list_logical_devices("GPU")
            devices = gpus or tf.config.list_logical_devices("CPU")
            _STRATEGIES["mirrored"] = tf.distribute.MirroredStrategy(
                devices=[d.name for d in devices]
            )
        strategy = _STRATEGIES["mirrored"]
        return Placement(strategy, f"mirrored over {strategy.num_replicas_in_sync} device(s)")
    if chosen == "multi_worker":
        config = tf_config()
        if cluster_size(config) < 1 or "task" not in config:
            raise ConfigError(
                "train.distribute: multi_worker needs TF_CONFIG with 'cluster' and 'task' "
                "on every machine (see README, 'Training on several machines')"
            )
        if "multi_worker" not in _STRATEGIES:
            _STRATEGIES["multi_worker"] = tf.distribute.MultiWorkerMirroredStrategy()
        strategy = _STRATEGIES["multi_worker"]
        chief, index = role(config)
        return Placement(
            strategy, f"multi-worker over {cluster_size(config)} worker(s), "
            f"{strategy.num_replicas_in_sync} replica(s)", chief=chief, worker_index=index,
        )
    raise ConfigError(f"train.distribute: unknown strategy {name!r}")


def make_repeatable(seed: int) -> None:
    """Seed Python, NumPy, TensorFlow and Keras, and ask TensorFlow for deterministic ops,
    so two CPU runs with one seed give the same numbers."""
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(seed)
    tf.config.experimental.enable_op_determinism()
