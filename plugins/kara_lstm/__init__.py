"""LSTM models on Keras 3 with TensorFlow: the encoder-decoder ``lstm_seq2seq`` (the
original project's model) and the frame language model ``lstm_lm`` (sampled heads).

Registers both. Keras and TensorFlow are imported only when a model is built,
so ``kara plugins`` and ``kara check`` stay fast.
"""

from __future__ import annotations

from kara_core import Model, Register, hookimpl


@hookimpl
def kara_register_models(register: Register[Model]) -> None:
    """Register ``lstm_seq2seq`` and ``lstm_lm``."""
    from kara_lstm.lm.model import LstmLm
    from kara_lstm.seq2seq.model import LstmSeq2Seq

    register(LstmSeq2Seq)
    register(LstmLm)
