"""The verdict after the table and the short table: which variant made the best music, by
the targets, or why none could; the deciding rows within 100 columns, each explained."""

from __future__ import annotations

import io
import json
import re
from pathlib import Path
from types import SimpleNamespace

from rich.console import Console

from kara_core.report import records
from kara_core.report.html import write_experiment_index
from kara_core.report.short import print_results
from kara_core.report.table import find_records
from kara_core.report.verdict import DEMO_ADVICE, is_demo_folder, verdict
from tests.support.cli import REPO

GOOD = {"fd_ratio": 0.5, "spread": 1.0, "loop": 1.0, "prompt_sensitivity": 0.8,
        "pulse": 1.0, "level_db": -1.0, "own_song": 0.3, "diversity": 0.5, "silent": 0.0}
REAL_MUSIC = {"excerpts": 40, "seconds": 600.0, "excerpt_seconds": 10.0, "songs": 6,
              "held_out": True, "reference_seconds": 1260.0, "level_dbfs": -18.0}
DEMO_MUSIC = {**REAL_MUSIC, "songs": 1, "reference_seconds": 20.0}


def music(clips: list[dict[str, float]], yardstick: dict[str, object]) -> dict[str, object]:
    """A ``music`` record of these clips (medians over them, as the evaluation writes)."""
    names = clips[0].keys()
    median = {n: sorted(c[n] for c in clips)[len(clips) // 2] for n in names}
    return {"clips": clips, "summary": {"median": median, "worst": median},
            "real": {"summary": {"median": {**GOOD, "fd_ratio": 0.4}}}, "yardstick": yardstick}


def experiment(tmp_path: Path, yardstick: dict[str, object], base_clip: dict[str, float],
               ) -> Path:
    """Three variants, in config order base, smear, loud: ``base_clip`` is each of base's
    clips, smear's collapse, loud's are 20 dB too loud."""
    folder = tmp_path / "runs" / "demo"
    variants = {
        "base": [base_clip] * 3,
        "smear": [{**GOOD, "spread": 0.3, "loop": 0.2, "fd_ratio": 2.5}] * 3,
        "loud": [{**GOOD, "level_db": 20.0, "fd_ratio": 0.7}] * 3,
    }
    for number, (name, clips) in enumerate(variants.items()):
        records.update_metrics(folder / name, {
            "variant": name, "status": "ok", "music": music(clips, yardstick),
            "heldout": {"measure": "closed_loop_mse", "gain": 0.1 * number,
                        "baseline_kind": "persistence", "text": f"skill +{number / 10:.2f}"},
            "training": {"seconds": 100.0 + number}, "val_loss": 0.4})
    return folder


def write_order(folder: Path) -> None:
    """What ``kara run`` writes beside the variants: the listening index and their order."""
    variants = [SimpleNamespace(name=n, run_dir=folder / n) for n in ("base", "smear", "loud")]
    write_experiment_index(SimpleNamespace(name="demo", base=variants[0], variants=variants))


def shown(folder: Path, width: int = 100, every: bool = False) -> str:
    console = Console(file=io.StringIO(), width=width, color_system=None)
    print_results(find_records([folder]), console, every=every)
    text = console.file.getvalue()
    assert isinstance(text, str)
    return text


def test_the_verdict_names_the_variant_that_meets_the_targets_and_the_next(tmp_path):
    folder = experiment(tmp_path, REAL_MUSIC, GOOD)
    judged = verdict(find_records([folder]))
    assert judged.best == "base" and not judged.demo
    assert judged.text == "verdict: best: base — meets 7 of 7 targets; next: loud (6 of 7)"
    assert shown(folder).strip().splitlines()[-1] == judged.text


def test_on_real_music_a_verdict_without_a_winner_names_what_the_best_misses(tmp_path):
    folder = experiment(tmp_path, REAL_MUSIC, {**GOOD, "own_song": 0.9})
    text = verdict(find_records([folder])).text
    assert text.startswith("verdict: no variant meets every music target (best: ")
    assert "misses level_db" in text or "misses own_song" in text
    assert DEMO_ADVICE not in text


def test_the_demo_songs_are_named_as_why_no_variant_meets_the_targets(tmp_path):
    folder = experiment(tmp_path, DEMO_MUSIC, {**GOOD, "own_song": 0.9})
    out = " ".join(shown(folder).split())
    assert DEMO_ADVICE in out.split("verdict:")[1]
    assert verdict(find_records([folder])).demo
    assert is_demo_folder(REPO / "dataset" / "mp3")
    assert not is_demo_folder(tmp_path)


def test_the_short_table_fits_100_columns_marks_the_best_and_explains_every_row(tmp_path):
    folder = experiment(tmp_path, REAL_MUSIC, GOOD)
    write_order(folder)
    out = shown(folder)
    lines = out.splitlines()
    assert max(len(line) for line in lines) <= 100, out
    header = next(line for line in lines if "base" in line)
    assert header.split() == ["base", "smear", "loud", "real", "music"]  # config order
    rows = {line.split()[0]: line for line in lines
            if line.startswith(" ") and not line.startswith("  ") and line.split()}
    assert "0.50*" in rows["fd_ratio"] and "2.50*" not in rows["fd_ratio"]
    assert "100*" in rows["training"]  # the fastest
    assert "7/7*" in rows["targets"] and "3/7" in rows["targets"]
    labels = ["fd_ratio", "spread", "loop", "prompt sensitivity", "pulse", "level dB",
              "own song last 10 s", "targets met", "held out vs own baseline", "training s"]
    for label in labels:  # every row shown is explained below the table
        assert any(line.strip().startswith(label) for line in lines), label
        assert re.search(rf"^\s+{re.escape(label)}: \S", out, re.MULTILINE), label
    for word in ("sensitivity", "autocorrelation", "continuations", "Fréchet"):
        assert word in out  # wrapped between words, never inside one
    assert "target: median ≤ 0.8" in out
    assert "val loss" not in out and "round trip" not in out


def test_all_shows_every_measure(tmp_path):
    folder = experiment(tmp_path, REAL_MUSIC, GOOD)
    out = shown(folder, width=400, every=True)
    for header in ("diver", "silent", "round trip", "val", "mel", "(worst)", "run folder"):
        assert header in out, header
    assert out.strip().splitlines()[-1].startswith("verdict: best: base")


def test_json_carries_the_verdict(tmp_path, kara):
    folder = experiment(tmp_path, REAL_MUSIC, GOOD)
    result = kara("compare", str(folder), "--json")
    assert result.returncode == 0, result.stderr
    found = json.loads(result.stdout)["verdict"]
    assert found["best"] == "base" and found["text"].startswith("verdict: best: base")
    met = {v["variant"]: (v["targets_met"], v["targets"]) for v in found["variants"]}
    assert met == {"base": (7, 7), "loud": (6, 7), "smear": (3, 7)}
    assert found["demo_music"] is False


def test_compare_keeps_the_config_order_kara_run_wrote(tmp_path, kara):
    folder = experiment(tmp_path, REAL_MUSIC, GOOD)
    data = json.loads(kara("compare", str(folder), "--json").stdout)
    assert [v["variant"] for v in data["variants"]] == ["base", "loud", "smear"]  # no order
    write_order(folder)
    data = json.loads(kara("compare", str(folder), "--json").stdout)
    assert [v["variant"] for v in data["variants"]] == ["base", "smear", "loud"]
    csv_rows = kara("compare", str(folder), "--csv").stdout.splitlines()[1:]
    assert [row.split(",")[0] for row in csv_rows] == ["base", "smear", "loud"]
