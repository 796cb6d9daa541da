"""Measures are plugins (issue 20 item 2): registered through ``kara_register_measures``,
refused when a name is taken, checked by the kit, and a third-party measure becomes a column
of the table, the page and ``--json``; the judge calibrates the sampling temperature with
the same measures (issue 21 item 1)."""

from __future__ import annotations

import io
import json
import math
from types import SimpleNamespace

import numpy as np
import pytest
from rich.console import Console

from kara_core import Clip, HeldOutMusic, Measure, Register, SongExcerpt, hookimpl
from kara_core.errors import PluginError
from kara_core.measures import BUILTIN
from kara_core.pipeline.evaluate import evaluate
from kara_core.pipeline.generate import Clips
from kara_core.report import records
from kara_core.report.table import find_records, print_table, to_csv, to_json
from kara_core.testing import check_measure, kit_music, music_like_signal, registry_with

RATE = 8000


class PeakRatio(Measure):
    """A third party's measure: the clip's peak over the music's (what a plugin adds)."""

    name = "peak_ratio"
    description = "peak sample of the clip over the held-out songs' peak"
    direction = "range"
    target = (0.5, 1.5)
    header = "peak\nratio"
    fmt = ".3f"

    def compute(self, clip: Clip, music: HeldOutMusic) -> float:
        real = music.memo("peak", lambda: max(float(np.abs(w).max()) for w in music.waves))
        peak = float(np.abs(clip.wave).max()) if clip.wave.size else 0.0
        return peak / real if real > 0 else float("nan")


class PeakPlugin:
    @hookimpl
    def kara_register_measures(self, register: Register[Measure]) -> None:
        register(PeakRatio)


def test_hook_kara_register_measures():
    """Kara registers its own measures through the hook, beside a plugin's."""
    registry = registry_with("peaks", PeakPlugin())
    names = [m.name for m in registry.measures()]
    assert {cls.name for cls in BUILTIN} <= set(names) and "peak_ratio" in names
    assert registry.get("measures", "pulse").plugin == "kara"
    assert registry.get("measures", "peak_ratio").plugin == "peaks"
    assert names.index("fd_ratio") < names.index("loop") < names.index("peak_ratio")


def test_a_measure_name_taken_twice_is_refused_naming_both_owners():
    class Pulse(PeakRatio):
        name = "pulse"

    class Clash:
        @hookimpl
        def kara_register_measures(self, register: Register[Measure]) -> None:
            register(Pulse)

    with pytest.raises(PluginError, match=r"measure 'pulse' is registered twice: by plugin "
                                          r"'kara' and by plugin 'clash'"):
        registry_with("clash", Clash())


def test_the_kit_checks_every_built_in_measure_and_catches_a_broken_one():
    for cls in (*BUILTIN, PeakRatio):
        check_measure(cls)

    class Raises(PeakRatio):
        name = "raises"

        def compute(self, clip: Clip, music: HeldOutMusic) -> float:
            return 1.0 / float(clip.wave.size - clip.wave.size)  # ZeroDivisionError

    with pytest.raises(AssertionError, match="measure 'raises': raised on"):
        check_measure(Raises)

    class NoDirection(PeakRatio):
        name = "sideways"
        direction = "sideways"  # type: ignore[assignment]

    with pytest.raises(AssertionError, match="direction must be"):
        check_measure(NoDirection)


def test_a_third_party_measure_becomes_a_row_of_the_table(tmp_path):
    """Evaluated with the registry's measures, written as a run writes it, and read back by
    ``kara compare``'s table, CSV and JSON, and by the listening page."""
    from kara_core.report.html import variant_report_html

    measures = registry_with("peaks", PeakPlugin()).measures()
    music = kit_music(rate=RATE)
    waves = [music_like_signal(2.0, RATE, seed=s) * 0.5 for s in (5, 6)]
    prompts = [SongExcerpt(np.zeros(10, np.float32), song.source) for song in music.songs]
    generations = [SimpleNamespace(wave=w, rtf=0.1, seconds=2.0, compute_seconds=0.2,
                                   prompt_wave=np.zeros(10, np.float32)) for w in waves]
    record = evaluate(Clips(prompts, generations, seeds=[0, 1], rate=RATE), music, measures)
    assert 0.2 < record["summary"]["median"]["peak_ratio"] < 0.8
    assert record["real"]["summary"]["median"]["peak_ratio"] is not None
    run = tmp_path / "runs" / "demo" / "base"
    records.update_metrics(run, {"variant": "base", "status": "ok", "music": record})

    found = find_records([run.parent])
    console = Console(file=io.StringIO(), width=400, color_system=None)
    print_table(found, console, measures=measures)
    table = console.file.getvalue()
    assert "peak" in table and "ratio" in table
    peak = record["summary"]["median"]["peak_ratio"]
    assert f"{peak:.3f}" in table  # the measure's own format
    assert "real music" in table
    header = to_csv(found, measures).splitlines()[0].split(",")
    assert {"peak_ratio", "peak_ratio_worst", "peak_ratio_real"} <= set(header)
    data = to_json(found, measures)
    assert data["variants"][0]["summary"]["peak_ratio"] == pytest.approx(peak)
    assert "peak_ratio" in {m["name"] for m in data["measures"]}
    json.dumps(data)  # plain JSON
    # uninstalled later: the record still describes it, so the table still shows it
    later = to_json(found, [cls() for cls in BUILTIN])
    assert later["variants"][0]["summary"]["peak_ratio"] == pytest.approx(peak)
    page = variant_report_html(run, json.loads((run / "metrics.json").read_text()))
    assert "peak_ratio" in page and "peak sample of the clip" in page


