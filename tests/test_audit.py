"""``kara audit``: round-trip scores per variant, plots, audio, JSON, no TensorFlow."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from kara_transforms.raw import RawTransform
from kara_transforms.stft import StftTransform

from kara_core.audio.spectral import MAX_DB
from kara_core.pipeline.audit import error_sensitivity, roundtrip_metrics
from kara_core.report.plots import ROUNDTRIP_PNGS
from kara_core.testing import music_like_signal
from tests.support.cli import REPO

RATE = 22050
JSON_KEYS = {
    "variant", "transform", "options", "snr_db", "si_sdr_db", "spectral_convergence", "lsd_db",
    "mrstft", "rtf", "lossless", "error_sensitivity_db", "tolerance_misses",
}


def test_roundtrip_metrics_of_an_exact_and_a_lossy_transform() -> None:
    wave = music_like_signal(2.0, RATE)
    exact = roundtrip_metrics(RawTransform(), wave, RATE)
    assert set(exact) == {"snr_db", "si_sdr_db", "spectral_convergence", "lsd_db", "mrstft", "rtf"}
    assert exact["snr_db"] == MAX_DB and exact["spectral_convergence"] == 0.0
    lossy = roundtrip_metrics(StftTransform(), wave, RATE)
    assert lossy["snr_db"] < 10.0  # phase is re-estimated: waveform SNR says little ...
    assert lossy["spectral_convergence"] < 0.1  # ... the spectrum says it is close
    assert 0.0 < lossy["rtf"] < 1.0


def test_error_sensitivity_shows_where_a_model_error_becomes_noise() -> None:
    wave = music_like_signal(3.0, RATE)
    scores = {}
    for transform in (RawTransform(), StftTransform()):
        frames = transform.forward(wave)
        clean = transform.inverse(frames, wave.shape[0])
        scores[transform.name] = error_sensitivity(transform, frames, clean, wave.shape[0])
    raw_snr, raw_lsd = scores["raw"]
    assert 18.0 < raw_snr < 25.0  # 20 dB of feature noise comes back at about 20 dB
    # In raw samples the error fills the quiet gaps with a noise floor; in log magnitudes
    # it only nudges levels that are already there.
    assert raw_lsd > 3 * scores["stft"][1]


@pytest.fixture(scope="module")
def song_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Two small mp3s encoded with lame, as a user's collection would hold."""
    if shutil.which("lame") is None:
        pytest.skip("lame is not installed")
    folder = tmp_path_factory.mktemp("songs")
    mp3s = folder / "mp3"
    (mp3s / "album").mkdir(parents=True)
    for name, seed in (("one", 1), ("album/two", 2)):
        wav = folder / f"{seed}.wav"
        sf.write(wav, music_like_signal(3.0, RATE, seed=seed), RATE, subtype="PCM_16")
        subprocess.run(
            ["lame", "--quiet", "-b", "128", str(wav), str(mp3s / f"{name}.mp3")], check=True
        )
    return folder


def run_audit_cli(config: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """``kara audit`` in a fresh interpreter that then reports whether TensorFlow loaded."""
    code = (
        "import sys\n"
        "from kara_core.cli import main\n"
        f"rc = main(['audit', {str(config)!r}, *{list(args)!r}])\n"
        "print('TF-LOADED' if 'tensorflow' in sys.modules else 'TF-ABSENT', file=sys.stderr)\n"
        "sys.exit(rc)\n"
    )
    return subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=300,
        env={"COLUMNS": "200", "PATH": "/usr/bin:/bin:/usr/local/bin"},
    )


def write_config(folder: Path, song_dir: Path) -> Path:
    config = folder / "kara.yaml"
    config.write_text(
        f"""name: audit
runs_dir: {folder / 'runs'}
dataset: {{mp3_dir: {song_dir / 'mp3'}, wav_dir: {folder / 'wav'}, sample_rate: {RATE}}}
transform: {{type: stft, options: {{n_iter: 4}}}}
variants:
  raw: {{transform: {{type: raw}}}}
  stft_complex: {{transform: {{type: stft, options: {{features: complex}}}}}}
  mel: {{transform: {{type: mel, options: {{n_mels: 64, n_iter: 4}}}}}}
  too_high: {{transform: {{type: mel, options: {{fmax: 16000}}}}}}
""",
        encoding="utf-8",
    )
    return config


