"""The listening pages open from disk in a real browser: every player and picture loads.

Chromium (Debian's ``chromium`` package) loads a copy of each page with a small script
that records, for every <audio> and <img>, whether it loaded or failed; ``--dump-dom``
prints the result. Skipped, with a message, only where Chromium is not installed.
"""

from __future__ import annotations

import html
import json
import re
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

from kara_core.audio import write_wav
from kara_core.report import plots, records
from kara_core.report.html import INDEX_FILE, REPORT_FILE, index_html, write_variant_report
from kara_core.report.table import find_records
from kara_core.storage.atomic import write_text

CHROMIUM_NAMES = ("chromium", "chromium-browser", "google-chrome", "chrome")
RATE = 8000

CHECK_SCRIPT = """
<script>
(function(){
 var els=[].slice.call(document.querySelectorAll('audio,img'));
 var states=els.map(function(){return 'pending';});
 function done(){document.body.setAttribute('data-kara-check', JSON.stringify(
   els.map(function(e,i){return [e.tagName, e.getAttribute('src'), states[i]];})));}
 els.forEach(function(e,i){
  function ok(){states[i]='ok';done();}
  function bad(){states[i]='error';done();}
  if(e.tagName==='IMG'){
   if(e.complete){states[i]=e.naturalWidth>0?'ok':'error';}
   else {e.addEventListener('load',ok);e.addEventListener('error',bad);}
  } else {
   e.addEventListener('loadedmetadata',function(){states[i]=e.duration>0?'ok':'empty';done();});
   e.addEventListener('error',bad);
   e.load();
  }
 });
 done();
})();
</script>
"""


def chromium() -> str:
    for name in CHROMIUM_NAMES:
        found = shutil.which(name)
        if found:
            return found
    pytest.skip("Chromium is not installed (apt-get install chromium): cannot load the page")


def load_states(page: Path, tmp_path: Path) -> list[list[str]]:
    """Open a copy of ``page`` (same folder, so relative paths are the page's) in headless
    Chromium and return ``[tag, src, state]`` for every <audio> and <img>."""
    probe = page.with_name(page.stem + ".probe.html")
    text = page.read_text(encoding="utf-8")
    probe.write_text(text.replace("</body>", CHECK_SCRIPT + "</body>"), encoding="utf-8")
    profile = tmp_path / f"chromium-profile-{page.parent.name}-{page.stem}"
    result = subprocess.run(
        [chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic",
         "--no-first-run", "--disable-background-networking", "--disable-component-update",
         "--disable-sync", f"--user-data-dir={profile}", "--virtual-time-budget=8000",
         "--dump-dom", probe.resolve().as_uri()],
        capture_output=True, text=True, timeout=120, check=False,
    )
    probe.unlink()
    match = re.search(r'data-kara-check="([^"]*)"', result.stdout)
    assert match, f"chromium printed no result (exit {result.returncode}): {result.stderr[-500:]}"
    return json.loads(html.unescape(match.group(1)))


def tone(seconds: float, freq: float) -> np.ndarray:
    t = np.arange(int(seconds * RATE)) / RATE
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def make_run(folder: Path, variant: str, metrics: dict, with_loss: bool = True) -> Path:
    """A run folder as ``kara run`` leaves it: audio, plots, metrics.json."""
    run_dir = folder / variant
    waves = {"prompt": tone(1.0, 220), "round trip": tone(1.0, 221), "generated": tone(2, 330)}
    write_wav(run_dir / "prompt.wav", waves["prompt"], RATE)
    write_wav(run_dir / "roundtrip.wav", waves["round trip"], RATE)
    write_wav(run_dir / "generated.wav", waves["generated"], RATE)
    plots.plot_audio_spectrograms(waves, RATE, run_dir / "spectrograms.png", title=variant)
    plots.plot_drift([0.1, 0.2, 0.4], [0.1, 0.1, 0.12], run_dir / "drift.png", 0.032,
                     persistence=[0.3, 0.3, 0.3])
    if with_loss:
        plots.plot_loss({"loss": [1.0, 0.6], "val_loss": [1.1, 0.8]}, run_dir / "loss.png",
                        baselines={"persistence": 0.9})
    write_text(run_dir / "config.resolved.yaml", "variant: x\n")
    write_text(run_dir / "versions.json", "{}\n")
    records.update_metrics(run_dir, {"variant": variant, **metrics})
    write_variant_report(run_dir)
    return run_dir