class TemperatureSensitive:
    """A model whose continuation is music only at temperature 0.7 (a frozen frame
    otherwise): what calibration must find."""

    name = "temperature_sensitive"
    input_frames = 1

    def __init__(self, frames: np.ndarray) -> None:
        self.frames = frames
        self.calls: list[float] = []

    def generate(self, prompt, n_frames, temperature=0.0, seed=0):
        self.calls.append(temperature)
        if abs(temperature - 0.7) < 1e-9:
            start = (seed * 13 + int(abs(prompt).sum()) * 7) % len(self.frames)
            return self.frames[(start + np.arange(n_frames)) % len(self.frames)]
        return np.repeat(self.frames[:1], n_frames, axis=0)


class Identity:
    """Frames are 64-sample blocks of the wave; normalisation is the identity."""

    name = "blocks"
    hop = frame_dim = 64

    def forward(self, wave):
        usable = len(wave) // 64 * 64
        return np.asarray(wave[:usable], np.float32).reshape(-1, 64)

    def inverse(self, frames, length):
        flat = np.asarray(frames, np.float32).reshape(-1)
        return np.pad(flat, (0, max(0, length - flat.size)))[:length]

    def normalise(self, frames):
        return frames

    def denormalise(self, frames):
        return frames


def test_the_judge_calibrates_the_temperature_and_the_run_reuses_it(tmp_path):
    from kara_core.pipeline.train.judge import (
        GenerationJudge,
        JudgeSettings,
        resolve_temperature,
    )

    music = kit_music(rate=RATE)
    music = HeldOutMusic(RATE, music.songs, prompts=[
        SongExcerpt(song.wave[: RATE // 2], song.source) for song in music.songs])
    frames = Identity().forward(music.songs[0].wave)
    model = TemperatureSensitive(frames)
    settings = JudgeSettings(rate=RATE, seconds=2.0, prompts=2, prompt_seconds=0.25,
                             temperature=None)
    judge = GenerationJudge(settings, music, Identity(), Identity(),
                            [cls() for cls in BUILTIN])
    found = judge.calibrate(model)
    assert found["temperature"] == 0.7
    scores = found["scores"]
    assert set(scores) == {"0.5", "0.7", "0.85", "1"}
    assert all(scores["0.7"] < s for key, s in scores.items() if key != "0.7")

    calls = []

    def calibrate():
        calls.append(1)
        return found

    (tmp_path / "model").mkdir()
    chosen, how = resolve_temperature("auto", tmp_path, calibrate)
    assert chosen == 0.7 and how["source"] == "calibrated" and calls == [1]
    assert json.loads((tmp_path / "temperature.json").read_text())["temperature"] == 0.7
    assert resolve_temperature(0.3, tmp_path, calibrate) == (0.3, {"source": "configured"})
    assert calls == [1]  # a number in kara.yaml is used as it is
    assert not math.isnan(found["seconds"])


def test_a_calibration_is_redone_when_the_model_samples_differently(tmp_path, monkeypatch):
    """Sampling options (``noise_scale``, ``recall_follow``, ...) leave the weights as they
    are: the temperature calibrated for the old ones must not be reused for the new."""
    from kara_core.pipeline.train import judge

    monkeypatch.setattr(judge, "model_fingerprint", lambda model_dir: "the same weights")
    calls: list[float] = []

    def calibrate():
        calls.append(0.7 if not calls else 0.5)
        return {"temperature": calls[-1]}

    assert judge.resolve_temperature("auto", tmp_path, calibrate, "noise 1")[0] == 0.7
    assert judge.resolve_temperature("auto", tmp_path, calibrate, "noise 1")[0] == 0.7
    assert calls == [0.7]
    assert judge.resolve_temperature("auto", tmp_path, calibrate, "noise 0.5")[0] == 0.5
    assert calls == [0.7, 0.5]