def test_audit_json_plots_and_audio(tmp_path: Path, song_dir: Path) -> None:
    config = write_config(tmp_path, song_dir)
    audio = tmp_path / "listen"
    result = run_audit_cli(config, "--json", "--seconds", "2", "--write-audio", str(audio))
    assert result.returncode == 0, result.stderr
    assert "TF-ABSENT" in result.stderr
    # The broken variant is one line; the others go on.
    assert "too_high: mel transform: fmax 16000 Hz is above half the sample rate" in result.stderr
    rows = {row["variant"]: row for row in json.loads(result.stdout)["transforms"]}
    assert list(rows) == ["base", "raw", "stft_complex", "mel", "too_high"]
    for name in ("base", "raw", "stft_complex", "mel"):
        assert set(rows[name]) == JSON_KEYS
    assert rows["too_high"]["error"] and rows["too_high"]["snr_db"] is None
    assert rows["raw"]["lossless"] and rows["raw"]["snr_db"] == MAX_DB
    assert rows["stft_complex"]["lossless"] and rows["stft_complex"]["snr_db"] > 90.0
    assert not rows["base"]["lossless"] and rows["base"]["spectral_convergence"] < 0.2
    assert not rows["mel"]["lossless"] and rows["mel"]["spectral_convergence"] < 0.5
    assert rows["mel"]["options"]["n_mels"] == 64 and rows["mel"]["transform"] == "mel"
    assert all(rows[name]["tolerance_misses"] == [] for name in ("base", "raw", "mel"))

    for variant in ("base", "raw", "stft_complex", "mel"):
        for png in ROUNDTRIP_PNGS:
            path = tmp_path / "runs" / "audit" / variant / "audit" / png
            assert path.read_bytes().startswith(b"\x89PNG"), path
        for song in ("one", "album/two"):
            original, rate = sf.read(audio / variant / f"{song}.original.wav")
            roundtrip, _ = sf.read(audio / variant / f"{song}.roundtrip.wav")
            assert rate == RATE and original.shape == roundtrip.shape == (2 * RATE,)
    lossless, _ = sf.read(audio / "raw" / "one.roundtrip.wav", dtype="float32")
    original, _ = sf.read(audio / "raw" / "one.original.wav", dtype="float32")
    assert np.array_equal(lossless, original)


def test_audit_table_and_file_limit(tmp_path: Path, song_dir: Path) -> None:
    config = write_config(tmp_path, song_dir)
    audio = tmp_path / "listen"
    result = run_audit_cli(config, "--files", "1", "--seconds", "1", "--write-audio", str(audio))
    assert result.returncode == 0, result.stderr
    table = result.stdout
    for heading in ("SNR dB", "SI-SDR dB", "SC", "LSD dB", "MR-STFT", "RTF", "lossless"):
        assert heading in table
    raw_line = next(line for line in table.splitlines() if "raw 1024" in line)
    assert "exact" in raw_line and "yes" in raw_line
    assert "failed" in next(line for line in table.splitlines() if "too_high" in line)
    # songs are taken in source order: album/two.mp3 sorts first
    assert sorted(p.name for p in (audio / "raw").rglob("*.wav")) == [
        "two.original.wav", "two.roundtrip.wav"
    ]
    assert sf.info(str(audio / "raw" / "album" / "two.original.wav")).frames == RATE


def test_bad_arguments_are_one_line(tmp_path: Path, song_dir: Path) -> None:
    config = write_config(tmp_path, song_dir)
    result = run_audit_cli(config, "--files", "0")
    assert result.returncode == 2 and "expected at least 1" in result.stderr
    result = run_audit_cli(tmp_path / "missing.yaml")
    assert result.returncode == 2 and "missing.yaml: no such file" in result.stderr


SHORT_PLUGIN = """
from kara_core import hookimpl
from kara_transforms.raw import RawTransform


class ShortInverse(RawTransform):
    name = "short_inverse"

    def inverse(self, frames, length):
        return super().inverse(frames, length)[:-1]


class Float64(RawTransform):
    name = "float64_forward"

    def forward(self, wave):
        return super().forward(wave).astype("float64")


@hookimpl
def kara_register_transforms(register):
    register(ShortInverse)
    register(Float64)
"""


