"""One song's cached frames: computed once, written atomically, verified before use.

``<name>-<wav hash>.npy`` holds the transform's frames ``[T, D]`` (float32, or float16 with
``dataset.cache_dtype: float16``) and ``<name>-<wav hash>.json`` (written after it) records
the shape, dtype, byte size, mtime and SHA-256. A cache entry is trusted only when the
sidecar exists, the file has exactly that size, its header (read through
``np.load(mmap_mode="r")``) gives that shape and the expected dtype, and its SHA-256
matches, checked on every read whatever the file's mtime says (a byte rewritten in place,
its mtime kept, is caught: one pass at about 1 GB/s, see ``benchmarks/bench_verify.py``);
otherwise it is rebuilt, with one line saying why when the file was there but wrong.
Both writes go through :mod:`kara_core.storage.atomic`, so a killed run leaves the old
entry, no entry, or a temp file, never a half-written ``.npy`` under a trusted name.

A transform that declares ``context`` is computed block by block
(:mod:`kara_core.pipeline.featurize.blocks`): the wav is read a block at a time and the
frames are appended to the temporary ``.npy`` with plain writes (not a memory map, whose
written pages would stay in the process's resident set), hashed on the way; memory does
not grow with the song. Without ``context`` the whole song is read and transformed at once.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from kara_core.audio.wav import MonoReader
from kara_core.errors import KaraError
from kara_core.pipeline.featurize import blocks
from kara_core.storage import atomic

if TYPE_CHECKING:
    from kara_core.components import Transform


SAFE_NAME = re.compile(r"[^A-Za-z0-9_.-]+")


def safe_stem(path: Path) -> str:
    """A file-name-safe short form of a song's name, for readable cache files."""
    return SAFE_NAME.sub("_", Path(path).stem)[:40] or "song"


def entry_paths(directory: Path, wav: Path, wav_sha: str) -> tuple[Path, Path]:
    """The ``.npy`` and sidecar ``.json`` of one wav in ``directory``."""

    stem = f"{safe_stem(wav)}-{wav_sha[:16]}"
    return directory / f"{stem}.npy", directory / f"{stem}.json"


def check(
    npy: Path, sidecar: Path, frame_dim: int, dtype: str = "float32"
) -> tuple[dict[str, Any] | None, str | None]:
    """``(sidecar, None)`` for a trustworthy entry of ``dtype`` frames, else ``(None,
    problem)``: the problem is ``None`` when there simply is no entry yet, else what is
    wrong with the one there."""
    if not npy.exists():
        return None, None
    try:
        meta = json.loads(sidecar.read_text(encoding="utf-8"))
        shape = tuple(int(n) for n in meta["shape"])
        st = npy.stat()
        if st.st_size != int(meta["bytes"]):
            return None, f"{st.st_size} bytes instead of {meta['bytes']}"
        frames = np.load(npy, mmap_mode="r")
    except FileNotFoundError:
        return None, "its record is missing"
    except (OSError, ValueError, KeyError, TypeError, RecursionError) as exc:
        return None, f"unreadable ({type(exc).__name__})"
    if (frames.shape != shape or frames.dtype != np.dtype(dtype) or len(shape) != 2
            or meta.get("dtype") != dtype):
        return None, (f"holds {frames.dtype} {frames.shape}, its record says "
                      f"{meta.get('dtype')} {shape}, expected {dtype}")
    if shape[1] != frame_dim or shape[0] < 1:
        return None, f"frames of shape {shape}, expected [T, {frame_dim}]"
    digest = meta.get("sha256")
    if not isinstance(digest, str):
        return None, "written by an older Kara without a checksum"
    if _sha256(npy) != digest:  # every time: an mtime can be kept while a byte changes
        return None, "its content changed since it was written"
    return dict(meta), None


def _sha256(path: Path) -> str | None:
    """The file's SHA-256, or ``None`` when it cannot be read (then it is rebuilt)."""
    try:
        return atomic.sha256_of(path)
    except OSError:
        return None


def cached_frames(
    transform: Transform, wav: Path, directory: Path, wav_sha: str, sample_rate: int, *,
    reload: bool = False, dtype: str = "float32", block_frames: int | None = None,
) -> tuple[Path, int, int]:
    """``(npy path, frames, wav samples)`` of ``wav``, computing the entry when needed.

    :param dtype: what the frames are stored as: ``float32`` or ``float16``.
    :param block_frames: frames per block for a transform with ``context`` (default:
        :data:`~kara_core.pipeline.featurize.blocks.BLOCK_SECONDS` of audio).
    """
    npy, sidecar = entry_paths(directory, Path(wav), wav_sha)
    if not reload:
        meta, problem = check(npy, sidecar, transform.frame_dim, dtype)
        if meta is not None:
            return npy, int(meta["shape"][0]), int(meta["samples"])
        if problem is not None:
            from kara_core.console import print_warning

            print_warning(f"{npy}: {problem}; rebuilt")
    digest = hashlib.sha256()
    with MonoReader(Path(wav), sample_rate) as reader:
        n_samples = reader.length
        if n_samples == 0:
            raise KaraError(f"{wav}: the wav is empty")
        context = transform.context
        if context is None:  # the transform needs the whole song at once
            plan = [blocks.Block(0, 0, n_samples, 0, None)]
        else:
            count = block_frames or blocks.block_frames_for(transform, sample_rate)
            plan = blocks.plan(n_samples, transform.hop, context, count)
        # the last block first: it tells the number of frames the header must hold
        last = _frames(transform, wav, plan[-1], reader, dtype)
        shape = (plan[-1].first_frame + last.shape[0], transform.frame_dim)

        def parts() -> Iterator[np.ndarray]:
            for block in plan[:-1]:
                yield _frames(transform, wav, block, reader, dtype)
            yield last

        atomic.write_with(npy, lambda tmp: write_npy(tmp, shape, dtype, parts(), digest),
                          suffix=".npy")
    st = npy.stat()
    atomic.write_json(sidecar, {
        "wav": str(wav), "wav_sha256": wav_sha, "transform": transform.describe(),
        "shape": list(shape), "dtype": dtype, "bytes": st.st_size,
        "mtime_ns": st.st_mtime_ns, "sha256": digest.hexdigest(),
        "samples": n_samples,
    })
    return npy, shape[0], n_samples


