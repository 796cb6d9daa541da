"""What verifying the feature cache on every read costs (issue 22): seconds per hour of music.

Kara checks each cached ``.npy`` against the SHA-256 recorded when it was written, on every
read, whatever its mtime says (:func:`kara_core.pipeline.featurize.cache.check`). This
prepares and featurizes a music folder (default: the demo songs in ``dataset/mp3``) with
the transforms of the default kara.yaml (mel, and the STFT variant's), in a scratch folder
outside the repository, then times:

* the whole check of every entry (size, header, SHA-256), page cache warm (a second run
  right after the first: the usual case) and cold (``--cold``: the page cache is dropped
  first, which needs root);
* the hash functions one could use on the same bytes: SHA-256 (what Kara uses), BLAKE2b,
  CRC-32, MD5.

It prints seconds per GB and per hour of music, and the extrapolation to ten hours, and
writes ``benchmarks/results/verify.json``.

    .venv/bin/python benchmarks/bench_verify.py /path/to/music --work /tmp/kara-verify
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
import zlib
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
TRANSFORMS = {
    "mel": {"type": "mel", "options": {"n_mels": 128}},
    "stft": {"type": "stft", "options": {"n_fft": 1024, "hop": 256,
                                         "features": "log_magnitude"}},
}


def write_config(work: Path, music: Path, name: str, transform: dict[str, Any]) -> Path:
    config = work / f"{name}.yaml"
    config.write_text(json.dumps({
        "name": name, "runs_dir": str(work / "runs"),
        "dataset": {"mp3_dir": str(music), "wav_dir": str(work / "wav"),
                    "cache_dir": str(work / "cache"), "sample_rate": 22050, "channels": 1},
        "decoder": {"type": "lame", "fallback": "soundfile"},
        "transform": transform, "model": {"type": "persistence"},
    }), encoding="utf-8")
    return config


def featurized(config: Path) -> Any:
    """The variant's features (prepared and cached first, in this process)."""
    from kara_core.config import load_config
    from kara_core.pipeline.parts import DatasetCache
    from kara_core.plugins import get_plugin_manager
    from kara_core.storage.locks import release_in_use

    variant = load_config(config, get_plugin_manager().registry).base
    try:
        return DatasetCache().features(variant, reload=False, show_progress=False)
    finally:
        release_in_use()


def time_check(features: Any, dtype: str = "float32") -> tuple[float, int]:
    """Seconds to check every cache entry as featurize does, and the bytes checked."""
    from kara_core.pipeline.featurize.cache import check

    songs = [*features.train, *features.val]
    seen = {s.npy for s in songs}
    started = time.perf_counter()
    total = 0
    for npy in seen:
        meta, problem = check(npy, npy.with_suffix(".json"), features.frame_dim, dtype)
        if meta is None:
            raise SystemExit(f"{npy}: {problem}")
        total += int(meta["bytes"])
    return time.perf_counter() - started, total


def time_hashes(files: list[Path]) -> dict[str, float]:
    """Seconds each hash takes over ``files`` (read in 1 MiB blocks, page cache warm)."""
    def run(update: Any) -> float:
        started = time.perf_counter()
        for path in files:
            with open(path, "rb") as handle:
                for block in iter(lambda h=handle: h.read(1 << 20), b""):
                    update(block)
        return time.perf_counter() - started

    found = {}
    for name in ("sha256", "blake2b", "md5"):
        digest = hashlib.new(name)
        found[name] = run(digest.update)
    crc = [0]

    def crc32(block: bytes) -> None:
        crc[0] = zlib.crc32(block, crc[0])

    found["crc32"] = run(crc32)
    return found


def drop_page_cache() -> bool:
    try:
        subprocess.run(["sync"], check=True)
        Path("/proc/sys/vm/drop_caches").write_text("3\n")
        return True
    except OSError:
        return False


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("music", nargs="?", default=str(REPO / "dataset" / "mp3"))
    parser.add_argument("--work", help="scratch folder (default: a new temporary one)")
    parser.add_argument("--cold", action="store_true", help="also time with the page cache "
                        "dropped (needs root)")
    args = parser.parse_args(argv)
    music = Path(args.music).resolve()
    work = Path(args.work or tempfile.mkdtemp(prefix="kara-verify-")).resolve()
    work.mkdir(parents=True, exist_ok=True)
    results: dict[str, Any] = {"music": str(music.name), "machine": platform.processor()
                               or platform.machine(), "cpus": os.cpu_count()}
    for name, transform in TRANSFORMS.items():
        features = featurized(write_config(work, music, name, transform))
        hours = sum(s.n_samples for s in {s.npy: s for s in
                                          [*features.train, *features.val]}.values())
        hours = hours / 22050 / 3600
        warm, nbytes = time_check(features)
        warm, nbytes = time_check(features)  # the first may have read from disk
        row: dict[str, Any] = {
            "hours_of_music": round(hours, 3), "cache_bytes": nbytes,
            "gb_per_hour": round(nbytes / 1e9 / hours, 3),
            "check_warm_s": round(warm, 3),
            "check_s_per_gb": round(warm / (nbytes / 1e9), 3),
            "check_s_per_hour_of_music": round(warm / hours, 3),
            "check_s_for_10_hours": round(warm / hours * 10, 1),
        }
        files = sorted({s.npy for s in [*features.train, *features.val]})
        row["hash_s_per_gb"] = {k: round(v / (nbytes / 1e9), 3)
                                for k, v in time_hashes(files).items()}
        if args.cold and drop_page_cache():
            cold, _ = time_check(features)
            row["check_cold_s_per_gb"] = round(cold / (nbytes / 1e9), 3)
            row["check_cold_s_for_10_hours"] = round(cold / hours * 10, 1)
        results[name] = row
        print(f"{name}: {hours:.2f} h of music, {nbytes / 1e9:.3f} GB of cache "
              f"({row['gb_per_hour']} GB/h): check {warm:.2f} s warm = "
              f"{row['check_s_per_gb']} s/GB, {row['check_s_for_10_hours']} s for 10 h; "
              f"hashes s/GB {row['hash_s_per_gb']}"
              + (f"; cold {row['check_cold_s_per_gb']} s/GB" if "check_cold_s_per_gb" in row
                 else ""), flush=True)
    out = REPO / "benchmarks" / "results" / "verify.json"
    out.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
    print(f"written: {out.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
