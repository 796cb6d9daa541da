"""``kara clean``: caches and runs no config uses are shown, then removed only with --yes."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

from kara_core.config import load_config
from kara_core.pipeline.parts import transform_key
from kara_core.plugins import get_plugin_manager
from kara_core.storage import atomic, owned
from tests.support.cli import write_yaml

CONFIG = """\
name: demo
dataset: {mp3_dir: mp3, wav_dir: wav, cache_dir: cache}
decoder: {type: soundfile}
transform: {type: raw, options: {frame_size: 64}}
model: {type: persistence}
variants:
  mel: {transform: {type: mel}}
"""


def kara_wrote(folder: Path, kind: str, files: dict[str, bytes]) -> Path:
    """A folder as Kara leaves it: claimed, then written through atomic writes."""
    folder.mkdir(parents=True, exist_ok=True)
    owned.claim(folder, kind, f"kara test {kind}")
    for name, data in files.items():
        atomic.write_bytes(folder / name, data)
    return folder


def layout(tmp_path):
    config = write_yaml(tmp_path, CONFIG)
    experiment = load_config(config, get_plugin_manager().registry)
    used_caches = [tmp_path / "cache" / transform_key(v) for v in experiment.variants]
    old_cache = tmp_path / "cache" / "stft-0123456789abcdef"
    foreign = tmp_path / "cache" / "my notes"
    old_run = tmp_path / "runs" / "demo" / "fft"
    used_run = tmp_path / "runs" / "demo" / "base"
    foreign.mkdir(parents=True)
    (foreign / "data.bin").write_bytes(b"x" * 1000)
    for folder in (*used_caches, old_cache):
        kara_wrote(folder, "cache", {"data.bin": b"x" * 1000})
    for run in (old_run, used_run):
        kara_wrote(run, "run", {"data.bin": b"x" * 1000, "metrics.json": b"{}"})
    return config, [*used_caches, foreign, used_run], [old_cache, old_run]


def test_clean_lists_unused_caches_and_runs_and_removes_nothing_without_yes(tmp_path, kara):
    config, kept, unused = layout(tmp_path)
    result = kara("clean", str(config), "--json")
    assert result.returncode == 0, result.stderr
    listed = json.loads(result.stdout)["unused"]
    assert sorted(item["path"] for item in listed) == sorted(str(p.resolve()) for p in unused)
    assert all(item["bytes"] >= 1000 for item in listed)
    assert all(p.exists() for p in kept + unused)
    shown = kara("clean", str(config))
    assert "2 unused folder(s)" in shown.stderr and "--yes removes them" in shown.stderr


def test_clean_yes_removes_only_what_no_config_uses(tmp_path, kara):
    config, kept, unused = layout(tmp_path)
    result = kara("clean", str(config), "--yes")
    assert result.returncode == 0, result.stderr
    assert not any(p.exists() for p in unused)
    assert all(p.exists() for p in kept)


def test_clean_leaves_a_folder_another_kara_process_holds(tmp_path, kara):
    config, _kept, unused = layout(tmp_path)
    holder = subprocess.Popen(
        [sys.executable, "-c",
         "import sys, time; from pathlib import Path\n"
         "from kara_core.storage.locks import folder_lock\n"
         "with folder_lock(Path(sys.argv[1]), 'kara train fft'):\n"
         "    print('locked', flush=True); time.sleep(60)\n", str(unused[1])],
        stdout=subprocess.PIPE, text=True,
    )
    try:
        assert holder.stdout is not None and holder.stdout.readline().strip() == "locked"
        result = kara("clean", str(config), "--yes")
    finally:
        holder.kill()
        holder.wait()
    assert result.returncode == 1
    assert f"{unused[1]}: in use by pid {holder.pid} (kara train fft); left" in (
        result.stderr)
    assert unused[1].exists() and not unused[0].exists()
