"""Shared fixtures. ``--run-slow`` enables the long fault-injection tests (make test-long)."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_addoption(parser: pytest.Parser) -> None:
    parser.addoption(
        "--run-slow", action="store_true", default=False, help="run tests marked slow"
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if config.getoption("--run-slow"):
        return
    skip_slow = pytest.mark.skip(reason="long fault test: run with make test-long")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip_slow)


@pytest.fixture
def kara(capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch):
    """``kara(*args, env=None)``: the CLI run in this process (``main(argv)``), for commands
    that need no TensorFlow: what a subprocess would print, without its start-up cost."""
    import subprocess

    from kara_core import console
    from kara_core.cli import main

    def run(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
        monkeypatch.setenv("COLUMNS", "200")
        monkeypatch.delenv("KARA_DEBUG", raising=False)  # restored after the test: --debug sets it
        for key, value in (env or {}).items():
            monkeypatch.setenv(key, value)
        console._CONSOLES.clear()  # rich consoles read COLUMNS when they are made
        capsys.readouterr()
        try:
            code = main(list(args))
        except SystemExit as exc:  # argparse's usage errors
            code = int(exc.code or 0)
        captured = capsys.readouterr()
        console._CONSOLES.clear()
        return subprocess.CompletedProcess(list(args), code, captured.out, captured.err)

    return run