def _frames(
    transform: Transform, wav: Path, block: blocks.Block, reader: MonoReader, dtype: str
) -> np.ndarray:
    """The frames of one block of ``wav`` as a contiguous ``dtype`` array, or a
    :class:`KaraError` naming the song: the transform failed, gave the wrong shape, NaN or
    infinite values, or values beyond what float16 can hold."""
    try:
        frames = blocks.block_frames(transform, block, reader.read)
    except (ValueError, RuntimeError, MemoryError) as exc:
        raise KaraError(f"{transform.describe()} failed on {wav}: {exc}") from None
    if frames.shape[1] != transform.frame_dim or frames.shape[0] < 1:
        raise KaraError(
            f"{transform.describe()} returned frames of shape {frames.shape} for {wav}; "
            f"expected [T, {transform.frame_dim}]"
        )
    if not np.isfinite(frames).all():
        raise KaraError(f"{transform.describe()} returned NaN or infinite values for {wav}")
    with np.errstate(over="ignore"):  # overflow to inf is caught just below
        stored = np.ascontiguousarray(frames, dtype=np.dtype(dtype))
    if stored.dtype != np.float32 and not np.isfinite(stored).all():
        peak = float(np.max(np.abs(frames)))
        raise KaraError(
            f"{transform.describe()} gives values up to {peak:.4g} for {wav}, beyond "
            f"{dtype}'s range ({float(np.finfo(stored.dtype).max):g}); set "
            "dataset.cache_dtype: float32"
        )
    return stored


def write_npy(
    path: Path, shape: tuple[int, int], dtype: str, parts: Iterable[np.ndarray],
    digest: Any = None,
) -> None:
    """A ``.npy`` of ``shape`` written from ``parts`` (row blocks, in order) with plain
    writes: the same bytes as ``np.save`` of their concatenation, without ever holding it.
    ``digest`` (a hashlib object) is fed every byte written."""
    header = {"descr": np.lib.format.dtype_to_descr(np.dtype(dtype)),
              "fortran_order": False, "shape": tuple(int(n) for n in shape)}
    head = io.BytesIO()
    np.lib.format.write_array_header_1_0(head, header)
    rows = 0
    with open(path, "wb") as handle:
        handle.write(head.getvalue())
        if digest is not None:
            digest.update(head.getvalue())
        for part in parts:
            data = np.ascontiguousarray(part, dtype=np.dtype(dtype))
            if data.ndim != 2 or data.shape[1] != shape[1]:
                raise KaraError(f"{path}: a block of shape {data.shape} for frames {shape}")
            handle.write(data.data)
            if digest is not None:
                digest.update(data.data)
            rows += data.shape[0]
    if rows != shape[0]:
        raise KaraError(f"{path}: {rows} frames written, {shape[0]} expected")


def read_chunks(
    npy: Path, start: int = 0, stop: int | None = None, rows: int = 4096
) -> Iterator[np.ndarray]:
    """Frames ``start`` to ``stop`` of a cached ``.npy``, ``rows`` at a time, read with
    plain reads (a memory map would keep every page it touched resident in this process:
    a pass over a long song's frames would cost its whole size in RSS)."""
    with open(npy, "rb") as handle:
        version = np.lib.format.read_magic(handle)
        read_header = (np.lib.format.read_array_header_1_0 if version == (1, 0)
                       else np.lib.format.read_array_header_2_0)
        shape, fortran, dtype = read_header(handle)
        if fortran or len(shape) != 2:
            raise KaraError(f"{npy}: not a C-ordered [T, D] array")
        offset = handle.tell()
        stop = shape[0] if stop is None else min(int(stop), shape[0])
        width = int(shape[1]) * dtype.itemsize
        for first in range(max(0, int(start)), stop, rows):
            count = min(rows, stop - first)
            handle.seek(offset + first * width)
            chunk = np.fromfile(handle, dtype=dtype, count=count * int(shape[1]))
            if chunk.shape[0] != count * int(shape[1]):
                raise KaraError(f"{npy}: ends before frame {stop}")
            yield chunk.reshape(count, int(shape[1]))
