"""Options of ``lstm_lm`` (``model.options`` in kara.yaml): what each one changes, and
which of them shape the weights (:data:`ARCHITECTURE`, the model's signature)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

ARCHITECTURE = ("layers", "units", "head", "components", "codes", "residual", "noise_basis")
"""Options that shape the weights; ``style_frames``, the song vector's ``song_dims`` and
``song_frames`` and the recall's ``recall_frames`` and ``recall_dims`` join them only when
on, so weights saved before they existed still load."""


@dataclass(frozen=True)
class LmOptions:
    """Options of ``lstm_lm`` (``model.options`` in kara.yaml).

    :ivar head: ``mixture`` (K diagonal Gaussians, sampled), ``tokens`` (k-means codebook
        and softmax, sampled) or ``mse`` (regression).
    :ivar components: Gaussians of the ``mixture`` head.
    :ivar codes: codebook size of the ``tokens`` head.
    :ivar top_p: nucleus of the ``tokens`` head's sampling (1 keeps every code).
    :ivar token_noise: the ``tokens`` head emits its code's centroid plus Gaussian noise of
        the code's own spread times this (and the temperature); 0 emits exact centroids.
    :ivar residual: what the head's means are relative to (see :mod:`kara_lstm.lm.network`).
    :ivar noise_basis: the directions the ``mixture`` head's Gaussians are diagonal in:
        ``features`` (each mel band or bin on its own) or ``changes`` (the principal
        directions of how training frames change from one to the next).
    :ivar noise_scale: the ``mixture`` head's sampled Gaussian noise times this (and the
        temperature); 0 draws only the component, whose mean is the frame. Sampling only:
        no retraining, not part of the weights' signature.
    :ivar quiet_directions: the ``mixture`` head samples no noise along the first this many
        directions of its noise basis (with ``noise_basis: changes``, where frames change
        most: the onsets stay as sharp as the component's mean). Sampling only.
    :ivar recall_frames: 0 (off), or the head also reads the frames that followed the
        earlier moments (within this many frames) most like now, found by attention
        (:mod:`kara_lstm.lm.recall`): the continuation can keep its prompt's sounds and the
        spacing of their attacks.
    :ivar recall_dims: size of the recall attention's queries and keys.
    :ivar recall_song: recall from ``song_frames`` frames of the same song elsewhere (the
        prompt in generation), in reach for the whole continuation; with ``recall_frames:
        0``, from them alone (generation never recalls its own frames).
    :ivar recall_draw: generation at a temperature above 0 draws one recalled frame from
        the attention's weights instead of taking their weighted mean (sharper attacks).
        Sampling only: not part of the weights' signature.
    :ivar recall_follow: with ``recall_draw`` and ``recall_song``, the chance that each step
        recalls the moment after the one it recalled last step instead of drawing a new one
        (:mod:`kara_lstm.lm.replay`): the prompt's moments come back in their order, with
        the spacing of their attacks. Sampling only.
    :ivar recall_beat: 0 (off), or the longest beat period looked for in the prompt, in
        frames (172: 2 s at hop 256); the shortest is an eighth of it. With
        ``recall_follow``, a jump lands only a whole number of the prompt's beat periods
        from where the replay would have gone on: the continuation stays on its beat.
        Sampling only.
    :ivar recall_accent: with ``recall_follow``, each sampled frame gets this times the
        change the prompt made at the moment recalled (its attack and decay): the head's
        frame says what the music sounds like, the accent when it strikes. Sampling only.
    :ivar recall_content: what the head reads from the recall while replaying: ``follow``
        the moment the replay is at (the prompt's sounds come back in their order), or
        ``draw`` a moment drawn afresh each step (the replay then times only the accent,
        and the sounds do not cycle through the prompt). Sampling only.
    :ivar recall_groove: with ``recall_accent`` and ``recall_beat``, the accent is the
        prompt's change at that phase of its beat averaged over all its beats (its
        groove: the attacks it makes every beat), instead of the change at the one moment
        replayed (its melody's changes too). Sampling only.
    :ivar noise_memory: sampled noise is correlated from frame to frame: each frame's is
        this times the last frame's plus fresh noise (keeping its size). 0: fresh every
        frame. Above 0 each frame's noise is as large, but its steps line up: the music
        moves farther (a prompt's loop does not come back frozen) without the louder
        flicker that buries the onsets when the noise is scaled up. Sampling only.
    :ivar crop_frames: frames per training crop (258 is 3 s of 22.05 kHz audio at hop 256).
    :ivar style_frames: 0, or the frames whose mean and spread are fed beside every frame
        (:mod:`kara_lstm.lm.network`): in training the frames just before each crop (each
        crop is read ``style_frames`` longer), in generation the end of the prompt. It
        keeps a continuation sounding like its prompt's song.
    :ivar song_dims: 0 (off), or the size of a learned *song vector* fed beside every frame
        (:mod:`kara_lstm.lm.network`): an encoder reads ``song_frames`` frames of the same
        song at another place than the crop in training, and the prompt in generation, so
        the continuation stays with its prompt's song instead of drifting to the
        collection's most common sound.
    :ivar song_frames: frames the song encoder reads (258: 3 s at hop 256).
    :ivar carry_crops: 0 or 1 (off), or train on chains of this many consecutive crops of
        one song, carrying the LSTM state from each crop to the next (truncated
        back-propagation through time, :meth:`WindowSource.chain_batch`): contexts of
        ``carry_crops x crop_frames`` frames, as generation has, at the cost of one crop per
        step. One replica only; not with ``style_frames``. Training only: the weights'
        signature is unchanged.
    :ivar input_noise: training inputs get Gaussian noise of a random standard deviation
        up to this (augmentation against exposure bias; 0 = off).
    :ivar input_frames: context frames of :meth:`predict` (the validation windows Kara
        scores every model's closed-loop MSE on); generation reads any prompt length.
    :ivar output_frames: frames :meth:`predict` returns.
    :ivar learning_rate: ``null`` uses ``train.learning_rate``.
    """

    layers: int = field(default=3, metadata={"min": 1, "max": 16})
    units: int = field(default=128, metadata={"min": 1, "max": 8192})
    head: Literal["mixture", "tokens", "mse"] = "mixture"
    components: int = field(default=8, metadata={"min": 1, "max": 256})
    codes: int = field(default=1024, metadata={"min": 2, "max": 65536})
    top_p: float = field(default=0.95, metadata={"min": 0.0, "max": 1.0})
    token_noise: float = field(default=1.0, metadata={"min": 0.0, "max": 10.0})
    residual: Literal["gain", "full", "none"] = "gain"
    noise_basis: Literal["changes", "features"] = "changes"
    noise_scale: float = field(default=1.0, metadata={"min": 0.0, "max": 10.0})
    quiet_directions: int = field(default=0, metadata={"min": 0, "max": 65536})
    recall_frames: int = field(default=0, metadata={"min": 0, "max": 1_000_000})
    recall_dims: int = field(default=32, metadata={"min": 1, "max": 4096})
    recall_song: bool = False
    recall_draw: bool = False
    recall_follow: float = field(default=0.0, metadata={"min": 0.0, "max": 1.0})
    recall_beat: int = field(default=0, metadata={"min": 0, "max": 1_000_000})
    recall_accent: float = field(default=0.0, metadata={"min": 0.0, "max": 10.0})
    recall_content: Literal["follow", "draw"] = "follow"
    recall_groove: bool = False
    noise_memory: float = field(default=0.0, metadata={"min": 0.0, "max": 0.999})
    crop_frames: int = field(default=258, metadata={"min": 2, "max": 1_000_000})
    style_frames: int = field(default=0, metadata={"min": 0, "max": 1_000_000})
    song_dims: int = field(default=0, metadata={"min": 0, "max": 4096})
    song_frames: int = field(default=258, metadata={"min": 1, "max": 1_000_000})
    carry_crops: int = field(default=0, metadata={"min": 0, "max": 100000})
    input_noise: float = field(default=0.0, metadata={"min": 0.0, "max": 10.0})
    dropout: float = field(default=0.0, metadata={"min": 0.0, "max": 0.9})
    input_frames: int = field(default=40, metadata={"min": 1, "max": 100000})
    output_frames: int = field(default=10, metadata={"min": 1, "max": 100000})
    learning_rate: float | None = field(default=None, metadata={"min": 0.0, "max": 10.0})

    def __post_init__(self) -> None:
        replaying = self.recall_follow or self.recall_beat or self.recall_accent
        if replaying and not (self.recall_song and self.recall_draw and self.recall_follow):
            raise ValueError("recall_follow, recall_beat and recall_accent replay the prompt: "
                             "they need recall_song: true, recall_draw: true and "
                             "recall_follow above 0")
        if self.recall_groove and not (self.recall_accent and self.recall_beat):
            raise ValueError("recall_groove averages the accent over the prompt's beats: it "
                             "needs recall_accent and recall_beat above 0")
        if self.recall_content != "follow" and not self.recall_follow:
            raise ValueError("recall_content: draw is a way of replaying: it needs "
                             "recall_follow above 0")
