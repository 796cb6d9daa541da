"""What a user sees when Kara is stopped or numpy complains (issue 22, 10): SIGTERM says how
to continue as Ctrl-C does, and library RuntimeWarnings never reach the terminal unless
``--debug``."""

from __future__ import annotations

import os
import signal
import subprocess
import sys

from tests.support.cli import write_yaml


def test_sigterm_exits_with_a_message_saying_how_to_continue(tmp_path):
    (tmp_path / "mp3").mkdir()
    (tmp_path / "mp3" / "song.mp3").write_bytes(bytes(1024))  # never read: the lock is first
    config = write_yaml(tmp_path, "name: t\ndataset: {mp3_dir: mp3, wav_dir: wav}\n"
                        "decoder: {type: soundfile}\ntransform: {type: raw}\n"
                        "model: {type: persistence}\n")
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path\n"
         "from kara_core.storage.locks import folder_lock\n"
         "with folder_lock(Path(sys.argv[1]), 'kara prepare'):\n"
         "    print('locked', flush=True); time.sleep(60)\n", str(tmp_path / "wav")],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        waiting = subprocess.Popen([sys.executable, "-m", "kara_core", "prepare", str(config)],
                                   cwd=tmp_path, stderr=subprocess.PIPE, text=True,
                                   env={**os.environ, "COLUMNS": "200"})
        assert waiting.stderr is not None
        assert "waiting:" in waiting.stderr.readline()  # blocked on the lock: stop it now
        waiting.send_signal(signal.SIGTERM)
        err = waiting.stderr.read()
        waiting.wait(timeout=60)
    finally:
        holder.kill()
        holder.wait()
    assert waiting.returncode == 143, err
    assert "Traceback" not in err
    assert f"terminated (SIGTERM); finished work is kept: run 'kara prepare {config}' to " \
        "continue" in err


WARNS = (
    "import sys, warnings\n"
    "import numpy as np\n"
    "import kara_core.commands.plugins as command\n"
    "def noisy(args):\n"
    "    np.log(np.zeros(2)); np.mean(np.zeros(0))\n"
    "    warnings.warn_explicit('Attempt to set non-positive ylim', UserWarning,\n"
    "                           'axes.py', 1, module='matplotlib.axes._base')\n"
    "    return 0\n"
    "command.run = noisy\n"
    "from kara_core.cli import main\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def test_numpy_and_matplotlib_warnings_stay_out_of_the_output_unless_debugging():
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONWARNINGS", "KARA_DEBUG")}
    quiet = subprocess.run([sys.executable, "-c", WARNS, "plugins"], capture_output=True,
                           text=True, timeout=120, env=env)
    assert quiet.returncode == 0, quiet.stderr
    assert "Warning" not in quiet.stderr and "ylim" not in quiet.stderr, quiet.stderr
    loud = subprocess.run([sys.executable, "-c", WARNS, "--debug", "plugins"],
                          capture_output=True, text=True, timeout=120, env=env)
    assert "RuntimeWarning" in loud.stderr and "ylim" in loud.stderr


def test_a_stopped_worker_of_prepare_ignores_nothing_but_ctrl_c():
    from kara_core.pipeline.prepare.jobs import _ignore_interrupts

    before = signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM)
    try:
        _ignore_interrupts()
        assert signal.getsignal(signal.SIGINT) == signal.SIG_IGN
        assert signal.getsignal(signal.SIGTERM) == signal.SIG_DFL
    finally:
        signal.signal(signal.SIGINT, before[0])
        signal.signal(signal.SIGTERM, before[1])
