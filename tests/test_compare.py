"""``kara compare``: the comparison table from saved records, as a table, JSON or CSV."""

from __future__ import annotations

import csv
import io
import json
import subprocess
import sys
from pathlib import Path

from kara_core.report import records
from kara_core.report.table import fields, table_columns
from tests.support.cli import REPO

BASE = {
    "variant": "base", "status": "ok", "transform": "stft 1024/256", "model": "lstm_seq2seq",
    "train_loss": 0.3, "val_loss": 0.4123, "baselines": {"persistence": 0.5, "mean": 1.0},
    "skill": 0.1754, "roundtrip": {"snr_db": 93.25, "spectral_convergence": 2.5e-07},
    "generation": {"rtf": 0.0241}, "evaluation": {"mel_frechet": 12.345,
                                                            "silent_fraction": 0.125},
}
MEL_FAILED = {"variant": "mel", "status": "failed", "transform": "mel 128",
              "error": "model 'lstm_seq2seq' generated non-finite frames (NaN or inf)"}


def experiment(tmp_path: Path) -> Path:
    folder = tmp_path / "runs" / "demo"
    records.update_metrics(folder / "mel", MEL_FAILED)
    records.update_metrics(folder / "base", BASE)
    (folder / "not-a-run").mkdir()
    return folder


def test_table_from_an_experiment_folder_base_first(tmp_path, kara):
    folder = experiment(tmp_path)
    result = kara("compare", "--all", str(folder))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    for text in ("0.4123", "+0.175", "93.2", "2.5e-07", "0.024", "12.3", "stft 1024/256"):
        assert text in out, (text, out)
    rows = [line.split()[0] for line in out.splitlines() if line.strip()]
    assert rows.index("base") < rows.index("mel"), out
    assert "mel failed" in out and "non-finite frames" in out


def test_json_holds_the_records_and_the_table_values(tmp_path, kara):
    folder = experiment(tmp_path)
    result = kara("compare", str(folder / "base"), str(folder / "mel"), "--json")
    assert result.returncode == 0, result.stderr
    data = json.loads(result.stdout)
    base, mel = data["variants"]
    assert base["variant"] == "base" and base["run_dir"] == str(folder / "base")
    assert base["metrics"] == BASE
    assert base["summary"]["mel_frechet"] == 12.345
    assert "persistence_loss" not in base["summary"]  # the core names no plugin's baseline
    assert mel["status"] == "failed" and mel["summary"]["val_loss"] is None


def test_csv_has_one_row_per_variant_with_raw_numbers(tmp_path, kara):
    folder = experiment(tmp_path)
    result = kara("compare", str(folder), "--csv")
    assert result.returncode == 0, result.stderr
    rows = list(csv.DictReader(io.StringIO(result.stdout)))
    assert [r["variant"] for r in rows] == ["base", "mel"]
    shown = table_columns([])
    assert list(rows[0]) == fields(shown)  # a measure's worst clip and real music follow it
    assert [k for k in fields(shown) if not k.endswith(("_worst", "_real"))] == [
        c.key for c in shown] + ["status", "error"]
    assert float(rows[0]["roundtrip_snr_db"]) == 93.25
    assert float(rows[0]["mel_frechet"]) == 12.345
    assert rows[1]["val_loss"] == "" and rows[1]["status"] == "failed"


def test_a_folder_without_records_is_one_line(tmp_path, kara):
    folder = experiment(tmp_path)
    for path in (folder / "not-a-run", tmp_path / "missing"):
        result = kara("compare", str(path))
        assert result.returncode == 2
        assert str(path) in result.stderr and "Traceback" not in result.stderr
        assert len(result.stderr.strip().splitlines()) == 1


def test_compare_only_reads_records_never_tensorflow(tmp_path):
    folder = experiment(tmp_path)
    code = (
        "import sys; from kara_core.cli import main; rc = main(['compare', sys.argv[1]]);"
        "print('TF' if 'tensorflow' in sys.modules else 'NO-TF'); raise SystemExit(rc)"
    )
    result = subprocess.run([sys.executable, "-c", code, str(folder)], cwd=REPO,
                            capture_output=True, text=True, timeout=120, check=False)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().endswith("NO-TF")


def test_a_narrow_terminal_gets_the_table_turned_never_cut(tmp_path, kara):
    folder = experiment(tmp_path)
    result = kara("compare", "--all", str(folder), env={"COLUMNS": "80"})
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80
    assert "…" not in result.stdout
    header = next(line for line in lines if line.split()[:1] == ["variant"])
    assert header.split()[1:3] == ["base", "mel"]
    for text in ("0.4123", "+0.175", "93.2", "12.3", "mel Fréchet"):
        assert text in result.stdout, text


def test_json_never_holds_nan(tmp_path, kara):
    folder = tmp_path / "runs" / "x"
    records.update_metrics(folder / "base", {**BASE, "val_loss": float("nan"), "skill": None})
    result = kara("compare", str(folder), "--json")
    assert "NaN" not in result.stdout
    assert json.loads(result.stdout)["variants"][0]["metrics"]["val_loss"] is None


# --------------------------------------------------------------------- records Kara cannot read


