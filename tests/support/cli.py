"""Small helpers shared by the tests: running the CLI in-process or as a subprocess."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]


def run_kara(*args: str, cwd: Path | None = None, env: dict[str, str] | None = None,
             timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """Run ``python -m kara_core ARGS`` in a subprocess, capturing text output."""
    full_env = dict(os.environ)
    full_env.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    full_env["COLUMNS"] = "200"
    if env:
        full_env.update(env)
    return subprocess.run(
        [sys.executable, "-m", "kara_core", *args],
        cwd=cwd or REPO, env=full_env, capture_output=True, text=True, timeout=timeout,
        check=False,
    )


def write_yaml(folder: Path, text: str, name: str = "kara.yaml") -> Path:
    """Write a YAML config into ``folder`` and return its path."""
    path = folder / name
    path.write_text(text, encoding="utf-8")
    return path


def interruptible() -> None:
    """A ``preexec_fn`` for a child the test will Ctrl-C: SIGINT back to its default.

    A shell that starts a command in the background (``make test &``, some CI runners) sets
    SIGINT to ignored for it and everything it starts, and Python then installs no
    KeyboardInterrupt handler: such a child would never see the test's Ctrl-C."""
    import signal

    signal.signal(signal.SIGINT, signal.SIG_DFL)


def some_music(folder: Path) -> Path:
    """``folder`` with one (stub) mp3 in it, so ``kara check`` finds a collection: check
    refuses an empty music folder, and never decodes."""
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "song.mp3").write_bytes(b"\xff\xfb\x90\x00" + bytes(413))
    return folder


def fake_distribution(site: Path, name: str, module_source: str) -> None:
    """An installed distribution on ``site`` with one ``kara`` entry point, without pip."""
    (site / name).mkdir(parents=True)
    (site / name / "__init__.py").write_text(textwrap.dedent(module_source))
    info = site / f"{name}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(f"[kara]\n{name} = {name}\n")
