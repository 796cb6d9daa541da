"""Stepping stacked Keras LSTM layers by hand, shared by both models' compiled rollouts:
read a sequence to get every layer's state, then advance the cells one frame at a time
inside a ``tf.function`` (no Keras ``predict`` per frame).
"""

from __future__ import annotations

from typing import Any


def read_sequence(lstms: Any, x: Any) -> tuple[Any, list[tuple[Any, Any]]]:
    """Run ``x [B, T, D]`` through stacked LSTM layers (``return_state``): the last layer's
    outputs and every layer's final ``(h, c)``, from which generation continues."""
    states = []
    for lstm in lstms:
        x, h, c = lstm(x, training=False)
        states.append((h, c))
    return x, states


def step_cells(cells: Any, x: Any, states: list[tuple[Any, Any]]
               ) -> tuple[Any, list[tuple[Any, Any]]]:
    """One time step ``x [B, D]`` through stacked LSTM cells: the top output and new states."""
    new_states = []
    for cell, (state_h, state_c) in zip(cells, states, strict=True):
        x, (state_h, state_c) = cell(x, [state_h, state_c], training=False)
        new_states.append((state_h, state_c))
    return x, new_states
