"""TF_CONFIG written wrong or naming workers that never come (issue 13): one line, never a
silent wait of minutes."""

from __future__ import annotations

import json
import time

import pytest

from kara_core.errors import ConfigError
from kara_core.pipeline.train import distribute
from tests.support.training import MODEL, write_config


@pytest.mark.parametrize("raw, message", [
    ('{"cluster": "x"}', "'cluster' must map roles to address lists"),
    ('{"cluster": {"worker": "a:1"}}', "cluster.worker must be a list of 'host:port'"),
    ('{"cluster": {"worker": ["a"]}}', "cluster.worker must be a list of 'host:port'"),
    ('{"cluster": {"boss": ["a:1"]}}', "cluster role 'boss' is unknown"),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": "w"}', "'task' must be an object"),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"index": "1"}}', "integer index"),
    ('{"cluster": {"worker": ["a:1", "b:2"]}, "task": {"type": "worker", "index": 5}}',
     "task worker 5 is not in the cluster"),
    ("[1, 2]", "expected a JSON object"),
    ("[" * 100000, "not valid JSON"),
])
def test_a_malformed_tf_config_is_one_line(monkeypatch, raw, message):
    monkeypatch.setenv("TF_CONFIG", raw)
    with pytest.raises(ConfigError, match=message) as info:
        distribute.resolve("auto")
    assert "\n" not in str(info.value) and len(str(info.value)) < 300


def test_an_unresolvable_worker_is_named_at_once(monkeypatch):
    monkeypatch.setenv("TF_CONFIG", json.dumps({
        "cluster": {"worker": ["127.0.0.1:12345", "nohost.invalid:12345"]},
        "task": {"type": "worker", "index": 0}}))
    started = time.monotonic()
    with pytest.raises(ConfigError, match=r"worker 1 at nohost\.invalid:12345: the host name "
                                          "does not resolve"):
        distribute.check_addresses(distribute.tf_config())
    assert time.monotonic() - started < 30


@pytest.mark.parametrize("raw", ["soon", "0", "-1", "nan", "inf"])
def test_the_timeout_must_be_seconds(monkeypatch, raw):
    monkeypatch.setenv("KARA_WORKER_TIMEOUT", raw)
    with pytest.raises(ConfigError, match="KARA_WORKER_TIMEOUT"):
        distribute.worker_timeout()


def test_a_worker_that_never_comes_is_given_up_on_in_one_line(tmp_path):
    """The peer's port is free: nobody answers there. Kara says whom it waits for, then
    gives up after KARA_WORKER_TIMEOUT seconds, exit 2, one error line."""
    import socket

    from tests.support.audio import sf_mp3
    from tests.support.audio import signal as music
    from tests.support.cli import run_kara

    for number in range(3):
        sf_mp3(tmp_path / "mp3" / f"song{number}.mp3", music(3.0, 8000, seed=number), 8000)
    config = write_config(tmp_path, model=MODEL, train="{epochs: 1, batch_size: 16, seed: 0, "
                          "distribute: multi_worker, steps_per_epoch: 2}")
    ports = []
    for _ in range(2):
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            ports.append(s.getsockname()[1])
    tf_config = {"cluster": {"worker": [f"127.0.0.1:{p}" for p in ports]},
                 "task": {"type": "worker", "index": 0}}
    started = time.monotonic()
    result = run_kara("train", str(config), timeout=240, env={
        "TF_CONFIG": json.dumps(tf_config), "KARA_WORKER_TIMEOUT": "3", "COLUMNS": "300"})
    assert result.returncode == 2, result.stderr[-3000:]
    assert time.monotonic() - started < 120
    err = [line for line in result.stderr.splitlines() if line.strip()]
    waiting = [line for line in err if line.startswith("multi-worker training (worker 0): "
                                                        "waiting")]
    assert waiting and f"worker 1 at 127.0.0.1:{ports[1]}" in waiting[0], err
    errors = [line for line in err if line.startswith("error:")]
    assert len(errors) == 1 and "gave up after 3 s waiting for worker 1" in errors[0], err
    assert "kara train" in errors[0]
    assert "Traceback" not in result.stderr
