"""Training windows cut from memory-mapped songs and streamed to a model.

A window is ``input_frames`` context frames followed by ``output_frames`` frames to
predict, taken from one song every ``stride`` frames. Only an index of ``(song, start)``
pairs lives in memory; frames are read from the memory-mapped cache batch by batch and
normalised on the way, so memory does not grow with the collection. :class:`WindowSet`
is the :class:`kara_core.components.WindowSource` every model trains on.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np

DEFAULT_STRIDE_DIVISOR = 12
"""Without ``train.stride``, windows start every ``window // 12`` frames (4 for the default
40 + 10): neighbouring windows still overlap by more than 90%, so a denser stride mostly
repeats data and lengthens epochs without adding information."""


def default_stride(input_frames: int, output_frames: int) -> int:
    """The stride used when ``train.stride`` is not set."""
    return max(1, (int(input_frames) + int(output_frames)) // DEFAULT_STRIDE_DIVISOR)


class WindowSet:
    """Windows over several songs, read lazily from (memory-mapped) ``[T, D]`` arrays.

    :param songs: one frame array per song, un-normalised (``np.load(..., mmap_mode="r")``).
    :param mean: per-feature mean subtracted from every frame (``None``: 0).
    :param std: per-feature scale frames are divided by (``None``: 1).
    :param stride: frames between the starts of consecutive windows of a song.
    """

    def __init__(
        self, songs: Sequence[np.ndarray], input_frames: int, output_frames: int, stride: int,
        mean: np.ndarray | None = None, std: np.ndarray | None = None,
    ) -> None:
        if input_frames < 1 or output_frames < 1 or stride < 1:
            raise ValueError("input_frames, output_frames and stride must be at least 1")
        self.songs = list(songs)
        self.input_frames = int(input_frames)
        self.output_frames = int(output_frames)
        self.stride = int(stride)
        dims = {int(s.shape[1]) for s in self.songs if s.ndim == 2}
        if len(dims) > 1:
            raise ValueError(f"songs have different frame sizes: {sorted(dims)}")
        self.frame_dim = dims.pop() if dims else int(len(mean) if mean is not None else 0)
        self.mean = np.zeros(self.frame_dim, np.float32) if mean is None else (
            np.asarray(mean, np.float32))
        self.scale = np.ones(self.frame_dim, np.float32) if std is None else (
            (1.0 / np.asarray(std, np.float64)).astype(np.float32))
        self.index = self._build_index()

    @property
    def window(self) -> int:
        """Frames per window: context plus targets."""
        return self.input_frames + self.output_frames

    def _build_index(self) -> np.ndarray:
        parts = []
        for number, song in enumerate(self.songs):
            count = max(0, (int(song.shape[0]) - self.window) // self.stride + 1)
            if count:
                starts = np.arange(count, dtype=np.int64) * self.stride
                parts.append(np.stack([np.full(count, number, np.int64), starts], axis=1))
        if not parts:
            return np.zeros((0, 2), np.int64)
        return np.concatenate(parts)

    def __len__(self) -> int:
        return int(self.index.shape[0])

    def short_songs(self) -> int:
        """How many songs are too short to give a single window."""
        return sum(1 for song in self.songs if song.shape[0] < self.window)

    def load(self, index: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """The normalised windows at ``index`` rows: ``(inputs, targets)``."""
        index = np.asarray(index, dtype=np.int64).reshape(-1, 2)
        out = np.empty((index.shape[0], self.window, self.frame_dim), np.float32)
        for row, (song, start) in enumerate(index):
            out[row] = self.songs[song][start : start + self.window]
        out -= self.mean
        out *= self.scale
        return out[:, : self.input_frames], out[:, self.input_frames :]

    def batches(
        self, batch_size: int, shuffle: bool = False, seed: int = 0
    ) -> Iterator[tuple[np.ndarray, np.ndarray]]:
        """Numpy batches in index order (or a seeded shuffle); the last may be short."""
        order = np.arange(len(self))
        if shuffle:
            order = np.random.default_rng(seed).permutation(len(self))
        for first in range(0, len(self), max(1, int(batch_size))):
            yield self.load(self.index[order[first : first + batch_size]])

    def mean_frame(self) -> np.ndarray:
        """The mean normalised frame over every frame of every song (float64 sums)."""
        total = np.zeros(self.frame_dim, np.float64)
        count = 0
        for song in self.songs:
            for first in range(0, int(song.shape[0]), 4096):
                chunk = np.asarray(song[first : first + 4096], np.float64)
                total += chunk.sum(axis=0)
                count += chunk.shape[0]
        if count == 0:
            return np.zeros(self.frame_dim, np.float32)
        return ((total / count - self.mean) * self.scale).astype(np.float32)

    def dataset(
        self, batch_size: int, *, shuffle: bool = False, seed: int = 0, repeat: bool = False,
        shard: tuple[int, int] = (1, 0), skip_batches: int = 0,
    ) -> Any:
        """A ``tf.data.Dataset`` of ``(inputs, targets)`` batches; see
        :meth:`kara_core.components.WindowSource.dataset`. Only the ``[N, 2]`` index enters
        the graph; frames are gathered per batch from the memory maps and prefetched."""
        import tensorflow as tf

        count, position = shard
        index = self.index[position::count]
        if len(index) == 0:
            raise ValueError("no windows in this shard")
        table = tf.constant(index)

        def one_pass(number: Any) -> Any:
            rows = tf.range(tf.shape(table, out_type=tf.int64)[0])
            if shuffle:
                pass_seed = tf.stack([tf.constant(seed, tf.int64), tf.cast(number, tf.int64)])
                rows = tf.random.experimental.stateless_shuffle(rows, seed=pass_seed)
            return tf.data.Dataset.from_tensor_slices(tf.gather(table, rows))

        passes = tf.data.Dataset.range(1 << 62) if repeat else tf.data.Dataset.range(1)
        ds = passes.flat_map(one_pass).batch(batch_size, drop_remainder=repeat)
        if skip_batches:
            ds = ds.skip(skip_batches)
        shape_in = (None, self.input_frames, self.frame_dim)
        shape_out = (None, self.output_frames, self.frame_dim)

        def gather(rows: Any) -> Any:
            inputs, targets = tf.numpy_function(
                self.load, [rows], (tf.float32, tf.float32), stateful=False
            )
            inputs.set_shape(shape_in)
            targets.set_shape(shape_out)
            return inputs, targets

        ds = ds.map(gather, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.OFF
        )
        options.deterministic = True
        return ds.with_options(options).prefetch(tf.data.AUTOTUNE)

    # ------------------------------------------------------------------ random crops

    def crop_length(self, crop_frames: int) -> int:
        """The crop length actually used: ``crop_frames``, or the longest song when every
        song is shorter (0 when there are no frames at all)."""
        longest = max((int(s.shape[0]) for s in self.songs), default=0)
        return min(int(crop_frames), longest)

    def crop_batch(self, number: int, batch_size: int, crop_frames: int,
                   seed: int = 0) -> np.ndarray:
        """Batch ``number`` of the crop stream: ``[batch_size, crop, D]`` normalised frames,
        each a random crop of one song (song drawn with probability proportional to its
        number of crop starts, start uniform). A function of ``(seed, number)`` alone, so
        any batch can be made again, skipped or given to another worker."""
        crop = self.crop_length(crop_frames)
        which, firsts = self._crop_starts(number, batch_size, crop, seed)
        return self._read(which, firsts, crop)

    def crop_pair_batch(self, number: int, batch_size: int, crop_frames: int,
                        pair_frames: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """``(crops, pairs)``: :meth:`crop_batch`'s crops (the same frames for the same
        ``(seed, number)``) and, for each, ``pair`` normalised frames of the *same* song at
        a random other place, ``[batch_size, pair, D]`` with ``pair = min(pair_frames,
        crop)``. The pair does not overlap its crop wherever the song is long enough
        (``crop + pair`` frames), and starts anywhere in the song otherwise. Why: a model
        that reads the pair learns what the song sounds like as a whole, not what came just
        before the crop. Deterministic in ``(seed, number)``; reads only the two crops from
        the memory maps."""
        crop = self.crop_length(crop_frames)
        pair = min(int(pair_frames), crop)
        if pair < 1:
            raise ValueError("pair_frames must be at least 1")
        which, firsts = self._crop_starts(number, batch_size, crop, seed)
        pair_firsts = self._pair_starts(which, firsts, crop, pair, seed, number)
        return self._read(which, firsts, crop), self._read(which, pair_firsts, pair)

    def chain_batch(self, number: int, batch_size: int, crop_frames: int, chain_crops: int,
                    seed: int = 0, pair_frames: int = 0) -> dict[str, np.ndarray]:
        """Batch ``number`` of a stream of *chains*: batches ``c * chain_crops`` to
        ``(c + 1) * chain_crops - 1`` continue each other row by row, each row reading one
        song on, crop after crop (consecutive crops share one frame: the last target of
        one is the first input of the next). A model that carries its state from one
        batch to the next (truncated back-propagation through time) so sees contexts of
        ``chain_crops`` crops at the cost of one crop per step.

        Returns ``{"crops": [B, crop, D], "first": True on a chain's first batch}`` and,
        with ``pair_frames``, ``"pairs"`` as :meth:`crop_pair_batch` draws them (from the
        same song, not overlapping this crop where the song is long enough). Songs are
        drawn in proportion to the chain starts they hold; in a song shorter than a whole
        chain the last crops stay at its end. Deterministic in ``(seed, number)``."""
        crop = self.crop_length(crop_frames)
        chain = max(1, int(chain_crops))
        link = max(1, crop - 1)
        span = self.crop_length(link * (chain - 1) + crop)
        which, chain_firsts = self._crop_starts(int(number) // chain, batch_size, span, seed,
                                                stream=3)
        step = (int(number) % chain) * link
        firsts = np.array([min(int(first) + step, int(self.songs[song].shape[0]) - crop)
                           for song, first in zip(which, chain_firsts, strict=True)], np.int64)
        found = {"crops": self._read(which, firsts, crop),
                 "first": np.asarray(int(number) % chain == 0)}
        if pair_frames:
            pair = min(int(pair_frames), crop)
            found["pairs"] = self._read(
                which, self._pair_starts(which, firsts, crop, pair, seed, number), pair)
        return found

    def _pair_starts(self, which: np.ndarray, firsts: np.ndarray, crop: int, pair: int,
                     seed: int, number: int) -> np.ndarray:
        """For each crop (song ``which``, start ``firsts``), where its pair of ``pair``
        frames starts: uniform over the song's places that do not overlap the crop, or
        anywhere when there are none."""
        rng = np.random.default_rng([int(seed), int(number), 1])
        pair_firsts = np.empty_like(firsts)
        for row, (song, first) in enumerate(zip(which, firsts, strict=True)):
            length = int(self.songs[song].shape[0])
            before = max(0, int(first) - pair + 1)  # starts that end before the crop
            after = max(0, length - pair - (int(first) + crop) + 1)  # starts after it
            if before + after > 0:
                drawn = int(rng.integers(0, before + after))
                pair_firsts[row] = drawn if drawn < before else int(first) + crop + drawn - before
            else:
                pair_firsts[row] = int(rng.integers(0, length - pair + 1))
        return pair_firsts

    def _crop_starts(self, number: int, batch_size: int, crop: int, seed: int,
                     stream: int = 0) -> tuple[np.ndarray, np.ndarray]:
        """The songs and start frames of batch ``number``'s crops of ``crop`` frames
        (``stream`` > 0: an independent stream of draws for the same numbers)."""
        starts = np.array([max(0, int(s.shape[0]) - crop + 1) for s in self.songs], np.float64)
        if crop < 1 or starts.sum() == 0:
            raise ValueError("no song is long enough for a crop")
        key = [int(seed), int(number)] + ([int(stream)] if stream else [])
        rng = np.random.default_rng(key)
        which = rng.choice(len(self.songs), size=int(batch_size), p=starts / starts.sum())
        firsts = np.array([int(rng.integers(0, int(starts[song]))) for song in which], np.int64)
        return which, firsts

    def _read(self, which: np.ndarray, firsts: np.ndarray, length: int) -> np.ndarray:
        """Normalised frames ``[len(which), length, D]`` read from the memory maps."""
        out = np.empty((len(which), length, self.frame_dim), np.float32)
        for row, (song, first) in enumerate(zip(which, firsts, strict=True)):
            out[row] = self.songs[song][first : first + length]
        out -= self.mean
        out *= self.scale
        return out

    def crops(
        self, batch_size: int, crop_frames: int, *, seed: int = 0,
        shard: tuple[int, int] = (1, 0), skip_batches: int = 0, pair_frames: int = 0,
        chain_crops: int = 0,
    ) -> Any:
        """An endless ``tf.data.Dataset`` of random crops ``[batch_size, crop, D]`` (see
        :meth:`crop_batch`), read from the memory maps batch by batch and prefetched: memory
        does not depend on the collection's size. The stream is ``crop_batch(n)`` for
        ``n = skip_batches, skip_batches + 1, ...``; with ``shard=(count, index)`` this
        worker reads batch numbers ``n * count + index`` (disjoint across workers). With
        ``pair_frames``, each element is ``(crops, pairs)`` of :meth:`crop_pair_batch`; with
        ``chain_crops`` > 1, the dict of :meth:`chain_batch` (one input pipeline only: a
        chain is read in order)."""
        import tensorflow as tf

        count, index = (int(v) for v in shard)
        crop = self.crop_length(crop_frames)
        shape = (int(batch_size), crop, self.frame_dim)
        pair_shape = (int(batch_size), min(int(pair_frames), crop), self.frame_dim)

        if chain_crops > 1 and count > 1:
            raise ValueError("chains of crops are read by one input pipeline only")

        def load_chain(number: Any) -> Any:
            keys = ["crops", "first"] + (["pairs"] if pair_frames else [])
            values = tf.numpy_function(
                lambda n: tuple(self.chain_batch(int(n), batch_size, crop, chain_crops, seed,
                                                 pair_frames).values()),
                [number], [tf.float32, tf.bool] + ([tf.float32] if pair_frames else []),
                stateful=False)
            found = dict(zip(keys, values, strict=True))
            found["crops"].set_shape(shape)
            found["first"].set_shape(())
            if pair_frames:
                found["pairs"].set_shape(pair_shape)
            return found

        def load(number: Any) -> Any:
            if chain_crops > 1:
                return load_chain(number)
            if pair_frames:
                frames, pairs = tf.numpy_function(
                    lambda n: self.crop_pair_batch(int(n), batch_size, crop, pair_frames, seed),
                    [number], (tf.float32, tf.float32), stateful=False)
                frames.set_shape(shape)
                pairs.set_shape(pair_shape)
                return frames, pairs
            frames = tf.numpy_function(
                lambda n: self.crop_batch(int(n), batch_size, crop, seed), [number],
                tf.float32, stateful=False)
            frames.set_shape(shape)
            return frames

        numbers = tf.data.Dataset.range(int(skip_batches), 1 << 62)
        ds = numbers.map(lambda n: n * count + index).map(
            load, num_parallel_calls=tf.data.AUTOTUNE, deterministic=True)
        options = tf.data.Options()
        options.experimental_distribute.auto_shard_policy = (
            tf.data.experimental.AutoShardPolicy.OFF
        )
        options.deterministic = True
        return ds.with_options(options).prefetch(tf.data.AUTOTUNE)
