"""Progress on long stages: songs and hours of audio done, and an ETA for all the work left."""

from __future__ import annotations

import io
import os
import re

from rich.console import Console
from rich.progress import Progress

from kara_core.pipeline.parts import featurize
from kara_core.pipeline.progress import _columns, audio_text, song_task
from tests.support.training import variant_of, write_config, write_songs


def rendered(bar: Progress) -> str:
    out = io.StringIO()
    Console(file=out, width=200, color_system=None).print(bar.make_tasks_table(bar.tasks))
    return out.getvalue()


def test_audio_lengths_read_in_the_unit_a_user_thinks_in() -> None:
    assert (audio_text(42), audio_text(750), audio_text(36_000)) == ("42.0 s", "12.5 min", "10.0 h")


def test_a_song_task_counts_songs_and_hours_weighted_by_audio_not_song_count() -> None:
    bar = Progress(*_columns(()), console=Console(file=io.StringIO()), auto_refresh=False)
    task = song_task(bar, "featurize mel", [7200.0, 1800.0, 1800.0, 1800.0, 1800.0])
    task.advance(7200.0)  # one long song is half of the work, though one song of five
    shown = rendered(bar)
    assert "1/5 songs, 2.0 h of 4.0 h" in shown
    assert bar.tasks[0].percentage == 50.0


def test_the_eta_counts_the_work_queued_after_the_current_task() -> None:
    clock = iter(float(t) for t in range(1000))
    bar = Progress(*_columns(()), console=Console(file=io.StringIO()), auto_refresh=False,
                   get_time=lambda: next(clock))
    task = bar.add_task("train epoch 1/3", total=100, after=0)
    for _ in range(10):
        bar.update(task, advance=10 if bar.tasks[0].completed < 50 else 0)
    alone = re.search(r"ETA (\d+):(\d\d):(\d\d)", rendered(bar))
    bar.update(task, after=200)  # two more epochs of 100 steps wait behind this one
    queued = re.search(r"ETA (\d+):(\d\d):(\d\d)", rendered(bar))
    assert alone and queued

    def seconds(m: re.Match[str]) -> int:
        return int(m[1]) * 3600 + int(m[2]) * 60 + int(m[3])

    assert seconds(queued) > 4 * seconds(alone) > 0


def test_featurize_shows_songs_and_audio_done(tmp_path, capsys) -> None:
    songs = write_songs(tmp_path, count=3, seconds=1.0)
    featurize(variant_of(write_config(tmp_path)), songs, show_progress=True)
    err = capsys.readouterr().err
    assert "3/3 songs, 3.0 s of 3.0 s" in err


def test_prepare_counts_the_audio_of_songs_it_only_had_to_check(tmp_path, capsys) -> None:
    # a touched mp3 (new mtime, same bytes) is checked against its SHA-256 and kept: the
    # bar still counts its audio, not "0.0 s of audio"
    from kara_core.config import load_config
    from kara_core.pipeline.parts import run_prepare
    from kara_core.plugins import get_plugin_manager
    from tests.support.audio import sf_mp3, signal
    from tests.support.cli import write_yaml

    (tmp_path / "mp3").mkdir()
    for i in range(2):
        sf_mp3(tmp_path / "mp3" / f"s{i}.mp3", signal(2.0, 22050, seed=i), 22050)
    config = write_yaml(tmp_path, "name: t\ndataset: {mp3_dir: mp3, wav_dir: wav}\n"
                        "decoder: {type: soundfile}\ntransform: {type: raw}\n"
                        "model: {type: persistence}\n")
    song = load_config(config, get_plugin_manager().registry).base
    run_prepare(song, show_progress=False)
    for mp3 in (tmp_path / "mp3").iterdir():
        os.utime(mp3, ns=(mp3.stat().st_atime_ns, mp3.stat().st_mtime_ns + 10**9))
    capsys.readouterr()
    report = run_prepare(song, show_progress=True)
    assert report.summary["cached"] == 2
    shown = capsys.readouterr().err
    assert re.search(r"2/2 files 4\.\d s of audio", shown), shown


def test_the_overall_eta_follows_what_the_finished_variants_took():
    from kara_core.pipeline.progress import RunClock

    now = [0.0]
    clock = RunClock({"base": 60.0, "stft": 120.0, "odd": None})
    clock._clock = lambda: now[0]
    assert clock.line(["base", "stft", "odd"]) == (
        "about 3 min left for 3 variant(s) (kara check's estimate, for a machine the run has "
        "to itself; 1 variant(s) without an estimate not counted)")
    clock.start()
    now[0] = 120.0  # base took twice its estimate: the machine is busy
    clock.finish("base")
    assert clock.line(["stft"]) == (
        "about 4 min left for 1 variant(s) (kara check's estimate x 2, what the finished "
        "ones took)")
    assert clock.line(["odd"]) is None
