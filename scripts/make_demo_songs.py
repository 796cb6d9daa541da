#!/usr/bin/env python3
"""Synthesise Kara's demo songs and encode them with lame into ``dataset/mp3/``.

The bundled dataset must be music, not sine beeps, and small: four songs of about 20 s,
each with a lead melody, a chord pad, a bass line and drums, every note shaped by an
envelope, over a repeating structure (A A B A, a four-chord progression per section), so
a sequence model has something to learn. Each song has its own key, mode, tempo,
instruments and drum pattern; everything is deterministic from the song's seed, so
rerunning the script rebuilds the same audio (and, with the same lame, the same bytes).

    python scripts/make_demo_songs.py                 # rewrite dataset/mp3/*.mp3
    python scripts/make_demo_songs.py --out /tmp/x --seconds 60 --rate 44100 --channels 2

The synthesis functions are reused by ``benchmarks/bench_prepare.py``. Needs numpy, scipy
and the ``lame`` program.
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parent.parent
MAJOR = (0, 2, 4, 5, 7, 9, 11)
MINOR = (0, 2, 3, 5, 7, 8, 10)


@dataclass(frozen=True)
class SongSpec:
    """What makes one demo song different from the others."""

    slug: str
    title: str
    seed: int
    root: int  # MIDI note of the key's tonic (around middle C)
    mode: tuple[int, ...]
    bpm: float
    progression: tuple[int, ...]  # scale degrees (0-based), one chord per bar
    bridge: tuple[int, ...]  # the B section's progression
    lead: str  # timbre of the melody
    pad: str  # timbre of the chords
    drums: str  # pattern name
    swing: float = 0.0


SONGS: tuple[SongSpec, ...] = (
    SongSpec("01-sunrise-walk", "Sunrise Walk", 11, 60, MAJOR, 112.0,
             (0, 4, 5, 3), (3, 4, 0, 4), lead="saw", pad="organ", drums="rock"),
    SongSpec("02-night-drive", "Night Drive", 22, 57, MINOR, 96.0,
             (0, 5, 2, 6), (3, 5, 6, 4), lead="square", pad="strings", drums="halftime"),
    SongSpec("03-bright-steps", "Bright Steps", 33, 62, MAJOR, 132.0,
             (0, 3, 4, 4), (5, 3, 0, 4), lead="bell", pad="organ", drums="four"),
    SongSpec("04-slow-tide", "Slow Tide", 44, 52, MINOR, 84.0,
             (0, 3, 6, 4), (5, 6, 0, 4), lead="flute", pad="strings", drums="shuffle",
             swing=0.33),
)


def midi_hz(note: float) -> float:
    """Frequency of a MIDI note number (A4 = 69 = 440 Hz)."""
    return float(440.0 * 2.0 ** ((note - 69.0) / 12.0))


def envelope(n: int, rate: int, attack: float, decay: float, sustain: float,
             release: float) -> np.ndarray:
    """An ADSR envelope of ``n`` samples; the release happens inside the note's length."""
    t = np.arange(n, dtype=np.float32) / rate
    env = np.full(n, sustain, dtype=np.float32)
    a = t < attack
    env[a] = t[a] / max(attack, 1e-4)
    d = (t >= attack) & (t < attack + decay)
    env[d] = 1.0 - (1.0 - sustain) * (t[d] - attack) / max(decay, 1e-4)
    rel_start = max(n / rate - release, 0.0)
    r = t >= rel_start
    env[r] *= np.clip(1.0 - (t[r] - rel_start) / max(release, 1e-4), 0.0, 1.0)
    return env


def tone(freq: float, n: int, rate: int, timbre: str, rng: np.random.Generator) -> np.ndarray:
    """One note of ``n`` samples (no envelope) in the named timbre, band-limited."""
    t = np.arange(n, dtype=np.float64) / rate
    vibrato = np.zeros(n)
    if timbre in ("saw", "square", "flute"):
        vibrato = 0.004 * np.sin(2 * np.pi * 5.2 * t) * np.clip(t / 0.3, 0, 1)
    phase = 2 * np.pi * np.cumsum(freq * (1.0 + vibrato)) / rate
    nyquist = rate / 2.0
    if timbre == "bell":  # FM bell: bright attack that mellows
        index = 2.5 * np.exp(-t * 6.0)
        return np.sin(phase + index * np.sin(3.5 * phase)).astype(np.float32)
    if timbre == "flute":
        out = np.sin(phase) + 0.25 * np.sin(2 * phase) + 0.08 * np.sin(3 * phase)
        breath = rng.standard_normal(n) * 0.03
        return (out + breath).astype(np.float32)
    weights: dict[int, float]
    if timbre == "saw":
        weights = {k: 1.0 / k for k in range(1, 24)}
    elif timbre == "square":
        weights = {k: 1.0 / k for k in range(1, 24, 2)}
    elif timbre == "organ":
        weights = {1: 1.0, 2: 0.5, 3: 0.3, 4: 0.2, 6: 0.1}
    elif timbre == "strings":
        weights = {k: 0.8 / k**1.3 for k in range(1, 12)}
    elif timbre == "bass":
        weights = {1: 1.0, 2: 0.45, 3: 0.2, 4: 0.08}
    else:
        raise ValueError(f"unknown timbre {timbre!r}")
    out = np.zeros(n, dtype=np.float64)
    for k, w in weights.items():
        if k * freq < nyquist * 0.95:
            out += w * np.sin(k * phase + 0.3 * k)
    return (out / sum(weights.values()) * 1.6).astype(np.float32)