def test_a_transform_breaking_its_contract_is_one_line_and_the_audit_goes_on(
    tmp_path: Path, song_dir: Path
) -> None:
    site = tmp_path / "site"
    (site / "shortplug").mkdir(parents=True)
    (site / "shortplug" / "__init__.py").write_text(SHORT_PLUGIN)
    info = site / "shortplug-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: shortplug\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text("[kara]\nshortplug = shortplug\n")
    config = write_config(tmp_path, song_dir)
    config.write_text(config.read_text() + "  short: {transform: {type: short_inverse}}\n"
                      "  wide: {transform: {type: float64_forward}}\n")
    code = ("import sys\nsys.path.insert(0, sys.argv[1])\nfrom kara_core.cli import main\n"
            "sys.exit(main(['audit', sys.argv[2], '--json', '--seconds', '1']))\n")
    result = subprocess.run([sys.executable, "-c", code, str(site), str(config)], cwd=REPO,
                            capture_output=True, text=True, timeout=300,
                            env={"COLUMNS": "200", "PATH": "/usr/bin:/bin:/usr/local/bin"})
    assert result.returncode == 0, result.stderr
    assert "Traceback" not in result.stderr
    assert ("transform 'short_inverse' (plugin 'shortplug') broke its contract: inverse "
            "returned 22049 samples for a length of 22050") in result.stderr
    assert ("transform 'float64_forward' (plugin 'shortplug') broke its contract: forward "
            "returned float64 frames, not float32") in result.stderr
    rows = {row["variant"]: row for row in json.loads(result.stdout)["transforms"]}
    assert rows["short"]["error"] and rows["wide"]["error"]
    assert rows["raw"]["lossless"] and rows["raw"]["snr_db"] == MAX_DB  # the others went on


LOUD_PLUGIN = """
from kara_core.hookspecs import hookimpl
from kara_transforms.raw import RawTransform


class LoudInverse(RawTransform):
    name = "loud_inverse"

    def inverse(self, frames, length):
        return 4 * super().inverse(frames, length)  # broken on purpose


@hookimpl
def kara_register_transforms(register):
    register(LoudInverse)
"""


def test_a_round_trip_worse_than_silence_is_a_warning_and_exit_1(tmp_path: Path,
                                                                 song_dir: Path) -> None:
    from tests.support.cli import fake_distribution

    fake_distribution(tmp_path / "site", "loudplug", LOUD_PLUGIN)
    config = write_config(tmp_path, song_dir)
    config.write_text(config.read_text() + "  loud: {transform: {type: loud_inverse}}\n")
    code = ("import sys\nsys.path.insert(0, sys.argv[1])\nfrom kara_core.cli import main\n"
            "sys.exit(main(['audit', sys.argv[2], '--seconds', '1', '--variant', 'raw', "
            "'loud']))\n")
    result = subprocess.run([sys.executable, "-c", code, str(tmp_path / "site"), str(config)],
                            cwd=REPO, capture_output=True, text=True, timeout=300,
                            env={"COLUMNS": "200", "PATH": "/usr/bin:/bin:/usr/local/bin"})
    assert result.returncode == 1, result.stderr
    lines = [line for line in result.stderr.splitlines() if "worse than silence" in line]
    assert len(lines) == 2 and all(line.startswith("warning: loud:") for line in lines), lines
    assert "spectral convergence 3, worse than silence (1)" in lines[0]
    assert "raw" not in " ".join(lines).split(":", 2)[1]  # the lossless raw passes


def test_tolerance_misses_compare_with_the_declared_tolerance_and_silence() -> None:
    from kara_core.components import RoundTripTolerance
    from kara_core.pipeline.roundtrip import tolerance_misses

    lossy = RoundTripTolerance(max_spectral_convergence=0.2)
    assert tolerance_misses(lossy, [("a", {"spectral_convergence": 0.3, "snr_db": -3})]) == []
    [miss] = tolerance_misses(lossy, [("a", {"spectral_convergence": 0.5}),
                                      ("b", {"spectral_convergence": 0.45})])
    assert "median spectral convergence 0.475 over 2 song(s)" in miss
    exact = RoundTripTolerance(min_snr_db=100.0)
    assert tolerance_misses(exact, [("a", {"snr_db": 95.0, "spectral_convergence": 0.0})]) == []
    misses = tolerance_misses(exact, [("a", {"snr_db": -1.0, "spectral_convergence": 0.9})])
    assert misses[0] == "a: SNR -1.0 dB, worse than silence (0 dB)" and len(misses) == 2