METRICS = {
    "status": "ok", "transform": "stft 1024/256", "val_loss": 0.41,
    "baselines": {"persistence": 0.52, "mean": 1.0}, "skill": 0.21,
    "roundtrip": {"snr_db": 92.1, "spectral_convergence": 0.0001},
    "generation": {"rtf": 0.0241}, "evaluation": {"mel_frechet": 12.5,
                                                            "silent_fraction": 0.0},
}


def test_report_and_index_load_every_player_and_picture_from_disk(tmp_path):
    experiment = tmp_path / "runs" / "demo"
    make_run(experiment, "base", METRICS)
    make_run(experiment, "mel", {**METRICS, "transform": "mel 128"}, with_loss=False)
    write_text(experiment / INDEX_FILE,
               index_html("Kara: demo", experiment, find_records([experiment])))
    # moved elsewhere, the pages still work: every path is relative
    moved = tmp_path / "elsewhere" / "demo"
    shutil.copytree(experiment, moved)
    shutil.rmtree(experiment)

    states = load_states(moved / "base" / REPORT_FILE, tmp_path)
    audio = [s for s in states if s[0] == "AUDIO"]
    images = [s for s in states if s[0] == "IMG"]
    assert [s[1] for s in audio] == ["prompt.wav", "roundtrip.wav", "generated.wav"]
    assert {s[1] for s in images} == {"spectrograms.png", "loss.png", "drift.png"}
    assert all(s[2] == "ok" for s in states), states

    mel_states = load_states(moved / "mel" / REPORT_FILE, tmp_path)
    assert "loss.png" not in {s[1] for s in mel_states}, "no loss plot: no broken image"
    assert all(s[2] == "ok" for s in mel_states), mel_states

    index_states = load_states(moved / INDEX_FILE, tmp_path)
    assert len([s for s in index_states if s[0] == "AUDIO"]) == 6
    assert "base/generated.wav" in {s[1] for s in index_states}
    assert all(s[2] == "ok" for s in index_states), index_states
    page = (moved / INDEX_FILE).read_text(encoding="utf-8")
    assert 'href="base/report.html"' in page and 'href="mel/report.html"' in page
    assert str(tmp_path) not in page, "no absolute path may leak into the page"


def test_the_probe_sees_a_broken_player(tmp_path):
    """The check can fail: a missing wav and a corrupt png are reported as errors."""
    run_dir = make_run(tmp_path / "runs" / "demo", "base", METRICS)
    (run_dir / "generated.wav").unlink()
    (run_dir / "drift.png").write_bytes(b"not a png")
    text = (run_dir / REPORT_FILE).read_text(encoding="utf-8")  # written while both existed
    assert 'src="generated.wav"' in text
    states = {s[1]: s[2] for s in load_states(run_dir / REPORT_FILE, tmp_path)}
    assert states["generated.wav"] == "error"
    assert states["drift.png"] == "error"
    assert states["prompt.wav"] == "ok"


def test_everything_from_the_record_is_escaped(tmp_path):
    hostile = '<script>alert("x")</script> & <img src=x onerror=alert(1)>'
    run_dir = make_run(tmp_path / "runs" / "demo", "base",
                       {**METRICS, "status": "failed", "error": hostile, "transform": hostile})
    page = (run_dir / REPORT_FILE).read_text(encoding="utf-8")
    assert "<script>" not in page and "<img src=x" not in page
    assert html.escape(hostile) in page
    assert "failed" in page