def test_an_unreadable_record_is_marked_and_compare_exits_2(tmp_path, kara):
    folder = experiment(tmp_path)
    (folder / "lstm").mkdir()
    (folder / "lstm" / "metrics.json").write_text('{"variant": "lstm", "val_loss": 0.4')
    result = kara("compare", "--all", str(folder))
    assert result.returncode == 2, result.stderr
    assert "(unreadable)" in result.stdout and "0.4123" in result.stdout
    assert "lstm has an unreadable record:" in result.stdout
    assert "metrics.json: not valid JSON" in result.stdout
    data = json.loads(kara("compare", str(folder), "--json").stdout)
    lstm = next(v for v in data["variants"] if v["variant"] == "lstm")
    assert lstm["status"] == "unreadable" and "not valid JSON" in lstm["summary"]["error"]
    assert kara("compare", str(folder), "--csv").returncode == 2


def test_an_unreadable_metrics_json_is_moved_aside_never_overwritten(tmp_path, capsys):
    run = tmp_path / "run"
    run.mkdir()
    truncated = '{"variant": "base", "val_loss": 0.41, "baselines": {"persis'
    (run / "metrics.json").write_text(truncated)
    capsys.readouterr()
    merged = records.update_metrics(run, {"status": "ok"})
    assert merged == {"status": "ok"}
    assert (run / "metrics.json.damaged").read_text() == truncated
    err = capsys.readouterr().err
    assert "metrics.json: not valid JSON" in err and "moved to metrics.json.damaged" in err
    assert len(err.strip().splitlines()) == 1
    (run / "metrics.json").write_text("[" * 100_000 + "]" * 100_000)
    assert records.read_metrics(run) == {}
    assert records.read_metrics_checked(run)[1] == "nested too deeply"
    assert records.read_metrics(tmp_path / "a-file" / "nowhere") == {}


def test_names_are_printed_escaped_in_the_table_and_the_csv(tmp_path, kara):
    folder = tmp_path / "runs" / "x"
    records.update_metrics(folder / "base", {**BASE, "variant": "evil\x1b[2J",
                                             "transform": "stft\r\n1024"})
    table = kara("compare", "--all", str(folder))
    assert "\x1b" not in table.stdout and "\r" not in table.stdout
    assert "evil\\x1b[2J" in table.stdout
    short = kara("compare", str(folder)).stdout
    assert "\x1b" not in short and "\r" not in short and "evil\\x1b[2J" in short
    rows = list(csv.DictReader(io.StringIO(kara("compare", str(folder), "--csv").stdout)))
    assert rows[0]["variant"] == "evil\\x1b[2J" and rows[0]["transform"] == "stft\\x0d\\x0a1024"


def test_a_number_too_large_for_a_float_shows_as_missing(tmp_path):
    from rich.console import Console

    from kara_core.report.table import RunRecord, print_table, to_csv

    huge = RunRecord("base", tmp_path, {**BASE, "val_loss": 10**400,
                                         "evaluation": {"mel_frechet": -(10**301)}})
    console = Console(file=io.StringIO(), width=300)
    print_table([huge], console)
    text = console.file.getvalue()  # type: ignore[attr-defined]
    assert "9999" not in text and "—" in text and "+0.175" in text
    row = next(csv.DictReader(io.StringIO(to_csv([huge]))))
    assert row["val_loss"] == "" and row["mel_frechet"] == ""


# --------------------------------------------------------------------------- the model column


def model_runs(tmp_path: Path) -> Path:
    folder = tmp_path / "runs" / "demo"
    lstm = {"layers": 1, "units": 8, "input_frames": 8, "output_frames": 4}
    records.update_metrics(folder / "base", {**BASE, "model_options": lstm})
    records.update_metrics(folder / "wide", {**BASE, "variant": "wide",
                                             "model_options": {**lstm, "units": 16}})
    records.update_metrics(folder / "ar", {**BASE, "variant": "ar", "model": "ar",
                                           "model_options": {"order": 16}})
    return folder


def test_each_row_names_its_model_and_the_options_that_tell_rows_apart(tmp_path, kara):
    folder = model_runs(tmp_path)
    result = kara("compare", "--all", str(folder), env={"COLUMNS": "250"})
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines()
             if line.strip() and ("stft" in line or "model" in line)}
    assert "model" in lines["variant"]
    assert "lstm_seq2seq units=8" in lines["base"] and "lstm_seq2seq units=16" in lines["wide"]
    assert " ar " in lines["ar"] and "order" not in lines["ar"]
    rows = {r["variant"]: r for r in csv.DictReader(io.StringIO(
        kara("compare", str(folder), "--csv").stdout))}
    assert rows["ar"]["model"] == "ar" and rows["wide"]["model"] == "lstm_seq2seq units=16"
    assert fields(table_columns([]))[:3] == ["variant", "transform", "model"]
    data = json.loads(kara("compare", str(folder), "--json").stdout)
    assert [v["summary"]["model"] for v in data["variants"]] == [
        "lstm_seq2seq units=8", "ar", "lstm_seq2seq units=16"]


def test_the_model_column_stays_in_the_turned_table_of_a_narrow_terminal(tmp_path, kara):
    folder = model_runs(tmp_path)
    result = kara("compare", "--all", str(folder), env={"COLUMNS": "80"})
    lines = result.stdout.splitlines()
    assert max(len(line) for line in lines) <= 80 and "…" not in result.stdout
    row = next(line for line in lines if line.split()[:1] == ["model"])
    assert row.split()[1:] == ["lstm_seq2seq", "ar", "lstm_seq2seq"], result.stdout
    assert "units=8" in result.stdout and "units=16" in result.stdout