def drum(kind: str, rate: int, rng: np.random.Generator) -> np.ndarray:
    """One drum hit: kick (pitch sweep), snare (noise and body) or hat (short noise)."""
    if kind == "kick":
        n = int(0.35 * rate)
        t = np.arange(n) / rate
        freq = 45.0 + 90.0 * np.exp(-t * 25.0)
        body = np.sin(2 * np.pi * np.cumsum(freq) / rate) * np.exp(-t * 9.0)
        click = rng.standard_normal(n) * np.exp(-t * 300.0) * 0.3
        return (body + click).astype(np.float32)
    if kind == "snare":
        n = int(0.2 * rate)
        t = np.arange(n) / rate
        noise = np.diff(rng.standard_normal(n + 1)) * 0.5 * np.exp(-t * 22.0)
        body = np.sin(2 * np.pi * 185.0 * t) * np.exp(-t * 30.0)
        return (0.8 * noise + 0.6 * body).astype(np.float32)
    if kind == "hat":
        n = int(0.06 * rate)
        t = np.arange(n) / rate
        noise = np.diff(np.diff(rng.standard_normal(n + 2))) * 0.25
        return (noise * np.exp(-t * 70.0)).astype(np.float32)
    raise ValueError(f"unknown drum {kind!r}")


DRUM_PATTERNS: dict[str, dict[str, tuple[float, ...]]] = {
    # positions in beats within one 4-beat bar
    "rock": {"kick": (0, 2, 2.5), "snare": (1, 3), "hat": (0, .5, 1, 1.5, 2, 2.5, 3, 3.5)},
    "halftime": {"kick": (0, 1.75), "snare": (2,), "hat": (0, 1, 2, 3, 3.5)},
    "four": {"kick": (0, 1, 2, 3), "snare": (1, 3), "hat": (.5, 1.5, 2.5, 3.5)},
    "shuffle": {"kick": (0, 2.67), "snare": (1, 3), "hat": (0, .67, 1, 1.67, 2, 2.67, 3, 3.67)},
}


class Mixer:
    """A float32 stereo bus that notes are added into at sample positions."""

    def __init__(self, n: int, rate: int) -> None:
        self.rate = rate
        self.bus = np.zeros((n, 2), dtype=np.float32)

    def add(self, start_s: float, sound: np.ndarray, gain: float, pan: float = 0.0) -> None:
        """Add ``sound`` at ``start_s`` seconds; ``pan`` from -1 (left) to 1 (right)."""
        start = round(start_s * self.rate)
        if start >= len(self.bus):
            return
        end = min(start + len(sound), len(self.bus))
        piece = sound[: end - start] * gain
        self.bus[start:end, 0] += piece * np.float32(np.sqrt((1.0 - pan) / 2.0))
        self.bus[start:end, 1] += piece * np.float32(np.sqrt((1.0 + pan) / 2.0))


