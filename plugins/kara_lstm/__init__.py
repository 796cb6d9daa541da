"""The LSTM encoder-decoder (seq2seq) model, on Keras 3 with TensorFlow.

Registers ``lstm_seq2seq``. Keras and TensorFlow are imported only when a model is built,
so ``kara plugins`` and ``kara check`` stay fast.
"""

from __future__ import annotations

from kara_core import Model, Register, hookimpl


@hookimpl
def kara_register_models(register: Register[Model]) -> None:
    """Register ``lstm_seq2seq``."""
    from kara_lstm.model import LstmSeq2Seq

    register(LstmSeq2Seq)
