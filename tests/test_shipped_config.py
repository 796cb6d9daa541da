"""The shipped kara.yaml runs end to end, every variant, at tiny sizes (as RAVE tests its
configs): what `make run` does, minus the minutes. Only sizes shrink; the components,
heads, transforms and the variants' structure are the shipped ones."""

from __future__ import annotations

import json

import soundfile as sf
import yaml

from kara_core.testkit.transforms import music_like_signal
from tests.support.cli import REPO, run_kara

RATE = 22050
TINY_LM = {"layers": 1, "units": 8, "components": 2, "codes": 16, "crop_frames": 24}
TINY_SEQ2SEQ = {"layers": 1, "units": 8, "input_frames": 8, "output_frames": 4}


def shrunk(config: dict, folder) -> dict:
    config = json.loads(json.dumps(config))  # a deep copy of plain YAML data
    config["runs_dir"] = str(folder / "runs")
    config["dataset"].update(mp3_dir=str(folder / "songs"), wav_dir=str(folder / "wav"),
                             cache_dir=str(folder / "cache"), val_fraction=0.34)
    config["decoder"] = {"type": "soundfile"}
    config["model"]["options"].update(TINY_LM)
    config["train"].update(steps=4, steps_per_epoch=2, batch_size=4, judge_seconds=1.0,
                           distribute="none")
    config["generate"].update(seconds=1.0, prompt_seconds=0.5, prompts=2)
    for variant in config["variants"].values():
        if (variant.get("train") or {}).get("steps"):
            variant["train"]["steps"] = 4
        model = variant.get("model") or {}
        if model.get("type") == "lstm_seq2seq":
            model["options"].update(TINY_SEQ2SEQ)
            variant["train"].update(epochs=1, batch_size=8)
        elif "options" in model:
            model["options"].update({k: v for k, v in TINY_LM.items()
                                     if k in ("codes",) and "codes" in model["options"]})
    return config


def test_the_shipped_kara_yaml_runs_every_variant_end_to_end(tmp_path):
    shipped = yaml.safe_load((REPO / "kara.yaml").read_text(encoding="utf-8"))
    songs = tmp_path / "songs"
    songs.mkdir()
    for number in range(3):  # mp3 written by libsndfile: no lame needed
        sf.write(songs / f"song {number}.mp3", music_like_signal(3.0, RATE, seed=number),
                 RATE, format="MP3")
    config = tmp_path / "kara.yaml"
    config.write_text(yaml.safe_dump(shrunk(shipped, tmp_path)), encoding="utf-8")
    result = run_kara("run", str(config), "--json", cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    rows = {row["variant"]: row for row in json.loads(result.stdout)["variants"]}
    assert set(rows) == {"base", *shipped["variants"]}
    for name, row in rows.items():
        metrics = row["metrics"]
        assert metrics["status"] == "ok", (name, metrics.get("error"))
        assert len(metrics["music"]["clips"]) == 2, name
        assert metrics["heldout"]["measure"], name
    assert rows["base"]["metrics"]["heldout"]["measure"] == "nll_bits_per_frame"
    assert rows["tokens"]["metrics"]["heldout"]["measure"] == "cross_entropy_bits"
    assert rows["seq2seq"]["metrics"]["heldout"]["measure"] == "closed_loop_mse"