def _scale_note(spec: SongSpec, degree: int, octave: int = 0) -> int:
    steps = len(spec.mode)
    return spec.root + 12 * (octave + degree // steps) + spec.mode[degree % steps]


def _chord(spec: SongSpec, degree: int) -> list[int]:
    return [_scale_note(spec, degree + i) for i in (0, 2, 4)]


def _motif(spec: SongSpec, rng: np.random.Generator, chords: Sequence[int]) -> list[tuple]:
    """A melody over ``chords`` (one per bar): (start beat, length in beats, scale degree)."""
    notes: list[tuple[float, float, int]] = []
    degree = 7 + int(chords[0])
    for bar, chord in enumerate(chords):
        beat = 0.0
        while beat < 4.0:
            length = float(rng.choice([0.5, 0.5, 1.0, 1.0, 1.5, 2.0]))
            length = min(length, 4.0 - beat)
            if beat in (0.0, 2.0):  # strong beats land on chord tones
                target = 7 + chord + int(rng.choice([0, 2, 4]))
                degree = target if abs(target - degree) <= 4 else target - 7
            else:
                degree += int(rng.choice([-2, -1, -1, 1, 1, 2]))
            degree = int(np.clip(degree, 3, 13))
            if rng.random() > 0.12:
                notes.append((bar * 4.0 + beat, length, degree))
            beat += length
    return notes


def synth_song(spec: SongSpec, seconds: float = 20.0, rate: int = 22050,
               channels: int = 1) -> np.ndarray:
    """The song as float32 ``[n, channels]``, peak -1 dBFS, faded in and out."""
    rng = np.random.default_rng(spec.seed)
    beat_s = 60.0 / spec.bpm
    bar_s = 4.0 * beat_s
    n = int(seconds * rate)
    mix = Mixer(n, rate)
    sections = "AABA"
    motifs = {
        "A": _motif(spec, rng, spec.progression),
        "B": _motif(spec, rng, spec.bridge),
    }
    n_bars = int(np.ceil(seconds / bar_s))
    hits = {kind: drum(kind, rate, rng) for kind in ("kick", "snare", "hat")}
    pattern = DRUM_PATTERNS[spec.drums]

    def swung(beat: float) -> float:
        frac = beat % 1.0
        return beat + (spec.swing * 0.5 if abs(frac - 0.5) < 1e-6 else 0.0)

    for bar in range(n_bars):
        section = sections[(bar // 4) % len(sections)]
        progression = spec.progression if section == "A" else spec.bridge
        degree = progression[bar % 4]
        t0 = bar * bar_s
        # chord pad: the whole bar, slow attack
        pad_n = int(bar_s * rate)
        pad_env = envelope(pad_n, rate, 0.25, 0.4, 0.7, 0.35)
        for i, note in enumerate(_chord(spec, degree)):
            wave = tone(midi_hz(note), pad_n, rate, spec.pad, rng) * pad_env
            mix.add(t0, wave, 0.11, pan=(-0.4, 0.0, 0.4)[i])
        # bass: root on each beat (octave jump on the last one)
        for step in range(4):
            note = _scale_note(spec, degree, octave=-2) + (12 if step == 3 else 0)
            bn = int(beat_s * 0.9 * rate)
            wave = tone(midi_hz(note), bn, rate, "bass", rng)
            mix.add(t0 + swung(step) * beat_s, wave * envelope(bn, rate, .01, .15, .6, .08), 0.32)
        # drums (a fill on the last bar of each section)
        for kind, beats in pattern.items():
            for beat in beats:
                gain = {"kick": 0.55, "snare": 0.4, "hat": 0.22}[kind]
                mix.add(t0 + swung(beat) * beat_s, hits[kind], gain * (0.9 + 0.2 * rng.random()),
                        pan=0.3 if kind == "hat" else 0.0)
        if bar % 4 == 3:
            for fill in (3.25, 3.5, 3.75):
                mix.add(t0 + fill * beat_s, hits["snare"], 0.25)
        # lead melody: the section's motif, bar by bar
        for start, length, deg in motifs[section]:
            if int(start // 4) != bar % 4:
                continue
            ln = int(length * beat_s * rate)
            note = _scale_note(spec, deg)
            wave = tone(midi_hz(note), ln, rate, spec.lead, rng)
            wave *= envelope(ln, rate, 0.015, 0.12, 0.65, min(0.12, length * beat_s / 3))
            mix.add(t0 + swung(start % 4) * beat_s, wave, 0.2, pan=-0.2)

    bus = mix.bus
    fade = min(int(1.0 * rate), n // 4)
    bus[:fade // 10] *= np.linspace(0, 1, fade // 10, dtype=np.float32)[:, None]
    bus[n - fade:] *= np.linspace(1, 0, fade, dtype=np.float32)[:, None]
    bus *= np.float32(0.89 / max(float(np.abs(bus).max()), 1e-9))
    if channels == 1:
        return np.ascontiguousarray(bus.mean(axis=1, dtype=np.float32)[:, None])
    return bus


def encode_mp3(samples: np.ndarray, rate: int, dest: Path, title: str,
               lame_args: Sequence[str] = ("-V", "5")) -> None:
    """Encode float32 ``[n, channels]`` to ``dest`` with the lame program (via a temp wav)."""
    import soundfile as sf

    exe = shutil.which("lame")
    if exe is None:
        raise SystemExit("make_demo_songs: the lame program is needed (apt-get install lame)")
    dest.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="kara-demo-") as tmp:
        wav = Path(tmp) / "song.wav"
        sf.write(wav, samples, rate, subtype="PCM_16")
        part = Path(tmp) / "song.mp3"
        subprocess.run(
            [exe, "--quiet", *lame_args, "--tt", title, "--ta", "Kara demo",
             "--tl", "Kara demo songs", str(wav), str(part)],
            check=True,
        )
        shutil.move(str(part), dest)


def main(argv: Sequence[str] | None = None) -> int:
    """Write every song in :data:`SONGS` as ``<out>/<slug>.mp3``."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=REPO / "dataset" / "mp3")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--rate", type=int, default=22050)
    parser.add_argument("--channels", type=int, choices=(1, 2), default=1)
    parser.add_argument("--lame-args", default="-V 5", help="encoder options (default: -V 5)")
    args = parser.parse_args(argv)
    total = 0
    for spec in SONGS:
        samples = synth_song(spec, args.seconds, args.rate, args.channels)
        dest = args.out / f"{spec.slug}.mp3"
        encode_mp3(samples, args.rate, dest, spec.title, args.lame_args.split())
        size = dest.stat().st_size
        total += size
        print(f"{dest}: {spec.title}, {spec.bpm:g} bpm, {len(samples) / args.rate:.1f} s, "
              f"{size / 1024:.0f} KiB")
    print(f"{len(SONGS)} songs, {total / 1024:.0f} KiB in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
