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

A malformed ``TF_CONFIG`` and a worker whose host name does not resolve are one-line
errors. Otherwise a multi-worker run says whom it waits for and gives up with one line
after ``KARA_WORKER_TIMEOUT`` seconds (default 300) when they do not all answer.

A strategy is made once per process (collective ops cannot be reconfigured), before any
other TensorFlow work, and reused by every variant.
"""

from __future__ import annotations

import json
import math
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


ROLES = ("chief", "worker", "ps", "evaluator")
TIMEOUT_ENV = "KARA_WORKER_TIMEOUT"
DEFAULT_TIMEOUT_S = 300.0
"""How long a multi-worker run waits for the other workers of TF_CONFIG to answer before
it gives up with one line (``KARA_WORKER_TIMEOUT`` seconds)."""


def tf_config() -> dict[str, Any]:
    """The parsed and checked ``TF_CONFIG`` environment variable (empty when unset).

    :class:`ConfigError` in one line when it is not what TensorFlow expects: a JSON object
    whose ``cluster`` maps roles to lists of ``host:port`` and whose ``task`` names this
    process's role and index in it.
    """
    raw = os.environ.get("TF_CONFIG", "").strip()
    if not raw:
        return {}
    try:
        data = json.loads(raw)
    except (ValueError, RecursionError) as exc:
        raise ConfigError(f"TF_CONFIG: not valid JSON ({str(exc)[:100]})") from None
    if not isinstance(data, dict):
        raise ConfigError("TF_CONFIG: expected a JSON object with 'cluster' and 'task'")
    cluster = data.get("cluster", {})
    if not isinstance(cluster, dict):
        raise ConfigError(
            f"TF_CONFIG: 'cluster' must map roles to address lists, e.g. "
            f'{{"worker": ["host1:12345", "host2:12345"]}}, got {_short(cluster)}'
        )
    for role_name, addresses in cluster.items():
        if role_name not in ROLES:
            raise ConfigError(f"TF_CONFIG: cluster role {_short(role_name)} is unknown; "
                              f"expected {', '.join(ROLES)}")
        if not isinstance(addresses, list) or not all(
            isinstance(a, str) and _split_address(a) is not None for a in addresses
        ):
            raise ConfigError(f"TF_CONFIG: cluster.{role_name} must be a list of "
                              f"'host:port' strings, got {_short(addresses)}")
    task = data.get("task", {})
    if not isinstance(task, dict):
        raise ConfigError(f"TF_CONFIG: 'task' must be an object like "
                          f'{{"type": "worker", "index": 0}}, got {_short(task)}')
    kind, index = task.get("type", "worker"), task.get("index", 0)
    if not isinstance(kind, str) or isinstance(index, bool) or not isinstance(index, int):
        raise ConfigError(f"TF_CONFIG: task needs a role name and an integer index, got "
                          f"{_short(task)}")
    if cluster and not 0 <= index < len(cluster.get(kind) or []):
        raise ConfigError(f"TF_CONFIG: task {kind} {index} is not in the cluster "
                          f"({len(cluster.get(kind) or [])} {kind} address(es))")
    return data


def _short(value: Any) -> str:
    text = json.dumps(value, default=str) if not isinstance(value, str) else repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def _split_address(address: str) -> tuple[str, int] | None:
    host, _, port = address.strip().rpartition(":")
    host = host.strip("[]")
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        return None
    return host, int(port)


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


def peers(config: dict[str, Any]) -> list[tuple[str, str]]:
    """``(who, host:port)`` of every other chief or worker in ``TF_CONFIG``."""
    task = config.get("task") or {}
    me = (task.get("type", "worker"), task.get("index", 0))
    found = []
    for role_name in ("chief", "worker"):
        for number, address in enumerate((config.get("cluster") or {}).get(role_name) or []):
            if (role_name, number) != me:
                found.append((f"{role_name} {number}", str(address)))
    return found


def worker_timeout() -> float:
    """``KARA_WORKER_TIMEOUT`` seconds (default :data:`DEFAULT_TIMEOUT_S`)."""
    raw = os.environ.get(TIMEOUT_ENV, "").strip()
    if not raw:
        return DEFAULT_TIMEOUT_S
    try:
        value = float(raw)
    except ValueError:
        value = math.nan
    if not math.isfinite(value) or value <= 0:
        raise ConfigError(f"{TIMEOUT_ENV}: expected a positive number of seconds, got {raw!r}")
    return value


def check_addresses(config: dict[str, Any]) -> None:
    """:class:`ConfigError` naming the first peer whose host name does not resolve: no
    point waiting minutes for ``nohost.invalid``."""
    import socket

    for who, address in peers(config):
        split = _split_address(address)
        assert split is not None  # checked by tf_config
        host, port = split
        try:
            socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except (OSError, UnicodeError) as exc:
            reason = getattr(exc, "strerror", None) or str(exc)
            raise ConfigError(
                f"TF_CONFIG: {who} at {address}: the host name does not resolve ({reason}); "
                "fix its address"
            ) from None


HELLO = b"kara-worker "


def _listen(port: int) -> Any:
    import socket

    try:
        if socket.has_dualstack_ipv6():
            return socket.create_server(("", port), family=socket.AF_INET6,
                                        dualstack_ipv6=True, reuse_port=False)
        return socket.create_server(("", port))
    except OSError as exc:
        raise ConfigError(
            f"TF_CONFIG: cannot listen on this worker's port {port} ({exc.strerror or exc}): "
            "another program holds it"
        ) from None


def rendezvous(config: dict[str, Any], seconds: float) -> None:
    """Wait until every other chief or worker of ``TF_CONFIG`` has answered, saying whom
    it waits for; :class:`KaraError` naming those missing after ``seconds``.

    TensorFlow itself waits for absent workers inside calls nothing can interrupt, for as
    long as it takes. So before it starts, each worker listens on its own port (which
    TensorFlow takes over afterwards), connects to every other worker's port with a short
    hello, and goes on once it has reached every other worker and heard from each. A worker
    that has done both knows every other one has reached it, so closing its port then
    strands nobody.
    """
    import selectors
    import time

    from kara_core.console import print_note
    from kara_core.errors import KaraError

    task = config.get("task") or {}
    me = f"{task.get('type', 'worker')} {task.get('index', 0)}"
    addresses = (config.get("cluster") or {}).get(task.get("type", "worker")) or []
    mine = addresses[task.get("index", 0)]
    split = _split_address(mine)
    assert split is not None  # checked by tf_config
    others = dict(peers(config))
    if not others:
        return
    print_note(f"multi-worker training ({me}): waiting up to {seconds:g} s for "
               + ", ".join(f"{who} at {address}" for who, address in others.items())
               + f" (TF_CONFIG; {TIMEOUT_ENV}=S to change)")
    reached: set[str] = set()
    heard: set[str] = set()
    deadline = time.monotonic() + seconds
    with _listen(split[1]) as server, selectors.DefaultSelector() as selector:
        server.setblocking(False)
        selector.register(server, selectors.EVENT_READ)
        while reached != set(others) or heard != set(others):
            left = deadline - time.monotonic()
            if left <= 0:
                missing = [who for who in others if who not in reached or who not in heard]
                raise KaraError(
                    f"gave up after {seconds:g} s waiting for "
                    + ", ".join(f"{who} at {others[who]}" for who in missing)
                    + f" (TF_CONFIG): start 'kara train' there too, or check the address and "
                    f"the network ({TIMEOUT_ENV}=S waits longer)"
                )
            for who, address in others.items():
                if who not in reached and _say_hello(address, me):
                    reached.add(who)
            for _key, _events in selector.select(timeout=min(0.25, left)):
                sender = _hear(server)
                if sender in others:
                    heard.add(sender)


def _say_hello(address: str, me: str) -> bool:
    """Connect to a worker's port and say who this is; False while nobody listens."""
    import socket

    split = _split_address(address)
    assert split is not None
    try:
        with socket.create_connection(split, timeout=1.0) as connection:
            connection.sendall(HELLO + me.encode() + b"\n")
            connection.shutdown(socket.SHUT_WR)  # this side closes first: no TIME_WAIT there
            connection.recv(1)
    except OSError:
        return False
    return True


def _hear(server: Any) -> str | None:
    """Accept one connection and return who said hello (None for anything else)."""
    try:
        connection, _peer = server.accept()
    except OSError:
        return None
    with connection:
        connection.settimeout(2.0)
        data = b""
        try:
            while len(data) < 200:
                chunk = connection.recv(200)
                if not chunk:
                    break
                data += chunk
        except OSError:
            return None
    if not data.startswith(HELLO):
        return None
    return data[len(HELLO):].decode("utf-8", "replace").strip()


def _connect_workers(config: dict[str, Any]) -> Any:
    """``MultiWorkerMirroredStrategy``, made once every worker has answered
    (:func:`rendezvous`)."""
    import tensorflow as tf

    check_addresses(config)
    rendezvous(config, worker_timeout())
    return tf.distribute.MultiWorkerMirroredStrategy()


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
                "on every machine (see docs/guide.md, 'Several GPUs or machines')"
            )
        if "multi_worker" not in _STRATEGIES:
            _STRATEGIES["multi_worker"] = _connect_workers(config)
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
