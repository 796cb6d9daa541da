"""Kara's own measures of generated audio, registered like any plugin's (DESIGN section 6).

:data:`BUILTIN` is what Kara's plugin manager registers through ``kara_register_measures``
under the plugin name ``kara``; :mod:`kara_core.measures.scoring` turns any registered
measures' values into medians, worst clips, targets missed and the judge's score.
"""

from __future__ import annotations

from kara_core.measures.music import Diversity, FdRatio, Level, Loop, Silent, Spread
from kara_core.measures.own_song import OwnSong
from kara_core.measures.pulse import Pulse
from kara_core.measures.sensitivity import PromptSensitivity

BUILTIN = (FdRatio, Spread, Loop, Diversity, PromptSensitivity, Pulse, Level, OwnSong, Silent)
"""Kara's measures, in no particular order (the table orders columns by ``order``)."""

__all__ = ["BUILTIN", "Diversity", "FdRatio", "Level", "Loop", "OwnSong", "PromptSensitivity",
           "Pulse", "Silent", "Spread"]
